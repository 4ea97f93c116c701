"""A consultation with another agent (TEL-1) in routing: the consulted agent is on the call from the
consultation's start and wraps up at its end; taking the call over (a consult transfer) starts no
contact of its own and is no answer from the queue, though the agent's day counts the contact."""

from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.routing.board import Board
from services.routing.consumers import agent_commands_for_call
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import TENANT, Feed, answered, changed, logged_in, queued

READY, ON_CONTACT = routing_events.AGENT_STATE_READY, routing_events.AGENT_STATE_ON_CONTACT


def agent_commands(payload: Message) -> list[tuple[str, str]]:
    event = Feed(Board(TENANT)).event("call", "a", payload, 30)
    return [
        (command.meta.aggregate_id, command.WhichOneof("command") or "")  # type: ignore[attr-defined]
        for _, command in agent_commands_for_call(event)
    ]


def test_the_consulted_agent_is_on_the_call_from_the_consultation_and_wraps_up_after_it() -> None:
    started = call_events.CallConsultStarted(agent_id="ann", consulted_agent_id="sup")
    ended = call_events.CallConsultEnded(agent_id="ann", reason="cancelled", consulted_agent_id="sup")
    with_number = call_events.CallConsultStarted(agent_id="ann", number="+8225550100")

    assert agent_commands(started) == [("sup", "start_contact")]
    assert agent_commands(ended) == [("sup", "start_wrap_up")]
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
