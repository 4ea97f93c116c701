"""The desk's question "which call is mine now" is answered from an index of live calls by agent,
kept by observing the call read model: ringing for an agent or connected to it, and nothing else."""

from datetime import UTC, datetime

from cc.telephony.v1 import telephony_pb2

from services.common.aggregate import Versioned
from services.telephony.agent_calls import AgentCalls, agent_of
from services.telephony.domain import CallState

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def seen(index: AgentCalls, call_id: str, tenant: str = "acme", **state: object) -> None:
    call = CallState(call_id=call_id, ani="+8210", dnis="1588", customer_id="", offered_at=NOW, **state)  # type: ignore[arg-type]
    index.observe(Versioned(call, 1, tenant, call_id))


def test_a_call_is_the_agents_while_it_rings_for_it_and_while_they_talk() -> None:
    index = AgentCalls()
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_QUEUED)
    assert index.call_of("acme", "kim") == ""
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_RINGING, ringing_agent_id="kim")
    assert index.call_of("acme", "kim") == "c1"
    assert index.call_of("globex", "kim") == ""  # tenants apart
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_CONNECTED, agent_id="kim")
    assert index.call_of("acme", "kim") == "c1"
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_ENDED, agent_id="kim")
    assert index.call_of("acme", "kim") == ""


def test_a_call_that_moves_to_another_agent_leaves_the_first() -> None:
    index = AgentCalls()
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_RINGING, ringing_agent_id="kim")
    seen(index, "c1", status=telephony_pb2.CALL_STATUS_RINGING, ringing_agent_id="lee")  # after a RONA
    assert (index.call_of("acme", "kim"), index.call_of("acme", "lee")) == ("", "c1")


def test_an_older_calls_end_does_not_take_the_agents_newer_call_away() -> None:
    index = AgentCalls()
    seen(index, "old", status=telephony_pb2.CALL_STATUS_CONNECTED, agent_id="kim")
    seen(index, "new", status=telephony_pb2.CALL_STATUS_RINGING, ringing_agent_id="kim")
    seen(index, "old", status=telephony_pb2.CALL_STATUS_ENDED, agent_id="kim")
    assert index.call_of("acme", "kim") == "new"


def test_only_a_ringing_or_connected_call_has_an_agent() -> None:
    held = CallState("c", "a", "d", "", NOW, status=telephony_pb2.CALL_STATUS_CONNECTED, agent_id="kim")
    queued = CallState(
        "c", "a", "d", "", NOW, status=telephony_pb2.CALL_STATUS_QUEUED, ringing_agent_id="kim"
    )
    assert (agent_of(held), agent_of(queued)) == ("kim", "")
