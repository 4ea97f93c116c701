"""The gateway is ready when it can do its job: every service it forwards to answers SERVING on its
gRPC health, the live-metrics tail follows its topic, and its key ring has read every key. `/healthz`
only says the process is alive."""

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.keys import KeyRing
from services.gateway.clients import ServiceClients
from services.gateway.live_metrics import LiveQueueMetrics
from services.gateway.twilio.dialer import Dialer

SERVICES = (
    "telephony",
    "routing",
    "ticketing",
    "analytics",
    "keys",
)  # in the order of ServiceClients.channels


async def _serving(channel: grpc.aio.Channel) -> bool:
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
    except grpc.aio.AioRpcError:
        return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


async def checks(
    clients: ServiceClients, live_metrics: LiveQueueMetrics, keys: KeyRing, dialer: Dialer | None = None
) -> dict[str, bool]:
    """Each thing the gateway needs, and whether it has it now; with Twilio accounts, the dialer
    following the calls' events too (until then a routed Twilio call would wait in its queue unheard of)."""
    serving = await asyncio.gather(*(_serving(channel) for channel in clients.channels))
    found = {
        **dict(zip(SERVICES, serving, strict=True)),
        "live-metrics": live_metrics.following,
        "api-keys": keys.ready(),
    }
    if dialer is not None:
        found["twilio-dialer"] = dialer.following
    return found
