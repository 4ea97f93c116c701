"""Position in line and estimated wait of a waiting contact (RT-10). Pure: the board in, figures out.

The estimate is the M/M/N one: with every agent the contact's queue may use busy, agents free up at the
number staffed divided by the average handle time, and the contact is answered when the contacts ahead
of it and then itself have each taken the next free agent, so it waits (ahead + 1) x AHT / staffed.
The handle time is the queue's own, measured today; before any contact of the queue has been handled
there is no estimate. The simulator measures its error (services/routing/simulate.py)."""

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
