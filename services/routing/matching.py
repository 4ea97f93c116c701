"""Routing choice (RT-3 longest idle, RT-2 skills, RT-8 decision audit). Pure: the board and a clock
reading in, decisions out.

Waiting contacts are served in order (highest priority, then longest waiting), so when an agent
becomes ready the longest-waiting contact of that agent's queues goes first. For each contact, every
logged-in agent is a candidate; the chosen one is the ready agent with the skill who has been idle
longest (ties: higher proficiency, then agent id). The decision lists every candidate and why it
was or was not eligible.
"""

from dataclasses import dataclass

from cc.routing.v1 import events_pb2

from services.common.envelope import derived_id
from services.routing.board import ON_CONTACT, READY, WRAP_UP, AgentSeat, Board, WaitingContact

STRATEGY = "longest-idle"
_BUSY: dict[int, str] = {ON_CONTACT: "on-contact", WRAP_UP: "wrap-up"}


@dataclass(frozen=True)
class Decision:
    contact: WaitingContact
    routed: events_pb2.ContactRouted


def _skipped_reason(seat: AgentSeat, skill: str) -> str:
    if skill not in seat.skills:
        return "missing-skill"
    if seat.reserved_for:
        return "reserved"
    if seat.state == READY:
        return ""
    return _BUSY.get(seat.state, "not-ready")


def candidates_for(board: Board, contact: WaitingContact, now: float) -> list[events_pb2.RoutingCandidate]:
    """Every logged-in agent, eligible ones first in the order routing prefers them (rank 1 = chosen)."""
    rows = []
    for seat in board.agents.values():
        reason = _skipped_reason(seat, contact.required_skill)
        idle = now - seat.ready_since if seat.ready_since is not None and not reason else 0.0
        rows.append(
            events_pb2.RoutingCandidate(
                agent_id=seat.agent_id,
                site_id=seat.site_id,
                eligible=not reason,
                skipped_reason=reason,
                idle_seconds=round(idle, 3),
                proficiency=seat.skills.get(contact.required_skill, 0),
            )
        )
    rows.sort(key=lambda c: (not c.eligible, -c.idle_seconds, -c.proficiency, c.agent_id))
    for rank, row in enumerate((r for r in rows if r.eligible), start=1):
        row.rank = rank
    return rows


def waiting_order(board: Board) -> list[WaitingContact]:
    return sorted(board.waiting.values(), key=lambda c: (-c.priority, c.enqueued_at, c.contact_id))


def dispatch(board: Board, now: float) -> list[Decision]:
    """Match waiting contacts to ready agents; reserve each chosen agent on the board."""
    decisions: list[Decision] = []
    for contact in waiting_order(board):
        candidates = candidates_for(board, contact, now)
        eligible = [c for c in candidates if c.eligible]
        if not eligible:
            continue
        chosen = eligible[0]
        board.agents[chosen.agent_id].reserved_for = contact.contact_id
        del board.waiting[contact.contact_id]
        contact.routings += 1
        contact.agent_id, contact.routed_at, contact.rung = chosen.agent_id, now, False
        board.routed[contact.contact_id] = contact
        skipped = len(candidates) - len(eligible)
        explanation = (
            f"{chosen.agent_id} (site {chosen.site_id}) idle longest at {chosen.idle_seconds:.1f}s of "
            f"{len(eligible)} ready agent(s) with skill '{contact.required_skill}'; {skipped} skipped"
        )
        decisions.append(Decision(contact, _routed(board, contact, now, explanation, candidates)))
    return decisions


def _routed(
    board: Board,
    contact: WaitingContact,
    now: float,
    explanation: str,
    candidates: list[events_pb2.RoutingCandidate],
) -> events_pb2.ContactRouted:
    routed = events_pb2.ContactRouted(
        decision_id=derived_id("decision", board.tenant_id, contact.contact_id, str(contact.routings)),
        contact_id=contact.contact_id,
        queue_id=contact.queue_id,
        agent_id=contact.agent_id,
        required_skill=contact.required_skill,
        strategy=STRATEGY,
        candidates=candidates,
        waited_seconds=round(now - contact.enqueued_at, 3),
        explanation=explanation,
    )
    routed.enqueued_at.FromNanoseconds(int(contact.enqueued_at * 1e9))
    return routed


def unrung_decisions(board: Board, now: float, after_seconds: float) -> list[Decision]:
    """Decisions again for contacts whose chosen agent has not rung `after_seconds` after the choice.
    A decision can be lost (the worker died after saving its board but before the decision was
    sent); re-sending it with the same decision_id is safe, since telephony rings once per decision."""
    return [
        Decision(
            contact,
            _routed(board, contact, now, f"re-sent: no ring {after_seconds:.0f}s after the choice", []),
        )
        for contact in board.routed.values()
        if not contact.rung and now - contact.routed_at >= after_seconds
    ]
