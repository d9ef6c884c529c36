"""Time limits, made to run out at a chosen stage by a clock the test drives.

No test here races the machine's clock: `solve` reads the time from the
`clock` it is given, which stands still until the chosen stage of the chosen
category starts and then jumps past any limit. Every HiGHS run before that is
given the whole (generous) limit, so the outcome is the same on any machine.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from allocation import result_to_dict, solve
from allocation import stages as stages_module
from allocation.clock import Budget, MonotonicClock, Stage

LIMIT_S = 600.0  # never reached by the clock below until it jumps


class RunsOutAt:
    """A clock that stands still until `stage` of `category` starts, then jumps past the limit."""

    def __init__(self, category: str | None = None, stage: Stage | None = None) -> None:
        self.at = (category, stage)
        self.time = 1000.0
        self.started: list[tuple[str, Stage]] = []

    def now(self) -> float:
        return self.time

    def starting(self, category: str, stage: Stage) -> None:
        self.started.append((category, stage))
        if (category, stage) == self.at:
            self.time += 10 * LIMIT_S


def instance(kind: str, seed: int = 3) -> dict[str, Any]:
    """One "tutoring" category: continuous hours, whole seats, or whole seats in cohorts."""
    rng = random.Random(seed)
    ids = [f"S{i:02d}" for i in range(12)]
    services = []
    for j in range(8):
        service: dict[str, Any] = {
            "id": f"J{j}",
            "category": "tutoring",
            "capacity": rng.randint(6, 30),
            "eligible": sorted(rng.sample(ids, rng.randint(3, 8))),
        }
        if kind != "hours":
            service["integer"] = True
        if kind == "cohorts" and j % 2 == 0:
            service["min_viable"] = rng.randint(2, 4)
        services.append(service)
    return {
        "schools": [{"id": s, "weight": rng.choice([1, 2.5, 3, 7, 12.75])} for s in ids],
        "services": services,
        "options": {"time_limit_s": LIMIT_S},
    }


KINDS = ["hours", "seats", "cohorts"]


def unhurried(problem: dict[str, Any], objective: str) -> dict[str, Any]:
    result = result_to_dict(solve(problem, objective=objective, clock=RunsOutAt()))
    assert result["status"] == "optimal"
    return result


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("objective", "stages"),
    [
        ("proportional", ["placed", "distance", "floor"]),
        ("maxmin", ["placed", "floor", "distance"]),
    ],
)
def test_the_clock_hears_every_stage_and_time_that_stands_still_never_runs_out(
    kind: str, objective: str, stages: list[str], feasible: Any
) -> None:
    problem = instance(kind)
    clock = RunsOutAt()
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    assert result["status"] == "optimal"
    assert clock.started == [("tutoring", stage) for stage in stages]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("objective", "stage"),
    [("proportional", "distance"), ("maxmin", "floor"), ("maxmin", "distance")],
)
def test_time_running_out_after_stage_1_keeps_a_feasible_allocation(
    kind: str, objective: str, stage: Stage, feasible: Any
) -> None:
    problem = instance(kind)
    full = unhurried(problem, objective)
    result = result_to_dict(solve(problem, objective=objective, clock=RunsOutAt("tutoring", stage)))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    figures = result["categories"]["tutoring"]
    assert figures["status"] == "time_limit"
    assert result["allocations"]
    # Stage 1 finished: everything it placed stays placed.
    assert figures["placed"] == pytest.approx(full["categories"]["tutoring"]["placed"])
    if stage == "distance" and objective == "maxmin":
        # Stage 2 finished too: its floor is held.
        expected = full["categories"]["tutoring"]["min_coverage"]
        assert figures["min_coverage"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
def test_time_running_out_before_stage_1_gives_no_solution(kind: str, objective: str) -> None:
    problem = instance(kind)
    result = result_to_dict(
        solve(problem, objective=objective, clock=RunsOutAt("tutoring", "placed"))
    )
    assert result["status"] == "time_limit"
    assert result["categories"]["tutoring"]["status"] == "no_solution"
    assert result["categories"]["tutoring"]["placed"] == 0
    assert result["allocations"] == []
    assert {r["why"] for r in result["schools"]} == {
        "No allocation was found for this category within the time limit."
    }


def test_time_running_out_in_one_category_leaves_the_others_optimal(feasible: Any) -> None:
    problem = instance("seats")
    problem["services"] += [
        {**service, "id": f"M{service['id']}", "category": "mentoring"}
        for service in instance("hours", seed=5)["services"]
    ]
    clock = RunsOutAt("tutoring", "distance")
    result = result_to_dict(solve(problem, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    assert result["categories"]["mentoring"]["status"] == "optimal"
    assert result["categories"]["tutoring"]["status"] == "time_limit"
    # The time ran out for good: nothing after it was started.
    assert clock.started[-1] == ("tutoring", "distance")


def test_each_category_may_use_what_is_left_but_a_reserve_for_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[float | None] = []
    make_solver = stages_module.make_solver

    def recording(solver: str, *, time_limit_s: float | None, **options: Any) -> Any:
        given.append(time_limit_s)
        return make_solver(solver, time_limit_s=time_limit_s, **options)

    monkeypatch.setattr(stages_module, "make_solver", recording)
    problem = instance("hours")
    problem["services"] += [
        {**service, "id": f"M{service['id']}", "category": "mentoring"}
        for service in instance("hours", seed=5)["services"]
    ]
    problem["options"]["time_limit_s"] = 100.0
    solve(problem, clock=RunsOutAt())
    # The first of two categories keeps a reserve of 5 s (5% of 100 s) for the second:
    # 95 s; time stands still, so the second may use all 100 s. Three stages each.
    assert given == [95.0, 95.0, 95.0, 100.0, 100.0, 100.0]
    given.clear()
    del problem["options"]["time_limit_s"]
    solve(problem)
    assert given == [None] * 6


def test_a_budget_counts_down_on_its_clock() -> None:
    clock = RunsOutAt()
    budget = Budget(30.0, clock)
    assert budget.left() == 30.0 and not budget.expired()
    clock.time += 12.5
    assert budget.left() == 17.5
    clock.time += 20.0
    assert budget.left() == 0.0 and budget.expired()
    unlimited = Budget(None, MonotonicClock())
    assert unlimited.left() is None and not unlimited.expired()


@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
def test_a_milp_stopped_with_an_incumbent_keeps_it_and_is_never_called_optimal(
    objective: str, feasible: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HiGHS stopped inside a MILP (by its time limit on a slow day; here, deterministically,
    # at its first improving solution) reports "solution limit" with an incumbent.
    make_solver = stages_module.make_solver

    def stopping(solver: str, *, highs_options: dict[str, Any] | None, **options: Any) -> Any:
        stop = {**(highs_options or {}), "mip_max_improving_sols": 1}
        return make_solver(solver, highs_options=stop, **options)

    monkeypatch.setattr(stages_module, "cohorts_apply", lambda data: False)  # the MILP itself
    monkeypatch.setattr(stages_module, "make_solver", stopping)
    problem = instance("cohorts")
    result = result_to_dict(solve(problem, objective=objective))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    assert result["categories"]["tutoring"]["status"] == "time_limit"
    assert result["allocations"]
