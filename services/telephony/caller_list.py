"""The caller list (TEL-9): numbers a tenant blocks, flags to its agents, or never calls (its do-not-call
list, TEL-8), each with a reason and an optional expiry. Every call's offer looks its ANI up here, and
every outbound call its number; chat and email will use the same list. One aggregate per number, so
the number is its id. Pure decide and evolve."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import evolved
from services.common.envelope import given_moment, to_datetime
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, text_problem
from services.common.numbers import NUMBER, NUMBER_RULE

ListedAction = events_pb2.ListedAction
DO_NOT_CALL = "do-not-call"
ACTIONS = {
    ListedAction.LISTED_ACTION_BLOCK: "block",
    ListedAction.LISTED_ACTION_FLAG: "flag",
    ListedAction.LISTED_ACTION_DO_NOT_CALL: DO_NOT_CALL,
}


@dataclass(frozen=True)
class ListedNumber:
    number: str
    # "block", "flag" or "do-not-call" (TEL-8: never called outbound)
    action: str
    reason: str
    changed_at: datetime
    expires_at: datetime | None = None
    listed: bool = True

    def applies(self, moment: datetime) -> bool:
        """Whether a call at `moment` meets this entry: listed and not yet expired."""
        return self.listed and (self.expires_at is None or moment < self.expires_at)


class CallerList(Protocol):
    def entry(self, tenant_id: str, number: str) -> ListedNumber | None: ...


class NoListedNumbers:
    def entry(self, tenant_id: str, number: str) -> ListedNumber | None:
        return None


def customer_of(state: ListedNumber | None, command: commands_pb2.ListedNumberCommand) -> str:
    return ""  # the list is the tenant's, not one customer's journey


def decide(
    state: ListedNumber | None, command: commands_pb2.ListedNumberCommand, now: datetime
) -> list[Message]:
    number = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "list":
            listed = _validated(number, command.list, now)
            if state is not None and state.listed and _same(state, listed):
                raise IllegalTransition("caller-list-entry-unchanged", f"{number} is listed so already")
            _refuse_do_not_call_change(state, ACTIONS[listed.action], number, now)
            return [listed]
        case "unlist":
            if state is None or not state.listed:
                raise IllegalTransition("number-not-listed", f"{number} is not on the caller list")
            return [events_pb2.NumberUnlisted()]
    raise InvalidArgument("unknown-command", "the caller list command names no known action")


def _refuse_do_not_call_change(state: ListedNumber | None, wanted: str, number: str, now: datetime) -> None:
    """One entry per number: a block must not silently lift a do-not-call entry, nor a do-not-call
    entry a block; the entry in force is removed first."""
    if state is None or not state.applies(now) or state.action == wanted:
        return
    if DO_NOT_CALL in (state.action, wanted):
        raise IllegalTransition(
            "caller-list-action-change", f"{number} is listed to {state.action}: remove that entry first"
        )


def _validated(number: str, listing: commands_pb2.ListNumber, now: datetime) -> events_pb2.NumberListed:
    faults = []
    if not NUMBER.fullmatch(number):
        faults.append(FieldViolation("number", f"a phone number: {NUMBER_RULE}"))
    if listing.action not in ACTIONS:
        faults.append(FieldViolation("action", "block, flag or do-not-call"))
    if listing.HasField("expires_at") and not now < (given_moment(listing.expires_at) or now):
        faults.append(FieldViolation("expires_at", "a time still to come, before the year 10000"))
    if (problem := text_problem(listing.reason)) is not None:
        faults.append(FieldViolation("reason", f"why the number is listed {problem}"))
    if faults:
        raise InvalidArgument("invalid-argument", "the caller list entry is not valid", faults)
    listed = events_pb2.NumberListed(action=listing.action, reason=listing.reason)
    if listing.HasField("expires_at"):
        listed.expires_at.CopyFrom(listing.expires_at)
    return listed


def _same(state: ListedNumber, listed: events_pb2.NumberListed) -> bool:
    expires = to_datetime(listed.expires_at) if listed.HasField("expires_at") else None
    return (state.action, state.reason, state.expires_at) == (ACTIONS[listed.action], listed.reason, expires)


def evolve(state: ListedNumber | None, event: event_pb2.Event) -> ListedNumber:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "number_listed":
            listed = event.number_listed
            expires = to_datetime(listed.expires_at) if listed.HasField("expires_at") else None
            return ListedNumber(event.aggregate_id, ACTIONS[listed.action], listed.reason, at, expires)
    assert state is not None, f"{event.event_type} before number_listed"
    match event.WhichOneof("payload"):
        case "number_unlisted":
            return evolved(state, listed=False, changed_at=at)
    return state


def screened(entry: ListedNumber | None, now: datetime) -> list[Message]:
    """What the caller list says about a call being offered now: blocked (the call ends), flagged (the
    agent sees why) or nothing (a do-not-call entry only stops the tenant calling the number)."""
    if entry is None or not entry.applies(now) or entry.action == DO_NOT_CALL:
        return []
    if entry.action == "block":
        return [events_pb2.CallerBlocked(reason=entry.reason)]
    return [events_pb2.CallerFlagged(reason=entry.reason)]
