"""Composition root of the telephony service: the only place its parts are wired together."""

from datetime import datetime
from functools import partial

from cc.telephony.v1 import commands_pb2, telephony_pb2_grpc
from google.protobuf.message import Message

from services.common.aggregate import AggregateSpec
from services.common.command_processor import CommandProcessor
from services.common.deadlines import Deadlines
from services.common.grpc_server import serve
from services.common.policy import Policy
from services.common.projection import Projection
from services.common.runtime import all_set, configure_logging, runtime
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import CALLS, ROUTING_DECISIONS
from services.telephony import domain
from services.telephony.consumers import RingTimer, ring_for_decision
from services.telephony.servicer import TelephonyServicer


def call_spec(rules: domain.TelephonyRules) -> AggregateSpec[domain.CallState, commands_pb2.CallCommand]:
    decide = partial(domain.decide, rules=rules)

    def decide_call(
        state: domain.CallState | None, command: commands_pb2.CallCommand, now: datetime
    ) -> list[Message]:
        return decide(state, command, now)

    return AggregateSpec(CALLS, commands_pb2.CallCommand, decide_call, domain.evolve, domain.customer_of)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging("telephony")
    spec = call_spec(domain.TelephonyRules(ring_timeout_seconds=settings.cc_ring_timeout_seconds))
    bootstrap = settings.kafka_bootstrap_servers
    async with runtime(settings, "telephony") as rt:
        processor = CommandProcessor(spec, bootstrap, rt.producer)
        calls = Projection(spec, bootstrap)
        deadlines = Deadlines()
        calls.observe(RingTimer(deadlines))
        ring_policy = Policy(
            "telephony.ring-agent", [ROUTING_DECISIONS], ring_for_decision, rt.bus, rt.producer, bootstrap
        )
        await serve(
            address=settings.address(settings.telephony_port),
            api_keys=settings.api_keys(),
            registrations=[
                (
                    telephony_pb2_grpc.add_TelephonyServiceServicer_to_server,
                    TelephonyServicer(rt.bus, calls),
                    "cc.telephony.v1.TelephonyService",
                )
            ],
            background=[
                processor.run(),
                calls.run(),
                rt.bus.listen([CALLS.replies]),
                ring_policy.run(),
                deadlines.run(rt.bus, calls.caught_up),
            ],
            ready=lambda: all_set(processor.assigned, calls.caught_up, rt.bus.listening),
        )
