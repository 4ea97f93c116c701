"""The routing board of one tenant: who is waiting, which agents can take them, and today's queue
tallies. It is folded from call and agent events in log order (`apply`), so the stream processor can
rebuild it exactly; it holds no clock and does no I/O."""

from dataclasses import asdict, dataclass, field
from datetime import UTC
from typing import Any

from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2

from services.common.envelope import to_datetime

# At-least-once redelivery replays at most what was consumed since the last commit (about a second);
# two minutes is far beyond it.
FORGET_AFTER_SECONDS = 120.0
FORGET_CHECK_SECONDS = 10.0
READY = events_pb2.AGENT_STATE_READY
NOT_READY = events_pb2.AGENT_STATE_NOT_READY
ON_CONTACT = events_pb2.AGENT_STATE_ON_CONTACT
WRAP_UP = events_pb2.AGENT_STATE_WRAP_UP


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
    # The latest choice: which agent, when, and whether that agent's phone has rung since.
    agent_id: str = ""
    routed_at: float = 0.0
    rung: bool = False


@dataclass
class QueueTally:
    """Today's counters for one queue, the inputs of the RTM-1 formulas in `metrics`."""

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


@dataclass
class Board:
    tenant_id: str
    service_level_threshold_seconds: int = 20
    queues: dict[str, str] = field(default_factory=dict)  # queue id -> required skill
    agents: dict[str, AgentSeat] = field(default_factory=dict)
    waiting: dict[str, WaitingContact] = field(default_factory=dict)
    routed: dict[str, WaitingContact] = field(default_factory=dict)  # chosen an agent, not yet answered
    talking: dict[str, Talk] = field(default_factory=dict)  # answered, handle time not yet complete
    tallies: dict[str, QueueTally] = field(default_factory=dict)
    day: str = ""
    # aggregate -> last version applied: a redelivered event changes nothing.
    applied: dict[str, int] = field(default_factory=dict)
    # ended call -> when it ended; its `applied` mark is forgotten FORGET_AFTER_SECONDS later.
    finished: dict[str, float] = field(default_factory=dict)
    forgotten_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> "Board":
        return Board(
            tenant_id=data["tenant_id"],
            service_level_threshold_seconds=data["service_level_threshold_seconds"],
            queues=dict(data["queues"]),
            agents={k: AgentSeat(**v) for k, v in data["agents"].items()},
            waiting={k: WaitingContact(**v) for k, v in data["waiting"].items()},
            routed={k: WaitingContact(**v) for k, v in data["routed"].items()},
            talking={k: Talk(**v) for k, v in data["talking"].items()},
            tallies={k: QueueTally(**v) for k, v in data["tallies"].items()},
            day=data["day"],
            applied=dict(data["applied"]),
            finished=dict(data.get("finished", {})),
            forgotten_at=data.get("forgotten_at", 0.0),
        )

    def tally(self, queue_id: str) -> QueueTally:
        return self.tallies.setdefault(queue_id, QueueTally())


def apply(board: Board, event: event_pb2.Event) -> bool:
    """Fold one call or agent event into the board; False when it was already applied."""
    key = f"{event.aggregate_type}/{event.aggregate_id}"
    if board.applied.get(key, 0) >= event.aggregate_version:
        return False
    board.applied[key] = event.aggregate_version
    at = to_datetime(event.occurred_at)
    day = at.astimezone(UTC).date().isoformat()
    if day > board.day:  # a late event stamped before midnight must not wipe the new day
        board.day, board.tallies = day, {}
    _FOLD.get(event.WhichOneof("payload") or "", _ignore)(board, event, at.timestamp())
    if event.WhichOneof("payload") == "call_ended":
        board.finished[key] = at.timestamp()
    _forget_finished(board, at.timestamp())
    return True


def _forget_finished(board: Board, now: float) -> None:
    """Keep the board (stored whole in the changelog on every event) from growing with every call ever
    made: an ended call's mark is dropped once no redelivery of its events can still be in flight."""
    if now - board.forgotten_at < FORGET_CHECK_SECONDS:
        return
    board.forgotten_at = now
    for key, ended in list(board.finished.items()):
        if ended < now - FORGET_AFTER_SECONDS:
            del board.finished[key]
            board.applied.pop(key, None)


def _ignore(board: Board, event: event_pb2.Event, at: float) -> None:
    return None


def _queued(board: Board, event: event_pb2.Event, at: float) -> None:
    queued = event.call_queued
    earlier = board.routed.pop(event.aggregate_id, None)
    board.queues.setdefault(queued.queue_id, queued.required_skill)
    board.waiting[event.aggregate_id] = WaitingContact(
        contact_id=event.aggregate_id,
        queue_id=queued.queue_id,
        required_skill=queued.required_skill,
        priority=queued.priority,
        enqueued_at=to_datetime(queued.enqueued_at).timestamp(),
        customer_id=event.customer_id,
        correlation_id=event.correlation_id,
        routings=earlier.routings if earlier else 0,
    )
    if earlier is None:  # a RONA re-queue is the same offer, not a new one
        board.tally(queued.queue_id).offered += 1


def _ringing(board: Board, event: event_pb2.Event, at: float) -> None:
    contact = board.routed.get(event.aggregate_id)
    if contact is not None:
        contact.rung = True


def _ring_no_answer(board: Board, event: event_pb2.Event, at: float) -> None:
    seat = board.agents.get(event.call_ring_no_answer.agent_id)
    if seat is not None and seat.reserved_for == event.aggregate_id:
        # The agent service will make it not ready; mirror that now so the call is not offered to it again.
        seat.reserved_for, seat.state, seat.ready_since = "", NOT_READY, None


def _answered(board: Board, event: event_pb2.Event, at: float) -> None:
    contact = board.routed.pop(event.aggregate_id, None) or board.waiting.pop(event.aggregate_id, None)
    answered = event.call_answered
    seat = board.agents.get(answered.agent_id)
    if seat is not None:
        seat.reserved_for, seat.state, seat.ready_since = "", ON_CONTACT, None
        seat.contact_id = event.aggregate_id
    tally = board.tally(answered.queue_id)
    wait = (
        max(0.0, at - to_datetime(answered.enqueued_at).timestamp())
        if contact is None
        else at - contact.enqueued_at
    )
    tally.answered += 1
    tally.removed += 1
    tally.answer_wait_total += wait
    if wait <= board.service_level_threshold_seconds:
        tally.removed_within_threshold += 1
    board.talking[event.aggregate_id] = Talk(answered.queue_id, at)


def _ended(board: Board, event: event_pb2.Event, at: float) -> None:
    contact = board.waiting.pop(event.aggregate_id, None) or board.routed.pop(event.aggregate_id, None)
    for seat in board.agents.values():
        if seat.reserved_for == event.aggregate_id:
            seat.reserved_for = ""
    if event.call_ended.abandoned and contact is not None:
        tally = board.tally(contact.queue_id)
        tally.abandoned += 1
        tally.removed += 1
        if at - contact.enqueued_at <= board.service_level_threshold_seconds:
            tally.removed_within_threshold += 1


def _logged_in(board: Board, event: event_pb2.Event, at: float) -> None:
    logged_in = event.agent_logged_in
    board.agents[event.aggregate_id] = AgentSeat(
        agent_id=event.aggregate_id,
        site_id=logged_in.site_id,
        skills={s.name: s.proficiency for s in logged_in.skills},
        state=logged_in.initial_state,
        ready_since=at if logged_in.initial_state == READY else None,
    )


def _state_changed(board: Board, event: event_pb2.Event, at: float) -> None:
    changed = event.agent_state_changed
    seat = board.agents.get(event.aggregate_id)
    if seat is not None:
        seat.state = changed.state
        seat.ready_since = at if changed.state == READY else None
    if changed.previous_state == WRAP_UP:
        _handled(board, changed.contact_id, at)


def _logged_out(board: Board, event: event_pb2.Event, at: float) -> None:
    seat = board.agents.pop(event.aggregate_id, None)
    if seat is not None and event.agent_logged_out.previous_state == WRAP_UP:
        _handled(board, seat.contact_id, at)


def _handled(board: Board, contact_id: str, at: float) -> None:
    """Wrap-up is over: the contact's handle time (talk + after-contact work) is complete."""
    talk = board.talking.pop(contact_id, None)
    if talk is not None:
        tally = board.tally(talk.queue_id)
        tally.handled += 1
        tally.handle_time_total += at - talk.answered_at


_FOLD = {
    "call_queued": _queued,
    "call_ringing": _ringing,
    "call_ring_no_answer": _ring_no_answer,
    "call_answered": _answered,
    "call_ended": _ended,
    "agent_logged_in": _logged_in,
    "agent_state_changed": _state_changed,
    "agent_logged_out": _logged_out,
}
