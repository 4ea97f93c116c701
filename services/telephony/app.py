"""Composition root of the telephony service: the only place its parts are wired together."""

from datetime import timedelta
from functools import partial
from typing import Any

from cc.telephony.v1 import commands_pb2, telephony_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.projection import Projection
from services.common.service import AggregateService, FurtherAggregate, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import AGENTS, CALLS, CAMPAIGNS, LINES, LISTED_NUMBERS, ROUTING_DECISIONS
from services.telephony import caller_list, campaigns, domain, lines
from services.telephony.campaign_pacing import (
    AGENT_READINESS,
    AgentReadiness,
    CampaignCalls,
    CampaignPacer,
    CampaignTimer,
)
from services.telephony.consumers import CallTimer, consultation_answers, ring_for_decision
from services.telephony.customers import CustomerDirectory
from services.telephony.directory import ProjectedCallerList, ProjectedLines
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


LINE_SPEC: AggregateSpec[lines.LineState, commands_pb2.LineCommand] = AggregateSpec(
    LINES,
    commands_pb2.LineCommand,
    lines.decide,
    lines.evolve,
    lines.customer_of,
    lines.LineState,
)


def campaign_spec(
    rules: campaigns.CampaignRules,
) -> AggregateSpec[campaigns.CampaignState, commands_pb2.CampaignCommand]:
    return AggregateSpec(
        CAMPAIGNS,
        commands_pb2.CampaignCommand,
        with_rules(campaigns.decide, rules),
        campaigns.evolve,
        campaigns.customer_of,
        campaigns.CampaignState,
    )


LISTED_NUMBER_SPEC: AggregateSpec[caller_list.ListedNumber, commands_pb2.ListedNumberCommand] = AggregateSpec(
    LISTED_NUMBERS,
    commands_pb2.ListedNumberCommand,
    caller_list.decide,
    caller_list.evolve,
    caller_list.customer_of,
    caller_list.ListedNumber,
)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    line_model = Projection(LINE_SPEC, settings.kafka_bootstrap_servers)
    listed_model = Projection(LISTED_NUMBER_SPEC, settings.kafka_bootstrap_servers)
    customers = CustomerDirectory(settings.kafka_bootstrap_servers)
    rules = domain.TelephonyRules(
        lines=ProjectedLines(line_model),
        callers=ProjectedCallerList(listed_model),
        ring_timeout_seconds=settings.cc_ring_timeout_seconds,
        callback_attempts=settings.cc_callback_attempts,
        callback_retry_seconds=settings.cc_callback_retry_seconds,
        record_calls=settings.cc_record_calls,
        dial_timeout_seconds=settings.cc_dial_timeout_seconds,
        vip_priority=settings.cc_vip_priority,
    )
    campaign_rules = campaigns.CampaignRules(lines=rules.lines, callers=rules.callers)
    campaign_aggregate = campaign_spec(campaign_rules)
    campaign_model = Projection(campaign_aggregate, settings.kafka_bootstrap_servers)
    agents_ready: Projection[AgentReadiness, Any] = Projection(
        AGENT_READINESS, settings.kafka_bootstrap_servers
    )
    pacer = CampaignPacer(campaign_model, agents_ready, rules.lines)
    # A dial's call ends by its own dial timeout; one unheard of well after that was never placed.
    patience = timedelta(seconds=2 * settings.cc_dial_timeout_seconds + 30)
    service = AggregateService(
        name="telephony",
        spec=call_spec(rules),
        port=settings.telephony_port,
        grpc_service="cc.telephony.v1.TelephonyService",
        add_servicer=telephony_pb2_grpc.add_TelephonyServiceServicer_to_server,
        servicer=lambda bus, calls: TelephonyServicer(
            bus, calls, line_model, listed_model, campaign_model, rules, customers
        ),
        policies=[
            PolicyDefinition("telephony.ring-agent", [ROUTING_DECISIONS], ring_for_decision),
            PolicyDefinition("telephony.consultations", [AGENTS.events], consultation_answers),
            PolicyDefinition(
                "telephony.campaign-calls",
                [CAMPAIGNS.events, CALLS.events],
                CampaignCalls(customers),
                after=[customers.caught_up],
            ),
        ],
        timers=[CallTimer],
        further=[
            FurtherAggregate(LINE_SPEC, line_model),
            FurtherAggregate(LISTED_NUMBER_SPEC, listed_model),
            FurtherAggregate(
                campaign_aggregate,
                campaign_model,
                timers=[partial(CampaignTimer, patience=patience)],
            ),
        ],
        companions=[customers, pacer],
        drivers=[pacer.drive],
    )
    await service.run(settings)
