"""Composition root of the telephony service: the only place its parts are wired together."""

from cc.telephony.v1 import commands_pb2, telephony_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.service import AggregateService, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import CALLS, ROUTING_DECISIONS
from services.telephony import domain
from services.telephony.consumers import RingTimer, ring_for_decision
from services.telephony.servicer import TelephonyServicer


def call_spec(rules: domain.TelephonyRules) -> AggregateSpec[domain.CallState, commands_pb2.CallCommand]:
    return AggregateSpec(
        CALLS,
        commands_pb2.CallCommand,
        with_rules(domain.decide, rules),
        domain.evolve,
        domain.customer_of,
        domain.CallState,
    )


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    rules = domain.TelephonyRules(ring_timeout_seconds=settings.cc_ring_timeout_seconds)
    service = AggregateService(
        name="telephony",
        spec=call_spec(rules),
        port=settings.telephony_port,
        grpc_service="cc.telephony.v1.TelephonyService",
        add_servicer=telephony_pb2_grpc.add_TelephonyServiceServicer_to_server,
        servicer=TelephonyServicer,
        policies=[PolicyDefinition("telephony.ring-agent", [ROUTING_DECISIONS], ring_for_decision)],
        timers=[RingTimer],
    )
    await service.run(settings)
