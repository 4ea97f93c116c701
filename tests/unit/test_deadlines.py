"""Deadlines rebuilt from the log: set by one event, cleared by the next, fired once when due, timed on
this process's own clock from when it saw the event (never against another host's clock)."""

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from aiokafka.errors import KafkaConnectionError
from cc.common.v1 import types_pb2
from cc.telephony.v1 import commands_pb2

from services.common.command_bus import CommandBus
from services.common.deadlines import Deadline, Deadlines, _fire
from services.common.topics import CALLS


@dataclass
class Clock:
    """A monotonic clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def deadline(seconds: float, cause: str = "ringing-1") -> Deadline:
    return Deadline(cause, timedelta(seconds=seconds), CALLS, commands_pb2.CallCommand)


def test_a_deadline_fires_once_its_length_after_it_was_seen_and_not_before() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    deadlines.set(("acme", "call-1"), deadline(15))

    clock.now += 14.9
    assert deadlines.due() == []
    clock.now += 0.1
    assert [d.cause for d in deadlines.due()] == ["ringing-1"]
    clock.now += 60
    assert deadlines.due() == []


def test_the_same_deadline_set_again_keeps_when_it_was_first_seen() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    deadlines.set(("acme", "call-1"), deadline(15))
    clock.now += 10
    deadlines.set(("acme", "call-1"), deadline(15))  # the call changed in another way, still ringing

    clock.now += 5
    assert len(deadlines.due()) == 1


def test_a_cancelled_deadline_never_fires_and_a_new_cause_replaces_the_old() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    deadlines.set(("acme", "call-1"), deadline(15))
    deadlines.cancel(("acme", "call-1"))
    deadlines.set(("acme", "call-2"), deadline(5, "ringing-1"))
    clock.now += 4
    deadlines.set(("acme", "call-2"), deadline(5, "ringing-2"))  # rung again: timed from the new ringing

    clock.now += 4
    assert deadlines.due() == []
    clock.now += 1
    assert [d.cause for d in deadlines.due()] == ["ringing-2"]


def test_tenants_do_not_share_deadlines() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    deadlines.set(("acme", "call-1"), deadline(1))
    deadlines.set(("globex", "call-1"), deadline(1))

    clock.now += 1
    assert len(deadlines.due()) == 2


class Bus:
    """A command bus whose broker does not take the first write it is handed, logging each command's id."""

    post_together = CommandBus.post_together  # the real one, over this bus's enqueue and post

    def __init__(self) -> None:
        self.log: list[str] = []

    async def enqueue(self, topics: object, command: commands_pb2.CallCommand) -> "asyncio.Future[None]":
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.log:
            ack.set_exception(KafkaConnectionError("the broker is away"))
        else:
            ack.set_result(None)
        self.log.append(f"enqueue {command.meta.command_id}")
        return ack

    async def post(self, topics: object, command: commands_pb2.CallCommand) -> None:
        self.log.append(f"post {command.meta.command_id}")


def named(cause: str) -> Deadline:
    command = commands_pb2.CallCommand(meta=types_pb2.CommandMeta(command_id=f"rona-{cause}"))
    return Deadline(cause, timedelta(0), CALLS, lambda: command)


async def test_due_deadlines_are_posted_together_and_the_one_the_broker_refused_is_posted_again() -> None:
    bus = Bus()
    await _fire(bus, [named("ringing-1"), named("ringing-2")])  # type: ignore[arg-type]
    assert bus.log == ["enqueue rona-ringing-1", "enqueue rona-ringing-2", "post rona-ringing-1"]
