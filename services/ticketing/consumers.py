"""Voice tickets: every answered call opens a ticket for the customer, assigned to the answering agent."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2

from services.common.aggregate import AggregateCommand
from services.common.command_bus import caused_by
from services.common.topics import TICKETS, AggregateTopics
from services.ticketing.domain import ticket_for_call


def ticket_for_answered_call(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    if event.WhichOneof("payload") != "call_answered":
        return []
    answered = event.call_answered
    ticket_id = ticket_for_call(event.tenant_id, event.aggregate_id)
    meta = caused_by(event.event_id, "open-ticket", event.tenant_id, ticket_id, event.correlation_id)
    opening = commands_pb2.OpenTicket(
        subject=f"Voice call in queue {answered.queue_id}",
        channel=types_pb2.CHANNEL_VOICE,
        customer_id=event.customer_id,
        queue_id=answered.queue_id,
        assignee_agent_id=answered.agent_id,
        call_id=event.aggregate_id,
    )
    return [(TICKETS, commands_pb2.TicketCommand(meta=meta, open_ticket=opening))]
