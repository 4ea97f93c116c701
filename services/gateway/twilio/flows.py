"""The flow node a Twilio call waits on, for the shape of its `<Gather>` or `<Record>`. A published flow
version never changes, so each is fetched once per gateway (the default line's is version 0)."""

from cc.telephony.v1 import events_pb2, telephony_pb2, telephony_pb2_grpc

Metadata = tuple[tuple[str, str], ...]
# Versions kept; a gateway meets few, and an evicted one is only fetched again.
MAX_FLOWS = 1000


class FlowCache:
    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str, int], dict[str, events_pb2.FlowNode]] = {}

    async def node(
        self,
        telephony: telephony_pb2_grpc.TelephonyServiceStub,
        metadata: Metadata,
        tenant_id: str,
        call: telephony_pb2.Call,
    ) -> events_pb2.FlowNode | None:
        key = (tenant_id, call.line_id, call.flow_version)
        nodes = self._nodes.get(key)
        if nodes is None:
            request = telephony_pb2.GetFlowRequest(line_id=call.line_id, version=call.flow_version)
            published = await telephony.GetFlow(request, metadata=metadata)
            nodes = {node.id: node for node in published.flow.nodes}
            if len(self._nodes) >= MAX_FLOWS:
                self._nodes.pop(next(iter(self._nodes)))
            self._nodes[key] = nodes
        return nodes.get(call.node_id)
