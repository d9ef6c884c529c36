"""Property tests: every result feasible, figures recomputed, stage 1 shared, reference agrees.

The generated problems use per-site bounds (an `eligible` entry {"school", "max"}) now and then.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation import result_to_dict, solve
from tests.allocation.strategies import SCHOOLS, locks_and_limits


@st.composite
def eligible_lists(draw: st.DrawFn, schools: list[str] = SCHOOLS) -> list[Any]:
    """An `eligible` list; about one entry in four a per-site bound {"school", "max"}."""
    chosen = draw(st.lists(st.sampled_from(schools), min_size=1, max_size=5, unique=True))
    entries: list[Any] = []
    for school in chosen:
        if draw(st.integers(0, 3)) == 0:
            entries.append({"school": school, "max": draw(st.sampled_from([0, 1, 2.5, 4, 8]))})
        else:
            entries.append(school)
    return entries


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    schools = [
        {"id": s, "weight": draw(st.sampled_from([0.5, 1, 2, 3, 7.25, 10]))} for s in SCHOOLS
    ]
    services = []
    for j in range(draw(st.integers(1, 5))):
        entry: dict[str, Any] = {
            "id": f"J{j}",
            "category": draw(st.sampled_from(["a", "b"])),
            "capacity": draw(st.sampled_from([0, 3, 7, 10, 12.5, 25, 40])),
            "integer": draw(st.booleans()),
            "eligible": draw(eligible_lists()),
        }
        if draw(st.booleans()):
            entry["max_per_school"] = draw(st.sampled_from([0, 2, 5, 9, 15]))
        if draw(st.integers(0, 3)) == 0:
            entry["min_viable"] = draw(st.sampled_from([2, 4, 6]))
        services.append(entry)
    locks, limits = locks_and_limits(draw, services)
    return {"schools": schools, "services": services, "locks": locks, "limits": limits}


PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(problem=problems())
def test_results_are_feasible_and_objectives_share_stage_1(
    problem: dict[str, Any], feasible: Any
) -> None:
    proportional = result_to_dict(solve(problem, objective="proportional"))
    maxmin = result_to_dict(solve(problem, objective="maxmin"))
    feasible(problem, proportional)
    feasible(problem, maxmin)
    assert proportional["status"] == maxmin["status"]
    assert proportional["status"] in ("optimal", "infeasible")
    for category, figures in proportional["categories"].items():
        other = maxmin["categories"][category]
        assert figures["placed"] == pytest.approx(other["placed"], rel=1e-6, abs=1e-6)


@PROPERTY_SETTINGS
@given(problem=problems(), objective=st.sampled_from(["proportional", "maxmin"]))
def test_figures_match_an_independent_reference(
    problem: dict[str, Any], objective: str, agrees_with_reference: Any
) -> None:
    result = result_to_dict(solve(problem, objective=objective))
    agrees_with_reference(problem, objective, result, rel=1e-5, abs_=1e-6)
