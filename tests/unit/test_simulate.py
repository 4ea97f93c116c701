"""The routing simulator (issue 7): the production board and matching in virtual time. The same seed
gives the same run, every offered call is answered or abandons, a one-queue run agrees with Erlang C and
Erlang A, no call goes to an agent without its skill, and the command line prints only its JSON."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.simulate import AgentGroup, QueueSpec, Scenario, Simulation, main, simulate
from services.routing.staffing import erlang_a, erlang_c

SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"


def one_queue(agents: int, patience: float = 0.0) -> Scenario:
    # 12 erlangs: a call every 10 s, two minutes each.
    member = QueueSpec("member", "member", 0.1, 120, patience_seconds_mean=patience)
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
    """Checks, as each call is answered, that its agent has the skill its queue needs."""

    def _answer(self, subject: str) -> None:
        call_id, agent_id = subject.split(" ")
        needed = self._calls[call_id].queue.skill
        assert needed in self.board.agents[agent_id].skills, (call_id, agent_id, needed)
        super()._answer(subject)


@given(
    skill_sets=st.lists(
        st.sets(st.sampled_from(["member", "billing", "vip"]), min_size=1), min_size=1, max_size=4
    ),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=25, deadline=None)
def test_no_call_goes_to_an_agent_without_the_skill_its_queue_needs(
    skill_sets: list[set[str]], seed: int
) -> None:
    queues = [
        QueueSpec(skill, skill, 0.05, 60, patience_seconds_mean=90) for skill in ("member", "billing", "vip")
    ]
    agents = [AgentGroup(2, "seoul", dict.fromkeys(skills, 5)) for skills in skill_sets]
    SkillAudit(Scenario(queues, agents), random.Random(seed)).run(300)


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
