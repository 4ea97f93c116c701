"""Live agent statistics (RTM-2) and a queue's occupancy, from the routing board. Pure.

An agent's day holds its time in each status up to its latest change of status; the time in the status
it is in now is added as of the moment asked. Occupancy follows Amazon Connect: time on contacts over
time on contacts plus time ready (idle); ringing and after-contact work (wrap-up) count as on contacts,
not-ready time counts in neither."""

from collections.abc import Iterable
from datetime import UTC, datetime

from cc.routing.v1 import routing_pb2

from services.common.envelope import timestamp
from services.routing.board import (
    STATUS_NOT_READY,
    STATUS_ON_CONTACT,
    STATUS_READY,
    STATUS_RESERVED,
    STATUS_WRAP_UP,
    AgentDay,
    AgentSeat,
    Board,
)

ON_CONTACTS = (STATUS_RESERVED, STATUS_ON_CONTACT, STATUS_WRAP_UP)
STATUSES = (STATUS_READY, *ON_CONTACTS, STATUS_NOT_READY)


def _seconds(board: Board, seat: AgentSeat, now: float) -> dict[str, float]:
    """The agent's time in each status today, up to `now`."""
    day = board.agent_days.get(seat.agent_id) or AgentDay()
    seconds = {status: day.seconds_in(status) for status in STATUSES}
    if seat.status_since:
        seconds[seat.status] += max(0.0, now - seat.status_since)
    return seconds


def _occupancy(seconds: dict[str, float]) -> float | None:
    busy = sum(seconds[status] for status in ON_CONTACTS)
    whole = busy + seconds[STATUS_READY]
    return round(100.0 * busy / whole, 2) if whole > 0 else None


def agent_statistics(board: Board, seat: AgentSeat, now: float) -> routing_pb2.AgentStatistics:
    day = board.agent_days.get(seat.agent_id) or AgentDay()
    seconds = _seconds(board, seat, now)
    stats = routing_pb2.AgentStatistics(
        agent_id=seat.agent_id,
        site_id=seat.site_id,
        status=seat.status,
        status_seconds=round(max(0.0, now - seat.status_since), 3) if seat.status_since else 0.0,
        contacts_answered=day.contacts,
        talk_seconds=round(day.talk_seconds, 3),
        as_of=timestamp(datetime.fromtimestamp(now, UTC)),
        **{f"{status.replace('-', '_')}_seconds": round(seconds[status], 3) for status in STATUSES},
    )
    if day.contacts:
        stats.average_handle_seconds = round((day.talk_seconds + seconds[STATUS_WRAP_UP]) / day.contacts, 3)
    occupancy = _occupancy(seconds)
    if occupancy is not None:
        stats.occupancy_percent = occupancy
    return stats


def queue_occupancy(board: Board, queue_id: str, now: float) -> float | None:
    """Occupancy over the logged-in agents the queue may use: O(agents)."""
    return queue_occupancies(board, [queue_id], now)[queue_id]


def queue_occupancies(board: Board, queue_ids: Iterable[str], now: float) -> dict[str, float | None]:
    """Each queue's occupancy in one pass over the agents: an agent's day is summed once, however many
    of the queues it may serve (the routing worker publishes every queue's each second)."""
    totals = {queue_id: dict.fromkeys(STATUSES, 0.0) for queue_id in queue_ids}
    for seat in board.agents.values():
        served = [totals[q] for q in totals if board.fit(seat.agent_id, q) is not None]
        if served:
            for status, spent in _seconds(board, seat, now).items():
                for total in served:
                    total[status] += spent
    return {queue_id: _occupancy(total) for queue_id, total in totals.items()}
