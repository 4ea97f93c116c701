"""The dialer: when the platform moves a Twilio call on its own (routing chose an agent, the agent did not
answer, an agent transferred it or hung up), it tells Twilio, with the library's call update; and it
places the outbound legs the platform dials (an agent's outbound call, TEL-8, in a tenant with a Twilio
account; a callback's attempt, TEL-5, of a call that came in through Twilio) with the library's call
create: Twilio calls the customer from the line's number and, once they answer, asks the `connected`
webhook, which bridges the agent; the leg's final status comes to the `leg` webhook.

Twilio only asks for instructions at the webhooks, so a call waiting in `<Enqueue>` hears nothing of a
routing decision until it is told. The dialer follows the calls' events in a consumer group (the
gateway's instances share the partitions) and, for a call Twilio carries, either points it at the voice
webhook again (`?call_id=`: the webhook answers with what the call does now, `<Dial>` the agent or
`<Enqueue>` again) or ends it. One failed update (Twilio refuses it, or cannot be reached) is logged and
skipped: the platform's ring timeout moves the call on, and the next event tries again."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from aiokafka import ConsumerRecord
from cc.common.v1 import event_pb2
from cc.telephony.v1 import events_pb2, telephony_pb2
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.common import kafka, telemetry
from services.common.grpc_server import API_KEY_HEADER
from services.common.librdkafka_consumers import GroupMember
from services.common.settings import PlatformSettings
from services.common.topics import CALLS
from services.gateway.clients import ServiceClients
from services.gateway.twilio import twiml
from services.gateway.twilio.accounts import TwilioAccount, TwilioAccounts

log = logging.getLogger(__name__)
GROUP = "gateway-twilio-dialer"
_tracer = telemetry.tracer(__name__)
TWILIO_API = "https://api.twilio.com"
# The reasons a call joins its queue again after an agent had it: its caller must wait again.
QUEUED_AGAIN = frozenset({"ring-no-answer", "rejected", "transferred"})
# The longest one update may take, its lookup included; and how many are in flight at once (a backlog
# replayed after a restart must not run into Twilio's rate limits).
UPDATE_SECONDS = 10.0
UPDATES_IN_FLIGHT = 16
# A transfer to a number, or an outbound leg to place, read again later than this is a replay (the
# dialer restarted and read its last round again): the caller is with the number, the leg placed, already.
DIAL_OUT_WITHIN_SECONDS = 30


class Move(Enum):
    REDIRECT = "redirect"  # to the voice webhook: Twilio fetches what the call does now
    END = "end"
    DIAL_OUT = "dial-out"  # the agent transferred the call to a number: Twilio connects the caller to it
    PLACE = "place"  # an outbound leg to dial: Twilio calls the customer
    CANCEL = "cancel"  # the agent gave up on a leg still ringing: Twilio stops ringing the customer


def move_for(event: event_pb2.Event) -> Move | None:
    """What Twilio must be told of this event, if anything. Changes that come from the webhooks' own
    answers (the flow, the caller hanging up) need nothing: Twilio already has them."""
    match event.WhichOneof("payload"):
        case "call_ringing":
            return Move.REDIRECT
        case "call_queued" if event.call_queued.reason in QUEUED_AGAIN:
            return Move.REDIRECT
        case "call_ended" if (
            event.call_ended.ended_by == events_pb2.PARTY_AGENT
            and event.call_ended.reason == events_pb2.END_REASON_OUTBOUND_NO_ANSWER
        ):
            return Move.CANCEL
        case "callback_attempt_failed" if (
            event.callback_attempt_failed.outcome == events_pb2.CALLBACK_OUTCOME_FAILED
        ):
            return Move.CANCEL  # the agent hung up on the attempt (or the carrier failed it: nothing rings)
        case "call_ended" if (
            event.call_ended.ended_by == events_pb2.PARTY_AGENT
            and event.call_ended.reason != events_pb2.END_REASON_TRANSFERRED_OUT
        ):
            return Move.END
        case "call_transferred" if event.call_transferred.target == events_pb2.TRANSFER_TARGET_NUMBER:
            return Move.DIAL_OUT
        case "outbound_call_placed" | "callback_dialing":
            return Move.PLACE
    return None


@dataclass(frozen=True)
class Leg:
    """An outbound leg for Twilio to place: to the customer, showing `caller_id`, ringing `timeout` s."""

    to: str
    caller_id: str
    timeout: int


def leg_to_place(call: telephony_pb2.Call, event: event_pb2.Event, now: datetime) -> Leg | None:
    """The leg the event asks for, if the call is still dialling it and the event is fresh. An outbound
    call is Twilio's in a tenant with a Twilio account; a callback only when its call came in through
    Twilio (the simulated carrier places the others). It shows the line's number: an outbound call's
    caller id, or the number the callback's caller had called. Twilio's ring limit ends a little before
    the platform's dial timeout (Twilio adds its own few seconds of set-up), so the leg's status, not the
    timer, says what became of it."""
    if now - event.occurred_at.ToDatetime(UTC) > timedelta(seconds=DIAL_OUT_WITHIN_SECONDS):
        return None
    if event.HasField("outbound_call_placed"):
        placed = event.outbound_call_placed
        if not dialing_leg(call, 0) or call.carrier_ref:  # a leg rings already: placed before
            return None
        timeout = placed.dial_timeout_seconds or twiml.DIAL_TIMEOUT_SECONDS
        return Leg(twiml.e164(placed.number), twiml.e164(placed.caller_id), _ring_limit(timeout))
    attempt = event.callback_dialing
    if not dialing_leg(call, attempt.attempt) or not call.carrier_ref:
        return None
    if call.callback.leg_attempt == attempt.attempt:  # its leg rings already: placed before
        return None
    return Leg(twiml.e164(attempt.number), twiml.e164(call.dnis), twiml.DIAL_TIMEOUT_SECONDS)


def ringing_leg(call: telephony_pb2.Call, event: event_pb2.Event) -> bool:
    """Whether the call's carrier_ref is the leg the agent gave up on: an outbound call's (the call
    ended before the answer), or the failed callback attempt's."""
    if event.HasField("callback_attempt_failed"):
        return (
            call.HasField("callback") and call.callback.leg_attempt == event.callback_attempt_failed.attempt
        )
    return call.direction == telephony_pb2.CALL_DIRECTION_OUTBOUND


def dialing_leg(call: telephony_pb2.Call, attempt: int) -> bool:
    """Whether the call is dialling the leg of `attempt` now (an outbound call's one leg is attempt 0):
    a webhook of an earlier attempt's leg, or of a leg the call has moved past, changes nothing."""
    if call.direction == telephony_pb2.CALL_DIRECTION_OUTBOUND:
        return call.status == telephony_pb2.CALL_STATUS_DIALING
    return (
        call.status == telephony_pb2.CALL_STATUS_CONNECTED
        and call.HasField("callback")
        and not call.callback.connected
        and call.callback.attempts == attempt
    )


def _ring_limit(dial_timeout_seconds: int) -> int:
    """Twilio rings 5 to 600 s; 5 s less than the platform's dial timeout, for Twilio's set-up."""
    return min(600, max(5, dial_timeout_seconds - 5))


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The library's own async client with a timeout on every request (the library sends none of its
    own, and one hung connection would hold the partition's updates), sending to `base` instead of
    Twilio's API when one is set (CC_TWILIO_API_URL)."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=UPDATE_SECONDS)
        self._base = base.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self._base and url.startswith(TWILIO_API):
            url = self._base + url.removeprefix(TWILIO_API)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return await super().request(method, url, *args, **kwargs)


class Dialer:
    def __init__(
        self,
        settings: PlatformSettings,
        accounts: TwilioAccounts,
        services: ServiceClients,
        http: AsyncTwilioHttpClient | None = None,
    ) -> None:
        self._settings = settings
        self._accounts = accounts
        self._services = services
        self._http = http
        self._clients: dict[str, Client] = {}
        self._in_flight = asyncio.Semaphore(UPDATES_IN_FLIGHT)
        self.following = False
        self.updates = 0

    async def run(self) -> None:
        self._http = self._http or RebasedHttpClient(self._settings.cc_twilio_api_url)
        # A partition's next owner tells Twilio again what the last round did: `still_due` guards it.
        consumer = GroupMember(self._settings.kafka_bootstrap_servers, GROUP)
        rounds = kafka.CommitRounds("twilio dialer", consumer)
        await consumer.subscribe([CALLS.events], rounds)
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                # In the group (a replica may hold no partition, and all hold none while it rebalances).
                self.following = True
                for tp, records in batches.items():
                    await asyncio.gather(*(self._in_order(of_call) for of_call in _by_call(records)))
                    rounds.handled(tp, records)
                await rounds.after_fetch(bool(batches))
        finally:
            self.following = False
            await consumer.close()
            await self._http.close()

    async def _in_order(self, records: list[ConsumerRecord]) -> None:
        """One call's records in order; the calls of a batch at once (each waits on Twilio)."""
        for record in records:
            await self.handle(record)

    async def handle(self, record: ConsumerRecord) -> None:
        """Tell Twilio what one event means for its call; nothing stops on a failure."""
        try:
            event = event_pb2.Event.FromString(record.value)
            account = self._accounts.of_tenant(event.tenant_id)
            move = move_for(event) if account else None
            if account is None or move is None:
                return
            # in the trace of the call's event: the carrier told of the ring, the end, the leg to place
            with telemetry.consuming(_tracer, f"twilio {move.value}", record, GROUP):
                async with self._in_flight, asyncio.timeout(UPDATE_SECONDS):
                    await self._tell(account, event, move)
        except Exception as error:  # Twilio refused or is away, a service is, or the record is unreadable
            where = f"{record.topic}/{record.partition}/{record.offset}"
            log.warning("twilio dialer: %s not passed on (%r)", where, error)

    async def _tell(self, account: TwilioAccount, event: event_pb2.Event, move: Move) -> None:
        metadata = _metadata(account)
        version = event.aggregate_version
        found = telephony_pb2.GetCallRequest(call_id=event.aggregate_id, min_version=version)
        call = await self._services.telephony.GetCall(found, metadata=metadata)
        if move == Move.PLACE:
            await self._place(account, call, event)
            return
        if not call.carrier_ref:
            return  # a call of the simulated carrier, in a tenant that also has Twilio numbers
        if not still_due(call, move, datetime.now(UTC)):
            return
        live = self._client(account).calls(call.carrier_ref)
        if move == Move.CANCEL:
            if not ringing_leg(call, event):
                return
            await live.update_async(status="canceled")
        elif move == Move.END:
            await live.update_async(status="completed")
        elif move == Move.DIAL_OUT:
            await live.update_async(twiml=twiml.dial_out(event.call_transferred.to))
        else:
            urls = twiml.Urls(self._settings.cc_twilio_public_url.rstrip("/"))
            await live.update_async(
                url=urls.to("voice", call_id=call.call_id, version=version), method="POST"
            )
        self.updates += 1

    async def _place(self, account: TwilioAccount, call: telephony_pb2.Call, event: event_pb2.Event) -> None:
        leg = leg_to_place(call, event, datetime.now(UTC))
        if leg is None:
            return
        urls = twiml.Urls(self._settings.cc_twilio_public_url.rstrip("/"))
        this: dict[str, str | int] = {
            "call_id": call.call_id,
            "version": event.aggregate_version,
            "attempt": event.callback_dialing.attempt,  # 0 for an outbound call's one leg
        }
        metadata = _metadata(account)
        try:
            placed = await self._client(account).calls.create_async(
                to=leg.to,
                from_=leg.caller_id,
                url=urls.to("connected", **this),
                method="POST",
                status_callback=urls.to("leg", **this),
                status_callback_method="POST",
                timeout=leg.timeout,
            )
        except TwilioRestException as refused:
            if not 400 <= refused.status < 500 or refused.status == 429:
                raise  # Twilio away or busy: logged; the platform's timers end the attempt
            # Twilio will never place it (a number it cannot dial, a caller id not the account's)
            log.warning("twilio dialer: leg of call %s refused (%s); it failed", call.call_id, refused.msg)
            failed = telephony_pb2.ReportCallbackOutcomeRequest(
                call_id=call.call_id,
                outcome=events_pb2.CALLBACK_OUTCOME_FAILED,
                request_id=f"twilio-place-{event.event_id}",
            )
            await self._services.telephony.ReportCallbackOutcome(failed, metadata=metadata)
            return
        self.updates += 1
        # The leg is the call's now: not placed again by a dialer that reads this event once more, and
        # cancelled if the agent gives up before the customer answers.
        ringing = telephony_pb2.ReportCallbackOutcomeRequest(
            call_id=call.call_id,
            outcome=events_pb2.CALLBACK_OUTCOME_RINGING,
            carrier_ref=placed.sid or "",
            request_id=f"twilio-ringing-{event.event_id}",
        )
        # (refused, 409, when the customer answered first: the connected webhook named the leg already)
        await self._services.telephony.ReportCallbackOutcome(ringing, metadata=metadata)

    def _client(self, account: TwilioAccount) -> Client:
        client = self._clients.get(account.account_sid)
        if client is None:
            assert self._http is not None, "run() makes the HTTP client"
            client = Client(account.account_sid, account.auth_token, http_client=self._http)
            self._clients[account.account_sid] = client
        return client


def _metadata(account: TwilioAccount) -> tuple[tuple[str, str], ...]:
    """The account's key, and the trace context: telephony's RPC span joins the call's trace."""
    return ((API_KEY_HEADER, account.api_key), *telemetry.inject_metadata())


def still_due(call: telephony_pb2.Call, move: Move, now: datetime) -> bool:
    """Whether the move still fits the call as it is now. An event read again after a restart, or
    overtaken by the next, must not cut a bridged call (Twilio ends a call whose new instructions are
    empty) or dial a number again on a live transfer; the event that moved the call on says what to do."""
    match move:
        case Move.REDIRECT:
            return waiting(call)
        case Move.DIAL_OUT:
            ended_at = call.ended_at.ToDatetime(UTC) if call.HasField("ended_at") else None
            just_now = ended_at is not None and now - ended_at < timedelta(seconds=DIAL_OUT_WITHIN_SECONDS)
            return call.end_reason == events_pb2.END_REASON_TRANSFERRED_OUT and just_now
    return True


def waiting(call: telephony_pb2.Call) -> bool:
    """Whether the caller is on Twilio's side waiting for the platform: queued (not as a callback, whose
    caller has hung up) or ringing an agent."""
    queued = call.status == telephony_pb2.CALL_STATUS_QUEUED and not call.HasField("callback")
    return queued or call.status == telephony_pb2.CALL_STATUS_RINGING


def _by_call(records: list[ConsumerRecord]) -> list[list[ConsumerRecord]]:
    """The records of each call (the record key is the call's), in offset order."""
    calls: dict[bytes, list[ConsumerRecord]] = {}
    for record in records:
        calls.setdefault(record.key or b"", []).append(record)
    return list(calls.values())
