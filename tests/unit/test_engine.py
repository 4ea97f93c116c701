"""The command engine's pure parts: one command decided on its own (whatever goes wrong with it), the
outcome ledger, state snapshots, and the proof that a snapshot plus the events after it rebuilds what a
full replay does."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import grpc
from cc.common.v1 import event_pb2, snapshot_pb2
from cc.routing.v1 import commands_pb2 as agent_commands
from cc.telephony.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.aggregate import AggregateSpec, Versioned
from services.common.command_bus import command_meta
from services.common.deadlines import Deadlines
from services.common.deciding import Entry, decide_command, duplicate_of, replay
from services.common.outcomes import CommandLedger, RecentOutcomes, fingerprint
from services.common.snapshots import SnapshotOf, StateCodec, snapshot_record
from services.routing.app import agent_spec
from services.routing.consumers import WrapUpTimer
from services.routing.domain import AgentRules
from services.telephony.app import call_spec
from services.telephony.consumers import CallTimer
from services.telephony.domain import CallState, TelephonyRules
from services.ticketing.app import ticket_spec
from services.ticketing.domain import TicketRules
from tests.unit.support import T0, TENANT, at

CALLS = call_spec(TelephonyRules())
AGENTS = agent_spec(AgentRules(wrap_up_seconds=10))
LIMIT = 900 * 1024


def call_command(
    call_id: str, command_id: str = "", expected: int | None = None, **body: Message
) -> commands_pb2.CallCommand:
    meta = command_meta(tenant_id=TENANT, aggregate_id=call_id, expected_version=expected)
    meta.command_id = command_id or f"cmd-{call_id}-{sorted(body)[0]}-{id(body)}"
    return commands_pb2.CallCommand(meta=meta, **body)  # type: ignore[arg-type]


def offer(call_id: str, ani: str = "+821012345678", **meta: object) -> commands_pb2.CallCommand:
    return call_command(call_id, offer_call=commands_pb2.OfferCall(ani=ani, dnis="1588"), **meta)  # type: ignore[arg-type]


def digits(call_id: str, pressed: str, **meta: object) -> commands_pb2.CallCommand:
    return call_command(call_id, send_digits=commands_pb2.SendDigits(digits=pressed), **meta)  # type: ignore[arg-type]


def entry_after(spec: AggregateSpec, *commands: Message) -> Entry:  # type: ignore[type-arg]
    entry = None
    for command in commands:
        decided = decide_command(spec, entry, command, T0, LIMIT)
        assert decided.accepted, decided.reply.error
        entry = Entry(decided.state, decided.version)
    assert entry is not None
    return entry


# ---- one command, whatever happens to it -----------------------------------------------------------


def test_an_accepted_command_numbers_its_events_after_the_aggregate_and_names_them_in_the_reply() -> None:
    entry = entry_after(CALLS, offer("call-1"))

    decided = decide_command(CALLS, entry, digits("call-1", "1", command_id="c-2"), T0, LIMIT)

    # the offer wrote 3 events: offered, the welcome announcement, the menu
    assert [e.aggregate_version for e in decided.events] == [4, 5]
    assert [e.causation_id for e in decided.events] == ["c-2", "c-2"]
    assert list(decided.reply.event_ids) == [e.event_id for e in decided.events]
    assert (decided.reply.aggregate_version, decided.version) == (5, 5)
    assert decided.serialized == [e.SerializeToString() for e in decided.events]
    assert decided.state is not None and decided.state.queue_id == "member"


def test_a_refused_command_answers_its_error_and_leaves_the_aggregate_as_it_was() -> None:
    entry = entry_after(CALLS, offer("call-1"))

    decided = decide_command(CALLS, entry, offer("call-1"), T0, LIMIT)

    assert not decided.accepted and decided.events == []
    assert decided.reply.error.error_id == "call-already-offered"
    assert decided.reply.error.grpc_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert (decided.state, decided.version, decided.reply.aggregate_version) == (entry.state, 3, 3)


def test_an_expected_version_that_does_not_match_is_a_version_conflict() -> None:
    entry = entry_after(CALLS, offer("call-1"))

    stale = decide_command(CALLS, entry, digits("call-1", "1", expected=1), T0, LIMIT)
    current = decide_command(CALLS, entry, digits("call-1", "1", expected=3), T0, LIMIT)

    assert stale.reply.error.error_id == "version-conflict"
    assert stale.reply.error.grpc_code == grpc.StatusCode.ABORTED.value[0]
    assert current.accepted


def test_a_command_whose_event_would_not_fit_a_record_is_refused_as_invalid() -> None:
    decided = decide_command(CALLS, None, offer("call-1", ani="9" * 2000), T0, max_event_bytes=1000)

    assert not decided.accepted and decided.state is None
    assert decided.reply.error.error_id == "event-too-large"
    assert decided.reply.error.grpc_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "telephony.call.offered" in decided.reply.error.message


def test_a_bug_in_decide_refuses_that_command_only() -> None:
    def broken_decide(state: object, command: commands_pb2.CallCommand, now: datetime) -> list[Message]:
        if command.send_digits.digits == "7":
            raise KeyError("a bug")
        return CALLS.decide(state, command, now)  # type: ignore[arg-type]

    spec = replace(CALLS, decide=broken_decide)
    entry = entry_after(spec, offer("call-1"))

    failed = decide_command(spec, entry, digits("call-1", "7"), T0, LIMIT)
    next_one = decide_command(spec, entry, digits("call-1", "1"), T0, LIMIT)

    assert failed.reply.error.error_id == "command-failed"
    assert failed.reply.error.grpc_code == grpc.StatusCode.INTERNAL.value[0]
    assert next_one.accepted


def test_a_repeated_command_is_answered_with_the_first_outcome_marked_as_a_repeat() -> None:
    first = decide_command(CALLS, None, offer("call-1"), T0, LIMIT).reply
    first.reply_to = "instance-a"

    again = duplicate_of(first)

    assert again.duplicate and not again.reply_to
    assert (again.command_id, list(again.event_ids)) == (first.command_id, list(first.event_ids))


# ---- what the writer remembers of outcomes ---------------------------------------------------------


def test_the_ledger_finds_each_command_where_its_outcome_is_stored() -> None:
    ledger = CommandLedger()
    for offset, command_id in enumerate(("a", "b", "c")):
        ledger.add(fingerprint(command_id), 100 + offset, 1_000 + offset, keep_at_most=10)

    assert [ledger.find(fingerprint(c)) for c in ("a", "b", "c", "d")] == [100, 101, 102, None]
    assert CommandLedger(ledger.to_bytes()) == ledger


def test_the_ledger_adds_a_command_once_and_keeps_at_most_its_limit() -> None:
    ledger = CommandLedger()
    ledger.add(fingerprint("a"), 1, 1_000, keep_at_most=2)
    ledger.add(fingerprint("a"), 9, 1_500, keep_at_most=2)  # replayed: already there
    ledger.add(fingerprint("b"), 2, 2_000, keep_at_most=2)
    ledger.add(fingerprint("c"), 3, 3_000, keep_at_most=2)

    assert [ledger.find(fingerprint(c)) for c in ("a", "b", "c")] == [None, 2, 3]


def test_the_ledger_forgets_commands_older_than_the_window() -> None:
    ledger = CommandLedger()
    for offset, when in enumerate((1_000, 2_000, 3_000)):
        ledger.add(fingerprint(str(offset)), offset, when, keep_at_most=10)

    ledger.forget_before(2_000)

    assert [ledger.find(fingerprint(c)) for c in ("0", "1", "2")] == [None, 1, 2]
    assert len(ledger) == 2


def test_recent_outcomes_keep_the_latest_up_to_their_capacity() -> None:
    recent = RecentOutcomes(capacity=2)
    for command_id in ("a", "b", "c"):
        recent.put(
            decide_command(CALLS, None, offer(f"call-{command_id}", command_id=command_id), T0, LIMIT).reply
        )

    assert [recent.get(c) is not None for c in ("a", "b", "c")] == [False, True, True]
    assert len(recent) == 2


# ---- snapshots -------------------------------------------------------------------------------------


def test_every_aggregate_state_survives_its_snapshot() -> None:
    call = entry_after(CALLS, offer("call-1"), digits("call-1", "2")).state
    agent = entry_after(
        AGENTS,
        agent_commands.AgentCommand(
            meta=command_meta(tenant_id=TENANT, aggregate_id="kim"),
            log_in=agent_commands.LogInAgent(
                site_id="seoul", skills=[{"name": "payment", "proficiency": 8}], display_name="Kim"
            ),
        ),
    ).state
    for spec, state in ((CALLS, call), (AGENTS, agent)):
        assert spec.codec.decode(spec.codec.encode(state)) == state
    assert len({CALLS.codec.schema, AGENTS.codec.schema, ticket_spec(TicketRules()).codec.schema}) == 3


def test_a_changed_state_type_has_another_schema_so_old_snapshots_are_not_used() -> None:
    @dataclass(frozen=True)
    class Before:
        call_id: str

    @dataclass(frozen=True)
    class After:
        call_id: str
        priority: int = 0

    assert StateCodec(Before).schema != StateCodec(After).schema
    assert StateCodec(Before).schema == StateCodec(Before).schema


def test_a_snapshot_record_carries_state_version_and_ledger() -> None:
    entry = entry_after(CALLS, offer("call-1"))
    entry.ledger.add(fingerprint("c-1"), 7, 1_000, keep_at_most=10)

    key, value = snapshot_record(
        CALLS.codec, SnapshotOf(TENANT, "call-1", entry.version, entry.state, entry.ledger)
    )
    stored = snapshot_pb2.AggregateSnapshot.FromString(value)

    assert key == f"{TENANT}/call-1".encode()
    assert (stored.aggregate_version, stored.schema) == (3, CALLS.codec.schema)
    assert CALLS.codec.decode(stored.state) == entry.state
    assert CommandLedger(stored.ledger).find(fingerprint("c-1")) == 7


COMMANDS = st.sampled_from(
    [
        ("offer_call", commands_pb2.OfferCall(ani="+8210", dnis="1588")),
        ("send_digits", commands_pb2.SendDigits(digits="1")),
        ("send_digits", commands_pb2.SendDigits(digits="7")),
        ("send_digits", commands_pb2.SendDigits(digits="3")),
        ("ring_agent", commands_pb2.RingAgent(agent_id="kim", decision_id="d")),
        ("expire_ring", commands_pb2.ExpireRing(agent_id="kim")),
        ("answer_call", commands_pb2.AnswerCall(agent_id="kim")),
        ("hang_up_call", commands_pb2.HangUpCall(party=events_pb2.PARTY_CALLER)),
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    script=st.lists(st.tuples(st.sampled_from(["call-a", "call-b", "call-c"]), COMMANDS), max_size=40),
    cut=st.floats(0, 1),
    back=st.integers(0, 10),
)
def test_a_snapshot_plus_the_events_after_it_rebuilds_what_a_full_replay_does(
    script: list[tuple[str, tuple[str, Message]]], cut: float, back: int
) -> None:
    entries: dict[tuple[str, str], Entry[CallState]] = {}
    log: list[event_pb2.Event] = []
    for index, (call_id, (action, body)) in enumerate(script):
        command = call_command(call_id, command_id=f"c-{index}", **{action: body})
        decided = decide_command(CALLS, entries.get((TENANT, call_id)), command, at(index), LIMIT)
        if decided.accepted:
            entries[(TENANT, call_id)] = Entry(decided.state, decided.version)
            log.extend(decided.events)

    full: dict[tuple[str, str], Entry[CallState]] = {}
    for event in log:
        replay(CALLS, full, event)
    taken = int(cut * len(log))
    snapshotted: dict[tuple[str, str], Entry[CallState]] = {}
    for event in log[:taken]:
        replay(CALLS, snapshotted, event)
    loaded = {
        key: Entry(CALLS.codec.decode(CALLS.codec.encode(e.state)), e.version)
        for key, e in snapshotted.items()
        if e.state is not None
    }
    for event in log[max(0, taken - back) :]:  # a checkpoint may sit before events its snapshots include
        replay(CALLS, loaded, event)

    assert (
        {k: (e.state, e.version) for k, e in loaded.items()}
        == {k: (e.state, e.version) for k, e in full.items()}
        == {k: (e.state, e.version) for k, e in entries.items()}
    )


# ---- timers are a function of state, so a snapshot restores them -----------------------------------


class MinuteLater:
    """A monotonic clock the test moves on by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_ringing_call_loaded_from_a_snapshot_gets_the_same_rona_deadline_and_command() -> None:
    entry = entry_after(
        CALLS,
        offer("call-1"),
        digits("call-1", "1"),
        call_command("call-1", ring_agent=commands_pb2.RingAgent(agent_id="kim", decision_id="d-1")),
    )
    assert entry.state is not None
    clock = MinuteLater()
    followed, restored = Deadlines(clock), Deadlines(clock)
    CallTimer(followed)(Versioned(entry.state, entry.version, TENANT, "call-1"))
    snapshot = CALLS.codec.decode(CALLS.codec.encode(entry.state))
    CallTimer(restored)(Versioned(snapshot, entry.version, TENANT, "call-1"))

    clock.now += 60
    [one], [other] = followed.due(), restored.due()
    assert one.length == other.length == timedelta(seconds=TelephonyRules().ring_timeout_seconds)
    assert one.cause == other.cause == entry.state.ring_event_id != ""
    assert one.command() == other.command()
    assert one.command().expire_ring.agent_id == "kim"


def test_an_agent_wrapping_up_loaded_from_a_snapshot_gets_the_same_wrap_up_deadline() -> None:
    log_in = agent_commands.AgentCommand(
        meta=command_meta(tenant_id=TENANT, aggregate_id="kim"),
        log_in=agent_commands.LogInAgent(site_id="seoul", skills=[{"name": "member"}]),
    )
    contact = agent_commands.AgentCommand(
        meta=command_meta(tenant_id=TENANT, aggregate_id="kim"),
        start_contact=agent_commands.StartContact(contact_id="call-1"),
    )
    wrap_up = agent_commands.AgentCommand(
        meta=command_meta(tenant_id=TENANT, aggregate_id="kim"),
        start_wrap_up=agent_commands.StartWrapUp(contact_id="call-1"),
    )
    for index, command in enumerate((log_in, contact, wrap_up)):
        command.meta.command_id = f"c-{index}"
    entry = entry_after(AGENTS, log_in, contact, wrap_up)
    assert entry.state is not None
    clock = MinuteLater()
    followed, restored = Deadlines(clock), Deadlines(clock)
    WrapUpTimer(followed)(Versioned(entry.state, entry.version, TENANT, "kim"))
    snapshot = AGENTS.codec.decode(AGENTS.codec.encode(entry.state))
    WrapUpTimer(restored)(Versioned(snapshot, entry.version, TENANT, "kim"))

    clock.now += 60
    [one], [other] = followed.due(), restored.due()
    assert one.length == other.length == timedelta(seconds=10)
    assert one.cause == other.cause == entry.state.wrap_up_event_id != ""
    assert one.command() == other.command()
    assert one.command().end_wrap_up.contact_id == "call-1"
