"""Staffing from queueing theory (issue 7, AN-7): Erlang C against published and independently computed
values, Erlang A reducing to Erlang C when callers never give up, and the fewest agents for a target."""

import math

import pytest

from services.routing.staffing import agents_needed, erlang_a, erlang_c


def erlang_c_by_its_sum(agents: int, load: float) -> float:
    """The textbook form, summed directly: an independent check of the recursive one."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def test_erlang_c_matches_its_published_and_summed_values() -> None:
    ten_on_eleven = erlang_c(11, 10 / 180, 180, 20)
    assert ten_on_eleven.wait_probability == pytest.approx(0.6821, abs=1e-4)  # the textbook table
    for agents, load in [(2, 1.5), (11, 10.0), (97, 90.0), (30, 20.5)]:
        figures = erlang_c(agents, load / 100, 100, 20)
        assert figures.wait_probability == pytest.approx(erlang_c_by_its_sum(agents, load), rel=1e-9)
        drain = (agents - load) / 100
        assert figures.service_level == pytest.approx(1 - figures.wait_probability * math.exp(-drain * 20))
        assert figures.average_speed_of_answer_seconds == pytest.approx(figures.wait_probability / drain)
        assert figures.occupancy == pytest.approx(load / agents)


def test_too_few_agents_for_callers_who_never_give_up_is_refused() -> None:
    with pytest.raises(ValueError):
        erlang_c(10, 10 / 180, 180, 20)


@pytest.mark.parametrize(("agents", "load"), [(11, 10.0), (97, 90.0)])
def test_erlang_a_with_endless_patience_is_erlang_c(agents: int, load: float) -> None:
    c = erlang_c(agents, load / 180, 180, 20)
    a = erlang_a(agents, load / 180, 180, 1e9, 20)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-4)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    assert a.average_speed_of_answer_seconds == pytest.approx(c.average_speed_of_answer_seconds, rel=1e-3)
    assert a.abandonment_rate < 1e-5


def test_impatient_callers_shorten_the_wait_and_some_abandon() -> None:
    c = erlang_c(95, 0.5, 180, 20)
    a = erlang_a(95, 0.5, 180, 60, 20)
    assert a.average_speed_of_answer_seconds < c.average_speed_of_answer_seconds
    assert 0 < a.abandonment_rate < 0.2
    assert a.occupancy == pytest.approx(90 * (1 - a.abandonment_rate) / 95)
    overloaded = erlang_a(80, 0.5, 180, 60, 20)  # more load than agents: a stable queue all the same
    assert overloaded.abandonment_rate > 1 - 80 / 90


@pytest.mark.parametrize("patience", [0.0, 120.0])
def test_the_fewest_agents_that_reach_the_target(patience: float) -> None:
    needed = agents_needed(0.5, 180, 20, 0.8, patience)
    assert needed.service_level >= 0.8
    if needed.agents - 1 > 90 or patience:  # one fewer, where the formula has an answer
        assert erlang_a(needed.agents - 1, 0.5, 180, patience, 20).service_level < 0.8
    assert agents_needed(0.5, 180, 20, 0.95, patience).agents > needed.agents


def test_a_large_centre_is_staffed_without_overflowing() -> None:
    # 1,000 erlangs: a^n / n! passes a float's range near n = 150; the chain is summed in logarithms.
    needed = agents_needed(1000 / 180, 180, 20, 0.8, 60)
    assert 800 < needed.agents < 830 and needed.service_level >= 0.8
    assert math.isfinite(needed.average_speed_of_answer_seconds)
    assert erlang_a(needed.agents - 1, 1000 / 180, 180, 60, 20).service_level < 0.8
