"""Automatic messages (TKT-8): when a ticket is received, or received after its line's hours, and when
it is solved, the ticket replies by itself with the tenant's template for that moment (its line's own,
else one for every line). Delivery is the `ticketing.ticket.replied` event (marked automatic), which an
adapter sends; an automatic reply is no first response. Voice tickets get none: the caller was on the
line. The ticket picks the template and renders it, so this policy only says which moment it is."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2

from services.common.aggregate import AggregateCommand
from services.common.command_bus import caused_by
from services.common.envelope import to_datetime
from services.common.topics import TICKETS, AggregateTopics
from services.ticketing.customer_servicer import Customers
from services.ticketing.lines import LineDirectory
from services.ticketing.template_servicer import Templates
from services.ticketing.templates import automatic_for


class AutomaticMessages:
    def __init__(self, templates: Templates, customers: Customers, lines: LineDirectory) -> None:
        self._templates = templates
        self._customers = customers
        self._lines = lines

    def template(self, tenant_id: str, moment: str, line_id: str) -> tuple[str, str] | None:
        """What the ticket's decision asks (TicketRules.automatic_template): the template's id and text."""
        found = automatic_for((e.state for e in self._templates.of_tenant(tenant_id)), moment, line_id)
        return (found.template_id, found.body) if found else None

    def __call__(self, event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
        moment = self._moment(event)
        if moment is None:
            return []
        customer = self._customers.get(event.tenant_id, event.customer_id) if event.customer_id else None
        message = commands_pb2.SendAutomaticMessage(
            moment=moment, customer_name=customer.state.name if customer else ""
        )
        meta = caused_by(
            event.event_id, "automatic-message", event.tenant_id, event.aggregate_id, event.correlation_id
        )
        return [(TICKETS, commands_pb2.TicketCommand(meta=meta, send_automatic_message=message))]

    def _moment(self, event: event_pb2.Event) -> str | None:
        """The moment the event is, when the tenant has a template for it (so that a tenant with none
        sends no command to be refused for every ticket)."""
        match event.WhichOneof("payload"):
            case "ticket_opened" if event.ticket_opened.channel != types_pb2.CHANNEL_VOICE:
                line_id = event.ticket_opened.line_id
                at = to_datetime(event.occurred_at)
                closed = not self._lines.is_open(event.tenant_id, line_id, at)
                if closed and self.template(event.tenant_id, "after-hours", line_id):
                    return "after-hours"
                return "received" if self.template(event.tenant_id, "received", line_id) else None
            case "ticket_status_changed" if (
                event.ticket_status_changed.to_status == events_pb2.TICKET_STATUS_SOLVED
            ):
                return "solved" if self._any(event.tenant_id, "solved") else None
        return None

    def _any(self, tenant_id: str, moment: str) -> bool:
        """Whether some line of the tenant has a template for the moment (the ticket knows its line)."""
        return any(
            not e.state.removed and e.state.automatic == moment for e in self._templates.of_tenant(tenant_id)
        )
