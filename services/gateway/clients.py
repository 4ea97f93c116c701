"""gRPC channels to every service, opened once in the app's lifespan."""

from dataclasses import dataclass

import grpc
from cc.analytics.v1 import analytics_pb2_grpc
from cc.routing.v1 import routing_pb2_grpc
from cc.telephony.v1 import telephony_pb2_grpc
from cc.ticketing.v1 import ticketing_pb2_grpc

from services.common.settings import PlatformSettings


@dataclass
class ServiceClients:
    channels: list[grpc.aio.Channel]
    telephony: telephony_pb2_grpc.TelephonyServiceStub
    routing: routing_pb2_grpc.RoutingServiceStub
    ticketing: ticketing_pb2_grpc.TicketingServiceStub
    analytics: analytics_pb2_grpc.AnalyticsServiceStub

    @staticmethod
    def connect(settings: PlatformSettings) -> "ServiceClients":
        ports = (
            settings.telephony_port,
            settings.routing_port,
            settings.ticketing_port,
            settings.analytics_port,
        )
        channels = [grpc.aio.insecure_channel(settings.address(port)) for port in ports]
        return ServiceClients(
            channels=channels,
            telephony=telephony_pb2_grpc.TelephonyServiceStub(channels[0]),
            routing=routing_pb2_grpc.RoutingServiceStub(channels[1]),
            ticketing=ticketing_pb2_grpc.TicketingServiceStub(channels[2]),
            analytics=analytics_pb2_grpc.AnalyticsServiceStub(channels[3]),
        )

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
