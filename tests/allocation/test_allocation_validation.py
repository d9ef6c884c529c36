"""Invalid problems: ProblemError with one line naming the offending entry."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import pytest

from allocation import (
    Limit,
    Lock,
    Options,
    Problem,
    ProblemError,
    School,
    Service,
    load_problem,
    solve,
)
from allocation.problem import check_problem

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
        "lock twice a tiny capacity",
        lambda p: (p["services"][0].update(capacity=1e-9), p["locks"][0].update(amount=2e-9)),
        'locks[0]: amount 2e-09 is above the capacity 1e-09 of service "J1"',
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


# --- spec v2: numbers, ids and per-site bounds (issue 9, items 1 and 6) -------

SURROGATE = "\ud800"


def site(problem: dict[str, Any], entry: object) -> None:
    """Make S2's eligible entry of J1 `entry`."""
    problem["services"][0]["eligible"][1] = entry


V2_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    # Integers too long for a float, or for Python to read from text (as a dict here).
    (
        "309-digit capacity",
        lambda p: p["services"][0].update(capacity=10**309),
        'services[0] (id "J1"): capacity must be at most 1e15, got an integer of 310 digits',
    ),
    (
        "309-digit weight",
        lambda p: p["schools"][1].update(weight=10**308 * 7),
        'schools[1] (id "S2"): weight must be at most 1e15, got an integer of 309 digits',
    ),
    (
        "negative 309-digit weight",
        lambda p: p["schools"][1].update(weight=-(10**309)),
        "weight must be a number > 0, got a negative integer of 310 digits",
    ),
    (
        "4,301-digit lock amount",
        lambda p: p["locks"][0].update(amount=10**4300),
        "locks[0]: amount must be at most 1e15, got an integer of more than 4,300 digits",
    ),
    # Not finite.
    (
        "NaN capacity",
        lambda p: p["services"][0].update(capacity=math.nan),
        "capacity must be a finite number >= 0, got NaN",
    ),
    (
        "infinite weight",
        lambda p: p["schools"][0].update(weight=math.inf),
        'schools[0] (id "S1"): weight must be a finite number > 0, got Infinity',
    ),
    (
        "infinite max_per_school",
        lambda p: p["services"][0].update(max_per_school=math.inf),
        "max_per_school must be a finite number >= 0, got Infinity",
    ),
    (
        "NaN min_viable",
        lambda p: p["services"][0].update(min_viable=math.nan),
        "min_viable must be a finite number >= 0, got NaN",
    ),
    (
        "NaN lock",
        lambda p: p["locks"][0].update(amount=math.nan),
        "locks[0]: amount must be a finite number >= 0, got NaN",
    ),
    (
        "infinite limit max",
        lambda p: p["limits"][0].update(max=math.inf),
        "limits[0]: max must be a finite number >= 0, got Infinity",
    ),
    (
        "infinite time limit",
        lambda p: p["options"].update(time_limit_s=math.inf),
        "options: time_limit_s must be a finite number > 0, got Infinity",
    ),
    # Above 1e15.
    (
        "capacity 1e16",
        lambda p: p["services"][0].update(capacity=1e16),
        "capacity must be at most 1e15, got 1e+16",
    ),
    (
        "weight 1e16",
        lambda p: p["schools"][0].update(weight=1e16),
        "weight must be at most 1e15, got 1e+16",
    ),
    (
        "max_per_school 1e16",
        lambda p: p["services"][0].update(max_per_school=10**16),
        "max_per_school must be at most 1e15, got 10000000000000000",
    ),
    (
        "min_viable 1e16",
        lambda p: p["services"][0].update(min_viable=1e16),
        "min_viable must be at most 1e15",
    ),
    (
        "lock 1e16",
        lambda p: p["locks"][0].update(amount=1e16),
        "locks[0]: amount must be at most 1e15",
    ),
    (
        "limit min 1e16",
        lambda p: p["limits"][0].update(min=1e16),
        "limits[0]: min must be at most 1e15",
    ),
    (
        "time limit 1e16",
        lambda p: p["options"].update(time_limit_s=1e16),
        "options: time_limit_s must be at most 1e15",
    ),
    # Ids that are not strings of printable characters.
    (
        "surrogate school id",
        lambda p: p["schools"][1].update(id=SURROGATE),
        r'schools[1] (id "\ud800"): id must be a non-empty string of printable characters',
    ),
    (
        "surrogate service id",
        lambda p: p["services"][0].update(id="J" + SURROGATE),
        r'services[0] (id "J\ud800"): id must be a non-empty string of printable characters',
    ),
    (
        "control character in a category",
        lambda p: p["services"][0].update(category="tutoring\n"),
        r'category must be a non-empty string of printable characters, got "tutoring\n"',
    ),
    (
        "surrogate in eligible",
        lambda p: p["services"][0]["eligible"].append(SURROGATE),
        r'services[0] (id "J1"): eligible[2] must be a school id (a string of printable '
        r'characters), got "\ud800"',
    ),
    (
        "surrogate lock id",
        lambda p: p["locks"][0].update(id=SURROGATE),
        r'locks[0] (id "\ud800"): id must be a string of printable characters',
    ),
    (
        "surrogate lock school",
        lambda p: p["locks"][0].update(school=SURROGATE),
        r'locks[0]: school must be a non-empty string of printable characters, got "\ud800"',
    ),
    (
        "surrogate limit category",
        lambda p: p["limits"][0].update(category=SURROGATE),
        r"limits[0]: category must be a non-empty string of printable characters",
    ),
    (
        "no-break space in a limit id",
        lambda p: p["limits"][0].update(id="L\u00a01"),
        r'limits[0] (id "L\u00a01"): id must be a string of printable characters',
    ),
    (
        "number as an id",
        lambda p: p["schools"][1].update(id=2),
        "schools[1]: id must be a non-empty string of printable characters, got 2",
    ),
    (
        "surrogate in a name",
        lambda p: p["schools"][0].update(name="Lincoln" + SURROGATE),
        r'schools[0] (id "S1"): name must be a string without lone surrogates, '
        r'got "Lincoln\ud800"',
    ),
    (
        "surrogate in a partner",
        lambda p: p["services"][0].update(partner=SURROGATE),
        "partner must be a string without lone surrogates",
    ),
    # Per-site bounds: a max that is not a finite number >= 0, and malformed entries.
    (
        "site max negative",
        lambda p: site(p, {"school": "S2", "max": -1}),
        'services[0] (id "J1"): eligible[1]: max must be a number >= 0, got -1',
    ),
    (
        "site max string",
        lambda p: site(p, {"school": "S2", "max": "20"}),
        'eligible[1]: max must be a number >= 0, got "20"',
    ),
    (
        "site max boolean",
        lambda p: site(p, {"school": "S2", "max": True}),
        "eligible[1]: max must be a number >= 0, got true",
    ),
    (
        "site max NaN",
        lambda p: site(p, {"school": "S2", "max": math.nan}),
        "eligible[1]: max must be a finite number >= 0, got NaN",
    ),
    (
        "site max 1e16",
        lambda p: site(p, {"school": "S2", "max": 1e16}),
        "eligible[1]: max must be at most 1e15, got 1e+16",
    ),
    (
        "site max 309 digits",
        lambda p: site(p, {"school": "S2", "max": 10**309}),
        "eligible[1]: max must be at most 1e15, got an integer of 310 digits",
    ),
    (
        "site entry unknown key",
        lambda p: site(p, {"school": "S2", "max": 5, "min": 1}),
        'services[0] (id "J1"): eligible[1]: unknown key "min"',
    ),
    (
        "site entry without school",
        lambda p: site(p, {"max": 5}),
        'services[0] (id "J1"): eligible[1]: school is missing',
    ),
    (
        "site entry with a surrogate school",
        lambda p: site(p, {"school": SURROGATE, "max": 5}),
        r'eligible[1]: school must be a non-empty string of printable characters, got "\ud800"',
    ),
    (
        "site entry a number",
        lambda p: site(p, 7),
        'services[0] (id "J1"): eligible[1] must be a school id or {"school": id, "max": m}',
    ),
    (
        "site entry for an unknown school",
        lambda p: site(p, {"school": "S9", "max": 5}),
        'services[0] (id "J1"): eligible names unknown school id "S9"',
    ),
    (
        "school bare and with a max",
        lambda p: p["services"][0]["eligible"].append({"school": "S2", "max": 5}),
        'services[0] (id "J1"): school "S2" is listed twice in eligible',
    ),
    (
        "school with two maxes",
        lambda p: p["services"][0].update(
            eligible=["S1", {"school": "S2", "max": 5}, {"school": "S2", "max": 6}]
        ),
        'services[0] (id "J1"): school "S2" is listed twice in eligible',
    ),
]


@pytest.mark.parametrize(("label", "change", "message"), V2_CASES, ids=[c[0] for c in V2_CASES])
def test_v2_invalid_entry_is_named(
    label: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        load_problem(edit(change))
    text = str(raised.value)
    assert message in text
    assert len(text.splitlines()) == 1
    text.encode("utf-8")  # the message itself can be written out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # From the text: NaN and Infinity are what Python's json reads; 1e999 is infinite.
        ('"capacity": NaN', "capacity must be a finite number >= 0, got NaN"),
        ('"capacity": Infinity', "capacity must be a finite number >= 0, got Infinity"),
        ('"capacity": -Infinity', "capacity must be a finite number >= 0, got -Infinity"),
        ('"capacity": 1e999', "capacity must be a finite number >= 0, got Infinity"),
        ('"capacity": 1e16', "capacity must be at most 1e15, got 1e+16"),
        ('"capacity": 1' + "0" * 309, "capacity must be at most 1e15, got an integer of 310"),
        ('"capacity": 1' + "0" * 4300, "capacity must be at most 1e15, got an integer of 4,301"),
        ('"capacity": -' + "9" * 5000, "capacity must be a number >= 0, got a negative integer"),
        ('"capacity": 5, "name": "\\udfff"', "name must be a string without lone surrogates"),
    ],
    ids=[
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "1e16",
        "310 digits",
        "4301 digits",
        "-5000 digits",
        "surrogate name",
    ],
)
def test_v2_numbers_from_the_text(text: str, message: str) -> None:
    source = (
        '{"schools": [{"id": "S1", "weight": 1}], "services": [{"id": "J1", "category": "t", '
        f'{text}, "eligible": ["S1"]}}]}}'
    )
    with pytest.raises(ProblemError) as raised:
        load_problem(source)
    assert message in str(raised.value)
    assert 'services[0] (id "J1")' in str(raised.value)
    assert len(str(raised.value)) < 200


def test_surrogate_id_from_utf8_bytes() -> None:
    # json reads bytes with "surrogatepass": UTF-8-encoded surrogates arrive as such.
    source = b'{"schools": [{"id": "S\xed\xa0\x80", "weight": 1}], "services": []}'
    with pytest.raises(ProblemError, match=r'schools\[0\] \(id "S\\ud800"\): id must be'):
        load_problem(source)


def test_v2_bounds_and_printable_ids_that_are_valid() -> None:
    problem = copy.deepcopy(VALID)
    problem["schools"][1].update(id="S 2 école", weight=1e15)
    problem["services"][0].update(
        capacity=10**15, eligible=["S1", {"school": "S 2 école", "max": 0}]
    )
    problem["limits"][0].update(school="S 2 école", min=0, max=None)
    problem["options"].update(time_limit_s=1e15)
    loaded = load_problem(problem)
    service = loaded.services[0]
    assert service.eligible == ("S1", "S 2 école")
    assert service.site_bounds == {"S 2 école": 0.0}
    assert service.upper_at("S 2 école") == 0 and service.upper_at("S1") == 30
    assert loaded.options.time_limit_s == 1e15
    # "max": null is no bound, as null is for every optional number.
    loaded = load_problem(edit(lambda p: site(p, {"school": "S2", "max": None})))
    assert loaded.services[0].site_max == () and loaded.services[0].eligible == ("S1", "S2")


def test_lock_above_a_site_max_is_valid() -> None:
    # Infeasible, not invalid: a conflict explains it (allocation.explain).
    problem = edit(lambda p: site(p, {"school": "S2", "max": 4}))
    problem["locks"][0].update(school="S2", amount=10)
    loaded = load_problem(problem)
    assert loaded.services[0].upper_at("S2") == 4
    assert loaded.locks[0].amount == 10


def good_service(**changes: Any) -> Service:
    return dataclasses.replace(Service("J1", "tutoring", 5.0, ("S1",)), **changes)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (Problem((School(SURROGATE, 1.0),), ()), r"id must be a non-empty string of printable"),
        (
            Problem((School("S1", 10**400),), ()),
            "weight must be at most 1e15, got an integer of 401",
        ),
        (Problem((School("S1", math.nan),), ()), "weight must be a finite number > 0, got NaN"),
        (Problem((School("S1", 1.0, name="\udc80"),), ()), "name must be a string without lone"),
        (
            Problem((School("S1", 1.0),), (good_service(category="a\tb"),)),
            r'category must be a non-empty string of printable characters, got "a\tb"',
        ),
        (
            Problem((School("S1", 1.0),), (good_service(site_max=(("S1", -1.0),)),)),
            'the max at school "S1" must be a number >= 0, got -1.0',
        ),
        (
            Problem((School("S1", 1.0),), (good_service(site_max=(("S1", math.inf),)),)),
            'the max at school "S1" must be a finite number >= 0, got Infinity',
        ),
        (
            Problem((School("S1", 1.0),), (good_service(site_max=(("S1", 1.0), ("S1", 2.0))),)),
            'a max is given twice at school "S1"',
        ),
        (
            Problem((School("S1", 1.0),), (good_service(site_max=(("S2", 1.0),)),)),
            'a max is given at school "S2", which is not in eligible',
        ),
        (
            Problem((School("S1", 1.0),), (good_service(eligible=(1,)),)),
            "eligible[0] must be a school id (a string of printable characters), got 1",
        ),
        (
            Problem((School("S1", 1.0),), (good_service(),), locks=(Lock("J1", "S1", 1e16),)),
            "locks[0]: amount must be at most 1e15",
        ),
        (
            Problem((School("S1", 1.0),), (good_service(),), limits=(Limit("S1", "c", max=1e20),)),
            "limits[0]: max must be at most 1e15",
        ),
        (
            Problem((School("S1", 1.0),), (), limits=(Limit("S1", "c", id="\x00"),)),
            r'limits[0]: id must be a string of printable characters, got "\u0000"',
        ),
        (
            Problem((School("S1", 1.0),), (), options=Options(time_limit_s=-1.0)),
            "options: time_limit_s must be a number > 0, got -1.0",
        ),
    ],
)
def test_check_problem_applies_the_same_rules_to_problems_built_by_hand(
    problem: Problem, message: str
) -> None:
    with pytest.raises(ProblemError) as raised:
        check_problem(problem)
    assert message in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1
