"""Staffing from queueing theory (AN-7): Erlang C for callers who wait for ever (M/M/N) and Erlang A for
callers who give up after an exponentially distributed patience (M/M/N+M). Pure, no I/O.

Both answer the figures the live metrics and the simulator report, with the same definitions:
- service level: contacts answered within the threshold, over all contacts that left the queue (an
  abandoned contact counts in the denominator);
- average speed of answer: the mean wait of the answered contacts;
- abandonment rate: abandoned over offered;
- occupancy: the share of agent time spent on contacts.

Erlang A is computed exactly from its birth-death chain (truncated where the remaining probability is
negligible): an arrival that finds k callers waiting is answered if the k + 1 phases before its turn
(each ended by an answer, at rate N·μ, or by one of those ahead giving up) all end before its own
patience, and the time to its turn is then a sum of exponentials whose distribution a uniformised
Markov chain gives without numerical trouble."""

import math
from dataclasses import dataclass

# The chain is cut where a state's stationary weight is below this share of the likeliest state's.
_LOG_TAIL = math.log(1e-15)
# Uniformisation steps are taken in slices of at most this many expected jumps, so e^(-Λt) never underflows
# (it would past about 745), and each slice's Poisson mixture is cut where this little weight is left.
_JUMPS_PER_SLICE = 500.0
_POISSON_TAIL = 1e-12


@dataclass(frozen=True)
class QueueFigures:
    """What a queue with this load and staff achieves in the long run."""

    agents: int
    offered_erlangs: float
    wait_probability: float
    service_level: float
    average_speed_of_answer_seconds: float
    abandonment_rate: float
    occupancy: float


def erlang_b(agents: int, offered_erlangs: float) -> float:
    """Blocking probability of N servers with offered load a (the stable recursion)."""
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = offered_erlangs * blocking / (n + offered_erlangs * blocking)
    return blocking


def erlang_c(
    agents: int, arrivals_per_second: float, handle_seconds: float, threshold_seconds: float
) -> QueueFigures:
    """M/M/N: Poisson arrivals, exponential handle times, callers who never give up."""
    load = arrivals_per_second * handle_seconds
    if agents <= load:
        raise ValueError(f"{agents} agents cannot carry {load:.2f} erlangs: the queue grows without end")
    blocking = erlang_b(agents, load)
    waits = agents * blocking / (agents - load * (1 - blocking))
    drain = (agents - load) / handle_seconds  # the rate at which the queue ahead empties, N·μ - λ
    return QueueFigures(
        agents=agents,
        offered_erlangs=load,
        wait_probability=waits,
        service_level=1 - waits * math.exp(-drain * threshold_seconds),
        average_speed_of_answer_seconds=waits / drain,
        abandonment_rate=0.0,
        occupancy=load / agents,
    )


def erlang_a(
    agents: int,
    arrivals_per_second: float,
    handle_seconds: float,
    patience_seconds: float,
    threshold_seconds: float,
) -> QueueFigures:
    """M/M/N+M: as Erlang C, but each waiting caller gives up after an exponential patience."""
    if patience_seconds <= 0:
        return erlang_c(agents, arrivals_per_second, handle_seconds, threshold_seconds)
    serve, give_up = 1 / handle_seconds, 1 / patience_seconds
    stationary = _stationary(agents, arrivals_per_second, serve, give_up)
    waiting = stationary[agents:]  # an arrival finds k = 0, 1, ... callers waiting (PASTA)
    # Phase j before an arrival's turn (j callers still ahead of it) ends at N·μ + j·θ; the arrival
    # itself gives up at θ meanwhile. Answered if every phase ends first; the time to its turn is then
    # the sum of exponentials at rates N·μ + (j + 1)·θ, whatever the order of events.
    exit_rates = [agents * serve + (j + 1) * give_up for j in range(len(waiting))]
    answered_after = []  # P(answered | k ahead)
    mean_wait_after = []  # E[wait | answered, k ahead]
    survive, mean = 1.0, 0.0
    for rate in exit_rates:
        survive *= (rate - give_up) / rate
        mean += 1 / rate
        answered_after.append(survive)
        mean_wait_after.append(mean)
    within = _sums_within(exit_rates, threshold_seconds)
    free = sum(stationary[:agents])
    answered = free + sum(p * a for p, a in zip(waiting, answered_after, strict=True))
    answered_in_time = free + sum(p * a * w for p, a, w in zip(waiting, answered_after, within, strict=True))
    total_wait = sum(p * a * m for p, a, m in zip(waiting, answered_after, mean_wait_after, strict=True))
    load = arrivals_per_second * handle_seconds
    return QueueFigures(
        agents=agents,
        offered_erlangs=load,
        wait_probability=sum(waiting),
        service_level=answered_in_time,  # over every arrival: each is answered or abandons
        average_speed_of_answer_seconds=total_wait / answered,
        abandonment_rate=1 - answered,
        occupancy=load * answered / agents,
    )


def agents_needed(
    arrivals_per_second: float,
    handle_seconds: float,
    threshold_seconds: float,
    target_service_level: float,
    patience_seconds: float = 0.0,
) -> QueueFigures:
    """The fewest agents that reach the target service level (Erlang A with a patience, else C). The
    service level grows with every agent added, so a bisection finds it. With patience, fewer agents than
    the load can reach a target, since callers who give up take no agent time."""

    def figures(agents: int) -> QueueFigures:
        return erlang_a(agents, arrivals_per_second, handle_seconds, patience_seconds, threshold_seconds)

    load = arrivals_per_second * handle_seconds
    # Callers who never give up need more agents than erlangs of load, or the queue never ends. Callers
    # who give up can be served by fewer, but no fewer than the target's share of the load: N agents
    # carry at most N erlangs, so at most N / load of the callers are answered at all.
    fewest = max(1, math.floor(target_service_level * load)) if patience_seconds > 0 else math.floor(load) + 1
    enough, step = fewest, max(1, math.ceil(math.sqrt(load)))
    while figures(enough).service_level < target_service_level:
        fewest, enough, step = enough + 1, enough + step, step * 2
    while fewest < enough:
        middle = (fewest + enough) // 2
        if figures(middle).service_level >= target_service_level:
            enough = middle
        else:
            fewest = middle + 1
    return figures(enough)


def _stationary(agents: int, arrivals: float, serve: float, give_up: float) -> list[float]:
    """Stationary probabilities of n = 0, 1, ... callers in the system, cut where the rest is negligible.
    Summed in logarithms: at a thousand erlangs the unnormalised weights (a^n / n!) overflow a float."""
    logs = [0.0]
    n, peak = 0, 0.0
    while True:
        n += 1
        departures = min(n, agents) * serve + max(n - agents, 0) * give_up
        logs.append(logs[-1] + math.log(arrivals / departures))
        peak = max(peak, logs[-1])
        # Past the agents and falling (arrivals slower than departures), each weight after this one is
        # smaller by a growing factor: once one is negligible against the peak, so is the rest.
        if n > agents and arrivals < departures and logs[-1] < peak + _LOG_TAIL:
            break
    weights = [math.exp(value - peak) for value in logs]
    total = sum(weights)
    return [w / total for w in weights]


def _sums_within(rates: list[float], seconds: float) -> list[float]:
    """P(X_0 + ... + X_k <= seconds) for each k, the X_j independent exponentials at rates[j]:
    the chance that a pure-death chain started in phase k has finished by then, by uniformisation."""
    if seconds <= 0:
        return [0.0] * len(rates)
    fastest = max(rates)
    slices = max(1, math.ceil(fastest * seconds / _JUMPS_PER_SLICE))
    step = seconds / slices
    finished = [0.0] * len(rates)  # P(finished within what has been applied so far | phase k)
    for _ in range(slices):
        finished = _advance(finished, rates, fastest, step)
    return finished


def _advance(after: list[float], rates: list[float], fastest: float, seconds: float) -> list[float]:
    """P(finished within `seconds` more, then `after`'s horizon) per phase: e^(Q·seconds) applied to the
    chance of having finished, as a Poisson mixture of the uniformised chain's steps."""
    expected = fastest * seconds
    leave = [rate / fastest for rate in rates]
    stay = [1 - share for share in leave]
    weight = math.exp(-expected)
    current = after
    result = [weight * value for value in current]
    accumulated = weight
    jumps = 0
    while 1 - accumulated > _POISSON_TAIL and jumps < 10 * expected + 100:
        jumps += 1
        below = [1.0, *current[:-1]]  # phase 0 leaving means finished
        current = [go * b + wait * c for go, b, wait, c in zip(leave, below, stay, current, strict=True)]
        weight *= expected / jumps
        accumulated += weight
        result = [r + weight * value for r, value in zip(result, current, strict=True)]
    return result
