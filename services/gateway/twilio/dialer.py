"""The dialer: when the platform moves a Twilio call on its own (routing chose an agent, the agent did not
answer, an agent transferred it or hung up), it tells Twilio, with the library's call update.

Twilio only asks for instructions at the webhooks, so a call waiting in `<Enqueue>` hears nothing of a
routing decision until it is told. The dialer follows the calls' events in a consumer group (the
gateway's instances share the partitions) and, for a call Twilio carries, either points it at the voice
webhook again (`?call_id=`: the webhook answers with what the call does now, `<Dial>` the agent or
`<Enqueue>` again) or ends it. One failed update (Twilio refuses it, or cannot be reached) is logged and
skipped: the platform's ring timeout moves the call on, and the next event tries again."""

import asyncio
import logging
from enum import Enum
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import KafkaError
from cc.common.v1 import event_pb2
from cc.telephony.v1 import events_pb2, telephony_pb2
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.common import kafka
from services.common.grpc_server import API_KEY_HEADER
from services.common.settings import PlatformSettings
from services.common.topics import CALLS
from services.gateway.clients import ServiceClients
from services.gateway.twilio import twiml
from services.gateway.twilio.accounts import TwilioAccount, TwilioAccounts

log = logging.getLogger(__name__)
GROUP = "gateway-twilio-dialer"
TWILIO_API = "https://api.twilio.com"
# The reasons a call joins its queue again after an agent had it: its caller must wait again.
QUEUED_AGAIN = frozenset({"ring-no-answer", "rejected", "transferred"})


class Move(Enum):
    REDIRECT = "redirect"  # to the voice webhook: Twilio fetches what the call does now
    END = "end"


def move_for(event: event_pb2.Event) -> Move | None:
    """What Twilio must be told of this event, if anything. Changes that come from the webhooks' own
    answers (the flow, the caller hanging up) need nothing: Twilio already has them."""
    match event.WhichOneof("payload"):
        case "call_ringing":
            return Move.REDIRECT
        case "call_queued" if event.call_queued.reason in QUEUED_AGAIN:
            return Move.REDIRECT
        case "call_ended" if event.call_ended.ended_by == events_pb2.PARTY_AGENT:
            return Move.END
    return None


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The library's own async client, sending to `base` instead of Twilio's API (CC_TWILIO_API_URL)."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=10)
        self._base = base.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self._base and url.startswith(TWILIO_API):
            url = self._base + url.removeprefix(TWILIO_API)
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
        self._http = http or RebasedHttpClient(settings.cc_twilio_api_url)
        self._clients: dict[str, Client] = {}
        self.assigned = False
        self.updates = 0

    async def run(self) -> None:
        consumer = kafka.group_consumer(self._settings.kafka_bootstrap_servers, GROUP)
        consumer.subscribe([CALLS.events])
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                self.assigned = bool(consumer.assignment())
                for tp, records in batches.items():
                    await asyncio.gather(*(self._in_order(of_call) for of_call in _by_call(records)))
                    await self._commit(consumer, {tp: records[-1].offset + 1})
        finally:
            await consumer.stop()
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
            await self._tell(account, event.aggregate_id, move)
        except Exception as error:  # Twilio refused or is away, a service is, or the record is unreadable
            where = f"{record.topic}/{record.partition}/{record.offset}"
            log.warning("twilio dialer: %s not passed on (%r)", where, error)

    async def _tell(self, account: TwilioAccount, call_id: str, move: Move) -> None:
        metadata = ((API_KEY_HEADER, account.api_key),)
        call = await self._services.telephony.GetCall(
            telephony_pb2.GetCallRequest(call_id=call_id), metadata=metadata
        )
        if not call.carrier_ref:
            return  # a call of the simulated carrier, in a tenant that also has Twilio numbers
        live = self._client(account).calls(call.carrier_ref)
        if move == Move.END:
            await live.update_async(status="completed")
        else:
            base = self._settings.cc_twilio_public_url.rstrip("/")
            await live.update_async(url=twiml.Urls(base).to("voice", call_id=call_id), method="POST")
        self.updates += 1

    def _client(self, account: TwilioAccount) -> Client:
        client = self._clients.get(account.account_sid)
        if client is None:
            client = Client(account.account_sid, account.auth_token, http_client=self._http)
            self._clients[account.account_sid] = client
        return client

    @staticmethod
    async def _commit(consumer: AIOKafkaConsumer, offsets: dict[Any, int]) -> None:
        try:
            await consumer.commit(offsets)
        except KafkaError as error:  # a rebalance; the partition's next owner tells Twilio again
            log.warning("twilio dialer: offsets %s not committed (%r)", offsets, error)


def _by_call(records: list[ConsumerRecord]) -> list[list[ConsumerRecord]]:
    """The records of each call (the record key is the call's), in offset order."""
    calls: dict[bytes, list[ConsumerRecord]] = {}
    for record in records:
        calls.setdefault(record.key or b"", []).append(record)
    return list(calls.values())
