"""What the engine says, word for word: per-site bounds in `why` and conflicts, min_viable
blamed where it is the cause, and units singular or plural as the number asks."""

from __future__ import annotations

from typing import Any

import pytest

from allocation import result_to_dict, solve
from allocation.explain import fmt, unit_name


def reading(**extra: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "id": "J1",
        "name": "After-school reading",
        "category": "tutoring",
        "unit": "seats",
        "capacity": 100,
        "integer": True,
        "eligible": [{"school": "S1", "max": 20}, "S2"],
    }
    service.update(extra)
    return service


def problem(*services: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schools": [
            {"id": "S1", "name": "Lincoln", "weight": 3},
            {"id": "S2", "name": "Washington", "weight": 1},
        ],
        "services": list(services) or [reading()],
    }
    data.update(extra)
    return data


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result = result_to_dict(solve(data))
    assert result["status"] == "optimal"
    return {row["school"]: row for row in result["schools"]}


def conflicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    result = result_to_dict(solve(data))
    assert result["status"] == "infeasible"
    return result["conflicts"]


# --- why: per-site bounds ----------------------------------------------------------------------


def test_a_school_held_by_its_site_bound_is_told_so() -> None:
    # Lincoln's target is 75 of 100; its own site takes 20. Before, "J1 has no capacity left".
    lincoln = rows(problem())["S1"]
    assert lincoln["allocated"] == 20
    assert lincoln["why"] == "Lincoln's own site capacity for After-school reading is 20 seats."
    assert lincoln["why_codes"] == [
        {
            "code": "site",
            "params": {"service": "J1", "school": "S1", "amount": 20, "unit": "seats"},
        }
    ]


def test_a_site_bound_below_the_cohort_is_said_with_the_cohort() -> None:
    lincoln = rows(problem(reading(eligible=[{"school": "S1", "max": 5}, "S2"], min_viable=8)))
    assert lincoln["S1"]["allocated"] == 0
    assert lincoln["S1"]["why"] == (
        "Lincoln's own site capacity for After-school reading is 5 seats; "
        "After-school reading runs only in groups of at least 8 seats."
    )
    assert [c["code"] for c in lincoln["S1"]["why_codes"]] == ["site", "groups"]


def test_the_tighter_of_max_per_school_and_site_bound_is_the_one_named() -> None:
    capped = rows(problem(reading(max_per_school=10)))["S1"]
    assert capped["why"] == "After-school reading is capped at 10 seats per school."
    site = rows(problem(reading(max_per_school=30)))["S1"]
    assert site["why"] == "Lincoln's own site capacity for After-school reading is 20 seats."


# --- conflicts: per-site bounds ------------------------------------------------------------


def test_a_lock_above_the_site_bound_is_infeasible_and_named() -> None:
    data = problem(locks=[{"service": "J1", "school": "S1", "amount": 25, "id": "MOU-3"}])
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "The lock of 25 seats of After-school reading at Lincoln is above that service's own "
        "site capacity of 20 seats there."
    )
    assert conflict["code"] == {
        "code": "lock_above_site_max",
        "params": {"service": "J1", "school": "S1", "amount": 25, "unit": "seats", "max": 20},
    }
    assert conflict["locks"] == [{"index": 0, "id": "MOU-3", "service": "J1", "school": "S1"}]


def test_a_lock_above_both_bounds_names_the_tighter() -> None:
    data = problem(
        reading(max_per_school=15), locks=[{"service": "J1", "school": "S1", "amount": 25}]
    )
    [conflict] = conflicts(data)
    assert conflict["code"]["code"] == "lock_above_max"
    assert conflict["message"].endswith("above that service's maximum of 15 seats per school.")


def test_a_limit_min_beyond_the_site_bounds_is_caught_before_solving() -> None:
    data = problem(limits=[{"school": "S1", "category": "tutoring", "min": 25, "id": "L1"}])
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln needs at least 25 seats of tutoring (limit), but its eligible tutoring "
        "services offer 20 seats in all. Lincoln's own site capacity for After-school reading "
        "is 20 seats."
    )
    assert conflict["code"]["code"] == "limit_unreachable"
    assert conflict["code"]["params"]["reach"] == 20
    assert conflict["code"]["params"]["notes"] == [
        {"code": "site", "service": "J1", "school": "S1", "amount": 20, "unit": "seats"}
    ]


def test_a_cohort_above_the_site_bound_carries_nothing() -> None:
    data = problem(
        reading(eligible=[{"school": "S1", "max": 5}, "S2"], min_viable=8),
        limits=[{"school": "S1", "category": "tutoring", "min": 2}],
    )
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln needs at least 2 seats of tutoring (limit), but its eligible tutoring services "
        "can give it nothing. Lincoln's own site capacity for After-school reading is 5 seats; "
        "After-school reading runs only in groups of at least 8 seats."
    )
    assert [note["code"] for note in conflict["code"]["params"]["notes"]] == ["site", "groups"]


# --- conflicts: a min_viable is blamed when it is the cause ---------------------------------


def cohort_service(**extra: Any) -> dict[str, Any]:
    return reading(eligible=["S1", "S2"], min_viable=8, integer=False, **extra)


def test_a_limit_between_nothing_and_a_cohort_blames_the_cohort() -> None:
    # At most 5 and at least 3, from a service that runs 0 or at least 8: no other lock or
    # limit exists. Before: "with the other locks and limits of tutoring kept it falls 3 short".
    data = problem(
        cohort_service(), limits=[{"school": "S1", "category": "tutoring", "min": 3, "max": 5}]
    )
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln needs at least 3 seats of tutoring (limit), but it falls 3 seats short with "
        "its limit of at most 5 seats kept. After-school reading runs only in groups of at "
        "least 8 seats."
    )
    assert conflict["code"] == {
        "code": "limit_short",
        "params": {
            "school": "S1",
            "min": 3,
            "unit": "seats",
            "category": "tutoring",
            "short": 3,
            "parties": [{"kind": "limit_max", "school": "S1", "amount": 5, "unit": "seats"}],
            "notes": [{"code": "groups", "service": "J1", "amount": 8, "unit": "seats"}],
        },
    }
    assert [ref["index"] for ref in conflict["limits"]] == [0]


def test_a_limit_max_a_cohort_overshoots_blames_the_cohort() -> None:
    # Going over the max by 0.5 is the least change; before: "the other locks and limits of
    # tutoring need 0.5 more there", with no other lock or limit in the problem.
    data = problem(
        cohort_service(), limits=[{"school": "S1", "category": "tutoring", "min": 3, "max": 7.5}]
    )
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln may get at most 7.5 seats of tutoring (limit), but it would get 0.5 seats more "
        "with its limit of at least 3 seats kept. After-school reading runs only in groups of "
        "at least 8 seats."
    )
    assert conflict["code"]["code"] == "limit_excess"
    assert "other locks and limits" not in conflict["message"]


def test_a_cohort_gap_with_a_lock_names_the_lock_and_the_cohort() -> None:
    math_lab = {
        "id": "J2",
        "name": "Math lab",
        "category": "tutoring",
        "unit": "seats",
        "capacity": 30,
        "eligible": ["S1", "S2"],
    }
    data = problem(
        cohort_service(),
        math_lab,
        locks=[{"service": "J2", "school": "S1", "amount": 2}],
        limits=[
            {"school": "S1", "category": "tutoring", "max": 5},
            {"school": "S1", "category": "tutoring", "min": 3},
        ],
    )
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln needs at least 3 seats of tutoring (limit), but it falls 1 seat short with its "
        "limit of at most 5 seats and the lock of 2 seats of Math lab at Lincoln kept. "
        "After-school reading runs only in groups of at least 8 seats."
    )
    assert [ref["index"] for ref in conflict["locks"]] == [0]
    assert [ref["index"] for ref in conflict["limits"]] == [1, 0]


def test_two_small_limits_that_need_two_cohorts_blame_the_cohort() -> None:
    # 3 seats each, but each school's seats come in a group of 8, and there are 10.
    data = problem(
        cohort_service(capacity=10),
        limits=[
            {"school": "S1", "category": "tutoring", "min": 3},
            {"school": "S2", "category": "tutoring", "min": 3},
        ],
    )
    [conflict] = conflicts(data)
    short, other = ("Lincoln", "Washington")
    if conflict["message"].startswith("Washington"):
        short, other = other, short
    assert conflict["message"] == (
        f"{short} needs at least 3 seats of tutoring (limit), but it falls 3 seats short with "
        f"{other}'s limit of at least 3 seats kept. After-school reading runs only in groups "
        "of at least 8 seats."
    )
    assert sorted(ref["index"] for ref in conflict["limits"]) == [0, 1]


# --- units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "value", "said"),
    [
        ("seats", 1, "seat"),
        ("seats", 2, "seats"),
        ("seats", 0, "seats"),
        ("seats", 1.5, "seats"),
        ("seats", 1.0000001, "seat"),  # said as "1"
        ("hours", 1, "hour"),
        ("dollars", 1, "dollar"),
        ("sessions", 1, "session"),
        ("slots", 1, "slot"),
        ("units", 1, "unit"),
        ("Seats", 1, "Seat"),
        ("kits", 1, "kits"),  # a unit the table does not know is said as given
        ("staff", 2, "staff"),
    ],
)
def test_units_are_singular_only_for_one(unit: str, value: float, said: str) -> None:
    assert unit_name(unit, value) == said


def test_one_seat_and_one_unit_in_sentences() -> None:
    data = problem(
        reading(capacity=1, eligible=["S1", "S2"]),
        limits=[{"school": "S1", "category": "tutoring", "min": 2}],
    )
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Lincoln needs at least 2 seats of tutoring (limit), but its eligible tutoring services "
        "offer 1 seat in all."
    )
    # Two units in one category: "units", and "1 unit".
    hours = reading(capacity=1, eligible=["S1", "S2"], unit="hours")
    kits = {**reading(capacity=1, eligible=["S1"], unit="kits"), "id": "J2", "name": "Kits"}
    data = problem(hours, kits, limits=[{"school": "S2", "category": "tutoring", "min": 1.5}])
    [conflict] = conflicts(data)
    assert conflict["message"] == (
        "Washington needs at least 1.5 units of tutoring (limit), but its eligible tutoring "
        "services offer 1 unit in all."
    )


def test_small_amounts_keep_their_digits() -> None:
    assert fmt(4.36e-06) == "0.00000436"
    assert fmt(0.1 + 0.2) == "0.3"
    assert fmt(12.3456789) == "12.345679"
    assert fmt(20.0) == "20"
    assert fmt(0) == "0"
