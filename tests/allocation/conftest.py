"""Shared checks for the allocation tests: feasibility, recomputed figures, a reference solver.

The reference solves the spec's stages with scipy's `milp` on its own
formulation (``x``, binaries for ``min_viable``, deviations ``p - n``), so the
engine's PuLP models are checked against something written independently.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume
from scipy.optimize import Bounds, LinearConstraint, milp

TOL = 1e-6


def eligible_ids(service: dict[str, Any]) -> list[str]:
    """The school ids of a service's `eligible` list (entries are ids or {"school", "max"})."""
    return [entry if isinstance(entry, str) else entry["school"] for entry in service["eligible"]]


def site_max(service: dict[str, Any]) -> dict[str, float]:
    """The per-site bounds m_js of a service, by school id."""
    return {
        entry["school"]: entry["max"]
        for entry in service["eligible"]
        if not isinstance(entry, str) and entry.get("max") is not None
    }


def pair_upper(service: dict[str, Any], school: str) -> float:
    """u_js = min(C_j, m_j, m_js)."""
    bounds = [service["capacity"], service.get("max_per_school"), site_max(service).get(school)]
    return min(bound for bound in bounds if bound is not None)


def _eligible_pairs(problem: dict[str, Any], category: str) -> list[tuple[dict, str]]:
    return [
        (service, school)
        for service in problem["services"]
        if service["category"] == category and service["capacity"] > 0
        for school in eligible_ids(service)
    ]


def schools_in_reach(problem: dict[str, Any], category: str) -> list[str]:
    """S_c: schools eligible for at least one service of the category with capacity > 0."""
    return sorted({school for _, school in _eligible_pairs(problem, category)})


def check_feasible(problem: dict[str, Any], result: dict[str, Any]) -> None:
    """Assert the result obeys every constraint of the spec, and its figures add up."""
    if result["status"] == "infeasible":
        assert result["conflicts"], "infeasible without conflicts"
        assert result["allocations"] == []
        return
    assert result["conflicts"] == []
    services = {s["id"]: s for s in problem["services"]}
    weights = {s["id"]: s["weight"] for s in problem["schools"]}
    x: dict[tuple[str, str], float] = {}
    for entry in result["allocations"]:
        key = (entry["service"], entry["school"])
        assert key not in x, f"duplicate allocation {key}"
        assert entry["amount"] > 0
        x[key] = entry["amount"]
    used: dict[str, float] = defaultdict(float)
    received: dict[tuple[str, str], float] = defaultdict(float)
    for (service_id, school), amount in x.items():
        service = services[service_id]
        assert school in eligible_ids(service), f"{service_id} not eligible at {school}"
        used[service_id] += amount
        received[(school, service["category"])] += amount
        cap = service.get("max_per_school")
        if cap is not None:
            assert amount <= cap + TOL * max(1, cap)
        site = site_max(service).get(school)
        if site is not None:
            assert amount <= site + TOL * max(1, site), f"{service_id}@{school} above its site max"
        viable = service.get("min_viable")
        if viable is not None:
            assert amount >= viable - TOL * max(1, viable), f"cohort {service_id}@{school}"
        if service.get("integer"):
            assert isinstance(amount, int), f"{service_id}@{school} not whole: {amount}"
    for service_id, total in used.items():
        capacity = services[service_id]["capacity"]
        assert total <= capacity + TOL * max(1, capacity), f"{service_id} over capacity"
    for lock in problem.get("locks", []):
        amount = x.get((lock["service"], lock["school"]), 0)
        assert math.isclose(amount, lock["amount"], rel_tol=TOL, abs_tol=TOL)
    for limit in problem.get("limits", []):
        got = received[(limit["school"], limit["category"])]
        if limit.get("min") is not None:
            assert got >= limit["min"] - TOL * max(1, limit["min"])
        if limit.get("max") is not None:
            assert got <= limit["max"] + TOL * max(1, limit["max"])

    rows = {(r["category"], r["school"]): r for r in result["schools"]}
    categories = sorted({s["category"] for s in problem["services"]})
    assert sorted(result["categories"]) == categories
    for category in categories:
        in_reach = schools_in_reach(problem, category)
        assert sorted(school for (c, school) in rows if c == category) == in_reach
        figures = result["categories"][category]
        placed = sum(received[(school, category)] for school in in_reach)
        assert math.isclose(figures["placed"], placed, rel_tol=1e-9, abs_tol=1e-7)
        capacity = sum(s["capacity"] for s in problem["services"] if s["category"] == category)
        assert math.isclose(figures["capacity"], capacity, rel_tol=1e-9, abs_tol=1e-9)
        if not in_reach or placed <= 0:
            assert figures["gap"] == 0 and figures["min_coverage"] == 0
            continue
        total_weight = sum(weights[s] for s in in_reach)
        deviation = 0.0
        for school in in_reach:
            row = rows[(category, school)]
            target = placed * weights[school] / total_weight
            assert math.isclose(row["target"], target, rel_tol=1e-6, abs_tol=1e-6)
            assert math.isclose(
                row["allocated"], received[(school, category)], rel_tol=1e-9, abs_tol=1e-7
            )
            deviation += abs(received[(school, category)] - target)
        gap = deviation / (2 * placed)
        coverage = min(received[(school, category)] / weights[school] for school in in_reach)
        assert math.isclose(figures["gap"], gap, rel_tol=1e-6, abs_tol=1e-6)
        assert math.isclose(figures["min_coverage"], coverage, rel_tol=1e-6, abs_tol=1e-6)
        assert -TOL <= figures["gap"] <= 1 + TOL


class ReferenceFailed(Exception):
    """scipy's HiGHS gave up (it occasionally reports a solve error on tiny MILPs)."""


def _reference_category(
    problem: dict[str, Any],
    category: str,
    objective: str,
    *,
    stage3: bool = True,
    ranges: bool = False,
) -> dict[str, Any] | None:
    pairs = _eligible_pairs(problem, category)
    in_reach = schools_in_reach(problem, category)
    for limit in problem.get("limits", []):
        outside = limit["category"] == category and limit["school"] not in in_reach
        if outside and (limit.get("min") or 0) > 0:
            return None
    if not in_reach:
        return {"placed": 0.0, "gap": 0.0, "min_coverage": 0.0, "y_range": {}}
    weights = {s["id"]: s["weight"] for s in problem["schools"]}
    locks: dict[tuple[str, str], float] = {}
    for lock in problem.get("locks", []):
        key = (lock["service"], lock["school"])
        if locks.setdefault(key, lock["amount"]) != lock["amount"]:
            return None  # one pair locked at two amounts
    viable_pairs = [k for k, (s, _) in enumerate(pairs) if (s.get("min_viable") or 0) > 0]
    n_x, n_b, n_s = len(pairs), len(viable_pairs), len(in_reach)
    # Columns: x (pairs), b (min_viable pairs), p, n (per school), z.
    n_cols = n_x + n_b + 2 * n_s + 1
    lower = np.zeros(n_cols)
    upper = np.full(n_cols, np.inf)
    integrality = np.zeros(n_cols)
    school_pos = {school: i for i, school in enumerate(in_reach)}
    rows: list[tuple[dict[int, float], float, float]] = []
    for k, (service, school) in enumerate(pairs):
        cap = pair_upper(service, school)
        if service.get("integer"):
            # Whole seats: a per-site max of 2.5 is 2 (HiGHS was seen to place less than
            # it could with the fractional bound on an integer column).
            cap = math.floor(cap + 1e-9)
            integrality[k] = 1
        upper[k] = cap
        if (service["id"], school) in locks:
            amount = locks[(service["id"], school)]
            if amount > cap + 1e-9:
                return None  # the lock breaks the per-school maximum
            lower[k] = upper[k] = amount
    for position, k in enumerate(viable_pairs):
        service = pairs[k][0]
        b = n_x + position
        upper[b] = 1
        integrality[b] = 1
        cap = upper[k]
        rows.append(({k: 1.0, b: -cap}, -np.inf, 0.0))
        rows.append(({k: 1.0, b: -service["min_viable"]}, 0.0, np.inf))
    for service in problem["services"]:
        if service["category"] != category or service["capacity"] <= 0:
            continue
        row = {k: 1.0 for k, (s, _) in enumerate(pairs) if s is service}
        rows.append((row, -np.inf, service["capacity"]))
    receive_rows = []
    for school in in_reach:
        receive_rows.append({k: 1.0 for k, (_, s) in enumerate(pairs) if s == school})
    for limit in problem.get("limits", []):
        if limit["category"] != category or limit["school"] not in school_pos:
            if limit["category"] == category and (limit.get("min") or 0) > 0:
                return None
            continue
        row = receive_rows[school_pos[limit["school"]]]
        rows.append((row, limit.get("min") or 0.0, limit.get("max") or np.inf))
        if limit.get("max") is not None:
            rows[-1] = (row, limit.get("min") or 0.0, limit["max"])

    def run(cost: np.ndarray, extra: list[tuple[dict[int, float], float, float]]) -> Any:
        everything = rows + extra
        matrix = np.zeros((max(1, len(everything)), n_cols))
        lo = np.full(max(1, len(everything)), -np.inf)
        hi = np.full(max(1, len(everything)), np.inf)
        for r, (coefficients, row_lo, row_hi) in enumerate(everything):
            for column, value in coefficients.items():
                matrix[r, column] = value
            lo[r], hi[r] = row_lo, row_hi
        return milp(
            cost,
            constraints=LinearConstraint(matrix, lo, hi),
            bounds=Bounds(lower, upper),
            integrality=integrality,
            options={"mip_rel_gap": 1e-9},
        )

    cost = np.zeros(n_cols)
    cost[:n_x] = -1.0
    first = run(cost, [])
    if first.status == 2:
        return None
    assert first.success, first.message
    t_star = -first.fun
    if all(s.get("integer") for s, _ in pairs):
        t_star = round(t_star)
    if t_star <= 1e-9:
        return {"placed": 0.0, "gap": 0.0, "min_coverage": 0.0, "y_range": {}}
    total_weight = sum(weights[s] for s in in_reach)
    placed_row = ({k: 1.0 for k in range(n_x)}, t_star * (1 - 1e-7), np.inf)
    deviation_rows = []
    p0, n0, z = n_x + n_b, n_x + n_b + n_s, n_cols - 1
    for i, school in enumerate(in_reach):
        target = t_star * weights[school] / total_weight
        row = dict(receive_rows[i])
        row[p0 + i] = -1.0
        row[n0 + i] = 1.0
        deviation_rows.append((row, target, target))
    extra = [placed_row, *deviation_rows]
    floor_rows = []
    for i, school in enumerate(in_reach):
        row = dict(receive_rows[i])
        row[z] = -weights[school]
        floor_rows.append((row, 0.0, np.inf))
    if objective == "maxmin":
        cost = np.zeros(n_cols)
        cost[z] = -1.0
        second = run(cost, [*extra, *floor_rows])
        assert second.success, second.message
        z_star = -second.fun
    cost = np.zeros(n_cols)
    cost[p0 : p0 + 2 * n_s] = 1.0
    for hold in (1e-6, 1e-5):
        floors = []
        if objective == "maxmin":
            floors = [
                (receive_rows[i], z_star * weights[school] * (1 - hold), np.inf)
                for i, school in enumerate(in_reach)
            ]
        last = run(cost, extra + floors)
        if last.success:
            break
    else:
        raise ReferenceFailed(last.message)
    targets = [t_star * weights[s] / total_weight for s in in_reach]

    def received(solution: Any) -> list[float]:
        # Whole seats rounded to whole numbers: HiGHS' objective carries its feasibility
        # tolerance (about 1e-6 per school), which is more than a relative 1e-6 of a small gap.
        amounts = [round(solution.x[k]) if integrality[k] else solution.x[k] for k in range(n_x)]
        return [sum(amounts[k] for k in receive_rows[i]) for i in range(n_s)]

    def distance_row(solution: Any) -> tuple[dict[int, float], float, float]:
        # D held at the solution's own: D <= D* (1 + 1e-6) + 1e-9, as the spec's stage 3.
        y = received(solution)
        held = sum(abs(y[i] - targets[i]) for i in range(n_s))
        return ({p0 + i: 1.0 for i in range(2 * n_s)}, -np.inf, held * (1 + 1e-6) + 1e-9)

    held_distance = distance_row(last)
    if objective == "proportional" and stage3:
        # Stage 3 of proportional: D held at its optimum, maximise the floor z.
        cost = np.zeros(n_cols)
        cost[z] = -1.0
        third = run(cost, [*extra, held_distance, *floor_rows])
        if not third.success:
            raise ReferenceFailed(third.message)
        last = third
    # Figures from the reference's own allocation.
    y = received(last)
    figures: dict[str, Any] = {
        "placed": t_star,
        "gap": sum(abs(y[i] - targets[i]) for i in range(n_s)) / (2 * t_star),
        "min_coverage": min(y[i] / weights[s] for i, s in enumerate(in_reach)),
    }
    if ranges:
        # Each y_s over the last stage's optimal face (the last two objectives held):
        # where the low and high ends meet, the stages determine what the school gets.
        z_final = figures["min_coverage"]
        face = [
            *extra,
            held_distance if objective == "proportional" else distance_row(last),
            *[
                (receive_rows[i], z_final * weights[school] * (1 - 1e-6) - 1e-9, np.inf)
                for i, school in enumerate(in_reach)
            ],
        ]
        spans = {}
        for i, school in enumerate(in_reach):
            ends = []
            for sign in (1.0, -1.0):
                cost = np.zeros(n_cols)
                for k in receive_rows[i]:
                    cost[k] = sign
                found = run(cost, face)
                if not found.success:
                    raise ReferenceFailed(found.message)
                ends.append(sign * found.fun)
            spans[school] = (ends[0], ends[1])
        figures["y_range"] = spans
    return figures


def reference(
    problem: dict[str, Any], objective: str, *, stage3: bool = True, ranges: bool = False
) -> dict[str, dict[str, Any]] | None:
    """Per category the reference's placed, gap and min_coverage; None when infeasible.

    `stage3`: proportional's stage 3 (D held at its optimum, the floor z maximised).
    `ranges`: also "y_range", per school of S_c the least and the most it can
    receive over the last stage's optimal face (the last two objectives held to
    the spec's tolerances).
    """
    figures = {}
    offered = {s["category"] for s in problem["services"]}
    for category in sorted(offered | {lk["category"] for lk in problem.get("limits", [])}):
        found = _reference_category(problem, category, objective, stage3=stage3, ranges=ranges)
        if found is None:
            return None
        if category in offered:
            figures[category] = found
    return figures


def check_against_reference(
    problem: dict[str, Any],
    objective: str,
    result: dict[str, Any],
    *,
    rel: float,
    abs_: float,
) -> None:
    """The engine's result has the reference's status and figures (gap and floor to
    `rel`/`abs_`; the floor of proportional is its stage 3's). Inside a hypothesis test:
    an example the reference fails on is skipped."""
    try:
        expected = reference(problem, objective)
    except ReferenceFailed:  # the reference's own failure is no verdict on the engine
        assume(False)
        raise
    if expected is None:
        assert result["status"] == "infeasible"
        return
    assert result["status"] == "optimal"
    for category, figures in expected.items():
        got = result["categories"][category]
        assert got["placed"] == pytest.approx(figures["placed"], rel=1e-6, abs=1e-6)
        assert got["gap"] == pytest.approx(figures["gap"], rel=rel, abs=abs_)
        # Both objectives: maxmin's floor is its stage 2, proportional's its stage 3.
        assert got["min_coverage"] == pytest.approx(figures["min_coverage"], rel=rel, abs=abs_)


@pytest.fixture(scope="session")
def agrees_with_reference() -> Callable[..., None]:
    """`check_against_reference`, as a fixture."""
    return check_against_reference


@pytest.fixture(scope="session")
def feasible() -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """The feasibility and figures check, as a fixture."""
    return check_feasible


@pytest.fixture(scope="session")
def reference_figures() -> Callable[..., dict[str, dict[str, Any]] | None]:
    """`reference` (figures per category, optionally each school's range), as a fixture."""
    return reference
