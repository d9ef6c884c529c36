"""Invalid problems: ProblemError with one line naming the offending entry."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from allocation import Problem, ProblemError, School, Service, load_problem, solve

VALID: dict[str, Any] = {
    "objective": "proportional",
    "schools": [
        {"id": "S1", "name": "Lincoln Elementary", "weight": 312.5},
        {"id": "S2", "weight": 100},
    ],
    "services": [
        {
            "id": "J1",
            "name": "After-school reading",
            "partner": "P1",
            "category": "tutoring",
            "unit": "seats",
            "capacity": 60,
            "integer": True,
            "max_per_school": 30,
            "min_viable": 8,
            "eligible": ["S1", "S2"],
        }
    ],
    "locks": [{"service": "J1", "school": "S1", "amount": 10}],
    "limits": [{"school": "S2", "category": "tutoring", "min": 5, "max": 40}],
    "options": {"time_limit_s": 60},
}


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    problem = copy.deepcopy(VALID)
    change(problem)
    return problem


def test_spec_example_is_valid() -> None:
    problem = load_problem(VALID)
    assert problem.services[0].eligible == ("S1", "S2")
    assert problem.options.time_limit_s == 60
    assert solve(problem).status == "optimal"


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "unknown school",
        lambda p: p["services"][0]["eligible"].append("S9"),
        'services[0] (id "J1"): eligible names unknown school id "S9"',
    ),
    (
        "duplicate school",
        lambda p: p["schools"].append({"id": "S1", "weight": 1}),
        'schools[2] (id "S1"): duplicate school id',
    ),
    (
        "duplicate service",
        lambda p: p["services"].append(dict(p["services"][0])),
        'services[1] (id "J1"): duplicate service id',
    ),
    (
        "school twice",
        lambda p: p["services"][0]["eligible"].append("S2"),
        'services[0] (id "J1"): school "S2" is listed twice in eligible',
    ),
    (
        "negative capacity",
        lambda p: p["services"][0].update(capacity=-5),
        'services[0] (id "J1"): capacity must be a number >= 0, got -5',
    ),
    (
        "string capacity",
        lambda p: p["services"][0].update(capacity="60"),
        'capacity must be a number >= 0, got "60"',
    ),
    (
        "boolean capacity",
        lambda p: p["services"][0].update(capacity=True),
        "capacity must be a number >= 0, got true",
    ),
    (
        "zero weight",
        lambda p: p["schools"][1].update(weight=0),
        'schools[1] (id "S2"): weight must be a number > 0, got 0',
    ),
    (
        "boolean weight",
        lambda p: p["schools"][1].update(weight=True),
        "weight must be a number > 0, got true",
    ),
    (
        "missing weight",
        lambda p: p["schools"][1].pop("weight"),
        'schools[1] (id "S2"): weight is missing',
    ),
    (
        "lock not eligible",
        lambda p: p["services"][0]["eligible"].remove("S1"),
        'locks[0]: school "S1" is not eligible for service "J1"',
    ),
    (
        "lock above capacity",
        lambda p: p["locks"][0].update(amount=61),
        'locks[0]: amount 61 is above the capacity 60 of service "J1"',
    ),
    (
        "lock unknown service",
        lambda p: p["locks"][0].update(service="J9"),
        'locks[0]: unknown service id "J9"',
    ),
    (
        "lock unknown school",
        lambda p: p["locks"][0].update(school="S9"),
        'locks[0]: unknown school id "S9"',
    ),
    (
        "limit min above max",
        lambda p: p["limits"][0].update(min=50),
        "limits[0]: min 50 is above max 40",
    ),
    (
        "limit unknown school",
        lambda p: p["limits"][0].update(school="S9"),
        'limits[0]: unknown school id "S9"',
    ),
    (
        "unknown objective",
        lambda p: p.update(objective="fair"),
        'objective must be proportional or maxmin, got "fair"',
    ),
    (
        "integer not bool",
        lambda p: p["services"][0].update(integer="yes"),
        "integer must be true or false",
    ),
    (
        "infinite time limit",
        lambda p: p["options"].update(time_limit_s=0),
        "options: time_limit_s must be a number > 0",
    ),
    ("schools not list", lambda p: p.update(schools={}), "schools must be a list"),
    (
        "missing category",
        lambda p: p["services"][0].pop("category"),
        'services[0] (id "J1"): category is missing',
    ),
]


@pytest.mark.parametrize(("label", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_entry_is_named(
    label: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        load_problem(edit(change))
    text = str(raised.value)
    assert message in text
    assert "\n" not in text


def test_malformed_json() -> None:
    with pytest.raises(ProblemError, match="malformed JSON at line 1 column"):
        load_problem('{"schools": [}')
    with pytest.raises(ProblemError, match="malformed JSON"):
        load_problem(b"\xff\xfe")
    with pytest.raises(ProblemError, match="number > 0"):
        load_problem('{"schools": [{"id": "S1", "weight": NaN}], "services": []}')


def test_solve_checks_a_problem_built_by_hand() -> None:
    problem = Problem(
        schools=(School("S1", 1.0),),
        services=(Service("J1", "tutoring", 5.0, ("S1", "S2")),),
    )
    with pytest.raises(ProblemError, match='unknown school id "S2"'):
        solve(problem)
    with pytest.raises(ProblemError, match="objective must be"):
        solve({"schools": [], "services": []}, objective="best")
