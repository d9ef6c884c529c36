"""Exact whole-seat floor at the least distance (proportional's stage 3) by LPs.

When every service of a category counts whole units and none has a cohort
minimum (`allocation.integral.integral_flow` says ``"whole"``), stage 3 asks
for the highest floor ``f`` (``y_s >= f tau_s``) among the allocations with
``sum y = T*`` and ``D = sum |y_s - tau_s| <= cap``. As a MILP this is a
max-min over whole seats whose LP bound closes slowly: with locks, which put
some schools far above their targets and leave the others to share what is
left, HiGHS took 2,000+ nodes (7 CPU seconds) on a 43-school category whose
answer it had found at the root.

Here the floor is searched as `allocation.integral` searches the maxmin floor:
for a floor ``L_s = ceil(f tau_s)``, the least D of a whole allocation with
``y_s >= L_s`` is the optimum of a min-cost flow LP, and the floor can be held
exactly when that least D is within the cap; this is monotone in ``f``. The
network: service ``j`` -> school ``s`` (``x_k`` in ``0..U_k``, or fixed at a
whole lock; at most ``floor(C_j)`` out of ``j``), school -> its copy ``s'``
(``y_s``, bounded by the limits rounded inward and by ``L_s``), and ``s'`` ->
sink by three arcs that price ``|y_s - tau_s|`` on whole ``y_s``: up to
``floor(tau_s)`` units at cost -1, one unit at ``1 - 2 frac(tau_s)``, the rest
at +1 (their sum is ``|y_s - tau_s| - tau_s`` for every whole ``y_s``: the
convex hull of the deviation, as stage 2's chord cuts). The sink takes exactly
``T*``. Every row is a row of that network's incidence matrix (capacities as
inequalities), so the matrix is totally unimodular: with whole bounds, a
simplex vertex is whole and the LP's least D is the least D of whole seats.
Only the bounds of the ``y`` columns change from one floor to the next, so
each check is a dual simplex hot start.

Floors go by breakpoints ``k / tau_s``: below by the coverage of stage 2's
allocation (the start), above by 1 (``sum y = sum tau``), bisected as in
`allocation.integral`. Each D is computed from the whole allocation itself,
not taken from the solver. Any doubt (a vertex that does not round to a
whole allocation meeting every constraint) returns ``None``, and the caller
falls back to the MILP.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import highspy
import numpy as np

from allocation.integral import (
    WHOLE,
    FloorOutcome,
    at_or_below,
    ceil_noise,
    floor_noise,
    last_breakpoint_below,
    next_breakpoint,
    positions_by,
)
from allocation.model import CategoryData
from allocation.solvers import quiet_highs, run_highs


class _Doubt(Exception):
    """A simplex vertex that did not round to a whole allocation meeting every constraint."""


class WholeFloorAtDistance:
    """The distance flow LP of one whole-seat category, kept in one HiGHS model."""

    def __init__(
        self,
        data: CategoryData,
        t_star: float,
        targets: np.ndarray,
        cap: float,
        time_left: Callable[[], float | None],
    ) -> None:
        self.data = data
        self.time_left = time_left
        self.targets = np.asarray(targets, dtype=np.float64)
        self.cap = cap
        self.t_star = float(round(t_star))
        self.checks = 0  # LPs solved: the work done, for tests
        n = self.n = len(data.pair_service)
        m = self.m = len(data.schools)
        self.pair_school = data.pair_school
        lower, upper = data.school_bounds()
        self.school_lower = ceil_noise(lower)
        self.school_upper = np.where(np.isinf(upper), upper, floor_noise(upper))
        self.col_lower = np.zeros(n)
        self.col_upper = data.pair_upper.astype(np.float64).copy()
        for k, amount in data.pair_lock.items():
            self.col_lower[k] = self.col_upper[k] = float(round(amount))
        self.capacity = np.asarray(
            [math.floor(service.capacity + 1e-9) for service in data.services], dtype=np.float64
        )

        inf = highspy.kHighsInf
        whole = np.floor(self.targets)
        fraction = self.targets - whole
        # Presolve off: keep the basis between checks; the model is small.
        h = self.highs = quiet_highs(presolve="off")
        # Columns: x (n), y (m), then the three arcs of each school: below, across, above.
        self.y_first = n
        below, across, above = n + m, n + 2 * m, n + 3 * m
        h.addVars(
            n + 4 * m,
            np.concatenate([self.col_lower, self.school_lower, np.zeros(3 * m)]),
            np.concatenate(
                [
                    self.col_upper,
                    np.where(np.isinf(self.school_upper), inf, self.school_upper),
                    whole,
                    np.ones(m),
                    np.full(m, inf),
                ]
            ),
        )
        costs = np.concatenate([np.full(m, -1.0), 1.0 - 2.0 * fraction, np.ones(m)])
        h.changeColsCost(3 * m, np.arange(below, n + 4 * m, dtype=np.int32), costs)
        for j, ks in enumerate(positions_by(data.pair_service, len(self.capacity))):
            if len(ks):
                h.addRow(-inf, self.capacity[j], len(ks), ks, np.ones(len(ks)))
        for i, ks in enumerate(positions_by(data.pair_school, m)):
            # sum_k x_k - y_s = 0
            h.addRow(
                0.0,
                0.0,
                len(ks) + 1,
                np.append(ks, n + i).astype(np.int32),
                np.append(np.ones(len(ks)), -1.0),
            )
        for i in range(m):
            # y_s - below_s - across_s - above_s = 0
            h.addRow(
                0.0,
                0.0,
                4,
                np.asarray([n + i, below + i, across + i, above + i], dtype=np.int32),
                np.asarray([1.0, -1.0, -1.0, -1.0]),
            )
        arcs = np.arange(below, n + 4 * m, dtype=np.int32)
        h.addRow(self.t_star, self.t_star, len(arcs), arcs, np.ones(len(arcs)))

    # --- HiGHS runs -------------------------------------------------------------------

    def check(self, floors: np.ndarray) -> np.ndarray | bool | None:
        """Whole amounts meeting y_s >= floors with D <= cap; False when there are none;
        None when stopped by the time limit or a solver failure."""
        lower = np.maximum(self.school_lower, floors)
        if np.any(lower > self.school_upper):
            return False
        left = self.time_left()
        if left is not None and left <= 0:
            return None
        h = self.highs
        # HiGHS reads time_limit against the model's run time summed over all its runs.
        limit = highspy.kHighsInf if left is None else float(h.getRunTime()) + left
        h.setOptionValue("time_limit", limit)
        columns = np.arange(self.y_first, self.y_first + self.m, dtype=np.int32)
        upper = np.where(np.isinf(self.school_upper), highspy.kHighsInf, self.school_upper)
        h.changeColsBounds(self.m, columns, lower, upper)
        run_highs(h)
        self.checks += 1
        status = h.getModelStatus()
        kinds = highspy.HighsModelStatus
        if status in (kinds.kInfeasible, kinds.kUnboundedOrInfeasible):
            return False
        if status != kinds.kOptimal:
            return None
        values = np.asarray(h.getSolution().col_value[: self.n])
        found = np.round(values)
        if np.any(np.abs(values - found) > WHOLE) or not self.holds(found, lower):
            raise _Doubt
        # The LP's optimum is the least D of whole seats at these floors.
        return found if self.distance(found) <= self.cap else False

    def holds(self, x: np.ndarray, floors: np.ndarray) -> bool:
        """Whether whole amounts `x` meet every constraint, sum y = T* and the floors."""
        if np.any(x < self.col_lower) or np.any(x > self.col_upper):
            return False
        used = np.bincount(self.data.pair_service, weights=x, minlength=len(self.capacity))
        y = self.received(x)
        return bool(
            np.all(used <= self.capacity)
            and np.all(y >= np.maximum(self.school_lower, floors))
            and np.all(y <= self.school_upper)
            and y.sum() == self.t_star
        )

    def received(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair_school, weights=x, minlength=self.m).astype(np.float64)

    def distance(self, x: np.ndarray) -> float:
        return float(np.abs(self.received(x) - self.targets).sum())

    def coverage(self, x: np.ndarray) -> float:
        """min_s y_s / tau_s: the floor f of `x`."""
        return float(np.min(self.received(x) / self.targets))

    def floors(self, f: float) -> np.ndarray:
        """L_s(f) = ceil(f tau_s), up to float noise."""
        floors: np.ndarray = np.maximum(ceil_noise(f * self.targets), 0.0)
        return floors

    # --- the search -------------------------------------------------------------------

    def search(self, start: np.ndarray) -> FloorOutcome | None:
        """The highest floor at D <= cap over whole allocations, from the whole allocation
        `start` (stage 2's); its ``z`` is the floor f against the targets. None: doubt."""
        try:
            return self._search(start)
        except _Doubt:
            return None

    def _search(self, start: np.ndarray) -> FloorOutcome | None:
        best = np.round(start)
        if not self.holds(best, np.zeros(self.m)) or self.distance(best) > self.cap:
            return None
        f_low = self.coverage(best)
        # sum y = T* = sum tau: no floor above 1.
        f_high = at_or_below(self.targets, 1.0 + 1e-9)
        while True:
            step = next_breakpoint(self.targets, f_low)
            if step > f_high:
                return FloorOutcome(best, f_low, proven=True)
            # The greatest breakpoint at or below the middle, but at least the next one.
            trial = max(step, at_or_below(self.targets, 0.5 * (f_low + f_high)))
            found = self.check(self.floors(trial))
            if found is None:
                return FloorOutcome(best, f_low, proven=False)
            if found is False:
                f_high = last_breakpoint_below(self.targets, trial)
                continue
            assert isinstance(found, np.ndarray)
            best = found
            f_low = self.coverage(found)
