"""The routing board of one tenant: who is waiting, which agents can take them, and today's queue
tallies. It is folded from call and agent events in log order (`apply`); it holds no clock and does
no I/O, so the stream worker can rebuild it exactly.

**Queues.** Each queue has a rule (services.routing.rules): the skills and sites of the agents it may
use, the strategy that ranks them, and how its waiting contacts are ordered. A queue defined over the
API brings its rule in its events; one met only in a call's CallQueued gets the implicit rule of its
required skill.

**Channels** (RT-7). Each queue serves one channel (voice by default). A call is one contact at a time
and follows the agent's state (reserved, on contact, wrap-up); a contact of another channel (chat,
email, task) is held by the agent from its offer to its close, beside others, up to the agent's
capacity for that channel (services.routing.capacity). An agent is in a queue's lists only if its
profile takes the queue's channel, and is available there while it has room for one more.

**Indexes.** At contact-centre scale (thousands of agents, hundreds waiting) nothing on the event
path may look at every agent or every contact:

- per queue, the ready agents it may use who are not reserved, sorted by its strategy's key (for
  longest idle: ready since, then -proficiency, then agent id): the agent the queue prefers is the head
  of its list, and adding, removing or choosing one costs O(log n). An agent is in the lists of every
  queue it fits, which is found once per change of the agent (O(queues));
- waiting contacts per queue, sorted by priority with ageing, then arrival, then contact id
  (`QueueRule.order_key`): the next contact of a queue is the head of its list;
- per queue, how many of the agents it may use are in each status (ready, reserved, on contact,
  wrap-up, not ready): a decision's skipped counts and the queue metrics' staffing are O(1);
- the queues an event touched (a contact joined, an agent became available): `dispatch` looks at those
  only. After every dispatch no queue has both an available agent and a waiting contact, so a queue no
  event touched has nothing to match.

Defining or changing a queue's rule re-indexes every agent for it, O(agents): rare, and an admin's act.

**Entries.** The board is stored as small entries (an agent's seat, an agent's day, a contact in queue,
a talk, a callback out of its queue, a queue's tally, a queue's rule, the day, a source mark), keyed
`<tenant>/<kind>/<id>`. The board records which entries each event changed (`take_changelog`), so the
stream worker writes those few records and never the board; `restore` rebuilds a board and its indexes
from the entries.

**Duplicates, by source offsets.** Events reach the board at least once, and can come again in two
ways; neither is found by time:

- The repartitioning step forwards a source record again after a crash: the same source record at a
  new board-input offset. Every forwarded record names its source (topic, partition, offset). The
  records of one source partition reach a tenant's board in order (one source partition is read in
  order and forwarded to the tenant's one board partition), so the board keeps, per source partition,
  the highest offset it applied: an event at or below it is a duplicate.
- A board-input record is processed again after a crash that flushed only some of its changelog
  records. Re-applying the event to a board restored from a mix of old and new entries would count
  part of it twice (a tally, say). So an event that changes two entries or more first writes one
  `redo` record holding all of its changes, then the entries. A record is written whole or not at
  all, and an idempotent producer writes the records of one partition in order without gaps, so
  after a crash the changelog holds either nothing of the event (it is redelivered and applied
  afresh) or its redo record, from which `restore` completes the event, its source mark included
  (so the redelivered event is a duplicate). The entries a redo completed are written again with the
  next change set, because the next redo record replaces this one.
"""

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2
from cc.telephony.v1 import events_pb2 as call_events
from sortedcontainers import SortedList

from services.common.calendar import day_at
from services.common.envelope import to_datetime
from services.routing.capacity import DEFAULT_CAPACITY, VOICE, capacity_of
from services.routing.rules import (
    DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS,
    QueueRule,
    Strategy,
    Target,
    implicit_rule,
    rule_of,
    targets,
)

READY = events_pb2.AGENT_STATE_READY
NOT_READY = events_pb2.AGENT_STATE_NOT_READY
ON_CONTACT = events_pb2.AGENT_STATE_ON_CONTACT
WRAP_UP = events_pb2.AGENT_STATE_WRAP_UP
# An agent's status for routing: whether it can take a contact that needs one of its skills, or why not.
STATUS_READY = "ready"
STATUS_RESERVED = "reserved"
STATUS_ON_CONTACT = "on-contact"
STATUS_WRAP_UP = "wrap-up"
STATUS_NOT_READY = "not-ready"
BUSY_STATUSES = (STATUS_RESERVED, STATUS_ON_CONTACT, STATUS_WRAP_UP, STATUS_NOT_READY)
_STATUS_OF_STATE: dict[int, str] = {
    READY: STATUS_READY,
    ON_CONTACT: STATUS_ON_CONTACT,
    WRAP_UP: STATUS_WRAP_UP,
}
REDO = "redo"
# Restored in this order (queues before all), so that an agent's day exists before its seat is indexed.
_RESTORE_ORDER = {"agent-day": 0}


@dataclass
class AgentSeat:
    agent_id: str
    site_id: str
    skills: dict[str, int]
    state: int
    ready_since: float | None = None
    # The contact this agent has been chosen for and is ringing for.
    reserved_for: str = ""
    # The contact the agent is talking on or wrapping up.
    contact_id: str = ""
    # When the agent took its current status (its time in each status today is in its AgentDay).
    status_since: float = 0.0
    # Contacts at once per channel, and the channels it takes nothing else beside (RT-7,
    # services.routing.capacity). Replaced, never changed in place, like its skills.
    capacity: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    exclusive: list[str] = field(default_factory=list)
    # The contacts of channels other than voice it holds, offered or accepted: contact id -> channel.
    # A voice call is `reserved_for`, then the agent's state; these leave its state as it is.
    contacts: dict[str, str] = field(default_factory=dict)

    @property
    def voice_status(self) -> str:
        """For calls: ready, reserved, on-contact, wrap-up or not-ready (any other state)."""
        if self.reserved_for:
            return STATUS_RESERVED
        return _STATUS_OF_STATE.get(self.state, STATUS_NOT_READY)

    @property
    def status(self) -> str:
        """What the agent is doing: its voice status, but on-contact, not ready, while it holds a
        contact of another channel (its time in each status, its occupancy, count it so)."""
        status = self.voice_status
        return STATUS_ON_CONTACT if status == STATUS_READY and self.contacts else status

    def holds(self, channel: str) -> int:
        """How many contacts of the channel it holds."""
        if channel == VOICE:
            return 0 if self.voice_status in (STATUS_READY, STATUS_NOT_READY) else 1
        return sum(1 for held in self.contacts.values() if held == channel)

    def status_for(self, channel: str) -> str:
        """Its status for contacts of one channel: ready when it may be offered one now; else why not
        (the voice status that blocks it, or on-contact when it is full or holds an exclusive channel)."""
        voice = self.voice_status
        if voice == STATUS_NOT_READY:
            return voice
        if channel == VOICE:
            return STATUS_ON_CONTACT if voice == STATUS_READY and self._blocked(VOICE) else voice
        if voice != STATUS_READY and VOICE in self.exclusive:
            return voice
        if self._blocked(channel) or self.holds(channel) >= self.capacity.get(channel, 0):
            return STATUS_ON_CONTACT
        return STATUS_READY

    def _blocked(self, channel: str) -> bool:
        """It holds a contact of another channel that is exclusive."""
        return any(held != channel and held in self.exclusive for held in self.contacts.values())


@dataclass
class AgentDay:
    """What the strategies that share work out (RT-3) count per agent, kept across log-outs: contacts
    answered and talk time today, and when routing last chose the agent."""

    contacts: int = 0
    talk_seconds: float = 0.0
    last_routed_at: float = 0.0
    # Time in each status today (RTM-2), up to the agent's latest change of status.
    ready_seconds: float = 0.0
    reserved_seconds: float = 0.0
    on_contact_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    not_ready_seconds: float = 0.0

    def seconds_in(self, status: str) -> float:
        return float(getattr(self, _SECONDS_IN[status]))

    def add(self, status: str, seconds: float) -> None:
        setattr(self, _SECONDS_IN[status], self.seconds_in(status) + seconds)

    def start_again(self) -> None:
        """A new day: every count from zero (when routing last chose the agent is no count)."""
        fresh = AgentDay(last_routed_at=self.last_routed_at)
        vars(self).update(vars(fresh))


_SECONDS_IN = {
    STATUS_READY: "ready_seconds",
    STATUS_RESERVED: "reserved_seconds",
    STATUS_ON_CONTACT: "on_contact_seconds",
    STATUS_WRAP_UP: "wrap_up_seconds",
    STATUS_NOT_READY: "not_ready_seconds",
}


@dataclass
class WaitingContact:
    contact_id: str
    queue_id: str
    required_skill: str
    priority: int
    enqueued_at: float
    customer_id: str
    correlation_id: str
    # How many times routing has chosen an agent for this contact (a RONA re-queue adds one).
    routings: int = 0
    # The latest choice: which agent (empty while waiting), when, and whether its phone has rung since.
    agent_id: str = ""
    routed_at: float = 0.0
    rung: bool = False
    # How far its queue's target has widened (RT-5): 0 for the queue's own; PREFERRED while it waits
    # for `preferred_agent`: the customer's last agent (RT-6) or the agent it was transferred to (TEL-1).
    step: int = 0
    preferred_agent: str = ""
    # How long it waits for `preferred_agent` before its queue takes it: 0 for the queue's last-agent
    # wait; TRANSFER_WAIT_SECONDS for a transfer.
    preferred_wait_seconds: int = 0
    # A callback keeping its caller's place (TEL-5): the queue's "scheduled" counts it.
    callback: bool = False


@dataclass
class ScheduledCallback:
    """A callback out of its queue until its reserved slot or its next attempt (TEL-5)."""

    queue_id: str


@dataclass
class LastAgent:
    """Who last answered a customer, and when (RT-6)."""

    agent_id: str
    answered_at: float


@dataclass
class QueueTally:
    """One day's counters for one queue, the inputs of the RTM-1 formulas in `metrics`."""

    day: str = ""
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    # Contacts removed from the queue (answered or abandoned), and those removed within the SL threshold.
    removed: int = 0
    removed_within_threshold: int = 0
    answer_wait_total: float = 0.0
    handled: int = 0
    handle_time_total: float = 0.0


@dataclass
class Talk:
    queue_id: str
    answered_at: float
    agent_id: str = ""
    # Set when the call ends: talk time is answered to ended, handle time runs on to the end of wrap-up.
    ended_at: float | None = None


@dataclass(frozen=True)
class SourcePosition:
    """Where an event was read from: the records of one source partition arrive in offset order."""

    topic: str
    partition: int
    offset: int

    @property
    def partition_key(self) -> str:
        return f"{self.topic}/{self.partition}"


def entry_key(tenant_id: str, kind: str, ident: str = "") -> str:
    """`<tenant>/<kind>/<id>`; the tenant is quoted so that a '/' in it cannot shift the parts."""
    return _entry_key(quote(tenant_id, safe=""), kind, ident)


def _entry_key(quoted_tenant: str, kind: str, ident: str) -> str:
    return f"{quoted_tenant}/{kind}/{ident}"


def parse_entry_key(key: str) -> tuple[str, str, str]:
    tenant, kind, ident = key.split("/", 2)
    return unquote(tenant), kind, ident


def entries_by_tenant(items: Iterable[tuple[str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    tenants: dict[str, list[tuple[str, Any]]] = {}
    for key, value in items:
        tenants.setdefault(parse_entry_key(key)[0], []).append((key, value))
    return tenants


# CallQueued.reason of a call its agent transferred (telephony's words, TEL-1), and of a callback
# back in its queue at its reserved slot or for its next attempt (TEL-5).
TRANSFERRED = "transferred"
CALLBACK_RETURNS = frozenset({"callback-slot", "callback-retry"})
# How long a call transferred to an agent waits for that agent before anyone in its queue may take it
# (TEL-1): about two rings of an agent finishing a wrap-up, as a supervisor expects a transfer to reach.
TRANSFER_WAIT_SECONDS = 30

# A queue at one step of its expanding target (services.routing.rules): (queue id, step); or one agent
# for the contacts that wait for it as their customer's last agent: (agent id, PREFERRED).
Pool = tuple[str, int]
PREFERRED = -1


@dataclass(eq=False)
class _Indexes:
    """Derived from the queues, seats and waiting contacts; never stored."""

    targets: dict[Pool, Target] = field(default_factory=dict)  # every queue at every step
    available: dict[Pool, SortedList] = field(default_factory=dict)  # rank keys of its ready agents
    lines: dict[Pool, SortedList] = field(default_factory=dict)  # order keys of its contacts
    staffing: dict[Pool, Counter[str]] = field(default_factory=dict)  # status -> agents
    fits: dict[str, dict[Pool, int]] = field(default_factory=dict)  # agent -> pool -> fit
    # contact -> the pool whose line it is in, and its order key there
    line_keys: dict[str, tuple[Pool, tuple[float, float, str]]] = field(default_factory=dict)
    touched: set[Pool] = field(default_factory=set)  # pools that may have a match


@dataclass
class Board:
    tenant_id: str
    service_level_threshold_seconds: int = DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS
    queues: dict[str, QueueRule] = field(default_factory=dict)  # queue id -> its rule
    agents: dict[str, AgentSeat] = field(default_factory=dict)
    agent_days: dict[str, AgentDay] = field(default_factory=dict)
    last_agents: dict[str, LastAgent] = field(default_factory=dict)  # customer id -> its last agent
    waiting: dict[str, WaitingContact] = field(default_factory=dict)
    routed: dict[str, WaitingContact] = field(default_factory=dict)  # chosen an agent, not yet answered
    talking: dict[str, Talk] = field(default_factory=dict)  # answered, handle time not yet complete
    scheduled: dict[str, ScheduledCallback] = field(default_factory=dict)  # callbacks out of their queue
    # contact id -> how many times routing chose an agent for it, until it ends: a contact that comes
    # back to a queue after an agent had it (a transfer, a callback's retry) counts on, so each decision
    # has an id and a version of its own, whatever order its call and agent events arrive in.
    routings_so_far: dict[str, int] = field(default_factory=dict)
    tallies: dict[str, QueueTally] = field(default_factory=dict)
    day: str = ""
    # source partition ("topic/partition") -> the highest offset applied from it.
    sources: dict[str, int] = field(default_factory=dict)
    _index: _Indexes = field(default_factory=_Indexes, repr=False, compare=False)
    # (kind, id) of the entries changed since the last `take_changelog`.
    _changed: set[tuple[str, str]] = field(default_factory=set, repr=False, compare=False)
    # Quoting the tenant once, not for every key, saves a third of `take_changelog` (bench/board.py).
    _quoted_tenant: str = field(init=False, repr=False, compare=False)
    # The time of the event being folded, or of the latest dispatch: when a seat's status changes.
    clock: float = field(default=0.0, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._quoted_tenant = quote(self.tenant_id, safe="")
        self._build_targets()

    def _build_targets(self) -> None:
        self._index.targets = {
            (queue_id, step): target
            for queue_id, rule in self.queues.items()
            for step, target in enumerate(targets(rule, self.queues))
        }

    def _key(self, kind: str, ident: str = "") -> str:
        return _entry_key(self._quoted_tenant, kind, ident)

    # ---- reading the indexes ---------------------------------------------------------------------

    def threshold(self, queue_id: str) -> int:
        """The queue's service-level threshold in seconds."""
        rule = self.queues.get(queue_id)
        return rule.service_level_threshold_seconds if rule else self.service_level_threshold_seconds

    def pool_of(self, contact: WaitingContact) -> Pool:
        """The contact's queue at its step (a step its queue no longer has is the queue's last), or its
        customer's last agent while it waits for that agent."""
        if contact.step == PREFERRED:
            return (contact.preferred_agent, PREFERRED)
        return (contact.queue_id, min(contact.step, self.queues[contact.queue_id].last_step))

    def target(self, pool: Pool) -> Target:
        if pool[1] == PREFERRED:
            return Target((), f"agent {pool[0]}, whom it waits for")
        return self._index.targets[pool]

    def available(self, queue_id: str, step: int = 0) -> Iterator[AgentSeat]:
        """Ready, unreserved agents the queue may use at the step, the one its strategy prefers first."""
        return (self.agents[key[-1]] for key in self._index.available.get((queue_id, step), ()))

    def fit(self, agent_id: str, queue_id: str, step: int = 0) -> int | None:
        """How well a seated agent fits a queue at a step (`Target.fit`); None when it may not use it."""
        return self._index.fits.get(agent_id, {}).get((queue_id, step))

    def staffing(self, queue_id: str, step: int = 0) -> Mapping[str, int]:
        """Agents the queue may use at the step, by status (ready, reserved, on-contact, wrap-up,
        not-ready); step 0, its own target, is what the queue metrics count."""
        return self._index.staffing.get((queue_id, step), Counter())

    def ahead_of(self, contact: WaitingContact) -> int:
        """How many waiting contacts routing serves before this one from the agents it may use: those in
        its line and in every line with the same target (which share those agents, in one order).
        O(lines x log n)."""
        lined = self._index.line_keys.get(contact.contact_id)
        if lined is None:
            return 0
        pool, key = lined
        if pool[1] == PREFERRED:
            return self._index.lines[pool].bisect_left(key)
        same = [rule.target for rule in self.target(pool).rules]
        return sum(
            line.bisect_left(key)
            for pool, line in self._index.lines.items()
            if [rule.target for rule in self.target(pool).rules] == same
        )

    def next_match(self) -> tuple[WaitingContact, AgentSeat] | None:
        """The contact to serve next (the lowest order key across every touched pool that has an
        available agent) and the agent its queue prefers at the contact's step; None once nothing
        matches."""
        best: tuple[tuple[float, float, str], Pool] | None = None
        for pool in list(self._index.touched):
            agents, line = self._index.available.get(pool), self._index.lines.get(pool)
            if not agents or not line:
                self._index.touched.discard(pool)
                continue
            if best is None or line[0] < best[0]:
                best = (line[0], pool)
        if best is None:
            return None
        (_, _, contact_id), pool = best
        return self.waiting[contact_id], self.agents[self._index.available[pool][0][-1]]

    def due_expansions(self, now: float) -> list[tuple[WaitingContact, int]]:
        """Waiting contacts whose target is due to widen by `now`, with the step each reaches: O(waiting)."""
        due = []
        for contact in self.waiting.values():
            rule = self.queues[contact.queue_id]
            step = contact.step
            while step < rule.last_step and now - contact.enqueued_at >= _step_starts(
                contact, rule, step + 1
            ):
                step += 1
            if step > contact.step:
                due.append((contact, step))
        return due

    def _rank_key(self, seat: AgentSeat, rule: QueueRule, fit: int) -> tuple[float | int | str, ...]:
        """The queue's strategy's order of its available agents (RT-3), first preferred; the agent id
        last, so ties are deterministic and the key names its agent."""
        # An agent on a call that may take a chat beside it has no ready_since: after those that do.
        idle_since = math.inf if seat.ready_since is None else seat.ready_since
        day = self.agent_days.get(seat.agent_id) or AgentDay()
        match rule.strategy:
            case Strategy.MOST_SKILLED:
                return (-fit, idle_since, seat.agent_id)
            case Strategy.ROUND_ROBIN:
                return (day.last_routed_at, seat.agent_id)
            case Strategy.FEWEST_CONTACTS:
                return (day.contacts, idle_since, seat.agent_id)
            case Strategy.LEAST_TALK_TIME:
                return (day.talk_seconds, idle_since, seat.agent_id)
        return (idle_since, -fit, seat.agent_id)

    # ---- changing the board (every change marks its entry) ----------------------------------------

    def _mark(self, kind: str, ident: str = "") -> None:
        self._changed.add((kind, ident))

    def channel_of(self, pool: Pool) -> str:
        """The channel of the pool's contacts (a last agent's pool is for calls)."""
        return VOICE if pool[1] == PREFERRED else self._index.targets[pool].channel

    def _add_to_indexes(self, seat: AgentSeat) -> None:
        fits = self._index.fits[seat.agent_id] = {
            pool: fit
            for pool, target in self._index.targets.items()
            if seat.capacity.get(target.channel, 0) > 0
            and (fit := target.fit(seat.skills, seat.site_id)) is not None
        }
        if seat.capacity.get(VOICE, 0):
            fits[(seat.agent_id, PREFERRED)] = 0  # its own pool, for calls waiting for it (RT-6)
        statuses: dict[str, str] = {}  # channel -> the seat's status for it
        for pool, fit in fits.items():
            channel = self.channel_of(pool)
            status = statuses.get(channel) or statuses.setdefault(channel, seat.status_for(channel))
            self._index.staffing.setdefault(pool, Counter())[status] += 1
            if status == STATUS_READY:
                self._index.available.setdefault(pool, SortedList()).add(self._pool_rank_key(seat, pool, fit))
                self._index.touched.add(pool)

    def _remove_from_indexes(self, seat: AgentSeat) -> None:
        """Undo `_add_to_indexes`: nothing a status or a rank key reads may have changed in between."""
        statuses: dict[str, str] = {}
        for pool, fit in self._index.fits.pop(seat.agent_id, {}).items():
            channel = self.channel_of(pool)
            status = statuses.get(channel) or statuses.setdefault(channel, seat.status_for(channel))
            self._index.staffing[pool][status] -= 1
            if status == STATUS_READY:
                self._index.available[pool].remove(self._pool_rank_key(seat, pool, fit))

    def _pool_rank_key(self, seat: AgentSeat, pool: Pool, fit: int) -> tuple[float | int | str, ...]:
        """A queue's strategy's key, after (for channels other than voice) the contacts of the channel the
        agent holds already, so that work spreads over agents with room (RT-7)."""
        if pool[1] == PREFERRED:
            return (seat.agent_id,)
        rule = self.queues[pool[0]]
        key = self._rank_key(seat, rule, fit)
        return key if rule.channel == VOICE else (seat.holds(rule.channel), *key)

    def seat_in(self, seat: AgentSeat) -> None:
        """An agent logs in (a repeated log-in replaces the seat)."""
        self.seat_out(seat.agent_id)
        self.agents[seat.agent_id] = seat
        self._add_to_indexes(seat)
        self._mark("seat", seat.agent_id)

    def seat_out(self, agent_id: str) -> AgentSeat | None:
        seat = self.agents.pop(agent_id, None)
        if seat is not None:
            self._remove_from_indexes(seat)
            self._count_status_time(seat, seat.status)
            self._mark("seat", agent_id)
        return seat

    @contextmanager
    def seat_change(self, seat: AgentSeat) -> Iterator[AgentSeat]:
        """Change a seat inside the block: it leaves the indexes first and rejoins them after. A change
        of status counts the time spent in the one it leaves."""
        status = seat.status
        self._remove_from_indexes(seat)
        try:
            yield seat
        finally:
            self._add_to_indexes(seat)
            if seat.status != status:
                self._count_status_time(seat, status)
            self._mark("seat", seat.agent_id)

    def _count_status_time(self, seat: AgentSeat, status: str) -> None:
        """Add the time since the seat took `status` to the agent's day; the seat's new status starts now."""
        if seat.status_since:
            self.agent_days.setdefault(seat.agent_id, AgentDay()).add(
                status, max(0.0, self.clock - seat.status_since)
            )
            self._mark("agent-day", seat.agent_id)
        seat.status_since = self.clock

    @contextmanager
    def day_change(self, agent_id: str) -> Iterator[AgentDay]:
        """Change an agent's day inside the block (its seat, if seated, re-indexed around it)."""
        day = self.agent_days.setdefault(agent_id, AgentDay())
        seat = self.agents.get(agent_id)
        if seat is None:
            yield day
        else:
            with self.seat_change(seat):
                yield day
        self._mark("agent-day", agent_id)

    def _line_up(self, contact: WaitingContact) -> None:
        rule, pool = self.queues[contact.queue_id], self.pool_of(contact)
        key = rule.order_key(contact.priority, contact.enqueued_at, contact.contact_id)
        self._index.line_keys[contact.contact_id] = (pool, key)
        self._index.lines.setdefault(pool, SortedList()).add(key)
        self._index.touched.add(pool)

    def _leave_line(self, contact: WaitingContact) -> None:
        pool, key = self._index.line_keys.pop(contact.contact_id)
        line = self._index.lines[pool]
        line.remove(key)
        if not line:
            del self._index.lines[pool]

    def expand(self, contact: WaitingContact, step: int) -> None:
        """Widen a waiting contact's target to `step` (RT-5); it keeps its place in its queue's order."""
        self._leave_line(contact)
        contact.step = step
        self._line_up(contact)
        self._mark("contact", contact.contact_id)

    def enqueue(self, contact: WaitingContact) -> None:
        """A contact joins its queue's line; the queue must have a rule (`learn_queue`)."""
        self.waiting[contact.contact_id] = contact
        self._line_up(contact)
        self._mark("contact", contact.contact_id)

    def dequeue(self, contact_id: str) -> WaitingContact | None:
        """Take a contact out of the waiting lines (to route it, or because it left)."""
        contact = self.waiting.pop(contact_id, None)
        if contact is not None:
            self._leave_line(contact)
            self._mark("contact", contact_id)
        return contact

    def route(self, contact: WaitingContact, seat: AgentSeat, now: float) -> None:
        """Reserve `seat` for `contact`: the contact leaves the waiting lines, the agent's phone will ring."""
        self.dequeue(contact.contact_id)
        contact.routings += 1
        self.count_routings(contact)
        contact.agent_id, contact.routed_at, contact.rung = seat.agent_id, now, False
        self.routed[contact.contact_id] = contact
        self.clock = now
        channel = self.queues[contact.queue_id].channel
        with self.day_change(seat.agent_id) as day:
            if channel == VOICE:
                seat.reserved_for = contact.contact_id
            else:  # it holds the contact from the offer on (RT-7)
                seat.contacts = {**seat.contacts, contact.contact_id: channel}
            day.last_routed_at = now

    def unroute(self, contact_id: str) -> WaitingContact | None:
        """A routed contact leaves routing (answered, ended, re-queued): its agent is no longer reserved."""
        contact = self.routed.pop(contact_id, None)
        if contact is not None:
            self._mark("contact", contact_id)
            seat = self.agents.get(contact.agent_id)
            if seat is not None and seat.reserved_for == contact_id:
                with self.seat_change(seat):
                    seat.reserved_for = ""
        return contact

    def held_by(self, agent_id: str) -> dict[str, str]:
        """The contacts of channels other than voice an agent was offered or took and that are not over
        (contact id -> channel), from the routed contacts and the talks: O(routed + talking), on log-in."""
        held = {c.contact_id: c.queue_id for c in self.routed.values() if c.agent_id == agent_id}
        held.update((cid, talk.queue_id) for cid, talk in self.talking.items() if talk.agent_id == agent_id)
        return {
            cid: self.queues[queue_id].channel
            for cid, queue_id in held.items()
            if queue_id in self.queues and self.queues[queue_id].channel != VOICE
        }

    def release(self, agent_id: str, contact_id: str) -> None:
        """The agent no longer holds a contact of a channel other than voice (declined or closed)."""
        seat = self.agents.get(agent_id)
        if seat is not None and contact_id in seat.contacts:
            with self.seat_change(seat):
                seat.contacts = {held: ch for held, ch in seat.contacts.items() if held != contact_id}

    def mark_contact(self, contact_id: str) -> None:
        """A waiting or routed contact changed in place."""
        self._mark("contact", contact_id)

    def mark_rung(self, contact_id: str) -> None:
        contact = self.routed.get(contact_id)
        if contact is not None:
            contact.rung = True
            self._mark("contact", contact_id)

    def learn_queue(self, queue_id: str, skill: str, channel: str = VOICE) -> None:
        """A queue met in a CallQueued or ContactQueued: one not defined over the API gets the implicit
        rule, for the channel of the contact it was met with."""
        if queue_id not in self.queues:
            self.set_rule(implicit_rule(queue_id, skill, self.service_level_threshold_seconds, channel))

    def set_rule(self, rule: QueueRule) -> None:
        """Define or change a queue: every seat is re-indexed (a queue's targets can name another queue,
        as its overflow), its waiting contacts lined up again by its new order. O(agents x pools): an
        admin's act, not a contact's."""
        seats = list(self.agents.values())
        waiting = [c for c in self.waiting.values() if c.queue_id == rule.queue_id]
        for seat in seats:
            self._remove_from_indexes(seat)
        for contact in waiting:
            self._leave_line(contact)
        self._move_day(rule)
        self.queues[rule.queue_id] = rule
        self._build_targets()
        self._mark("queue", rule.queue_id)
        for seat in seats:
            self._add_to_indexes(seat)
        for contact in waiting:
            self._line_up(contact)

    def queue_day(self, queue_id: str, at: float) -> str:
        """The queue's day at `at`, in its time zone (a queue not defined as data counts in UTC)."""
        rule = self.queues.get(queue_id)
        return rule.day_at(at) if rule is not None else day_at(at, "")

    def _move_day(self, rule: QueueRule) -> None:
        """A queue moved to another time zone keeps today's counts as the day it is now there: they
        roll over at its next midnight in the new zone (a move west would otherwise leave a tally dated
        ahead of the new zone's today, which would not reset for a day)."""
        tally = self.tallies.get(rule.queue_id)
        was, now = self.queue_day(rule.queue_id, self.clock), rule.day_at(self.clock)
        if tally is None or was == now:
            return
        # today's counts carry on into the new zone's today; an earlier day's are over either way
        self.tallies[rule.queue_id] = QueueTally(day=now) if tally.day < was else replace(tally, day=now)
        self._mark("tally", rule.queue_id)

    def tally(self, queue_id: str) -> QueueTally:
        """Today's tally of a queue, to change: a tally of an earlier day (in the queue's time zone)
        starts again from zero; a late event stamped before its midnight does not take the day back."""
        day = self.queue_day(queue_id, self.clock)
        tally = self.tallies.get(queue_id)
        if tally is None or tally.day < day:
            tally = self.tallies[queue_id] = QueueTally(day=day)
        self._mark("tally", queue_id)
        return tally

    def start_talk(self, contact_id: str, talk: Talk) -> None:
        self.talking[contact_id] = talk
        self._mark("talk", contact_id)

    def end_talk(self, contact_id: str) -> Talk | None:
        talk = self.talking.pop(contact_id, None)
        if talk is not None:
            self._mark("talk", contact_id)
        return talk

    def reach_day(self, day: str) -> None:
        """Agents' days (RTM-2) are UTC days; a late event stamped before midnight does not take the day
        back. They start again from zero: O(agents), once a day. (Queues count in their own time zone.)"""
        if day > self.day:
            self.day = day
            self._mark("day")
            midnight = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
            for agent_id, counted in list(self.agent_days.items()):
                if counted != AgentDay(last_routed_at=counted.last_routed_at):
                    with self.day_change(agent_id) as fresh:
                        fresh.start_again()
            for seat in self.agents.values():  # time before midnight was yesterday's
                if seat.status_since < midnight:
                    seat.status_since = midnight
                    self._mark("seat", seat.agent_id)
            self._forget_last_agents(midnight)

    def remember_last_agent(self, customer_id: str, agent_id: str, at: float) -> None:
        self.last_agents[customer_id] = LastAgent(agent_id, at)
        self._mark("last-agent", customer_id)

    def last_agent_for(self, customer_id: str, rule: QueueRule, at: float) -> str:
        """The customer's last agent if the queue prefers it (RT-6), it answered the customer within the
        queue's window and it is logged in; else ""."""
        if not rule.last_agent_window_seconds or not customer_id or rule.channel != VOICE:
            return ""
        last = self.last_agents.get(customer_id)
        if last is None or at - last.answered_at > rule.last_agent_window_seconds:
            return ""
        return last.agent_id if self.takes_calls(last.agent_id) else ""

    def schedule(self, contact_id: str, callback: ScheduledCallback) -> None:
        self.scheduled[contact_id] = callback
        self._mark("scheduled", contact_id)

    def unschedule(self, contact_id: str) -> ScheduledCallback | None:
        callback = self.scheduled.pop(contact_id, None)
        if callback is not None:
            self._mark("scheduled", contact_id)
        return callback

    def count_routings(self, contact: WaitingContact) -> None:
        self.routings_so_far[contact.contact_id] = contact.routings
        self._mark("routings", contact.contact_id)

    def forget_routings(self, contact_id: str) -> None:
        if self.routings_so_far.pop(contact_id, None) is not None:
            self._mark("routings", contact_id)

    def takes_calls(self, agent_id: str) -> bool:
        """Whether the agent is logged in with room for calls: whether a call may wait for it."""
        seat = self.agents.get(agent_id)
        return seat is not None and seat.capacity.get(VOICE, 0) > 0

    def _forget_last_agents(self, midnight: float) -> None:
        """Once a day, drop the customers' last agents older than every queue's window: O(customers)."""
        window = max((rule.last_agent_window_seconds for rule in self.queues.values()), default=0)
        for customer_id, last in list(self.last_agents.items()):
            if midnight - last.answered_at > window:
                del self.last_agents[customer_id]
                self._mark("last-agent", customer_id)

    def record_source(self, source: SourcePosition) -> bool:
        """False when this source record (or a later one of its partition) was applied already."""
        key = source.partition_key
        if source.offset <= self.sources.get(key, -1):
            return False
        self.sources[key] = source.offset
        self._mark("source", key)
        return True

    # ---- entries ---------------------------------------------------------------------------------

    def _entry(self, kind: str, ident: str) -> Any:
        """The stored form of one entry; None when it no longer exists."""
        found: Any
        if kind == "seat":
            found = self.agents.get(ident)
        elif kind == "contact":
            found = self.waiting.get(ident) or self.routed.get(ident)
        elif kind == "talk":
            found = self.talking.get(ident)
        elif kind == "scheduled":
            found = self.scheduled.get(ident)
        elif kind == "tally":
            found = self.tallies.get(ident)
        elif kind == "agent-day":
            found = self.agent_days.get(ident)
        elif kind == "last-agent":
            found = self.last_agents.get(ident)
        elif kind == "queue":
            rule = self.queues.get(ident)
            return None if rule is None else rule.to_entry()
        elif kind == "day":
            return self.day
        elif kind == "source":
            return self.sources.get(ident)
        elif kind == "routings":
            return self.routings_so_far.get(ident)
        else:
            raise ValueError(f"unknown board entry kind {kind!r}")
        # A shallow copy is the whole entry: its fields are plain values, and a seat's skills are
        # never changed in place (a new log-in makes a new seat). `asdict` deep-copies, many times slower.
        return None if found is None else dict(vars(found))

    def entries(self) -> dict[str, Any]:
        """Every entry of the board: what its changelog holds once compacted."""
        kinds: dict[str, Mapping[str, object]] = {
            "seat": self.agents,
            "contact": {**self.waiting, **self.routed},
            "talk": self.talking,
            "scheduled": self.scheduled,
            "tally": self.tallies,
            "agent-day": self.agent_days,
            "last-agent": self.last_agents,
            "queue": self.queues,
            "source": self.sources,
            "routings": self.routings_so_far,
        }
        keys = [(kind, ident) for kind, found in kinds.items() for ident in found]
        if self.day:
            keys.append(("day", ""))
        return {self._key(kind, ident): self._entry(kind, ident) for kind, ident in keys}

    def drop_changelog(self) -> None:
        """Forget the changes since the last `take_changelog`: a board nobody stores (the routing
        service's read model) would otherwise keep a mark for every contact it ever saw."""
        self._changed.clear()

    def take_changelog(self) -> list[tuple[str, Any]]:
        """The records to write for the changes since the last call, in order: a redo record holding
        all of them when there are two or more (see the module docstring), then each entry, None for
        one that no longer exists."""
        changes = {self._key(kind, ident): self._entry(kind, ident) for kind, ident in sorted(self._changed)}
        self._changed.clear()
        records = list(changes.items())
        if len(records) > 1:
            records.insert(0, (self._key(REDO), changes))
        return records

    @staticmethod
    def restore(
        tenant_id: str,
        entries: Iterable[tuple[str, Any]],
        queues: Mapping[str, QueueRule] | None = None,
        service_level_threshold_seconds: int = DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS,
    ) -> "Board":
        """A board from its stored entries (its tenant's only), completing the last event from its
        redo record. `queues` are the tenant's default queues, before any defined or learned."""
        stored: dict[tuple[str, str], Any] = {}
        for key, value in entries:
            _, kind, ident = parse_entry_key(key)
            stored[(kind, ident)] = value
        unflushed: set[tuple[str, str]] = set()
        for key, value in (stored.pop((REDO, ""), None) or {}).items():
            _, kind, ident = parse_entry_key(key)
            if stored.get((kind, ident)) != value:
                unflushed.add((kind, ident))
                stored[(kind, ident)] = value
        board = Board(tenant_id, service_level_threshold_seconds, queues=dict(queues or {}))
        board.queues.update(
            (ident, QueueRule.from_entry(value))
            for (kind, ident), value in stored.items()
            if kind == "queue" and value is not None
        )
        board._build_targets()  # before any seat or contact is indexed
        ordered = sorted(stored.items(), key=lambda item: (_RESTORE_ORDER.get(item[0][0], 2), item[0]))
        for (kind, ident), value in ordered:
            if value is None:
                continue
            if kind == "seat":
                board.seat_in(AgentSeat(**value))
            elif kind == "contact":
                contact = WaitingContact(**value)
                if contact.agent_id:
                    board.routed[ident] = contact
                else:
                    board.enqueue(contact)
            elif kind == "talk":
                board.talking[ident] = Talk(**value)
            elif kind == "scheduled":
                board.scheduled[ident] = ScheduledCallback(**value)
            elif kind == "tally":
                board.tallies[ident] = QueueTally(**value)
            elif kind == "agent-day":
                board.agent_days[ident] = AgentDay(**value)
            elif kind == "last-agent":
                board.last_agents[ident] = LastAgent(**value)
            elif kind == "queue":
                continue  # restored first, below
            elif kind == "day":
                board.day = value
            elif kind == "source":
                board.sources[ident] = value
            elif kind == "routings":
                board.routings_so_far[ident] = value
        board._changed = unflushed
        return board


def _step_starts(contact: WaitingContact, rule: QueueRule, step: int) -> int:
    """`QueueRule.step_starts`, but a transferred contact's own wait for its agent ends step PREFERRED."""
    if step == 0 and contact.preferred_wait_seconds:
        return contact.preferred_wait_seconds
    return rule.step_starts(step)


def apply(board: Board, event: event_pb2.Event, source: SourcePosition) -> bool:
    """Fold one call or agent event (or a routing decision, see `_contact_routed`) into the board;
    False when it is a duplicate (see the module docstring) or of a kind the board does not fold."""
    fold = _FOLD.get(event.WhichOneof("payload") or "")
    if fold is None or not board.record_source(source):
        return False
    at = to_datetime(event.occurred_at)
    board.clock = at.timestamp()
    board.reach_day(at.astimezone(UTC).date().isoformat())
    fold(board, event, at.timestamp())
    return True


def _queued(board: Board, event: event_pb2.Event, at: float) -> None:
    _join(board, event, at, event.call_queued, VOICE)


def _contact_queued(board: Board, event: event_pb2.Event, at: float) -> None:
    _join(board, event, at, event.contact_queued, event.contact_queued.channel)


def _join(
    board: Board,
    event: event_pb2.Event,
    at: float,
    queued: call_events.CallQueued | events_pb2.ContactQueued,
    channel: str,
) -> None:
    """A contact joins its queue, or goes back to it (ring no answer, declined)."""
    earlier = board.unroute(event.aggregate_id)
    board.dequeue(event.aggregate_id)
    # A contact of another channel names a queue an admin defined, which the board may meet after it.
    skill = queued.required_skill if isinstance(queued, call_events.CallQueued) else queued.queue_id
    board.learn_queue(queued.queue_id, skill, channel)
    wait, callback = 0, earlier is not None and earlier.callback
    reason, to_agent = ("", "")
    if isinstance(queued, call_events.CallQueued):
        reason, to_agent = queued.reason, queued.agent_id
    if reason in CALLBACK_RETURNS:  # back in its queue, at the place it kept or its slot's
        board.unschedule(event.aggregate_id)
        preferred, step, callback = "", 0, True
    elif reason == TRANSFERRED:
        # a transfer waits for the agent it names (not the last agent: that is who transferred it)
        preferred = to_agent if board.takes_calls(to_agent) else ""
        step, wait = (PREFERRED, TRANSFER_WAIT_SECONDS) if preferred else (0, 0)
    elif earlier is None:
        preferred = board.last_agent_for(event.customer_id, board.queues[queued.queue_id], at)
        step = PREFERRED if preferred else 0
    else:  # a RONA re-queue keeps its place and its target, unless it was its last agent who did not answer
        preferred, wait = earlier.preferred_agent, earlier.preferred_wait_seconds
        step = 0 if earlier.step == PREFERRED and earlier.agent_id == preferred else earlier.step
    routings = max(earlier.routings if earlier else 0, board.routings_so_far.get(event.aggregate_id, 0))
    board.enqueue(
        WaitingContact(
            contact_id=event.aggregate_id,
            queue_id=queued.queue_id,
            required_skill=skill,
            priority=queued.priority,
            enqueued_at=to_datetime(queued.enqueued_at).timestamp(),
            customer_id=event.customer_id,
            correlation_id=event.correlation_id,
            routings=routings,
            step=step,
            preferred_agent=preferred,
            preferred_wait_seconds=wait,
            callback=callback,
        )
    )
    if earlier is None and reason not in CALLBACK_RETURNS:  # a re-queue is the same offer, not a new one
        board.tally(queued.queue_id).offered += 1


def _ringing(board: Board, event: event_pb2.Event, at: float) -> None:
    """A call rings its agent, or a contact of another channel is offered to its agent."""
    board.mark_rung(event.aggregate_id)


def _declined(board: Board, event: event_pb2.Event, at: float) -> None:
    """The agent no longer holds it; the ContactQueued that follows puts it back in its queue. A ready
    agent that declined it or let its offer time out goes not ready, as after a call that rang
    unanswered (the agent service makes it so too), so that the contact is not offered straight back
    to it: the agent sets itself ready when it is. An agent on a call stays as it is."""
    declined = event.contact_declined
    board.release(declined.agent_id, event.aggregate_id)
    seat = board.agents.get(declined.agent_id)
    if seat is not None and seat.state == READY:
        with board.seat_change(seat):
            seat.state, seat.ready_since = NOT_READY, None


def _ring_no_answer(board: Board, event: event_pb2.Event, at: float) -> None:
    """A call rang unanswered, or its agent rejected it (the CallQueued that follows puts it back)."""
    missed = event.call_ring_no_answer if event.HasField("call_ring_no_answer") else event.call_rejected
    seat = board.agents.get(missed.agent_id)
    if seat is not None and seat.reserved_for == event.aggregate_id:
        # The agent service will make it not ready; mirror that now so the call is not offered to it again.
        with board.seat_change(seat):
            seat.reserved_for, seat.state, seat.ready_since = "", NOT_READY, None


def _answered(board: Board, event: event_pb2.Event, at: float) -> None:
    answered = event.call_answered
    seat = board.agents.get(answered.agent_id)
    if seat is not None:
        with board.seat_change(seat):
            seat.reserved_for, seat.state, seat.ready_since = "", ON_CONTACT, None
            seat.contact_id = event.aggregate_id
    _answer(board, event, at, answered)


def _outbound_connected(board: Board, event: event_pb2.Event, at: float) -> None:
    """The customer answered an agent's outbound call (TEL-8): a contact of the agent's day (RTM-2),
    its talk time from now to the call's end. It belongs to no queue."""
    agent_id = event.outbound_call_connected.agent_id
    with board.day_change(agent_id) as day:
        day.contacts += 1
    board.start_talk(event.aggregate_id, Talk("", at, agent_id))


def _accepted(board: Board, event: event_pb2.Event, at: float) -> None:
    """The agent took the contact it was offered; it has held it since the offer (`Board.route`)."""
    _answer(board, event, at, event.contact_accepted)


def _answer(
    board: Board,
    event: event_pb2.Event,
    at: float,
    answered: call_events.CallAnswered | events_pb2.ContactAccepted,
) -> None:
    """An agent answered a call or accepted a contact: its wait is over, its handling begins."""
    if answered.agent_id:
        with board.day_change(answered.agent_id) as day:
            day.contacts += 1
        # the customer's last agent is who answered their last call (RT-6 serves calls only)
        if event.customer_id and isinstance(answered, call_events.CallAnswered):
            board.remember_last_agent(event.customer_id, answered.agent_id, at)
    contact = board.unroute(event.aggregate_id) or board.dequeue(event.aggregate_id)
    board.start_talk(event.aggregate_id, Talk(answered.queue_id, at, answered.agent_id))
    if isinstance(answered, call_events.CallAnswered) and (
        answered.callback_attempt > 1 or answered.consulted
    ):
        # a callback's retry (answered from the queue once, at its first attempt), or a consulted agent
        # taking the call over (TEL-1): not answered from the queue
        return
    tally = board.tally(answered.queue_id)
    wait = (
        max(0.0, at - to_datetime(answered.enqueued_at).timestamp())
        if contact is None
        else at - contact.enqueued_at
    )
    tally.answered += 1
    tally.removed += 1
    tally.answer_wait_total += wait
    if wait <= board.threshold(answered.queue_id):
        tally.removed_within_threshold += 1


def _transferred(board: Board, event: event_pb2.Event, at: float) -> None:
    """The agent transferred the call (TEL-1) to a queue or an agent (the CallQueued that follows puts
    it there): its talk ends now, and the agent's handling of it (talk and wrap-up) is kept apart under
    `agent_talk_key`, as the next agent's talk takes the call's own key. A transfer to a number ends the
    call: its CallEnded ends the talk as any other end."""
    if event.call_transferred.target != call_events.TRANSFER_TARGET_NUMBER:
        _agent_leaves(board, event.aggregate_id, at)


def _agent_leaves(board: Board, contact_id: str, at: float) -> None:
    """The agent on a call leaves it while the call goes on: its talk ends now and waits under
    `agent_talk_key` for the agent's wrap-up to end."""
    talk = board.end_talk(contact_id)
    if talk is None:
        return
    talk.ended_at = at
    board.start_talk(agent_talk_key(contact_id, talk.agent_id), talk)
    if talk.agent_id:
        with board.day_change(talk.agent_id) as day:
            day.talk_seconds += max(0.0, at - talk.answered_at)


def _callback_requested(board: Board, event: event_pb2.Event, at: float) -> None:
    """A caller accepted a callback (TEL-5): it keeps their place, or leaves the queue until its
    reserved slot (with no agent reserved for it any more)."""
    contact = board.waiting.get(event.aggregate_id) or board.routed.get(event.aggregate_id)
    if not event.callback_requested.HasField("at"):
        if contact is not None:
            contact.callback = True
            board.mark_contact(contact.contact_id)
        return
    if board.unroute(event.aggregate_id) is None:
        board.dequeue(event.aggregate_id)
    board.schedule(event.aggregate_id, ScheduledCallback(event.callback_requested.queue_id))


def _callback_attempt_failed(board: Board, event: event_pb2.Event, at: float) -> None:
    """A callback's outbound leg failed: its agent leaves it, and it waits out of its queue for its next
    attempt (after the last, the CallEnded that follows ends it)."""
    failed = event.callback_attempt_failed
    if failed.HasField("retry_at"):
        _agent_leaves(board, event.aggregate_id, at)
        board.schedule(event.aggregate_id, ScheduledCallback(failed.queue_id))


def agent_talk_key(contact_id: str, agent_id: str) -> str:
    """Where a transferred call's earlier agent's talk waits for that agent's wrap-up to end."""
    return f"{contact_id}/{agent_id}"


def _ended(board: Board, event: event_pb2.Event, at: float) -> None:
    _leave(board, event.aggregate_id, at, abandoned=event.call_ended.abandoned)


def _closed(board: Board, event: event_pb2.Event, at: float) -> None:
    """A contact of another channel is over; it has no wrap-up, so its handling is complete now."""
    _leave(board, event.aggregate_id, at, abandoned=event.contact_closed.abandoned)
    _handled(board, event.aggregate_id, at)


def _leave(board: Board, contact_id: str, at: float, *, abandoned: bool) -> None:
    """A contact ends: abandoned while it waited or was offered, or its talk is over."""
    board.unschedule(contact_id)
    board.forget_routings(contact_id)
    contact = board.dequeue(contact_id) or board.unroute(contact_id)
    if contact is not None and contact.agent_id:
        board.release(contact.agent_id, contact_id)  # offered, never taken
    if abandoned and contact is not None:
        tally = board.tally(contact.queue_id)
        tally.abandoned += 1
        tally.removed += 1
        if at - contact.enqueued_at <= board.threshold(contact.queue_id):
            tally.removed_within_threshold += 1
    talk = board.talking.get(contact_id)
    if talk is not None and talk.ended_at is None:
        talk.ended_at = at
        board.start_talk(contact_id, talk)
        if talk.agent_id:
            with board.day_change(talk.agent_id) as day:
                day.talk_seconds += max(0.0, at - talk.answered_at)


def _queue_defined(board: Board, event: event_pb2.Event, at: float) -> None:
    rules = event.queue_created.rules if event.HasField("queue_created") else event.queue_rules_changed.rules
    board.set_rule(rule_of(event.aggregate_id, rules))


def _contact_routed(board: Board, event: event_pb2.Event, at: float) -> None:
    """A board that never dispatches (the routing service's read model, `services.routing.board_view`)
    learns from the stream worker's decisions which agent is reserved for which contact. The worker's
    own boards reserve when they decide and are never given a decision (`FORWARDED_PAYLOADS`).

    A decision's aggregate version counts its contact's routings, as `routings` does here, so a decision
    sent again, or read after its contact went back to its queue (ring no answer), is not applied. A
    decision read before its contact was queued, or naming an agent not seated here, reserves nobody:
    the contact shows waiting until it is answered or ends."""
    routed = event.contact_routed
    contact = board.waiting.get(routed.contact_id)
    seat = board.agents.get(routed.agent_id)
    if contact is None or seat is None or event.aggregate_version <= contact.routings:
        return
    board.route(contact, seat, at)
    contact.routings = event.aggregate_version
    board.count_routings(contact)


def _target_expanded(board: Board, event: event_pb2.Event, at: float) -> None:
    """A board that never dispatches (the board view) learns of a widened target from the worker's
    event, as it learns of its decisions (`_contact_routed`); a step it has already reached is not
    applied again."""
    expanded = event.contact_target_expanded
    contact = board.waiting.get(expanded.contact_id)
    if contact is not None and expanded.step > contact.step:
        board.expand(contact, expanded.step)


def _logged_in(board: Board, event: event_pb2.Event, at: float) -> None:
    """A new seat; it still holds the contacts of other channels it was offered or took before it
    logged out (a log-out does not end a chat), so its capacity counts them."""
    logged_in = event.agent_logged_in
    capacity, exclusive = capacity_of(logged_in.capacity)
    board.seat_in(
        AgentSeat(
            agent_id=event.aggregate_id,
            site_id=logged_in.site_id,
            skills={s.name: s.proficiency for s in logged_in.skills},
            state=logged_in.initial_state,
            ready_since=at if logged_in.initial_state == READY else None,
            status_since=at,
            capacity=capacity,
            exclusive=exclusive,
            contacts=board.held_by(event.aggregate_id),
        )
    )


def _state_changed(board: Board, event: event_pb2.Event, at: float) -> None:
    changed = event.agent_state_changed
    seat = board.agents.get(event.aggregate_id)
    if seat is not None:
        with board.seat_change(seat):
            seat.state = changed.state
            seat.ready_since = at if changed.state == READY else None
    if changed.previous_state == WRAP_UP:
        _handled(board, changed.contact_id, at, event.aggregate_id)


def _skills_changed(board: Board, event: event_pb2.Event, at: float) -> None:
    seat = board.agents.get(event.aggregate_id)
    if seat is not None:
        with board.seat_change(seat):  # a seat's skills are replaced, never changed in place
            seat.skills = {s.name: s.proficiency for s in event.agent_skills_changed.skills}


def _logged_out(board: Board, event: event_pb2.Event, at: float) -> None:
    seat = board.seat_out(event.aggregate_id)
    if seat is not None and event.agent_logged_out.previous_state == WRAP_UP:
        _handled(board, seat.contact_id, at, event.aggregate_id)


def _handled(board: Board, contact_id: str, at: float, agent_id: str = "") -> None:
    """Wrap-up is over (or a contact without one closed): the contact's handle time (talk +
    after-contact work) is complete, and its agent holds it no longer. An agent that transferred the
    call hands in its own talk (`_transferred`), not the one of the agent it went to."""
    talk = board.end_talk(agent_talk_key(contact_id, agent_id)) if agent_id else None
    current = board.talking.get(contact_id)
    if talk is None and (not agent_id or current is None or current.agent_id in ("", agent_id)):
        talk = board.end_talk(contact_id)
    if talk is not None:
        board.release(talk.agent_id, contact_id)
        if talk.queue_id:  # an outbound call waited in no queue: the agent's day counts it, no queue does
            tally = board.tally(talk.queue_id)
            tally.handled += 1
            tally.handle_time_total += at - talk.answered_at


_SOURCE_FOLDS = {
    "call_queued": _queued,
    "call_ringing": _ringing,
    "call_ring_no_answer": _ring_no_answer,
    "call_rejected": _ring_no_answer,
    "call_answered": _answered,
    "outbound_call_connected": _outbound_connected,
    "call_ended": _ended,
    "call_transferred": _transferred,
    "callback_requested": _callback_requested,
    "callback_attempt_failed": _callback_attempt_failed,
    "agent_logged_in": _logged_in,
    "agent_state_changed": _state_changed,
    "agent_logged_out": _logged_out,
    "agent_skills_changed": _skills_changed,
    "queue_created": _queue_defined,
    "queue_rules_changed": _queue_defined,
    "contact_queued": _contact_queued,
    "contact_offered": _ringing,
    "contact_accepted": _accepted,
    "contact_declined": _declined,
    "contact_closed": _closed,
}
# The call, agent and queue event payloads the board folds: the stream worker forwards no other event to its
# boards (not its own decisions: its boards reserve an agent when they decide).
FORWARDED_PAYLOADS = frozenset(_SOURCE_FOLDS)
_FOLD = {**_SOURCE_FOLDS, "contact_routed": _contact_routed, "contact_target_expanded": _target_expanded}
