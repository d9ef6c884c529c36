"""A category's first feasible allocation, found by a bounded method before any open-ended solve.

The spec asks that a category is never returned empty because time ran out:
its first feasible allocation comes from a method whose running time is
bounded, not from a MILP search. `first_feasible` tries, in order:

1. `fill`, a greedy fill in a fixed number of passes over the pairs (vectorised
   with numpy; Python loops only over the pairs of schools that have limits):
   locks exactly; then each school short of its limit ``min`` is topped up from
   its own pairs (opening a cohort at ``v_j`` where one is needed); then the
   pairs of schools with a limit ``max``, one by one; then every other pair
   takes its school's share by weight of what its service has left, and then,
   service by service, what is still left, up to its ``U_k`` (and its school's
   limit ``max``); a cohort opens only with at least ``v_j``. Whole seats stay
   whole. Without school limits this places ``sum_j min(C_j, reach_j)`` up to
   cohorts left over, which is ``T*`` for continuous and whole-seat categories.
2. When the fill cannot meet the locks and limit minimums: the LP relaxation of
   stage 1 (a transportation LP, solved by HiGHS' simplex: polynomial in
   practice, no branching), rounded down to whole seats and cohorts, then
   repaired by the same fill. An infeasible relaxation proves the category
   infeasible.

A failure of both is no proof of infeasibility (only the solver can say
that): the caller then relies on stage 1 itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from allocation.model import CategoryData, clean_amounts

TOLERANCE = 1e-9  # relative slack when checking the fill against capacities and limits


@dataclass(frozen=True)
class FirstFeasible:
    """What the bounded methods found: an allocation, or a proof that none exists."""

    amounts: np.ndarray | None  # a feasible allocation (cleaned), or None
    infeasible: bool = False  # the LP relaxation is infeasible: so is the category
    method: str = ""  # "fill" or "relaxation" (for tests and benchmarks)


def _tol(value: float | np.ndarray) -> float | np.ndarray:
    return TOLERANCE * np.maximum(1.0, np.abs(value))


class _Fill:
    """The arrays of one category the fill works on."""

    def __init__(self, data: CategoryData) -> None:
        self.data = data
        services = data.services
        self.upper = data.pair_upper.astype(np.float64)
        self.integer = np.asarray([s.integer for s in services], dtype=bool)[data.pair_service]
        self.viable = np.asarray([s.min_viable or 0.0 for s in services], dtype=np.float64)[
            data.pair_service
        ]
        capacity = np.asarray([s.capacity for s in services], dtype=np.float64)
        whole_service = np.asarray([s.integer for s in services], dtype=bool)
        self.capacity = np.where(whole_service, np.floor(capacity + 1e-9), capacity)
        self.locked = np.zeros(len(self.upper), dtype=bool)
        for k in data.pair_lock:
            self.locked[k] = True
        self.lower, self.school_upper = data.school_bounds()

    def whole(self, k: int, value: float) -> float:
        return math.floor(value + 1e-9) if self.integer[k] else value

    def run(self, start: np.ndarray | None) -> np.ndarray | None:
        data = self.data
        pairs = len(self.upper)
        x = np.zeros(pairs) if start is None else np.clip(start, 0.0, self.upper).astype(np.float64)
        x = np.where(self.integer, np.floor(x + 1e-9), x)
        x = np.where((x > 0) & (x < self.viable), 0.0, x)  # a cohort below its minimum: closed
        for k, amount in data.pair_lock.items():
            x[k] = amount
        services, schools = len(data.services), len(data.schools)
        left = self.capacity - np.bincount(data.pair_service, weights=x, minlength=services)
        if np.any(left < -_tol(self.capacity)):
            return None
        left = np.maximum(left, 0.0)
        received = np.bincount(data.pair_school, weights=x, minlength=schools).astype(np.float64)
        headroom = self.school_upper - received
        if np.any(headroom < -_tol(self.school_upper)):
            return None
        headroom = np.maximum(headroom, 0.0)

        def give(k: int, wanted: float | None) -> None:
            """Put as much as fits on pair k (at most `wanted` more, rounded up to a whole
            seat or a cohort when that fits)."""
            j, i = int(data.pair_service[k]), int(data.pair_school[k])
            room = self.whole(k, min(self.upper[k] - x[k], left[j], headroom[i]))
            if room <= 0:
                return
            amount = room
            if wanted is not None:
                need = math.ceil(wanted - 1e-9) if self.integer[k] else wanted
                amount = min(room, need)
            if x[k] == 0 and amount < self.viable[k]:
                if room < self.viable[k]:
                    return
                amount = self.viable[k]
            x[k] += amount
            left[j] -= amount
            headroom[i] -= amount
            received[i] += amount

        free = ~self.locked
        # 1. Schools short of their limit min, from their own pairs (the service with
        #    the most left first).
        short = np.flatnonzero(self.lower > received + _tol(self.lower))
        if len(short):
            by_school = np.argsort(data.pair_school, kind="stable")
            starts = np.searchsorted(data.pair_school[by_school], np.arange(schools + 1))
            for i in short.tolist():
                own = [k for k in by_school[starts[i] : starts[i + 1]].tolist() if free[k]]
                own.sort(key=lambda k: -left[int(data.pair_service[k])])
                for k in own:
                    need = self.lower[i] - received[i]
                    if need <= _tol(self.lower[i]):
                        break
                    give(k, need)
                if self.lower[i] - received[i] > _tol(self.lower[i]):
                    return None
        # 2. Pairs of schools with a limit max, one by one.
        capped = np.isfinite(self.school_upper)[data.pair_school]
        for k in np.flatnonzero(free & capped).tolist():
            give(k, None)
        # 3. Every other pair, in two vectorised passes. First each service's share by
        #    weight among its pairs (so that a first allocation is not all for the first
        #    ids); then each pair takes what its service has left after the pairs before
        #    it, up to its room.
        rest = free & ~capped
        weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
        weight = np.where(rest, weights[data.pair_school], 0.0)
        total = np.bincount(data.pair_service, weights=weight, minlength=services)
        share = (
            np.divide(left * 1.0, total, out=np.zeros(services), where=total > 0)[data.pair_service]
            * weight
        )
        added = np.minimum(share, np.where(rest, self.upper - x, 0.0))
        added = np.where(self.integer, np.floor(added + 1e-9), added)
        added = np.where((x == 0) & (added < self.viable), 0.0, added)
        x = x + added
        left = np.maximum(
            left - np.bincount(data.pair_service, weights=added, minlength=services), 0.0
        )
        room = np.where(rest, self.upper - x, 0.0)
        before = np.cumsum(room) - room
        first_of_service = np.searchsorted(data.pair_service, np.arange(services))
        inside = np.minimum(first_of_service, max(pairs - 1, 0))
        base = np.where(first_of_service < pairs, before[inside], 0.0) if pairs else before
        before = before - base[data.pair_service]
        added = np.clip(left[data.pair_service] - before, 0.0, room)
        added = np.where(self.integer, np.floor(added + 1e-9), added)
        # An unopened cohort that would get less than v_j stays closed; everything after
        # it in its service then has nothing left anyway (its room was at least v_j).
        # (An opened one may take any amount.)
        added = np.where((x == 0) & (added < self.viable), 0.0, added)
        x = x + added
        return x if self.feasible(x) else None

    def feasible(self, x: np.ndarray) -> bool:
        data = self.data
        if np.any(x < 0) or np.any(x > self.upper + _tol(self.upper)):
            return False
        if np.any((x > 0) & (x < self.viable - _tol(self.viable))):
            return False
        used = np.bincount(data.pair_service, weights=x, minlength=len(data.services))
        if np.any(used > self.capacity + _tol(self.capacity)):
            return False
        received = np.bincount(data.pair_school, weights=x, minlength=len(data.schools))
        if np.any(received < self.lower - _tol(self.lower)):
            return False
        if np.any(received > self.school_upper + _tol(self.school_upper)):
            return False
        return all(abs(x[k] - amount) <= 1e-9 for k, amount in data.pair_lock.items())


def fill(data: CategoryData, start: np.ndarray | None = None) -> np.ndarray | None:
    """A feasible allocation by the greedy fill (from `start` if given), or None."""
    found = _Fill(data).run(start)
    return None if found is None else clean_amounts(data, found)


def relaxation(data: CategoryData, time_limit_s: float | None) -> tuple[np.ndarray | None, bool]:
    """Stage 1's LP relaxation (no whole seats, no cohorts): (its x, whether it is infeasible)."""
    import highspy

    from allocation.solvers import quiet_highs

    inf = highspy.kHighsInf
    pairs = len(data.pair_service)
    lower = np.zeros(pairs)
    upper = data.pair_upper.astype(np.float64).copy()
    for k, amount in data.pair_lock.items():
        lower[k] = upper[k] = amount
    highs = quiet_highs(time_limit=inf if time_limit_s is None else float(time_limit_s))
    highs.setOptionValue("solver", "simplex")
    highs.addVars(pairs, lower, upper)
    highs.changeColsCost(pairs, np.arange(pairs, dtype=np.int32), np.full(pairs, -1.0))
    services = np.asarray([s.capacity for s in data.services], dtype=np.float64)
    school_lower, school_upper = data.school_bounds()
    rows: list[tuple[float, float, np.ndarray]] = []
    order = np.argsort(data.pair_service, kind="stable")
    starts = np.searchsorted(data.pair_service[order], np.arange(len(services) + 1))
    for j in range(len(services)):
        rows.append((-inf, float(services[j]), order[starts[j] : starts[j + 1]]))
    order = np.argsort(data.pair_school, kind="stable")
    starts = np.searchsorted(data.pair_school[order], np.arange(len(data.schools) + 1))
    for i in range(len(data.schools)):
        lo, hi = float(school_lower[i]), float(school_upper[i])
        if lo > 0 or math.isfinite(hi):
            rows.append((lo, hi if math.isfinite(hi) else inf, order[starts[i] : starts[i + 1]]))
    if rows:
        index = np.concatenate([r[2] for r in rows]).astype(np.int32)
        begin = np.cumsum([0] + [len(r[2]) for r in rows[:-1]]).astype(np.int32)
        highs.addRows(
            len(rows),
            np.asarray([r[0] for r in rows]),
            np.asarray([r[1] for r in rows]),
            len(index),
            begin,
            index,
            np.ones(len(index)),
        )
    highs.run()
    status = highs.getModelStatus()
    kinds = highspy.HighsModelStatus
    if status in (kinds.kInfeasible, kinds.kUnboundedOrInfeasible):
        return None, True
    if status != kinds.kOptimal:
        return None, False
    return np.asarray(highs.getSolution().col_value, dtype=np.float64), False


def placed_bound(data: CategoryData) -> float:
    """An upper bound on T*: no service gives more than its capacity or the sum of its
    pairs' bounds, no school gets more than its limit max or the sum of its pairs' bounds.
    A feasible allocation that places this much proves stage 1 optimal."""
    fill = _Fill(data)
    by_service = np.bincount(data.pair_service, weights=fill.upper, minlength=len(data.services))
    by_school = np.bincount(data.pair_school, weights=fill.upper, minlength=len(data.schools))
    return float(
        min(
            np.minimum(fill.capacity, by_service).sum(),
            np.minimum(fill.school_upper, by_school).sum(),
        )
    )


def first_feasible(data: CategoryData, time_limit_s: float | None) -> FirstFeasible:
    """The category's first feasible allocation by a bounded method (see the module doc).

    `time_limit_s` bounds the LP relaxation, the only step whose time is not
    linear in the number of pairs.
    """
    found = fill(data)
    if found is not None:
        return FirstFeasible(found, method="fill")
    relaxed, infeasible = relaxation(data, time_limit_s)
    if infeasible:
        return FirstFeasible(None, infeasible=True)
    if relaxed is not None:
        repaired = fill(data, relaxed)
        if repaired is not None:
            return FirstFeasible(repaired, method="relaxation")
    return FirstFeasible(None)
