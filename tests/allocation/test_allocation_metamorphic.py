"""Metamorphic tests of spec v2 ("Units, scale and ties"), and the issue's scale cases.

- weights times k (k in [1e-6, 1e6]) give the same amounts, and min_coverage / k;
- for continuous problems, every amount times k gives every x_js times k;
- renaming or reordering ids (schools, services, locks, limits, eligible entries)
  changes no figure of a category, nor what a school receives where the stages
  determine it (the scipy reference says where: the least and the most a school
  can get over the last stage's optimal face meet);
- per-site bounds are never exceeded;
- results keep at least 10 significant digits, whole seats are integers, the
  same file gives the same bytes.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocation import result_to_dict, result_to_json, solve
from allocation.result import number
from tests.allocation.strategies import SCHOOLS, locks_and_limits, school_ids

FACTORS = [1e-6, 1e-3, 0.37, 3.0, 1000.0, 1e6]


METAMORPHIC = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@st.composite
def problems(draw: st.DrawFn, *, continuous: bool = False) -> dict[str, Any]:
    """Small problems with per-site bounds now and then; `continuous`: no whole seats."""
    weights = st.sampled_from([0.5, 1, 2, 3, 7.25, 10, 0.123456789])
    schools = [{"id": s, "weight": draw(weights)} for s in SCHOOLS]
    services = []
    for j in range(draw(st.integers(1, 5))):
        chosen = draw(st.lists(st.sampled_from(SCHOOLS), min_size=1, max_size=5, unique=True))
        eligible: list[Any] = []
        for school in chosen:
            if draw(st.integers(0, 3)) == 0:
                eligible.append({"school": school, "max": draw(st.sampled_from([0, 1, 2.5, 8]))})
            else:
                eligible.append(school)
        entry: dict[str, Any] = {
            "id": f"J{j}",
            "category": draw(st.sampled_from(["a", "b"])),
            "capacity": draw(st.sampled_from([0, 3, 7, 10, 12.5, 25, 40.1])),
            "integer": False if continuous else draw(st.booleans()),
            "eligible": eligible,
        }
        if draw(st.booleans()):
            entry["max_per_school"] = draw(st.sampled_from([0, 2, 5, 9, 15]))
        if draw(st.integers(0, 3)) == 0:
            entry["min_viable"] = draw(st.sampled_from([2, 4, 6]))
        services.append(entry)
    locks, limits = locks_and_limits(draw, services)
    return {"schools": schools, "services": services, "locks": locks, "limits": limits}


def run(problem: dict[str, Any], objective: str) -> dict[str, Any]:
    return result_to_dict(solve(problem, objective=objective))


def amounts(result: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(a["service"], a["school"]): a["amount"] for a in result["allocations"]}


def received(result: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(r["category"], r["school"]): r["allocated"] for r in result["schools"]}


def times_weights(problem: dict[str, Any], k: float) -> dict[str, Any]:
    scaled = copy.deepcopy(problem)
    for school in scaled["schools"]:
        school["weight"] *= k
    return scaled


def times_amounts(problem: dict[str, Any], k: float) -> dict[str, Any]:
    """Every capacity, per-site max, max_per_school, min_viable, lock and limit times k."""
    scaled = copy.deepcopy(problem)
    for service in scaled["services"]:
        service["capacity"] *= k
        for key in ("max_per_school", "min_viable"):
            if service.get(key) is not None:
                service[key] *= k
        for entry in service["eligible"]:
            if isinstance(entry, dict) and entry.get("max") is not None:
                entry["max"] *= k
    for lock in scaled["locks"]:
        lock["amount"] *= k
    for limit in scaled["limits"]:
        for key in ("min", "max"):
            if limit.get(key) is not None:
                limit[key] *= k
    return scaled


def category_scale(problem: dict[str, Any]) -> float:
    """A magnitude for absolute tolerances: the largest capacity (at least 1e-300)."""
    return max([s["capacity"] for s in problem["services"]] + [1e-300])


# --- weights times k ---------------------------------------------------------------


@METAMORPHIC
@given(
    problem=problems(),
    k=st.sampled_from(FACTORS),
    objective=st.sampled_from(["proportional", "maxmin"]),
)
def test_weights_times_k_give_the_same_amounts(
    problem: dict[str, Any], k: float, objective: str, feasible: Any
) -> None:
    before = run(problem, objective)
    after = run(times_weights(problem, k), objective)
    feasible(times_weights(problem, k), after)
    assert after["status"] == before["status"]
    assert amounts(after).keys() == amounts(before).keys()
    for key, amount in amounts(before).items():
        assert amounts(after)[key] == pytest.approx(amount, rel=1e-6, abs=1e-9)
    for category, figures in before["categories"].items():
        got = after["categories"][category]
        assert got["placed"] == pytest.approx(figures["placed"], rel=1e-9)
        assert got["gap"] == pytest.approx(figures["gap"], rel=1e-6, abs=1e-9)
        assert got["min_coverage"] == pytest.approx(figures["min_coverage"] / k, rel=1e-6)


# --- continuous amounts times k ----------------------------------------------------


@METAMORPHIC
@given(
    problem=problems(continuous=True),
    k=st.sampled_from(FACTORS),
    objective=st.sampled_from(["proportional", "maxmin"]),
)
def test_continuous_amounts_times_k_give_the_amounts_times_k(
    problem: dict[str, Any], k: float, objective: str, feasible: Any
) -> None:
    scaled = times_amounts(problem, k)
    before = run(problem, objective)
    after = run(scaled, objective)
    feasible(scaled, after)
    assert after["status"] == before["status"]
    tiny = 1e-9 * category_scale(problem)
    for key in amounts(before).keys() | amounts(after).keys():
        expected = amounts(before).get(key, 0) * k
        assert amounts(after).get(key, 0) == pytest.approx(expected, rel=1e-6, abs=tiny * k)
    for category, figures in before["categories"].items():
        got = after["categories"][category]
        assert got["placed"] == pytest.approx(figures["placed"] * k, rel=1e-6, abs=tiny * k)
        assert got["capacity"] == pytest.approx(figures["capacity"] * k, rel=1e-12)
        assert got["gap"] == pytest.approx(figures["gap"], rel=1e-6, abs=1e-9)
        assert got["min_coverage"] == pytest.approx(figures["min_coverage"] * k, rel=1e-6)


# --- renaming and reordering ids ---------------------------------------------------


def renamed(problem: dict[str, Any], seed: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem with school and service ids renamed (their sorted order shuffled) and
    every list (schools, services, eligible entries, locks, limits) reordered. Returns it
    and the map from new school ids to old ones."""
    rng = random.Random(seed)
    school_names = [f"T{i}" for i in range(len(problem["schools"]))]
    rng.shuffle(school_names)
    new_school = {s["id"]: name for s, name in zip(problem["schools"], school_names, strict=True)}
    service_names = [f"K{i:02d}" for i in range(len(problem["services"]))]
    rng.shuffle(service_names)
    new_service = {s["id"]: n for s, n in zip(problem["services"], service_names, strict=True)}
    other = copy.deepcopy(problem)
    for school in other["schools"]:
        school["id"] = new_school[school["id"]]
    for service in other["services"]:
        service["id"] = new_service[service["id"]]
        service["eligible"] = [
            new_school[entry]
            if isinstance(entry, str)
            else {**entry, "school": new_school[entry["school"]]}
            for entry in service["eligible"]
        ]
        rng.shuffle(service["eligible"])
    for lock in other["locks"]:
        lock["service"] = new_service[lock["service"]]
        lock["school"] = new_school[lock["school"]]
    for limit in other["limits"]:
        limit["school"] = new_school[limit["school"]]
    for key in ("schools", "services", "locks", "limits"):
        rng.shuffle(other[key])
    return other, {new: old for old, new in new_school.items()}


@settings(METAMORPHIC, max_examples=60)  # ties between allocations of equal D are the point
@given(
    problem=problems(),
    seed=st.integers(0, 2**16),
    objective=st.sampled_from(["proportional", "maxmin"]),
)
def test_renaming_or_reordering_ids_changes_nothing_the_stages_determine(
    problem: dict[str, Any],
    seed: int,
    objective: str,
    feasible: Any,
    reference_figures: Any,
) -> None:
    other, old_id = renamed(problem, seed)
    before = run(problem, objective)
    after = run(other, objective)
    feasible(other, after)
    assert after["status"] == before["status"]
    if before["status"] == "infeasible":
        return  # a least conflicting set need not be unique: which one is named may differ
    for category, figures in before["categories"].items():
        got = after["categories"][category]
        assert got["placed"] == pytest.approx(figures["placed"], rel=1e-6, abs=1e-9)
        assert got["gap"] == pytest.approx(figures["gap"], rel=1e-5, abs=1e-7)
        assert got["min_coverage"] == pytest.approx(figures["min_coverage"], rel=1e-5, abs=1e-7)
    # What each school gets, where the stages pin it down.
    ranges = reference_figures(problem, objective, ranges=True)
    assert ranges is not None
    mine = received(before)
    theirs = {(c, old_id[s]): amount for (c, s), amount in received(after).items()}
    assert mine.keys() == theirs.keys()
    for category, figures in ranges.items():
        scale = max(1.0, figures["placed"])
        for school, (low, high) in figures["y_range"].items():
            if high - low > 1e-6 * scale:
                continue  # the stages leave this school's total open
            key = (category, school)
            assert mine[key] == pytest.approx(theirs[key], abs=1e-5 * scale), key
            assert low - 1e-5 * scale <= mine[key] <= high + 1e-5 * scale, key


@METAMORPHIC
@given(
    problem=problems(),
    seed=st.integers(0, 2**16),
    objective=st.sampled_from(["proportional", "maxmin"]),
)
def test_listing_in_another_order_changes_no_amount(
    problem: dict[str, Any], seed: int, objective: str
) -> None:
    # The spec: "listing schools, services, locks or limits in another order changes
    # no x_js" (the ids stay; only the lists and each eligible list are shuffled).
    rng = random.Random(seed)
    other = copy.deepcopy(problem)
    for key in ("schools", "services", "locks", "limits"):
        rng.shuffle(other[key])
    for service in other["services"]:
        rng.shuffle(service["eligible"])
    before = run(problem, objective)
    after = run(other, objective)
    assert after["status"] == before["status"]
    assert amounts(after) == amounts(before)
    assert after["categories"] == before["categories"]


def test_renaming_keeps_t_star_with_a_fractional_site_max_on_whole_seats() -> None:
    # Found by the renaming test: the cohort search bounded what a service can hand out
    # with the bound of its first cohort pair (2 at T1 once renamed, not 3 at T2), so
    # it "proved" T* = 2. Now the largest floor(F / v) bounds count.
    problem = {
        "schools": [{"id": f"S{i}", "weight": 0.5} for i in range(5)],
        "services": [
            {
                "id": "J0",
                "category": "a",
                "capacity": 3,
                "integer": True,
                "eligible": ["S0", {"school": "S1", "max": 2.5}],
                "min_viable": 2,
            }
        ],
        "locks": [],
        "limits": [],
    }
    other, _ = renamed(problem, 0)  # S0 -> T2, S1 -> T1
    assert run(problem, "proportional")["categories"]["a"]["placed"] == 3
    assert run(other, "proportional")["categories"]["a"]["placed"] == 3


# --- per-site bounds ---------------------------------------------------------------


@st.composite
def site_bound_problems(draw: st.DrawFn) -> dict[str, Any]:
    """Every eligible entry with its own max, capacities well above them."""
    problem = draw(problems())
    for service in problem["services"]:
        service["eligible"] = [
            {"school": school, "max": draw(st.sampled_from([0, 1, 2.5, 4, 8]))}
            for school in school_ids(service["eligible"])
        ]
        service["capacity"] = draw(st.sampled_from([10, 25, 40]))
    problem["locks"] = []
    return problem


@METAMORPHIC
@given(problem=site_bound_problems(), objective=st.sampled_from(["proportional", "maxmin"]))
def test_per_site_bounds_are_never_exceeded(problem: dict[str, Any], objective: str) -> None:
    result = run(problem, objective)
    bound = {
        (service["id"], entry["school"]): entry["max"]
        for service in problem["services"]
        for entry in service["eligible"]
    }
    for (service_id, school), amount in amounts(result).items():
        assert amount <= bound[(service_id, school)] * (1 + 1e-9), (service_id, school)
    # A school whose only room is its sites' bounds gets up to them, no further.
    for service in problem["services"]:
        if service["capacity"] <= 0:
            continue
        used = sum(a for (j, _), a in amounts(result).items() if j == service["id"])
        assert used <= service["capacity"] * (1 + 1e-9)


# --- the cases -------------------------------------------------------------


def three_schools(weights: list[float], integer: bool) -> dict[str, Any]:
    return {
        "schools": [{"id": f"S{i}", "weight": w} for i, w in enumerate(weights)],
        "services": [
            {
                "id": "J1",
                "category": "c",
                "capacity": 100,
                "integer": integer,
                "eligible": ["S0", "S1", "S2"],
            }
        ],
    }


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("scale", [1e-9, 1, 1e6])
def test_tiny_and_huge_weights_share_as_unit_weights_do(integer: bool, scale: float) -> None:
    # Weights 1e-9/3e-9/1e-9 gave all 100 seats to one school; the optimum is 20/60/20.
    problem = three_schools([1 * scale, 3 * scale, 1 * scale], integer)
    result = run(problem, "maxmin")
    assert amounts(result) == {("J1", "S0"): 20, ("J1", "S1"): 60, ("J1", "S2"): 20}
    assert result["categories"]["c"]["min_coverage"] == pytest.approx(20 / scale, rel=1e-9)
    assert result["categories"]["c"]["gap"] == 0
    if integer:
        assert all(isinstance(a["amount"], int) for a in result["allocations"])


@pytest.mark.parametrize("objective", ["proportional", "maxmin"])
@pytest.mark.parametrize("capacity", [1e-9, 3e-12, 1e9])
def test_a_tiny_capacity_is_never_exceeded(objective: str, capacity: float, feasible: Any) -> None:
    # Capacities of 1e-9 let a service give out 3x its capacity.
    problem = {
        "schools": [{"id": s, "weight": w} for s, w in [("A", 1), ("B", 3), ("C", 1)]],
        "services": [
            {"id": "J", "category": "c", "capacity": capacity, "eligible": ["A", "B", "C"]},
            {"id": "K", "category": "c", "capacity": 2 * capacity, "eligible": ["A", "B"]},
        ],
    }
    result = run(problem, objective)
    feasible(problem, result)
    used = {"J": 0.0, "K": 0.0}
    for (service, _), amount in amounts(result).items():
        used[service] += amount
    assert used["J"] <= capacity * (1 + 1e-9)
    assert used["K"] <= 2 * capacity * (1 + 1e-9)
    figures = result["categories"]["c"]
    assert figures["placed"] == pytest.approx(3 * capacity, rel=1e-9)
    # Targets 0.6, 1.8, 0.6 (times capacity) can all be met: J to A and C, K to B...
    assert figures["gap"] == 0
    assert figures["min_coverage"] == pytest.approx(0.6 * capacity, rel=1e-9)


def random_problem(seed: int, schools: int = 16, services: int = 24) -> dict[str, Any]:
    rng = random.Random(seed)
    ids = [f"S{i:02d}" for i in range(schools)]
    return {
        "schools": [{"id": s, "weight": round(rng.uniform(50, 900), 2)} for s in ids],
        "services": [
            {
                "id": f"J{j:02d}",
                "category": rng.choice(["tutoring", "arts"]),
                "capacity": rng.choice([20, 45, 60, 120, 300]),
                "integer": rng.random() < 0.5,
                "eligible": rng.sample(ids, rng.randint(2, 6)),
            }
            for j in range(services)
        ],
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1000.0, 1e6])
def test_weights_times_1000_or_a_million_keep_the_floor(seed: int, k: float) -> None:
    # Weights x1000 made maxmin report a floor 9-33% too low as optimal; x1e6 left
    # schools at 0.
    problem = random_problem(seed)
    before = run(problem, "maxmin")
    after = run(times_weights(problem, k), "maxmin")
    assert before["status"] == after["status"] == "optimal"
    for category, figures in before["categories"].items():
        got = after["categories"][category]
        assert got["min_coverage"] == pytest.approx(figures["min_coverage"] / k, rel=1e-6)
        assert (got["min_coverage"] > 0) == (figures["min_coverage"] > 0)
    assert amounts(after) == amounts(before)  # the solver saw the same numbers
    assert received(after) == received(before)


def test_nobody_is_left_at_zero_with_weights_times_a_million() -> None:
    problem = random_problem(5)
    for school in problem["schools"]:  # every school reachable in every category
        for category in ("tutoring", "arts"):
            problem["services"].append(
                {
                    "id": f"X{category}{school['id']}",
                    "category": category,
                    "capacity": 5,
                    "eligible": [school["id"]],
                }
            )
    result = run(times_weights(problem, 1e6), "maxmin")
    assert result["status"] == "optimal"
    assert all(row["allocated"] > 0 for row in result["schools"])
    assert all(f["min_coverage"] > 0 for f in result["categories"].values())


# --- precision -----------------------------------------------------------------


def test_a_weight_of_1e_12_and_a_small_floor_keep_their_digits() -> None:
    # Rounded to 9 decimals, a weight of 1e-12 was written as 0 and a floor of
    # 4.36e-06 as 4.36e-06 give or take 1e-9.
    problem = {
        "schools": [{"id": "A", "weight": 1e-12}, {"id": "B", "weight": 1e6}],
        "services": [
            {"id": "J", "category": "c", "capacity": 4.36e-12 * 7, "eligible": ["A"]},
            {"id": "K", "category": "d", "capacity": 4.36, "eligible": ["B"]},
        ],
    }
    text = result_to_json(solve(problem, objective="maxmin"))
    result = json.loads(text)
    rows = {r["school"]: r for r in result["schools"]}
    assert rows["A"]["weight"] == 1e-12
    assert '"weight": 1e-12' in text
    assert rows["A"]["allocated"] == 3.052e-11
    assert result["categories"]["c"]["min_coverage"] == 30.52
    assert result["categories"]["d"]["min_coverage"] == 4.36e-06


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (4.36e-06, 4.36e-06),
        (1e-12, 1e-12),
        (0.1 + 0.2, 0.3),
        (1234567.891234567, 1234567.891),
        (5.00000000002, 5),  # solver noise
        (2.0, 2),
        (1234567890123.0, 1234567890123),
        (-0.0, 0),
        (1 / 3, 0.3333333333),
    ],
)
def test_numbers_keep_ten_significant_digits(value: float, written: float) -> None:
    got = number(value)
    assert got == written
    assert type(got) is type(written)


def test_the_same_file_gives_the_same_bytes_and_whole_seats_as_integers() -> None:
    problem = random_problem(3)
    text = json.dumps(problem)
    first = result_to_json(solve(text, objective="proportional"))
    assert result_to_json(solve(text, objective="proportional")) == first
    whole = {s["id"] for s in problem["services"] if s["integer"]}
    for entry in json.loads(first)["allocations"]:
        if entry["service"] in whole:
            assert isinstance(entry["amount"], int)
