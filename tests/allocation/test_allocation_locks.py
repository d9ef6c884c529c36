"""Locked whole seats: proportional's stage 3 by flow LPs (`allocation.held`), not a MILP.

The web app keeps a year's commitments as locks. Locks put some schools far
above their targets and leave the others to share what is left; stage 3 (the
highest floor at the least D) as a MILP then found its answer at the root but
took thousands of nodes to prove it (the demo district's family engagement
category, checked in as ``data/locked_family_engagement.json``: 57 locks, 43
schools, 33 services). These tests hold the answer to the MILP's and to the
independent reference's, and the work to a bound: no MILP run in stage 3, a
few dozen LPs at most. No timing assertions: the work is counted.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from allocation import result_to_dict, result_to_json, solve
from allocation import stages as stages_module
from allocation.clock import MonotonicClock, Stage
from allocation.held import WholeFloorAtDistance

DATA = Path(__file__).parent / "data"
MAX_CHECKS = 64  # LPs of one stage-3 search: a bisection over breakpoints (13 on the repro)


def repro() -> dict[str, Any]:
    problem: dict[str, Any] = json.loads((DATA / "locked_family_engagement.json").read_text())
    return problem


def locked_instance(seed: int, schools: int = 10, services: int = 6) -> dict[str, Any]:
    """Whole seats, broad eligibility, locks that pile seats on a few schools, a limit."""
    rng = random.Random(seed)
    ids = [f"S{i}" for i in range(schools)]
    crowded = rng.sample(ids, 2)  # the schools the locks favour
    entries: list[dict[str, Any]] = []
    locks: list[dict[str, Any]] = []
    for j in range(services):
        capacity = rng.randint(5, 60)
        eligible = sorted(set(rng.sample(ids, rng.randint(3, schools))) | set(crowded))
        entry: dict[str, Any] = {
            "id": f"J{j}",
            "category": "family_engagement",
            "unit": "seats",
            "capacity": capacity,
            "integer": True,
            "eligible": eligible,
        }
        if rng.random() < 0.3:
            entry["max_per_school"] = rng.choice([6, 10, 25])
        entries.append(entry)
        room = min(capacity, entry.get("max_per_school", capacity))
        for school in rng.sample(crowded, rng.randint(0, 2)):
            amount = rng.randint(1, max(1, room // 2))
            locks.append({"service": entry["id"], "school": school, "amount": amount})
    problem: dict[str, Any] = {
        "schools": [{"id": s, "weight": rng.choice([12.5, 40, 75.25, 131.5, 250])} for s in ids],
        "services": entries,
        "locks": locks,
        "options": {"time_limit_s": 600},
    }
    if rng.random() < 0.5:
        problem["limits"] = [
            {"school": ids[-1], "category": "family_engagement", "max": rng.randint(2, 9)}
        ]
    return problem


class _Watch:
    """Counts what stage 3 runs: PuLP solver runs (MILPs) and the LP checks of the search."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.stage: Stage | None = None
        self.stage3_solver_runs = 0
        self.checks: list[int] = []
        run = stages_module.run
        search = WholeFloorAtDistance.search

        def counted_run(problem: Any, solver: Any) -> Any:
            if self.stage == "shared_floor":
                self.stage3_solver_runs += 1
            return run(problem, solver)

        def counted_search(held: WholeFloorAtDistance, start: np.ndarray) -> Any:
            try:
                return search(held, start)
            finally:
                self.checks.append(held.checks)

        monkeypatch.setattr(stages_module, "run", counted_run)
        monkeypatch.setattr(WholeFloorAtDistance, "search", counted_search)
        watch = self

        class Clock(MonotonicClock):
            def starting(self, category: str, stage: Stage) -> None:
                watch.stage = stage

        self.clock = Clock()


def test_the_demo_districts_locked_category_is_proven_by_lps(
    monkeypatch: pytest.MonkeyPatch, feasible: Any
) -> None:
    problem = repro()
    problem["options"] = {"time_limit_s": 3600}  # generous: the work is what is bounded
    watch = _Watch(monkeypatch)
    result = result_to_dict(solve(problem, clock=watch.clock))
    feasible(problem, result)
    assert result["status"] == "optimal"
    figures = result["categories"]["family_engagement:seats"]
    assert figures["status"] == "optimal"
    assert figures["stage"] == "shared_floor"
    assert figures["placed"] == 2736
    # The MILP's figures (it took 2,374 nodes to prove this floor).
    assert figures["gap"] == pytest.approx(0.4568999689046861, rel=1e-9)
    assert figures["min_coverage"] == pytest.approx(0.11299384958967724, rel=1e-9)
    assert watch.stage3_solver_runs == 0
    assert len(watch.checks) == 1
    assert 0 < watch.checks[0] <= MAX_CHECKS
    for lock in problem["locks"]:
        assert {"service": lock["service"], "school": lock["school"], "amount": lock["amount"]} in (
            result["allocations"]
        )


@pytest.mark.parametrize("seed", range(10))
def test_locked_stage_3_agrees_with_the_milp_and_the_reference(
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
    feasible: Any,
    reference_figures: Any,
) -> None:
    problem = locked_instance(seed)
    watch = _Watch(monkeypatch)
    searched = result_to_dict(solve(problem, clock=watch.clock))
    feasible(problem, searched)
    expected = reference_figures(problem, "proportional")
    if expected is None:
        assert searched["status"] == "infeasible"
        return
    assert searched["status"] == "optimal"
    figures = searched["categories"]["family_engagement"]
    assert figures["stage"] == "shared_floor"
    assert watch.stage3_solver_runs == 0
    # The search ran once, its LPs bounded (none when a limit max settles the floor).
    assert len(watch.checks) == 1
    assert watch.checks[0] <= MAX_CHECKS
    for key in ("placed", "gap", "min_coverage"):
        assert figures[key] == pytest.approx(expected["family_engagement"][key], rel=1e-6), key
    # The MILP stage 3 (the flow search switched off) reaches the same floor and gap.
    monkeypatch.setattr(stages_module, "integral_flow", lambda data, has_binaries: None)
    milp = result_to_dict(solve(problem))
    feasible(problem, milp)
    assert milp["status"] == "optimal"
    for key in ("placed", "gap", "min_coverage"):
        other = milp["categories"]["family_engagement"][key]
        assert figures[key] == pytest.approx(other, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("seed", range(3))
def test_locked_stage_3_is_the_same_in_any_order(seed: int) -> None:
    problem = locked_instance(seed, schools=14, services=8)
    first = result_to_json(solve(problem))
    assert result_to_json(solve(problem)) == first
    shuffled = json.loads(json.dumps(problem))
    rng = random.Random(seed)
    for key in ("schools", "services", "locks"):
        rng.shuffle(shuffled[key])
    for service in shuffled["services"]:
        rng.shuffle(service["eligible"])
    assert (
        result_to_dict(solve(shuffled))["allocations"]
        == (result_to_dict(solve(problem))["allocations"])
    )


def test_time_running_out_inside_the_search_keeps_the_best_floor_found(
    monkeypatch: pytest.MonkeyPatch, feasible: Any
) -> None:
    # The limit runs out after the search's first LP: it returns the best allocation it
    # has (stage 2's or better, D held), unproven, and says time_limit at stage "shared".
    problem = repro()
    problem["options"] = {"time_limit_s": 600}

    class Clock(MonotonicClock):
        time = 0.0

        def now(self) -> float:
            return self.time

    clock = Clock()
    check = WholeFloorAtDistance.check

    def one_check(held: WholeFloorAtDistance, floors: np.ndarray) -> Any:
        found = check(held, floors)
        clock.time += 10_000.0
        return found

    monkeypatch.setattr(WholeFloorAtDistance, "check", one_check)
    result = result_to_dict(solve(problem, clock=clock))
    feasible(problem, result)
    assert result["status"] == "time_limit"
    figures = result["categories"]["family_engagement:seats"]
    assert figures["status"] == "time_limit"
    assert figures["stage"] == "shared"
    assert figures["placed"] == 2736
    assert figures["gap"] == pytest.approx(0.4568999689046861, rel=1e-6)
