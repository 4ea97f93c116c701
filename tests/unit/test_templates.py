"""Reply templates (TKT-7) and automatic messages (TKT-8): what a template may say, which are
recommended for a category, which is sent at a moment on a line, how a ticket renders one, and which
moment an event is. Pure: the read models are fed events directly, never started."""

from typing import Any

import pytest
from cc.common.v1 import types_pb2
from cc.telephony.v1 import events_pb2 as line_events
from cc.ticketing.v1 import commands_pb2, events_pb2

from services.common.errors import InvalidArgument, NotFound
from services.common.projection import Projection
from services.ticketing import domain, templates
from services.ticketing.app import CUSTOMER_SPEC, TEMPLATE_SPEC
from services.ticketing.automatic import AutomaticMessages
from services.ticketing.lines import LineDirectory
from tests.unit.support import TENANT, History, at, envelope, meta, refused, violated_fields
from tests.unit.test_ticket_domain import SOLVED, Ticket, command

NEVER_OPEN = line_events.BusinessHours(time_zone="UTC")


def template(template_id: str = "ack", **fields: Any) -> templates.TemplateState:
    given = {"title": "Thanks", "body": "Hello {{customer.name}}, about {{ticket.subject}}"} | fields
    history = History(
        lambda state, cmd, now, _: templates.decide(state, cmd, now),
        templates.evolve,
        templates.customer_of,
        None,
        "ticketing",
        "reply-template",
        template_id,
    )
    define = commands_pb2.ReplyTemplateCommand(
        meta=meta(template_id), define=events_pb2.ReplyTemplate(**given)
    )
    history.handle(define, at(0))
    state: templates.TemplateState = history.state
    return state


@pytest.mark.parametrize(
    ("template_id", "fields", "field"),
    [
        ("ack", {"body": "Dear {{customer.email}}"}, "body"),
        ("ack", {"body": ""}, "body"),
        ("ack", {"title": " "}, "title"),
        ("ack", {"automatic": "sometimes"}, "automatic"),
        ("ack", {"categories": ["billing//refund"]}, "categories"),
        ("Ack!", {}, "template_id"),
    ],
)
def test_a_template_that_could_not_be_sent_is_refused_naming_the_field(
    template_id: str, fields: dict[str, Any], field: str
) -> None:
    error = refused(lambda: template(template_id, **fields), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == [field]


def test_a_template_is_recommended_for_its_categories_and_those_under_them() -> None:
    billing = template(categories=["billing", " billing / refund "])
    assert billing.categories == ("billing", "billing/refund")
    assert billing.recommended_for("billing/refund/partial") and billing.recommended_for("billing")
    assert not billing.recommended_for("billing-other") and not billing.recommended_for("delivery")
    assert template().recommended_for("anything")  # a template of no category fits every ticket


def test_the_automatic_template_of_the_tickets_line_wins_over_one_for_every_line() -> None:
    every = template("a-every", automatic="received")
    cards = template("z-cards", automatic="received", line_id="cards")
    solved = template("b-solved", automatic="solved")
    found = [every, cards, solved]
    assert templates.automatic_for(found, "received", "cards") == cards
    assert templates.automatic_for(found, "received", "shop") == every
    assert templates.automatic_for(found, "after-hours", "cards") is None


def test_a_ticket_renders_a_template_with_its_own_values_over_any_given() -> None:
    ticket = Ticket(subject="Card not arrived")
    reply = templates.reply_from(
        template(body="{{customer.name}}: {{ticket.subject}} ({{agent.id}})"), "Kim", "lee"
    )
    reply.variables["ticket.subject"] = "spoofed"
    [sent] = ticket.handle(command(add_reply=reply), at(5))
    assert sent == events_pb2.TicketReplied(
        reply_id=sent.reply_id, body="Kim: Card not arrived (lee)", template_id="ack"
    )
    assert ticket.state.first_replied_at == at(5)
    both = commands_pb2.AddTicketReply(body="typed", template_body="{{ticket.id}}")
    refused(lambda: ticket.handle(command(add_reply=both), at(6)), InvalidArgument, "invalid-argument")


def test_an_automatic_message_uses_the_lines_template_and_is_no_first_response() -> None:
    ticket = Ticket(line_id="cards")
    asked: list[tuple[str, str, str]] = []

    def automatic_template(tenant_id: str, moment: str, line_id: str) -> tuple[str, str] | None:
        asked.append((tenant_id, moment, line_id))
        return ("closed", "We are closed, {{customer.name}}.") if moment == "after-hours" else None

    ticket.rules = domain.TicketRules(automatic_template=automatic_template)
    message = commands_pb2.SendAutomaticMessage(moment="after-hours", customer_name="Kim")
    [sent] = ticket.handle(command(send_automatic_message=message), at(1))
    assert (sent.body, sent.template_id, sent.automatic) == ("We are closed, Kim.", "closed", True)
    assert asked == [(TENANT, "after-hours", "cards")]
    assert ticket.state.first_replied_at is None and ticket.state.replies[0].automatic
    solved = commands_pb2.SendAutomaticMessage(moment="solved")
    refused(
        lambda: ticket.handle(command(send_automatic_message=solved), at(2)), NotFound, "no-automatic-message"
    )


def test_removing_a_template_twice_is_not_found() -> None:
    state = template()
    removed = templates.evolve(
        state,
        envelope(
            events_pb2.ReplyTemplateRemoved(),
            context="ticketing",
            aggregate_type="reply-template",
            aggregate_id="ack",
            version=2,
            when=at(1),
        ),
    )
    assert removed.removed
    remove = commands_pb2.ReplyTemplateCommand(meta=meta("ack"), remove=commands_pb2.RemoveReplyTemplate())
    refused(lambda: templates.decide(removed, remove, at(2)), NotFound, "template-not-found")


# ---- which moment an event is -------------------------------------------------------------------


def feed(
    projection: Projection[Any, Any],
    payload: Any,
    aggregate_type: str,
    aggregate_id: str,
    context: str = "ticketing",
) -> None:
    event = envelope(
        payload,
        context=context,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        version=1,
        when=at(0),
    )
    projection._apply(event.SerializeToString(), 0)


def policy() -> tuple[AutomaticMessages, Projection[Any, Any], LineDirectory]:
    template_model: Projection[Any, Any] = Projection(TEMPLATE_SPEC, "127.0.0.1:1")
    customer_model: Projection[Any, Any] = Projection(CUSTOMER_SPEC, "127.0.0.1:1")
    lines = LineDirectory("127.0.0.1:1")
    feed(
        customer_model,
        events_pb2.CustomerRegistered(profile=events_pb2.CustomerProfile(name="Kim")),
        "customer",
        "cu-1",
    )
    feed(
        lines.lines,
        line_events.LineDefined(settings=line_events.LineSettings(hours=NEVER_OPEN)),
        "line",
        "night",
        "telephony",
    )
    return AutomaticMessages(template_model, customer_model, lines), template_model, lines


def opened(channel: int = types_pb2.CHANNEL_EMAIL, line_id: str = "") -> Any:
    return envelope(
        events_pb2.TicketOpened(subject="Lost card", channel=channel, customer_id="cu-1", line_id=line_id),  # type: ignore[arg-type]
        context="ticketing",
        aggregate_type="ticket",
        aggregate_id="t-1",
        version=1,
        when=at(0),
        customer_id="cu-1",
    )


def test_a_received_ticket_gets_the_received_message_or_after_hours_on_a_closed_line() -> None:
    react, template_model, _ = policy()
    assert react(opened()) == []  # no template for the moment: nothing to refuse later
    feed(
        template_model,
        events_pb2.ReplyTemplateDefined(
            template=events_pb2.ReplyTemplate(title="t", body="b", automatic="received")
        ),
        "reply-template",
        "ack",
    )
    [(_, sent)] = react(opened())
    assert (sent.send_automatic_message.moment, sent.send_automatic_message.customer_name) == (
        "received",
        "Kim",
    )
    assert sent.meta.aggregate_id == "t-1" and sent.meta.causation_id
    [(_, closed)] = react(opened(line_id="night"))
    assert closed.send_automatic_message.moment == "received"  # no after-hours template yet
    feed(
        template_model,
        events_pb2.ReplyTemplateDefined(
            template=events_pb2.ReplyTemplate(title="t", body="b", automatic="after-hours")
        ),
        "reply-template",
        "night-ack",
    )
    [(_, closed)] = react(opened(line_id="night"))
    assert closed.send_automatic_message.moment == "after-hours"
    assert react(opened(channel=types_pb2.CHANNEL_VOICE)) == []  # the caller was on the line


def test_a_solved_ticket_gets_the_solved_message() -> None:
    react, template_model, _ = policy()
    solved = envelope(
        events_pb2.TicketStatusChanged(from_status=events_pb2.TICKET_STATUS_OPEN, to_status=SOLVED),
        context="ticketing",
        aggregate_type="ticket",
        aggregate_id="t-1",
        version=3,
        when=at(9),
        customer_id="cu-1",
    )
    assert react(solved) == []
    feed(
        template_model,
        events_pb2.ReplyTemplateDefined(
            template=events_pb2.ReplyTemplate(title="t", body="b", automatic="solved", line_id="cards")
        ),
        "reply-template",
        "done",
    )
    [(_, sent)] = react(solved)
    assert sent.send_automatic_message.moment == "solved"
