"""Time limits, made to run out at a chosen stage by a clock the test drives.

No test here races the machine's clock: `solve` reads the time from the
`clock` it is given, which stands still until the chosen stage of the chosen
category starts and then jumps past any limit. Every HiGHS run before that is
given the whole (generous) limit, so the outcome is the same on any machine.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from allocation import greedy, load_problem, result_to_dict, solve
from allocation import stages as stages_module
from allocation.clock import Budget, MonotonicClock, Stage
from allocation.model import category_data
from allocation.solvers import Outcome, run
from allocation.stages import STAGES

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
@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
def test_the_clock_hears_every_stage_and_time_that_stands_still_never_runs_out(
    kind: str, objective: str, feasible: Any
) -> None:
    problem = instance(kind)
    clock = RunsOutAt()
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    assert result["status"] == "optimal"
    heard = [stage for _, stage in clock.started]
    assert {category for category, _ in clock.started} == {"tutoring"}
    # The stages in the spec's order, by the spec's names; the result names the last.
    assert heard == list(STAGES[objective][: len(heard)])
    # All three (proportional's stage 3 is being added: its first two at least, today).
    assert len(heard) == 3 if objective == "maxmin" else len(heard) >= 2
    assert result["categories"]["tutoring"]["stage"] == heard[-1]


STOPPED_AT = [("proportional", "shared"), ("maxmin", "floor"), ("maxmin", "floor_shared")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("objective", "stage"), STOPPED_AT)
def test_time_running_out_after_stage_1_keeps_a_feasible_allocation_and_names_the_stage_done(
    kind: str, objective: str, stage: Stage, feasible: Any
) -> None:
    problem = instance(kind)
    full = unhurried(problem, objective)
    result = result_to_dict(solve(problem, objective=objective, clock=RunsOutAt("tutoring", stage)))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    figures = result["categories"]["tutoring"]
    assert figures["status"] == "time_limit"
    stages = STAGES[objective]
    assert figures["stage"] == stages[stages.index(stage) - 1]
    assert result["allocations"]
    # Stage 1 finished: everything it placed stays placed.
    assert figures["placed"] == pytest.approx(full["categories"]["tutoring"]["placed"])
    if stage == "floor_shared":
        # Stage 2 finished too: its floor is held.
        expected = full["categories"]["tutoring"]["min_coverage"]
        assert figures["min_coverage"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
def test_time_running_out_before_stage_1_still_places_a_first_feasible_allocation(
    kind: str, objective: str, feasible: Any
) -> None:
    problem = instance(kind)
    full = unhurried(problem, objective)["categories"]["tutoring"]
    clock = RunsOutAt("tutoring", "placed")
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    figures = result["categories"]["tutoring"]
    assert figures["status"] == "time_limit" and figures["stage"] == "placed"
    assert result["allocations"] and figures["placed"] > 0
    if kind != "cohorts":
        # Without limits or cohorts, the greedy fill places all that can be placed.
        assert figures["placed"] == pytest.approx(full["placed"])


def cohort_district(seed: int) -> dict[str, Any]:
    """Four whole-seat categories, half the services in cohorts, with locks and limits."""
    rng = random.Random(seed)
    ids = [f"S{i:02d}" for i in range(20)]
    services = []
    for category in ("arts", "mentoring", "reading", "tutoring"):
        for j in range(6):
            service: dict[str, Any] = {
                "id": f"{category[:2].upper()}{j}",
                "category": category,
                "capacity": rng.randint(8, 40),
                "integer": True,
                "eligible": sorted(rng.sample(ids, rng.randint(3, 12))),
            }
            if j % 2 == 0:
                service["min_viable"] = rng.randint(2, 5)
            if j % 3 == 0:
                service["max_per_school"] = rng.randint(6, 12)
            services.append(service)
    limits = []
    locks = []
    for category in ("arts", "reading"):
        first = next(s for s in services if s["category"] == category and "min_viable" not in s)
        limits.append({"school": first["eligible"][-1], "category": category, "min": 3})
        limits.append({"school": first["eligible"][0], "category": category, "max": 4})
        locks.append({"service": first["id"], "school": first["eligible"][1], "amount": 2})
    return {
        "schools": [{"id": s, "weight": rng.choice([1, 2.5, 3, 7, 12.75])} for s in ids],
        "services": services,
        "locks": locks,
        "limits": limits,
        "options": {"time_limit_s": 2.0},
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
def test_a_tiny_budget_leaves_no_category_with_usable_capacity_empty(
    seed: int, objective: str, feasible: Any
) -> None:
    # A budget of 2 s that is gone as soon as the first category starts stage 1: every
    # solver run after that is refused, so what comes back is the bounded first fill.
    problem = cohort_district(seed)
    first = sorted({s["category"] for s in problem["services"]})[0]
    clock = RunsOutAt(first, "placed")
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    assert set(result["categories"]) == {"arts", "mentoring", "reading", "tutoring"}
    placed_in: dict[str, float] = {}
    for entry in result["allocations"]:
        category = entry["service"][:2]
        placed_in[category] = placed_in.get(category, 0) + entry["amount"]
    for category, figures in result["categories"].items():
        assert figures["status"] == "time_limit"
        assert figures["stage"] == "placed"
        assert figures["placed"] > 0
        assert placed_in[category[:2].upper()] == figures["placed"]


def test_time_running_out_in_one_category_leaves_the_others_optimal(feasible: Any) -> None:
    problem = instance("seats")
    problem["services"] += [
        {**service, "id": f"M{service['id']}", "category": "mentoring"}
        for service in instance("hours", seed=5)["services"]
    ]
    clock = RunsOutAt("tutoring", "shared")
    result = result_to_dict(solve(problem, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    assert result["categories"]["mentoring"]["status"] == "optimal"
    assert result["categories"]["tutoring"]["status"] == "time_limit"
    assert result["categories"]["tutoring"]["stage"] == "placed"
    # The time ran out for good: nothing after it was started.
    assert clock.started[-1] == ("tutoring", "shared")


def test_each_category_may_use_what_is_left_but_a_reserve_for_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = RunsOutAt()
    given: dict[str, set[float | None]] = {}
    make_solver = stages_module.make_solver

    def recording(solver: str, *, time_limit_s: float | None, **options: Any) -> Any:
        given.setdefault(clock.started[-1][0], set()).add(time_limit_s)
        return make_solver(solver, time_limit_s=time_limit_s, **options)

    monkeypatch.setattr(stages_module, "make_solver", recording)
    problem = instance("hours")
    problem["services"] += [
        {**service, "id": f"M{service['id']}", "category": "mentoring"}
        for service in instance("hours", seed=5)["services"]
    ]
    problem["options"]["time_limit_s"] = 100.0
    solve(problem, clock=clock)
    # The first of two categories keeps a reserve of 5 s (5% of 100 s) for the second:
    # 95 s; time stands still, so the second may use all 100 s.
    assert given == {"mentoring": {95.0}, "tutoring": {100.0}}
    given.clear()
    del problem["options"]["time_limit_s"]
    solve(problem, clock=clock)
    assert given == {"mentoring": {None}, "tutoring": {None}}


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


@pytest.mark.parametrize(("objective", "stage"), STOPPED_AT)
def test_a_milp_stopped_by_the_limit_with_an_incumbent_keeps_it_and_is_never_called_optimal(
    objective: str, stage: Stage, feasible: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HiGHS stopped inside a MILP by the time limit with an incumbent. Here, on any
    # machine: the runs of `stage` stop at their first improving solution, and the
    # clock passes the limit while they run.
    clock = RunsOutAt()
    make_solver = stages_module.make_solver

    def stopping(solver: str, *, highs_options: dict[str, Any] | None, **options: Any) -> Any:
        if clock.started[-1][1] != stage:
            return make_solver(solver, highs_options=highs_options, **options)
        made = make_solver(
            solver, highs_options={**(highs_options or {}), "mip_max_improving_sols": 1}, **options
        )
        clock.time += 10 * LIMIT_S  # it is given the time left now; it ends after the limit
        return made

    monkeypatch.setattr(stages_module, "cohorts_apply", lambda data: False)  # the MILP itself
    monkeypatch.setattr(stages_module, "IntegralFloor", None)  # the floor by MILP too
    monkeypatch.setattr(stages_module, "integral_flow", lambda data, binaries: False)
    monkeypatch.setattr(stages_module, "make_solver", stopping)
    problem = instance("cohorts")
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    figures = result["categories"]["tutoring"]
    assert figures["status"] == "time_limit"
    stages = STAGES[objective]
    assert figures["stage"] == stages[stages.index(stage) - 1]
    assert result["allocations"]


@pytest.mark.parametrize("limit", [None, LIMIT_S])
@pytest.mark.parametrize(("objective", "stage"), STOPPED_AT)
def test_a_run_that_ends_unproven_without_hitting_a_limit_is_retried_and_never_time_limit(
    objective: str,
    stage: Stage,
    limit: float | None,
    feasible: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # HiGHS returning "unknown" (or any end without proof) while no limit was hit: the
    # run is retried (without presolve, then with the other LP algorithm); when that
    # fails too, the stage is not completed, and nothing blames a time limit.
    clock = RunsOutAt()
    tries: list[Stage] = []

    def hiccup(lp: Any, solver: Any) -> Outcome:
        if clock.started[-1][1] == stage:
            tries.append(stage)
            return Outcome.STOPPED  # what PuLP makes of HiGHS' "unknown"
        return run(lp, solver)

    monkeypatch.setattr(stages_module, "run", hiccup)
    # The floor of continuous hours through PuLP, not `allocation.floor`'s own LPs.
    monkeypatch.setattr(stages_module, "continuous_flow", lambda data, binaries: False)
    problem = instance("hours")
    if limit is None:
        del problem["options"]["time_limit_s"]
    result = result_to_dict(solve(problem, objective=objective, clock=clock))
    feasible(problem, result)
    figures = result["categories"]["tutoring"]
    assert result["status"] == figures["status"] == "optimal"
    stages = STAGES[objective]
    assert figures["stage"] == stages[stages.index(stage) - 1]
    assert result["allocations"]
    assert len(tries) == 3
    # The same failure once time has run out is the limit's doing.
    clock = RunsOutAt("tutoring", stage)
    tries.clear()
    if limit is not None:
        result = result_to_dict(solve(problem, objective=objective, clock=clock))
        assert result["categories"]["tutoring"]["status"] == "time_limit"
        assert tries == []  # no run once the budget is gone


def test_a_hiccup_in_stage_1_is_an_error_not_a_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages_module, "run", lambda lp, solver: Outcome.STOPPED)
    monkeypatch.setattr(stages_module, "placed_bound", lambda data: math.inf)  # no proof by fill
    problem = instance("hours")
    del problem["options"]["time_limit_s"]
    with pytest.raises(RuntimeError, match="the solver failed on category 'tutoring'"):
        solve(problem)


def test_when_the_greedy_fill_cannot_meet_the_limits_the_rounded_relaxation_does(
    feasible: Any,
) -> None:
    # S1 and S2 each need 10 seats. The fill serves S1 first, from A (the service with
    # the most left, first by id), and then B (S1's only other service) cannot help S2.
    # The LP relaxation gives S1 B's 10 and S2 A's 10.
    problem: dict[str, Any] = {
        "schools": [{"id": "S1", "weight": 1}, {"id": "S2", "weight": 1}],
        "services": [
            {"id": "A", "category": "c", "capacity": 10, "integer": True, "eligible": ["S1", "S2"]},
            {"id": "B", "category": "c", "capacity": 10, "integer": True, "eligible": ["S1"]},
        ],
        "limits": [
            {"school": "S1", "category": "c", "min": 10},
            {"school": "S2", "category": "c", "min": 10},
        ],
        "options": {"time_limit_s": LIMIT_S},
    }
    data = category_data(load_problem(problem), "c")
    assert greedy.fill(data) is None
    found = greedy.first_feasible(data, None)
    assert found.method == "relaxation" and found.amounts is not None
    result = result_to_dict(solve(problem, clock=RunsOutAt("c", "placed")))
    feasible(problem, result)
    assert result["categories"]["c"]["status"] == "time_limit"
    assert {(a["service"], a["school"]): a["amount"] for a in result["allocations"]} == {
        ("A", "S2"): 10,
        ("B", "S1"): 10,
    }


def test_an_infeasible_relaxation_is_a_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    # S1 and S2 need 10 each of A's 15 (the pre-checks see each alone as reachable).
    problem: dict[str, Any] = {
        "schools": [{"id": "S1", "weight": 1}, {"id": "S2", "weight": 1}],
        "services": [{"id": "A", "category": "c", "capacity": 15, "eligible": ["S1", "S2"]}],
        "limits": [
            {"school": "S1", "category": "c", "min": 10},
            {"school": "S2", "category": "c", "min": 10},
        ],
    }
    data = category_data(load_problem(problem), "c")
    found = greedy.first_feasible(data, None)
    assert found.infeasible and found.amounts is None
    # No solver run is needed to say so; the conflict is explained as before.
    monkeypatch.setattr(stages_module, "run", lambda lp, solver: pytest.fail("a solver run"))
    result = result_to_dict(solve(problem, clock=RunsOutAt("c", "placed")))
    assert result["status"] == "infeasible" and result["conflicts"]


@pytest.mark.parametrize("seed", range(8))
def test_the_first_fill_is_feasible_with_locks_limits_and_cohorts(seed: int, feasible: Any) -> None:
    problem = cohort_district(seed)
    loaded = load_problem(problem)
    for category in ("arts", "mentoring", "reading", "tutoring"):
        data = category_data(loaded, category)
        found = greedy.first_feasible(data, None)
        assert found.amounts is not None, category
    result = result_to_dict(solve(problem, clock=RunsOutAt("arts", "placed")))
    feasible(problem, result)


@pytest.mark.parametrize("kind", KINDS)
def test_a_fill_that_places_all_that_can_be_placed_proves_stage_1_without_a_solver(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = RunsOutAt()
    runs: list[str] = []

    def recording(lp: Any, solver: Any) -> Outcome:
        runs.append(clock.started[-1][1])
        return run(lp, solver)

    monkeypatch.setattr(stages_module, "run", recording)
    problem = instance(kind)
    result = result_to_dict(solve(problem, clock=clock))
    assert result["status"] == "optimal"
    data = category_data(load_problem(problem), "tutoring")
    placed = result["categories"]["tutoring"]["placed"]
    # Every service gives min(C_j, its reach) here, except what cohorts leave over.
    assert placed <= greedy.placed_bound(data) + 1e-6
    if kind != "cohorts":
        assert placed == pytest.approx(greedy.placed_bound(data), rel=1e-9)
        assert "placed" not in runs
