"""One call is one trace, across every process it passes through, as a collector receives it (the session's
OTLP receiver, tests/e2e/otlp_receiver.py): the REST request that offers the call (gateway), telephony's
RPC and its decision, the routing worker's fold of the queued call and its decision, routing's reaction to
the call's events, telephony's ring of the agent routing chose, and the analytics sink storing each event.
Each hop's span is a child of the span whose record or RPC started it, so the chain is unbroken from any
stored event back to the request. And the RPCs, REST routes and consumers export their RED metrics and
their lag."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import httpx
import pytest

from services.platform import Platform
from tests.e2e.otlp_receiver import Attributes, OtlpReceiver, ReceivedPoint, ReceivedSpan
from tests.e2e.support import until
from tests.e2e.test_call_life import eventually, ok

API_KEY = "e2e-traces"
NUMBER = "15889900"
# A line whose calls wait in `member` at once: the request that offers a call also queues it.
QUEUE_AT_ONCE = {"start": "q", "nodes": [{"id": "q", "type": "queue", "parameters": {"queue_id": "member"}}]}
SERVICES = {"gateway", "telephony", "routing-stream", "routing", "analytics"}
# The events of the call's offer, each stored by the sink in the call's trace.
STORED = {
    "telephony.call.offered",
    "telephony.call.queued",
    "routing.contact.routed",
    "telephony.call.ringing",
}
# Spans leave each process within 200 ms (OTEL_BSP_SCHEDULE_DELAY) and the sink stores once a second; a
# loaded machine still takes its time.
ARRIVAL_SECONDS = 60.0


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        yield client


@dataclass
class Trace:
    spans: list[ReceivedSpan]

    def by_id(self) -> dict[str, ReceivedSpan]:
        return {span.span_id: span for span in self.spans}

    def services(self) -> set[str]:
        return {span.service for span in self.spans}

    def roots(self) -> list[ReceivedSpan]:
        return [span for span in self.spans if not span.parent_id]

    def orphans(self) -> list[ReceivedSpan]:
        """Spans whose parent is not in the trace (not received, or never exported)."""
        known = self.by_id()
        return [span for span in self.spans if span.parent_id and span.parent_id not in known]

    def stored(self, call_id: str) -> dict[str, ReceivedSpan]:
        """The sink's spans of the call's events, by event type."""
        return {
            span.name.removeprefix("store "): span
            for span in self.spans
            if span.service == "analytics" and span.attributes.get("cc.aggregate_id") == call_id
        }

    def ancestry(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        """The span, its parent, and so on up to the first span whose parent is not in the trace."""
        known, chain = self.by_id(), [span]
        while chain[-1].parent_id in known:
            chain.append(known[chain[-1].parent_id])
        return chain


def call_trace(received: list[ReceivedSpan], call_id: str) -> Trace | None:
    """The trace of the call's offer, named by the sink's span of its CallOffered; None before it came."""
    offered = [
        span
        for span in received
        if span.name == "store telephony.call.offered" and span.attributes.get("cc.aggregate_id") == call_id
    ]
    if not offered:
        return None
    return Trace([span for span in received if span.trace_id == offered[0].trace_id])


def whole(trace: Trace | None, call_id: str) -> bool:
    return (
        trace is not None
        and set(trace.stored(call_id)) >= STORED
        and trace.services() >= SERVICES
        and not trace.orphans()
    )


def described(chain: list[ReceivedSpan]) -> list[tuple[str, str]]:
    return [(span.service, span.name) for span in chain]


async def test_one_call_is_one_trace_from_the_rest_request_to_the_ringing_agent_and_analytics(
    rest: httpx.AsyncClient, otlp: OtlpReceiver
) -> None:
    ok(await rest.post("/v1/agents/kim/login", json={"site_id": "seoul", "skills": [{"name": "member"}]}))
    ok(await rest.put("/v1/lines/traced", json={"numbers": [NUMBER]}))
    ok(await rest.post("/v1/lines/traced/flows", json=QUEUE_AT_ONCE), 201)
    # The worker's board has kim ready before the call comes, so that the call's own event routes it (a
    # call waiting for kim would be routed by kim's event, in the trace of kim's request).
    await until(rest, "/v1/queues/member/metrics", lambda m: m["agents_ready"] == 1, "kim never ready")

    call = ok(await rest.post("/v1/calls", json={"ani": "+821055509900", "dnis": NUMBER}), 201)
    call_id = call["call_id"]
    assert call["status"] == "queued"

    async def arrived() -> Trace | None:
        trace = call_trace(otlp.spans(), call_id)
        return trace if whole(trace, call_id) else None

    try:
        trace = await eventually(arrived, "the call's trace never arrived whole", ARRIVAL_SECONDS)
    except TimeoutError:
        trace = call_trace(otlp.spans(), call_id)  # what came, for the assertions below to describe
    assert trace is not None, "no span of the sink's CallOffered for the call"

    # Every event of the call's offer is stored in this one trace: none started a trace of its own.
    assert set(trace.stored(call_id)) >= STORED, sorted(trace.stored(call_id))
    assert trace.services() >= SERVICES, sorted(trace.services())
    # One root, the gateway's REST span; every other span's parent is in the trace.
    (root,) = trace.roots()
    assert (root.service, root.name) == ("gateway", "POST /v1/calls")
    assert trace.orphans() == [], described(trace.orphans())
    # From the agent's phone ringing, as the sink stored it, back to the request: through telephony's
    # ring, its policy's reaction to the worker's decision, the decision and its fold of the queued call,
    # telephony's decision on the offer and its RPC.
    chain = trace.ancestry(trace.stored(call_id)["telephony.call.ringing"])
    assert chain[-1] == root, described(chain)
    assert described(chain) == [
        ("analytics", "store telephony.call.ringing"),
        ("telephony", "decide call"),
        ("telephony", "react to routing.contact.routed"),
        ("routing-stream", "routing decision"),
        ("routing-stream", "route telephony.call.queued"),
        ("telephony", "decide call"),
        ("telephony", "/cc.telephony.v1.TelephonyService/OfferCall"),
        ("gateway", "POST /v1/calls"),
    ]
    # routing reacts to the call's events in the same trace
    assert any(span.service == "routing" and span.name.startswith("react to ") for span in trace.spans)

    ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"}))


async def exported(
    otlp: OtlpReceiver, metric: str, service: str, attributes: Attributes
) -> ReceivedPoint | None:
    """The service's latest data point of the metric that has these attributes (among others)."""
    points = otlp.points(metric)
    return next(
        (p for p in points if p.service == service and attributes.items() <= p.attributes.items()), None
    )


async def test_rpcs_rest_routes_and_consumers_export_their_red_metrics_and_lag(
    rest: httpx.AsyncClient, otlp: OtlpReceiver
) -> None:
    ok(await rest.post("/v1/calls", json={"ani": "+821055509901", "dnis": "1588-1234"}), 201)
    wanted: dict[str, tuple[str, str, Attributes]] = {
        "OfferCall counted": ("rpc.server.requests", "telephony", {"rpc.method": "OfferCall"}),
        "OfferCall timed": ("rpc.server.call.duration", "telephony", {"rpc.method": "OfferCall"}),
        "the REST route counted": (
            "http.server.requests",
            "gateway",
            {"http.route": "/v1/calls", "http.request.method": "POST", "http.response.status_code": 201},
        ),
        "the REST route timed": ("http.server.request.duration", "gateway", {"http.route": "/v1/calls"}),
        "telephony's policies' lag": (
            "messaging.kafka.consumer.lag",
            "telephony",
            {"messaging.consumer.group.name": "telephony.policies"},
        ),
        "the worker's lag": (
            "messaging.kafka.consumer.lag",
            "routing-stream",
            {"messaging.consumer.group.name": "routing-stream"},
        ),
        "the sink's lag": (
            "messaging.kafka.consumer.lag",
            "analytics",
            {"messaging.consumer.group.name": "analytics.sink"},
        ),
    }
    for what, (metric, service, attributes) in wanted.items():
        probe = partial(exported, otlp, metric, service, attributes)
        point = await eventually(probe, f"{what}: never exported", ARRIVAL_SECONDS)
        if not metric.endswith(".lag"):  # a lag is any number, 0 when the group is caught up
            assert point.value >= 1, what
