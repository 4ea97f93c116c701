"""Routing choice (RT-2 skills, RT-3 strategies, RT-4 priority, RT-8 decision audit). Pure: the board
and a clock reading in, decisions out.

Waiting contacts are served in order (priority with ageing, then arrival), so when an agent becomes
ready the first contact of that agent's queues goes first. Each contact goes to the ready agent its
queue's strategy ranks first among those the queue may use (its skills, at their minimum proficiency,
and its sites). The decision names the strategy, the chosen agent, the next eligible candidates in
rank order with their scores, and how many logged-in agents were skipped for each reason: read from
the board's indexes, so a decision costs O(log n) however many agents are logged in. The full candidate
list of one contact, with every agent and why it was or was not eligible, is `candidates_for`
(O(agents), on demand only).
"""

from dataclasses import dataclass
from itertools import islice

from cc.routing.v1 import events_pb2

from services.common.envelope import derived_id
from services.routing.board import (
    BUSY_STATUSES,
    PREFERRED,
    STATUS_READY,
    AgentDay,
    AgentSeat,
    Board,
    Pool,
    WaitingContact,
)
from services.routing.rules import QueueRule, Strategy, Target

# How many eligible agents a decision lists after the chosen one.
RUNNERS_UP = 5
MISSING_SKILL = "missing-skill"
OTHER_SITE = "other-site"
# Not the customer's last agent, whom the contact waits for (RT-6).
NOT_LAST_AGENT = "not-last-agent"
# Its capacity profile takes no contacts of the queue's channel (RT-7).
NO_CAPACITY = "no-capacity"


@dataclass(frozen=True)
class Decision:
    contact: WaitingContact
    routed: events_pb2.ContactRouted


def _skipped_reason(board: Board, seat: AgentSeat, pool: Pool) -> str:
    channel = board.channel_of(pool)
    if board.fit(seat.agent_id, *pool) is None:
        if pool[1] == PREFERRED:
            return NOT_LAST_AGENT
        if not seat.capacity.get(channel, 0):
            return NO_CAPACITY
        return MISSING_SKILL if board.target(pool).skill_fit(seat.skills) is None else OTHER_SITE
    status = seat.status_for(channel)
    return "" if status == STATUS_READY else status


def score(board: Board, seat: AgentSeat, rule: QueueRule, pool: Pool, now: float) -> float:
    """What the queue's strategy ranks an agent by, as a number where higher goes first."""
    day = board.agent_days.get(seat.agent_id) or AgentDay()
    match rule.strategy:
        case Strategy.MOST_SKILLED:
            return float(board.fit(seat.agent_id, *pool) or 0)
        case Strategy.ROUND_ROBIN:  # seconds since routing last chose the agent (never: since 1970)
            return round(now - day.last_routed_at, 3)
        case Strategy.FEWEST_CONTACTS:
            return float(-day.contacts)
        case Strategy.LEAST_TALK_TIME:
            return round(-day.talk_seconds, 3)
    return round(now - (seat.ready_since or now), 3)


def _candidate(
    board: Board, seat: AgentSeat, rule: QueueRule, pool: Pool, now: float, rank: int
) -> events_pb2.RoutingCandidate:
    return events_pb2.RoutingCandidate(
        agent_id=seat.agent_id,
        site_id=seat.site_id,
        eligible=True,
        idle_seconds=round(now - (seat.ready_since or now), 3),
        score=score(board, seat, rule, pool, now),
        proficiency=board.fit(seat.agent_id, *pool) or 0,
        rank=rank,
    )


def _proficiency(seat: AgentSeat, target: Target) -> int:
    """The agent's proficiency in the target's skills it has, summed (the best of its rules)."""
    return max(sum(seat.skills.get(name, 0) for name, _ in rule.skills) for rule in target.rules)


def candidates_for(board: Board, contact: WaitingContact, now: float) -> list[events_pb2.RoutingCandidate]:
    """Every logged-in agent for one contact: the eligible ones first in the order routing prefers
    them (rank 1 would be chosen), then the others with why. O(agents): for an audit on demand."""
    rule, pool = board.queues[contact.queue_id], board.pool_of(contact)
    eligible = [
        _candidate(board, seat, rule, pool, now, rank) for rank, seat in enumerate(board.available(*pool), 1)
    ]
    own = board.target((contact.queue_id, 0))  # the proficiency shown is in the queue's own skills
    others = [
        events_pb2.RoutingCandidate(
            agent_id=seat.agent_id,
            site_id=seat.site_id,
            eligible=False,
            skipped_reason=reason,
            proficiency=_proficiency(seat, own),
        )
        for seat in board.agents.values()
        if (reason := _skipped_reason(board, seat, pool))
    ]
    others.sort(key=lambda c: (-c.proficiency, c.agent_id))
    return eligible + others


def skipped_agents(board: Board, pool: Pool) -> list[events_pb2.SkippedAgents]:
    """How many logged-in agents cannot take a contact of the queue at its step, by reason: O(1).
    Those it may not use (skills below its minimum, another site, none of its channel) count as
    missing-skill."""
    staffing = board.staffing(*pool)
    counts = {
        NOT_LAST_AGENT if pool[1] == PREFERRED else MISSING_SKILL: len(board.agents) - sum(staffing.values())
    }
    counts.update((reason, staffing.get(reason, 0)) for reason in BUSY_STATUSES)
    return [events_pb2.SkippedAgents(reason=r, count=n) for r, n in counts.items() if n]


_WHY = {
    Strategy.LONGEST_IDLE: "idle longest at {idle:.1f}s",
    Strategy.MOST_SKILLED: "most skilled at {score:.0f}",
    Strategy.ROUND_ROBIN: "next in turn, last chosen {score:.1f}s ago",
    Strategy.FEWEST_CONTACTS: "fewest contacts today ({contacts})",
    Strategy.LEAST_TALK_TIME: "least talk time today ({talk:.0f}s)",
}


def _waited_for(contact: WaitingContact, pool: Pool) -> str:
    """Why the contact went to the one agent it waited for, if it did."""
    if pool[1] != PREFERRED:
        return ""
    return (
        "is the agent it was transferred to, "
        if contact.preferred_wait_seconds
        else "is the customer's last agent, "
    )


def dispatch(board: Board, now: float) -> list[Decision]:
    """Match waiting contacts to ready agents where the latest events may have made a match; reserve
    each chosen agent on the board."""
    decisions: list[Decision] = []
    while (match := board.next_match()) is not None:
        contact, chosen = match
        rule, pool = board.queues[contact.queue_id], board.pool_of(contact)
        ranked = [
            _candidate(board, seat, rule, pool, now, rank)
            for rank, seat in enumerate(islice(board.available(*pool), 1 + RUNNERS_UP), 1)
        ]
        eligible = board.staffing(*pool).get(STATUS_READY, 0)
        skipped = skipped_agents(board, pool)
        day = board.agent_days.get(chosen.agent_id) or AgentDay()
        why = _waited_for(contact, pool) + _WHY[rule.strategy].format(
            idle=ranked[0].idle_seconds, score=ranked[0].score, contacts=day.contacts, talk=day.talk_seconds
        )
        board.route(contact, chosen, now)
        widened = f", widened at step {pool[1]}" if pool[1] > 0 else ""
        explanation = (
            f"{chosen.agent_id} (site {chosen.site_id}) {why} of {eligible} ready agent(s) for queue "
            f"'{contact.queue_id}' ({board.target(pool).label}{widened}, {rule.strategy}); "
            f"{sum(s.count for s in skipped)} skipped"
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
        required_skill=board.queues[contact.queue_id].skill_label,
        strategy=board.queues[contact.queue_id].strategy,
        waited_seconds=round(now - contact.enqueued_at, 3),
        explanation=explanation,
        target_step=board.pool_of(contact)[1],
        channel=board.queues[contact.queue_id].channel,
    )
    routed.enqueued_at.FromNanoseconds(int(contact.enqueued_at * 1e9))
    return routed


@dataclass(frozen=True)
class Expansion:
    contact: WaitingContact
    expanded: events_pb2.ContactTargetExpanded


def expand_targets(board: Board, now: float) -> list[Expansion]:
    """Widen the target of every waiting contact whose next expanding step is due (RT-5), on the board,
    and say so; a dispatch after it may then find a match."""
    found = []
    for contact, step in board.due_expansions(now):
        board.expand(contact, step)
        expanded = events_pb2.ContactTargetExpanded(
            contact_id=contact.contact_id,
            queue_id=contact.queue_id,
            step=step,
            target=board.target(board.pool_of(contact)).label,
            waited_seconds=round(now - contact.enqueued_at, 3),
        )
        found.append(Expansion(contact, expanded))
    return found


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
