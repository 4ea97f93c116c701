"""Outbound campaigns (TEL-8), pure: a list of numbers (a happy-call list, renewals, reminders) that the
campaign's agents call progressively: each agent who is ready is given the next contact that is due, one
at a time, so no customer answers to silence. A contact is due when never tried, or when its retry time
has come after an unanswered attempt; after `max_attempts` it is given up. Before every dial the
line's hours (the permitted calling hours) are checked, and a number on the do-not-call list is skipped
for good. The call itself is an ordinary outbound call (`outbound.placed` checks it again), stamped with
the campaign, whose answer or failure comes back here as the contact's outcome.

A campaign is defined once, with its contacts, and starts paused; a supervisor runs, pauses or stops it.
It completes by itself once every contact is reached, skipped or given up. Its state is one snapshot
record, which must fit Kafka's record limit beside the command ledger, so its contacts are bounded in
number (`MAX_CONTACTS`) and in the room they take (`STATE_BYTES`, the worst case of `room_taken`)."""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2
from google.protobuf.message import Message

from services.common import numbers
from services.common.aggregate import evolved
from services.common.envelope import derived_id, timestamp, to_datetime
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, NotFound, text_problem
from services.telephony.caller_list import CallerList
from services.telephony.lines import LineDirectory, LineState
from services.telephony.outbound import caller_id_of, calling_line, do_not_call

Status = events_pb2.CampaignStatus
PAUSED = Status.CAMPAIGN_STATUS_PAUSED
RUNNING = Status.CAMPAIGN_STATUS_RUNNING
STOPPED = Status.CAMPAIGN_STATUS_STOPPED
COMPLETED = Status.CAMPAIGN_STATUS_COMPLETED
SETTABLE = (PAUSED, RUNNING, STOPPED)
MAX_CONTACTS = 2000
MAX_AGENTS = 200
# What a campaign's state may take in its snapshot (JSON): the record's 1 MiB, less the command ledger
# (10,000 outcomes, about 240 KB) and room to spare.
STATE_BYTES = 600_000
# The most one contact takes besides its number, name and agent id (statuses, times, a call id, keys),
# and one agent besides its id (in the agents and the last dials): measured, with a margin.
CONTACT_BYTES, AGENT_BYTES = 330, 80
DEFAULT_ATTEMPTS, MAX_ATTEMPTS = 3, 10
DEFAULT_RETRY_SECONDS, MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 3600, 60, 7 * 24 * 3600

ContactStatus = telephony_pb2.CampaignContactStatus
PENDING = ContactStatus.CAMPAIGN_CONTACT_STATUS_PENDING
DIALLING = ContactStatus.CAMPAIGN_CONTACT_STATUS_DIALLING
WAITING = ContactStatus.CAMPAIGN_CONTACT_STATUS_WAITING
REACHED = ContactStatus.CAMPAIGN_CONTACT_STATUS_REACHED
FAILED = ContactStatus.CAMPAIGN_CONTACT_STATUS_FAILED
SKIPPED = ContactStatus.CAMPAIGN_CONTACT_STATUS_SKIPPED
FINAL = frozenset({REACHED, FAILED, SKIPPED})
STATUS_WORDS = {
    PENDING: "pending",
    DIALLING: "dialling",
    WAITING: "waiting",
    REACHED: "reached",
    FAILED: "failed",
    SKIPPED: "skipped",
}
NOT_ANSWERED = (
    events_pb2.CALLBACK_OUTCOME_NO_ANSWER,
    events_pb2.CALLBACK_OUTCOME_BUSY,
    events_pb2.CALLBACK_OUTCOME_FAILED,
)


@dataclass(frozen=True)
class CampaignContact:
    number: str
    name: str
    status: "ContactStatus.ValueType" = PENDING
    attempts: int = 0
    last_outcome: "events_pb2.CallbackOutcome.ValueType" = events_pb2.CALLBACK_OUTCOME_UNSPECIFIED
    # Of its latest attempt: the call, the agent given it, and when.
    call_id: str = ""
    agent_id: str = ""
    dialled_at: datetime | None = None
    retry_at: datetime | None = None
    skip_reason: str = ""
    # Its latest attempt was given up as making no call: its call's answer, should it come, still counts.
    unplaced: bool = False

    def due(self, now: datetime) -> bool:
        return self.status == PENDING or (
            self.status == WAITING and self.retry_at is not None and self.retry_at <= now
        )


@dataclass(frozen=True)
class CampaignState:
    campaign_id: str
    name: str
    line_id: str
    caller_id: str
    agent_ids: tuple[str, ...]
    max_attempts: int
    retry_seconds: int
    contacts: tuple[CampaignContact, ...]
    defined_at: datetime
    changed_at: datetime
    status: "Status.ValueType" = PAUSED
    # When each agent was last given a contact that was placed (or may have been): the pacer waits for
    # the agent to be ready again after that, not on a readiness from before the call.
    last_dial: Mapping[str, datetime] = field(default_factory=dict)
    # The contact each agent is being dialled for now, by index: the pacer reads it every second.
    dialling_agents: Mapping[str, int] = field(default_factory=dict)

    def dialling(self) -> Iterator[tuple[int, CampaignContact]]:
        return ((i, self.contacts[i]) for i in sorted(self.dialling_agents.values()))

    def agents_dialling(self) -> set[str]:
        return set(self.dialling_agents)

    def due_count(self, now: datetime) -> int:
        return sum(1 for contact in self.contacts if contact.due(now))

    def counts(self) -> dict[str, int]:
        counted = dict.fromkeys(STATUS_WORDS.values(), 0)
        for contact in self.contacts:
            counted[STATUS_WORDS[contact.status]] += 1
        return counted


@dataclass(frozen=True)
class CampaignRules:
    lines: LineDirectory
    callers: CallerList


def customer_of(state: CampaignState | None, command: commands_pb2.CampaignCommand) -> str:
    return ""  # a campaign is the tenant's; each of its calls is its customer's journey


def call_id_of(tenant_id: str, campaign_id: str, contact: int, attempt: int) -> str:
    """The call of a contact's attempt: derived, so a command decided twice names one call."""
    return derived_id("call", tenant_id, "campaign", campaign_id, str(contact), str(attempt))


def decide(
    state: CampaignState | None, command: commands_pb2.CampaignCommand, now: datetime, rules: CampaignRules
) -> list[Message]:
    campaign_id = command.meta.aggregate_id
    action = command.WhichOneof("command")
    if action == "define":
        if state is not None:
            raise IllegalTransition("campaign-exists", f"campaign {campaign_id} is defined already")
        return [_defined(command.meta.tenant_id, command.define, rules)]
    if state is None:
        raise NotFound("campaign-not-found", f"no campaign {campaign_id}")
    match action:
        case "set_status":
            return [_status_changed(state, command.set_status.status)]
        case "dial":
            return _dial(state, command.meta.tenant_id, command.dial.agent_id, now, rules)
        case "record_outcome":
            return _attempted(state, command.record_outcome, now)
    raise InvalidArgument("unknown-command", "the campaign command names no known action")


def _defined(
    tenant_id: str, define: commands_pb2.DefineCampaign, rules: CampaignRules
) -> events_pb2.CampaignDefined:
    settings = define.settings
    faults = []
    if (problem := text_problem(settings.name)) is not None:
        faults.append(FieldViolation("settings.name", f"the campaign's name {problem}"))
    agents = list(settings.agent_ids)
    if not agents or len(agents) > MAX_AGENTS or any(text_problem(a) for a in agents):
        faults.append(FieldViolation("settings.agent_ids", f"1 to {MAX_AGENTS} agent ids"))
    elif len(set(agents)) != len(agents):
        faults.append(FieldViolation("settings.agent_ids", "each agent once"))
    if not 0 <= settings.max_attempts <= MAX_ATTEMPTS:
        faults.append(
            FieldViolation("settings.max_attempts", f"1 to {MAX_ATTEMPTS}, or 0 for {DEFAULT_ATTEMPTS}")
        )
    if settings.retry_seconds and not MIN_RETRY_SECONDS <= settings.retry_seconds <= MAX_RETRY_SECONDS:
        faults.append(
            FieldViolation(
                "settings.retry_seconds",
                f"{MIN_RETRY_SECONDS} to {MAX_RETRY_SECONDS}, or 0 for {DEFAULT_RETRY_SECONDS}",
            )
        )
    contacts = [
        events_pb2.CampaignContact(number=numbers.canonical(c.number), name=c.name) for c in define.contacts
    ]
    if not 1 <= len(contacts) <= MAX_CONTACTS:
        faults.append(FieldViolation("contacts", f"1 to {MAX_CONTACTS} contacts"))
    elif (room := room_taken(agents, contacts)) > STATE_BYTES:
        faults.append(
            FieldViolation(
                "contacts",
                f"the contacts, names and agents take {room} bytes of at most {STATE_BYTES}: split the list",
            )
        )
    seen: set[str] = set()
    for i, contact in enumerate(contacts):
        if not numbers.NUMBER.fullmatch(contact.number):
            faults.append(FieldViolation(f"contacts[{i}].number", f"a phone number: {numbers.NUMBER_RULE}"))
        elif contact.number in seen:
            faults.append(FieldViolation(f"contacts[{i}].number", "each number once in a campaign"))
        seen.add(contact.number)
        if contact.name and text_problem(contact.name):
            faults.append(FieldViolation(f"contacts[{i}].name", "who to ask for, without control characters"))
    if faults:
        raise InvalidArgument("invalid-argument", "the campaign is not valid", faults[:20])
    line = calling_line(rules.lines, tenant_id, settings.line_id)
    settled = events_pb2.CampaignSettings(
        name=settings.name,
        line_id=settings.line_id,
        caller_id=caller_id_of(line, settings.caller_id),
        agent_ids=agents,
        max_attempts=settings.max_attempts or DEFAULT_ATTEMPTS,
        retry_seconds=settings.retry_seconds or DEFAULT_RETRY_SECONDS,
    )
    return events_pb2.CampaignDefined(settings=settled, contacts=contacts)


def room_taken(agents: list[str], contacts: list[events_pb2.CampaignContact]) -> int:
    """The most the campaign's state can take as a snapshot: every contact dialled by its longest agent id."""
    longest = max((len(a.encode()) for a in agents), default=0)
    per_agent = len(agents) * (longest + AGENT_BYTES)
    named = sum(len(c.number) + len(c.name.encode()) for c in contacts)
    return per_agent + named + len(contacts) * (CONTACT_BYTES + longest)


def _status_changed(state: CampaignState, wanted: "Status.ValueType") -> events_pb2.CampaignStatusChanged:
    if wanted not in SETTABLE:
        raise InvalidArgument(
            "invalid-argument",
            "status is running, paused or stopped",
            [FieldViolation("status", "running, paused or stopped")],
        )
    if state.status in (STOPPED, COMPLETED):
        raise IllegalTransition("campaign-ended", f"campaign {state.campaign_id} has ended")
    if state.status == wanted:
        raise IllegalTransition("campaign-status-unchanged", f"campaign {state.campaign_id} is so already")
    return events_pb2.CampaignStatusChanged(status=wanted, previous_status=state.status)


def _dial(
    state: CampaignState, tenant_id: str, agent_id: str, now: datetime, rules: CampaignRules
) -> list[Message]:
    """Give the ready agent the next due contact, skipping do-not-call numbers on the way."""
    if state.status != RUNNING:
        raise IllegalTransition("campaign-not-running", f"campaign {state.campaign_id} is not running")
    if agent_id not in state.agent_ids:
        raise IllegalTransition("agent-not-in-campaign", f"agent {agent_id} does not work this campaign")
    if agent_id in state.dialling_agents:
        raise IllegalTransition("agent-dialling", f"agent {agent_id} was given a contact already")
    line = calling_line(rules.lines, tenant_id, state.line_id)
    if not can_call(state, line):
        raise IllegalTransition(
            "caller-id-not-of-line",
            f"line {state.line_id} no longer has the campaign's caller id {state.caller_id}",
        )
    if not line.is_open(now):
        raise IllegalTransition(
            "outside-calling-hours", f"line {state.line_id} is closed now: its hours are the calling hours"
        )
    events: list[Message] = []
    for i, contact in enumerate(state.contacts):
        if not contact.due(now):
            continue
        listed = do_not_call(rules.callers, tenant_id, contact.number, now)
        if listed is not None:
            events.append(
                events_pb2.CampaignContactSkipped(contact=i, reason=f"do-not-call: {listed.reason}")
            )
            continue
        attempt = contact.attempts + 1
        events.append(
            events_pb2.CampaignContactDialled(
                contact=i,
                number=contact.number,
                agent_id=agent_id,
                call_id=call_id_of(tenant_id, state.campaign_id, i, attempt),
                attempt=attempt,
                line_id=state.line_id,
                caller_id=state.caller_id,
            )
        )
        return events
    if not events:
        raise IllegalTransition("no-contact-due", f"campaign {state.campaign_id} has no contact due now")
    skipped = {e.contact for e in events if isinstance(e, events_pb2.CampaignContactSkipped)}
    return events + _completion(state, skipped)


def can_call(state: CampaignState, line: LineState) -> bool:
    """Whether the line still has the campaign's caller id (an admin may have taken it off the line)."""
    return any(numbers.canonical(n) == numbers.canonical(state.caller_id) for n in line.numbers)


def _attempted(
    state: CampaignState, record: commands_pb2.RecordCampaignOutcome, now: datetime
) -> list[Message]:
    outcome = record.outcome
    if outcome != events_pb2.CALLBACK_OUTCOME_CONNECTED and outcome not in NOT_ANSWERED:
        raise InvalidArgument(
            "invalid-argument",
            "outcome is connected, no-answer, busy or failed",
            [FieldViolation("outcome", "connected, no-answer, busy or failed")],
        )
    index = next((i for i, c in state.dialling() if c.call_id == record.call_id), None)
    if index is None:
        return _late_answer(state, record)
    attempted = events_pb2.CampaignContactAttempted(
        contact=index, call_id=record.call_id, outcome=outcome, no_call=record.no_call
    )
    contact = state.contacts[index]
    again = state.status in (RUNNING, PAUSED) and contact.attempts < state.max_attempts
    if outcome != events_pb2.CALLBACK_OUTCOME_CONNECTED and again:
        attempted.retry_at.CopyFrom(timestamp(now + timedelta(seconds=state.retry_seconds)))
        return [attempted]
    return [attempted, *_completion(state, {index})]


def _late_answer(state: CampaignState, record: commands_pb2.RecordCampaignOutcome) -> list[Message]:
    """The answer of a call given up as never placed (the timer's patience ran out first, after an
    outage): the customer was reached after all, and is not called again."""
    index = next(
        (i for i, c in enumerate(state.contacts) if c.unplaced and c.call_id == record.call_id), None
    )
    if index is None or record.outcome != events_pb2.CALLBACK_OUTCOME_CONNECTED or record.no_call:
        raise IllegalTransition(
            "campaign-call-not-current", f"call {record.call_id} is no contact's attempt being dialled"
        )
    reached = events_pb2.CampaignContactAttempted(
        contact=index, call_id=record.call_id, outcome=record.outcome
    )
    settled = state.contacts[index].status in FINAL
    return [reached, *([] if settled else _completion(state, {index}))]


def _completion(state: CampaignState, settling: set[int]) -> list[Message]:
    """The campaign completes once the contacts `settling` now leave none open."""
    if state.status not in (RUNNING, PAUSED):
        return []
    if all(i in settling or c.status in FINAL for i, c in enumerate(state.contacts)):
        return [events_pb2.CampaignStatusChanged(status=COMPLETED, previous_status=state.status)]
    return []


def evolve(state: CampaignState | None, event: event_pb2.Event) -> CampaignState:
    at = to_datetime(event.occurred_at)
    if event.WhichOneof("payload") == "campaign_defined":
        defined = event.campaign_defined
        settings = defined.settings
        return CampaignState(
            campaign_id=event.aggregate_id,
            name=settings.name,
            line_id=settings.line_id,
            caller_id=settings.caller_id,
            agent_ids=tuple(settings.agent_ids),
            max_attempts=settings.max_attempts,
            retry_seconds=settings.retry_seconds,
            contacts=tuple(CampaignContact(c.number, c.name) for c in defined.contacts),
            defined_at=at,
            changed_at=at,
        )
    assert state is not None, f"{event.event_type} before campaign_defined"
    match event.WhichOneof("payload"):
        case "campaign_status_changed":
            return evolved(state, status=event.campaign_status_changed.status, changed_at=at)
        case "campaign_contact_dialled":
            dialled = event.campaign_contact_dialled
            contact = evolved(
                state.contacts[dialled.contact],
                status=DIALLING,
                attempts=dialled.attempt,
                call_id=dialled.call_id,
                agent_id=dialled.agent_id,
                dialled_at=at,
                retry_at=None,
                unplaced=False,
            )
            last_dial = {**state.last_dial, dialled.agent_id: at}
            dialling = {**state.dialling_agents, dialled.agent_id: dialled.contact}
            return _with_contact(
                state, dialled.contact, contact, at, last_dial=last_dial, dialling_agents=dialling
            )
        case "campaign_contact_skipped":
            skipped = event.campaign_contact_skipped
            contact = evolved(state.contacts[skipped.contact], status=SKIPPED, skip_reason=skipped.reason)
            return _with_contact(state, skipped.contact, contact, at)
        case "campaign_contact_attempted":
            attempted = event.campaign_contact_attempted
            before = state.contacts[attempted.contact]
            retry_at = to_datetime(attempted.retry_at) if attempted.HasField("retry_at") else None
            if attempted.outcome == events_pb2.CALLBACK_OUTCOME_CONNECTED:
                status = REACHED
            else:
                status = WAITING if retry_at is not None else FAILED
            contact = evolved(
                before,
                status=status,
                last_outcome=attempted.outcome,
                retry_at=retry_at,
                unplaced=attempted.no_call,
            )
            kept = state.last_dial
            if attempted.no_call:  # the agent was never on a call: ready for the next contact at once
                kept = {a: t for a, t in kept.items() if a != before.agent_id}
            dialling = {a: i for a, i in state.dialling_agents.items() if i != attempted.contact}
            return _with_contact(
                state, attempted.contact, contact, at, last_dial=kept, dialling_agents=dialling
            )
    return state


def _with_contact(
    state: CampaignState, index: int, contact: CampaignContact, at: datetime, **changes: object
) -> CampaignState:
    contacts = (*state.contacts[:index], contact, *state.contacts[index + 1 :])
    return evolved(state, contacts=contacts, changed_at=at, **changes)
