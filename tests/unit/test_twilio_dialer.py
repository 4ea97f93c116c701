"""The Twilio dialer (TEL-10): which events a live Twilio call must hear of, and the call update it sends,
caught at the `twilio` library's HTTP layer."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast
from unittest.mock import patch

import pytest
from aiokafka import ConsumerRecord
from cc.common.v1 import event_pb2
from cc.telephony.v1 import events_pb2, telephony_pb2
from google.protobuf.message import Message
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

from services.common.settings import PlatformSettings
from services.gateway.clients import ServiceClients
from services.gateway.twilio.accounts import TwilioAccounts
from services.gateway.twilio.dialer import UPDATE_SECONDS, Dialer, Move, RebasedHttpClient, move_for

SID = "AC" + "1" * 32
SETTINGS = PlatformSettings(
    cc_twilio_accounts=f"{SID}:acme:token:adapter-key", cc_twilio_public_url="https://cc.example.com/"
)
Party = events_pb2.Party


def event(
    payload: Message, tenant_id: str = "acme", call_id: str = "c-1", version: int = 5
) -> event_pb2.Event:
    field = {
        "CallRinging": "call_ringing",
        "CallQueued": "call_queued",
        "CallEnded": "call_ended",
        "CallAnswered": "call_answered",
        "CallTransferred": "call_transferred",
        "OutboundCallPlaced": "outbound_call_placed",
        "CallbackDialing": "callback_dialing",
        "CallbackAttemptFailed": "callback_attempt_failed",
    }[payload.DESCRIPTOR.name]
    built = event_pb2.Event(
        event_id="e-1", tenant_id=tenant_id, aggregate_id=call_id, aggregate_version=version
    )
    getattr(built, field).CopyFrom(payload)
    built.occurred_at.FromDatetime(datetime.now(UTC))
    return built


@pytest.mark.parametrize(
    "payload, move",
    [
        (events_pb2.CallRinging(agent_id="kim"), Move.REDIRECT),
        (events_pb2.CallQueued(queue_id="q", reason="ring-no-answer"), Move.REDIRECT),
        (events_pb2.CallQueued(queue_id="q", reason="rejected"), Move.REDIRECT),
        (events_pb2.CallQueued(queue_id="q", reason="transferred"), Move.REDIRECT),
        (events_pb2.CallQueued(queue_id="q", reason="menu-choice"), None),  # the webhook answered it
        (events_pb2.CallEnded(ended_by=Party.PARTY_AGENT), Move.END),
        (events_pb2.CallEnded(ended_by=Party.PARTY_CALLER), None),  # Twilio told us
        (events_pb2.CallEnded(ended_by=Party.PARTY_SYSTEM), None),  # the flow's own <Hangup>
        (events_pb2.CallAnswered(agent_id="kim"), None),
        (
            events_pb2.CallTransferred(target=events_pb2.TRANSFER_TARGET_NUMBER, to="+8225550100"),
            Move.DIAL_OUT,
        ),
        (events_pb2.CallTransferred(target=events_pb2.TRANSFER_TARGET_QUEUE, to="q"), None),  # its CallQueued
        # the caller is with the number now: not hung up
        (
            events_pb2.CallEnded(ended_by=Party.PARTY_AGENT, reason=events_pb2.END_REASON_TRANSFERRED_OUT),
            None,
        ),
        (events_pb2.OutboundCallPlaced(agent_id="kim", number="+821012345678"), Move.PLACE),
        (events_pb2.CallbackDialing(agent_id="kim", number="+821012345678", attempt=1), Move.PLACE),
    ],
)
def test_what_twilio_must_hear_of(payload: Message, move: Move | None) -> None:
    assert move_for(event(payload)) == move


class Recorder(AsyncHttpClient):
    """The library's HTTP layer: what the library would send to Twilio, answered as Twilio would."""

    def __init__(self) -> None:
        super().__init__(logger=cast(Any, SimpleNamespace(isEnabledFor=lambda level: False)), is_async=True)
        self.sent: list[dict[str, Any]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.sent.append({"method": method, "url": url, **kwargs})
        return Response(200, '{"sid": "CA77", "status": "in-progress"}')


class Telephony:
    """GetCall as telephony answers it: the call now, in `status`."""

    def __init__(self, carrier_ref: str, status: "telephony_pb2.CallStatus.ValueType") -> None:
        self.carrier_ref = carrier_ref
        self.status = status
        self.asked: telephony_pb2.GetCallRequest | None = None
        self.metadata: object = None
        self.reported: list[telephony_pb2.ReportCallbackOutcomeRequest] = []

    async def ReportCallbackOutcome(
        self, request: telephony_pb2.ReportCallbackOutcomeRequest, metadata: object
    ) -> None:
        self.reported.append(request)

    async def GetCall(self, request: telephony_pb2.GetCallRequest, metadata: object) -> telephony_pb2.Call:
        self.asked, self.metadata = request, metadata
        outbound = self.status == telephony_pb2.CALL_STATUS_DIALING
        return telephony_pb2.Call(
            call_id=request.call_id,
            carrier_ref=self.carrier_ref,
            status=self.status,
            version=request.min_version,
            direction=telephony_pb2.CALL_DIRECTION_OUTBOUND
            if outbound
            else telephony_pb2.CALL_DIRECTION_INBOUND,
        )


def dialer(
    carrier_ref: str = "CA77",
    status: "telephony_pb2.CallStatus.ValueType" = telephony_pb2.CALL_STATUS_RINGING,
) -> tuple[Dialer, Recorder, Telephony]:
    recorder, telephony = Recorder(), Telephony(carrier_ref, status)
    services = cast(ServiceClients, SimpleNamespace(telephony=telephony))
    return (
        Dialer(SETTINGS, TwilioAccounts.parse(SETTINGS.cc_twilio_accounts), services, recorder),
        recorder,
        telephony,
    )


def record(built: event_pb2.Event) -> ConsumerRecord[bytes, bytes]:
    value = built.SerializeToString()
    return ConsumerRecord("telephony.call.events.v1", 0, 7, 0, 0, b"k", value, None, 1, len(value), [])


async def test_a_ringing_call_is_pointed_back_at_the_voice_webhook() -> None:
    running, recorder, telephony = dialer()

    await running.handle(record(event(events_pb2.CallRinging(agent_id="kim"), version=6)))

    [sent] = recorder.sent
    assert sent["method"] == "POST"
    assert sent["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls/CA77.json"
    assert sent["data"] == {
        "Url": "https://cc.example.com/v1/adapters/twilio/voice?call_id=c-1&version=6",
        "Method": "POST",
    }
    assert telephony.asked is not None and telephony.asked.min_version == 6  # read as far as the event
    assert sent["auth"] == (SID, "token")
    assert ("x-api-key", "adapter-key") in cast(tuple[tuple[str, str], ...], telephony.metadata)
    assert running.updates == 1


async def test_a_call_an_agent_hung_up_is_ended_at_twilio() -> None:
    running, recorder, _ = dialer(status=telephony_pb2.CALL_STATUS_ENDED)

    await running.handle(record(event(events_pb2.CallEnded(ended_by=Party.PARTY_AGENT))))

    assert recorder.sent[0]["data"] == {"Status": "completed"}


@pytest.mark.parametrize(
    "status, callback",
    [
        (telephony_pb2.CALL_STATUS_CONNECTED, False),  # a redirect would cut the bridge
        (telephony_pb2.CALL_STATUS_ENDED, False),
        (telephony_pb2.CALL_STATUS_QUEUED, True),  # a callback's caller has hung up
    ],
)
async def test_a_ring_read_again_after_the_call_moved_on_is_not_passed_on(
    status: "telephony_pb2.CallStatus.ValueType", callback: bool
) -> None:
    running, recorder, telephony = dialer(status=status)
    if callback:
        telephony.GetCall = with_callback(telephony.GetCall)  # type: ignore[method-assign]

    await running.handle(record(event(events_pb2.CallRinging(agent_id="kim"))))

    assert recorder.sent == []


def with_callback(get_call: Any) -> Any:
    async def answer(request: telephony_pb2.GetCallRequest, metadata: object) -> telephony_pb2.Call:
        call: telephony_pb2.Call = await get_call(request, metadata)
        call.callback.number = "+821012345678"
        return call

    return answer


async def test_an_update_twilio_does_not_answer_in_time_is_given_up() -> None:
    running, recorder, _ = dialer()

    async def hangs(*args: Any, **kwargs: Any) -> Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    recorder.request = hangs  # type: ignore[method-assign]
    with patch("services.gateway.twilio.dialer.UPDATE_SECONDS", 0.05):
        async with asyncio.timeout(5):
            await running.handle(record(event(events_pb2.CallRinging(agent_id="kim"))))

    assert running.updates == 0


async def test_the_librarys_client_gets_a_timeout_the_library_leaves_out() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9")
    sent: dict[str, Any] = {}

    async def request(self: object, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        sent.update(url=url, **kwargs)
        return Response(200, "{}")

    with patch.object(AsyncTwilioHttpClient, "request", request):
        await client.request(
            "POST", "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1.json", timeout=None
        )
    await client.close()

    assert sent["url"] == "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Calls/CA1.json"
    assert sent["timeout"] == UPDATE_SECONDS


@pytest.mark.parametrize(("ended_seconds_ago", "dialled"), [(2, True), (120, False)])
async def test_a_transfer_to_a_number_is_dialled_at_twilio_once(
    ended_seconds_ago: int, dialled: bool
) -> None:
    running, recorder, telephony = dialer(status=telephony_pb2.CALL_STATUS_ENDED)
    ended_at = datetime.now(UTC) - timedelta(seconds=ended_seconds_ago)

    async def transferred_out(request: telephony_pb2.GetCallRequest, metadata: object) -> telephony_pb2.Call:
        call = telephony_pb2.Call(
            call_id=request.call_id,
            carrier_ref="CA77",
            status=telephony_pb2.CALL_STATUS_ENDED,
            end_reason=events_pb2.END_REASON_TRANSFERRED_OUT,
        )
        call.ended_at.FromDatetime(ended_at)
        return call

    telephony.GetCall = transferred_out  # type: ignore[method-assign]
    to_number = events_pb2.CallTransferred(target=events_pb2.TRANSFER_TARGET_NUMBER, to="+8225550100")

    await running.handle(record(event(to_number)))

    if dialled:  # read again two minutes on, it is a replay: the caller is with the number already
        [sent] = recorder.sent
        assert sent["data"] == {
            "Twiml": '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+8225550100</Dial></Response>'
        }
    else:
        assert recorder.sent == []


async def test_calls_of_other_carriers_and_tenants_are_left_alone() -> None:
    simulated, recorder, _ = dialer(carrier_ref="")
    await simulated.handle(record(event(events_pb2.CallRinging(agent_id="kim"))))
    other_tenant, other_recorder, telephony = dialer()
    await other_tenant.handle(record(event(events_pb2.CallRinging(agent_id="kim"), tenant_id="globex")))

    assert recorder.sent == other_recorder.sent == []
    assert telephony.metadata is None  # not even looked up


async def test_a_refused_update_or_an_unreadable_record_stops_nothing() -> None:
    running, recorder, _ = dialer()

    async def refuses(*args: Any, **kwargs: Any) -> Response:
        return Response(400, '{"code": 21220, "message": "Call is not in-progress", "status": 400}')

    recorder.request = refuses  # type: ignore[method-assign]
    await running.handle(record(event(events_pb2.CallRinging(agent_id="kim"))))
    garbage = ConsumerRecord("t", 0, 8, 0, 0, b"k", b"\xff\x00", None, 1, 2, [])
    await running.handle(garbage)

    assert running.updates == 0


def test_the_public_url_is_required_with_accounts() -> None:
    with pytest.raises(ValueError, match="CC_TWILIO_PUBLIC_URL"):
        PlatformSettings(cc_twilio_accounts=f"{SID}:acme:token:key")


# The platform keeps the customer's number as its digits; Twilio dials it with its + (E.164).
PLACED = events_pb2.OutboundCallPlaced(
    agent_id="kim", number="821012345678", caller_id="1588-1234", line_id="cards", dial_timeout_seconds=45
)


async def test_an_outbound_call_is_placed_at_twilio_from_the_lines_number() -> None:
    running, recorder, telephony = dialer(carrier_ref="", status=telephony_pb2.CALL_STATUS_DIALING)

    await running.handle(record(event(PLACED, version=1)))

    [sent] = recorder.sent
    assert sent["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls.json"
    assert sent["data"] == {
        "To": "+821012345678",
        "From": "+15881234",  # E.164, as Twilio takes it
        "Url": "https://cc.example.com/v1/adapters/twilio/connected?call_id=c-1&version=1&attempt=0",
        "Method": "POST",
        "StatusCallback": "https://cc.example.com/v1/adapters/twilio/leg?call_id=c-1&version=1&attempt=0",
        "StatusCallbackMethod": "POST",
        "Timeout": 40,  # Twilio gives up a little before the platform's dial timeout
    }
    [ringing] = telephony.reported  # the leg Twilio placed is the call's: never placed twice
    assert (ringing.outcome, ringing.carrier_ref, ringing.request_id) == (
        events_pb2.CALLBACK_OUTCOME_RINGING,
        "CA77",
        "twilio-ringing-e-1",
    )


async def test_a_callback_of_a_twilio_call_is_placed_from_the_number_the_caller_called() -> None:
    running, recorder, telephony = dialer(status=telephony_pb2.CALL_STATUS_CONNECTED)

    async def dialing(request: telephony_pb2.GetCallRequest, metadata: object) -> telephony_pb2.Call:
        return telephony_pb2.Call(
            call_id=request.call_id,
            dnis="15881234",
            carrier_ref="CA77",
            status=telephony_pb2.CALL_STATUS_CONNECTED,
            callback=telephony_pb2.Callback(number="+821012345678", attempts=2),
        )

    telephony.GetCall = dialing  # type: ignore[method-assign]
    await running.handle(record(event(events_pb2.CallbackDialing(number="+821012345678", attempt=2))))

    [sent] = recorder.sent
    assert (sent["data"]["To"], sent["data"]["From"]) == ("+821012345678", "+15881234")
    assert sent["data"]["Url"].endswith("&attempt=2")


@pytest.mark.parametrize(
    "status, seconds_ago",
    [
        (telephony_pb2.CALL_STATUS_CONNECTED, 1),  # the customer answered already: a replay
        (telephony_pb2.CALL_STATUS_ENDED, 1),
        (telephony_pb2.CALL_STATUS_DIALING, 120),  # read again long after: placed already
    ],
)
async def test_a_leg_is_not_placed_again_once_the_call_moved_on_or_when_read_again_later(
    status: "telephony_pb2.CallStatus.ValueType", seconds_ago: int
) -> None:
    running, recorder, _ = dialer(carrier_ref="", status=status)
    placed = event(PLACED)
    placed.occurred_at.FromDatetime(datetime.now(UTC) - timedelta(seconds=seconds_ago))

    await running.handle(record(placed))

    assert recorder.sent == []


async def test_a_callback_of_the_simulated_carriers_call_is_left_to_it() -> None:
    running, recorder, telephony = dialer(carrier_ref="", status=telephony_pb2.CALL_STATUS_CONNECTED)
    telephony.GetCall = with_callback(telephony.GetCall)  # type: ignore[method-assign]

    await running.handle(record(event(events_pb2.CallbackDialing(number="+821012345678", attempt=0))))

    assert recorder.sent == []


async def test_a_leg_twilio_refuses_to_place_is_a_failed_attempt_and_a_busy_twilio_is_not() -> None:
    running, recorder, telephony = dialer(carrier_ref="", status=telephony_pb2.CALL_STATUS_DIALING)
    reported = telephony.reported
    for status in (400, 429, 503):

        async def refuses(*args: Any, status: int = status, **kwargs: Any) -> Response:
            return Response(
                status, json.dumps({"code": 21211, "message": "Invalid To number", "status": status})
            )

        recorder.request = refuses  # type: ignore[method-assign]
        await running.handle(record(event(PLACED, version=1)))

    [failed] = reported  # 429 and 503 pass: the platform's dial timeout ends the attempt
    assert (failed.outcome, failed.request_id) == (events_pb2.CALLBACK_OUTCOME_FAILED, "twilio-place-e-1")


async def test_a_leg_that_rings_already_is_not_placed_again() -> None:
    running, recorder, _ = dialer(carrier_ref="CA-leg", status=telephony_pb2.CALL_STATUS_DIALING)

    await running.handle(record(event(PLACED)))  # read again within seconds, after a restart

    assert recorder.sent == []


@pytest.mark.parametrize(
    "payload",
    [
        events_pb2.CallEnded(ended_by=Party.PARTY_AGENT, reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER),
        events_pb2.CallbackAttemptFailed(outcome=events_pb2.CALLBACK_OUTCOME_FAILED, attempt=0),
    ],
)
async def test_a_leg_the_agent_gave_up_on_stops_ringing_at_twilio(payload: Message) -> None:
    assert move_for(event(payload)) == Move.CANCEL
    running, recorder, telephony = dialer(carrier_ref="CA-leg", status=telephony_pb2.CALL_STATUS_ENDED)

    async def outbound(request: telephony_pb2.GetCallRequest, metadata: object) -> telephony_pb2.Call:
        return telephony_pb2.Call(
            call_id=request.call_id, carrier_ref="CA-leg", direction=telephony_pb2.CALL_DIRECTION_OUTBOUND
        )

    if isinstance(payload, events_pb2.CallEnded):
        telephony.GetCall = outbound  # type: ignore[method-assign]
    else:
        telephony.GetCall = with_callback(telephony.GetCall)  # type: ignore[method-assign]
    await running.handle(record(event(payload)))

    [sent] = recorder.sent
    assert sent["url"].endswith("/Calls/CA-leg.json") and sent["data"] == {"Status": "canceled"}
