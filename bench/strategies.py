"""Routing rules compared in the simulator (issue 7, item 11): the two-site, mixed-skill scenario
(bench/scenarios/two-sites.toml) routed three ways on the same calls:

- skills + expanding targets: each queue's skills at their minimums and its own site first, widened
  after its expanding steps (lower minimum, then every site), VIP calls overflowing to member agents;
- skills only: the same targets, never widened;
- first in, first out to any agent: every queue takes any agent, the longest waiting call first.

An agent without a queue's skills handles its calls 1.5 times as long (the scenario's
`outside_target_handle_factor`), whichever way it was routed to them. Prints service level at 20 s,
abandonment and ASA per queue and for all calls.

    make bench-strategies                  BENCH_CALLS (50000) calls per run, BENCH_SEED (1)
"""

import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from services.routing.rules import QueueRule
from services.routing.simulate import QueueSpec, Scenario, simulate

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "two-sites.toml"
CALLS = int(os.environ.get("BENCH_CALLS", "50000"))
SEED = int(os.environ.get("BENCH_SEED", "1"))


def skills_only(queue: QueueSpec) -> QueueSpec:
    return replace(queue, rule=replace(queue.rule, expanding=(), max_wait_seconds=0, overflow_queue_id=""))


def fifo_to_anyone(skill_names: list[str]) -> Callable[[QueueSpec], QueueSpec]:
    def route(queue: QueueSpec) -> QueueSpec:
        anyone = QueueRule(queue.queue_id, tuple((name, 0) for name in skill_names), any_of=True)
        return replace(queue, rule=anyone, competence=queue.rule)

    return route


def main() -> None:
    base = Scenario.parse(tomllib.loads(SCENARIO.read_text()))
    names = sorted({name for group in base.agents for name in group.skills})
    variants: dict[str, Callable[[QueueSpec], QueueSpec]] = {
        "skills + expanding targets": lambda queue: queue,
        "skills only": skills_only,
        "first in, first out to any agent": fifo_to_anyone(names),
    }
    print(f"{SCENARIO.name}: {CALLS} calls per run, seed {SEED}")
    print(f"{'routing':34} {'queue':8} {'SL 20s %':>9} {'abandoned %':>12} {'ASA s':>7} {'offered':>8}")
    for label, variant in variants.items():
        scenario = replace(base, queues=[variant(queue) for queue in base.queues])
        started = time.process_time()
        figures = simulate(scenario, CALLS, SEED)
        took = time.process_time() - started
        offered = sum(row["offered"] for row in figures.values())
        for queue_id, row in [*figures.items(), ("all", _overall(figures, offered))]:
            print(
                f"{label:34} {queue_id:8} {row['service_level_percent']:9.1f} "
                f"{row['abandonment_rate_percent']:12.2f} {row['average_speed_of_answer_seconds']:7.1f} "
                f"{int(row['offered']):8d}"
            )
        print(f"{'':34} ({took:.1f} CPU-seconds)")


def _overall(figures: dict[str, dict[str, float | int]], offered: int) -> dict[str, float]:
    """Every call together: service level and abandonment weighted by calls offered, ASA by answered."""
    answered = sum(row["answered"] for row in figures.values())
    return {
        "service_level_percent": sum(r["service_level_percent"] * r["offered"] for r in figures.values())
        / offered,
        "abandonment_rate_percent": 100.0 * sum(r["abandoned"] for r in figures.values()) / offered,
        "average_speed_of_answer_seconds": sum(
            r["average_speed_of_answer_seconds"] * r["answered"] for r in figures.values()
        )
        / max(answered, 1),
        "offered": offered,
    }


if __name__ == "__main__":
    main()
