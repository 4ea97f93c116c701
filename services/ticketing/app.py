"""Composition root of the ticketing service."""

from cc.ticketing.v1 import commands_pb2, ticketing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.projection import Index, Projection
from services.common.service import AggregateService, FurtherAggregate, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import CALLS, CUSTOMERS, REPLY_TEMPLATES, TICKET_GROUPS, TICKET_NUMBERS, TICKETS
from services.ticketing import customers, domain, groups, numbering, templates
from services.ticketing.automatic import AutomaticMessages
from services.ticketing.consumers import voice_tickets
from services.ticketing.lines import LineDirectory
from services.ticketing.relations import ticket_relations
from services.ticketing.servicer import TicketingServicer
from services.ticketing.sla_timer import SlaTimer


def ticket_spec(rules: domain.TicketRules) -> AggregateSpec[domain.TicketState, commands_pb2.TicketCommand]:
    return AggregateSpec(
        TICKETS,
        commands_pb2.TicketCommand,
        with_rules(domain.decide, rules),
        domain.evolve,
        domain.customer_of,
        domain.TicketState,
    )


TEMPLATE_SPEC: AggregateSpec[templates.TemplateState, commands_pb2.ReplyTemplateCommand] = AggregateSpec(
    REPLY_TEMPLATES,
    commands_pb2.ReplyTemplateCommand,
    templates.decide,
    templates.evolve,
    templates.customer_of,
    templates.TemplateState,
)


GROUP_SPEC: AggregateSpec[groups.GroupState, commands_pb2.TicketGroupCommand] = AggregateSpec(
    TICKET_GROUPS,
    commands_pb2.TicketGroupCommand,
    groups.decide,
    groups.evolve,
    groups.customer_of,
    groups.GroupState,
)


NUMBER_SPEC: AggregateSpec[numbering.CounterState, commands_pb2.TicketNumberCommand] = AggregateSpec(
    TICKET_NUMBERS,
    commands_pb2.TicketNumberCommand,
    numbering.decide,
    numbering.evolve,
    numbering.customer_of,
    numbering.CounterState,
)


CUSTOMER_SPEC: AggregateSpec[customers.CustomerState, commands_pb2.CustomerCommand] = AggregateSpec(
    CUSTOMERS,
    commands_pb2.CustomerCommand,
    customers.decide,
    customers.evolve,
    customers.customer_of,
    customers.CustomerState,
)


TICKET_FLOW = "ticketing.ticket-flow"


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    customer_model = Projection(CUSTOMER_SPEC, settings.kafka_bootstrap_servers)
    by_identifier = Index(customer_model, customers.identifiers_of)
    template_model = Projection(TEMPLATE_SPEC, settings.kafka_bootstrap_servers)
    number_model = Projection(NUMBER_SPEC, settings.kafka_bootstrap_servers)
    group_model = Projection(GROUP_SPEC, settings.kafka_bootstrap_servers)
    lines = LineDirectory(settings.kafka_bootstrap_servers)
    sla_timer = SlaTimer(lines)
    automatic = AutomaticMessages(template_model, customer_model, lines)
    rules = domain.TicketRules(
        sla_terms=lines.sla_terms, automatic_template=automatic.template, categories=lines.categories
    )
    # The automatic messages read the templates, the customers and the lines: they start once all are read.
    loaded = [template_model.caught_up, customer_model.caught_up, lines.lines.caught_up]
    service = AggregateService(
        name="ticketing",
        spec=ticket_spec(rules),
        port=settings.ticketing_port,
        grpc_service="cc.ticketing.v1.TicketingService",
        add_servicer=ticketing_pb2_grpc.add_TicketingServiceServicer_to_server,
        servicer=lambda bus, tickets: TicketingServicer(
            bus, tickets, customer_model, by_identifier, lines, template_model, group_model
        ),
        policies=[
            PolicyDefinition("ticketing.voice-tickets", [CALLS.events], voice_tickets),
            PolicyDefinition("ticketing.automatic-messages", [TICKETS.events], automatic, after=loaded),
            # These three ran as one group, ticketing.ticket-flow, for a while: the service's policy group
            # starts where that stood too.
            PolicyDefinition(
                "ticketing.ticket-relations", [TICKETS.events], ticket_relations, formerly=[TICKET_FLOW]
            ),
            # New tickets go to a group only once the groups are read, so none is left unassigned.
            PolicyDefinition(
                "ticketing.group-assignment",
                [TICKETS.events, TICKET_GROUPS.events],
                groups.GroupAssignment(group_model),
                after=[group_model.caught_up],
                formerly=[TICKET_FLOW],
            ),
            PolicyDefinition(
                "ticketing.ticket-numbers",
                [TICKETS.events, TICKET_NUMBERS.events],
                numbering.ticket_numbers,
                formerly=[TICKET_FLOW],
            ),
        ],
        further=[
            FurtherAggregate(CUSTOMER_SPEC, customer_model),
            FurtherAggregate(TEMPLATE_SPEC, template_model),
            FurtherAggregate(NUMBER_SPEC, number_model),
            FurtherAggregate(GROUP_SPEC, group_model),
        ],
        timers=[sla_timer.timer],
        decide_after=[lines.lines.caught_up],
        companions=[lines, sla_timer],
    )
    await service.run(settings)
