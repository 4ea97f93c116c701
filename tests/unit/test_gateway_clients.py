"""The gateway's calls to the services carry a deadline, so no REST request waits on a service forever."""

from typing import Any

import grpc

from services.gateway.clients import Deadline


async def test_a_call_without_a_deadline_gets_one_and_one_with_a_deadline_keeps_it() -> None:
    seen: list[float | None] = []

    async def continuation(details: grpc.aio.ClientCallDetails, request: Any) -> str:
        seen.append(details.timeout)
        return "answered"

    deadline = Deadline(15.0)
    for timeout in (None, 2.0):
        method = "/cc.telephony.v1.TelephonyService/OfferCall"
        details = grpc.aio.ClientCallDetails(method, timeout, None, None, None)
        assert await deadline.intercept_unary_unary(continuation, details, object()) == "answered"
    assert seen == [15.0, 2.0]


async def test_the_gateway_is_not_ready_while_a_service_the_metrics_tail_or_the_keys_are_missing() -> None:
    from services.common.keys import KeyRing
    from services.common.settings import PlatformSettings
    from services.gateway.clients import ServiceClients
    from services.gateway.live_metrics import LiveQueueMetrics
    from services.gateway.readiness import checks

    nowhere = PlatformSettings(
        telephony_port=1, routing_port=1, ticketing_port=1, analytics_port=1, keys_port=1
    )
    clients = ServiceClients.connect(nowhere)  # nothing listens on port 1
    try:
        found = await checks(clients, LiveQueueMetrics("127.0.0.1:1"), KeyRing({}, "127.0.0.1:1"))
    finally:
        await clients.close()
    services = ("telephony", "routing", "ticketing", "analytics", "keys")
    assert found == dict.fromkeys((*services, "live-metrics", "api-keys"), False)
