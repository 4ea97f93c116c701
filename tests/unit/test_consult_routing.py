"""A consultation with another agent (TEL-1) in routing: the consulted agent joins the call at the
consultation's start (if free) and wraps up at its end; taking the call over (a consult transfer) starts no
contact of its own and is no answer from the queue, though the agent's day counts the contact."""

from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from cc.telephony.v1.commands_pb2 import ConsultDeclined, ConsultJoined
from google.protobuf.message import Message

from services.routing.board import Board
from services.routing.consumers import agent_commands_for_call
from services.routing.rules import QueueRule, proto_of
from services.telephony.consumers import consultation_answers
from tests.unit.support import TENANT, Feed, answered, changed, logged_in, queued

READY, ON_CONTACT = routing_events.AGENT_STATE_READY, routing_events.AGENT_STATE_ON_CONTACT


def agent_commands(payload: Message) -> list[tuple[str, str]]:
    event = Feed(Board(TENANT)).event("call", "a", payload, 30)
    return [
        (command.meta.aggregate_id, command.WhichOneof("command") or "")  # type: ignore[attr-defined]
        for _, command in agent_commands_for_call(event)
    ]


def test_the_consulted_agent_is_on_the_call_from_the_consultation_and_wraps_up_after_it() -> None:
    started = call_events.CallConsultStarted(agent_id="ann", consulted_agent_id="sup", round=3)
    ended = call_events.CallConsultEnded(agent_id="ann", reason="cancelled", consulted_agent_id="sup")
    with_number = call_events.CallConsultStarted(agent_id="ann", number="+8225550100")

    declined = call_events.CallConsultEnded(agent_id="ann", reason="declined", consulted_agent_id="sup")

    assert agent_commands(started) == [("sup", "join_consultation")]
    assert agent_commands(ended) == [("sup", "start_wrap_up")]
    # after a decline too: a later round may have put the agent on the call (else the wrap-up is refused)
    assert agent_commands(declined) == [("sup", "start_wrap_up")]
    assert agent_commands(with_number) == []


def test_taking_the_call_over_after_a_consultation_is_no_answer_from_the_queue() -> None:
    feed = Feed(Board(TENANT))
    feed.queue(
        "member", routing_events.QueueCreated(rules=proto_of(QueueRule("member", (("member", 0),)))), 0
    )
    feed.agent("ann", logged_in(member=5), 1)
    feed.agent("sup", logged_in(member=5), 1)
    feed.call("a", queued("member", 5), 5)
    feed.call("a", answered("ann", "member", 5), 10)
    feed.agent("ann", changed(ON_CONTACT, READY, "a"), 10)
    feed.agent("sup", changed(ON_CONTACT, READY, "a"), 20)  # consulted
    transferred = call_events.CallTransferred(
        agent_id="ann", queue_id="member", target=call_events.TRANSFER_TARGET_AGENT, to="sup", consulted=True
    )
    feed.call("a", transferred, 30)
    taken_over = answered("sup", "member", 5)
    taken_over.taken_over = taken_over.consulted = True

    assert agent_commands(taken_over) == []
    feed.call("a", taken_over, 30)

    board = feed.board
    assert board.tally("member").answered == 1  # ann's answer only
    assert board.agent_days["sup"].contacts == 1
    assert board.talking["a"].agent_id == "sup"


def test_routing_s_word_on_a_consulted_agent_reaches_the_call() -> None:
    feed = Feed(Board(TENANT))
    on_it = routing_events.AgentConsultJoined(contact_id="call-9", round=3)
    busy = routing_events.AgentConsultDeclined(contact_id="call-9", reason="on-contact", round=3)
    # a break whose reason happens to read "consultation" is no join
    break_named_so = routing_events.AgentStateChanged(
        state=routing_events.AGENT_STATE_NOT_READY, previous_state=READY, reason="consultation"
    )

    [(topics, joined)] = consultation_answers(feed.event("agent", "sup", on_it, 20))
    [(_, declined)] = consultation_answers(feed.event("agent", "sup", busy, 21))

    assert (topics.aggregate, joined.meta.aggregate_id) == ("call", "call-9")
    assert joined.consult_joined == ConsultJoined(agent_id="sup", round=3)  # type: ignore[union-attr]
    assert declined.consult_declined == ConsultDeclined(agent_id="sup", reason="on-contact", round=3)  # type: ignore[union-attr]
    assert consultation_answers(feed.event("agent", "sup", break_named_so, 22)) == []
