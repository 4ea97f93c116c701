"""The routing simulator (issue 7): the production board and matching in virtual time. The same seed
gives the same run, every offered call is answered or abandons, a one-queue run agrees with Erlang C and
Erlang A, no call goes to an agent without its skill, and the command line prints only its JSON."""

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.routing.rules import ExpandingStep, QueueRule, Strategy
from services.routing.simulate import AgentGroup, QueueSpec, Scenario, Simulation, main, simulate
from services.routing.staffing import erlang_a, erlang_c

SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"


def one_queue(agents: int, patience: float = 0.0) -> Scenario:
    # 12 erlangs: a call every 10 s, two minutes each.
    member = QueueSpec(
        "member", QueueRule("member", (("member", 0),)), 0.1, 120, patience_seconds_mean=patience
    )
    return Scenario([member], [AgentGroup(agents, "seoul", {"member": 5})])


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    scenario = one_queue(14, patience=60)
    assert simulate(scenario, 2000, seed=7) == simulate(scenario, 2000, seed=7)
    assert simulate(scenario, 2000, seed=7) != simulate(scenario, 2000, seed=8)


def test_every_offered_call_is_answered_or_abandons() -> None:
    for patience in (0.0, 30.0):
        member = simulate(one_queue(13, patience), 3000, seed=1)["member"]
        assert member["offered"] == 3000 == member["answered"] + member["abandoned"]
        assert (member["abandoned"] > 0) == (patience > 0)


def test_one_queue_of_patient_callers_agrees_with_erlang_c() -> None:
    simulated = simulate(one_queue(16), 10_000, seed=3)["member"]
    formula = erlang_c(16, 0.1, 120, 20)
    # 10,000 calls at 75 % occupancy: the long-run values within what that sample allows.
    assert simulated["service_level_percent"] == pytest.approx(100 * formula.service_level, abs=2)
    assert simulated["average_speed_of_answer_seconds"] == pytest.approx(
        formula.average_speed_of_answer_seconds, rel=0.15
    )
    assert simulated["occupancy_percent"] == pytest.approx(100 * formula.occupancy, abs=1.5)


def test_the_estimated_wait_is_unbiased_when_nobody_gives_up() -> None:
    # In M/M/N a contact with k ahead waits (k + 1) / (N / AHT) on average: what the estimate says.
    simulated = simulate(one_queue(14), 10_000, seed=3)["member"]
    assert (
        abs(simulated["estimated_wait_mean_error_seconds"])
        < 0.1 * simulated["average_speed_of_answer_seconds"]
    )
    assert simulated["estimated_wait_mean_absolute_error_seconds"] > 0


def test_one_queue_of_impatient_callers_agrees_with_erlang_a() -> None:
    simulated = simulate(one_queue(12, patience=60), 10_000, seed=4)["member"]
    formula = erlang_a(12, 0.1, 120, 60, 20)
    assert simulated["abandonment_rate_percent"] == pytest.approx(100 * formula.abandonment_rate, abs=1.5)
    assert simulated["service_level_percent"] == pytest.approx(100 * formula.service_level, abs=3)
    assert simulated["average_speed_of_answer_seconds"] == pytest.approx(
        formula.average_speed_of_answer_seconds, rel=0.15
    )
    assert simulated["occupancy_percent"] == pytest.approx(100 * formula.occupancy, abs=1.5)


class SkillAudit(Simulation):
    """Checks, as each call is answered, that its agent has the skills its queue needs, each at the
    minimum proficiency of the step the call's target had reached (all of them or any one, as the
    queue says), and is of one of its sites unless a step let in every site."""

    def _answer(self, subject: str) -> None:
        call_id, agent_id = subject.split(" ")
        rule, seat = self._calls[call_id].queue.rule, self.board.agents[agent_id]
        taken = rule.expanding[: self.board.routed[call_id].step]
        floors = [s.min_proficiency for s in taken if s.min_proficiency is not None]
        floor = min(floors, default=10)
        held = [name for name, minimum in rule.skills if seat.skills.get(name, -1) >= min(minimum, floor)]
        assert held if rule.any_of else len(held) == len(rule.skills), (call_id, agent_id, rule)
        assert not rule.sites or seat.site_id in rule.sites or any(s.any_site for s in taken)
        self.widened += bool(taken)
        super()._answer(subject)


SKILL_NAMES = ["member", "billing", "vip"]
requirements = st.dictionaries(st.sampled_from(SKILL_NAMES), st.integers(0, 10), min_size=1)


@given(
    needs=st.lists(
        st.tuples(
            requirements,
            st.booleans(),
            st.sampled_from(list(Strategy)),
            st.lists(st.sampled_from([ExpandingStep(0, 2), ExpandingStep(0, any_site=True)]), max_size=2),
        ),
        min_size=1,
        max_size=3,
    ),
    groups=st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(SKILL_NAMES), st.integers(1, 10), min_size=1),
            st.sampled_from(["seoul", "busan"]),
        ),
        min_size=1,
        max_size=4,
    ),
    seoul_only=st.booleans(),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=25, deadline=None)
def test_no_call_goes_to_an_agent_without_the_skills_its_queue_needs(
    needs: list[tuple[dict[str, int], bool, Strategy, list[ExpandingStep]]],
    groups: list[tuple[dict[str, int], str]],
    seoul_only: bool,
    seed: int,
) -> None:
    queues = [
        QueueSpec(
            f"q{n}",
            QueueRule(
                f"q{n}",
                tuple(skills.items()),
                any_of,
                strategy,
                sites=("seoul",) if seoul_only else (),
                expanding=tuple(replace(step, after_seconds=20 * k) for k, step in enumerate(steps, 1)),
            ),
            0.05,
            60,
            patience_seconds_mean=90,
        )
        for n, (skills, any_of, strategy, steps) in enumerate(needs)
    ]
    agents = [AgentGroup(2, site, skills) for skills, site in groups]
    audit = SkillAudit(Scenario(queues, agents), random.Random(seed))
    audit.widened = 0
    audit.run(300)
    event(f"answered after widening: {'some' if audit.widened else 'none'}")


def test_the_command_line_prints_only_its_json_and_refuses_a_bad_scenario(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([str(SCENARIOS / "member.toml"), "--calls", "500", "--seed", "2", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures["queues"]["member"]) == {
        "offered",
        "answered",
        "abandoned",
        "service_level_percent",
        "average_speed_of_answer_seconds",
        "abandonment_rate_percent",
        "occupancy_percent",
        "estimated_wait_mean_absolute_error_seconds",
        "estimated_wait_mean_error_seconds",
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[[queues]]\nid = "q"\nskill = "s"\nstrategy = "psychic"\narrivals_per_hour = 1\n')
    assert main([str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "psychic" in captured.err
