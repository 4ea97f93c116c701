"""Composition root of the gateway's key service: the single writer of API keys.

It runs as a process of its own beside the REST gateway, so the gateway stays stateless (any number of
them, none holding a partition) and keys are written the way every aggregate is: commands, one owner
per partition, events that every service's key ring follows."""

from cc.gateway.v1 import commands_pb2, keys_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.keys import ApiKeyState, evolve
from services.common.service import AggregateService
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import API_KEYS
from services.gateway.keys import domain
from services.gateway.keys.servicer import ApiKeyServicer

API_KEY_SPEC: AggregateSpec[ApiKeyState, commands_pb2.ApiKeyCommand] = AggregateSpec(
    API_KEYS, commands_pb2.ApiKeyCommand, domain.decide, evolve, domain.customer_of, ApiKeyState
)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    service = AggregateService(
        name="keys",
        spec=API_KEY_SPEC,
        port=settings.keys_port,
        grpc_service="cc.gateway.v1.ApiKeyService",
        add_servicer=keys_pb2_grpc.add_ApiKeyServiceServicer_to_server,
        servicer=ApiKeyServicer,
    )
    await service.run(settings)
