"""Omnichannel capacity (issue 7, RT-7): an agent takes contacts of each channel up to its profile (say
voice 1, chat 3), an exclusive channel blocks the others while held, and the board routes synthetic chat
contacts beside calls before any chat channel exists."""

import pytest
from cc.routing.v1 import events_pb2 as routing_events
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.routing.board import Board
from services.routing.capacity import validated_capacity
from services.routing.matching import NO_CAPACITY, candidates_for, dispatch
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import (
    TENANT,
    Changelog,
    Feed,
    accepted,
    answered,
    changed,
    contact_queued,
    ended,
    logged_in,
    queued,
    ts,
)

READY = routing_events.AGENT_STATE_READY
ON_CONTACT = routing_events.AGENT_STATE_ON_CONTACT
WRAP_UP = routing_events.AGENT_STATE_WRAP_UP


def capacity(
    voice: int = 1, chat: int = 0, exclusive: tuple[str, ...] = ()
) -> list[routing_events.ChannelCapacity]:
    return [
        routing_events.ChannelCapacity(channel=channel, max_contacts=most, exclusive=channel in exclusive)
        for channel, most in (("voice", voice), ("chat", chat))
    ]


def desk() -> Feed:
    """A voice queue and a chat queue, both needing the member skill."""
    feed = Feed(Board(TENANT))
    for rule in (QueueRule("member", (("member", 0),)), QueueRule("chat", (("member", 0),), channel="chat")):
        feed.queue(rule.queue_id, routing_events.QueueCreated(rules=proto_of(rule)), 0)
    return feed


def seat(feed: Feed, agent_id: str, profile: list[routing_events.ChannelCapacity], t: float = 0) -> None:
    event = logged_in(member=5)
    event.capacity.extend(profile)
    feed.agent(agent_id, event, t)


def chats(feed: Feed, count: int, t: float, first: int = 1) -> list[str]:
    ids = [f"chat-{n}" for n in range(first, first + count)]
    for contact_id in ids:
        feed.contact(contact_id, contact_queued("chat", t), t)
    return ids


def routed(feed: Feed, t: float) -> dict[str, str]:
    """contact -> agent for every decision dispatch makes now."""
    return {d.contact.contact_id: d.routed.agent_id for d in dispatch(feed.board, ts(t))}


def test_a_profile_is_one_entry_per_channel_and_a_bad_one_names_each_fault() -> None:
    twice = [
        routing_events.ChannelCapacity(channel="chat", max_contacts=2),
        routing_events.ChannelCapacity(channel="voice", max_contacts=1, exclusive=True),
        routing_events.ChannelCapacity(channel="chat", max_contacts=3),
    ]
    assert [(c.channel, c.max_contacts, c.exclusive) for c in validated_capacity(twice)] == [
        ("voice", 1, True),
        ("chat", 3, False),
    ]
    bad = [
        routing_events.ChannelCapacity(channel="fax", max_contacts=1),
        routing_events.ChannelCapacity(channel="voice", max_contacts=2),
        routing_events.ChannelCapacity(channel="chat", max_contacts=21),
    ]
    with pytest.raises(InvalidArgument) as refused:
        validated_capacity(bad)
    assert [v.field for v in refused.value.field_violations] == [
        "capacity[0].channel",
        "capacity[1].max_contacts",
        "capacity[2].max_contacts",
    ]


def test_an_agent_takes_chats_up_to_its_capacity_and_they_spread_over_agents_with_room() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=3), 0)
    seat(feed, "lee", capacity(chat=3), 1)
    chats(feed, 7, 10)
    first = routed(feed, 10)
    assert sorted(first.values()) == ["kim", "kim", "kim", "lee", "lee", "lee"]
    # each new chat went to the agent holding fewer: kim (idle longest), lee, kim, lee, ...
    assert [first[f"chat-{n}"] for n in range(1, 7)] == ["kim", "lee", "kim", "lee", "kim", "lee"]
    assert "chat-7" in feed.board.waiting  # both full
    assert feed.board.staffing("chat") == {"on-contact": 2, "ready": 0}

    feed.contact("chat-1", accepted("kim", "chat", 10), 12)
    feed.contact("chat-1", routing_events.ContactClosed(agent_id="kim", queue_id="chat"), 100)
    assert routed(feed, 100) == {"chat-7": "kim"}  # the room a closed chat left
    tally = feed.board.tallies["chat"]
    assert (tally.offered, tally.answered, tally.handled, tally.handle_time_total) == (7, 1, 1, 88.0)


def test_an_agent_without_a_profile_takes_calls_only() -> None:
    feed = desk()
    feed.agent("kim", logged_in(member=5), 0)  # no capacity: one call at a time
    chats(feed, 1, 10)
    assert routed(feed, 10) == {}
    (kim,) = candidates_for(feed.board, feed.board.waiting["chat-1"], ts(10))
    assert (kim.eligible, kim.skipped_reason) == (False, NO_CAPACITY)
    feed.call("call-1", queued("member", 11), 11)
    assert routed(feed, 11) == {"call-1": "kim"}


def test_an_agent_on_an_exclusive_call_is_offered_no_chat_until_the_call_is_done() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=2, exclusive=("voice",)), 0)
    feed.call("call-1", queued("member", 1), 1)
    assert routed(feed, 1) == {"call-1": "kim"}
    chats(feed, 1, 2)
    assert routed(feed, 2) == {}  # its phone rings
    feed.call("call-1", answered("kim", "member", 1), 3)
    feed.agent("kim", changed(ON_CONTACT, READY, "call-1"), 3)
    assert routed(feed, 3) == {}  # on the call
    feed.call("call-1", ended("member", "kim"), 60)
    feed.agent("kim", changed(WRAP_UP, ON_CONTACT, "call-1"), 60)
    assert routed(feed, 60) == {}  # wrapping it up
    assert feed.board.staffing("chat")["wrap-up"] == 1
    feed.agent("kim", changed(READY, WRAP_UP, "call-1"), 70)
    assert routed(feed, 70) == {"chat-1": "kim"}


def test_an_agent_on_a_call_takes_a_chat_beside_it_when_voice_is_not_exclusive() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=2), 0)
    feed.call("call-1", queued("member", 1), 1)
    feed.call("call-2", queued("member", 1.5), 1.5)
    chats(feed, 1, 2)
    assert routed(feed, 2) == {"call-1": "kim", "chat-1": "kim"}
    assert "call-2" in feed.board.waiting  # one call at a time


def test_held_chats_leave_room_for_a_call_unless_chat_is_exclusive() -> None:
    for exclusive, call_goes_to in (((), "kim"), (("chat",), None)):
        feed = desk()
        seat(feed, "kim", capacity(chat=3, exclusive=exclusive), 0)
        chats(feed, 2, 1)
        assert len(routed(feed, 1)) == 2
        # on chats, the agent is busy: its time counts as on a contact, not ready
        assert feed.board.agents["kim"].status == "on-contact"
        feed.call("call-1", queued("member", 2), 2)
        assert routed(feed, 2).get("call-1") == call_goes_to


def test_a_declined_chat_keeps_its_place_and_is_not_offered_straight_back() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=3), 0)
    seat(feed, "lee", capacity(chat=1), 0.5)
    feed.agent("lee", changed(routing_events.AGENT_STATE_NOT_READY, READY), 0.6)
    chats(feed, 1, 1)
    assert routed(feed, 1) == {"chat-1": "kim"}
    feed.contact("chat-1", routing_events.ContactOffered(agent_id="kim"), 2)
    # The worker dispatches after each event. A ready agent that declines goes not ready, as after a
    # call it let ring out, so the chat is not offered straight back to it, however much room it has.
    feed.contact("chat-1", routing_events.ContactDeclined(agent_id="kim", reason="busy"), 3)
    assert feed.board.agents["kim"].status_for("chat") == "not-ready"
    assert routed(feed, 3) == {}
    feed.contact("chat-1", contact_queued("chat", 1), 3)
    chats(feed, 1, 4, first=2)
    assert routed(feed, 4) == {}
    assert feed.board.waiting["chat-1"].routings == 1
    assert feed.board.tallies["chat"].offered == 2  # a declined chat is not offered twice
    feed.agent("lee", changed(READY, routing_events.AGENT_STATE_NOT_READY), 5)
    assert routed(feed, 5) == {"chat-1": "lee"}  # still ahead of chat-2: it kept its place


def test_an_agent_who_logs_out_and_in_still_holds_its_open_chats() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=2), 0)
    chats(feed, 2, 1)
    routed(feed, 1)
    feed.contact("chat-1", accepted("kim", "chat", 1), 2)
    feed.agent("kim", routing_events.AgentLoggedOut(previous_state=READY), 3)
    seat(feed, "kim", capacity(chat=2), 4)
    assert feed.board.agents["kim"].contacts == {"chat-1": "chat", "chat-2": "chat"}
    chats(feed, 1, 5, first=3)
    assert routed(feed, 5) == {}  # still full
    feed.contact("chat-1", routing_events.ContactClosed(agent_id="kim", queue_id="chat"), 6)
    assert routed(feed, 6) == {"chat-3": "kim"}


def test_a_chat_agent_is_never_a_callers_last_agent() -> None:
    feed = desk()
    last_agent = QueueRule(
        "member", (("member", 0),), last_agent_window_seconds=3600, last_agent_wait_seconds=60
    )
    feed.queue("member", routing_events.QueueRulesChanged(rules=proto_of(last_agent)), 0)
    seat(feed, "kim", capacity(voice=0, chat=1), 0)
    feed.contact("chat-1", contact_queued("chat", 1), 1)
    routed(feed, 1)
    feed.contact("chat-1", accepted("kim", "chat", 1), 2)
    assert feed.board.last_agents == {}


def test_a_chat_abandoned_while_offered_counts_and_frees_the_agent() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=1), 0)
    chats(feed, 1, 1)
    routed(feed, 1)
    feed.contact("chat-1", routing_events.ContactClosed(queue_id="chat", abandoned=True), 5)
    assert feed.board.agents["kim"].contacts == {} and feed.board.routed == {}
    tally = feed.board.tallies["chat"]
    assert (tally.abandoned, tally.removed_within_threshold) == (1, 1)


def test_held_chats_and_profiles_are_restored_from_the_changelog() -> None:
    feed = desk()
    seat(feed, "kim", capacity(chat=3, exclusive=("voice",)), 0)
    chats(feed, 4, 1)
    routed(feed, 1)
    store = Changelog()
    store.write(feed.board.take_changelog())
    restored = store.restore()
    assert restored == feed.board
    assert restored.agents["kim"].contacts == {"chat-1": "chat", "chat-2": "chat", "chat-3": "chat"}
    assert restored.staffing("chat") == feed.board.staffing("chat")
    assert dispatch(restored, ts(2)) == []  # still full


@settings(max_examples=60, deadline=None)
@given(
    profiles=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 3), st.booleans(), st.booleans()), min_size=1, max_size=4
    ),
    steps=st.lists(
        st.tuples(st.sampled_from(["call", "chat", "close", "answer", "end-call"]), st.integers(0, 9)),
        max_size=40,
    ),
)
def test_no_agent_ever_holds_more_than_its_capacity(
    profiles: list[tuple[int, int, bool, bool]], steps: list[tuple[str, int]]
) -> None:
    """Calls and chats arrive, are routed, answered and closed in any order: no agent holds more contacts
    of a channel than its profile allows, and none holds another channel beside an exclusive one that it
    took first."""
    feed = desk()
    for n, (voice, chat, voice_exclusive, chat_exclusive) in enumerate(profiles):
        exclusive = tuple(c for c, on in (("voice", voice_exclusive), ("chat", chat_exclusive)) if on)
        seat(feed, f"agent-{n}", capacity(voice, chat, exclusive), 0)
    t = 1.0
    for action, n in steps:
        t += 1
        board = feed.board
        if action == "call":
            feed.call(f"call-{n}-{t}", queued("member", t), t)
        elif action == "chat":
            feed.contact(f"chat-{n}-{t}", contact_queued("chat", t), t)
        elif action == "answer" and board.routed:
            contact = sorted(board.routed.values(), key=lambda c: c.contact_id)[n % len(board.routed)]
            if contact.contact_id.startswith("call"):
                feed.call(contact.contact_id, answered(contact.agent_id, "member", t), t)
                feed.agent(contact.agent_id, changed(ON_CONTACT, READY, contact.contact_id), t)
            else:
                feed.contact(contact.contact_id, accepted(contact.agent_id, "chat", t), t)
        elif action == "close" and board.talking:
            contact_id = sorted(c for c in board.talking if c.startswith("chat"))[n : n + 1]
            for chat in contact_id:
                feed.contact(chat, routing_events.ContactClosed(agent_id=board.talking[chat].agent_id), t)
        elif action == "end-call":
            for seat_ in [s for s in board.agents.values() if s.state == ON_CONTACT][:1]:
                call = seat_.contact_id
                feed.call(call, ended("member", seat_.agent_id), t)
                feed.agent(seat_.agent_id, changed(WRAP_UP, ON_CONTACT, call), t)
                feed.agent(seat_.agent_id, changed(READY, WRAP_UP, call), t)
        before = {a: (s.holds("voice"), dict(s.contacts)) for a, s in board.agents.items()}
        dispatch(board, ts(t))
        for agent_id, held in board.agents.items():
            for channel in ("voice", "chat"):
                assert held.holds(channel) <= held.capacity.get(channel, 0), (agent_id, channel)
            voice_before, chats_before = before[agent_id]
            new_chats = set(held.contacts) - set(chats_before)
            if "voice" in held.exclusive and voice_before:
                assert not new_chats, "offered a chat while on an exclusive call"
            if "chat" in held.exclusive and chats_before:
                assert held.holds("voice") <= voice_before, "offered a call beside an exclusive chat"
