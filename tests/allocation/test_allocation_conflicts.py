"""Infeasible problems: status, and conflicts that name the locks and limits involved."""

from __future__ import annotations

from typing import Any

import pytest

from allocation import result_to_dict, solve


def base(**extra: Any) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "schools": [
            {"id": "S1", "name": "Lincoln Elementary", "weight": 2},
            {"id": "S2", "name": "Washington Middle", "weight": 1},
        ],
        "services": [
            {
                "id": "J1",
                "name": "After-school reading",
                "category": "tutoring",
                "unit": "seats",
                "capacity": 15,
                "eligible": ["S1", "S2"],
            },
            {
                "id": "J2",
                "name": "Math lab",
                "category": "tutoring",
                "unit": "seats",
                "capacity": 10,
                "max_per_school": 8,
                "eligible": ["S1", "S2"],
            },
        ],
    }
    problem.update(extra)
    return problem


def conflicts_of(problem: dict[str, Any]) -> list[dict[str, Any]]:
    result = result_to_dict(solve(problem))
    assert result["status"] == "infeasible"
    assert result["allocations"] == [] and result["schools"] == []
    assert result["conflicts"]
    return result["conflicts"]


def test_limit_min_out_of_reach() -> None:
    # Lincoln can get at most 15 (reading) + 8 (math lab, capped per school) = 23.
    problem = base(limits=[{"school": "S1", "category": "tutoring", "min": 40, "id": "L9"}])
    [conflict] = conflicts_of(problem)
    assert conflict == {
        "category": "tutoring",
        "message": "Lincoln Elementary needs at least 40 seats of tutoring (limit), "
        "but its eligible tutoring services offer 23 seats in all. "
        "Math lab is capped at 8 seats per school.",
        # The same as data, for wording in other languages.
        "code": {
            "code": "limit_unreachable",
            "params": {
                "school": "S1",
                "min": 40,
                "unit": "seats",
                "category": "tutoring",
                "reach": 23,
                "why": "offer",
                "with_locks": False,
                # What cut the reach down, said as a second sentence.
                "notes": [{"code": "capped", "service": "J2", "amount": 8, "unit": "seats"}],
            },
        },
        "locks": [],
        "limits": [{"index": 0, "id": "L9", "school": "S1", "category": "tutoring"}],
    }


def test_locks_over_capacity_name_every_lock() -> None:
    problem = base(
        locks=[
            {"service": "J1", "school": "S1", "amount": 10},
            {"service": "J1", "school": "S2", "amount": 6},
        ]
    )
    [conflict] = conflicts_of(problem)
    assert conflict["message"] == (
        "Locks commit 16 seats of After-school reading (Lincoln Elementary 10, "
        "Washington Middle 6), but it has only 15 seats."
    )
    assert [ref["index"] for ref in conflict["locks"]] == [0, 1]


def test_lock_above_max_per_school() -> None:
    problem = base(locks=[{"service": "J2", "school": "S2", "amount": 9}])
    [conflict] = conflicts_of(problem)
    assert conflict["message"] == (
        "The lock of 9 seats of Math lab at Washington Middle is above that service's "
        "maximum of 8 seats per school."
    )
    assert conflict["locks"] == [{"index": 0, "id": None, "service": "J2", "school": "S2"}]


def test_lock_below_cohort_and_fractional_lock() -> None:
    problem = base()
    problem["services"][0].update(min_viable=5, integer=True)
    problem["locks"] = [
        {"service": "J1", "school": "S1", "amount": 3},
        {"service": "J1", "school": "S2", "amount": 5.5},
    ]
    messages = [c["message"] for c in conflicts_of(problem)]
    assert messages == [
        "The lock of 3 seats of After-school reading at Lincoln Elementary is below that "
        "service's minimum cohort of 5 seats; it must be 0 or at least that.",
        "The lock of 5.5 seats of After-school reading at Washington Middle is not a whole "
        "number, but After-school reading comes in whole seats.",
    ]


def test_locks_against_limit_max() -> None:
    problem = base(
        locks=[{"service": "J1", "school": "S1", "amount": 12}],
        limits=[{"school": "S1", "category": "tutoring", "max": 10}],
    )
    [conflict] = conflicts_of(problem)
    assert conflict["message"] == (
        "Locks give Lincoln Elementary 12 seats of tutoring, but its limit allows at most 10 seats."
    )
    assert len(conflict["locks"]) == 1 and len(conflict["limits"]) == 1


def test_contradicting_limits() -> None:
    problem = base(
        limits=[
            {"school": "S2", "category": "tutoring", "min": 5},
            {"school": "S2", "category": "tutoring", "max": 3},
        ]
    )
    [conflict] = conflicts_of(problem)
    assert [ref["index"] for ref in conflict["limits"]] == [0, 1]


def test_limit_in_category_nobody_offers() -> None:
    problem = base(limits=[{"school": "S2", "category": "arts", "min": 1}])
    [conflict] = conflicts_of(problem)
    assert conflict["category"] == "arts"
    assert conflict["message"] == (
        "Washington Middle needs at least 1 unit of arts (limit), "
        "but no arts service is eligible there."
    )
    # ... while its max alone is harmless.
    problem = base(limits=[{"school": "S2", "category": "arts", "max": 1}])
    assert result_to_dict(solve(problem))["status"] == "optimal"


def test_limits_competing_for_one_service_are_found_by_the_elastic_model() -> None:
    # Each limit alone can be met (25 and 20 of 25 seats; max 8 from math lab at
    # each), but not both: 45 > 15 + 10. The least violation is 20 seats.
    problem = base(
        limits=[
            {"school": "S1", "category": "tutoring", "min": 23},
            {"school": "S2", "category": "tutoring", "min": 20},
        ]
    )
    conflicts = conflicts_of(problem)
    assert all(c["limits"] and not c["locks"] for c in conflicts)
    assert any("falls" in c["message"] and "short" in c["message"] for c in conflicts)


def test_lock_and_limit_elsewhere_found_by_the_elastic_model() -> None:
    # Locking 15 reading seats at Lincoln leaves Washington at most 8 (math lab cap).
    problem = base(
        locks=[{"service": "J1", "school": "S1", "amount": 15}],
        limits=[{"school": "S2", "category": "tutoring", "min": 12}],
    )
    conflicts = conflicts_of(problem)
    assert conflicts[0]["message"].startswith("Washington Middle needs at least 12 seats")
    # The pre-check names the lock that took the capacity.
    assert conflicts[0]["locks"] == [{"index": 0, "id": None, "service": "J1", "school": "S1"}]


def test_other_categories_feasible_still_infeasible_overall() -> None:
    problem = base(limits=[{"school": "S1", "category": "tutoring", "min": 99}])
    problem["services"].append({"id": "K1", "category": "arts", "capacity": 5, "eligible": ["S1"]})
    result = result_to_dict(solve(problem))
    assert result["status"] == "infeasible"
    assert result["categories"] == {}
    assert [c["category"] for c in result["conflicts"]] == ["tutoring"]


# --- every conflict names every lock, limit and min_viable involved ------------------------------


def three_schools(**extra: Any) -> dict[str, Any]:
    """Lincoln and Washington share reading (10 seats), Washington and Roosevelt math lab (10)."""
    problem: dict[str, Any] = {
        "schools": [
            {"id": "S1", "name": "Lincoln", "weight": 1},
            {"id": "S2", "name": "Washington", "weight": 1},
            {"id": "S3", "name": "Roosevelt", "weight": 1},
        ],
        "services": [
            {
                "id": "J1",
                "name": "After-school reading",
                "category": "tutoring",
                "unit": "seats",
                "capacity": 10,
                "eligible": ["S1", "S2"],
            },
            {
                "id": "J2",
                "name": "Math lab",
                "category": "tutoring",
                "unit": "seats",
                "capacity": 10,
                "eligible": ["S2", "S3"],
            },
        ],
    }
    problem.update(extra)
    return problem


def limit_indexes(conflict: dict[str, Any]) -> list[int]:
    return [ref["index"] for ref in conflict["limits"]]


def test_a_three_school_clash_names_all_three_limits() -> None:
    # 24 seats wanted of 20. Roosevelt shares no service with Lincoln, yet Lincoln's limit
    # takes reading from Washington, who then needs math lab: all three limits are involved
    # (the check named only Washington's).
    problem = three_schools(
        limits=[
            {"school": "S1", "category": "tutoring", "min": 8, "id": "L1"},
            {"school": "S2", "category": "tutoring", "min": 8, "id": "L2"},
            {"school": "S3", "category": "tutoring", "min": 8, "id": "L3"},
        ]
    )
    [conflict] = conflicts_of(problem)
    assert conflict["message"] == (
        "Roosevelt needs at least 8 seats of tutoring (limit), but it falls 4 seats short with "
        "Lincoln's limit of at least 8 seats and Washington's limit of at least 8 seats kept."
    )
    assert limit_indexes(conflict) == [2, 0, 1]
    assert conflict["code"] == {
        "code": "limit_short",
        "params": {
            "school": "S3",
            "min": 8,
            "unit": "seats",
            "category": "tutoring",
            "short": 4,
            "parties": [
                {"kind": "limit_min", "school": "S1", "amount": 8, "unit": "seats"},
                {"kind": "limit_min", "school": "S2", "amount": 8, "unit": "seats"},
            ],
            "notes": [],
        },
    }


def test_three_limits_on_one_service_name_the_other_two() -> None:
    problem = base(
        limits=[{"school": s, "category": "tutoring", "min": 9} for s in ("S1", "S2", "S3")]
    )
    problem["schools"].append({"id": "S3", "name": "Roosevelt High", "weight": 1})
    problem["services"] = [{**problem["services"][0], "capacity": 20}]
    problem["services"][0]["eligible"] = ["S1", "S2", "S3"]
    conflicts = conflicts_of(problem)
    # However the 7 missing seats are spread, each conflict names all three limits.
    assert conflicts
    for conflict in conflicts:
        assert sorted(limit_indexes(conflict)) == [0, 1, 2]
        others = [s for s in ("Lincoln", "Washington", "Roosevelt") if s not in conflict["message"]]
        assert others == []


def test_limits_that_do_not_take_part_are_not_named() -> None:
    # Roosevelt's max and a limit of Washington's that holds anyway are no part of it.
    problem = three_schools(
        limits=[
            {"school": "S1", "category": "tutoring", "min": 6},
            {"school": "S2", "category": "tutoring", "min": 6},
            {"school": "S3", "category": "tutoring", "max": 10},
            {"school": "S2", "category": "tutoring", "max": 20},
            {"school": "S3", "category": "tutoring", "min": 9},
        ]
    )
    [conflict] = conflicts_of(problem)
    assert sorted(limit_indexes(conflict)) == [0, 1, 4]


def test_a_lock_the_limits_cannot_live_with_names_them_all() -> None:
    # Each limit is given twice, so that moving the lock is the least change; moving it
    # clashes with Washington's 5 and Roosevelt's 10, who share math lab.
    problem = three_schools(
        locks=[{"service": "J1", "school": "S1", "amount": 10, "id": "MOU-7"}],
        limits=[
            {"school": "S2", "category": "tutoring", "min": 5},
            {"school": "S2", "category": "tutoring", "min": 5},
            {"school": "S3", "category": "tutoring", "min": 10},
            {"school": "S3", "category": "tutoring", "min": 10},
        ],
    )
    [conflict] = conflicts_of(problem)
    assert conflict["message"] == (
        "The lock of 10 seats of After-school reading at Lincoln cannot be kept together with "
        "Washington's limit of at least 5 seats and Roosevelt's limit of at least 10 seats; "
        "it would have to change by 5 seats."
    )
    assert conflict["locks"] == [{"index": 0, "id": "MOU-7", "service": "J1", "school": "S1"}]
    assert limit_indexes(conflict) == [0, 2]
    assert conflict["code"]["code"] == "lock_cannot_hold"
    assert conflict["code"]["params"]["parties"] == [
        {"kind": "limit_min", "school": "S2", "amount": 5, "unit": "seats"},
        {"kind": "limit_min", "school": "S3", "amount": 10, "unit": "seats"},
    ]


def test_a_lock_two_schools_away_is_named() -> None:
    # Locking 6 reading seats at Lincoln leaves Washington 4 of them: it needs 4 of math lab,
    # and Roosevelt is 2 short. Moving the lock or either limit by 2 is as good, so whichever
    # conflict comes out must name the lock and both limits.
    problem = three_schools(
        locks=[{"service": "J1", "school": "S1", "amount": 6}],
        limits=[
            {"school": "S2", "category": "tutoring", "min": 8},
            {"school": "S3", "category": "tutoring", "min": 8},
        ],
    )
    conflicts = conflicts_of(problem)
    assert len(conflicts) == 1
    [conflict] = conflicts
    assert [ref["index"] for ref in conflict["locks"]] == [0]
    assert sorted(limit_indexes(conflict)) == [0, 1]
    message = conflict["message"]
    assert "the lock of 6 seats of after-school reading at lincoln" in message.lower()
    assert "Washington" in message and "Roosevelt" in message
    assert "2 seats" in message


def test_when_the_checks_run_out_the_limits_at_their_bounds_are_named(monkeypatch: Any) -> None:
    from allocation import explain

    monkeypatch.setattr(explain, "MAX_CHECKS", 0)
    problem = three_schools(
        limits=[
            *({"school": s, "category": "tutoring", "min": 8} for s in ("S1", "S2", "S3")),
            {"school": "S1", "category": "tutoring", "max": 30},
        ]
    )
    [conflict] = conflicts_of(problem)
    # Without the checks: the limits of its component at their bounds in the elastic model's
    # answer (Lincoln's max of 30 is not).
    assert conflict["message"] == (
        "Roosevelt needs at least 8 seats of tutoring (limit), but it falls 4 seats short with "
        "Lincoln's limit of at least 8 seats and Washington's limit of at least 8 seats kept."
    )
    assert limit_indexes(conflict) == [2, 0, 1]


@pytest.mark.parametrize("k", [1e-9, 1e-6, 1e3, 1e6])
def test_conflicts_are_found_at_any_scale(k: float) -> None:
    """Amounts of every size are judged alike: the same clashes are named, not a vague
    "cannot all hold together" once the figures are smaller than a fixed tolerance."""

    def scaled(**extra: Any) -> dict[str, Any]:
        problem = base(**extra)
        for service in problem["services"]:
            service["capacity"] *= k
            if "max_per_school" in service:
                service["max_per_school"] *= k
        return problem

    locks = scaled(
        locks=[
            {"service": "J1", "school": "S1", "amount": 10 * k},
            {"service": "J1", "school": "S2", "amount": 6 * k},
        ]
    )
    [conflict] = conflicts_of(locks)
    assert conflict["code"]["code"] == "locks_over_capacity"
    assert [ref["index"] for ref in conflict["locks"]] == [0, 1]
    limit = scaled(limits=[{"school": "S1", "category": "tutoring", "min": 40 * k}])
    [conflict] = conflicts_of(limit)
    assert conflict["code"]["code"] == "limit_unreachable"
    assert conflict["code"]["params"]["reach"] == pytest.approx(23 * k, rel=1e-9)
