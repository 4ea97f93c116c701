"""The shape every event-sourced gRPC service shares: a command processor (the single writer), a read
model, the command bus, policies reacting to other contexts' events, timers rebuilt from the read
model, any other read models the service keeps (companions), and the gRPC server that turns SERVING
once all of them have caught up. A composition root declares its parts with `AggregateService` and
calls `run`."""

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from services.common.aggregate import AggregateSpec, C, S
from services.common.command_bus import CommandBus
from services.common.command_processor import CommandGroup, CommandProcessor
from services.common.deadlines import Deadlines
from services.common.grpc_server import serve
from services.common.keys import KeyRing
from services.common.policy import Policy, PolicyGroup, Reaction
from services.common.projection import Observer, Projection
from services.common.runtime import all_set, configure_logging, runtime
from services.common.settings import PlatformSettings

R = TypeVar("R")


def with_rules(
    decide: Callable[[S | None, C, datetime, R], list[Message]], rules: R
) -> Callable[[S | None, C, datetime], list[Message]]:
    """Bind a context's configurable rules (ring timeout, wrap-up time...) to its pure decide function."""

    def decide_with_rules(state: S | None, command: C, now: datetime) -> list[Message]:
        return decide(state, command, now, rules)

    return decide_with_rules


@dataclass(frozen=True)
class PolicyDefinition:
    """A reaction named `name` that turns events of `topics` into commands. A service's policies share
    the consumer group `<service>.policies`, which starts once every one's read models have caught up."""

    name: str
    topics: Sequence[str]
    react: Reaction
    # Read models its reactions read: it starts reading events once they have caught up, so that no
    # event is reacted to on a model still loading (an automatic message with no template found).
    after: Sequence[asyncio.Event] = ()
    # Other groups it once ran in, besides the one of its own name: where the service's group starts.
    formerly: Sequence[str] = ()


class Companion(Protocol):
    """A read model a service runs beside its own (routing's board view). The composition root hands
    the same object to its servicer factory; the service is SERVING only while every companion is ready,
    and a companion whose `run` ends stops the service, like any background loop."""

    async def run(self) -> None: ...

    def ready(self) -> bool: ...


@dataclass(frozen=True)
class FurtherAggregate(Generic[S, C]):
    """Another aggregate type the service is the single writer of (routing's queues beside its agents).
    The composition root makes its read model, so that the servicer can read it."""

    spec: AggregateSpec[S, C]
    read_model: Projection[S, C]
    # Observers of its read model that set and clear deadlines (a contact's offer timeout).
    timers: Sequence[Callable[[Deadlines], Observer]] = ()


@dataclass(frozen=True)
class AggregateService(Generic[S, C]):
    name: str
    spec: AggregateSpec[S, C]
    port: int
    grpc_service: str
    add_servicer: Callable[[Any, grpc.aio.Server], None]
    servicer: Callable[[CommandBus, Projection[S, C]], Any]
    policies: Sequence[PolicyDefinition] = ()
    # Each makes an observer of the read model that sets and clears deadlines (RONA, wrap-up).
    timers: Sequence[Callable[[Deadlines], Observer]] = field(default_factory=tuple)
    companions: Sequence[Companion] = ()
    further: Sequence[FurtherAggregate[Any, Any]] = ()
    # Other read models its decisions read (ticketing's lines, for SLA clocks): its single writer
    # starts once they have caught up, so that nothing is decided on a model still loading.
    decide_after: Sequence[asyncio.Event] = ()
    # Loops that send commands of their own from what they read (telephony's campaign pacer), given
    # the service's command bus; each waits for the read models it reads itself.
    drivers: Sequence[Callable[[CommandBus], Coroutine[Any, Any, None]]] = ()

    async def run(self, settings: PlatformSettings) -> None:
        configure_logging(self.name)
        bootstrap = settings.kafka_bootstrap_servers
        async with runtime(settings, self.name) as rt:
            read_model = Projection(self.spec, bootstrap)
            processors = [
                CommandProcessor(spec, settings, rt.producer, rt.bus)
                for spec in (self.spec, *(part.spec for part in self.further))
            ]
            commands = CommandGroup(f"{self.name}.command-processor", processors, settings)
            read_models: list[Projection[Any, Any]] = [read_model] + [
                part.read_model for part in self.further
            ]
            replies = [self.spec.topics.replies] + [part.spec.topics.replies for part in self.further]
            deadlines = Deadlines()
            for timer in self.timers:
                read_model.observe(timer(deadlines))
            # Each further aggregate's deadlines apart: their keys are its own aggregates' ids.
            further_deadlines = [(Deadlines(), part) for part in self.further if part.timers]
            for part_deadlines, part in further_deadlines:
                for timer in part.timers:
                    part.read_model.observe(timer(part_deadlines))
            reacting = []
            if self.policies:  # a group of its policies, once every one's read models have caught up
                policies = PolicyGroup(
                    f"{self.name}.policies",
                    [
                        Policy(p.name, p.topics, p.react, rt.bus, rt.producer, bootstrap, p.formerly)
                        for p in self.policies
                    ],
                    rt.producer,
                    bootstrap,
                )
                reacting.append(_after([e for p in self.policies for e in p.after], policies.run()))
            await serve(
                address=settings.listen_address(self.port),
                keys=KeyRing(settings.credentials(), settings.kafka_bootstrap_servers),
                max_request_bytes=settings.cc_max_request_bytes,
                registrations=[(self.add_servicer, self.servicer(rt.bus, read_model), self.grpc_service)],
                background=[
                    # The service's own decisions may read its further aggregates (a call's flow
                    # from its line): its single writers start once their read models have caught up.
                    _after(
                        [*(part.read_model.caught_up for part in self.further), *self.decide_after],
                        commands.run(),
                    ),
                    *(model.run() for model in read_models),
                    rt.bus.listen(replies),
                    *reacting,
                    deadlines.run(rt.bus, read_model.caught_up),
                    *(d.run(rt.bus, part.read_model.caught_up) for d, part in further_deadlines),
                    *(companion.run() for companion in self.companions),
                    *(drive(rt.bus) for drive in self.drivers),
                ],
                ready=lambda: (
                    all(p.serving() for p in processors)
                    and all_set(*(model.caught_up for model in read_models), rt.bus.listening)
                    and all(companion.ready() for companion in self.companions)
                ),
            )


async def _after(ready: Sequence[asyncio.Event], work: Coroutine[Any, Any, None]) -> None:
    for event in ready:
        await event.wait()
    await work
