"""Contacts of channels other than voice (issue 7, RT-7): the routing.contact aggregate's transitions,
the offer of each routing decision, and the offer timeout that declines for an absent agent."""

from datetime import timedelta

import pytest
from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.deadlines import Deadlines
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.snapshots import StateCodec
from services.routing import contacts
from services.routing.consumers import OfferTimer, agent_commands_for_contact, offer_for_decision
from services.routing.contacts import ACCEPTED, CLOSED, OFFERED, QUEUED, ContactRules, ContactState
from services.telephony.consumers import ring_for_decision
from tests.unit.support import TENANT, History, at, envelope, meta

CONTACT_ID = "chat-1"


class Chat:
    """A contact's history with one method per command; each returns the payloads it produced."""

    def __init__(self) -> None:
        self.history = History(
            contacts.decide,
            contacts.evolve,
            contacts.customer_of,
            ContactRules(offer_timeout_seconds=20),
            "routing",
            "contact",
            CONTACT_ID,
        )
        self.clock = 0.0

    @property
    def state(self) -> ContactState:
        assert self.history.state is not None
        return self.history.state

    def send(self, **body: Message) -> list[Message]:
        self.clock += 1
        command = commands_pb2.ContactCommand(meta=meta(CONTACT_ID), **body)  # type: ignore[arg-type]
        return self.history.handle(command, at(self.clock))

    def offer(self, channel: str = "chat", priority: int = 2) -> list[Message]:
        wanted = commands_pb2.OfferContact(
            channel=channel, queue_id="web", priority=priority, customer_id="cu-1"
        )
        return self.send(offer=wanted)

    def offer_to(self, agent_id: str = "kim") -> list[Message]:
        return self.send(offer_to_agent=commands_pb2.OfferToAgent(agent_id=agent_id, decision_id="d-1"))


def test_a_chat_is_queued_offered_accepted_and_closed_as_handled() -> None:
    chat = Chat()
    (queued,) = chat.offer()
    assert (queued.channel, queued.queue_id, queued.priority) == ("chat", "web", 2)
    assert (chat.state.status, chat.state.customer_id) == (QUEUED, "cu-1")
    (offered,) = chat.offer_to("kim")
    assert (offered.agent_id, offered.timeout_seconds) == ("kim", 20)
    assert (chat.state.status, chat.state.offer_timeout) == (OFFERED, timedelta(seconds=20))
    (accepted,) = chat.send(accept=commands_pb2.AcceptContact(agent_id="kim"))
    assert (accepted.agent_id, accepted.queue_id, accepted.enqueued_at) == ("kim", "web", queued.enqueued_at)
    assert chat.state.status == ACCEPTED and chat.state.offer_timeout is None
    (closed,) = chat.send(close=commands_pb2.CloseContact())
    assert (closed.agent_id, closed.abandoned) == ("kim", False)
    assert chat.state.status == CLOSED
    with pytest.raises(IllegalTransition) as refused:
        chat.send(close=commands_pb2.CloseContact())
    assert refused.value.error_id == "contact-closed"


def test_a_declined_chat_goes_back_to_its_queue_with_its_first_time_in_it() -> None:
    chat = Chat()
    (queued,) = chat.offer()
    chat.offer_to("kim")
    declined, again = chat.send(decline=commands_pb2.DeclineContact(agent_id="kim", reason="busy"))
    assert isinstance(declined, events_pb2.ContactDeclined) and declined.reason == "busy"
    assert again == queued  # the same queue, priority and time joined: it keeps its place
    assert (chat.state.status, chat.state.agent_id) == (QUEUED, "")
    chat.offer_to("lee")
    assert chat.state.agent_id == "lee"


def test_only_the_agent_it_is_offered_to_may_take_or_decline_it() -> None:
    chat = Chat()
    chat.offer()
    with pytest.raises(IllegalTransition) as refused:
        chat.send(accept=commands_pb2.AcceptContact(agent_id="kim"))  # not offered yet
    assert refused.value.error_id == "contact-not-offered-to-agent"
    chat.offer_to("kim")
    for wrong in (
        {"accept": commands_pb2.AcceptContact(agent_id="lee")},
        {"decline": commands_pb2.DeclineContact(agent_id="lee")},
    ):
        with pytest.raises(IllegalTransition):
            chat.send(**wrong)
    with pytest.raises(IllegalTransition) as stale:
        chat.offer_to("lee")  # a second decision for a contact already offered
    assert stale.value.error_id == "contact-not-queued"


@pytest.mark.parametrize("offered_to", ["", "kim"])
def test_a_chat_closed_before_anyone_accepted_it_is_abandoned(offered_to: str) -> None:
    chat = Chat()
    chat.offer()
    if offered_to:
        chat.offer_to(offered_to)
    (closed,) = chat.send(close=commands_pb2.CloseContact())
    assert (closed.abandoned, closed.agent_id) == (True, offered_to)
    assert chat.state.abandoned


def test_a_bad_offer_names_each_field_and_a_call_is_not_a_contact() -> None:
    chat = Chat()
    with pytest.raises(InvalidArgument) as refused:
        chat.offer(channel="voice", priority=11)
    assert [v.field for v in refused.value.field_violations] == ["channel", "priority"]
    with pytest.raises(InvalidArgument):
        chat.offer(channel="fax")
    with pytest.raises(NotFound):
        chat.offer_to()
    chat.offer()
    with pytest.raises(IllegalTransition) as twice:
        chat.offer()
    assert twice.value.error_id == "contact-already-exists"


def routed(channel: str) -> event_pb2.Event:
    decision = events_pb2.ContactRouted(
        decision_id="d-9", contact_id=CONTACT_ID, agent_id="kim", channel=channel
    )
    return envelope(
        decision, context="routing", aggregate_type="contact", aggregate_id=CONTACT_ID, version=1, when=at(0)
    )


def test_a_decision_for_a_chat_offers_it_and_one_for_a_call_rings_a_phone() -> None:
    [(topics, command)] = offer_for_decision(routed("chat"))
    assert isinstance(command, commands_pb2.ContactCommand)
    assert (topics.aggregate, command.offer_to_agent.agent_id, command.meta.aggregate_id) == (
        "contact",
        "kim",
        CONTACT_ID,
    )
    [(_, again)] = offer_for_decision(routed("chat"))
    assert again.meta.command_id == command.meta.command_id  # a decision re-sent offers once
    assert ring_for_decision(routed("chat")) == []
    for voice in ("voice", ""):
        assert offer_for_decision(routed(voice)) == []
        assert len(ring_for_decision(routed(voice))) == 1


def test_an_offer_not_taken_in_time_is_declined_for_the_agent_who_goes_not_ready() -> None:
    chat = Chat()
    chat.offer()
    chat.offer_to("kim")
    codec = StateCodec(ContactState)
    deadlines = Deadlines(clock=lambda: now)
    now = 0.0
    snapshot = codec.decode(codec.encode(chat.state))  # a contact loaded from a snapshot: the same deadline
    OfferTimer(deadlines)(Versioned(snapshot, chat.history.version, TENANT, CONTACT_ID))
    now = 19.9
    assert deadlines.due() == []
    now = 20.0
    (deadline,) = deadlines.due()
    command = deadline.command()
    assert (command.decline.agent_id, command.decline.reason) == ("kim", "offer-timeout")

    declined, _ = chat.history.handle(command, at(30))
    [(topics, not_ready)] = agent_commands_for_contact(chat.history.events[-2])
    assert isinstance(declined, events_pb2.ContactDeclined)
    assert (topics.aggregate, not_ready.meta.aggregate_id) == ("agent", "kim")
    assert not_ready.mark_ring_no_answer.contact_id == CONTACT_ID
    assert not_ready.mark_ring_no_answer.reason == "ring-no-answer"
    OfferTimer(deadlines)(Versioned(chat.state, chat.history.version, TENANT, CONTACT_ID))
    now = 100.0
    assert deadlines.due() == []  # back in its queue: no deadline


def test_an_agent_who_declines_goes_not_ready_saying_so() -> None:
    chat = Chat()
    chat.offer()
    chat.offer_to("kim")
    chat.send(decline=commands_pb2.DeclineContact(agent_id="kim", reason="busy"))
    [(_, not_ready)] = agent_commands_for_contact(chat.history.events[-2])
    assert (not_ready.meta.aggregate_id, not_ready.mark_ring_no_answer.reason) == ("kim", "declined")
    assert agent_commands_for_contact(chat.history.events[-1]) == []  # back in its queue: nothing
