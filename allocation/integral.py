"""Exact whole-seat maxmin floor (stage 2) by linear programs on a flow network.

When every service of a category counts whole units and none has a cohort
minimum (no ``min_viable`` binaries), the category's constraints are those of
a flow network: source -> service ``j`` (at most ``floor(C_j)``), service ->
school (``0..U_k`` with ``U_k`` whole, or fixed at a whole lock), school ->
sink (the limits, rounded inward to whole numbers, and a floor ``L_s``), and
a total of at least ``T*``. Its constraint matrix is totally unimodular, so
with whole bounds its LP is feasible exactly when whole amounts are, and a
simplex vertex is itself whole.

The floor ``y_s >= z w_s`` for whole ``y_s`` is ``y_s >= L_s(z) = ceil(z w_s)``,
and whether ``L(z)`` is feasible is monotone in ``z``. The best floor ``z*`` is
the coverage ``min_s y_s / w_s`` of a whole allocation, so it lies on a
breakpoint ``k / w_s``. We bound it above by the continuous relaxation and
below by the coverage of a known whole allocation, then bisect with LP
feasibility checks; each feasible check raises the lower bound to the
coverage of the (whole) vertex found, each infeasible one lowers the upper
bound below the point tried. When no breakpoint is left strictly between the
two, the lower bound is ``z*``. The ceilings use a float-noise tolerance of
1e-9 relative (far inside the spec's 1e-6), so ``k / w_s * w_s`` counts as ``k``.

Any doubt (a vertex that does not round to a feasible whole allocation, a
solver error) returns ``None`` and the caller falls back to the MILP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from allocation.model import CategoryData
from allocation.solvers import quiet_highs, run_highs, set_time_limit

NOISE = 1e-9  # relative float noise allowed in ceil(z w_s)
WHOLE = 1e-6  # how far a simplex value may sit from a whole number and still count as it


def ceil_noise(values: np.ndarray) -> np.ndarray:
    """ceil(v), treating v within float noise above a whole number as that number."""
    ceiled: np.ndarray = np.ceil(values - NOISE * np.maximum(1.0, np.abs(values)))
    return ceiled


def floor_noise(values: np.ndarray) -> np.ndarray:
    """floor(v), treating v within float noise below a whole number as that number."""
    floored: np.ndarray = np.floor(values + NOISE * np.maximum(1.0, np.abs(values)))
    return floored


def integral_flow(data: CategoryData, has_binaries: bool) -> str | None:
    """``"whole"`` when the category is a whole-number flow network (see module doc),
    ``"mixed"`` when it is one but some services count continuous amounts, else None."""
    if has_binaries or not len(data.pair_service):
        return None
    whole = np.asarray([data.services[j].integer for j in data.pair_service.tolist()])
    if not whole.any():
        return None
    for k, amount in data.pair_lock.items():
        if whole[k] and abs(amount - round(amount)) > 1e-9:
            return None
    upper = data.pair_upper[whole]
    if not np.all(upper == np.round(upper)):
        return None
    return "whole" if whole.all() else "mixed"


@dataclass
class FloorOutcome:
    """What the search found: a whole allocation, its coverage, and whether it is proven best."""

    amounts: np.ndarray
    z: float
    proven: bool


class IntegralFloor:
    """The flow LP of one whole-seat category, kept in one HiGHS model across checks."""

    def __init__(self, data: CategoryData, t_star: float, time_left: Callable[[], float | None]):
        self.data = data
        self.time_left = time_left
        n = len(data.pair_service)
        m = len(data.schools)
        self.n, self.m = n, m
        self.weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
        # Which columns, services and schools (all of whose amounts) are whole.
        self.service_whole = np.asarray([service.integer for service in data.services])
        self.whole = self.service_whole[data.pair_service]
        self.school_whole = np.bincount(data.pair_school, weights=~self.whole, minlength=m) == 0
        self.mixed = not bool(self.whole.all())
        self.t_star = float(t_star if self.mixed else round(t_star))
        lower, upper = data.school_bounds()
        self.school_lower = np.where(self.school_whole, ceil_noise(lower), lower)
        self.school_upper = np.where(
            self.school_whole & ~np.isinf(upper), floor_noise(upper), upper
        )
        self.col_lower = np.zeros(n)
        self.col_upper = data.pair_upper.astype(np.float64).copy()
        for k, amount in data.pair_lock.items():
            fixed = float(round(amount)) if self.whole[k] else amount
            self.col_lower[k] = self.col_upper[k] = fixed
        self.capacity = np.asarray(
            [
                math.floor(service.capacity + 1e-9) if service.integer else service.capacity
                for service in data.services
            ],
            dtype=np.float64,
        )
        # Continuous amounts are checked to the solver's tolerance, whole ones exactly.
        self.slack = 1e-7 if self.mixed else 0.0

        inf = highspy.kHighsInf
        # Presolve off: keep the basis between checks; the model is small.
        h = self.highs = quiet_highs(presolve="off")
        # Columns: x_k (n), then z.
        h.addVars(n + 1, np.append(self.col_lower, 0.0), np.append(self.col_upper, inf))
        pair_service = data.pair_service
        pair_school = data.pair_school
        for j, ks in enumerate(positions_by(pair_service, len(self.capacity))):
            if len(ks):
                h.addRow(-inf, self.capacity[j], len(ks), ks, np.ones(len(ks)))
        self.recv_first = h.getNumRow()
        by_school = positions_by(pair_school, m)
        for i, ks in enumerate(by_school):
            h.addRow(
                self.school_lower[i],
                self.school_upper[i],
                len(ks),
                ks,
                np.ones(len(ks)),
            )
        self.floor_first = h.getNumRow()
        for i, ks in enumerate(by_school):
            h.addRow(
                0.0,
                inf,
                len(ks) + 1,
                np.append(ks, n).astype(np.int32),
                np.append(np.ones(len(ks)), -self.weights[i]),
            )
        placed = self.t_star * (1.0 - 1e-9) if self.mixed else self.t_star
        h.addRow(placed, inf, n, np.arange(n, dtype=np.int32), np.ones(n))
        self.pair_school = pair_school

    # --- HiGHS runs -------------------------------------------------------------------

    def _run(self) -> highspy.HighsModelStatus | None:
        left = self.time_left()
        if left is not None and left <= 0:
            return None
        set_time_limit(self.highs, left)
        run_highs(self.highs)
        return self.highs.getModelStatus()

    def relaxation(self) -> float | None:
        """The continuous relaxation's best floor (an upper bound on z*), or None if stopped."""
        h = self.highs
        h.changeColBounds(self.n, 0.0, highspy.kHighsInf)
        h.changeColCost(self.n, -1.0)
        status = self._run()
        if status != highspy.HighsModelStatus.kOptimal:
            return None
        z = float(h.getSolution().col_value[self.n])
        h.changeColCost(self.n, 0.0)
        h.changeColBounds(self.n, 0.0, 0.0)
        return z

    def check(self, floors: np.ndarray) -> np.ndarray | bool | None:
        """Whole amounts meeting y_s >= floors; False when there are none; None when stopped."""
        lower = np.maximum(self.school_lower, floors)
        if np.any(lower > self.school_upper):
            return False
        rows = np.arange(self.recv_first, self.recv_first + self.m, dtype=np.int32)
        # highspy's stubs lack the plural form it has had since 1.7.
        self.highs.changeRowsBounds(self.m, rows, lower, self.school_upper)  # type: ignore[attr-defined]
        status = self._run()
        kinds = highspy.HighsModelStatus
        if status in (kinds.kInfeasible, kinds.kUnboundedOrInfeasible):
            return False
        if status != kinds.kOptimal:
            return None
        values = np.asarray(self.highs.getSolution().col_value[: self.n])
        rounded = np.round(values)
        if np.any(np.abs(values - rounded)[self.whole] > WHOLE):
            raise _NotWhole
        found = np.where(self.whole, rounded, np.clip(values, self.col_lower, self.col_upper))
        if not self.holds(found, lower):
            raise _NotWhole
        return found

    def holds(self, x: np.ndarray, floors: np.ndarray) -> bool:
        """Whether amounts `x` meet every constraint and the floors (whole ones exactly)."""
        if np.any(x < self.col_lower) or np.any(x > self.col_upper):
            return False
        if np.any(x[self.whole] != np.round(x[self.whole])):
            return False
        slack = self.slack

        def below(a: np.ndarray, b: np.ndarray) -> bool:
            if not slack:
                return bool(np.all(a <= b))
            room = slack * np.maximum(1.0, np.where(np.isinf(b), 1.0, np.abs(b)))
            return bool(np.all(a <= b + room))

        used = np.bincount(self.data.pair_service, weights=x, minlength=len(self.capacity))
        y = self.received(x)
        return (
            below(used, self.capacity)
            and below(np.maximum(self.school_lower, floors), y)
            and below(y, self.school_upper)
            and below(np.asarray([self.t_star]), np.asarray([y.sum()]))
        )

    def received(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair_school, weights=x, minlength=self.m)

    def coverage(self, x: np.ndarray) -> float:
        return float(np.min(self.received(x) / self.weights))

    # --- the search -------------------------------------------------------------------

    def floors(self, z: float) -> np.ndarray:
        """L_s(z) = ceil(z w_s), up to float noise (z w_s itself where y_s need not be whole)."""
        exact = z * self.weights
        return np.maximum(np.where(self.school_whole, ceil_noise(exact), exact), 0.0)

    def search(self, start: np.ndarray) -> FloorOutcome | None:
        """Maximise the floor over whole allocations, from the whole allocation `start`."""
        try:
            return self._search(start)
        except _NotWhole:
            return None

    def _search(self, start: np.ndarray) -> FloorOutcome | None:
        best = np.round(start)
        if not self.holds(best, np.zeros(self.m)):
            return None
        z_low = self.coverage(best)
        relaxed = self.relaxation()
        if relaxed is None:
            return FloorOutcome(best, z_low, proven=False)
        if self.mixed:
            return self._certify(relaxed)
        # The relaxation's optimum, with room for the LP's own tolerance.
        z_high = at_or_below(self.weights, relaxed * (1.0 + 1e-7) + 1e-9)
        while True:
            step = next_breakpoint(self.weights, z_low)
            if step > z_high:
                return FloorOutcome(best, z_low, proven=True)
            # The greatest breakpoint at or below the middle, but at least the next one.
            trial = max(step, at_or_below(self.weights, 0.5 * (z_low + z_high)))
            found = self.check(self.floors(trial))
            if found is None:
                return FloorOutcome(best, z_low, proven=False)
            if found is False:
                z_high = last_breakpoint_below(self.weights, trial)
                continue
            assert isinstance(found, np.ndarray)
            best = found
            z_low = self.coverage(found)

    def _certify(self, relaxed: float) -> FloorOutcome | None:
        # With continuous amounts too, LP feasibility no longer decides whole feasibility;
        # but a vertex at the relaxation's floor whose whole columns come out whole is
        # a solution no MILP can beat. Otherwise, let the MILP decide (None).
        z = relaxed * (1.0 - 1e-9)
        found = self.check(self.floors(z))
        if not isinstance(found, np.ndarray):
            return None
        return FloorOutcome(found, min(self.coverage(found), relaxed), proven=True)


def next_breakpoint(weights: np.ndarray, z: float) -> float:
    """The least k / w_s above z (up to float noise): the next floor whole amounts can give."""
    return float(np.min((floor_noise(z * weights) + 1.0) / weights))


def at_or_below(weights: np.ndarray, z: float) -> float:
    """The greatest k / w_s at or below z (up to float noise)."""
    return float(np.max(floor_noise(z * weights) / weights))


def last_breakpoint_below(weights: np.ndarray, z: float) -> float:
    """The greatest k / w_s below z (up to float noise)."""
    return float(np.max((ceil_noise(z * weights) - 1.0) / weights))


def breakpoints_between(weights: np.ndarray, low: float, high: float) -> int:
    """How many breakpoints k / w_s lie in (low, high] (up to float noise; with repeats)."""
    if high <= low:
        return 0
    return int(np.sum(floor_noise(high * weights) - floor_noise(low * weights)))


def positions_by(keys: np.ndarray, count: int) -> list[np.ndarray]:
    """For each key 0..count-1, the positions holding it (ascending; empty if none)."""
    grouped = [np.zeros(0, dtype=np.int32) for _ in range(count)]
    order = np.argsort(keys, kind="stable").astype(np.int32)
    values, starts = np.unique(keys[order], return_index=True)
    ends = [*starts[1:].tolist(), len(order)] if len(starts) else []
    for v, a, b in zip(values.tolist(), starts.tolist(), ends, strict=True):
        grouped[int(v)] = order[a:b]
    return grouped


class _NotWhole(Exception):
    """A simplex vertex that did not round to a feasible whole allocation."""
