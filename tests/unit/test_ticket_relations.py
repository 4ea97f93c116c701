"""The ticket-relations policy (TKT-12): a link asked on one ticket is mirrored on the other, once; a
merge is listed by the ticket merged into. Pure: the policy's reaction to events, no broker."""

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.topics import TICKETS
from services.ticketing.relations import ticket_relations
from tests.unit.support import TENANT, at, envelope


def event(payload: Message, ticket_id: str = "t-1") -> event_pb2.Event:
    return envelope(
        payload, context="ticketing", aggregate_type="ticket", aggregate_id=ticket_id, version=2, when=at(0)
    )


def test_a_link_and_an_unlink_are_mirrored_on_the_other_ticket_and_a_mirror_is_not_mirrored_back() -> None:
    [(topics, linked)] = ticket_relations(event(events_pb2.TicketLinked(ticket_id="t-2")))
    assert topics == TICKETS and linked.meta.aggregate_id == "t-2" and linked.meta.tenant_id == TENANT
    assert linked.link == commands_pb2.LinkTicket(ticket_id="t-1", mirrored=True)  # type: ignore[attr-defined]
    [(_, unlinked)] = ticket_relations(event(events_pb2.TicketUnlinked(ticket_id="t-2")))
    assert unlinked.unlink == commands_pb2.UnlinkTicket(ticket_id="t-1", mirrored=True)  # type: ignore[attr-defined]
    assert ticket_relations(event(events_pb2.TicketLinked(ticket_id="t-1", mirrored=True), "t-2")) == []
    assert ticket_relations(event(events_pb2.TicketUnlinked(ticket_id="t-1", mirrored=True), "t-2")) == []


def test_a_merge_is_listed_by_the_ticket_merged_into_and_a_redelivery_sends_the_same_command() -> None:
    merged = event(events_pb2.TicketMerged(into_ticket_id="t-9"))
    [(_, absorb)] = ticket_relations(merged)
    assert absorb.meta.aggregate_id == "t-9"
    assert absorb.absorb == commands_pb2.AbsorbTicket(ticket_id="t-1")  # type: ignore[attr-defined]
    [(_, again)] = ticket_relations(merged)
    assert again.meta.command_id == absorb.meta.command_id
    assert ticket_relations(event(events_pb2.TicketNoteAdded(body="x"))) == []
