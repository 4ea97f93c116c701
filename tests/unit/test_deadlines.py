"""Deadlines rebuilt from the log: set by one event, cleared by the next, fired once when due."""

from datetime import UTC, datetime, timedelta

from cc.telephony.v1 import commands_pb2

from services.common.deadlines import Deadline, Deadlines
from services.common.topics import CALLS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def deadline(seconds: float) -> Deadline:
    return Deadline(T0 + timedelta(seconds=seconds), CALLS, commands_pb2.CallCommand)


def test_a_deadline_fires_once_when_due_and_not_before() -> None:
    deadlines = Deadlines()
    deadlines.set(("acme", "call-1"), deadline(15))

    assert deadlines.due(T0 + timedelta(seconds=14.9)) == []
    assert [d.due for d in deadlines.due(T0 + timedelta(seconds=15))] == [T0 + timedelta(seconds=15)]
    assert deadlines.due(T0 + timedelta(seconds=60)) == []


def test_a_cancelled_deadline_never_fires_and_a_new_one_replaces_the_old() -> None:
    deadlines = Deadlines()
    deadlines.set(("acme", "call-1"), deadline(15))
    deadlines.cancel(("acme", "call-1"))
    deadlines.set(("acme", "call-2"), deadline(5))
    deadlines.set(("acme", "call-2"), deadline(30))  # rung again: the later deadline counts

    assert deadlines.due(T0 + timedelta(seconds=20)) == []
    assert len(deadlines.due(T0 + timedelta(seconds=30))) == 1


def test_tenants_do_not_share_deadlines() -> None:
    deadlines = Deadlines()
    deadlines.set(("acme", "call-1"), deadline(1))
    deadlines.set(("globex", "call-1"), deadline(1))

    assert len(deadlines.due(T0 + timedelta(seconds=1))) == 2
