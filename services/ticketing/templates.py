"""The reply template aggregate (TKT-7, TKT-8): text with {{variables}} that agents pick instead of
typing, recommended by ticket category, and the automatic messages sent by themselves when a ticket is
received, solved, or received after hours. Admins and supervisors define them; every change is an
event. Pure decide and evolve."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import evolved
from services.common.envelope import to_datetime
from services.common.errors import InvalidArgument, NotFound, optional_text, require
from services.ticketing.domain import MAX_NOTE_LENGTH, clean_category, refused
from services.ticketing.rendering import VARIABLES, unknown_variables

TEMPLATE_ID = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
AUTOMATIC = ("received", "solved", "after-hours")
MAX_CATEGORIES = 20


@dataclass(frozen=True)
class TemplateState:
    template_id: str
    title: str
    body: str
    categories: tuple[str, ...]
    # received, solved or after-hours; empty: only when an agent picks it.
    automatic: str
    # Only for tickets of this line; empty: every line.
    line_id: str
    changed_at: datetime
    removed: bool = False

    def recommended_for(self, category: str) -> bool:
        """For a ticket of `category`: a template of it or of a category above it, or of none."""
        return not self.categories or any(
            category == mine or category.startswith(mine + "/") for mine in self.categories
        )

    def message(self) -> events_pb2.ReplyTemplate:
        return events_pb2.ReplyTemplate(
            title=self.title,
            body=self.body,
            categories=self.categories,
            automatic=self.automatic,
            line_id=self.line_id,
        )


def customer_of(state: TemplateState | None, command: commands_pb2.ReplyTemplateCommand) -> str:
    return ""  # a template belongs to the tenant, not to one customer's journey


def validated(template_id: str, given: events_pb2.ReplyTemplate) -> events_pb2.ReplyTemplate:
    """The template in its one written form, or InvalidArgument naming the field at fault."""
    if not TEMPLATE_ID.fullmatch(template_id):
        raise refused("template_id", "a-z, digits, - and _, at most 64, starting with a letter or digit")
    title = require(given.title, "title", "the template's title").strip()
    body = require(given.body, "body", "the template's text", multiline=True)
    if len(body) > MAX_NOTE_LENGTH:
        raise refused("body", f"at most {MAX_NOTE_LENGTH} characters")
    if unknown := unknown_variables(body):
        raise refused("body", f"no variable {', '.join(unknown)[:200]}; there are {', '.join(VARIABLES)}")
    if len(given.categories) > MAX_CATEGORIES:
        raise refused("categories", f"at most {MAX_CATEGORIES}")
    categories = sorted({clean_category(c, "categories") for c in given.categories} - {""})
    if given.automatic and given.automatic not in AUTOMATIC:
        raise refused("automatic", "received, solved, after-hours, or empty")
    return events_pb2.ReplyTemplate(
        title=title,
        body=body,
        categories=categories,
        automatic=given.automatic,
        line_id=optional_text(given.line_id, "line_id", "the line of business"),
    )


def decide(
    state: TemplateState | None, command: commands_pb2.ReplyTemplateCommand, now: datetime
) -> list[Message]:
    template_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "define":
            template = validated(template_id, command.define)
            if state is not None and not state.removed and template == state.message():
                raise InvalidArgument("nothing-to-change", f"template {template_id} is so already")
            return [events_pb2.ReplyTemplateDefined(template=template)]
        case "remove":
            if state is None or state.removed:
                raise NotFound("template-not-found", f"no reply template {template_id}")
            return [events_pb2.ReplyTemplateRemoved()]
    raise InvalidArgument("unknown-command", "the template command names no known action")


def evolve(state: TemplateState | None, event: event_pb2.Event) -> TemplateState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "reply_template_defined":
            given = event.reply_template_defined.template
            return TemplateState(
                template_id=event.aggregate_id,
                title=given.title,
                body=given.body,
                categories=tuple(given.categories),
                automatic=given.automatic,
                line_id=given.line_id,
                changed_at=at,
            )
        case "reply_template_removed":
            assert state is not None, "reply_template_removed before reply_template_defined"
            return evolved(state, removed=True, changed_at=at)
    raise ValueError(f"not a reply template event: {event.event_type}")


def reply_from(
    template: TemplateState, customer_name: str, agent_id: str = "", automatic: bool = False
) -> commands_pb2.AddTicketReply:
    """The reply a template makes: the ticket renders it with its own variables and these."""
    return commands_pb2.AddTicketReply(
        template_id=template.template_id,
        template_body=template.body,
        variables={"customer.name": customer_name, "agent.id": agent_id},
        automatic=automatic,
    )


def automatic_for(templates: Iterable[TemplateState], moment: str, line_id: str) -> TemplateState | None:
    """The template sent by itself at `moment` on a ticket of `line_id`: the line's own, else one for
    every line; of several, the first by id."""
    fitting = [t for t in templates if not t.removed and t.automatic == moment and t.line_id in ("", line_id)]
    return min(fitting, key=lambda t: (t.line_id != line_id, t.template_id), default=None)
