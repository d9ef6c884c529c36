"""Whole-seat categories with cohort minimums: proven optima without a blind MILP.

A ``min_viable`` cohort makes a category a MILP (``x_k = 0`` or
``v_j <= x_k <= U_k``). Handed to HiGHS as it is, a district-sized category
of a few thousand such pairs can take minutes: its LP bound is weak where it
matters and its heuristics rarely find the optimum. This module solves the
same stages (stage 1, and the ``D``-minimising stage with optional floors) by
exploiting the structure, and says whether it proved its answer optimal; when
it cannot, the caller runs the plain MILP starting from what was found.

How:

- Every bound comes from the flow LP (the relaxation without the on/off
  binaries: ``0 <= x_k <= U_k``). With whole capacities, bounds and locks
  its vertices are whole.
- Stage 1: ``T*`` is at most ``floor`` of the LP's maximum. An allocation that
  reaches it is optimal.
- Implied bounds: with ``sum y >= T*`` held in the later stages, the reduced
  cost ``d_k`` of a pair at its upper bound in stage 1's LP gives
  ``x_k >= U_k - (T_LP - T*) / |d_k|`` (reduced-cost fixing; it cuts off no
  allocation that places ``T*``). For a cohort pair a positive bound means
  ``x_k >= v_j``.
- Reachable totals: what school ``s`` can receive is the sum of what each of
  its pairs can carry (``{0} U [v, U]``, a lock, the implied bound), capped by
  its limits and floor. Outside the reachable set (for example 31..34 when a
  saturated service must give it 30 and every other service has a cohort of
  5), ``y_s`` cannot lie. ``|y_s - tau_s|`` is bounded below by the chord
  between the reachable totals on either side of ``tau_s`` (with plain whole
  seats, ``floor`` and ``ceil``).
- The ``D`` bound is a small branch and bound on those gaps: each LP whose
  ``y_s`` falls in a gap is split into ``y_s <= a`` and ``y_s >= b`` (or on
  ``floor``/``ceil`` if an LP ``y_s`` is fractional), best bound first.
- Allocations, first: the flow finder (`allocation.flowsearch`), a depth-first
  search over the on/off choices that keeps one whole circulation of the flow
  network and moves it only along residual cycles. It runs within a count of
  residual-path searches (the same on every machine); when its search is exhausted
  there is no allocation, which rules a maxmin floor out.
- Allocations, then: where an LP solution gives a cohort pair less than its cohort
  (``0 < x_k < v_j``), a small MILP frees the on/off choice of every pair of
  the services involved and keeps every other pair on or off as the LP has
  it (a neighbourhood search); if that fails, also the pairs of the schools
  involved.
  At a node the LP's ``y`` is held first (any allocation then has its ``D``).
- maxmin: the floor ``z*`` is a breakpoint ``k / w_s``. LPs with floors
  ``ceil(z w_s)``, raised to the next reachable total, rule floors out by
  bisection; allocations are then sought from the highest floor the LP
  allows downwards, each repaired from the LP minimising ``D`` above it.
- maxmin's stage 3 (D with the floors held), first by probes: D falls only as the
  slack above the floors reaches schools below target, and while the incumbent's
  share of it is below one seat, every better allocation answers one of a few
  network questions the flow finder settles (`_probe_distance`).
- proportional's stage 3: the same search over floors, with ``D <= D*`` held:
  the flow LP with the chords and that row bounds the floor; a floor is reached
  when the D stage's search above it still finds ``D*``.
- Proof: an allocation whose ``D`` (or total, or floor) meets the best bound,
  to the MILP tolerances the rest of the engine uses, is optimal. Anything
  not settled is not claimed: the caller's MILP decides.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import highspy
import numpy as np

from allocation.flowsearch import FlowFinder
from allocation.integral import (
    at_or_below,
    breakpoints_between,
    ceil_noise,
    last_breakpoint_below,
    next_breakpoint,
    positions_by,
)
from allocation.model import CategoryData
from allocation.solvers import (
    MIP_ABS_GAP,
    MIP_FEASIBILITY_TOLERANCE,
    MIP_REL_GAP,
    quiet_highs,
    run_highs,
    set_time_limit,
)

INF = highspy.kHighsInf
WHOLE = 1e-6  # how far an LP value may sit from a whole number and still count as it
FEW_BREAKPOINTS = 32  # maxmin floors left to try one by one, from the top
FIRST_TRY_NODES = 200  # nodes of the quick whole-MILP check of a maxmin floor
# Proportional's stage 3: each HiGHS MILP run stops after this much work (calls of
# HiGHS' MIP interrupt callback, which HiGHS makes at the same points of its search on
# every machine: with one thread and a fixed seed a cap on them repeats exactly, where
# a cap in seconds made the answer depend on the machine's speed and load; 10 calls
# are 0.3-1.6 s of CPU on district-int `tutoring`), and the search ends
# (unproven: its best so far) after this many floors it could not settle.
STAGE3_RUN_WORK = 10
STAGE3_UNSETTLED = 2
NODE_LIMIT = 64  # branch-and-bound nodes before handing over to the MILP
# The flow finder (`allocation.flowsearch`) tried first wherever whole amounts meeting
# floors are sought: at most this many residual-path searches (a count of work, the
# same on every machine; 0.1-0.2 ms each at district scale), then the MILP repairs.
FINDER_WORK = 2000
# At a maxmin floor, before the deduction (`_floor_allocation`): on district-int every
# allocation found there took at most 857 paths, and where it took more the deduction
# settled the floor in 0.06-0.4 s.
FLOOR_WORK = 1000
FINDER_ARCS = 3000  # the network size those counts are for (district-int: 2,661 arcs)
# At a leaf of the D stage's branch and bound, y held (`_leaf`): on district-int
# (seeds 1, 2, 8, 9, spread 1, 2) every allocation found took at most 214 paths and
# every proof 83; proportional's stage 3 visits many leaves whose y cannot be held.
LEAF_WORK = 500
# With the finder's deduction at the root (a maximum flow a pair, counted as work too):
# on district-int seed 2 `tutoring` it proves the floor above z* out after 3,246.
FINDER_DEDUCE_WORK = 6000
# Maxmin's stage 3 by probes (`_probe_distance`): better incumbents found at most, and
# sets of small-room schools probed at most.
PROBE_ROUNDS = 8
PROBE_SETS = 16
PROBE_LOOKS = 4096  # sets of small-room schools looked through, at most
Kinds = highspy.HighsModelStatus


@dataclass
class Found:
    """An allocation, its objective value, and whether it is proven optimal."""

    amounts: np.ndarray
    value: float
    proven: bool


REACH_LIMIT = 1_000_000  # seats one school could receive, for the reachable-totals arrays


def applicable(data: CategoryData) -> bool:
    """Whether the category is whole seats throughout with at least one cohort pair."""
    if not len(data.pair_service) or not data.all_integer:
        return False
    upper = data.pair_upper
    if not np.all(upper == np.round(upper)):
        return False
    if any(abs(a - round(a)) > 1e-9 for a in data.pair_lock.values()):
        return False
    cohorts = [data.services[j].min_viable for j in data.pair_service.tolist()]
    if not any(v is not None and v > 0 for v in cohorts):
        return False
    # The reachable totals of a school are an array as long as what it could receive;
    # beyond REACH_LIMIT seats (a capacity of 1e9 would ask for gigabytes) the category
    # goes to the MILP instead.
    reach = np.bincount(data.pair_school, weights=upper, minlength=len(data.schools))
    _, school_upper = data.school_bounds()
    return bool(np.all(np.minimum(reach, school_upper) <= REACH_LIMIT))


def _least_sets(room: np.ndarray, schools: np.ndarray, above: float) -> list[list[int]] | None:
    """The least sets of `schools` (by inclusion) whose rooms add up to more than
    `above`, smallest first; None when there are more than `PROBE_SETS`, or more than
    `PROBE_LOOKS` sets to look through to tell (many small rooms)."""
    found: list[list[int]] = []
    candidates = schools.tolist()
    if sum(float(room[s]) for s in candidates) <= above:
        return found  # not even all of them together
    looked = 0
    for size in range(1, len(candidates) + 1):
        for chosen in itertools.combinations(candidates, size):
            looked += 1
            if looked > PROBE_LOOKS:
                return None
            if sum(float(room[s]) for s in chosen) > above and not any(
                set(least) <= set(chosen) for least in found
            ):
                found.append(list(chosen))
                if len(found) > PROBE_SETS:
                    return None
    return found


class _Stopped(Exception):
    """The time limit ran out."""


class _AboveCap(Exception):
    """Every allocation left has D above the cap asked of `_min_distance`."""


class CohortSearch:
    """Bounds and allocations for one whole-seat category with cohort minimums."""

    def __init__(self, data: CategoryData, time_left: Callable[[], float | None]) -> None:
        self.data = data
        self.time_left = time_left
        n, m = len(data.pair_service), len(data.schools)
        self.n, self.m = n, m
        self.pair_service = data.pair_service
        self.pair_school = data.pair_school
        self.upper = data.pair_upper.astype(np.float64)
        self.lower = np.zeros(n)
        for k, amount in data.pair_lock.items():
            self.lower[k] = self.upper[k] = float(round(amount))
        locked = np.zeros(n, dtype=bool)
        locked[list(data.pair_lock)] = True
        viable = np.asarray(
            [data.services[j].min_viable or 0.0 for j in data.pair_service.tolist()],
            dtype=np.float64,
        )
        # A cohort of v means at least ceil(v) whole seats.
        self.viable = np.where(locked, 0.0, np.ceil(viable - 1e-9))
        self.on_off = np.flatnonzero(self.viable > 0)
        self.capacity = np.asarray(
            [math.floor(service.capacity + 1e-9) for service in data.services], dtype=np.float64
        )
        self._by_school = positions_by(self.pair_school, m)
        self._by_service = positions_by(self.pair_service, len(data.services))
        self.capacity = self._usable(self.capacity)
        school_lower, school_upper = data.school_bounds()
        self.school_lower = np.ceil(school_lower - 1e-9)
        self.school_upper = np.floor(school_upper + 1e-9)
        self.weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
        self.implied = self.lower.copy()  # raised by `imply` after stage 1
        self._implied_at: float | None = None  # the T* `implied` holds for
        self._stage1_lp: tuple[float, np.ndarray] | None = None
        self._reach_cache: dict[int, np.ndarray] = {}  # school -> reachable totals (floors)
        self._best: Found | None = None  # the running search's best, kept if time runs out
        self._free_leaves = True  # whether `_leaf` may search with y free (see min_distance)
        self._held: Found | None = None  # likewise for `floor_at_distance`
        self.run_work: int | None = None  # MIP interrupt callbacks, at most, in one run

    def _usable(self, capacity: np.ndarray) -> np.ndarray:
        """Each service's capacity, lowered to what its cohorts let it hand out.

        A service's unlocked cohort pairs each carry 0 or v..U; with F seats left
        after its locks, at most floor(F / v) of them can be on, so it hands out at
        most the sum of the floor(F / v) largest bounds U among them (e.g. 84 of 87
        seats when v = 13 and every U = 14).
        """
        usable = capacity.copy()
        for j, ks in enumerate(self._by_service):
            cohort = ks[self.viable[ks] > 0]
            if not len(cohort):
                continue
            locked = ks[self.lower[ks] == self.upper[ks]]
            locked = locked[self.viable[locked] == 0]
            free = capacity[j] - self.lower[locked].sum()
            if free <= 0:
                continue
            v = float(self.viable[cohort[0]])
            # The largest floor(F / v) of the pairs' bounds (per-site bounds differ).
            on = math.floor(free / v)
            largest = np.sort(self.upper[cohort])[::-1][:on]
            others = np.setdiff1d(ks, np.concatenate([cohort, locked]))
            most = min(free, float(largest.sum())) + self.upper[others].sum()
            usable[j] = min(capacity[j], self.lower[locked].sum() + most)
        return usable

    # --- models -----------------------------------------------------------------------

    def _build(
        self,
        *,
        integer: bool,
        x_lower: np.ndarray,
        y_lower: np.ndarray,
        y_upper: np.ndarray,
        placed: float | None,
        targets: np.ndarray | None,
        chords: list[tuple[int, float, float]],
        fixed: dict[int, bool] | None = None,
    ) -> highspy.Highs:
        """The category as one HiGHS model.

        Columns: x (n), then with `integer` the on/off binaries b (one per cohort pair),
        then y (m), then over and under (m each) when there are `targets`. Without
        `targets` the objective is to maximise sum y (stage 1); with them, to minimise
        D. `fixed` (with `integer`) holds cohort pairs kept on (True: x >= v) or off
        (False: x = 0). Without `integer` it is the flow LP, whose y `_y` reads.
        """
        n, m = self.n, self.m
        on_off = self.on_off if integer else np.zeros(0, dtype=np.int64)
        nb = len(on_off)
        y0 = n + nb
        h = quiet_highs(
            mip_rel_gap=MIP_REL_GAP,
            mip_abs_gap=MIP_ABS_GAP,
            mip_feasibility_tolerance=MIP_FEASIBILITY_TOLERANCE,
        )
        b_lower = np.zeros(nb)
        b_upper = np.ones(nb)
        if integer:
            must = x_lower[on_off] > 0
            b_lower[must] = 1.0
            for t, k in enumerate(on_off.tolist()):
                choice = (fixed or {}).get(k)
                if choice is not None:
                    b_lower[t] = b_upper[t] = 1.0 if choice else 0.0
        col_lower = np.concatenate([x_lower, b_lower, y_lower])
        col_upper = np.concatenate([self.upper, b_upper, y_upper])
        cost = np.zeros(n + nb + m)
        if targets is None:
            cost[y0:] = -1.0
        else:
            col_lower = np.concatenate([col_lower, np.zeros(2 * m)])
            col_upper = np.concatenate([col_upper, np.full(2 * m, INF)])
            cost = np.concatenate([cost, np.ones(2 * m)])
        cols = len(cost)
        h.addVars(cols, col_lower, col_upper)
        h.changeColsCost(cols, np.arange(cols, dtype=np.int32), cost)
        if integer:
            whole = np.arange(n + nb, dtype=np.int32)
            h.changeColsIntegrality(
                len(whole), whole, np.full(len(whole), highspy.HighsVarType.kInteger)
            )

        starts: list[int] = []
        index: list[np.ndarray] = []
        value: list[np.ndarray] = []
        lower: list[float] = []
        upper: list[float] = []
        count = 0

        def row(cols_: np.ndarray, vals: np.ndarray, lo: float, hi: float) -> None:
            nonlocal count
            starts.append(count)
            index.append(cols_.astype(np.int32))
            value.append(vals.astype(np.float64))
            lower.append(lo)
            upper.append(hi)
            count += len(cols_)

        for j, ks in enumerate(self._by_service):
            if len(ks):
                row(ks, np.ones(len(ks)), -INF, float(self.capacity[j]))
        for i, ks in enumerate(self._by_school):
            row(np.append(ks, y0 + i), np.append(np.ones(len(ks)), -1.0), 0.0, 0.0)
        for t, k in enumerate(on_off.tolist()):
            row(np.asarray([k, n + t]), np.asarray([1.0, -self.upper[k]]), -INF, 0.0)
            row(np.asarray([k, n + t]), np.asarray([1.0, -self.viable[k]]), 0.0, INF)
        if placed is not None:
            row(np.arange(y0, y0 + m), np.ones(m), placed, INF)
        if targets is not None:
            over, under = y0 + m, y0 + 2 * m
            for i in range(m):
                cols_ = np.asarray([y0 + i, over + i, under + i])
                row(cols_, np.asarray([1.0, -1.0, 1.0]), float(targets[i]), float(targets[i]))
            for i, a, b in chords:
                # |y - tau| >= the chord through (a, tau - a) and (b, b - tau).
                tau = float(targets[i])
                slope = ((b - tau) - (tau - a)) / (b - a)
                cols_ = np.asarray([over + i, under + i, y0 + i])
                row(cols_, np.asarray([1.0, 1.0, -slope]), (tau - a) - slope * a, INF)
        h.addRows(
            len(lower),
            np.asarray(lower),
            np.asarray(upper),
            count,
            np.asarray(starts, dtype=np.int32),
            np.concatenate(index) if index else np.zeros(0, dtype=np.int32),
            np.concatenate(value) if value else np.zeros(0),
        )
        return h

    def _run(self, h: highspy.Highs, cap_s: float | None = None) -> highspy.HighsModelStatus:
        left = self.time_left()
        if left is not None and left <= 0:
            raise _Stopped
        limit = left if cap_s is None else (cap_s if left is None else min(left, cap_s))
        set_time_limit(h, limit)
        if self.run_work is None:
            run_highs(h)
            return h.getModelStatus()
        # Proportional's stage 3 bounds each MILP run by its work (`STAGE3_RUN_WORK`).
        calls = 0
        cap = self.run_work

        def count(event: highspy.HighsCallbackEvent) -> None:
            nonlocal calls
            calls += 1
            if calls > cap:
                event.interrupt()

        h.cbMipInterrupt += count
        try:
            run_highs(h)
        finally:
            h.cbMipInterrupt -= count
        return h.getModelStatus()

    def _solved(self, h: highspy.Highs) -> bool:
        """Run an LP: True when solved, False when infeasible (stopped: `_Stopped`)."""
        status = self._run(h)
        if status in (Kinds.kInfeasible, Kinds.kUnboundedOrInfeasible):
            return False
        if status != Kinds.kOptimal:
            raise _Stopped
        return True

    def _floor_lp(
        self,
        floors: np.ndarray,
        t_star: float | None,
        targets: np.ndarray | None = None,
        y_upper: np.ndarray | None = None,
    ) -> highspy.Highs:
        """The flow LP (dual simplex) placing T* with floors <= y <= y_upper (by default
        the school's limits); with `targets`, min D."""
        h = self._build(
            integer=False,
            x_lower=self.implied,
            y_lower=floors,
            y_upper=self.school_upper if y_upper is None else y_upper,
            placed=t_star,
            targets=targets,
            chords=[],
        )
        h.setOptionValue("solver", "simplex")
        return h

    def _x(self, h: highspy.Highs) -> np.ndarray:
        return np.asarray(h.getSolution().col_value[: self.n], dtype=np.float64)

    def _y_columns(self) -> np.ndarray:
        """y's columns in a flow LP (built without `integer`: no binaries before them)."""
        return np.arange(self.n, self.n + self.m, dtype=np.int32)

    def _y(self, h: highspy.Highs) -> np.ndarray:
        """y's values in a solved flow LP."""
        values = h.getSolution().col_value
        return np.asarray(values[self.n : self.n + self.m], dtype=np.float64)

    # --- checks -----------------------------------------------------------------------

    def received(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.pair_school, weights=x, minlength=self.m).astype(np.float64)

    def holds(
        self,
        x: np.ndarray,
        y_lower: np.ndarray,
        placed: float,
        y_upper: np.ndarray | None = None,
    ) -> bool:
        """Whether whole amounts `x` meet every constraint, cohorts included, exactly
        (y within y_lower and y_upper, by default the school's limits)."""
        if np.any(x != np.round(x)) or np.any(x < self.lower) or np.any(x > self.upper):
            return False
        cohort = x[self.on_off]
        if np.any((cohort > 0) & (cohort < self.viable[self.on_off])):
            return False
        used = np.bincount(self.pair_service, weights=x, minlength=len(self.capacity))
        if np.any(used > self.capacity):
            return False
        y = self.received(x)
        upper = self.school_upper if y_upper is None else y_upper
        return bool(np.all(y >= y_lower) and np.all(y <= upper) and y.sum() >= placed)

    def _whole(self, h: highspy.Highs) -> np.ndarray | None:
        x = self._x(h)
        rounded = np.round(x)
        if np.any(np.abs(x - rounded) > WHOLE):
            return None
        return rounded

    def _find(
        self,
        floors: np.ndarray,
        t_star: float,
        y_upper: np.ndarray | None = None,
        start: np.ndarray | None = None,
        deduce: bool = False,
        group: tuple[np.ndarray, float] | None = None,
        budget: int | None = None,
    ) -> np.ndarray | bool | None:
        """Whole amounts placing T* with floors <= y <= y_upper (by default the school's
        limits), the cohorts kept and, with `group` (schools, g), at least g seats to
        those schools together, by the flow finder (`allocation.flowsearch`, from `start`
        if it meets the bounds; with `deduce`, after its deduction); False when its
        search was exhausted (there are none); None when not settled within `budget`
        (by default `FINDER_WORK`, or `FINDER_DEDUCE_WORK` with `deduce`)."""
        if self._out_of_time():
            raise _Stopped
        upper = self.school_upper if y_upper is None else y_upper
        finder = FlowFinder(
            self.pair_service,
            self.pair_school,
            self.implied,
            self.upper,
            self.viable,
            self.capacity,
        )
        # Each path search scans the whole network: on one larger than district-int's
        # (`FINDER_ARCS`) the finder gets proportionally fewer.
        arcs = self.n + len(self.capacity) + self.m + 1
        work = budget or (FINDER_DEDUCE_WORK if deduce else FINDER_WORK)
        work = max(1, math.floor(work * min(1.0, FINDER_ARCS / arcs)))
        out = finder.find(
            floors,
            t_star,
            y_upper=upper,
            budget=work,
            start=start,
            deduce=deduce,
            group=group,
            stop=self._out_of_time,
        )
        if out.amounts is None:
            return False if out.exhausted else None
        if group is not None and self.received(out.amounts)[group[0]].sum() < group[1]:
            return None
        return out.amounts if self.holds(out.amounts, floors, t_star, upper) else None

    def _out_of_time(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0

    def _find_either(
        self,
        floors: np.ndarray,
        t_star: float,
        y_upper: np.ndarray | None = None,
        group: tuple[np.ndarray, float] | None = None,
        start: np.ndarray | None = None,
    ) -> np.ndarray | bool | None:
        """`_find` as it is (`FLOOR_WORK`), then (not settled) after its deduction."""
        found = self._find(floors, t_star, y_upper, start, group=group, budget=FLOOR_WORK)
        if found is None:
            found = self._find(floors, t_star, y_upper, start, deduce=True, group=group)
        return found

    # --- stage 1 ----------------------------------------------------------------------

    def stage1(self) -> Found | None:
        """The most that can be placed. None when stopped, infeasible, or nothing found."""
        try:
            return self._stage1()
        except _Stopped:
            return None

    def _stage1(self) -> Found | None:
        h = self._build(
            integer=False,
            x_lower=self.lower,
            y_lower=self.school_lower,
            y_upper=self.school_upper,
            placed=None,
            targets=None,
            chords=[],
        )
        h.setOptionValue("solver", "simplex")
        if self._run(h) != Kinds.kOptimal:
            return None
        t_lp = -float(h.getInfo().objective_function_value)
        duals = np.asarray(h.getSolution().col_dual[: self.n], dtype=np.float64)
        self._stage1_lp = (t_lp, duals)
        bound = math.floor(t_lp + 1e-6)
        x = self._whole(h)
        if x is None:
            return None
        found = self._repair(
            x,
            self.school_lower,
            placed=None,
            targets=None,
            chords=[],
            enough=lambda found: float(found.sum()) >= bound,
            target=-bound + 0.5,
        )
        if found is None:
            return None
        total = float(found.sum())
        return Found(found, total, proven=total >= bound)

    def imply(self, t_star: float) -> None:
        """Raise x's lower bounds by reduced-cost fixing, given sum y >= T* from now on."""
        if self._stage1_lp is None or self._implied_at == t_star:
            return  # nothing to imply from, or done for this T* (keep the reach cache)
        self._implied_at = t_star
        t_lp, duals = self._stage1_lp
        room = max(0.0, t_lp - t_star)
        at_upper = duals < -1e-9  # minimising -sum y: a pair at its upper bound
        raised = np.zeros(self.n)
        raised[at_upper] = self.upper[at_upper] - room / -duals[at_upper]
        # Whole seats; a hair of float noise is given away, never taken.
        raised = np.clip(np.ceil(raised - 1e-6), 0.0, self.upper)
        cohort = np.zeros(self.n, dtype=bool)
        cohort[self.on_off] = True
        raised = np.where(cohort & (raised > 0), np.maximum(raised, self.viable), raised)
        self.implied = np.maximum(self.lower, np.minimum(raised, self.upper))
        self._reach_cache.clear()

    # --- reachable totals -------------------------------------------------------------

    def reachable(self, i: int) -> np.ndarray:
        """reach[t]: whether school i, seen alone, can receive exactly t (every t it can).

        The sum of what each of its pairs can carry ({0} or v..U, a lock, at least the
        implied bound), within the school's limits. Each pair adds an interval (and
        maybe 0), so each step is a sliding-window test on cumulative counts.
        """
        cached = self._reach_cache.get(i)
        if cached is not None:
            return cached
        pairs = self._by_school[i].tolist()
        top = int(self.upper[pairs].sum()) if pairs else 0
        if not math.isinf(self.school_upper[i]):
            top = min(top, int(self.school_upper[i]))
        top = max(top, 0)
        reach = np.zeros(top + 1, dtype=bool)
        reach[0] = True
        for k in pairs:
            low, high = int(self.implied[k]), int(min(self.upper[k], top))
            first = max(low, int(self.viable[k]) if self.viable[k] > 0 else 1)
            counts = np.concatenate([[0], np.cumsum(reach)])  # counts[t] = #reach[:t]
            moved = np.zeros(top + 1, dtype=bool)
            if first <= high:
                # t reachable if some r in [t - high, t - first] was.
                t = np.arange(top + 1)
                hi_end = np.clip(t - first + 1, 0, top + 1)
                lo_end = np.clip(t - high, 0, top + 1)
                moved = counts[hi_end] > counts[lo_end]
            reach = moved | (reach if low == 0 else np.zeros(top + 1, dtype=bool))
        reach[: int(min(self.school_lower[i], top + 1))] = False
        self._reach_cache[i] = reach
        return reach

    def _around(self, i: int, value: float, y_lower: np.ndarray) -> tuple[int | None, int | None]:
        """The reachable totals (at least y_lower) nearest `value`, at or below and at or above.

        None where there is none: nothing at or below, or nothing at or above at all.
        """
        reach = self.reachable(i)
        least = max(0, math.ceil(y_lower[i] - WHOLE))
        below_end = min(math.floor(value + WHOLE), len(reach) - 1)
        nothing = np.empty(0, dtype=np.intp)
        below = np.flatnonzero(reach[least : below_end + 1]) if below_end >= least else nothing
        first = max(least, math.ceil(value - WHOLE))
        above = np.flatnonzero(reach[first:]) if first < len(reach) else nothing
        a = int(below[-1]) + least if len(below) else None
        b = int(above[0]) + first if len(above) else None
        return a, b

    # --- the maxmin floor ------------------------------------------------------------

    def max_floor(self, t_star: float, start: np.ndarray) -> Found | None:
        """Maximise z = min_s y_s / w_s keeping sum y = T*; `value` is z. None: nothing known.

        Like `allocation.integral`, z* is the coverage of a whole allocation, so it
        lies on a breakpoint k / w_s. The flow LP bounds it from above (with floors
        ``y_s >= ceil(z w_s)`` raised to the school's next reachable total, an
        infeasible LP rules z out); a neighbourhood search finds allocations that
        keep the cohorts (each raises the lower end to its coverage). When the two
        ends meet, z* is proven.
        """
        best = None
        if self.holds(start, self.school_lower, t_star):
            best = Found(start, self.coverage(start), proven=False)
        self._best = best
        try:
            return self._max_floor(t_star, best)
        except _Stopped:
            return self._best  # the best allocation found before the time ran out

    def coverage(self, x: np.ndarray) -> float:
        return float(np.min(self.received(x) / self.weights))

    def targets(self, t_star: float) -> np.ndarray:
        """tau_s = T* w_s / W_c."""
        targets: np.ndarray = t_star * self.weights / self.weights.sum()
        return targets

    def _floors(self, z: float) -> np.ndarray | None:
        """y_s >= ceil(z w_s), raised to the school's next reachable total; None when
        some school has none (or none within its limit): no allocation reaches z."""
        floors: np.ndarray = np.maximum(ceil_noise(z * self.weights), self.school_lower)
        for i in range(self.m):
            _, b = self._around(i, float(floors[i]), self.school_lower)
            if b is None:
                return None
            floors[i] = max(float(floors[i]), float(b))
        if np.any(floors > self.school_upper):
            return None
        return floors

    def _max_floor(self, t_star: float, best: Found | None) -> Found | None:
        w = self.weights
        h = self._floor_lp(self.school_lower, t_star)
        # The relaxation's best floor: a column z, rows y_s - w_s z >= 0, maximise z.
        ys, m = self._y_columns(), self.m
        z_col = h.getNumCol()
        h.addVar(0.0, INF)
        h.changeColsCost(z_col + 1, np.arange(z_col + 1, dtype=np.int32), np.zeros(z_col + 1))
        h.changeColCost(z_col, -1.0)
        starts = np.arange(0, 2 * m, 2, dtype=np.int32)
        index = np.column_stack([ys, np.full(m, z_col)]).ravel().astype(np.int32)
        values = np.column_stack([np.ones(m), -w]).ravel()
        h.addRows(m, np.zeros(m), np.full(m, INF), 2 * m, starts, index, values)
        h.setOptionValue("solver", "ipm")  # dual simplex crawls on max-min models
        if self._run(h) != Kinds.kOptimal:
            return best
        relaxed = float(h.getSolution().col_value[z_col])
        # From here on, plain feasibility checks with floors as y's bounds.
        h.changeColCost(z_col, 0.0)
        h.changeColBounds(z_col, 0.0, 0.0)
        h.setOptionValue("solver", "simplex")

        def feasible(z: float) -> np.ndarray | None:
            """The LP's x with floors for z, or None when the LP rules z out."""
            floors = self._floors(z)
            if floors is None:
                return None
            h.changeColsBounds(m, ys, floors, self.school_upper)
            return self._x(h) if self._solved(h) else None

        z_low = best.value if best is not None else 0.0
        z_high = at_or_below(w, relaxed * (1.0 + 1e-7) + 1e-9)
        # First the LP alone (cheap): the greatest breakpoint whose floors it allows.
        lp_low = z_low
        while True:
            step = next_breakpoint(w, lp_low)
            if step > z_high:
                break
            trial = max(step, at_or_below(w, 0.5 * (lp_low + z_high)))
            if feasible(trial) is None:
                z_high = last_breakpoint_below(w, trial)
            else:
                lp_low = trial
        if best is not None and best.value >= z_high:
            return Found(best.amounts, best.value, proven=True)
        # Then allocations that keep the cohorts: at the top first (usually z*), then
        # galloping down and bisecting between what is known to hold (z_low) and the
        # least floor not known to hold (z_open; proven impossible only if z_high).
        z_open = z_high
        proven_top = True  # every floor above z_open is ruled out
        trial = z_high
        drop = 1e-4
        secured = False
        while True:
            floors = self._floors(trial)
            answer: np.ndarray | bool | None = False  # no floors: a school cannot reach it
            if floors is not None:
                # The flow finder first: it finds most allocations, and proves most
                # floors out, in a fraction of a second.
                answer = self._floor_allocation(
                    floors, t_star, partial(feasible, trial), repairs=False
                )
                if answer is None and z_open < z_high:
                    # Once a floor has been ruled out, the next ones tried (from the top
                    # down) mostly are too: the whole MILP as a feasibility question at
                    # this floor, first and with few nodes, usually rules one out in a
                    # tenth of a second, where the neighbourhood searches cannot rule
                    # anything out and take seconds to fail (spread seed 1 `tutoring`).
                    answer = self._whole_feasibility(floors, t_star, FIRST_TRY_NODES)
                if answer is None:
                    answer = self._floor_allocation(
                        floors, t_star, partial(feasible, trial), finder=False
                    )
                if answer is None:
                    # The whole MILP, as a feasibility question at this floor only.
                    answer = self._whole_feasibility(floors, t_star)
            if isinstance(answer, np.ndarray):
                best = self._best = Found(answer, self.coverage(answer), proven=False)
                z_low = best.value
            else:
                z_open = last_breakpoint_below(w, trial)
                if answer is None:
                    proven_top = False  # not known: settle for less, unproven
            step = next_breakpoint(w, z_low)
            if best is not None and step > z_open:
                return Found(best.amounts, best.value, proven=proven_top)
            if step > z_open:
                return best
            # z* tends to sit just below what the LP allows: gallop down from the top
            # (0.01%, 0.04%, 0.16%, ...) until something holds, then bisect. But first,
            # while nothing near the top is known, secure a good floor cheaply (dives
            # galloping down from the top, else 10% below it), so that a search
            # stopped by the time limit still returns a good one.
            if not secured:
                secured = True
                dived = self._dive_down(t_star, z_open, z_low)
                if dived is not None:
                    best = self._best = dived
                    z_low = best.value
                    step = next_breakpoint(w, z_low)
                    if step > z_open:
                        return Found(best.amounts, best.value, proven=proven_top)
                elif z_low < 0.9 * z_open:
                    trial = max(step, at_or_below(w, 0.9 * z_open))
                    continue
            if breakpoints_between(w, z_low, z_open) <= FEW_BREAKPOINTS:
                # Few floors left: from the top down, as each one above z* is usually
                # ruled out in a tenth of a second and each found below it costs more.
                trial = z_open
                continue
            near_top = z_open * (1.0 - drop)
            drop *= 4.0
            trial = max(step, at_or_below(w, max(0.5 * (z_low + z_open), near_top)))

    def _dive_down(self, t_star: float, z_top: float, z_low: float) -> Found | None:
        """The first floor below z_top (0.01%, 0.04%, ... 10% below) that a dive reaches."""
        w = self.weights
        drop = 1e-4
        while drop <= 0.1:
            trial = at_or_below(w, z_top * (1.0 - drop))
            drop *= 4.0
            if trial <= z_low:
                return None
            floors = self._floors(trial)
            if floors is None:
                continue
            found = self._dive(floors, t_star)
            if found is not None:
                return Found(found, self.coverage(found), proven=False)
        return None

    def _floor_allocation(
        self,
        floors: np.ndarray,
        t_star: float,
        plain: Callable[[], np.ndarray | None],
        *,
        finder: bool = True,
        repairs: bool = True,
    ) -> np.ndarray | bool | None:
        """Whole amounts placing T* with y >= floors and the cohorts kept; False when
        there are none (the flow finder's search was exhausted); None when not found.

        With `finder`, first the flow finder (`_find`), from the LP that minimises D
        above the floors: its y held, then y free above the floors, then after the
        finder's deduction (which proves most floors above z* out in well under a
        second). With `repairs`, then from that LP (its allocations look like the
        proportional ones, which the neighbourhood search repairs easily), first
        holding its y, then letting y move above the floors; failing that, from
        `plain`'s LP solution (any allocation meeting the floors); last, by an LP dive
        (`_dive`).
        """
        h = self._floor_lp(floors, t_star, self.targets(t_star))
        if not self._solved(h):
            return None
        x, y = np.round(self._x(h)), np.round(self._y(h))
        if finder:
            if y.sum() == t_star and np.all(y >= floors):
                found = self._find(y, t_star, y_upper=y, start=x, budget=LEAF_WORK)
                if isinstance(found, np.ndarray):
                    return found
            found = self._find_either(floors, t_star, start=x)
            if found is not None or not repairs:
                return found  # an allocation, False (there is none), or not known
        # T* held too: the LP's y need not be whole (its target rows can cut the flow
        # polytope's vertices), and rounded it may place less.
        # (No dive between the neighbourhoods here: above the floors it failed as often
        # as it helped, at 0.4-2 s a try, on district-int `tutoring`.)
        held = self._repair(x, y, placed=t_star, targets=None, chords=[], y_upper=y)
        if held is not None:
            return held
        moved = self._repair(
            x, floors, placed=t_star, targets=None, chords=[], target=-t_star + 0.5
        )
        if moved is not None:
            return moved
        other = plain()
        if other is None:
            return None
        repaired = self._repair(
            np.round(other), floors, placed=t_star, targets=None, chords=[], target=-t_star + 0.5
        )
        return repaired if repaired is not None else self._dive(floors, t_star)

    def _dive(
        self, floors: np.ndarray, t_star: float | None, y_upper: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Whole amounts placing T* with floors <= y <= y_upper (cohorts kept) by LP
        diving, or None.

        The flow LP with floors has whole vertices, and stays a flow LP when a
        cohort pair is held off (x = 0) or on (x >= v). While a solution gives a
        pair less than its cohort, the pair the LP has most nearly decided (its
        amount nearest 0 or the cohort) is held that way (the other way if that
        leaves the LP infeasible) and the LP re-solved from its basis. No
        backtracking beyond that one flip: cheap (a fraction of a second at
        district scale), and often close to the top floor where the repairs fail.
        The flow finder (`_find`) comes first.
        """
        upper = self.school_upper if y_upper is None else y_upper
        if t_star is not None or np.array_equal(floors, upper):
            total = float(floors.sum()) if t_star is None else t_star
            found = self._find(floors, total, y_upper=upper)
            if isinstance(found, np.ndarray):
                return found
            if found is False:
                return None
        h = self._floor_lp(floors, t_star, y_upper=y_upper)
        found = self._dive_lp(h)
        need = 0.0 if t_star is None else t_star
        if found is None or not self.holds(found, floors, need, y_upper):
            return None
        return found

    def _dive_lp(self, h: highspy.Highs) -> np.ndarray | None:
        """`_dive`'s dive on a flow LP `h` (any rows, any objective): the whole x it ends
        on once no cohort pair is below its cohort, or None (a dead end, or x not whole).
        `h`'s column bounds are changed."""
        viable = self.viable[self.on_off]
        solved = self._solved(h)
        for _ in range(2 * len(self.on_off) + 1):
            if not solved:
                return None
            x = self._x(h)
            cohort = x[self.on_off]
            bad = np.flatnonzero((cohort > WHOLE) & (cohort < viable - WHOLE))
            if not len(bad):
                return self._whole(h)
            # The pair the LP has most nearly decided: nearest 0 or its cohort.
            share = cohort[bad] / viable[bad]
            pick = int(np.argmax(np.abs(share - 0.5)))
            t = int(bad[pick])
            k = int(self.on_off[t])
            on, off = (float(viable[t]), float(self.upper[k])), (0.0, 0.0)
            first, other = (on, off) if share[pick] >= 0.5 else (off, on)
            h.changeColBounds(k, *first)
            if self._run(h) == Kinds.kOptimal:
                continue  # solved as it stands: no second run
            h.changeColBounds(k, *other)
            solved = self._solved(h)
        return None

    def _capped_dive(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        t_star: float,
        targets: np.ndarray,
        chords: list[tuple[int, float, float]],
        cap: float,
    ) -> np.ndarray | None:
        """Whole amounts placing T* with lo <= y <= hi, cohorts kept and D <= cap, by an
        LP dive (`_dive_lp`) on the flow LP minimising D with the row D <= cap, or None.

        With D capped at a node's bound the dive keeps to D-optimal allocations while
        y moves freely: on district-int seed 2 `tutoring` it reaches the bound in
        0.7 s where the neighbourhood MILP with y free takes 6 s (and a dive with y
        held, or one minimising D without the cap, misses it).
        """
        h = self._build(
            integer=False,
            x_lower=self.implied,
            y_lower=lo,
            y_upper=hi,
            placed=t_star,
            targets=targets,
            chords=chords,
        )
        h.setOptionValue("solver", "simplex")
        # Solved before the cap row is added: the dive then starts from the uncapped
        # LP's optimal vertex, which led to whole allocations more often (16 of 20
        # district-int cohort categories against 15, seeds 1-10) than a fresh start.
        if not self._solved(h):
            return None
        n, m = self.n, self.m
        h.addRow(-INF, cap, 2 * m, np.arange(n + m, n + 3 * m, dtype=np.int32), np.ones(2 * m))
        found = self._dive_lp(h)
        if found is None or not self.holds(found, lo, t_star, hi):
            return None
        return found if self.distance(found, targets) <= cap else None

    def _whole_feasibility(
        self, floors: np.ndarray, t_star: float, max_nodes: int | None = None
    ) -> np.ndarray | bool | None:
        """Whole amounts placing T* with y >= floors (cohorts kept); False if there are
        none; None when that could not be settled in a quarter of the time left (or
        within `max_nodes` branch-and-bound nodes: a limit that repeats exactly)."""
        h = self._build(
            integer=True,
            x_lower=self.implied,
            y_lower=floors,
            y_upper=self.school_upper,
            placed=t_star,
            targets=None,
            chords=[],
        )
        h.setOptionValue("objective_target", -t_star + 0.5)  # any allocation will do
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", max_nodes)
        left = self.time_left()
        status = self._run(h, None if left is None else left / 4)
        if status in (Kinds.kInfeasible, Kinds.kUnboundedOrInfeasible):
            return False
        if h.getInfo().primal_solution_status != 2:
            return None
        found = self._whole(h)
        if found is None or not self.holds(found, floors, t_star):
            return None
        return found

    # --- the D stage ------------------------------------------------------------------

    def min_distance(
        self, t_star: float, start: np.ndarray, y_lower: np.ndarray | None = None
    ) -> Found | None:
        """Minimise D keeping sum y = T* (and y >= y_lower). None when nothing better is known."""
        floors = self.school_lower if y_lower is None else np.maximum(self.school_lower, y_lower)
        # Above held floors (maxmin's stage 3) the incumbent (stage 2's allocation) is
        # a good cutoff: where a leaf's y cannot be kept, the whole MILP with that
        # cutoff (`_cut_off`) settles the stage, on the whole faster than a
        # neighbourhood search with y free first (stage 3 of spread seed 2 `literacy`
        # 0.6 s instead of 5.2 s, seed 1 `tutoring` 0.5 s instead of 6.2 s; seed 1
        # `arts` 3.1 s instead of 1.0 s).
        self._free_leaves = y_lower is None
        targets = self.targets(t_star)
        incumbent = None
        if self.holds(start, floors, t_star):
            incumbent = Found(start, self.distance(start, targets), proven=False)
        self._best = incumbent
        try:
            if y_lower is not None and incumbent is not None:
                incumbent = self._probe_distance(t_star, targets, floors, incumbent)
                if incumbent.proven:
                    return incumbent
            return self._min_distance(t_star, targets, floors, incumbent)
        except _Stopped:
            return self._best  # the best allocation found before the time ran out

    def _probe_distance(
        self, t_star: float, targets: np.ndarray, floors: np.ndarray, incumbent: Found
    ) -> Found:
        """The D stage above held floors (maxmin's stage 3) by the flow finder's probes.

        With floors f held and sum y = T*, write ``e_s = y_s - f_s`` and
        ``r_s = tau_s - f_s``: ``D = sum |f_s - tau_s| + (T* - sum f) - 2 U`` with
        ``U = sum_s min(e_s, max(r_s, 0))``, so a smaller D is a greater U. While the
        incumbent's U is below 1 (an exact fit, where almost no slack reaches a school
        below target), an allocation with more U (by more than the tolerance) either
        gives one seat more to a school whose room r_s is above the incumbent's U (the
        group probe) or, those held at their floors, one seat more to each school of a
        set of small rooms adding up to more than it (one probe each). Each probe is a
        question for the flow finder: an allocation found is a better incumbent (and
        the probes start again from it), every probe exhausted proves the incumbent
        optimal. Anything not settled within the finder's work leaves it unproven
        (the branch and bound then starts from it). District-int seed 2 `tutoring`:
        proven in under a second, where the cutoff MILP took 7 s or more.
        """
        best = incumbent
        room = targets - floors
        for _ in range(PROBE_ROUNDS):
            tol = 0.5 * self._tolerance(best.value)
            extra = self.received(best.amounts) - floors
            useful = float(np.minimum(extra, np.maximum(room, 0.0)).sum())
            if useful + tol >= 1.0 - WHOLE:
                return best  # a seat's whole room may count: the probes do not cover it
            wide = np.flatnonzero(room > useful + tol)
            found: np.ndarray | bool | None = False
            if len(wide):
                group = (wide, float(floors[wide].sum()) + 1.0)
                found = self._find_either(floors, t_star, group=group)
            if found is False:
                held = self.school_upper.copy()
                held[wide] = floors[wide]
                narrow = np.flatnonzero((room > 0) & (room <= useful + tol))
                sets = _least_sets(room, narrow, useful + tol)
                if sets is None:
                    return best
                for chosen in sets:
                    raised = floors.copy()
                    raised[chosen] += 1.0
                    found = self._find_either(raised, t_star, held)
                    if found is not False:
                        break
            if found is False:
                return Found(best.amounts, best.value, proven=True)
            if not isinstance(found, np.ndarray):
                return best  # not settled
            d = self.distance(found, targets)
            if d >= best.value:
                return best  # only float noise could do that: leave it to the search
            best = self._best = Found(found, d, proven=False)
        return best

    def distance(self, x: np.ndarray, targets: np.ndarray) -> float:
        return float(np.abs(self.received(x) - targets).sum())

    def _tolerance(self, value: float) -> float:
        return MIP_ABS_GAP + MIP_REL_GAP * abs(value)

    def _min_distance(
        self,
        t_star: float,
        targets: np.ndarray,
        floors: np.ndarray,
        incumbent: Found | None,
        cap: float | None = None,
    ) -> Found | None:
        """The D stage's branch and bound; with `cap`, `_AboveCap` once its bound is above."""
        chords = []
        for i in range(self.m):
            a, b = self._around(i, float(targets[i]), floors)
            if a is not None and b is not None and b > a:
                chords.append((i, float(a), float(b)))
        upper = self.school_upper
        h = self._build(
            integer=False,
            x_lower=self.implied,
            y_lower=floors,
            y_upper=upper,
            placed=t_star,
            targets=targets,
            chords=chords,
        )
        h.setOptionValue("solver", "simplex")
        ys = self._y_columns()
        # Best-first branch and bound on y's bounds; each node is (bound, seq, lower, upper).
        nodes: list[tuple[float, int, np.ndarray, np.ndarray]] = []
        seq = 0

        def solve(lo: np.ndarray, hi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
            h.changeColsBounds(self.m, ys, lo, hi)
            if not self._solved(h):
                return None
            return float(h.getInfo().objective_function_value), self._x(h), self._y(h)

        root = solve(floors, upper)
        if root is None:
            return incumbent
        solved = {0: root}
        heapq.heappush(nodes, (root[0], seq, floors.copy(), upper.copy()))
        explored = 0
        while nodes:
            bound, key, lo, hi = heapq.heappop(nodes)
            if cap is not None and bound > cap + self._tolerance(cap):
                raise _AboveCap
            if incumbent is not None and incumbent.value <= bound + self._tolerance(bound):
                return Found(incumbent.amounts, incumbent.value, proven=True)
            explored += 1
            if explored > NODE_LIMIT:
                return self._cut_off(t_star, targets, floors, chords, incumbent)
            value, x, y = solved.pop(key)
            split = self._split(y, lo)
            if split is None:
                # Every y_s reachable: look for an allocation with cohorts kept.
                found = self._leaf(
                    np.round(x), np.round(y), lo, hi, t_star, targets, chords, value, cap
                )
                if found is not None:
                    d = self.distance(found, targets)
                    if incumbent is None or d < incumbent.value:
                        incumbent = self._best = Found(found, d, proven=False)
                    if cap is not None and d <= cap:
                        return incumbent  # all that proportional's stage 3 asks
                if incumbent is not None and incumbent.value <= value + self._tolerance(value):
                    heapq.heappush(nodes, (value, key, lo, hi))
                    solved[key] = (value, x, y)
                    continue  # proven at the next pop if nothing lower remains
                return self._cut_off(t_star, targets, floors, chords, incumbent)
            i, below, above = split
            for side in ("down", "up"):
                child_lo, child_hi = lo.copy(), hi.copy()
                if side == "down":
                    child_hi[i] = below
                else:
                    child_lo[i] = above
                if child_lo[i] > child_hi[i]:
                    continue
                result = solve(child_lo, child_hi)
                if result is None:
                    continue
                seq += 1
                solved[seq] = result
                heapq.heappush(nodes, (result[0], seq, child_lo, child_hi))
        # Every branch infeasible although an allocation is known: only float noise
        # could do that, so let the MILP decide.
        return incumbent

    def _cut_off(
        self,
        t_star: float,
        targets: np.ndarray,
        floors: np.ndarray,
        chords: list[tuple[int, float, float]],
        incumbent: Found | None,
    ) -> Found | None:
        """Settle the D stage by the whole MILP with the incumbent as a cutoff.

        The MILP (with the reachable-total chords) is asked only for allocations
        whose ``D`` is below the incumbent's by more than the gap tolerance
        (HiGHS' ``objective_bound``): none (infeasible) proves the incumbent
        optimal, which prunes far more than the bare MILP does (on spread seed 2
        ``literacy``: 0.35 s against 5.6 s). No MIP start is given (see
        `allocation.stages`). Without an incumbent, or stopped, the caller's
        MILP decides.
        """
        if incumbent is None:
            return None
        h = self._build(
            integer=True,
            x_lower=self.implied,
            y_lower=floors,
            y_upper=self.school_upper,
            placed=t_star,
            targets=targets,
            chords=chords,
        )
        h.setOptionValue("objective_bound", incumbent.value - self._tolerance(incumbent.value))
        status = self._run(h)
        if status in (Kinds.kInfeasible, Kinds.kUnboundedOrInfeasible):
            return Found(incumbent.amounts, incumbent.value, proven=True)
        if h.getInfo().primal_solution_status == 2:
            found = self._whole(h)
            if found is not None and self.holds(found, floors, t_star):
                d = self.distance(found, targets)
                if d < incumbent.value:
                    incumbent = self._best = Found(found, d, proven=status == Kinds.kOptimal)
        return incumbent

    def _leaf(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lo: np.ndarray,
        hi: np.ndarray,
        t_star: float,
        targets: np.ndarray,
        chords: list[tuple[int, float, float]],
        value: float,
        cap: float | None = None,
    ) -> np.ndarray | None:
        """An allocation for a node whose LP has every y_s reachable.

        First with y held at the LP's (any allocation then has the node's D); the
        cohorts usually fit by moving seats between services of the same schools.
        Between the two neighbourhoods of that search, an LP dive with D held at the
        node's bound (or at `cap`, proportional's stage 3's, if given: any D up to it
        will do there) and y free within the node's bounds (`_capped_dive`). Failing
        all that (but in stage 3, where the whole MILP at the floor comes next), with y
        free within the node's bounds, minimising D.
        """
        free = self._free_leaves and cap is None  # stage 3: the dive is its y-free try
        capped = cap
        cap = value + self._tolerance(value) if cap is None else max(cap, value)
        dive = partial(self._capped_dive, lo, hi, t_star, targets, chords, cap)
        # The flow finder first, y held: an allocation, or proof that y cannot be held
        # (then only the dive and the y-free search are left). Not under proportional's
        # stage 3 cap, where the leaves' y could rarely be held (district-int-spread
        # seed 1 `tutoring`: none of 11, 0.7 s lost).
        found = None
        if y.sum() == t_star and capped is None:
            found = self._find(y, t_star, y_upper=y, start=x, budget=LEAF_WORK)
        if isinstance(found, np.ndarray):
            return found
        if found is False:
            held = dive()
        else:
            held = self._repair(x, y, placed=None, targets=None, chords=[], y_upper=y, between=dive)
        if held is not None or not free:
            return held
        return self._repair(
            x,
            lo,
            placed=t_star,
            targets=targets,
            chords=chords,
            y_upper=hi,
            enough=lambda found: self.distance(found, targets) <= value + self._tolerance(value),
            target=value + self._tolerance(value),
        )

    def _split(self, y: np.ndarray, floors: np.ndarray) -> tuple[int, float, float] | None:
        """A school whose y lies off its reachable totals, and the bounds either side."""
        rounded = np.round(y)
        fractional = np.abs(y - rounded) > WHOLE
        if fractional.any():
            i = int(np.argmax(np.abs(y - rounded) * fractional))
            return i, float(math.floor(y[i])), float(math.ceil(y[i]))
        for i in range(self.m):
            value = int(rounded[i])
            a, b = self._around(i, float(value), floors)
            if a == value:
                continue
            return i, float(-1 if a is None else a), float(INF if b is None else b)
        return None

    # --- neighbourhood search ---------------------------------------------------------

    def _repair(
        self,
        x: np.ndarray,
        floors: np.ndarray,
        *,
        placed: float | None,
        targets: np.ndarray | None,
        chords: list[tuple[int, float, float]],
        y_upper: np.ndarray | None = None,
        enough: Callable[[np.ndarray], bool] = lambda _: True,
        target: float = -INF,
        between: Callable[[], np.ndarray | None] | None = None,
    ) -> np.ndarray | None:
        """Whole amounts with every cohort kept, near the LP solution `x`, or None.

        Tries the services' neighbourhood, then also the schools'; stops at the first
        allocation that is `enough` (meets the bound it is measured against).
        `between`, if given, is tried between the two (an LP dive, `_dive`): the
        schools' neighbourhood is a MILP that took 4-7.5 s on district cohort
        categories (maxmin seed 1 `tutoring`, proportional seed 8 `arts`) where a
        dive takes under a second.
        """
        hi = self.school_upper if y_upper is None else y_upper
        need = 0.0 if placed is None else placed
        cohort = x[self.on_off]
        bad = self.on_off[(cohort > 0) & (cohort < self.viable[self.on_off])]
        if not len(bad) and self.holds(x, floors, need, hi):
            return x
        services = np.unique(self.pair_service[bad])
        schools = np.unique(self.pair_school[bad])
        free_by_service = np.isin(self.pair_service, services)
        neighbourhoods = [free_by_service, free_by_service | np.isin(self.pair_school, schools)]
        best: np.ndarray | None = None
        for wide, free in enumerate(neighbourhoods):
            if wide and between is not None:
                dived = between()
                if dived is not None and enough(dived):
                    return dived
            fixed = {k: bool(x[k] > 0) for k in self.on_off.tolist() if not free[k]}
            h = self._build(
                integer=True,
                x_lower=self.implied,
                y_lower=floors,
                y_upper=hi,
                placed=placed,
                targets=targets,
                chords=chords,
                fixed=fixed,
            )
            # Stop at the first allocation that meets the bound: nothing can beat it.
            h.setOptionValue("objective_target", target)
            # At most half the time left: the MILP after it needs some too.
            left = self.time_left()
            status = self._run(h, None if left is None else left / 2)
            stopped = (Kinds.kTimeLimit, Kinds.kObjectiveTarget, Kinds.kInterrupt)
            if (status == Kinds.kOptimal or status in stopped) and (
                h.getInfo().primal_solution_status == 2
            ):
                found = self._whole(h)
                if found is not None and self.holds(found, floors, need, hi):
                    best = found
                    if enough(found):
                        return best
        return best

    # --- proportional's stage 3: the floor with D held --------------------------------

    def floor_at_distance(self, t_star: float, start: np.ndarray, cap: float) -> Found | None:
        """Maximise the floor z = min_s y_s / w_s over allocations placing T* with D <= cap.

        `start` (stage 2's allocation, whose D is D*) is the first; `value` is z. None
        when `start` does not hold. The bound is the flow LP with the chords, the row
        D <= cap and y_s >= z w_s; when its y is whole and reachable, allocations
        holding that y are tried first (they reach its floor). Then floors
        ``ceil(z w_s)`` (raised to reachable totals) by bisection on the breakpoints:
        the capped LP rules a floor out cheaply, else the D stage's search with the
        floors as lower bounds says whether D* is still reached.
        """
        targets = self.targets(t_star)
        if not self.holds(start, self.school_lower, t_star):
            return None
        if self.distance(start, targets) > cap:
            return None
        self._held = Found(start, self.coverage(start), proven=False)
        self.run_work = STAGE3_RUN_WORK
        try:
            return self._floor_at_distance(t_star, targets, cap)
        except _Stopped:
            return self._held  # the best allocation found before the time ran out
        finally:
            self.run_work = None

    def _floor_at_distance(self, t_star: float, targets: np.ndarray, cap: float) -> Found:
        w, n, m = self.weights, self.n, self.m
        chords = []
        for i in range(m):
            a, b = self._around(i, float(targets[i]), self.school_lower)
            if a is not None and b is not None and b > a:
                chords.append((i, float(a), float(b)))
        h = self._build(
            integer=False,
            x_lower=self.implied,
            y_lower=self.school_lower,
            y_upper=self.school_upper,
            placed=t_star,
            targets=targets,
            chords=chords,
        )
        # D <= cap (a hair looser: a relaxation must not lose an allocation to noise),
        # then a column f and rows y_s - tau_s f >= 0 (f = z W / T*, free of scale).
        loose = cap * (1.0 + 1e-9) + 1e-7
        deviations = np.arange(n + m, n + 3 * m, dtype=np.int32)
        h.addRow(-INF, loose, 2 * m, deviations, np.ones(2 * m))
        f_col = h.getNumCol()
        h.addVar(0.0, INF)
        h.changeColsCost(f_col + 1, np.arange(f_col + 1, dtype=np.int32), np.zeros(f_col + 1))
        h.changeColCost(f_col, -1.0)
        ys = self._y_columns()
        starts = np.arange(0, 2 * m, 2, dtype=np.int32)
        index = np.column_stack([ys, np.full(m, f_col)]).ravel().astype(np.int32)
        values = np.column_stack([np.ones(m), -targets]).ravel()
        h.addRows(m, np.zeros(m), np.full(m, INF), 2 * m, starts, index, values)
        h.setOptionValue("solver", "simplex")
        best = self._held
        assert best is not None
        if not self._solved(h):
            return best  # only noise can rule out what `start` reaches: unproven
        relaxed = float(h.getSolution().col_value[f_col]) * t_star / float(w.sum())
        z_open = at_or_below(w, relaxed * (1.0 + 1e-7) + 1e-9)
        if next_breakpoint(w, best.value) > z_open:
            return Found(best.amounts, best.value, proven=True)
        # The LP's own y, when whole and reachable: any allocation holding it has its D.
        y = self._y(h)
        if np.all(np.abs(y - np.round(y)) <= WHOLE) and self._split(y, self.school_lower) is None:
            y = np.round(y)
            held = self._repair(
                np.round(self._x(h)),
                y,
                placed=None,
                targets=None,
                chords=[],
                y_upper=y,
                between=partial(self._dive, y, None, y),
            )
            if held is not None and self.distance(held, targets) <= cap:
                z = self.coverage(held)
                if z > best.value:
                    best = self._held = Found(held, z, proven=False)
        # The top floor the LP allows, first, by a dive alone (`_capped_dive`: D held
        # under the cap, y above the floors): cheap, and where stage 2 settled on a
        # D-optimal allocation with a low floor, it often reaches the top at once
        # (district-int seed 1 `tutoring`: proven in a second, where the bisection
        # could not settle its floors).
        top_floors = self._floors(z_open)
        if top_floors is not None and next_breakpoint(w, best.value) <= z_open:
            top = self._capped_dive(top_floors, self.school_upper, t_star, targets, chords, cap)
            if top is not None:
                z = self.coverage(top)
                if z > best.value:
                    best = self._held = Found(top, z, proven=False)
                if next_breakpoint(w, best.value) > z_open:
                    return Found(best.amounts, best.value, proven=True)
        # From here on, feasibility of floors under the cap: y's lower bounds, f at 0.
        h.changeColCost(f_col, 0.0)
        h.changeColBounds(f_col, 0.0, 0.0)
        proven = True  # every floor above z_open is ruled out
        unsettled = 0
        while True:
            step = next_breakpoint(w, best.value)
            if step > z_open or unsettled >= STAGE3_UNSETTLED:
                return Found(best.amounts, best.value, proven=proven and step > z_open)
            trial = max(step, at_or_below(w, 0.5 * (best.value + z_open)))
            floors = self._floors(trial)
            if floors is not None:
                h.changeColsBounds(m, ys, floors, self.school_upper)
            if floors is None or not self._solved(h):
                z_open = last_breakpoint_below(w, trial)  # ruled out
                continue
            try:
                found = self._min_distance(t_star, targets, floors, None, cap)
            except _AboveCap:
                z_open = last_breakpoint_below(w, trial)  # ruled out: D* cannot be kept
                continue
            if found is None or (not found.proven and found.value > cap):
                # Unsettled by the D search: ask the MILP, as a feasibility question.
                answer = self._capped_feasibility(floors, t_star, targets, cap)
                if answer is False:
                    z_open = last_breakpoint_below(w, trial)
                    continue
                if isinstance(answer, np.ndarray):
                    found = Found(answer, self.distance(answer, targets), proven=False)
            if found is not None and found.value <= cap:
                z = self.coverage(found.amounts)
                best = self._held = Found(found.amounts, z, proven=False)
                continue
            z_open = last_breakpoint_below(w, trial)
            if found is None or not found.proven:
                proven = False  # not known: settle for less, unproven
                unsettled += 1

    def _capped_feasibility(
        self, floors: np.ndarray, t_star: float, targets: np.ndarray, cap: float
    ) -> np.ndarray | bool | None:
        """Whole amounts placing T* with y >= floors, cohorts kept and D <= cap (the
        MILP); False if there are none; None when not settled within the run cap."""
        h = self._build(
            integer=True,
            x_lower=self.implied,
            y_lower=floors,
            y_upper=self.school_upper,
            placed=t_star,
            targets=targets,
            chords=[],
        )
        n, m = self.n, self.m
        over = n + len(self.on_off) + m  # columns: x, binaries, y, over, under
        h.addRow(-INF, cap, 2 * m, np.arange(over, over + 2 * m, dtype=np.int32), np.ones(2 * m))
        status = self._run(h)
        if status in (Kinds.kInfeasible, Kinds.kUnboundedOrInfeasible):
            return False
        if h.getInfo().primal_solution_status != 2:
            return None
        found = self._whole(h)
        if found is None or not self.holds(found, floors, t_star):
            return None
        return found if self.distance(found, targets) <= cap else None
