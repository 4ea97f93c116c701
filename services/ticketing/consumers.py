"""Voice tickets: every answered call opens a ticket for the customer, assigned to the answering agent
(an outbound call once the customer answers, assigned to the agent who called), and every voicemail
opens one with its recording, unassigned (TEL-6). A call an agent takes over (after a transfer, or a
callback's later attempt) moves its ticket to that agent."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2
from cc.ticketing.v1 import events_pb2 as ticket_events

from services.common.aggregate import AggregateCommand
from services.common.command_bus import caused_by
from services.common.topics import TICKETS, AggregateTopics
from services.ticketing.domain import ticket_for_call


def voice_tickets(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """telephony.call.events.v1 -> OpenTicket for an answered call (inbound or outbound) or a voicemail
    (a call has one of them, so one ticket id derived from the call serves all)."""
    ticket_id = ticket_for_call(event.tenant_id, event.aggregate_id)
    match event.WhichOneof("payload"):
        case "call_answered" if event.call_answered.taken_over:
            taken_over = commands_pb2.AssignTicket(agent_id=event.call_answered.agent_id)
            meta = caused_by(
                event.event_id, "assign-ticket", event.tenant_id, ticket_id, event.correlation_id
            )
            return [(TICKETS, commands_pb2.TicketCommand(meta=meta, assign=taken_over))]
        case "call_answered":
            answered = event.call_answered
            opening = _agents(answered.agent_id, answered.line_id, f"Voice call in queue {answered.queue_id}")
            opening.queue_id = answered.queue_id
        case "outbound_call_connected":
            connected = event.outbound_call_connected
            opening = _agents(
                connected.agent_id, connected.line_id, f"Outbound call on line {connected.line_id}"
            )
        case "voicemail_left":
            left = event.voicemail_left
            on_line = f" on line {left.line_id}" if left.line_id else ""
            opening = commands_pb2.OpenTicket(
                subject=f"Voicemail from {left.caller_number}{on_line}",
                voicemail=ticket_events.Voicemail(
                    recording_ref=left.recording_ref,
                    duration_seconds=left.duration_seconds,
                    caller_number=left.caller_number,
                    line_id=left.line_id,
                    dnis=left.dnis,
                ),
                line_id=left.line_id,
            )
        case _:
            return []
    opening.channel = types_pb2.CHANNEL_VOICE
    opening.customer_id = event.customer_id
    opening.call_id = event.aggregate_id
    meta = caused_by(event.event_id, "open-ticket", event.tenant_id, ticket_id, event.correlation_id)
    return [(TICKETS, commands_pb2.TicketCommand(meta=meta, open_ticket=opening))]


def _agents(agent_id: str, line_id: str, subject: str) -> commands_pb2.OpenTicket:
    """The ticket of a call an agent talks on: assigned to that agent, on the call's line."""
    return commands_pb2.OpenTicket(subject=subject, assignee_agent_id=agent_id, line_id=line_id)
