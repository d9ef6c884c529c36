"""The continuous maxmin floor (stage 2) by a Newton search over flows.

For a category whose amounts are all continuous, with no cohort minimums, no
locks and no limit minimums, the constraints form a flow network: source ->
service ``j`` (at most ``C_j``), service -> school (``0..U_k``), school -> sink
(at most the school's limit maximum). A floor ``z`` is feasible when the
schools can all receive ``z w_s`` at once, that is when the maximum flow
``F(z)`` with school -> sink capacities ``h_s = z w_s`` is ``z W`` (``W`` the
sum of the weights). No arc with a lower bound crosses a cut from the sink
side, so the maximum flow that also meets the floors is still ``T*``: the
floor never costs placed units.

``F`` is concave and piecewise linear. Any dual-feasible solution of the
max-flow LP at any ``z`` gives a line ``F(z') <= a + b z'`` valid for every
``z'``: with ``pi_j, sigma_s >= 0`` and ``rho_k = max(0, 1 - pi_j - sigma_s)``,
``a = sum_j C_j pi_j + sum_k U_k rho_k`` and ``b = sum_s w_s sigma_s``. The
floor is feasible only where ``a + b z >= z W``, so ``z* <= a / (W - b)``.
Newton's method (Dinkelbach's, for this ratio) starts above ``z*`` (at
``T* / W``, capped by what each school can reach), solves the max-flow LP at
``z``, and either finds every school served (``z`` is ``z*``: it was proven an
upper bound by the previous line) or moves to ``a / (W - b)`` from the LP's
duals, which is again an upper bound, and below ``z``. It ends in a handful of
LPs that differ only in row bounds, each warm from the last basis (HiGHS dual
simplex), instead of one LP with a ``z`` column coupling every school, which
dual simplex crawls on and which at state scale (half a million pairs) took
minutes.

The last LP holds the floors ``y_s >= z w_s`` (or, should the solver find
that a hair infeasible, ``z w_s (1 - 1e-7)``: the spec allows ``1e-6``
relative) and maximises the total, which must come back to ``T*``.
Any doubt (an LP not optimal, a line that does not move ``z`` down, a total
short of ``T*``) returns ``None`` and the caller solves the LP with ``z``.
"""

from __future__ import annotations

from collections.abc import Callable

import highspy
import numpy as np

from allocation.integral import FloorOutcome, positions_by
from allocation.model import CategoryData
from allocation.solvers import quiet_highs, run_highs, set_time_limit

SERVED = 1e-7  # relative shortfall of a school's floor that still counts as served
HELD = 1e-7  # the floors of the final allocation: z w_s (1 - HELD)
PLACED = 1e-7  # relative shortfall of T* allowed in the final allocation
MAX_STEPS = 200
# The last LP starts from a basis that is primal feasible: primal simplex.
FINAL_OPTIONS: dict[str, int] = {"simplex_strategy": 4}


def applicable(data: CategoryData, has_binaries: bool) -> bool:
    """Whether the category is a plain continuous flow network (see module doc)."""
    if has_binaries or not len(data.pair_service) or data.pair_lock:
        return False
    if any(data.services[j].integer for j in set(data.pair_service.tolist())):
        return False
    lower, _ = data.school_bounds()
    return not bool(np.any(lower > 0))


class ContinuousFloor:
    """The max-flow LP of one continuous category, kept in one HiGHS model across steps."""

    def __init__(
        self, data: CategoryData, t_star: float, time_left: Callable[[], float | None]
    ) -> None:
        self.data = data
        self.t_star = float(t_star)
        self.time_left = time_left
        n = self.n = len(data.pair_service)
        m = self.m = len(data.schools)
        self.weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
        self.upper = data.pair_upper.astype(np.float64)
        self.capacity = np.asarray([s.capacity for s in data.services], dtype=np.float64)
        _, self.school_upper = data.school_bounds()
        inf = highspy.kHighsInf
        # Presolve off: keep the basis between steps (only row bounds change).
        h = self.highs = quiet_highs(presolve="off", solver="simplex")
        h.addVars(n, np.zeros(n), self.upper)
        h.changeColsCost(n, np.arange(n, dtype=np.int32), -np.ones(n))  # maximise sum x
        self.services_used = []
        for j, ks in enumerate(positions_by(data.pair_service, len(self.capacity))):
            if len(ks):
                self.services_used.append(j)
                h.addRow(-inf, float(self.capacity[j]), len(ks), ks, np.ones(len(ks)))
        self.school_first = h.getNumRow()
        for ks in positions_by(data.pair_school, m):
            h.addRow(0.0, inf, len(ks), ks, np.ones(len(ks)))
        self.rows = np.arange(self.school_first, self.school_first + m, dtype=np.int32)
        self.steps = 0

    def _run(self) -> bool:
        left = self.time_left()
        if left is not None and left <= 0:
            return False
        set_time_limit(self.highs, left)
        run_highs(self.highs)
        self.steps += 1
        return bool(self.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def _set_school_rows(self, lower: np.ndarray, upper: np.ndarray) -> None:
        # highspy's stubs lack the plural form it has had since 1.7.
        self.highs.changeRowsBounds(self.m, self.rows, lower, upper)  # type: ignore[attr-defined]

    def _received(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.data.pair_school, weights=x, minlength=self.m)

    def _line(self) -> tuple[float, float]:
        """(a, b) with F(z) <= a + b z for every z, from the current LP's duals."""
        duals = np.asarray(self.highs.getSolution().row_dual)
        # The LP minimises -sum x: a binding "<=" row has a non-positive dual.
        pi = np.zeros(len(self.capacity))
        pi[self.services_used] = np.maximum(0.0, -duals[: self.school_first])
        sigma = np.maximum(0.0, -duals[self.school_first :])
        rho = np.maximum(0.0, 1.0 - pi[self.data.pair_service] - sigma[self.data.pair_school])
        a = float(self.capacity @ pi + self.upper @ rho)
        b = float(self.weights @ sigma)
        return a, b

    def search(self, start: np.ndarray) -> FloorOutcome | None:
        """The best floor and an allocation placing T* that holds it (None: undecided)."""
        w = self.weights
        total_weight = float(w.sum())
        if self.t_star <= 0 or total_weight <= 0:
            return None
        reach = self._received(self.upper)
        bounds = [self.t_star / total_weight, float(np.min(reach / w))]
        limited = np.isfinite(self.school_upper)
        if limited.any():
            bounds.append(float(np.min(self.school_upper[limited] / w[limited])))
        z = min(bounds)
        zeros = np.zeros(self.m)
        while True:
            if self.steps >= MAX_STEPS:
                return None
            self._set_school_rows(zeros, z * w)
            if not self._run():
                return None
            x = np.asarray(self.highs.getSolution().col_value)
            y = self._received(x)
            if np.all(y >= z * w * (1.0 - SERVED)):
                break
            a, b = self._line()
            if b >= total_weight:
                return None
            lower = a / (total_weight - b)
            if not lower < z:
                return None  # the duals do not prove z too high: let the LP decide
            z = max(0.0, lower)
        # z is feasible (this LP) and no floor above it is (the last line, or the cap).
        for key, value in FINAL_OPTIONS.items():
            self.highs.setOptionValue(key, value)
        # The floors exactly, or, if the solver finds that a hair infeasible, with slack.
        for slack in (0.0, HELD):
            self._set_school_rows(z * w * (1.0 - slack), self.school_upper)
            if not self._run():
                continue
            x = np.clip(np.asarray(self.highs.getSolution().col_value), 0.0, self.upper)
            if float(x.sum()) < self.t_star * (1.0 - PLACED):
                return None
            coverage = float(np.min(self._received(x) / w))
            return FloorOutcome(x, min(coverage, z), proven=True)
        return None
