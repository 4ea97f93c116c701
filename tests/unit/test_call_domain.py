"""The call aggregate (TEL-1): every legal and illegal transition of decide, folded through evolve."""

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope import derived_id, timestamp
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.telephony import domain
from services.telephony.lines import DEFAULT_FLOW
from services.ticketing.consumers import voice_tickets
from services.ticketing.domain import ticket_for_call
from tests.unit.support import TENANT, History, at, envelope, meta, refused, violated_fields

Party = events_pb2.Party
EndReason = events_pb2.EndReason
Target = events_pb2.TransferTarget
# The default flow: a welcome announcement, then the seed product's menu.
MENU = DEFAULT_FLOW.node("main")
PROMPT = MENU.parameters["prompt"]
WELCOME = DEFAULT_FLOW.node("welcome").parameters["announcement"]
ANI, DNIS = "+821012345678", "15880000"
CALL_ID = "call-1"


class Call:
    """A call's history with one method per command; each returns the payloads the command produced."""

    def __init__(self, call_id: str = CALL_ID, rules: domain.TelephonyRules | None = None) -> None:
        self.history = History(
            domain.decide,
            domain.evolve,
            domain.customer_of,
            rules or domain.TelephonyRules(),
            "telephony",
            "call",
            call_id,
        )

    @property
    def state(self) -> domain.CallState:
        assert self.history.state is not None
        return self.history.state

    @property
    def version(self) -> int:
        return self.history.version

    def send(self, t: float, **body: Message) -> list[Message]:
        command = commands_pb2.CallCommand(meta=meta(self.history.aggregate_id), **body)  # type: ignore[arg-type]
        return self.history.handle(command, at(t))

    def offer(
        self,
        t: float = 0,
        ani: str = ANI,
        dnis: str = DNIS,
        customer_id: str = "",
        priority: int = 0,
        customer_vip: bool = False,
    ) -> list[Message]:
        offer = commands_pb2.OfferCall(
            ani=ani, dnis=dnis, customer_id=customer_id, priority=priority, customer_vip=customer_vip
        )
        return self.send(t, offer_call=offer)

    def digits(self, digits: str, t: float = 3) -> list[Message]:
        return self.send(t, send_digits=commands_pb2.SendDigits(digits=digits))

    def ring(self, agent_id: str = "agent-1", t: float = 10, decision_id: str = "d-1") -> list[Message]:
        ring = commands_pb2.RingAgent(agent_id=agent_id, decision_id=decision_id)
        return self.send(t, ring_agent=ring)

    def expire(self, agent_id: str = "agent-1", t: float = 25) -> list[Message]:
        return self.send(t, expire_ring=commands_pb2.ExpireRing(agent_id=agent_id))

    def answer(self, agent_id: str = "agent-1", t: float = 14) -> list[Message]:
        return self.send(t, answer_call=commands_pb2.AnswerCall(agent_id=agent_id))

    def hang_up(self, party: "events_pb2.Party.ValueType", t: float = 60) -> list[Message]:
        return self.send(t, hang_up_call=commands_pb2.HangUpCall(party=party))

    def hold(self, agent_id: str = "agent-1", t: float = 20) -> list[Message]:
        return self.send(t, hold_call=commands_pb2.HoldCall(agent_id=agent_id))

    def resume(self, agent_id: str = "agent-1", t: float = 30) -> list[Message]:
        return self.send(t, resume_call=commands_pb2.ResumeCall(agent_id=agent_id))

    def reject(self, agent_id: str = "agent-1", t: float = 12) -> list[Message]:
        return self.send(t, reject_call=commands_pb2.RejectCall(agent_id=agent_id))

    def transfer(
        self, to: str, target: "events_pb2.TransferTarget.ValueType", agent_id: str = "agent-1", t: float = 40
    ) -> list[Message]:
        transfer = commands_pb2.TransferCall(agent_id=agent_id, target=target, to=to)
        return self.send(t, transfer_call=transfer)


# ---- reaching each status --------------------------------------------------------------------------


def in_ivr() -> Call:
    call = Call()
    call.offer()
    return call


def queued() -> Call:
    call = in_ivr()
    call.digits("1", t=5)  # member enquiries, enqueued at T0+5
    return call


def ringing() -> Call:
    call = queued()
    call.ring("agent-1", t=10)
    return call


def connected() -> Call:
    call = ringing()
    call.answer("agent-1", t=14)
    return call


def ended() -> Call:
    call = connected()
    call.hang_up(Party.PARTY_CALLER, t=60)
    return call


def ended_by_announcement() -> Call:
    call = in_ivr()
    call.digits("3")
    return call


STATUSES: dict[str, Callable[[], Call]] = {
    "in-ivr": in_ivr,
    "queued": queued,
    "ringing": ringing,
    "connected": connected,
}

# Every command other than offer, with arguments that are valid in at least one status.
COMMANDS: dict[str, Callable[[Call], list[Message]]] = {
    "send_digits": lambda call: call.digits("1"),
    "ring_agent": lambda call: call.ring("agent-2"),
    "expire_ring": lambda call: call.expire("agent-1"),
    "answer_call": lambda call: call.answer("agent-1"),
    "hang_up_caller": lambda call: call.hang_up(Party.PARTY_CALLER),
    "hang_up_agent": lambda call: call.hang_up(Party.PARTY_AGENT),
    "hold_call": lambda call: call.hold("agent-1"),
    "resume_call": lambda call: call.resume("agent-1"),
    "reject_call": lambda call: call.reject("agent-1"),
    "transfer_call": lambda call: call.transfer("billing", Target.TRANSFER_TARGET_QUEUE),
}


# ---- offer ---------------------------------------------------------------------------------------


def test_offer_emits_offered_and_enters_the_main_menu_on_first_play() -> None:
    call = Call()

    payloads = call.offer(t=0)

    assert payloads == [
        events_pb2.CallOffered(ani=ANI, dnis=DNIS),
        events_pb2.IvrAnnouncementPlayed(menu_id="welcome", announcement=WELCOME),
        events_pb2.IvrMenuEntered(menu_id="main", prompt=PROMPT, attempt=1),
    ]
    state = call.state
    assert (state.call_id, state.ani, state.dnis) == (CALL_ID, ANI, DNIS)
    assert state.status == CallStatus.CALL_STATUS_IN_IVR
    assert (state.line_id, state.flow_version) == ("", 0)
    assert (state.node_id, state.ivr_attempt, state.ivr_digits) == ("main", 1, ())
    assert state.offered_at == at(0)
    assert state.customer_id == domain.customer_for_ani(TENANT, ANI)
    assert call.version == 3


@pytest.mark.parametrize(
    ("ani", "dnis", "fields"),
    [
        ("", DNIS, ["ani"]),
        (ANI, "", ["dnis"]),
        ("", "", ["ani", "dnis"]),
        ("   ", "\t", ["ani", "dnis"]),
    ],
)
def test_offer_without_ani_or_dnis_is_invalid_and_names_them(ani: str, dnis: str, fields: list[str]) -> None:
    call = Call()

    error = refused(lambda: call.offer(ani=ani, dnis=dnis), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == fields
    assert call.history.state is None
    assert call.version == 0


def test_a_priority_given_at_the_offer_goes_with_the_call_into_its_queue_and_back_after_rona() -> None:
    call = Call()
    (offered, *_) = call.offer(priority=7)
    assert isinstance(offered, events_pb2.CallOffered) and offered.priority == 7
    (_, joined) = call.digits("1")
    assert isinstance(joined, events_pb2.CallQueued) and joined.priority == 7
    call.ring()
    (_, requeued) = call.expire()
    assert isinstance(requeued, events_pb2.CallQueued) and requeued.priority == 7


@pytest.mark.parametrize(("given", "vip", "waits_with"), [(0, True, 6), (8, True, 8), (3, False, 3)])
def test_a_vip_customers_call_waits_with_at_least_the_vip_priority(
    given: int, vip: bool, waits_with: int
) -> None:
    call = Call(rules=domain.TelephonyRules(vip_priority=6))
    (offered, *_) = call.offer(priority=given, customer_vip=vip)
    assert isinstance(offered, events_pb2.CallOffered) and offered.priority == waits_with
    (_, joined) = call.digits("1")
    assert isinstance(joined, events_pb2.CallQueued) and joined.priority == waits_with


@pytest.mark.parametrize("priority", [-1, 11])
def test_a_priority_outside_0_to_10_is_refused(priority: int) -> None:
    call = Call()
    error = refused(lambda: call.offer(priority=priority), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["priority"]


@pytest.mark.parametrize("reach", [in_ivr, queued, ringing, connected, ended, ended_by_announcement])
def test_offering_an_existing_call_again_is_refused(reach: Callable[[], Call]) -> None:
    call = reach()

    refused(lambda: call.offer(), IllegalTransition, "call-already-offered")


def test_a_command_naming_no_action_is_invalid() -> None:
    call = in_ivr()
    command = commands_pb2.CallCommand(meta=meta(CALL_ID))

    refused(
        lambda: domain.decide(call.state, command, at(1), domain.TelephonyRules()),
        InvalidArgument,
        "unknown-command",
    )


# ---- commands on a call that does not exist ------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_on_a_call_that_does_not_exist_is_not_found(command: str) -> None:
    call = Call()

    error = refused(lambda: COMMANDS[command](call), NotFound, "call-not-found")

    assert CALL_ID in error.message


# ---- IVR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "queue", "label"),
    [("1", "member", "member"), ("2", "payment", "payment"), ("9", "general", "general")],
)
def test_a_queue_option_queues_the_call_with_the_option_skill(digit: str, queue: str, label: str) -> None:
    call = in_ivr()

    payloads = call.digits(digit, t=7)

    assert payloads == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits=digit, recognised=True, option_label=label),
        events_pb2.CallQueued(
            queue_id=queue,
            required_skill=queue,
            priority=0,
            enqueued_at=timestamp(at(7)),
            reason="menu-choice",
        ),
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_QUEUED
    assert (state.queue_id, state.required_skill, state.priority) == (queue, queue, 0)
    assert state.enqueued_at == at(7)
    assert state.ivr_digits == (digit,)


def test_the_announcement_option_plays_it_and_the_system_ends_the_call() -> None:
    call = in_ivr()

    payloads = call.digits("3", t=6)

    goodbye = DEFAULT_FLOW.node("other").parameters["announcement"]
    assert payloads == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="3", recognised=True, option_label="other"),
        events_pb2.IvrAnnouncementPlayed(menu_id="other", announcement=goodbye),
        events_pb2.CallEnded(ended_by=Party.PARTY_SYSTEM, reason=EndReason.END_REASON_ANNOUNCEMENT_COMPLETED),
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_ENDED
    assert (state.ended_by, state.end_reason, state.ended_at) == (
        Party.PARTY_SYSTEM,
        EndReason.END_REASON_ANNOUNCEMENT_COMPLETED,
        at(6),
    )
    assert not payloads[2].abandoned  # type: ignore[attr-defined]


@pytest.mark.parametrize("digits", ["0", "4", "*", "#", "11", "19", "1234567890123456"])
def test_an_unknown_entry_replays_the_menu_with_the_next_attempt(digits: str) -> None:
    call = in_ivr()

    payloads = call.digits(digits)

    assert payloads == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits=digits, recognised=False, option_label=""),
        events_pb2.IvrMenuEntered(menu_id="main", prompt=PROMPT, attempt=2),
    ]
    assert call.state.status == CallStatus.CALL_STATUS_IN_IVR
    assert call.state.ivr_attempt == 2


def test_after_three_replays_the_next_unknown_entry_queues_to_the_default_queue() -> None:
    call = in_ivr()
    attempts = []
    for t in (1, 2, 3):
        *_, entered = call.digits("7", t=t)
        attempts.append(entered.attempt)  # type: ignore[attr-defined]
    assert attempts == [2, 3, 4]
    assert call.state.status == CallStatus.CALL_STATUS_IN_IVR

    payloads = call.digits("8", t=4)

    assert payloads == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="8", recognised=False, option_label=""),
        events_pb2.CallQueued(
            queue_id="general",
            required_skill="general",
            priority=0,
            enqueued_at=timestamp(at(4)),
            reason="ivr-retries-exhausted",
        ),
    ]
    assert call.state.status == CallStatus.CALL_STATUS_QUEUED
    assert call.state.ivr_digits == ("7", "7", "7", "8")


def test_a_valid_choice_on_the_last_play_still_goes_to_its_queue() -> None:
    call = in_ivr()
    for _ in range(3):
        call.digits("0")

    payloads = call.digits("2")

    assert payloads[-1].queue_id == "payment"  # type: ignore[attr-defined]
    assert payloads[-1].reason == "menu-choice"  # type: ignore[attr-defined]


def test_nothing_entered_before_the_carriers_timeout_is_a_miss_that_prompts_again() -> None:
    call = in_ivr()

    payloads = call.digits("")

    assert payloads == [
        events_pb2.IvrDigitsReceived(menu_id="main", digits="", recognised=False),
        events_pb2.IvrMenuEntered(menu_id="main", prompt=PROMPT, attempt=2),
    ]
    assert call.state.ivr_digits == ("",)


def test_the_caller_hears_the_announcements_then_the_prompt_until_their_next_entry() -> None:
    call = in_ivr()
    assert call.state.heard == (WELCOME, PROMPT)

    call.digits("7")  # not an option: told the prompt again, and only that
    assert call.state.heard == (PROMPT,)

    call.digits("3")  # the hang-up node's announcement
    other = DEFAULT_FLOW.node(MENU.branches["3"]).parameters["announcement"]
    assert call.state.heard == (other,)
    assert call.state.status == CallStatus.CALL_STATUS_ENDED


def test_what_the_caller_was_told_is_not_said_again_once_an_agent_is_rung() -> None:
    call = Call()
    call.offer()
    call.digits("1")  # member enquiries: queued
    assert call.state.heard == ()
    call.history.state = dataclasses.replace(call.state, heard=("Please hold",))  # a queue's announcement

    call.ring()

    assert call.state.heard == ()


def test_every_end_carries_the_time_on_hold_even_after_a_transfer_and_an_abandon() -> None:
    call = connected()
    call.hold(t=16)
    call.send(
        46,
        transfer_call=commands_pb2.TransferCall(
            agent_id="agent-1", target=Target.TRANSFER_TARGET_QUEUE, to="billing"
        ),
    )

    [ended] = call.hang_up(Party.PARTY_CALLER, t=60)

    assert ended.abandoned and ended.hold_seconds == 30.0  # type: ignore[attr-defined]


def test_the_carriers_id_of_the_call_is_kept_with_it() -> None:
    call = Call()
    offer = commands_pb2.OfferCall(ani=ANI, dnis=DNIS, carrier_ref="CA0123")

    payloads = call.send(0, offer_call=offer)

    assert payloads[0].carrier_ref == "CA0123"  # type: ignore[attr-defined]
    assert call.state.carrier_ref == "CA0123"


@pytest.mark.parametrize("digits", ["1" * 33, "a", "1a", "1 ", "+1"])
def test_invalid_digit_strings_are_refused(digits: str) -> None:
    call = in_ivr()

    error = refused(lambda: call.digits(digits), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == ["digits"]
    assert call.version == 3


def test_digits_with_a_trailing_newline_are_refused() -> None:
    call = in_ivr()

    refused(lambda: call.digits("1\n"), InvalidArgument, "invalid-argument")


@pytest.mark.parametrize("reach", [queued, ringing, connected])
def test_digits_when_not_in_the_ivr_are_refused(reach: Callable[[], Call]) -> None:
    call = reach()

    error = refused(lambda: call.digits("1"), IllegalTransition, "call-not-in-ivr")

    assert "not in the IVR" in error.message


def test_digits_state_check_comes_before_format_check() -> None:
    call = queued()

    refused(lambda: call.digits("x"), IllegalTransition, "call-not-in-ivr")


# ---- ringing, answering, ring-no-answer ----------------------------------------------------------


def test_ring_a_queued_call_rings_the_agent_with_the_ring_timeout() -> None:
    call = Call(rules=domain.TelephonyRules(ring_timeout_seconds=20))
    call.offer()
    call.digits("2", t=5)

    payloads = call.ring("agent-7", t=9, decision_id="decision-x")

    assert payloads == [
        events_pb2.CallRinging(
            agent_id="agent-7", decision_id="decision-x", ring_timeout_seconds=20, queue_id="payment"
        )
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_RINGING
    assert state.ringing_agent_id == "agent-7"
    assert state.ring_timeout == timedelta(seconds=20)


def test_ring_without_an_agent_is_invalid() -> None:
    call = queued()

    error = refused(lambda: call.ring(""), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == ["agent_id"]


@pytest.mark.parametrize("reach", [in_ivr, ringing, connected])
def test_ring_when_not_queued_is_refused(reach: Callable[[], Call]) -> None:
    call = reach()

    refused(lambda: call.ring("agent-2"), IllegalTransition, "call-not-queued")


def test_answer_by_the_ringing_agent_connects_the_call() -> None:
    call = ringing()

    payloads = call.answer("agent-1", t=14)

    assert payloads == [
        events_pb2.CallAnswered(agent_id="agent-1", queue_id="member", enqueued_at=timestamp(at(5)))
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_CONNECTED
    assert (state.agent_id, state.answered_at) == ("agent-1", at(14))
    assert (state.ringing_agent_id, state.ring_timeout) == ("", None)


def test_answer_by_another_agent_is_refused() -> None:
    call = ringing()

    refused(lambda: call.answer("agent-2"), IllegalTransition, "call-not-ringing-agent")


def test_answer_without_an_agent_is_invalid() -> None:
    call = ringing()

    error = refused(lambda: call.answer(""), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == ["agent_id"]


@pytest.mark.parametrize("reach", [in_ivr, queued, connected])
def test_answer_when_not_ringing_is_refused(reach: Callable[[], Call]) -> None:
    call = reach()

    refused(lambda: call.answer("agent-1"), IllegalTransition, "call-not-ringing-agent")


def test_expire_ring_requeues_the_call_keeping_the_original_enqueued_at() -> None:
    call = ringing()  # enqueued at T0+5, ringing agent-1 since T0+10

    payloads = call.expire("agent-1", t=25)

    assert payloads == [
        events_pb2.CallRingNoAnswer(agent_id="agent-1", queue_id="member"),
        events_pb2.CallQueued(
            queue_id="member",
            required_skill="member",
            priority=0,
            enqueued_at=timestamp(at(5)),
            reason="ring-no-answer",
        ),
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_QUEUED
    assert state.enqueued_at == at(5)
    assert (state.ringing_agent_id, state.ring_timeout) == ("", None)


def test_after_ring_no_answer_the_call_can_ring_another_agent_but_not_be_answered_by_the_first() -> None:
    call = ringing()
    call.expire("agent-1", t=25)

    refused(lambda: call.answer("agent-1", t=26), IllegalTransition, "call-not-ringing-agent")
    call.ring("agent-2", t=27, decision_id="decision-2")
    payloads = call.answer("agent-2", t=30)

    assert payloads[0].enqueued_at == timestamp(at(5))  # type: ignore[attr-defined]
    assert call.state.agent_id == "agent-2"


@pytest.mark.parametrize(
    ("reach", "agent"),
    [(ringing, "agent-2"), (queued, "agent-1"), (in_ivr, "agent-1"), (connected, "agent-1")],
)
def test_expire_ring_when_not_ringing_that_agent_is_refused(reach: Callable[[], Call], agent: str) -> None:
    call = reach()

    refused(lambda: call.expire(agent), IllegalTransition, "call-not-ringing-agent")


# ---- hang-up -------------------------------------------------------------------------------------


def test_caller_hanging_up_in_the_ivr_left_the_ivr_and_did_not_abandon() -> None:
    call = in_ivr()

    payloads = call.hang_up(Party.PARTY_CALLER, t=4)

    assert payloads == [
        events_pb2.CallEnded(ended_by=Party.PARTY_CALLER, reason=EndReason.END_REASON_CALLER_LEFT_IVR)
    ]
    assert payloads[0].abandoned is False  # type: ignore[attr-defined]
    assert call.state.status == CallStatus.CALL_STATUS_ENDED
    assert call.state.end_reason == EndReason.END_REASON_CALLER_LEFT_IVR


def test_caller_hanging_up_while_queued_abandoned() -> None:
    call = queued()

    payloads = call.hang_up(Party.PARTY_CALLER, t=8)

    assert payloads == [
        events_pb2.CallEnded(
            ended_by=Party.PARTY_CALLER,
            reason=EndReason.END_REASON_ABANDONED_IN_QUEUE,
            abandoned=True,
            queue_id="member",
        )
    ]
    assert call.state.status == CallStatus.CALL_STATUS_ENDED
    assert call.state.ended_at == at(8)


def test_caller_hanging_up_while_an_agent_rings_abandoned_and_names_that_agent() -> None:
    call = ringing()

    payloads = call.hang_up(Party.PARTY_CALLER, t=12)

    assert payloads == [
        events_pb2.CallEnded(
            ended_by=Party.PARTY_CALLER,
            reason=EndReason.END_REASON_ABANDONED_IN_QUEUE,
            abandoned=True,
            queue_id="member",
            agent_id="agent-1",
        )
    ]
    assert (call.state.ringing_agent_id, call.state.ring_timeout) == ("", None)


@pytest.mark.parametrize("party", [Party.PARTY_CALLER, Party.PARTY_AGENT])
def test_hang_up_when_connected_is_normal_clearing_with_the_agent(party: int) -> None:
    call = connected()

    payloads = call.hang_up(party, t=60)  # type: ignore[arg-type]

    assert payloads == [
        events_pb2.CallEnded(
            ended_by=party,
            reason=EndReason.END_REASON_NORMAL_CLEARING,  # type: ignore[arg-type]
            queue_id="member",
            agent_id="agent-1",
        )
    ]
    state = call.state
    assert state.status == CallStatus.CALL_STATUS_ENDED
    assert (state.ended_by, state.end_reason) == (party, EndReason.END_REASON_NORMAL_CLEARING)
    assert state.ended_at == at(60)
    assert state.agent_id == "agent-1"


@pytest.mark.parametrize("reach", [in_ivr, queued, ringing])
def test_agent_hang_up_when_not_connected_is_refused(reach: Callable[[], Call]) -> None:
    call = reach()

    refused(lambda: call.hang_up(Party.PARTY_AGENT), IllegalTransition, "call-not-connected")


@pytest.mark.parametrize("party", [Party.PARTY_UNSPECIFIED, Party.PARTY_SYSTEM, 42])
@pytest.mark.parametrize("status", sorted(STATUSES))
def test_hang_up_by_a_party_other_than_caller_or_agent_is_invalid(party: int, status: str) -> None:
    call = STATUSES[status]()

    error = refused(lambda: call.hang_up(party), InvalidArgument, "invalid-argument")  # type: ignore[arg-type]

    assert violated_fields(error) == ["party"]


# ---- after the end -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("reach", [ended, ended_by_announcement])
def test_every_command_after_the_call_ended_is_refused(reach: Callable[[], Call], command: str) -> None:
    call = reach()
    version = call.version

    refused(lambda: COMMANDS[command](call), IllegalTransition, "call-already-ended")

    assert call.version == version


# ---- the full matrix of status x command ---------------------------------------------------------

# (status, command) -> the error id, or None when the command is legal in that status.
MATRIX: dict[tuple[str, str], str | None] = {
    ("in-ivr", "send_digits"): None,
    ("in-ivr", "ring_agent"): "call-not-queued",
    ("in-ivr", "expire_ring"): "call-not-ringing-agent",
    ("in-ivr", "answer_call"): "call-not-ringing-agent",
    ("in-ivr", "hang_up_caller"): None,
    ("in-ivr", "hang_up_agent"): "call-not-connected",
    ("queued", "send_digits"): "call-not-in-ivr",
    ("queued", "ring_agent"): None,
    ("queued", "expire_ring"): "call-not-ringing-agent",
    ("queued", "answer_call"): "call-not-ringing-agent",
    ("queued", "hang_up_caller"): None,
    ("queued", "hang_up_agent"): "call-not-connected",
    ("ringing", "send_digits"): "call-not-in-ivr",
    ("ringing", "ring_agent"): "call-not-queued",
    ("ringing", "expire_ring"): None,
    ("ringing", "answer_call"): None,
    ("ringing", "hang_up_caller"): None,
    ("ringing", "hang_up_agent"): "call-not-connected",
    ("connected", "send_digits"): "call-not-in-ivr",
    ("connected", "ring_agent"): "call-not-queued",
    ("connected", "expire_ring"): "call-not-ringing-agent",
    ("connected", "answer_call"): "call-not-ringing-agent",
    ("connected", "hang_up_caller"): None,
    ("connected", "hang_up_agent"): None,
    ("in-ivr", "hold_call"): "call-not-with-agent",
    ("queued", "hold_call"): "call-not-with-agent",
    ("ringing", "hold_call"): "call-not-with-agent",
    ("connected", "hold_call"): None,
    ("in-ivr", "resume_call"): "call-not-with-agent",
    ("queued", "resume_call"): "call-not-with-agent",
    ("ringing", "resume_call"): "call-not-with-agent",
    ("connected", "resume_call"): "call-not-on-hold",
    ("in-ivr", "reject_call"): "call-not-ringing-agent",
    ("queued", "reject_call"): "call-not-ringing-agent",
    ("ringing", "reject_call"): None,
    ("connected", "reject_call"): "call-not-ringing-agent",
    ("in-ivr", "transfer_call"): "call-not-with-agent",
    ("queued", "transfer_call"): "call-not-with-agent",
    ("ringing", "transfer_call"): "call-not-with-agent",
    ("connected", "transfer_call"): None,
}

# Status after each legal command.
AFTER: dict[tuple[str, str], int] = {
    ("in-ivr", "send_digits"): CallStatus.CALL_STATUS_QUEUED,
    ("in-ivr", "hang_up_caller"): CallStatus.CALL_STATUS_ENDED,
    ("queued", "ring_agent"): CallStatus.CALL_STATUS_RINGING,
    ("queued", "hang_up_caller"): CallStatus.CALL_STATUS_ENDED,
    ("ringing", "expire_ring"): CallStatus.CALL_STATUS_QUEUED,
    ("ringing", "answer_call"): CallStatus.CALL_STATUS_CONNECTED,
    ("ringing", "hang_up_caller"): CallStatus.CALL_STATUS_ENDED,
    ("connected", "hang_up_caller"): CallStatus.CALL_STATUS_ENDED,
    ("connected", "hang_up_agent"): CallStatus.CALL_STATUS_ENDED,
    ("connected", "hold_call"): CallStatus.CALL_STATUS_CONNECTED,
    ("ringing", "reject_call"): CallStatus.CALL_STATUS_QUEUED,
    ("connected", "transfer_call"): CallStatus.CALL_STATUS_QUEUED,
}


def test_the_matrix_covers_every_status_and_command() -> None:
    assert set(MATRIX) == {(status, command) for status in STATUSES for command in COMMANDS}
    assert set(AFTER) == {key for key, error in MATRIX.items() if error is None}


@pytest.mark.parametrize(("status", "command"), sorted(MATRIX))
def test_status_command_matrix(status: str, command: str) -> None:
    call = STATUSES[status]()
    version = call.version
    error_id = MATRIX[(status, command)]

    if error_id is None:
        payloads = COMMANDS[command](call)
        assert payloads
        assert call.state.status == AFTER[(status, command)]
        assert call.version == version + len(payloads)
    else:
        error = refused(lambda: COMMANDS[command](call), IllegalTransition, error_id)
        assert error.grpc_code.name == "FAILED_PRECONDITION"
        assert call.version == version


# ---- call control (TEL-1) -----------------------------------------------------------------------


def test_holds_add_up_and_a_hang_up_on_hold_counts_the_hold_in_progress() -> None:
    call = connected()  # answered at T0+14

    assert call.hold(t=20) == [events_pb2.CallHeld(agent_id="agent-1")]
    assert call.state.held_since == at(20)
    refused(lambda: call.hold(t=21), IllegalTransition, "call-on-hold")
    assert call.resume(t=30) == [events_pb2.CallResumed(agent_id="agent-1", held_seconds=10.0)]
    call.hold(t=40)
    assert call.state.hold_seconds_at(at(45)) == 15.0

    (ended,) = call.hang_up(Party.PARTY_CALLER, t=50)

    assert isinstance(ended, events_pb2.CallEnded) and ended.hold_seconds == 20.0
    assert (call.state.hold_seconds, call.state.held_since) == (20.0, None)


def test_only_the_agent_on_the_call_holds_it() -> None:
    call = connected()

    refused(lambda: call.hold("agent-2"), IllegalTransition, "call-not-with-agent")
    refused(lambda: call.hold(""), InvalidArgument, "invalid-argument")


def test_a_rejected_call_goes_back_to_its_queue_in_its_place() -> None:
    call = ringing()  # queued at T0+5 in member, ringing agent-1

    payloads = call.reject("agent-1", t=12)

    assert payloads == [
        events_pb2.CallRejected(agent_id="agent-1", queue_id="member"),
        events_pb2.CallQueued(
            queue_id="member", required_skill="member", enqueued_at=timestamp(at(5)), reason="rejected"
        ),
    ]
    assert (call.state.status, call.state.ringing_agent_id) == (CallStatus.CALL_STATUS_QUEUED, "")
    refused(lambda: call.answer("agent-1"), IllegalTransition, "call-not-ringing-agent")


def test_a_blind_transfer_to_a_queue_is_a_new_wait_there_and_the_agent_leaves_the_call() -> None:
    call = connected()  # member queue, answered by agent-1 at T0+14
    call.hold(t=20)

    payloads = call.transfer("billing", Target.TRANSFER_TARGET_QUEUE, t=40)

    assert payloads == [
        events_pb2.CallTransferred(
            agent_id="agent-1",
            queue_id="member",
            target=Target.TRANSFER_TARGET_QUEUE,
            to="billing",
            talk_seconds=26.0,
            hold_seconds=20.0,
        ),
        events_pb2.CallQueued(
            queue_id="billing", required_skill="billing", enqueued_at=timestamp(at(40)), reason="transferred"
        ),
    ]
    state = call.state
    assert (state.status, state.agent_id, state.queue_id) == (CallStatus.CALL_STATUS_QUEUED, "", "billing")
    assert (state.held_since, state.hold_seconds, state.transfers) == (None, 20.0, 1)
    refused(lambda: call.hold("agent-1"), IllegalTransition, "call-not-with-agent")
    call.ring("agent-2", t=45)
    (taken_over,) = call.answer("agent-2", t=47)
    assert isinstance(taken_over, events_pb2.CallAnswered) and taken_over.taken_over
    event = event_pb2.Event(event_id="e-9", tenant_id=TENANT, aggregate_id=CALL_ID, call_answered=taken_over)
    [(_, follows)] = voice_tickets(event)  # the call's voice ticket goes to agent-2
    assert follows.WhichOneof("command") == "assign" and follows.assign.agent_id == "agent-2"
    assert follows.meta.aggregate_id == ticket_for_call(TENANT, CALL_ID)
    (ended,) = call.hang_up(Party.PARTY_AGENT, t=60)
    assert isinstance(ended, events_pb2.CallEnded)
    assert (ended.agent_id, ended.queue_id, ended.hold_seconds) == ("agent-2", "billing", 20.0)


def test_a_blind_transfer_to_an_agent_waits_for_that_agent_in_the_calls_queue() -> None:
    call = connected()

    _, queued_for = call.transfer("agent-7", Target.TRANSFER_TARGET_AGENT, t=30)

    assert queued_for == events_pb2.CallQueued(
        queue_id="member",
        required_skill="member",
        enqueued_at=timestamp(at(30)),
        reason="transferred",
        agent_id="agent-7",
    )
    refused(
        lambda: connected().transfer("agent-1", Target.TRANSFER_TARGET_AGENT),
        InvalidArgument,
        "invalid-argument",
    )


def test_a_blind_transfer_to_a_number_ends_the_call_here_with_the_agent() -> None:
    call = connected()

    transferred, ended = call.transfer("+82 2-1234-5678", Target.TRANSFER_TARGET_NUMBER, t=44)

    assert isinstance(transferred, events_pb2.CallTransferred) and transferred.to == "+82 2-1234-5678"
    assert ended == events_pb2.CallEnded(
        ended_by=Party.PARTY_AGENT,
        reason=EndReason.END_REASON_TRANSFERRED_OUT,
        queue_id="member",
        agent_id="agent-1",
    )
    assert (call.state.status, call.state.agent_id) == (CallStatus.CALL_STATUS_ENDED, "agent-1")


@pytest.mark.parametrize(
    ("to", "target", "field"),
    [
        ("", Target.TRANSFER_TARGET_QUEUE, "to"),
        ("bad\nqueue", Target.TRANSFER_TARGET_QUEUE, "to"),
        ("not a number", Target.TRANSFER_TARGET_NUMBER, "to"),
        ("1", Target.TRANSFER_TARGET_NUMBER, "to"),
        ("billing", Target.TRANSFER_TARGET_UNSPECIFIED, "target"),
    ],
)
def test_a_transfer_names_a_target_and_where_to(
    to: str, target: "events_pb2.TransferTarget.ValueType", field: str
) -> None:
    call = connected()
    version = call.version

    error = refused(lambda: call.transfer(to, target), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == [field]
    assert call.version == version


def test_only_the_agent_on_the_call_transfers_it() -> None:
    refused(
        lambda: connected().transfer("billing", Target.TRANSFER_TARGET_QUEUE, agent_id="agent-2"),
        IllegalTransition,
        "call-not-with-agent",
    )


# ---- customer identity ---------------------------------------------------------------------------


def offer_command(
    tenant_id: str, ani: str, customer_id: str = "", call_id: str = CALL_ID
) -> commands_pb2.CallCommand:
    offer = commands_pb2.OfferCall(ani=ani, dnis=DNIS, customer_id=customer_id)
    return commands_pb2.CallCommand(meta=meta(call_id, tenant_id), offer_call=offer)


def test_customer_of_a_new_call_is_derived_from_tenant_and_ani() -> None:
    customer = domain.customer_of(None, offer_command("tenant-a", ANI))

    assert customer == derived_id("customer", "tenant-a", "tel", ANI)
    assert customer == domain.customer_for_ani("tenant-a", ANI)
    # stable: the same caller on another call of the same tenant is the same customer
    assert domain.customer_of(None, offer_command("tenant-a", ANI, call_id="call-2")) == customer
    # distinct per tenant and per number
    assert domain.customer_of(None, offer_command("tenant-b", ANI)) != customer
    assert domain.customer_of(None, offer_command("tenant-a", "+821099999999")) != customer


def test_customer_of_honours_an_explicit_customer_id() -> None:
    assert domain.customer_of(None, offer_command("tenant-a", ANI, customer_id="crm-42")) == "crm-42"

    call = Call()
    call.offer(customer_id="crm-42")
    assert call.state.customer_id == "crm-42"
    assert {event.customer_id for event in call.history.events} == {"crm-42"}


def test_customer_of_an_existing_call_is_the_call_customer() -> None:
    call = in_ivr()
    command = commands_pb2.CallCommand(meta=meta(CALL_ID), send_digits=commands_pb2.SendDigits(digits="1"))

    assert domain.customer_of(call.state, command) == domain.customer_for_ani(TENANT, ANI)


# ---- evolve --------------------------------------------------------------------------------------


def test_evolve_ignores_payloads_it_does_not_know() -> None:
    call = queued()
    foreign = envelope(
        routing_events.AgentLoggedOut(),
        context="routing",
        aggregate_type="call",
        aggregate_id=CALL_ID,
        version=99,
        when=at(100),
    )

    assert domain.evolve(call.state, foreign) == call.state


def test_evolve_needs_the_offer_first() -> None:
    entered = envelope(
        events_pb2.IvrMenuEntered(menu_id="main", attempt=1),
        context="telephony",
        aggregate_type="call",
        aggregate_id=CALL_ID,
        version=1,
        when=at(0),
    )

    with pytest.raises(AssertionError):
        domain.evolve(None, entered)


def test_replaying_the_history_rebuilds_the_same_state() -> None:
    call = connected()
    call.hang_up(Party.PARTY_AGENT, t=90)

    state = None
    for event in call.history.events:
        state = domain.evolve(state, event)

    assert state == call.state
    assert [e.aggregate_version for e in call.history.events] == list(range(1, call.version + 1))
    assert [e.event_type for e in call.history.events] == [
        "telephony.call.offered",
        "telephony.call.ivr_announcement_played",
        "telephony.call.ivr_menu_entered",
        "telephony.call.ivr_digits_received",
        "telephony.call.queued",
        "telephony.call.ringing",
        "telephony.call.answered",
        "telephony.call.ended",
    ]


# ---- property: the IVR always lets the caller out ------------------------------------------------

ENTRY = st.one_of(
    st.sampled_from(sorted(MENU.branches)),
    st.text(alphabet="0123456789*#", min_size=0, max_size=16),  # "": nothing before the timeout
)


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(ENTRY, min_size=1, max_size=8))
def test_any_digit_sequence_leaves_the_ivr_within_max_replays_plus_one_entries(entries: list[str]) -> None:
    call = in_ivr()
    used = 0
    for entry in entries:
        if call.state.status != CallStatus.CALL_STATUS_IN_IVR:
            break
        call.digits(entry, t=used + 1)
        used += 1

    limit = MENU.number("max_retries", 3) + 1
    assert used <= limit
    first_known = next((i for i, entry in enumerate(entries[:limit]) if entry in MENU.branches), None)
    if first_known is None and len(entries) < limit:
        assert call.state.status == CallStatus.CALL_STATUS_IN_IVR
        assert call.state.ivr_attempt == len(entries) + 1
        return
    assert call.state.status in (CallStatus.CALL_STATUS_QUEUED, CallStatus.CALL_STATUS_ENDED)
    if first_known is None:
        assert used == limit
        assert (call.state.queue_id, call.state.required_skill) == ("general", "general")
        assert call.history.events[-1].call_queued.reason == "ivr-retries-exhausted"
    else:
        assert used == first_known + 1
        target = DEFAULT_FLOW.node(MENU.branches[entries[first_known]])
        if target.kind == "queue":
            assert call.state.queue_id == target.parameters["queue_id"]
        else:
            assert call.state.end_reason == EndReason.END_REASON_ANNOUNCEMENT_COMPLETED
