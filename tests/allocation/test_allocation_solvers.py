"""Solver plumbing: status mapping, and HiGHS and CBC agreeing.

Time limits are tested in test_allocation_time_limit.py.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from pulp import constants as pc
from test_allocation_time_limit import RunsOutAt, cohort_district
from test_allocation_workers import several_categories

from allocation import result_to_dict, solve
from allocation.solvers import Outcome, cbc_seconds, make_solver, outcome_of


@pytest.mark.parametrize(
    ("status", "sol_status", "expected"),
    [
        (pc.LpStatusOptimal, pc.LpSolutionOptimal, Outcome.OPTIMAL),
        # What PuLP reports for a MILP stopped by its time limit with an incumbent.
        (pc.LpStatusOptimal, pc.LpSolutionIntegerFeasible, Outcome.TIME_LIMIT),
        # CBC stopped before any solution: values are left in the variables, unusable.
        (pc.LpStatusNotSolved, pc.LpSolutionNoSolutionFound, Outcome.STOPPED),
        (pc.LpStatusOptimal, pc.LpSolutionNoSolutionFound, Outcome.STOPPED),
        (pc.LpStatusInfeasible, pc.LpSolutionInfeasible, Outcome.INFEASIBLE),
        (pc.LpStatusInfeasible, pc.LpSolutionNoSolutionFound, Outcome.INFEASIBLE),
        (pc.LpStatusUnbounded, pc.LpSolutionUnbounded, Outcome.ERROR),
        (pc.LpStatusUndefined, pc.LpSolutionNoSolutionFound, Outcome.ERROR),
    ],
)
def test_status_mapping(status: int, sol_status: int, expected: Outcome) -> None:
    assert outcome_of(status, sol_status) == expected


def small_instance(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = [f"S{i}" for i in range(6)]
    return {
        "schools": [{"id": s, "weight": rng.randint(1, 9)} for s in ids],
        "services": [
            {
                "id": f"J{j}",
                "category": rng.choice(["a", "b"]),
                "capacity": rng.randint(0, 30),
                "integer": rng.random() < 0.5,
                **({"min_viable": rng.randint(2, 6)} if rng.random() < 0.3 else {}),
                **({"max_per_school": rng.randint(3, 12)} if rng.random() < 0.3 else {}),
                "eligible": rng.sample(ids, rng.randint(1, 6)),
            }
            for j in range(5)
        ],
    }


@pytest.mark.parametrize("limit", [None, 600.0])
@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_highs_and_cbc_agree(seed: int, objective: str, limit: float | None, feasible: Any) -> None:
    # With a limit, cbc runs under `TimedCOIN_CMD`'s own wait (killed past the limit).
    problem = small_instance(seed)
    if limit is not None:
        problem["options"] = {"time_limit_s": limit}
    highs = result_to_dict(solve(problem, objective=objective, solver="highs"))
    cbc = result_to_dict(solve(problem, objective=objective, solver="cbc"))
    feasible(problem, highs)
    feasible(problem, cbc)
    assert highs["status"] == cbc["status"] == "optimal"
    for category, figures in highs["categories"].items():
        other = cbc["categories"][category]
        # Proportional optima tie on D, so their floors may differ; maxmin fixes both.
        keys = (
            ("placed", "gap") if objective == "proportional" else ("placed", "gap", "min_coverage")
        )
        for key in keys:
            assert figures[key] == pytest.approx(other[key], rel=1e-6, abs=1e-6), key


def whole_seats(seed: int) -> dict[str, Any]:
    """Five whole-seat categories over 16 schools, no cohorts (a lock, a limit, per-site
    bounds): on such categories CBC used to branch for minutes on stage 2."""
    problem = several_categories(seed)
    for service in problem["services"]:
        service.pop("min_viable", None)
        service["integer"] = True
    return problem


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cbc_stage_2_lp_on_whole_seats_has_whole_vertices(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The LP relaxation of what CBC is given for stage 2, solved by CBC's own simplex
    # (a vertex): its seats are whole, so CBC proves its optimum at the root. With the
    # chord cuts and sum y >= T* - 0.5 it had half seats and fractions.
    import numpy as np
    import pulp

    import allocation.stages as engine

    relaxations: list[list[float]] = []
    real = engine.run

    def relaxing_first(lp: Any, solver: Any) -> Outcome:
        if lp.name == "distance":
            kinds = {variable.name: variable.cat for variable in lp.variables()}
            for variable in lp.variables():
                variable.cat = pulp.LpContinuous
            assert real(lp, make_solver("cbc", time_limit_s=None)) == Outcome.OPTIMAL
            relaxations.append([v.varValue for v in lp.variables() if v.name.startswith("x")])
            for variable in lp.variables():
                variable.cat = kinds[variable.name]
        return real(lp, solver)

    monkeypatch.setattr(engine, "run", relaxing_first)
    problem = whole_seats(seed)
    problem["options"] = {"time_limit_s": 60}  # a bound: the old model branched for minutes
    solve(problem, objective="proportional", solver="cbc")
    assert relaxations
    for seats in relaxations:
        assert seats and np.allclose(seats, np.round(seats), atol=1e-7)


@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cbc_proves_whole_seat_categories_as_highs_does(
    seed: int, objective: str, feasible: Any
) -> None:
    problem = whole_seats(seed)
    problem["options"] = {"time_limit_s": 300}  # a bound, far above what it takes
    highs = result_to_dict(solve(problem, objective=objective, solver="highs"))
    cbc = result_to_dict(solve(problem, objective=objective, solver="cbc"))
    feasible(problem, cbc)
    assert cbc["status"] == "optimal"
    assert {c["stage"] for c in cbc["categories"].values()} == {
        "shared_floor" if objective == "proportional" else "floor_shared"
    }
    for category, figures in highs["categories"].items():
        for key in ("placed", "gap", "min_coverage"):
            assert figures[key] == pytest.approx(cbc["categories"][category][key], abs=1e-9)


def test_a_highs_solve_error_is_retried_without_presolve() -> None:
    # A case the property test drew. J0 is whole seats but locked at 0, J2 has no
    # capacity: what is left is J1's 3 hours for S0 (weight 0.5) and S2 (weight 1).
    # maxmin: y0 / 0.5 = y2 / 1 with y0 + y2 = 3 gives y0 = 1, y2 = 2, z* = 2; stage 3
    # then has D = 0. HiGHS 1.16, at the engine's MIP feasibility tolerance of 1e-9,
    # ended stage 3 (a MILP only through the fixed J0 column) with kSolveError, and the
    # result came out `time_limit` with no time limit set.
    problem = {
        "schools": [
            {"id": "S0", "weight": 0.5},
            {"id": "S1", "weight": 0.5},
            {"id": "S2", "weight": 1},
        ],
        "services": [
            {
                "id": "J0",
                "category": "a",
                "capacity": 3,
                "integer": True,
                "eligible": ["S0"],
                "min_viable": 2,
            },
            {"id": "J1", "category": "a", "capacity": 3, "eligible": ["S2", "S0"]},
            {"id": "J2", "category": "a", "capacity": 0, "eligible": ["S0"], "min_viable": 2},
        ],
        "locks": [{"service": "J0", "school": "S0", "amount": 0}],
    }
    result = result_to_dict(solve(problem, objective="maxmin"))
    assert result["status"] == "optimal"
    figures = result["categories"]["a"]
    assert figures["placed"] == pytest.approx(3, rel=1e-6)
    assert figures["min_coverage"] == pytest.approx(2, rel=1e-6)
    assert figures["gap"] == pytest.approx(0, abs=1e-6)


def test_cbc_under_a_tiny_budget_returns_a_first_feasible_allocation(feasible: Any) -> None:
    # The budget is gone as soon as stage 1 starts: no cbc run is made, and each
    # category still comes back with the bounded first fill.
    problem = cohort_district(4)
    clock = RunsOutAt("arts", "placed")
    result = result_to_dict(solve(problem, solver="cbc", clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    for figures in result["categories"].values():
        assert figures["status"] == "time_limit" and figures["stage"] == "placed"
        assert figures["placed"] > 0


SLOW_CBC = """#!/bin/sh
# A cbc that ignores its -sec: it notes its pid and sleeps.
echo $$ > "{pids}/$$"
exec sleep 600
"""


def test_a_cbc_that_overruns_its_limit_is_killed_and_the_first_fill_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feasible: Any
) -> None:
    # Not a race: this cbc never ends by itself, however fast the machine. Given a
    # limit of 0.5 s, it is killed when what is left of it has passed (or, on a
    # machine too slow to reach stage 1 in 0.5 s, never started).
    pids = tmp_path / "pids"
    pids.mkdir()
    cbc = tmp_path / "bin" / "cbc"
    cbc.parent.mkdir()
    cbc.write_text(SLOW_CBC.format(pids=pids))
    cbc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{cbc.parent}{os.pathsep}{os.environ['PATH']}")
    problem = cohort_district(5)
    problem["services"] = [s for s in problem["services"] if s["category"] == "tutoring"]
    problem["locks"] = []
    problem["limits"] = []
    problem["options"] = {"time_limit_s": 0.5}
    started = time.monotonic()
    result = result_to_dict(solve(problem, solver="cbc"))
    took = time.monotonic() - started
    feasible(problem, result)
    figures = result["categories"]["tutoring"]
    assert result["status"] == figures["status"] == "time_limit"
    assert figures["stage"] == "placed" and figures["placed"] > 0
    assert took < 600  # it did not wait for the sleeping cbc
    for noted in pids.iterdir():
        with pytest.raises(ProcessLookupError):
            os.kill(int(noted.name), 0)  # killed (and reaped)


STOPPED_ON_TIME_CBC = """#!/bin/sh
# A cbc that stops on its -sec at once without a solution, and says so as a real one does.
while [ "$#" -gt 0 ]; do
  if [ "$1" = "-solution" ]; then
    echo "Stopped on time (no integer solution - continuous used) - objective value 0" > "$2"
  fi
  shift
done
"""


def test_a_cbc_stopped_on_its_own_time_limit_is_a_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feasible: Any
) -> None:
    # The budget (600 s on a clock that stands still) is not used up, but cbc says its
    # -sec stopped it: that is the limit's doing, not a solver failure.
    cbc = tmp_path / "cbc"
    cbc.write_text(STOPPED_ON_TIME_CBC)
    cbc.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    problem = cohort_district(6)
    problem["options"] = {"time_limit_s": 600.0}
    result = result_to_dict(solve(problem, solver="cbc", clock=RunsOutAt()))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    for figures in result["categories"].values():
        assert figures["status"] == "time_limit" and figures["stage"] == "placed"
        assert figures["placed"] > 0


def test_cbc_is_told_a_little_less_than_its_limit_and_killed_at_the_limit() -> None:
    assert cbc_seconds(0.5) == pytest.approx(0.25)
    assert cbc_seconds(60.0) == pytest.approx(56.5)
    assert cbc_seconds(600.0) == pytest.approx(569.5)
    solver = make_solver("cbc", time_limit_s=60.0)
    assert (solver.timeLimit, solver.kill_after_s) == (pytest.approx(56.5), 60.0)
    unlimited = make_solver("cbc", time_limit_s=None)
    assert (unlimited.timeLimit, unlimited.kill_after_s) == (None, None)
