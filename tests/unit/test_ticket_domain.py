"""The ticket aggregate (TKT-1, TKT-2, TKT-3, TKT-5): every status transition, and the rules of
creating, editing, assigning and noting a ticket. Pure: no broker."""

from datetime import datetime
from typing import Any

import pytest
from cc.common.v1 import types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common import categories
from services.common.aggregate import Versioned
from services.common.envelope import build_event
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.snapshots import StateCodec
from services.ticketing import domain
from services.ticketing.servicer import ticket_view
from tests.unit.support import TENANT, History, at, meta, refused, violated_fields

S = events_pb2.TicketStatus
NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED = (
    S.TICKET_STATUS_NEW,
    S.TICKET_STATUS_OPEN,
    S.TICKET_STATUS_PENDING,
    S.TICKET_STATUS_ON_HOLD,
    S.TICKET_STATUS_SOLVED,
    S.TICKET_STATUS_CLOSED,
)
STATUSES = (NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED)
# The lifecycle as the README states it, written out rather than read from the domain's table.
ALLOWED = {
    (NEW, OPEN), (NEW, PENDING), (NEW, ON_HOLD), (NEW, SOLVED),
    (OPEN, PENDING), (OPEN, ON_HOLD), (OPEN, SOLVED),
    (PENDING, OPEN), (PENDING, ON_HOLD), (PENDING, SOLVED),
    (ON_HOLD, OPEN), (ON_HOLD, PENDING), (ON_HOLD, SOLVED),
    (SOLVED, OPEN), (SOLVED, CLOSED),
}  # fmt: skip
SUPERVISOR = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_USER, id="supervisor-key-1a2b")


def command(**action: Message) -> commands_pb2.TicketCommand:
    return commands_pb2.TicketCommand(meta=meta("t-1"), **action)  # type: ignore[arg-type]


def opening(**fields: Any) -> commands_pb2.TicketCommand:
    fields = {"subject": "Refund", "channel": types_pb2.CHANNEL_EMAIL, "customer_id": "cu-1"} | fields
    return command(open_ticket=commands_pb2.OpenTicket(**fields))


class Ticket(History):
    def __init__(self, **fields: Any) -> None:
        super().__init__(
            lambda state, cmd, now, rules: domain.decide(state, cmd, now, rules or domain.TicketRules()),
            domain.evolve,
            domain.customer_of,
            None,
            "ticketing",
            "ticket",
            "t-1",
        )
        self.handle(opening(**fields), at(0))

    def to(self, status: int, at_second: float = 1) -> list[Message]:
        return self.handle(
            command(change_status=commands_pb2.ChangeTicketStatus(to_status=status)), at(at_second)
        )

    def edit(self, **fields: Any) -> list[Message]:
        return self.handle(command(edit=commands_pb2.EditTicket(**fields)), at(2))

    def assign(self, agent_id: str = "", group_id: str = "") -> list[Message]:
        return self.handle(
            command(assign=commands_pb2.AssignTicket(agent_id=agent_id, group_id=group_id)), at(3)
        )

    def note(self, body: str = "called back") -> list[Message]:
        return self.handle(command(add_note=commands_pb2.AddTicketNote(body=body)), at(4))

    def reply(self, body: str = "We have refunded you", at_second: float = 5) -> list[Message]:
        return self.handle(command(add_reply=commands_pb2.AddTicketReply(body=body)), at(at_second))

    def escalate(self, reason: str = "needs the bank", **fields: Any) -> list[Message]:
        return self.handle(command(escalate=commands_pb2.EscalateTicket(reason=reason, **fields)), at(6))

    def send_back(self, reason: str = "bank answered") -> list[Message]:
        return self.handle(command(return_ticket=commands_pb2.ReturnTicket(reason=reason)), at(7))


PATH_TO = {
    NEW: [],
    OPEN: [OPEN],
    PENDING: [PENDING],
    ON_HOLD: [ON_HOLD],
    SOLVED: [SOLVED],
    CLOSED: [SOLVED, CLOSED],
}


def ticket_in(status: int) -> Ticket:
    ticket = Ticket()
    for step in PATH_TO[status]:
        ticket.to(step)
    assert ticket.state.status == status
    return ticket


@pytest.mark.parametrize("start", STATUSES, ids=domain.status_name)
@pytest.mark.parametrize("target", STATUSES, ids=domain.status_name)
def test_every_status_goes_only_where_the_lifecycle_allows(start: int, target: int) -> None:
    ticket = ticket_in(start)
    if (start, target) in ALLOWED:
        [changed] = ticket.to(target, at_second=9)
        token = changed.survey_token  # type: ignore[attr-defined]
        assert changed == events_pb2.TicketStatusChanged(
            from_status=start, to_status=target, survey_token=token
        )
        assert bool(token) == (target == SOLVED)  # only a solve offers a survey
        assert (ticket.state.status, ticket.state.updated_at) == (target, at(9))
    else:
        error = refused(lambda: ticket.to(target), IllegalTransition, "illegal-ticket-transition")
        assert domain.status_name(start) in error.message and domain.status_name(target) in error.message


def test_a_status_the_lifecycle_does_not_know_is_refused_by_name() -> None:
    error = refused(lambda: Ticket().to(42), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["to_status"]


def test_a_ticket_starts_new_unless_it_names_an_assignee() -> None:
    assert Ticket().state.status == NEW
    assert Ticket(assignee_agent_id="kim").state.status == OPEN


def test_creating_keeps_every_field_cleaned() -> None:
    ticket = Ticket(
        description="Charged twice",
        priority=events_pb2.TICKET_PRIORITY_HIGH,
        tags=["Refund", "vip", "refund "],
        category=" billing / refund ",
        group_id="tier-1",
        custom_fields={"order_id": "A-17", "amount": "12000"},
    )
    state = ticket.state
    assert (state.subject, state.description, state.channel, state.customer_id) == (
        "Refund",
        "Charged twice",
        types_pb2.CHANNEL_EMAIL,
        "cu-1",
    )
    assert (state.priority, state.tags, state.category, state.group_id) == (
        events_pb2.TICKET_PRIORITY_HIGH,
        ("refund", "vip"),
        "billing/refund",
        "tier-1",
    )
    assert state.custom_fields == (("amount", "12000"), ("order_id", "A-17"))
    assert Ticket().state.priority == events_pb2.TICKET_PRIORITY_NORMAL  # none given


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"customer_id": ""}, "customer_id"),
        ({"channel": types_pb2.CHANNEL_UNSPECIFIED}, "channel"),
        ({"channel": 99}, "channel"),
        ({"priority": 9}, "priority"),
        ({"tags": ["two words"]}, "tags"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"category": "billing//refund"}, "category"),
        ({"custom_fields": {"Order Id": "1"}}, "custom_fields"),
        ({"custom_fields": {"order_id": "x" * 1001}}, "custom_fields"),
        ({"custom_fields": {f"f{n}": "1" for n in range(51)}}, "custom_fields"),
        ({"description": "bell\x07"}, "description"),
    ],
)
def test_a_create_with_a_bad_field_is_refused_naming_it(fields: dict[str, Any], field: str) -> None:
    error = refused(
        lambda: domain.decide(None, opening(**fields), at(0)), InvalidArgument, "invalid-argument"
    )
    assert violated_fields(error) == [field]


def test_a_ticket_is_created_once() -> None:
    ticket = Ticket()
    refused(lambda: ticket.handle(opening(), at(1)), IllegalTransition, "ticket-already-open")


def test_a_ticket_that_does_not_exist_takes_no_command() -> None:
    refused(
        lambda: domain.decide(None, command(add_note=commands_pb2.AddTicketNote(body="x")), at(0)),
        NotFound,
        "ticket-not-found",
    )


def test_an_edit_records_only_what_it_changed() -> None:
    ticket = Ticket(tags=["refund"], custom_fields={"order_id": "A-17", "amount": "1"})
    [changed] = ticket.edit(
        subject="Refund",  # unchanged
        priority=events_pb2.TICKET_PRIORITY_URGENT,
        tags=events_pb2.TicketTags(values=["refund", "Escalated"]),
        category="billing",
        set_custom_fields={"order_id": "A-17", "reason": "double charge"},  # order_id unchanged
        unset_custom_fields=["amount", "never-set"],
    )
    assert changed == events_pb2.TicketFieldsChanged(
        priority=events_pb2.TICKET_PRIORITY_URGENT,
        tags=events_pb2.TicketTags(values=["escalated", "refund"]),
        category="billing",
        set_custom_fields={"reason": "double charge"},
        unset_custom_fields=["amount"],
    )
    state = ticket.state
    assert (state.subject, state.priority, state.tags, state.category) == (
        "Refund",
        events_pb2.TICKET_PRIORITY_URGENT,
        ("escalated", "refund"),
        "billing",
    )
    assert state.custom_fields == (("order_id", "A-17"), ("reason", "double charge"))


def test_an_edit_can_empty_the_tags_and_the_category() -> None:
    ticket = Ticket(tags=["refund"], category="billing")
    ticket.edit(tags=events_pb2.TicketTags(), category="")
    assert (ticket.state.tags, ticket.state.category) == ((), "")


def test_an_edit_that_changes_nothing_is_refused() -> None:
    ticket = Ticket(tags=["refund"], priority=events_pb2.TICKET_PRIORITY_HIGH)
    refused(
        lambda: ticket.edit(
            subject="Refund",
            priority=events_pb2.TICKET_PRIORITY_HIGH,
            tags=events_pb2.TicketTags(values=["REFUND"]),
        ),
        InvalidArgument,
        "nothing-to-change",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"priority": 7}, "priority"),
        ({"tags": events_pb2.TicketTags(values=["no spaces please"])}, "tags"),
        ({"set_custom_fields": {"a": "1"}, "unset_custom_fields": ["a"]}, "unset_custom_fields"),
        ({"set_custom_fields": {f"f{n}": "1" for n in range(50)}}, "set_custom_fields"),
    ],
)
def test_an_edit_with_a_bad_field_is_refused_naming_it(fields: dict[str, Any], field: str) -> None:
    ticket = Ticket(custom_fields={"order_id": "A-17"})  # 50 more would make 51
    error = refused(lambda: ticket.edit(**fields), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == [field]


def test_assigning_an_agent_opens_a_new_ticket_and_a_group_alone_does_not() -> None:
    ticket = Ticket()
    assert ticket.assign(group_id="tier-1") == [events_pb2.TicketAssigned(to_group_id="tier-1")]
    assert ticket.state.status == NEW
    assert ticket.assign(agent_id="kim", group_id="tier-1") == [
        events_pb2.TicketAssigned(to_agent_id="kim", from_group_id="tier-1", to_group_id="tier-1"),
        events_pb2.TicketStatusChanged(from_status=NEW, to_status=OPEN, reason="assigned"),
    ]
    assert (ticket.state.assignee_agent_id, ticket.state.group_id, ticket.state.status) == (
        "kim",
        "tier-1",
        OPEN,
    )


def test_reassigning_keeps_the_status_and_records_both_sides() -> None:
    ticket = Ticket(assignee_agent_id="kim")
    ticket.to(PENDING)
    assert ticket.assign(agent_id="lee") == [
        events_pb2.TicketAssigned(from_agent_id="kim", to_agent_id="lee")
    ]
    assert (ticket.state.assignee_agent_id, ticket.state.status) == ("lee", PENDING)
    refused(lambda: ticket.assign(agent_id="lee"), InvalidArgument, "nothing-to-change")
    ticket.assign()  # nobody
    assert ticket.state.assignee_agent_id == ""


@pytest.mark.parametrize("action", ["note", "edit", "assign", "reply", "escalate", "return"])
def test_a_closed_ticket_takes_no_note_edit_assignment_reply_or_escalation(action: str) -> None:
    ticket = Ticket()
    ticket.escalate()  # so that a return would otherwise be possible
    for step in (SOLVED, CLOSED):
        ticket.to(step)
    attempts = {
        "note": lambda: ticket.note(),
        "edit": lambda: ticket.edit(subject="Reworded"),
        "assign": lambda: ticket.assign(agent_id="kim"),
        "reply": lambda: ticket.reply(),
        "escalate": lambda: ticket.escalate(),
        "return": lambda: ticket.send_back(),
    }
    refused(attempts[action], IllegalTransition, "ticket-closed")


@pytest.mark.parametrize("status", [NEW, OPEN, PENDING, ON_HOLD, SOLVED])
def test_a_ticket_not_closed_takes_notes_edits_and_assignments(status: int) -> None:
    ticket = ticket_in(status)
    [noted] = ticket.note("called back")
    assert isinstance(noted, events_pb2.TicketNoteAdded) and ticket.state.notes[-1].body == "called back"
    ticket.edit(subject="Reworded")
    ticket.assign(group_id="tier-2")
    assert (ticket.state.subject, ticket.state.group_id) == ("Reworded", "tier-2")


def test_every_status_change_records_who_made_it_and_when() -> None:
    ticket = Ticket()
    changed = events_pb2.TicketStatusChanged(
        from_status=NEW, to_status=PENDING, reason="asked for the receipt"
    )
    event = build_event(
        changed,
        context="ticketing",
        aggregate_type="ticket",
        aggregate_id="t-1",
        aggregate_version=2,
        tenant_id=TENANT,
        occurred_at=at(60),
        correlation_id="t-1",
        causation_id="c",
        customer_id="cu-1",
        actor=SUPERVISOR,
    )
    state = domain.evolve(ticket.state, event)
    assert state.status_changes == (
        domain.StatusChange(
            NEW,
            PENDING,
            "asked for the receipt",
            domain.Author(types_pb2.ACTOR_TYPE_USER, "supervisor-key-1a2b"),
            at(60),
        ),
    )


def test_a_ticket_with_every_field_survives_its_snapshot() -> None:
    ticket = Ticket(tags=["refund"], category="billing/refund", custom_fields={"order_id": "A-17"})
    ticket.assign(agent_id="kim", group_id="tier-1")
    ticket.to(ON_HOLD)
    ticket.note()
    codec = StateCodec(domain.TicketState)
    assert codec.decode(codec.encode(ticket.state)) == ticket.state
    assert isinstance(ticket.state.status_changes[0].changed_at, datetime)


def test_replies_are_public_and_kept_apart_from_notes_and_the_first_one_is_remembered() -> None:
    ticket = Ticket()
    ticket.note("internal: customer sounded upset")
    [replied] = ticket.reply("We have refunded you", at_second=30)
    ticket.reply("Anything else?", at_second=90)
    assert isinstance(replied, events_pb2.TicketReplied) and replied.reply_id
    assert [r.body for r in ticket.state.replies] == ["We have refunded you", "Anything else?"]
    assert [n.body for n in ticket.state.notes] == ["internal: customer sounded upset"]
    assert ticket.state.first_replied_at == at(30)
    assert Ticket().state.first_replied_at is None


@pytest.mark.parametrize("body", ["", " ", "x" * 10_001, "bell\x07"])
def test_a_reply_must_be_text_of_reasonable_length(body: str) -> None:
    error = refused(lambda: Ticket().reply(body), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["body"]


def test_a_ticket_goes_up_a_tier_and_back_to_who_sent_it() -> None:
    ticket = Ticket(assignee_agent_id="kim", group_id="tier-1")
    assert ticket.escalate(group_id="tier-2") == [
        events_pb2.TicketEscalated(
            from_tier=1,
            to_tier=2,
            from_group_id="tier-1",
            to_group_id="tier-2",
            from_agent_id="kim",
            reason="needs the bank",
        )
    ]
    assert (ticket.state.tier, ticket.state.group_id, ticket.state.assignee_agent_id) == (2, "tier-2", "")
    ticket.assign(agent_id="lee", group_id="tier-2")  # tier 2 takes it
    ticket.escalate("fraud team", to_tier=3, group_id="fraud", agent_id="park")
    assert (ticket.state.tier, ticket.state.assignee_agent_id) == (3, "park")

    [back] = ticket.send_back("not fraud")
    assert back == events_pb2.TicketReturned(
        from_tier=3,
        to_tier=2,
        from_group_id="fraud",
        to_group_id="tier-2",
        from_agent_id="park",
        to_agent_id="lee",
        reason="not fraud",
    )
    ticket.send_back()
    assert (ticket.state.tier, ticket.state.group_id, ticket.state.assignee_agent_id) == (1, "tier-1", "kim")
    assert [(e.returned, e.to_tier) for e in ticket.state.escalations] == [
        (False, 2),
        (False, 3),
        (True, 2),
        (True, 1),
    ]
    refused(lambda: ticket.send_back(), IllegalTransition, "ticket-not-escalated")


def test_an_escalation_names_an_agent_of_the_new_tier_and_opens_a_new_ticket() -> None:
    waiting = Ticket()
    assert len(waiting.escalate(group_id="tier-2")) == 1  # nobody named: it waits in the group, new
    assert waiting.state.status == NEW
    ticket = Ticket()
    [_, opened] = ticket.escalate(agent_id="lee")
    assert opened == events_pb2.TicketStatusChanged(from_status=NEW, to_status=OPEN, reason="assigned")
    assert (ticket.state.status, ticket.state.assignee_agent_id) == (OPEN, "lee")


@pytest.mark.parametrize("to_tier", [1, 4])
def test_an_escalation_goes_up_and_no_higher_than_the_last_tier(to_tier: int) -> None:
    error = refused(lambda: Ticket().escalate(to_tier=to_tier), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["to_tier"]


def test_the_last_tier_has_nowhere_higher_to_go() -> None:
    ticket = Ticket()
    ticket.escalate(to_tier=3)
    error = refused(lambda: ticket.escalate(), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["to_tier"]


def test_an_escalation_and_a_return_each_need_a_reason() -> None:
    ticket = Ticket()
    assert violated_fields(refused(lambda: ticket.escalate(""), InvalidArgument, "invalid-argument")) == [
        "reason"
    ]
    ticket.escalate()
    assert violated_fields(refused(lambda: ticket.send_back(" "), InvalidArgument, "invalid-argument")) == [
        "reason"
    ]


@pytest.mark.parametrize("action", ["escalate", "return"])
def test_a_solved_ticket_is_reopened_before_it_changes_tier(action: str) -> None:
    ticket = Ticket()
    ticket.escalate()
    ticket.to(SOLVED)
    move = ticket.escalate if action == "escalate" else ticket.send_back
    refused(lambda: move(), IllegalTransition, "ticket-solved")
    ticket.to(OPEN)
    move()


def test_replies_and_escalations_survive_the_snapshot() -> None:
    ticket = Ticket()
    ticket.reply()
    ticket.escalate(group_id="tier-2")
    ticket.send_back()
    codec = StateCodec(domain.TicketState)
    assert codec.decode(codec.encode(ticket.state)) == ticket.state


def test_a_line_with_a_category_tree_takes_only_its_categories_and_their_branches() -> None:
    """TKT-2: a line of business sorts its tickets by its own VOC categories."""
    tree = categories.tree(["billing/refund", "billing/invoice", "delivery"])
    rules = domain.TicketRules(categories=lambda tenant, line: tree if line == "shop" else None)

    def open_on(line_id: str, category: str) -> list[Message]:
        return domain.decide(None, opening(line_id=line_id, category=category), at(0), rules)

    for category in ("billing/refund", "billing", " delivery ", ""):
        [opened] = open_on("shop", category)
        assert isinstance(opened, events_pb2.TicketOpened) and opened.category == category.strip()
    error = refused(lambda: open_on("shop", "billing/refunds"), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["category"]
    [elsewhere] = open_on("other-line", "anything/at/all")  # a line without a tree takes any
    assert isinstance(elsewhere, events_pb2.TicketOpened)

    ticket = History(domain.decide, domain.evolve, domain.customer_of, rules, "ticketing", "ticket", "t-1")
    ticket.handle(opening(line_id="shop", category="billing"), at(0))

    def edit_to(category: str) -> list[Message]:
        return ticket.handle(command(edit=commands_pb2.EditTicket(category=category)), at(1))

    edit_to("billing/invoice")
    assert ticket.state.category == "billing/invoice"
    error = refused(lambda: edit_to("returns"), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["category"]


def solve(ticket: Ticket, command_id: str, at_second: float = 10) -> str:
    """Solve the ticket by a command of its own id; the solve's survey token."""
    solving = command(change_status=commands_pb2.ChangeTicketStatus(to_status=SOLVED))
    solving.meta.command_id = command_id
    [changed] = ticket.handle(solving, at(at_second))
    assert isinstance(changed, events_pb2.TicketStatusChanged) and changed.survey_token
    return changed.survey_token


def rate(ticket: Ticket, token: str, score: int = 5, comment: str = "") -> list[Message]:
    answer = commands_pb2.RateTicket(survey_token=token, score=score, comment=comment)
    return ticket.handle(command(rate=answer), at(20))


def test_each_solve_offers_a_survey_of_its_own_and_the_customer_answers_it_once() -> None:
    ticket = Ticket()
    refused(lambda: rate(ticket, "any"), IllegalTransition, "no-survey")
    first = solve(ticket, "solve-1")
    assert (
        ticket.state.survey_token == first
        and domain.ticket_variables(ticket.state)["ticket.survey_token"] == first
    )
    assert rate(ticket, first, 4, "quick, thanks") == [
        events_pb2.TicketRated(score=4, comment="quick, thanks", survey_token=first)
    ]
    assert ticket.state.satisfaction == domain.Satisfaction(
        4, "quick, thanks", first, ticket.state.satisfaction.by, at(20)
    )  # type: ignore[union-attr]
    refused(lambda: rate(ticket, first, 1), IllegalTransition, "already-rated")
    # Reopened and solved again: a new survey; the old one's link no longer counts.
    ticket.to(OPEN, 11)
    assert ticket.state.survey_token == first  # until the next solve
    second = solve(ticket, "solve-2", 12)
    assert second != first
    # The ticket shows the answer to its latest solve's survey only: the new one is unanswered yet.
    assert not ticket_view(Versioned(ticket.state, 9, TENANT, "t-1")).HasField("satisfaction")
    refused(lambda: rate(ticket, first), IllegalTransition, "survey-token-mismatch")
    rate(ticket, second, 2)
    assert ticket_view(Versioned(ticket.state, 10, TENANT, "t-1")).satisfaction.score == 2


def test_a_closed_ticket_still_takes_its_surveys_answer() -> None:
    ticket = Ticket()
    token = solve(ticket, "solve-1")
    ticket.to(CLOSED, 11)
    rate(ticket, token, 5)
    assert ticket.state.satisfaction is not None and ticket.state.status == CLOSED


@pytest.mark.parametrize("score", [0, 6, -1])
def test_a_score_is_one_to_five(score: int) -> None:
    ticket = Ticket()
    token = solve(ticket, "solve-1")
    assert violated_fields(
        refused(lambda: rate(ticket, token, score), InvalidArgument, "invalid-argument")
    ) == ["score"]


def test_a_survey_comment_is_text_of_reasonable_length() -> None:
    ticket = Ticket()
    token = solve(ticket, "solve-1")
    for comment in ("x" * 1001, "bad\x00byte"):
        error = refused(lambda c=comment: rate(ticket, token, 3, c), InvalidArgument, "invalid-argument")  # type: ignore[misc]
        assert violated_fields(error) == ["comment"]
    rate(ticket, token, 3, "line one\nline two")


def test_a_rated_ticket_survives_its_snapshot() -> None:
    ticket = Ticket()
    rate(ticket, solve(ticket, "solve-1"), 5, "great")
    codec = StateCodec(domain.TicketState)
    assert codec.decode(codec.encode(ticket.state)) == ticket.state


def test_a_complaint_states_its_claim_and_a_request_states_none() -> None:
    assert Ticket().state.kind == "request"
    complaint = Ticket(kind="complaint", claim="refund")
    assert (complaint.state.kind, complaint.state.claim) == ("complaint", "refund")
    for fields, field in [
        ({"kind": "question"}, "kind"),
        ({"claim": "refund"}, "claim"),  # a request claims nothing
        ({"kind": "complaint", "claim": "a pony"}, "claim"),
    ]:
        error = refused(lambda f=fields: Ticket(**f), InvalidArgument, "invalid-argument")  # type: ignore[misc]
        assert violated_fields(error) == [field]


def test_a_request_becomes_a_complaint_and_back_losing_its_claim() -> None:
    ticket = Ticket()
    assert ticket.edit(kind="complaint", claim="exchange") == [
        events_pb2.TicketFieldsChanged(kind="complaint", claim="exchange")
    ]
    assert ticket.edit(claim="refund") == [events_pb2.TicketFieldsChanged(claim="refund")]
    assert ticket.edit(kind="request") == [events_pb2.TicketFieldsChanged(kind="request", claim="")]
    assert (ticket.state.kind, ticket.state.claim) == ("request", "")
    refused(lambda: ticket.edit(kind="request"), InvalidArgument, "nothing-to-change")
    assert violated_fields(
        refused(lambda: ticket.edit(claim="refund"), InvalidArgument, "invalid-argument")
    ) == ["claim"]
    codec = StateCodec(domain.TicketState)
    assert codec.decode(codec.encode(ticket.state)) == ticket.state


def relate(ticket: Ticket, **action: Message) -> list[Message]:
    return ticket.handle(command(**action), at(30))


def test_tickets_of_one_journey_link_once_unlink_and_never_to_themselves() -> None:
    ticket = Ticket()
    assert relate(ticket, link=commands_pb2.LinkTicket(ticket_id="t-2")) == [
        events_pb2.TicketLinked(ticket_id="t-2")
    ]
    relate(ticket, link=commands_pb2.LinkTicket(ticket_id="t-0", mirrored=True))
    assert ticket.state.links == ("t-0", "t-2")
    refused(
        lambda: relate(ticket, link=commands_pb2.LinkTicket(ticket_id="t-2")),
        IllegalTransition,
        "already-linked",
    )
    error = refused(
        lambda: relate(ticket, link=commands_pb2.LinkTicket(ticket_id="t-1")),
        InvalidArgument,
        "invalid-argument",
    )
    assert violated_fields(error) == ["ticket_id"]
    relate(ticket, unlink=commands_pb2.UnlinkTicket(ticket_id="t-2"))
    assert ticket.state.links == ("t-0",)
    refused(
        lambda: relate(ticket, unlink=commands_pb2.UnlinkTicket(ticket_id="t-2")),
        IllegalTransition,
        "not-linked",
    )


def test_a_duplicate_merged_into_another_is_closed_whatever_its_status_and_the_other_lists_it() -> None:
    duplicate = ticket_in(PENDING)
    merged = relate(duplicate, merge=commands_pb2.MergeTicket(into_ticket_id="t-9", reason="same order"))
    assert merged == [
        events_pb2.TicketMerged(into_ticket_id="t-9", reason="same order"),
        events_pb2.TicketStatusChanged(from_status=PENDING, to_status=CLOSED, reason="merged into t-9"),
    ]
    assert (duplicate.state.merged_into, duplicate.state.status) == ("t-9", CLOSED)
    refused(
        lambda: relate(duplicate, merge=commands_pb2.MergeTicket(into_ticket_id="t-8")),
        IllegalTransition,
        "ticket-closed",
    )
    into_itself = refused(
        lambda: relate(Ticket(), merge=commands_pb2.MergeTicket(into_ticket_id="t-1")),
        InvalidArgument,
        "invalid-argument",
    )
    assert violated_fields(into_itself) == ["into_ticket_id"]
    # The ticket merged into lists the duplicates, each once, even once it is closed.
    survivor = ticket_in(CLOSED)
    relate(survivor, absorb=commands_pb2.AbsorbTicket(ticket_id="t-7"))
    relate(survivor, link=commands_pb2.LinkTicket(ticket_id="t-7", mirrored=True))
    assert (survivor.state.merged_ticket_ids, survivor.state.links) == (("t-7",), ("t-7",))
    refused(
        lambda: relate(survivor, absorb=commands_pb2.AbsorbTicket(ticket_id="t-7")),
        IllegalTransition,
        "already-merged",
    )
    codec = StateCodec(domain.TicketState)
    assert codec.decode(codec.encode(survivor.state)) == survivor.state
