"""Routing choice (RT-3 longest idle, RT-2 skills, RT-8 decision audit). Pure: the board and a clock
reading in, decisions out.

Waiting contacts are served in order (highest priority, then longest waiting), so when an agent
becomes ready the longest-waiting contact of that agent's queues goes first. Each contact goes to the
ready agent with its skill who has been idle longest (ties: higher proficiency, then agent id). The
decision names the chosen agent, the next eligible candidates in rank order with their scores, and how
many logged-in agents were skipped for each reason: read from the board's indexes, so a decision costs
O(log n) however many agents are logged in. The full candidate list of one contact, with every agent
and why it was or was not eligible, is `candidates_for` (O(agents), on demand only).
"""

from dataclasses import dataclass
from itertools import islice

from cc.routing.v1 import events_pb2

from services.common.envelope import derived_id
from services.routing.board import BUSY_STATUSES, STATUS_READY, AgentSeat, Board, WaitingContact

STRATEGY = "longest-idle"
# How many eligible agents a decision lists after the chosen one.
RUNNERS_UP = 5
MISSING_SKILL = "missing-skill"


@dataclass(frozen=True)
class Decision:
    contact: WaitingContact
    routed: events_pb2.ContactRouted


def _skipped_reason(seat: AgentSeat, skill: str) -> str:
    if skill not in seat.skills:
        return MISSING_SKILL
    status = seat.status
    return "" if status == STATUS_READY else status


def _candidate(seat: AgentSeat, skill: str, now: float, rank: int) -> events_pb2.RoutingCandidate:
    idle = round(now - (seat.ready_since or now), 3)
    return events_pb2.RoutingCandidate(
        agent_id=seat.agent_id,
        site_id=seat.site_id,
        eligible=True,
        idle_seconds=idle,
        score=idle,
        proficiency=seat.skills[skill],
        rank=rank,
    )


def candidates_for(board: Board, contact: WaitingContact, now: float) -> list[events_pb2.RoutingCandidate]:
    """Every logged-in agent for one contact: the eligible ones first in the order routing prefers
    them (rank 1 would be chosen), then the others with why. O(agents): for an audit on demand."""
    skill = contact.required_skill
    eligible = [_candidate(seat, skill, now, rank) for rank, seat in enumerate(board.available(skill), 1)]
    others = [
        events_pb2.RoutingCandidate(
            agent_id=seat.agent_id,
            site_id=seat.site_id,
            eligible=False,
            skipped_reason=reason,
            proficiency=seat.skills.get(skill, 0),
        )
        for seat in board.agents.values()
        if (reason := _skipped_reason(seat, skill))
    ]
    others.sort(key=lambda c: (-c.proficiency, c.agent_id))
    return eligible + others


def skipped_agents(board: Board, skill: str) -> list[events_pb2.SkippedAgents]:
    """How many logged-in agents cannot take a contact needing `skill`, by reason: O(1)."""
    staffing = board.staffing(skill)
    counts = {MISSING_SKILL: len(board.agents) - sum(staffing.values())}
    counts.update((reason, staffing.get(reason, 0)) for reason in BUSY_STATUSES)
    return [events_pb2.SkippedAgents(reason=r, count=n) for r, n in counts.items() if n]


def dispatch(board: Board, now: float) -> list[Decision]:
    """Match waiting contacts to ready agents where the latest events may have made a match; reserve
    each chosen agent on the board."""
    decisions: list[Decision] = []
    while (match := board.next_match()) is not None:
        contact, chosen = match
        skill = contact.required_skill
        ranked = [
            _candidate(seat, skill, now, rank)
            for rank, seat in enumerate(islice(board.available(skill), 1 + RUNNERS_UP), 1)
        ]
        eligible = board.staffing(skill).get(STATUS_READY, 0)
        skipped = skipped_agents(board, skill)
        board.route(contact, chosen, now)
        explanation = (
            f"{chosen.agent_id} (site {chosen.site_id}) idle longest at {ranked[0].idle_seconds:.1f}s of "
            f"{eligible} ready agent(s) with skill '{skill}'; {sum(s.count for s in skipped)} skipped"
        )
        routed = _routed(board, contact, now, explanation)
        routed.candidates.extend(ranked)
        routed.skipped.extend(skipped)
        routed.eligible_agents = eligible
        decisions.append(Decision(contact, routed))
    return decisions


def _routed(board: Board, contact: WaitingContact, now: float, explanation: str) -> events_pb2.ContactRouted:
    routed = events_pb2.ContactRouted(
        decision_id=derived_id("decision", board.tenant_id, contact.contact_id, str(contact.routings)),
        contact_id=contact.contact_id,
        queue_id=contact.queue_id,
        agent_id=contact.agent_id,
        required_skill=contact.required_skill,
        strategy=STRATEGY,
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
            contact, _routed(board, contact, now, f"re-sent: no ring {after_seconds:.0f}s after the choice")
        )
        for contact in board.routed.values()
        if not contact.rung and now - contact.routed_at >= after_seconds
    ]
