"""What drives outbound campaigns (TEL-8): the pacer gives each ready agent of a running campaign its
next due contact; a policy places the call for a dialled contact and brings the call's answer, or its
end unanswered, back to the campaign; a timer gives up on a dial that never made a call (its placement
was refused: the number went on the do-not-call list, or the line closed, since the dial).

The pacer reads who is ready from routing's agent events (its own small read model: readiness and since
when) and the campaigns from telephony's read model. Every telephony instance runs one; they post the
same commands, with ids derived from what they read, so the campaign decides each once."""

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as agent_events
from cc.telephony.v1 import commands_pb2, events_pb2

from services.common.aggregate import AggregateCommand, ReadSpec, Versioned
from services.common.command_bus import CommandBus, caused_by
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import derived_id, to_datetime
from services.common.errors import PlatformError, Unavailable
from services.common.projection import Projection
from services.common.topics import AGENTS, CALLS, CAMPAIGNS, AggregateTopics
from services.telephony.campaigns import RUNNING, CampaignState, can_call
from services.telephony.customers import KnownCustomer
from services.telephony.lines import LineDirectory
from services.telephony.outbound import NOT_CONNECTED

log = logging.getLogger(__name__)
# A dial sent is not sent again for this long; an agent whose accepted dial the read model does not
# show yet is given nothing else for at most this long.
RESEND_SECONDS, PENDING_SECONDS = 15.0, 60.0
OUTCOME_OF_END = {reason: outcome for outcome, reason in NOT_CONNECTED.items()}


# ---- the policy: a dialled contact's call, and the call's outcome back ---------------------------


class KnownCallers(Protocol):
    def caller(self, tenant_id: str, ani: str) -> KnownCustomer | None: ...


class CampaignCalls:
    """telephony.campaign.events.v1 and telephony.call.events.v1 -> PlaceOutboundCall for a dialled
    contact (with the customer its number is, CH-2), and RecordCampaignOutcome for a campaign call that
    was answered or ended unanswered."""

    def __init__(self, customers: KnownCallers) -> None:
        self._customers = customers

    def __call__(self, event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
        match event.WhichOneof("payload"):
            case "campaign_contact_dialled":
                return [(CALLS, self._placement(event))]
            case "outbound_call_connected" if event.outbound_call_connected.campaign_id:
                outcome = events_pb2.CALLBACK_OUTCOME_CONNECTED
                return [(CAMPAIGNS, _outcome(event, event.outbound_call_connected.campaign_id, outcome))]
            case "call_ended" if event.call_ended.campaign_id:
                ended = event.call_ended
                outcome = OUTCOME_OF_END.get(ended.reason, events_pb2.CALLBACK_OUTCOME_FAILED)
                return [(CAMPAIGNS, _outcome(event, ended.campaign_id, outcome))]
        return []

    def _placement(self, event: event_pb2.Event) -> commands_pb2.CallCommand:
        dialled = event.campaign_contact_dialled
        known = self._customers.caller(event.tenant_id, dialled.number)
        meta = caused_by(
            event.event_id, "place-campaign-call", event.tenant_id, dialled.call_id, dialled.call_id
        )
        place = commands_pb2.PlaceOutboundCall(
            agent_id=dialled.agent_id,
            number=dialled.number,
            line_id=dialled.line_id,
            caller_id=dialled.caller_id,
            customer_id=known.customer_id if known else "",
            campaign_id=event.aggregate_id,
        )
        return commands_pb2.CallCommand(meta=meta, place_outbound_call=place)


def _outcome(
    event: event_pb2.Event, campaign_id: str, outcome: "events_pb2.CallbackOutcome.ValueType"
) -> commands_pb2.CampaignCommand:
    meta = caused_by(event.event_id, "campaign-outcome", event.tenant_id, campaign_id, campaign_id)
    record = commands_pb2.RecordCampaignOutcome(call_id=event.aggregate_id, outcome=outcome)
    return commands_pb2.CampaignCommand(meta=meta, record_outcome=record)


# ---- the timer: a dial that made no call ---------------------------------------------------------


class CampaignTimer:
    """Observes the campaigns read model: the contact dialled longest ago that is still being dialled is
    given up `patience` after its dial (its call, if placed, ends by its own dial timeout well before).
    One deadline per campaign; once that contact settles, the next oldest gets it."""

    def __init__(
        self,
        deadlines: Deadlines,
        patience: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deadlines = deadlines
        self._patience = patience
        self._clock = clock

    def __call__(self, entry: Versioned[CampaignState]) -> None:
        key = (entry.tenant_id, entry.aggregate_id)
        dialling = [c for _, c in entry.state.dialling() if c.dialled_at is not None]
        if not dialling:
            self._deadlines.cancel(key)
            return
        oldest = min(dialling, key=lambda c: (c.dialled_at, c.call_id))
        assert oldest.dialled_at is not None

        def give_up() -> commands_pb2.CampaignCommand:
            meta = caused_by(oldest.call_id, "no-call", entry.tenant_id, entry.aggregate_id, "")
            record = commands_pb2.RecordCampaignOutcome(
                call_id=oldest.call_id, outcome=events_pb2.CALLBACK_OUTCOME_FAILED, no_call=True
            )
            return commands_pb2.CampaignCommand(meta=meta, record_outcome=record)

        wait = max(oldest.dialled_at + self._patience - self._clock(), timedelta(0))
        # the call id names the attempt: the same deadline, and command, on every instance
        self._deadlines.set(key, Deadline(oldest.call_id, wait, CAMPAIGNS, give_up))


# ---- the pacer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentReadiness:
    """What the pacer needs of a routing agent: whether it is ready, since when, at which version."""

    ready: bool
    since: datetime


def readiness(state: AgentReadiness | None, event: event_pb2.Event) -> AgentReadiness:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "agent_logged_in":
            return AgentReadiness(event.agent_logged_in.initial_state == agent_events.AGENT_STATE_READY, at)
        case "agent_state_changed":
            return AgentReadiness(event.agent_state_changed.state == agent_events.AGENT_STATE_READY, at)
        case "agent_logged_out":
            return AgentReadiness(False, at)
    return state or AgentReadiness(False, at)


AGENT_READINESS: ReadSpec[AgentReadiness] = ReadSpec(AGENTS, readiness, AgentReadiness)


def dials(
    tenant_id: str,
    campaigns: Sequence[Versioned[CampaignState]],
    agents: Callable[[str], Versioned[AgentReadiness] | None],
    lines: LineDirectory,
    now: datetime,
    pending: Collection[str] = (),
) -> list[commands_pb2.CampaignCommand]:
    """The dials to send now for one tenant: each running campaign (oldest id first) gives its due
    contacts to its agents who are ready (longest ready first), idle in every campaign, and ready since
    their last campaign call (a readiness from before it is stale: routing has not yet heard of the
    call). One contact per agent at a time, across campaigns: `pending` are agents whose accepted dial
    the read model does not show yet. A campaign whose line is closed, or no longer has its caller id,
    dials nobody. A dial's id is the same for the same read within a minute, so that two instances'
    pacers send one dial, while a dial refused on a time-dependent ground is tried anew later."""
    busy: set[str] = set(pending)
    last_dial: dict[str, datetime] = {}
    for entry in campaigns:
        busy |= entry.state.agents_dialling()
        for agent_id, moment in entry.state.last_dial.items():
            last_dial[agent_id] = max(moment, last_dial.get(agent_id, moment))
    minute = str(int(now.timestamp()) // 60)
    sent: list[commands_pb2.CampaignCommand] = []
    for entry in sorted(campaigns, key=lambda e: e.aggregate_id):
        campaign = entry.state
        line = lines.line(tenant_id, campaign.line_id) if campaign.status == RUNNING else None
        if line is None or not can_call(campaign, line) or not line.is_open(now):
            continue
        ready = []
        for agent_id in campaign.agent_ids:
            agent = agents(agent_id)
            if agent is None or not agent.state.ready or agent_id in busy:
                continue
            if agent_id not in last_dial or agent.state.since > last_dial[agent_id]:
                ready.append((agent.state.since, agent_id, agent.version))
        for _, agent_id, agent_version in sorted(ready)[: campaign.due_count(now)]:
            cause = derived_id(entry.aggregate_id, str(entry.version), agent_id, str(agent_version), minute)
            meta = caused_by(cause, "dial", tenant_id, entry.aggregate_id, "")
            dial = commands_pb2.DialCampaignContact(agent_id=agent_id)
            sent.append(commands_pb2.CampaignCommand(meta=meta, dial=dial))
            busy.add(agent_id)
    return sent


class CampaignPacer:
    """Progressive pacing: every `tick` seconds, for every tenant with a campaign, send the dials `dials`
    says and wait for their outcomes. A companion of the telephony service that never holds it from
    SERVING (calls do not wait for campaigns): its loop, which needs the command bus, starts once the
    agents and the campaigns it reads are loaded."""

    def __init__(
        self,
        campaigns: Projection[CampaignState, Any],
        agents: Projection[AgentReadiness, Any],
        lines: LineDirectory,
        tick: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._campaigns = campaigns
        self._agents = agents  # a read model of AGENT_READINESS
        self._lines = lines
        self._tick = tick
        self._clock = clock
        self._sent: dict[str, float] = {}  # command id -> when sent (monotonic)
        # (tenant, agent) -> the campaign and version its accepted dial made, until the model shows it
        self._pending: dict[tuple[str, str], tuple[str, int, float]] = {}

    async def run(self) -> None:
        await self._agents.run()

    def ready(self) -> bool:
        return True

    def due_dials(self) -> list[commands_pb2.CampaignCommand]:
        """The dials to send now, less those sent within `RESEND_SECONDS` (a refused one would only be
        refused again from the outcome window)."""
        now, moment = self._clock(), time.monotonic()
        self._sent = {key: at for key, at in self._sent.items() if moment - at < RESEND_SECONDS}
        self._pending = {
            key: (campaign_id, version, at)
            for key, (campaign_id, version, at) in self._pending.items()
            if moment - at < PENDING_SECONDS and not self._shows(key[0], campaign_id, version)
        }
        fresh = []
        for tenant in sorted({tenant for tenant, _ in self._campaigns.entries}):
            agents = partial(self._agents.get, tenant)
            pending = {agent for (t, agent) in self._pending if t == tenant}
            campaigns = self._campaigns.of_tenant(tenant)
            for dial in dials(tenant, campaigns, agents, self._lines, now, pending):
                if dial.meta.command_id not in self._sent:
                    self._sent[dial.meta.command_id] = moment
                    fresh.append(dial)
        return fresh

    def _shows(self, tenant_id: str, campaign_id: str, version: int) -> bool:
        entry = self._campaigns.get(tenant_id, campaign_id)
        return entry is not None and entry.version >= version

    async def pace(self, bus: CommandBus) -> None:
        """Send the due dials at once and note each one accepted, so that its agent is given nothing
        else until the read model shows it."""
        due = self.due_dials()
        replies = await asyncio.gather(*(bus.send(CAMPAIGNS, dial) for dial in due), return_exceptions=True)
        for dial, reply in zip(due, replies, strict=True):
            meta = dial.meta
            if isinstance(reply, types_pb2.CommandReply):
                key = (meta.tenant_id, dial.dial.agent_id)
                self._pending[key] = (meta.aggregate_id, reply.aggregate_version, time.monotonic())
            elif isinstance(reply, PlatformError) and not isinstance(reply, Unavailable):
                log.info("campaign %s: dial for %s refused: %s", meta.aggregate_id, dial.dial.agent_id, reply)
            else:
                log.warning("campaign %s: dial not decided (%r); tried again", meta.aggregate_id, reply)

    async def drive(self, bus: CommandBus) -> None:
        await self._agents.caught_up.wait()
        await self._campaigns.caught_up.wait()
        while True:
            await self.pace(bus)
            await asyncio.sleep(self._tick)
