"""Same file, same bytes, however fast or loaded the machine: the cohort search's own
caps are counts of work, never seconds.

Without a time limit no HiGHS run of the cohort search is given a limit in seconds
(HiGHS keeps its own wall clock, which no injected clock reaches: a cap in seconds
there made a whole-seat cohort answer depend on the machine's speed). Proportional's
stage 3 bounds each of its MILP runs by HiGHS' MIP interrupt callbacks instead
(`cohorts.STAGE3_RUN_WORK`), which HiGHS makes at the same points on every machine.
"""

from __future__ import annotations

import json
import random
from typing import Any

import highspy
import pytest

from allocation import cohorts, load_problem, result_to_dict, solve
from allocation.model import category_data


def instance(seed: int) -> dict[str, Any]:
    """One whole-seat category of 14 schools, half its services in cohorts."""
    rng = random.Random(seed)
    ids = [f"S{i:02d}" for i in range(14)]
    services = []
    for j in range(10):
        service: dict[str, Any] = {
            "id": f"J{j}",
            "category": "arts",
            "capacity": rng.randint(6, 40),
            "integer": True,
            "eligible": sorted(rng.sample(ids, rng.randint(3, 8))),
        }
        if j % 2 == 0:
            service["min_viable"] = rng.randint(2, 5)
        services.append(service)
    return {
        "schools": [{"id": s, "weight": rng.choice([1, 2.5, 3, 7, 12.75])} for s in ids],
        "services": services,
    }


def as_bytes(problem: dict[str, Any], objective: str) -> bytes:
    return json.dumps(result_to_dict(solve(problem, objective=objective))).encode()


@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
@pytest.mark.parametrize("seed", [0, 15, 25])
def test_without_a_limit_no_cohort_search_run_is_given_seconds(
    objective: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[float | None] = []
    real = cohorts.set_time_limit

    def recording(highs: highspy.Highs, seconds: float | None) -> None:
        given.append(seconds)
        real(highs, seconds)

    monkeypatch.setattr(cohorts, "set_time_limit", recording)
    solve(instance(seed), objective=objective)
    assert given  # the cohort search ran
    assert all(seconds is None for seconds in given)


@pytest.mark.parametrize("seed", [15, 27])  # seeds whose stage 3 runs MILPs
def test_stage_3_stopped_by_its_work_cap_gives_the_same_bytes_every_time(
    seed: int, monkeypatch: pytest.MonkeyPatch, feasible: Any
) -> None:
    # With no work allowed, every MILP run of stage 3 is interrupted at HiGHS' first
    # callback: what the search then keeps must still be the same on every run.
    monkeypatch.setattr(cohorts, "STAGE3_RUN_WORK", 0)
    interrupted: list[bool] = []
    real = cohorts.run_highs

    def watching(highs: highspy.Highs) -> None:
        real(highs)
        interrupted.append(highs.getModelStatus() == highspy.HighsModelStatus.kInterrupt)

    monkeypatch.setattr(cohorts, "run_highs", watching)
    problem = instance(seed)
    first = as_bytes(problem, "proportional")
    again = as_bytes(problem, "proportional")
    assert any(interrupted)  # the cap was reached
    assert first == again
    feasible(problem, json.loads(first))


def test_a_work_cap_interrupts_a_milp_run_and_its_solution_is_kept() -> None:
    # The cap itself: a MILP run through `_run` with no work allowed stops at HiGHS'
    # first MIP callback (status interrupt), the same on every machine.
    search = cohorts.CohortSearch(category_data(load_problem(instance(0)), "arts"), lambda: None)
    h = search._build(
        integer=True,
        x_lower=search.lower,
        y_lower=search.school_lower,
        y_upper=search.school_upper,
        placed=None,
        targets=None,
        chords=[],
    )
    h.setOptionValue("presolve", "off")  # keep the MILP a MILP until the search starts
    search.run_work = 0
    assert search._run(h) == highspy.HighsModelStatus.kInterrupt
