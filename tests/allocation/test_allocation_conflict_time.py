"""The conflict search counts against the time limit: with none left it names every lock
and limit (the spec's "no silent relaxation" still holds), without searching."""

from __future__ import annotations

from typing import Any

from allocation import explain, result_to_dict, solve
from allocation.clock import Stage
from tests.allocation.test_allocation_conflicts import base


class RunsOutAtStage1:
    """A clock that stands still until stage 1 starts, then jumps past any limit."""

    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    def starting(self, category: str, stage: Stage) -> None:
        if stage == "placed":
            self.time += 1e6


def clash(**options: Any) -> dict[str, Any]:
    # Each school's minimum can be met alone (23 seats reach each), not both (25 in all).
    return base(
        limits=[
            {"school": "S1", "category": "tutoring", "min": 18},
            {"school": "S2", "category": "tutoring", "min": 10},
        ],
        options=options,
    )


def test_with_time_the_search_names_the_clashing_limits() -> None:
    result = result_to_dict(solve(clash(time_limit_s=600)))
    assert result["status"] == "infeasible"
    codes = {conflict["code"]["code"] for conflict in result["conflicts"]}
    assert "unexplained" not in codes


def test_with_no_time_left_it_names_every_lock_and_limit_without_searching(
    monkeypatch: Any,
) -> None:
    searched: list[bool] = []
    real = explain.CategoryModel

    def counting(*args: Any, **kwargs: Any) -> Any:
        searched.append(bool(kwargs.get("elastic")))
        return real(*args, **kwargs)

    monkeypatch.setattr(explain, "CategoryModel", counting)
    result = result_to_dict(solve(clash(time_limit_s=600), clock=RunsOutAtStage1()))
    assert result["status"] == "infeasible"
    [conflict] = result["conflicts"]
    assert conflict["code"]["code"] == "unexplained"
    assert len(conflict["limits"]) == 2
    assert not any(searched)  # no elastic model was built, let alone solved
