"""gRPC channels to every service, opened once in the app's lifespan. Every unary call carries a
deadline, so no REST request waits on a service longer than the command timeout and a little more. An
export's stream has none: it lasts as long as the file takes, and ends when the download does."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from cc.analytics.v1 import analytics_pb2_grpc
from cc.gateway.v1 import keys_pb2_grpc
from cc.routing.v1 import routing_pb2_grpc
from cc.telephony.v1 import telephony_pb2_grpc
from cc.ticketing.v1 import ticketing_pb2_grpc

from services.common.settings import PlatformSettings

# Beyond the services' own command timeout: the service answers UNAVAILABLE first; this is the backstop.
DEADLINE_MARGIN_SECONDS = 5.0


class Deadline(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every call without a deadline this one."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        if details.timeout is None:
            details = grpc.aio.ClientCallDetails(
                details.method, self._seconds, details.metadata, details.credentials, details.wait_for_ready
            )
        return await continuation(details, request)


@dataclass
class ServiceClients:
    channels: list[grpc.aio.Channel]
    telephony: telephony_pb2_grpc.TelephonyServiceStub
    routing: routing_pb2_grpc.RoutingServiceStub
    ticketing: ticketing_pb2_grpc.TicketingServiceStub
    analytics: analytics_pb2_grpc.AnalyticsServiceStub
    keys: keys_pb2_grpc.ApiKeyServiceStub

    @staticmethod
    def connect(settings: PlatformSettings) -> "ServiceClients":
        services = ("telephony", "routing", "ticketing", "analytics", "keys")
        deadline = Deadline(settings.cc_command_timeout_seconds + DEADLINE_MARGIN_SECONDS)
        channels = [
            grpc.aio.insecure_channel(settings.service_address(s), interceptors=[deadline]) for s in services
        ]
        return ServiceClients(
            channels=channels,
            telephony=telephony_pb2_grpc.TelephonyServiceStub(channels[0]),
            routing=routing_pb2_grpc.RoutingServiceStub(channels[1]),
            ticketing=ticketing_pb2_grpc.TicketingServiceStub(channels[2]),
            analytics=analytics_pb2_grpc.AnalyticsServiceStub(channels[3]),
            keys=keys_pb2_grpc.ApiKeyServiceStub(channels[4]),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
