"""Tickets of one journey (TKT-12): a link asked on one ticket is mirrored on the other, and a duplicate
merged into a ticket is listed by it. Each side is its own aggregate, so this policy carries the
relation across; its commands' ids come from the event's, so a redelivered event changes nothing."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2
from google.protobuf.message import Message

from services.common.aggregate import AggregateCommand
from services.common.command_bus import caused_by
from services.common.topics import TICKETS, AggregateTopics


def ticket_relations(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """ticketing.ticket.events.v1 -> the same relation on the other ticket."""
    action: dict[str, Message]
    match event.WhichOneof("payload"):
        case "ticket_linked" if not event.ticket_linked.mirrored:
            other = event.ticket_linked.ticket_id
            action = {"link": commands_pb2.LinkTicket(ticket_id=event.aggregate_id, mirrored=True)}
        case "ticket_unlinked" if not event.ticket_unlinked.mirrored:
            other = event.ticket_unlinked.ticket_id
            action = {"unlink": commands_pb2.UnlinkTicket(ticket_id=event.aggregate_id, mirrored=True)}
        case "ticket_merged":
            other = event.ticket_merged.into_ticket_id
            action = {"absorb": commands_pb2.AbsorbTicket(ticket_id=event.aggregate_id)}
        case _:
            return []
    meta = caused_by(event.event_id, "ticket-relation", event.tenant_id, other, event.correlation_id)
    return [(TICKETS, commands_pb2.TicketCommand(meta=meta, **action))]  # type: ignore[arg-type]
