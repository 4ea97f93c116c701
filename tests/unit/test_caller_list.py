"""The caller list (TEL-9): listing a number to block or flag, with a reason and an expiry, taking it
off, and what a call's offer does with it: a blocked caller's call ends at once, a flagged caller's
goes on with the reason for the agent, an expired or removed entry does nothing."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common import numbers
from services.common.envelope import timestamp
from services.common.errors import IllegalTransition, InvalidArgument
from services.common.snapshots import StateCodec
from services.telephony import caller_list, domain
from services.telephony.caller_list import ListedNumber
from tests.unit.support import History, at, meta, refused, violated_fields

NUMBER = "+821055551234"
BLOCK, FLAG = events_pb2.LISTED_ACTION_BLOCK, events_pb2.LISTED_ACTION_FLAG


class Entry:
    def __init__(self, number: str = NUMBER) -> None:
        self.history = History(
            lambda state, command, now, rules: caller_list.decide(state, command, now),
            caller_list.evolve,
            caller_list.customer_of,
            None,
            "telephony",
            "listed-number",
            number,
        )

    @property
    def state(self) -> ListedNumber:
        assert self.history.state is not None
        return self.history.state

    def send(self, t: float, **body: Message) -> list[Message]:
        command = commands_pb2.ListedNumberCommand(meta=meta(self.history.aggregate_id), **body)  # type: ignore[arg-type]
        return self.history.handle(command, at(t))

    def put(
        self, action: Any = BLOCK, reason: str = "abusive", t: float = 0, expires: float | None = None
    ) -> list[Message]:
        listing = commands_pb2.ListNumber(action=action, reason=reason)
        if expires is not None:
            listing.expires_at.CopyFrom(timestamp(at(expires)))
        return self.send(t, list=listing)

    def remove(self, t: float = 10) -> list[Message]:
        return self.send(t, unlist=commands_pb2.UnlistNumber())


def test_a_number_is_listed_replaced_and_removed() -> None:
    entry = Entry()

    (listed,) = entry.put(BLOCK, "abusive", t=0, expires=3600)
    assert listed == events_pb2.NumberListed(action=BLOCK, reason="abusive", expires_at=timestamp(at(3600)))
    assert (entry.state.action, entry.state.reason, entry.state.expires_at) == ("block", "abusive", at(3600))
    refused(
        lambda: entry.put(BLOCK, "abusive", expires=3600), IllegalTransition, "caller-list-entry-unchanged"
    )

    entry.put(FLAG, "asked for a supervisor last time", t=5)
    assert (entry.state.action, entry.state.expires_at) == ("flag", None)

    (unlisted,) = entry.remove(t=10)
    assert unlisted == events_pb2.NumberUnlisted()
    assert not entry.state.listed
    refused(lambda: entry.remove(t=11), IllegalTransition, "number-not-listed")
    entry.put(BLOCK, "again", t=12)
    assert entry.state.listed


def test_removing_a_number_never_listed_is_refused() -> None:
    refused(lambda: Entry().remove(), IllegalTransition, "number-not-listed")


@pytest.mark.parametrize(
    ("number", "action", "reason", "expires", "fields"),
    [
        ("1588-1234", BLOCK, "x", None, ["number"]),
        (NUMBER, events_pb2.LISTED_ACTION_UNSPECIFIED, "x", None, ["action"]),
        (NUMBER, BLOCK, " ", None, ["reason"]),
        (NUMBER, FLAG, "x", -1, ["expires_at"]),
        (NUMBER, FLAG, "x", 0, ["expires_at"]),  # expiring at once
        ("x", 7, "", None, ["number", "action", "reason"]),
    ],
)
def test_a_bad_entry_is_refused_naming_each_field(
    number: str, action: Any, reason: str, expires: float | None, fields: list[str]
) -> None:
    entry = Entry(number)

    assert (
        violated_fields(
            refused(
                lambda: entry.put(action, reason, t=0, expires=expires), InvalidArgument, "invalid-argument"
            )
        )
        == fields
    )
    assert entry.history.state is None


@pytest.mark.parametrize(
    "stamp",
    [
        Timestamp(seconds=-196846104880249),
        Timestamp(seconds=253402300800),
        Timestamp(seconds=10**9, nanos=-1),
    ],
)
def test_an_expiry_no_calendar_holds_is_refused_not_a_crash(stamp: Timestamp) -> None:
    entry = Entry()
    listing = commands_pb2.ListNumber(action=BLOCK, reason="x", expires_at=stamp)

    fields = violated_fields(
        refused(lambda: entry.send(0, list=listing), InvalidArgument, "invalid-argument")
    )

    assert fields == ["expires_at"]


def test_an_entry_applies_while_listed_and_before_its_expiry() -> None:
    entry = ListedNumber(NUMBER, "block", "abusive", at(0), expires_at=at(60))

    assert entry.applies(at(59.9))
    assert not entry.applies(at(60))
    assert not ListedNumber(NUMBER, "block", "abusive", at(0), listed=False).applies(at(1))
    assert ListedNumber(NUMBER, "flag", "vip", at(0)).applies(at(10**8))


def test_an_entry_survives_its_snapshot_codec() -> None:
    entry = Entry()
    entry.put(FLAG, "vip", expires=100)
    codec = StateCodec(ListedNumber)

    assert codec.decode(codec.encode(entry.state)) == entry.state


# ---- calls from listed numbers -------------------------------------------------------------------


@dataclass
class Listed:
    entries: dict[str, ListedNumber] = field(default_factory=dict)

    def entry(self, tenant_id: str, number: str) -> ListedNumber | None:
        return self.entries.get(number)


def offer(
    listed: ListedNumber | None, t: float = 0, ani: str = NUMBER
) -> tuple[list[Message], domain.CallState]:
    rules = domain.TelephonyRules(callers=Listed({numbers.canonical(NUMBER): listed} if listed else {}))
    call = History(domain.decide, domain.evolve, domain.customer_of, rules, "telephony", "call", "call-1")
    command = commands_pb2.CallCommand(
        meta=meta("call-1"), offer_call=commands_pb2.OfferCall(ani=ani, dnis="15881234")
    )
    return call.handle(command, at(t)), call.state


def test_a_blocked_caller_call_ends_at_once_without_the_ivr() -> None:
    payloads, call = offer(ListedNumber(NUMBER, "block", "abusive", at(0)))

    assert payloads[1:] == [
        events_pb2.CallerBlocked(reason="abusive"),
        events_pb2.CallEnded(ended_by=events_pb2.PARTY_SYSTEM, reason=events_pb2.END_REASON_CALLER_BLOCKED),
    ]
    assert call.status == CallStatus.CALL_STATUS_ENDED and call.ended_at == at(0)


@pytest.mark.parametrize("ani", ["+821055551234", "821055551234", "+82 10-5555-1234", "+82 (10) 5555.1234"])
def test_a_number_matches_however_its_digits_are_written(ani: str) -> None:
    payloads, _ = offer(ListedNumber(numbers.canonical(NUMBER), "block", "abusive", at(0)), ani=ani)

    assert payloads[1] == events_pb2.CallerBlocked(reason="abusive")


def test_the_canonical_form_is_the_digits_and_leaves_other_text_alone() -> None:
    assert numbers.canonical("+82 10-5555-1234") == "821055551234"
    assert numbers.canonical("anonymous") == "anonymous"


def test_a_flagged_caller_call_walks_the_ivr_with_the_reason_for_the_agent() -> None:
    payloads, call = offer(ListedNumber(NUMBER, "flag", "threatened legal action", at(0)))

    assert payloads[1] == events_pb2.CallerFlagged(reason="threatened legal action")
    assert isinstance(payloads[-1], events_pb2.IvrMenuEntered)
    assert (call.status, call.caller_flag) == (CallStatus.CALL_STATUS_IN_IVR, "threatened legal action")


@pytest.mark.parametrize(
    "listed",
    [
        None,
        ListedNumber(NUMBER, "block", "abusive", at(0), expires_at=at(30)),  # expired before the call
        ListedNumber(NUMBER, "block", "abusive", at(0), listed=False),
    ],
)
def test_an_unlisted_or_expired_number_calls_as_anyone(listed: ListedNumber | None) -> None:
    payloads, call = offer(listed, t=30)

    assert not any(isinstance(p, events_pb2.CallerBlocked | events_pb2.CallerFlagged) for p in payloads)
    assert call.status == CallStatus.CALL_STATUS_IN_IVR and call.caller_flag == ""


def test_screening_names_nothing_for_an_expired_entry() -> None:
    entry = ListedNumber(NUMBER, "flag", "vip", at(0), expires_at=at(10))
    assert caller_list.screened(entry, at(9)) == [events_pb2.CallerFlagged(reason="vip")]
    assert caller_list.screened(entry, at(10)) == []
    assert caller_list.screened(None, at(0)) == []
