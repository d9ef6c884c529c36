"""Whole seats: the chord cuts and the exact LP search for the maxmin floor."""

from __future__ import annotations

import random
from typing import Any

import pytest

from allocation import result_to_dict, solve
from allocation import stages as stages_module


def seats(service_id: str, capacity: int, eligible: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": service_id,
        "category": extra.pop("category", "tutoring"),
        "unit": "seats",
        "capacity": capacity,
        "integer": True,
        "eligible": eligible,
        **extra,
    }


def received(result: dict[str, Any]) -> dict[str, float]:
    return {r["school"]: r["allocated"] for r in result["schools"]}


def test_fractional_targets_whole_seats(feasible: Any) -> None:
    # Three schools of equal weight, 10 seats: T* = 10, targets 10/3 = 3.333 each.
    # Whole seats: one school gets 4, two get 3. D = 0.667 + 0.333 + 0.333 = 1.333,
    # gap = D / (2 T*) = 1.333 / 20 = 0.0667. (Continuous would be D = 0.)
    problem = {
        "schools": [{"id": s, "weight": 5} for s in ("A", "B", "C")],
        "services": [seats("J1", 10, ["A", "B", "C"])],
    }
    for objective in ("proportional", "maxmin"):
        result = result_to_dict(solve(problem, objective=objective))
        feasible(problem, result)
        assert result["status"] == "optimal"
        assert sorted(received(result).values()) == [3, 3, 4]
        figures = result["categories"]["tutoring"]
        assert figures["gap"] == pytest.approx(4 / 3 / 20, abs=1e-9)
        # maxmin: the floor is 3 seats on weight 5 = 0.6.
        assert figures["min_coverage"] == pytest.approx(0.6, abs=1e-9)


def test_chord_cut_with_per_school_maximums(feasible: Any) -> None:
    # J1 (5 seats, A or B, at most 3 each), J2 (6 seats, A or C, at most 2 each),
    # J3 (6 seats, C only). T* = 5 + 4 + 6 = 15; weights 1, 1, 2: targets 3.75, 3.75, 7.5.
    # Placing all 15 needs J2's 2 at A and 2 at C, so C = 8 (0.5 over) and A + B = 7.
    # Continuous: any A, B <= 3.75 gives D = 0.5 + 0.5 = 1.0. Whole seats: (4, 3) gives
    # 0.25 + 0.75 + 0.5 = 1.5, (5, 2) gives 3.5: D = 1.5, gap = 1.5 / 30 = 0.05.
    problem = {
        "schools": [{"id": "A", "weight": 1}, {"id": "B", "weight": 1}, {"id": "C", "weight": 2}],
        "services": [
            seats("J1", 5, ["A", "B"], max_per_school=3),
            seats("J2", 6, ["A", "C"], max_per_school=2),
            seats("J3", 6, ["C"]),
        ],
    }
    result = result_to_dict(solve(problem))
    feasible(problem, result)
    assert result["status"] == "optimal"
    assert result["categories"]["tutoring"]["placed"] == 15
    assert received(result) == {"A": 4, "B": 3, "C": 8}
    assert result["categories"]["tutoring"]["gap"] == pytest.approx(0.05, abs=1e-9)


def test_maxmin_whole_floor_by_hand(feasible: Any) -> None:
    # Weights 1, 2, 4; 10 seats. Continuous floor z = 10 / 7 = 1.43. Whole seats:
    # y >= ceil(z w): z = 1.5 needs 2 + 3 + 6 = 11 > 10; z = 5/4 needs 2 + 3 + 5 = 10.
    # No breakpoint k / w_s lies in (1.25, 1.43], so z* = 1.25 and y = (2, 3, 5),
    # held by stage 3. Targets 10/7, 20/7, 40/7: D = 4/7 + 1/7 + 5/7 = 10/7,
    # gap = (10/7) / 20 = 1/14.
    problem = {
        "schools": [{"id": "A", "weight": 1}, {"id": "B", "weight": 2}, {"id": "C", "weight": 4}],
        "services": [seats("J1", 10, ["A", "B", "C"])],
    }
    result = result_to_dict(solve(problem, objective="maxmin"))
    feasible(problem, result)
    assert result["status"] == "optimal"
    assert received(result) == {"A": 2, "B": 3, "C": 5}
    figures = result["categories"]["tutoring"]
    assert figures["min_coverage"] == pytest.approx(1.25, abs=1e-12)
    assert figures["gap"] == pytest.approx(1 / 14, abs=1e-9)


def whole_instance(seed: int, *, mixed: bool = False) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = [f"S{i}" for i in range(9)]
    services = []
    for j in range(7):
        entry = seats(f"J{j}", rng.randint(0, 40), rng.sample(ids, rng.randint(1, 9)))
        if mixed and j % 3 == 0:
            entry["integer"] = False
            entry["capacity"] = rng.choice([7.5, 12.25, 30])
        if rng.random() < 0.4:
            entry["max_per_school"] = rng.choice([2, 3.5, 6, 10])
        services.append(entry)
    problem: dict[str, Any] = {
        "schools": [{"id": s, "weight": rng.choice([1, 2.5, 3, 7, 12.75, 40])} for s in ids],
        "services": services,
    }
    first = services[0]
    if first["eligible"] and first["capacity"] >= 2:
        problem["locks"] = [{"service": "J0", "school": first["eligible"][0], "amount": 2}]
    problem["limits"] = [{"school": ids[1], "category": "tutoring", "max": 7.5}]
    return problem


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_maxmin_search_agrees_with_the_milp(
    seed: int, mixed: bool, feasible: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = whole_instance(seed, mixed=mixed)
    searched = result_to_dict(solve(problem, objective="maxmin"))
    feasible(problem, searched)
    monkeypatch.setattr(stages_module, "integral_flow", lambda data, has_binaries: None)
    milp = result_to_dict(solve(problem, objective="maxmin"))
    feasible(problem, milp)
    assert searched["status"] == milp["status"]
    if searched["status"] == "infeasible":
        return
    assert searched["status"] == "optimal"
    for category, figures in searched["categories"].items():
        other = milp["categories"][category]
        for key in ("placed", "min_coverage", "gap"):
            assert figures[key] == pytest.approx(other[key], rel=1e-6, abs=1e-6), key


def test_maxmin_search_is_deterministic() -> None:
    from allocation import result_to_json

    problem = whole_instance(3)
    first = result_to_json(solve(problem, objective="maxmin"))
    assert all(result_to_json(solve(problem, objective="maxmin")) == first for _ in range(3))
