"""Which call each agent is on, or is being rung for: what an agent's desktop asks once a second.

The call read model is keyed by call; scanning a tenant's calls for an agent's would cost every ended
call ever read. So an observer of the read model keeps one entry per agent with a live call (ringing for
it, or connected to it), dropped as the call moves on. An entry is only a pointer: the answer is read
from the read model and checked again, so an entry left behind (a partition revoked, then reloaded) never
answers wrongly.
"""

from cc.telephony.v1 import telephony_pb2

from services.common.aggregate import Versioned
from services.telephony.domain import CallState

Key = tuple[str, str]  # (tenant, agent)


def agent_of(call: CallState) -> str:
    """The agent the call is live with: ringing for it, or connected to it; '' for none."""
    if call.status == telephony_pb2.CALL_STATUS_RINGING:
        return call.ringing_agent_id
    if call.status == telephony_pb2.CALL_STATUS_CONNECTED:
        return call.agent_id
    return ""


class AgentCalls:
    def __init__(self) -> None:
        self._call_of: dict[Key, str] = {}
        self._agent_of: dict[Key, str] = {}  # (tenant, call) -> the agent it is indexed under

    def observe(self, entry: Versioned[CallState]) -> None:
        tenant, call_id = entry.tenant_id, entry.aggregate_id
        agent = agent_of(entry.state)
        before = self._agent_of.get((tenant, call_id), "")
        if before == agent:
            return
        if before and self._call_of.get((tenant, before)) == call_id:
            del self._call_of[(tenant, before)]
        if agent:
            self._agent_of[(tenant, call_id)] = agent
            self._call_of[(tenant, agent)] = call_id  # the latest live call wins
        else:
            self._agent_of.pop((tenant, call_id), None)

    def call_of(self, tenant_id: str, agent_id: str) -> str:
        """The call last seen live with the agent ('' for none): check it against the read model."""
        return self._call_of.get((tenant_id, agent_id), "")
