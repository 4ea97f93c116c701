"""Live queue metrics (RTM-1) with Amazon Connect's definitions:

- contacts in queue / oldest: contacts waiting for an agent now (including those whose chosen agent's
  phone is ringing), and the longest current wait;
- scheduled: callbacks the queue owes (TEL-5): those keeping their callers' places in it (in queue too)
  and those waiting out of it for a reserved time slot or their next attempt;
- contacts queued (offered): contacts that entered the queue (a ring-no-answer re-queue is not a new one);
- contacts handled (answered): contacts an agent answered from the queue;
- contacts abandoned: contacts the customer disconnected while in queue (also while an agent's phone rang);
- service level X: percentage of contacts removed from the queue between 0 and X seconds after joining it,
  where "removed" means answered by an agent or abandoned;
- average queue answer time (ASA): mean time in queue of the contacts answered;
- average handle time (AHT): mean of talk time plus after-contact work (wrap-up) of contacts whose work ended;
- abandonment rate: contacts abandoned / contacts queued, as a percentage;
- occupancy: of the agents the queue may use, time on contacts over that plus ready time, today
  (services.routing.agent_stats).
Agents are counted for a queue when the queue may use them (its skills at their minimum proficiency,
its sites): staffed = logged in; on contact includes an agent whose phone is ringing for a contact. The
board keeps these counts per queue as agents change, so publishing them costs nothing per agent. A
queue has metrics, zeros, from the moment it is defined.
"""

from collections.abc import Mapping
from typing import Literal

from cc.routing.v1 import events_pb2

from services.routing.agent_stats import queue_occupancy
from services.routing.board import (
    STATUS_NOT_READY,
    STATUS_ON_CONTACT,
    STATUS_READY,
    STATUS_RESERVED,
    STATUS_WRAP_UP,
    Board,
    QueueTally,
)


def ratio_percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def queue_metrics(
    board: Board, queue_id: str, now: float, occupancy: float | Literal["now"] | None = "now"
) -> events_pb2.QueueMetrics:
    """The queue's metrics as of `now`. Its occupancy costs O(agents): a caller publishing often passes
    one it computed (`queue_occupancy`) a moment before, rather than "now"."""
    # The counters are today's, in the queue's time zone: after its midnight they start from zero even
    # before the next event.
    today = board.queue_day(queue_id, now)
    tally = board.tallies.get(queue_id)
    if tally is None or tally.day < today:
        tally = QueueTally()
    # A contact is in the queue until an agent is connected, including while an agent's phone rings.
    in_queue = [*board.waiting.values(), *board.routed.values()]
    mine = [c for c in in_queue if c.queue_id == queue_id]
    waits = [now - c.enqueued_at for c in mine]
    pending = sum(1 for callback in board.scheduled.values() if callback.queue_id == queue_id)
    staffing = board.staffing(queue_id)
    metrics = events_pb2.QueueMetrics(
        tenant_id=board.tenant_id,
        queue_id=queue_id,
        contacts_waiting=len(waits),
        oldest_wait_seconds=round(max(waits, default=0.0), 3),
        agents_staffed=sum(staffing.values()),
        agents_ready=staffing.get(STATUS_READY, 0),
        agents_on_contact=staffing.get(STATUS_ON_CONTACT, 0) + staffing.get(STATUS_RESERVED, 0),
        agents_not_ready=staffing.get(STATUS_NOT_READY, 0),
        agents_wrap_up=staffing.get(STATUS_WRAP_UP, 0),
        offered=tally.offered,
        answered=tally.answered,
        abandoned=tally.abandoned,
        service_level_threshold_seconds=board.threshold(queue_id),
        scheduled=sum(1 for c in mine if c.callback) + pending,
    )
    metrics.as_of.FromNanoseconds(int(now * 1e9))
    optional = {
        "service_level_percent": ratio_percent(tally.removed_within_threshold, tally.removed),
        "average_speed_of_answer_seconds": mean(tally.answer_wait_total, tally.answered),
        "average_handle_time_seconds": mean(tally.handle_time_total, tally.handled),
        "abandonment_rate_percent": ratio_percent(tally.abandoned, tally.offered),
        "occupancy_percent": queue_occupancy(board, queue_id, now) if occupancy == "now" else occupancy,
    }
    for name, value in optional.items():
        if value is not None:
            setattr(metrics, name, value)
    return metrics


def all_queue_metrics(
    board: Board, now: float, occupancies: Mapping[str, float | None] | None = None
) -> list[events_pb2.QueueMetrics]:
    """Every queue's metrics; `occupancies` by queue, when the caller has them."""
    return [
        queue_metrics(board, queue_id, now, "now" if occupancies is None else occupancies.get(queue_id))
        for queue_id in sorted(board.queues)
    ]
