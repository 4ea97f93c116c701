"""Position in line and estimated wait of a waiting contact (RT-10). Pure: the board in, figures out.

The estimate is the M/M/N one: with every agent the contact's queue may use busy, agents free up at the
number staffed divided by the average handle time, and the contact is answered when the contacts ahead
of it and then itself have each taken the next free agent, so it waits (ahead + 1) x AHT / staffed.
The handle time is the queue's own, measured today; before any contact of the queue has been handled
there is no estimate. The simulator measures its error (services/routing/simulate.py).

The stream worker also sends both as an event (ContactWaitEstimated) for each waiting contact: once
soon after it joins, then every `interval` seconds while it waits (`due_estimates`)."""

from collections.abc import Mapping

from cc.routing.v1 import events_pb2

from services.routing.board import STATUS_NOT_READY, STATUS_READY, Board, WaitingContact


def position(board: Board, contact: WaitingContact) -> int:
    """1 for the contact routing serves next in its queue."""
    return board.ahead_of(contact) + 1


def estimated_wait_seconds(board: Board, contact: WaitingContact) -> float | None:
    """Seconds from now until an agent is chosen for the contact; None while there is nothing to base
    it on (no contact of the queue handled today, or nobody staffed for the queue)."""
    tally = board.tallies.get(contact.queue_id)
    staffing = board.staffing(contact.queue_id)
    staffed = sum(staffing.values()) - staffing.get(STATUS_NOT_READY, 0)
    if tally is None or not tally.handled or not staffed:
        return None
    if staffing.get(STATUS_READY, 0):
        return 0.0
    return position(board, contact) * (tally.handle_time_total / tally.handled) / staffed


def wait_estimated(board: Board, contact: WaitingContact, now: float) -> events_pb2.ContactWaitEstimated:
    """Where the contact stands now, as the event's payload."""
    estimated = events_pb2.ContactWaitEstimated(
        contact_id=contact.contact_id,
        queue_id=contact.queue_id,
        position=position(board, contact),
        waited_seconds=round(now - contact.enqueued_at, 3),
    )
    estimate = estimated_wait_seconds(board, contact)
    if estimate is not None:
        estimated.estimated_wait_seconds = round(estimate, 3)
    return estimated


def due_estimates(
    board: Board, sent: Mapping[str, float], now: float, interval: float
) -> list[WaitingContact]:
    """The waiting contacts owed an estimate: those never given one (`sent`: contact id -> when its
    last went out), and those whose last is `interval` seconds old. O(waiting)."""
    return [
        contact
        for contact_id, contact in board.waiting.items()
        if now - sent.get(contact_id, float("-inf")) >= interval
    ]
