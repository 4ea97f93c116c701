"""The simulator against queueing theory (issue 7, AN-7): one queue of 90 erlangs (1,800 calls an hour,
3-minute calls), staffed for 70 %, 85 % and 95 % occupancy, with patient callers (Erlang C) and with
callers who give up after 2 minutes on average (Erlang A). Prints the simulator's service level at 20 s,
ASA and abandonment beside the formulas', and the simulator's speed.

    make bench-staffing                    BENCH_CALLS (100000) calls per run
"""

import math
import os
import resource
import time

from services.routing.rules import QueueRule
from services.routing.simulate import AgentGroup, QueueSpec, Scenario, simulate
from services.routing.staffing import QueueFigures, agents_needed, erlang_a

CALLS = int(os.environ.get("BENCH_CALLS", "100000"))
ARRIVALS_PER_SECOND = 0.5
HANDLE_SECONDS = 180.0
THRESHOLD_SECONDS = 20
LOAD = ARRIVALS_PER_SECOND * HANDLE_SECONDS


def scenario(agents: int, patience: float) -> Scenario:
    member = QueueSpec(
        "member",
        QueueRule("member", (("member", 0),)),
        ARRIVALS_PER_SECOND,
        HANDLE_SECONDS,
        patience_seconds_mean=patience,
    )
    return Scenario([member], [AgentGroup(agents, "seoul", {"member": 5})], THRESHOLD_SECONDS)


def row(label: str, agents: int, patience: float) -> float:
    formula: QueueFigures = erlang_a(agents, ARRIVALS_PER_SECOND, HANDLE_SECONDS, patience, THRESHOLD_SECONDS)
    started = time.process_time()
    simulated = simulate(scenario(agents, patience), CALLS, seed=agents)["member"]
    took = time.process_time() - started
    pairs = [
        (100 * formula.occupancy, simulated["occupancy_percent"]),
        (100 * formula.service_level, simulated["service_level_percent"]),
        (formula.average_speed_of_answer_seconds, simulated["average_speed_of_answer_seconds"]),
        (100 * formula.abandonment_rate, simulated["abandonment_rate_percent"]),
    ]
    cells = " | ".join(f"{theory:.1f} / {measured:.1f}" for theory, measured in pairs)
    print(f"| {label} | {agents} | {cells} | {took:.1f} |", flush=True)
    return took


def main() -> None:
    print(f"{CALLS} calls per run; each cell: formula / simulator\n")
    print("| model | agents | occupancy % | SL 20 s % | ASA s | abandoned % | simulator CPU s |")
    print("|---|---|---|---|---|---|---|")
    cpu = 0.0
    for occupancy in (0.70, 0.85, 0.95):
        agents = math.ceil(LOAD / occupancy)
        cpu += row(f"Erlang C at {occupancy:.0%}", agents, 0.0)
    for occupancy in (0.70, 0.85, 0.95):
        agents = math.ceil(LOAD / occupancy)
        cpu += row(f"Erlang A at {occupancy:.0%}, patience 120 s", agents, 120.0)
    for patience in (0.0, 120.0):
        needed = agents_needed(ARRIVALS_PER_SECOND, HANDLE_SECONDS, THRESHOLD_SECONDS, 0.8, patience)
        print(f"\nagents for 80 % in 20 s, patience {patience:.0f} s: {needed.agents}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simulator: {6 * CALLS / cpu:,.0f} calls per CPU-second, peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
