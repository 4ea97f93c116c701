"""The incremental routing board: its indexes choose exactly what a full re-scan of every agent and
contact would, it is stored as small entries that rebuild it exactly, and a change set flushed only in
part is completed from its redo record rather than applied twice."""

import json
from typing import Any

import pytest
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.board import (
    NOT_READY,
    ON_CONTACT,
    READY,
    STATUS_READY,
    WRAP_UP,
    AgentSeat,
    Board,
    WaitingContact,
    entries_by_tenant,
    entry_key,
    parse_entry_key,
)
from services.routing.matching import Decision, dispatch
from services.routing.rules import implicit_rule, implicit_rules
from tests.unit.support import (
    TENANT,
    Changelog,
    Feed,
    answered,
    changed,
    ended,
    logged_in,
    queued,
    skills,
    ts,
)

SKILLS = ("member", "payment")
AGENT_IDS = [f"agent-{n}" for n in range(6)]


# ---- a reference: the whole board re-scanned, as routing did before it had indexes ---------------


def reference_dispatch(board: Board) -> list[tuple[str, str, int, dict[str, int]]]:
    """(contact, agent, eligible agents, skipped by reason) for every match a full re-scan makes:
    contacts in order, each to the longest-idle ready agent with its skill not already chosen."""
    chosen: set[str] = set()
    matches = []

    def order(c: WaitingContact) -> tuple[float, float, str]:
        return board.queues[c.queue_id].order_key(c.priority, c.enqueued_at, c.contact_id)

    for contact in sorted(board.waiting.values(), key=order):
        skill = contact.required_skill
        reasons = {
            agent_id: "missing-skill"
            if skill not in seat.skills
            else ("reserved" if agent_id in chosen else seat.status)
            for agent_id, seat in board.agents.items()
        }
        eligible = [a for a, r in reasons.items() if r == STATUS_READY]
        if not eligible:
            continue
        best = min(eligible, key=lambda a: longest_idle(board.agents[a], skill))
        skipped: dict[str, int] = {}
        for r in reasons.values():
            if r != STATUS_READY:
                skipped[r] = skipped.get(r, 0) + 1
        matches.append((contact.contact_id, best, len(eligible), skipped))
        chosen.add(best)
    return matches


def longest_idle(seat: AgentSeat, skill: str) -> tuple[float, int, str]:
    return (seat.ready_since or 0.0, -seat.skills[skill], seat.agent_id)


def summary(decisions: list[Decision]) -> list[tuple[str, str, int, dict[str, int]]]:
    return [
        (
            d.routed.contact_id,
            d.routed.agent_id,
            d.routed.eligible_agents,
            {s.reason: s.count for s in d.routed.skipped},
        )
        for d in decisions
    ]


# ---- a random but lawful life of calls and agents ---------------------------------------------------


def next_event(data: st.DataObject, board: Board, calls: int) -> tuple[str, str, list[Message]]:
    """One happening drawn from what the board says is possible now: (aggregate type, id, payloads)."""
    seats = board.agents
    options = ["queue"]
    if len(seats) < len(AGENT_IDS):
        options.append("log-in")
    if any(s.state in (READY, NOT_READY) and not s.reserved_for for s in seats.values()):
        options += ["toggle", "log-out"]
    if board.routed:
        options += ["ring", "answer", "no-answer", "abandon-routed"]
    if board.waiting:
        options += ["abandon-waiting", "callback", "slot"]
    if board.scheduled:
        options.append("release")
    if any(s.state == ON_CONTACT for s in seats.values()):
        options.append("hang-up")
    if any(s.state == ON_CONTACT and s.contact_id in board.talking for s in seats.values()):
        options.append("transfer")
    if any(s.state == WRAP_UP for s in seats.values()):
        options.append("end-wrap-up")
    action = data.draw(st.sampled_from(options))
    if action == "queue":
        queue = data.draw(st.sampled_from(SKILLS))
        priority = data.draw(st.integers(0, 2))
        return "call", f"call-{calls}", [queued(queue, 0, priority=priority)]
    if action == "log-in":
        agent_id = data.draw(st.sampled_from([a for a in AGENT_IDS if a not in seats]))
        levels = data.draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1))
        initial = data.draw(st.sampled_from([READY, NOT_READY]))
        return "agent", agent_id, [logged_in(initial=initial, **levels)]
    free = sorted(a for a, s in seats.items() if s.state in (READY, NOT_READY) and not s.reserved_for)
    if action == "toggle":
        agent_id = data.draw(st.sampled_from(free))
        state = seats[agent_id].state
        return "agent", agent_id, [changed(NOT_READY if state == READY else READY, state)]
    if action == "log-out":
        agent_id = data.draw(st.sampled_from(free))
        return "agent", agent_id, [routing_events.AgentLoggedOut(previous_state=seats[agent_id].state)]
    if action in ("ring", "answer", "no-answer", "abandon-routed"):
        contact = data.draw(st.sampled_from(sorted(board.routed.values(), key=lambda c: c.contact_id)))
        return "call", contact.contact_id, routed_call(action, contact)
    if action == "abandon-waiting":
        call_id = data.draw(st.sampled_from(sorted(board.waiting)))
        return "call", call_id, [ended(board.waiting[call_id].queue_id, abandoned=True)]
    if action in ("callback", "slot"):  # keeping its place, or out of the queue until a slot
        call_id = data.draw(st.sampled_from(sorted(board.waiting)))
        callback = call_events.CallbackRequested(number="+8210", queue_id=board.waiting[call_id].queue_id)
        if action == "slot":
            callback.at.FromSeconds(int(ts(3600)))
        return "call", call_id, [callback]
    if action == "release":
        call_id = data.draw(st.sampled_from(sorted(board.scheduled)))
        return "call", call_id, [queued(board.scheduled[call_id].queue_id, 0, reason="callback-slot")]
    if action == "transfer":
        talking = sorted(
            a for a, s in seats.items() if s.state == ON_CONTACT and s.contact_id in board.talking
        )
        agent_id = data.draw(st.sampled_from(talking))
        call_id, to = seats[agent_id].contact_id, data.draw(st.sampled_from(SKILLS))
        target = call_events.TRANSFER_TARGET_QUEUE
        return (
            "call",
            call_id,
            [
                call_events.CallTransferred(
                    agent_id=agent_id, queue_id=board.talking[call_id].queue_id, target=target, to=to
                ),
                queued(to, 0, reason="transferred"),
            ],
        )
    if action == "hang-up":
        agent_id = data.draw(st.sampled_from(sorted(a for a, s in seats.items() if s.state == ON_CONTACT)))
        return "agent", agent_id, [changed(WRAP_UP, ON_CONTACT, contact_id=seats[agent_id].contact_id)]
    agent_id = data.draw(st.sampled_from(sorted(a for a, s in seats.items() if s.state == WRAP_UP)))
    return "agent", agent_id, [changed(READY, WRAP_UP, contact_id=seats[agent_id].contact_id)]


def routed_call(action: str, contact: WaitingContact) -> list[Message]:
    queue, agent_id = contact.queue_id, contact.agent_id
    if action == "ring":
        return [call_events.CallRinging(agent_id=agent_id, queue_id=queue)]
    if action == "answer":
        return [answered(agent_id, queue, 0)]
    if action == "no-answer":
        requeue = queued(queue, 0, priority=contact.priority, reason="ring-no-answer")
        requeue.enqueued_at.FromNanoseconds(int(contact.enqueued_at * 1e9))
        return [call_events.CallRingNoAnswer(agent_id=agent_id, queue_id=queue), requeue]
    return [ended(queue, agent_id, abandoned=True)]


def with_enqueue_time(payload: Message, t: float) -> Message:
    if isinstance(payload, call_events.CallQueued) and payload.reason != "ring-no-answer":
        payload.enqueued_at.FromNanoseconds(int(ts(t) * 1e9))
    return payload


def agent_follows(aggregate_type: str, payloads: list[Message], board: Board) -> list[Message]:
    """An answered call puts its agent on contact, and a transfer the transferring agent into wrap-up,
    as the agent service does."""
    if aggregate_type == "call" and isinstance(payloads[0], call_events.CallAnswered):
        return [changed(ON_CONTACT, board.agents[payloads[0].agent_id].state)]
    if aggregate_type == "call" and isinstance(payloads[0], call_events.CallTransferred):
        return [changed(WRAP_UP, ON_CONTACT)]
    return []


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_incremental_dispatch_chooses_what_a_full_rescan_would_and_survives_a_restart_each_event(
    data: st.DataObject,
) -> None:
    feed, changelog = Feed(Board(TENANT)), Changelog()
    t = 0.0
    for step in range(30):
        t += data.draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
        aggregate_type, aggregate_id, payloads = next_event(data, feed.board, step)
        follow = agent_follows(aggregate_type, payloads, feed.board)
        for payload in payloads:
            feed.deliver(feed.event(aggregate_type, aggregate_id, with_enqueue_time(payload, t), t))
        for payload in follow:
            agent_id = payloads[0].agent_id  # type: ignore[attr-defined]
            payload.contact_id = aggregate_id  # type: ignore[attr-defined]
            feed.deliver(feed.event("agent", agent_id, payload, t))

        expected = reference_dispatch(feed.board)
        assert summary(dispatch(feed.board, ts(t))) == expected
        assert feed.board.next_match() is None

        # a restart after every event: the board rebuilt from its compacted changelog is the same board
        changelog.write(feed.board.take_changelog())
        restored = changelog.restore()
        assert restored == feed.board
        feed.board = restored


# ---- entries and the changelog -----------------------------------------------------------------


def busy_board(agents: int = 300) -> Feed:
    """Agents with two skills on two sites, most on contact, and contacts waiting in both queues."""
    feed = Feed(Board(TENANT))
    for number in range(agents):
        agent_id = f"agent-{number:04}"
        site = "seoul" if number % 2 else "busan"
        feed.agent(agent_id, logged_in(site, member=1 + number % 10, payment=1 + number % 7), number / 100)
        if number % 10:
            feed.agent(agent_id, changed(ON_CONTACT, READY, contact_id=f"talk-{number}"), 5)
    dispatch(feed.board, ts(5))
    for number in range(100):
        queue = SKILLS[number % 2]
        feed.call(f"call-{number}", queued(queue, 10 + number), 10 + number)
    dispatch(feed.board, ts(120))
    feed.board.take_changelog()
    return feed


def test_an_event_writes_only_the_entries_it_changed() -> None:
    feed = busy_board()
    assert len(feed.board.waiting) == 70  # 30 ready agents took the first 30 contacts

    feed.agent("agent-0001", changed(WRAP_UP, ON_CONTACT, contact_id="talk-1"), 130)
    feed.agent("agent-0001", changed(READY, WRAP_UP, contact_id="talk-1"), 140)
    (decision,) = dispatch(feed.board, ts(140))
    records = feed.board.take_changelog()

    assert decision.routed.contact_id == "call-30"  # the longest waiting of the agent's two queues
    keys = [key for key, _ in records]
    assert keys == [
        entry_key(TENANT, "redo"),
        entry_key(TENANT, "agent-day", "agent-0001"),
        entry_key(TENANT, "contact", "call-30"),
        entry_key(TENANT, "routings", "call-30"),
        entry_key(TENANT, "seat", "agent-0001"),
        entry_key(TENANT, "source", "routing.agent.events.v1/0"),
    ]
    assert len(json.dumps(records, separators=(",", ":"))) < 2048


def test_the_redo_record_holds_every_change_and_a_single_change_needs_none() -> None:
    feed = busy_board()
    feed.call("call-1", call_events.CallRinging(agent_id="agent-0000", queue_id="payment"), 130)

    records = feed.board.take_changelog()

    redo_key, redo = records[0]
    assert redo_key == entry_key(TENANT, "redo")
    assert redo == dict(records[1:])
    assert feed.board.take_changelog() == []  # taken once
    # ringing for a call routing never chose changes only the source mark: one record, written whole
    feed.call("call-99", call_events.CallRinging(agent_id="agent-0000", queue_id="payment"), 131)
    assert [key for key, _ in feed.board.take_changelog()] == [
        entry_key(TENANT, "source", "telephony.call.events.v1/0")
    ]


def answered_event_records() -> tuple[Changelog, Board, Feed, Any, list[tuple[str, Any]]]:
    """A board with a routed call in its changelog, then the answer's records (not yet written)."""
    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    dispatch(feed.board, ts(1))
    before = Changelog()
    before.write(feed.board.take_changelog())
    event = feed.event("call", "call-1", answered("kim", "member", 1), 9)
    source = feed.next_source("call")
    assert feed.deliver(event, source)
    return before, feed.board, feed, (event, source), feed.board.take_changelog()


@pytest.mark.parametrize("written", range(8))
def test_a_change_set_written_in_part_is_completed_from_its_redo_record(written: int) -> None:
    before, after, feed, (event, source), records = answered_event_records()
    # redo, the agent's day, contact (gone), the customer's last agent, seat, source mark, talk, tally
    assert len(records) == 8
    crashed = Changelog(dict(before.entries))
    crashed.write(records[:written])

    restored = crashed.restore()
    redelivered = Feed(restored, offsets=dict(feed.offsets)).deliver(event, source)

    if written == 0:  # nothing of the event was written: it is applied afresh
        assert redelivered is True
    else:  # its redo record was: the event is complete, and the redelivered one is a duplicate
        assert redelivered is False
    assert restored == after
    assert restored.tally("member").answered == 1
    # what the crash did not flush goes out with the next change set
    crashed.write(restored.take_changelog())
    assert crashed.restore() == after
    finished = {k: v for k, v in crashed.entries.items() if parse_entry_key(k)[1] != "redo"}
    complete = Changelog(dict(before.entries))
    complete.write(records)
    assert finished == {k: v for k, v in complete.entries.items() if parse_entry_key(k)[1] != "redo"}


def test_a_fully_written_change_set_leaves_nothing_to_write_after_a_restore() -> None:
    before, _, _, _, records = answered_event_records()
    before.write(records)

    assert before.restore().take_changelog() == []


def test_entries_of_several_tenants_are_told_apart_even_with_a_slash_in_a_tenant() -> None:
    odd, plain = Feed(Board("odd/tenant")), Feed(Board(TENANT))
    for feed in (odd, plain):
        feed.agent("kim", logged_in(member=5), 0)
        feed.call("call-1", queued("member", 1), 1)
        dispatch(feed.board, ts(1))
    store = Changelog()
    store.write(odd.board.take_changelog())
    store.write(plain.board.take_changelog())

    tenants = entries_by_tenant(store.entries.items())

    assert set(tenants) == {"odd/tenant", TENANT}
    assert Board.restore("odd/tenant", tenants["odd/tenant"]) == odd.board
    assert Board.restore(TENANT, tenants[TENANT]) == plain.board
    assert parse_entry_key(entry_key("odd/tenant", "source", "topic/3")) == (
        "odd/tenant",
        "source",
        "topic/3",
    )


def test_restore_starts_from_the_configured_queues() -> None:
    feed = Feed(Board(TENANT, queues=implicit_rules({"member": "member"})))
    feed.call("call-1", queued("gold", 1, skill="vip"), 1)
    store = Changelog()
    store.write(feed.board.take_changelog())

    restored = Board.restore(TENANT, store.entries.items(), queues=implicit_rules({"member": "member"}))

    assert restored.queues == {
        "member": implicit_rule("member", "member", 20),
        "gold": implicit_rule("gold", "vip", 20),
    }
    assert [key for key in store.entries if "/queue/" in key] == [entry_key(TENANT, "queue", "gold")]


def test_a_seat_entry_keeps_skills_site_and_state() -> None:
    feed = Feed(Board(TENANT))
    feed.agent("kim", routing_events.AgentLoggedIn(site_id="busan", skills=skills(member=3)), 0)
    store = Changelog()
    store.write(feed.board.take_changelog())

    assert store.entries[entry_key(TENANT, "seat", "kim")] == {
        "agent_id": "kim",
        "site_id": "busan",
        "skills": {"member": 3},
        "state": routing_events.AGENT_STATE_UNSPECIFIED,
        "ready_since": None,
        "reserved_for": "",
        "contact_id": "",
        "status_since": ts(0),
        "capacity": {"voice": 1},
        "exclusive": [],
        "contacts": {},
    }
