"""The stages of the spec, category by category, and `solve` which runs them.

Stage 1 places as much as possible (``T*``). Then ``proportional`` minimises
``D = sum |y_s - tau_s|`` with ``sum y = T*``, then (stage 3) holds ``D`` at that
optimum and maximises the floor ``z`` (``y_s >= z w_s``); ``maxmin`` maximises the floor
``z`` (``y_s >= z w_s``) with ``sum y = T*``, then (stage 3) holds the floor and
minimises ``D``. "``sum y = T*``" is imposed as ``sum y >= T*`` (stage 1
already caps the sum at ``T*``); only if the solver then finds that
numerically infeasible is it retried as ``sum y >= T* (1 - 1e-7)`` for
continuous amounts (the spec allows ``1e-6 T*``). For categories whose amounts
are all whole numbers it is exact.
The floor is held exactly, and likewise only on a numerically infeasible
retry to ``5e-7`` relative (the spec allows ``1e-6``).

Whole seats: when every amount is whole, ``D`` gets chord cuts (the convex
hull of ``|y - tau|`` on whole ``y``); for ``maxmin`` without cohort minimums
the floor ``z*`` is found by LPs on the flow network (`allocation.integral`,
HiGHS only), and stage 3 holds it as ``y_s >= ceil(z* w_s)``; proportional's
stage 3 there is found by min-cost flow LPs on floors (`allocation.held`). With cohort
minimums (whole seats, HiGHS), every stage first goes to `allocation.cohorts`
(flow-LP bounds, reachable totals, a neighbourhood search); the MILP runs
only when that cannot prove its answer, and the best allocation found is
kept when the MILP does not beat it. MILPs run without a MIP start (see
`_run`).

Categories are independent: `solve` runs several at once on threads (one per
core, at most `MAX_WORKERS`; HiGHS releases the GIL while it solves), each with
its own models, and puts the answers together in category order, so the bytes
are the same as one at a time unless the time limit cuts a category short.

Time limit: ``options.time_limit_s`` bounds the whole solve, model building
included (each category's share is read off the clock when the category
starts). Categories with cohort minimums are started last; each category may
use the time left when it starts less a reserve for each category that will
follow it on its thread (`_share`), and each solver run what is left of its
category's share.

Before any solver run, each category gets a first feasible allocation from a
bounded method (`allocation.greedy`: a greedy fill, else the LP relaxation
rounded and repaired), whatever time is left: that is the least a category
returns. A stage stopped by the limit with a solution keeps it when it is
better than what came before; one stopped without a solution falls back to
the previous stage's allocation (or the first feasible one). Either way the
category's ``status`` is ``time_limit`` and its ``stage`` names the last stage
completed (`STAGES`; ``placed`` at the least, even when stage 1 itself was
stopped: its allocation is the most that was found placed). Only if the
bounded methods found nothing and stage 1 was stopped without a solution
(locks and limits the fill cannot meet, in a category whose relaxation
rounds badly) does stage 1 go on past the limit, to its first solution only.
The LP relaxation is given at least `RELAXATION_MIN_S`, a limit or not.

``time_limit`` means a limit was hit: the budget ran out, or the solver said
its own time limit stopped it. Any other way a run ends without a proven
answer (HiGHS "unknown", a solve error, an iteration limit) is a solver
hiccup: the run is retried without presolve, then with the other LP
algorithm (simplex / interior point). If it still has no proven answer the
stage is *not completed*: the category keeps the previous stage's allocation,
its ``stage`` names that previous stage (short of the objective's last), and
its ``status`` stays ``optimal``, which then means what it always means: every
stage it names was solved to optimality. (Neither ``time_limit``, which would
blame a limit that was not hit, nor a failure of the whole run, for an
allocation that is sound as far as it goes.) A hiccup in stage 1 itself,
after the retries, is an error (`RuntimeError`): there is no proven ``T*``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np
import pulp  # type: ignore[import-untyped, unused-ignore]  # pulp ships no types

from allocation import explain, scaling
from allocation.clock import Budget, Clock, MonotonicClock, Stage
from allocation.cohorts import CohortSearch
from allocation.cohorts import applicable as cohorts_apply
from allocation.floor import ContinuousFloor
from allocation.floor import applicable as continuous_flow
from allocation.greedy import first_feasible, placed_bound
from allocation.held import WholeFloorAtDistance
from allocation.integral import IntegralFloor, ceil_noise, integral_flow
from allocation.model import CategoryData, CategoryModel, category_data, clean_amounts
from allocation.problem import (
    DEFAULT_OBJECTIVE,
    Problem,
    ProblemError,
    load_problem,
    parse_objective,
)
from allocation.result import (
    Allocation,
    CategoryFigures,
    Conflict,
    Result,
    SchoolRow,
)
from allocation.solvers import (
    DEFAULT_SOLVER,
    SOLVERS,
    HighsSession,
    Outcome,
    make_solver,
    run,
    silence_highs_banner,
)

PLACED_TOLERANCE = 1e-7  # relative slack on sum y = T* for continuous amounts
FLOOR_TOLERANCE = 5e-7  # relative slack on the maxmin floor in stage 3
IPM_FROM_PAIRS = 20_000  # an LP stage with no basis at hand and this many pairs: IPM
MAX_WORKERS = 4  # categories solved at once at most (each solver run uses one thread)
GAP_NOISE = 1e-9  # a reported gap below this (a share of T*, beyond solver precision) is 0
RELAXATION_MIN_S = 5.0  # the least time the LP relaxation of `allocation.greedy` is given

STAGES: dict[str, tuple[Stage, Stage, Stage]] = {
    "proportional": ("placed", "shared", "shared_floor"),
    "maxmin": ("placed", "floor", "floor_shared"),
}
"""Each objective's stages in order; a category's ``stage`` names the last one completed."""


@dataclass
class _Stage:
    outcome: Outcome
    amounts: np.ndarray | None = None  # cleaned x values when the stage holds a solution


class _CategorySolver:
    """Runs the stages of one category with one solver and one clock.

    Each stage's problem is the previous one's plus new rows (stage 1: the
    shared constraints; then ``sum y >= T*``; for maxmin the floor rows
    ``y_s - w_s z >= 0``; then the target rows), so that with HiGHS the model
    is grown in place and each stage starts from the last one's basis.
    """

    def __init__(self, data: CategoryData, solver: str, clock: Budget) -> None:
        self.data = data
        self.solver = solver
        self.clock = clock
        self.weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
        self.relaxed = False
        self.session = HighsSession() if solver == "highs" else None
        self.z: pulp.LpVariable | None = None
        self.floor_rows: list[pulp.LpConstraint] = []
        self._placed: tuple[bool, pulp.LpConstraint] | None = None
        self.distance_options: dict[str, Any] | None = None
        self.floor_by_search = False  # stage 2 ran outside PuLP (allocation.integral)
        # Proportional's deviation variables and target rows, kept for its stage 3.
        self.distance_rows: (
            tuple[list[tuple[pulp.LpVariable, pulp.LpVariable]], list[pulp.LpConstraint]] | None
        ) = None
        # Whether the category's model is a MILP (on/off binaries, on the unlocked pairs
        # of services with a min_viable, or whole amounts).
        viable = np.asarray([bool(s.min_viable and s.min_viable > 0) for s in data.services])
        unlocked = np.ones(len(data.pair_service), dtype=bool)
        unlocked[list(data.pair_lock)] = False
        binaries = bool(len(viable)) and bool(np.any(viable[data.pair_service] & unlocked))
        self.mip = binaries or any(s.integer for s in data.services)
        # Whole seats with cohort minimums: bounds and allocations by `allocation.cohorts`
        # first; the MILP only when that cannot prove its answer.
        self.cohorts = (
            CohortSearch(data, clock.left) if solver == "highs" and cohorts_apply(data) else None
        )

    @cached_property
    def model(self) -> CategoryModel:
        """The category's PuLP model, built when a stage first needs one: not at all when
        the time is up before stage 1 (at state scale building takes seconds)."""
        return CategoryModel(self.data)

    def _run(self, lp: pulp.LpProblem, *, highs_options: dict[str, Any] | None = None) -> _Stage:
        """One solver run on what is left of the budget; retried on a hiccup (see the
        module doc): TIME_LIMIT and STOPPED only when a limit was hit, else ERROR."""
        for options in self._attempts(highs_options):
            if self.clock.expired():
                return _Stage(Outcome.STOPPED)
            solver = make_solver(
                self.solver,
                time_limit_s=self.clock.left(),
                highs_options=options,
                # No MIP start: HiGHS 1.16 has been seen to accept a start and then call it
                # optimal with a far better allocation left unfound; `_better` keeps the
                # start instead when a run does not beat it.
                warm_start=False,
                session=self.session,
            )
            outcome = run(lp, solver)
            if outcome in (Outcome.OPTIMAL, Outcome.INFEASIBLE):
                break
            if self.clock.left() is not None and (
                self.clock.expired() or getattr(solver, "stopped_by_time", False)
            ):
                break  # the limit was hit: TIME_LIMIT or STOPPED as the run said
            outcome = Outcome.ERROR  # not for lack of time: a hiccup, try otherwise
        if outcome in (Outcome.OPTIMAL, Outcome.TIME_LIMIT):
            return _Stage(outcome, self.model.amounts())
        return _Stage(outcome)

    def _attempts(self, highs_options: dict[str, Any] | None) -> list[dict[str, Any] | None]:
        """The options of a run and of its retries after a hiccup (HiGHS only)."""
        if self.solver != "highs":
            return [highs_options]
        given = dict(highs_options or {})
        key = "mip_lp_solver" if self.mip else "solver"
        other = "simplex" if given.get(key) == "ipm" else "ipm"
        return [highs_options, {**given, "presolve": "off"}, {**given, key: other}]

    def placed_by(self, amounts: np.ndarray) -> np.ndarray:
        """What each school of S_c receives under `amounts`."""
        return np.bincount(
            self.data.pair_school, weights=amounts, minlength=len(self.data.schools)
        ).astype(np.float64)

    def _set_start(self, amounts: np.ndarray) -> None:
        # Leave the previous stage's values in the variables for the warm start.
        for var, value in zip(self.model.x, amounts, strict=True):
            var.varValue = float(value)
        for k, b in self.model.binaries.items():
            b.varValue = 1.0 if amounts[k] > 0 else 0.0
        for var, value in zip(self.model.y, self.placed_by(amounts), strict=True):
            var.varValue = float(value)

    def stage1(self) -> _Stage:
        """Place as much as possible, starting from a first feasible allocation found by a
        bounded method; never without an allocation unless the category is infeasible."""
        left = self.clock.left()
        first = first_feasible(self.data, None if left is None else max(left, RELAXATION_MIN_S))
        if first.infeasible:
            return _Stage(Outcome.INFEASIBLE)  # its LP relaxation is: a proof
        known = first.amounts
        if known is not None:
            bound = placed_bound(self.data)
            if float(known.sum()) >= bound - 1e-9 * max(1.0, bound):
                return _Stage(Outcome.OPTIMAL, known)  # it places all that can be placed
            if self.clock.expired():
                return _Stage(Outcome.TIME_LIMIT, known)  # no time for anything more
        total: Callable[[np.ndarray], float] = lambda x: float(x.sum())  # noqa: E731
        if self.cohorts is not None:
            found = self.cohorts.stage1()
            if found is not None:
                searched = clean_amounts(self.data, found.amounts)
                if found.proven:
                    return _Stage(Outcome.OPTIMAL, searched)
                if known is None or total(searched) > total(known):
                    known = searched
        if known is not None and self.clock.expired():
            return _Stage(Outcome.TIME_LIMIT, known)
        lp = self.model.problem("stage1", pulp.LpMaximize)
        lp.setObjective(pulp.LpAffineExpression([(y, 1.0) for y in self.model.y]))
        stage = self._better(self._run(lp), known, total)
        if stage.outcome == Outcome.STOPPED:
            # Nothing feasible at hand and the limit hit: the last resort, past the limit,
            # up to the first solution only (see the module doc).
            last = make_solver(
                "highs", time_limit_s=None, highs_options={"mip_max_improving_sols": 1}
            )
            outcome = run(lp, last)
            if outcome in (Outcome.OPTIMAL, Outcome.TIME_LIMIT):
                return _Stage(outcome, self.model.amounts())
        return stage

    def _better(
        self, stage: _Stage, start: np.ndarray | None, score: Callable[[np.ndarray], float]
    ) -> _Stage:
        """A stage's result, or `start` (a feasible allocation known before it) when the run
        was stopped by the limit with nothing, or with nothing better (higher `score`) in a
        MILP or a stopped LP: then `time_limit`."""
        if start is None:
            return stage
        if stage.amounts is None:
            if stage.outcome == Outcome.STOPPED:
                return _Stage(Outcome.TIME_LIMIT, start)
            return stage
        if stage.outcome == Outcome.OPTIMAL and not self.mip:
            return stage  # an LP's proven optimum
        before, after = score(start), score(stage.amounts)
        # Beyond the solvers' own tolerances (1e-7): noise is no reason to doubt a run.
        if before > after + 1e-7 * max(1.0, abs(after)):
            return _Stage(Outcome.TIME_LIMIT, start)
        return stage

    def placed_floor(self, t_star: float) -> float:
        """The least sum of y the later stages must keep."""
        if self.data.all_integer:
            # Whole amounts: >= T* - 0.5 means exactly T*. For CBC, T* itself: the half
            # gave stage 2's LP half-seat vertices (`_whole_deviation_segments`).
            return t_star if self.solver == "cbc" else t_star - 0.5
        if self.relaxed:
            return t_star * (1.0 - PLACED_TOLERANCE)
        return t_star

    def _placed_constraint(self, t_star: float) -> pulp.LpConstraint:
        # One object per tolerance, so that later stages extend the same rows.
        if self._placed is None or self._placed[0] != self.relaxed:
            constraint = pulp.LpConstraint(
                pulp.LpAffineExpression([(y, 1.0) for y in self.model.y]),
                pulp.LpConstraintGE,
                "placed",
                self.placed_floor(t_star),
            )
            self._placed = (self.relaxed, constraint)
        return self._placed[1]

    def _run_keeping_placed(
        self, build: Callable[[], pulp.LpProblem], highs_options: dict[str, Any] | None = None
    ) -> _Stage:
        # Without slack the solver cannot buy a smaller D by placing a hair less;
        # the slack is only for a T* that came out a hair too high to hold again.
        stage = self._run(build(), highs_options=highs_options)
        if stage.outcome == Outcome.INFEASIBLE and not self.data.all_integer:
            self.relaxed = True
            stage = self._run(build(), highs_options=highs_options)
        return stage

    def min_distance(
        self,
        t_star: float,
        start: np.ndarray,
        z_star: float | None = None,
        floors: np.ndarray | None = None,
    ) -> _Stage:
        """Minimise D = sum |y_s - tau_s| keeping sum y = T* (and the floor, if given).

        The floor is either ``z_star`` (rows ``y_s - w_s z >= 0`` with z fixed) or
        ``floors``: rows ``y_s >= floors_s`` (see `held_floors`).
        """
        known = None
        if self.cohorts is not None and z_star is None:
            self.cohorts.imply(t_star)
            found = self.cohorts.min_distance(t_star, start, floors)
            if found is not None:
                known = clean_amounts(self.data, found.amounts)
                if found.proven:
                    return _Stage(Outcome.OPTIMAL, known)
                start = known
        targets = self.targets(t_star)
        placed = self.placed_by(start)
        deviations, target_rows = self._deviation_rows(targets)
        self.distance_rows = (deviations, target_rows)  # for proportional's stage 3
        floor_rows = []
        if floors is not None:
            lower, _ = self.data.school_bounds()
            floor_rows = [
                pulp.LpConstraint(
                    pulp.LpAffineExpression([(y, 1.0)]),
                    pulp.LpConstraintGE,
                    f"wholefloor{i}",
                    float(floors[i]),
                )
                for i, y in enumerate(self.model.y)
                if floors[i] > max(0.0, float(lower[i]))
            ]

        def build() -> pulp.LpProblem:
            lp = self.model.problem("distance", pulp.LpMinimize)
            self._set_start(start)
            lp.addConstraint(self._placed_constraint(t_star))
            if z_star is not None and self.z is not None:
                # The floor rows y_s - w_s z >= 0 with z fixed at z* hold the floor.
                hold = z_star * (1.0 - FLOOR_TOLERANCE if self.relaxed else 1.0)
                self.z.lowBound = self.z.upBound = hold
                self.z.varValue = hold
                for row in self.floor_rows:
                    lp.addConstraint(row)
            for row in floor_rows:
                lp.addConstraint(row)
            for i, (over, under) in enumerate(deviations):
                over.varValue = max(0.0, float(placed[i] - targets[i]))
                under.varValue = max(0.0, float(targets[i] - placed[i]))
            for row in target_rows:
                lp.addConstraint(row)
            lp.setObjective(
                pulp.LpAffineExpression([(v, 1.0) for pair in deviations for v in pair])
            )
            return lp

        options = self.distance_options
        if (
            options is None
            and not self.mip
            and self.session is not None
            and self.session.highs is None
            and len(self.model.x) >= IPM_FROM_PAIRS
        ):
            # No basis to start from (stage 1 was proven by the fill, without a solver):
            # at state scale dual simplex from scratch took 45 s on one category where
            # the interior point method with crossover takes 3.6 s.
            options = {"solver": "ipm"}
        stage = self._run_keeping_placed(build, highs_options=options)
        return self._better(
            stage, start, lambda x: -float(np.abs(self.placed_by(x) - targets).sum())
        )

    def _deviation_rows(
        self, targets: np.ndarray
    ) -> tuple[list[tuple[pulp.LpVariable, pulp.LpVariable]], list[pulp.LpConstraint]]:
        """Variables over_s, under_s and rows y_s - over_s + under_s = tau_s (D is their
        sum), with the chord cuts for whole amounts."""
        factory = pulp.LpProblem("deviation_vars", pulp.LpMinimize)
        deviations = []
        for i in range(len(self.model.y)):
            over = factory.add_variable(f"over{i}", 0, None)
            under = factory.add_variable(f"under{i}", 0, None)
            deviations.append((over, under))
        target_rows = [
            pulp.LpConstraint(
                pulp.LpAffineExpression([(y, 1.0), (over, -1.0), (under, 1.0)]),
                pulp.LpConstraintEQ,
                f"target{i}",
                float(targets[i]),
            )
            for i, (y, (over, under)) in enumerate(zip(self.model.y, deviations, strict=True))
        ]
        if self.data.all_integer and self.solver == "cbc":
            target_rows += self._whole_deviation_segments(targets, deviations, factory)
        elif self.data.all_integer:
            target_rows += self._whole_deviation_cuts(targets, deviations)
        return deviations, target_rows

    def _fractional_targets(
        self, targets: np.ndarray, deviations: list[tuple[pulp.LpVariable, pulp.LpVariable]]
    ) -> Iterator[tuple[int, pulp.LpVariable, tuple[pulp.LpVariable, pulp.LpVariable], int, float]]:
        """Each school whose target is not whole: its index, y, (over, under), and its
        target's whole part a and fraction f (tau = a + f, 0 < f < 1)."""
        for i, (y, pair) in enumerate(zip(self.model.y, deviations, strict=True)):
            tau = float(targets[i])
            whole = math.floor(tau)
            fraction = tau - whole
            if 1e-9 <= fraction <= 1 - 1e-9:
                yield i, y, pair, whole, fraction

    def _whole_deviation_segments(
        self,
        targets: np.ndarray,
        deviations: list[tuple[pulp.LpVariable, pulp.LpVariable]],
        factory: pulp.LpProblem,
    ) -> list[pulp.LpConstraint]:
        """For CBC: the convex hull of |y - tau| on whole y written as segments, so that
        the LP's vertices are whole where the chord cuts' are not.

        With a = floor(tau) and f = tau - a, y = a + u1 + u2 - down with u1 in [0, 1] and
        u2, down >= 0; over = (1 - f) u1 + u2 and under = f (1 - u1) + down, whose sum
        f + (1 - 2f) u1 + u2 + down is the hull (the chord's slope between a and a + 1,
        slope 1 outside). Apart from the rows that define over and under, every row is
        a row of the flow network with coefficients +-1, so a vertex of stage 2's LP is
        a whole allocation: CBC proves its optimum at the root. With the chord cuts it
        had the same bound but fractional vertices, and on 16 schools it found no
        allocation at that bound in 30 s of branching (HiGHS needs none: 0.01 s).
        """
        rows = []
        # Where tau is whole, the target row is already a network row.
        for i, y, (over, under), whole, fraction in self._fractional_targets(targets, deviations):
            step = factory.add_variable(f"step{i}", 0, 1)
            above = factory.add_variable(f"above{i}", 0, None)
            below = factory.add_variable(f"below{i}", 0, None)
            rows += [
                pulp.LpConstraint(
                    pulp.LpAffineExpression([(y, 1.0), (step, -1.0), (above, -1.0), (below, 1.0)]),
                    pulp.LpConstraintEQ,
                    f"segments{i}",
                    float(whole),
                ),
                pulp.LpConstraint(
                    pulp.LpAffineExpression([(over, 1.0), (step, fraction - 1.0), (above, -1.0)]),
                    pulp.LpConstraintEQ,
                    f"over{i}",
                    0.0,
                ),
                pulp.LpConstraint(
                    pulp.LpAffineExpression([(under, 1.0), (step, fraction), (below, -1.0)]),
                    pulp.LpConstraintEQ,
                    f"under{i}",
                    fraction,
                ),
            ]
        return rows

    def _whole_deviation_cuts(
        self, targets: np.ndarray, deviations: list[tuple[pulp.LpVariable, pulp.LpVariable]]
    ) -> list[pulp.LpConstraint]:
        """Valid cuts when y_s is whole: |y - tau| lies above the chord through a and a + 1.

        With a = floor(tau) and f = tau - a, a whole y has |y - tau| >= f + (1 - 2f)(y - a)
        (the segment from (a, f) to (a + 1, 1 - f)). Together with the two slopes of
        |y - tau| this is the convex hull of each school's deviation, which closes the
        MILP's bound in seconds instead of leaving a large gap for hours. It cuts off
        no whole solution, so the optimum is unchanged.
        """
        cuts = []
        # Where tau is whole, the two slopes already are the hull.
        for i, y, (over, under), whole, fraction in self._fractional_targets(targets, deviations):
            slope = 1.0 - 2.0 * fraction
            cuts.append(
                pulp.LpConstraint(
                    pulp.LpAffineExpression([(over, 1.0), (under, 1.0), (y, -slope)]),
                    pulp.LpConstraintGE,
                    f"whole{i}",
                    fraction - slope * whole,
                )
            )
        return cuts

    def floor_at_distance(self, t_star: float, start: np.ndarray) -> _Stage:
        """Proportional's stage 3: the highest floor z (y_s >= z w_s) with D held at D*.

        `start` is stage 2's allocation, optimal, and D* is its D. Among allocations
        with sum y = T* and D <= D* (1 + 1e-6) + 1e-9 T*, this finds one with the
        highest floor; without it, the solver's pick among the D-optimal allocations
        (in practice the order or spelling of the ids) decides who is left at zero.

        One model, an LP for continuous amounts, else a MILP: stage 2's rows (so that
        HiGHS grows its model and starts from stage 2's basis), a row
        sum(over + under) <= cap, and rows y_s - tau_s f >= 0, maximising f. The floor
        is written against the targets tau_s = T* w_s / W (f = z W / T*; f = 1 is
        everyone at target), so neither the weights' nor the amounts' scale reaches
        the solver. The cap sits at half the spec's slack, room for the solver's own
        tolerance; the answer is checked against the spec's. With cohort minimums
        (whole seats, HiGHS), `allocation.cohorts` searches the floor instead, within
        bounds of its own: what it cannot prove is its best, kept, with the stage not
        completed (`time_limit` only if the time limit ran out). Whole seats without
        cohorts (HiGHS): `allocation.held` by flow LPs, the MILP only on its doubt.

        Always returns an allocation: `start` when the run finds nothing better,
        with `time_limit` if time ran out and `error` if the solver failed otherwise
        (stage 2's answer then stands).
        """
        targets = self.targets(t_star)
        d_star = self.distance(start, targets)
        limit = d_star * (1.0 + 1e-6) + 1e-9 * t_star  # the spec's D <= D* (1 + 1e-6) + 1e-9
        if self.cohorts is not None:
            found = self.cohorts.floor_at_distance(t_star, start, limit)
            if found is not None:
                # Unproven: the search's own bounds (see `allocation.cohorts`) ran out; the
                # plain MILP has been seen to take over 300 s here, so no MILP after it.
                # Its best floor is kept (D is still D*), but the stage is not completed:
                # `time_limit` only when the time limit ran out, else the category stays
                # proven up to stage 2 (status as before, stage `shared`).
                if found.proven:
                    outcome = Outcome.OPTIMAL
                elif self.clock.expired():
                    outcome = Outcome.TIME_LIMIT
                else:
                    outcome = Outcome.ERROR
                return _Stage(outcome, clean_amounts(self.data, found.amounts))
        z_start = self.coverage(start)
        held = self._whole_floor_at_distance(t_star, start, targets, d_star, limit)
        if held is not None:
            return held
        if self.distance_rows is None:  # stage 2 was proven without a PuLP run
            self.distance_rows = self._deviation_rows(targets)
        deviations, target_rows = self.distance_rows
        cap = pulp.LpConstraint(
            pulp.LpAffineExpression([(v, 1.0) for pair in deviations for v in pair]),
            pulp.LpConstraintLE,
            "distance_cap",
            d_star * (1.0 + 5e-7) + 5e-10 * t_star,
        )
        factory = pulp.LpProblem("floor_at_distance_vars", pulp.LpMaximize)
        f = factory.add_variable("f", 0, None)
        floor_rows = [
            pulp.LpConstraint(
                pulp.LpAffineExpression([(y, 1.0), (f, -float(targets[i]))]),
                pulp.LpConstraintGE,
                f"held_floor{i}",
                0.0,
            )
            for i, y in enumerate(self.model.y)
        ]
        placed = self.placed_by(start)

        def build() -> pulp.LpProblem:
            lp = self.model.problem("floor_at_distance", pulp.LpMaximize)
            self._set_start(start)
            for i, (over, under) in enumerate(deviations):
                over.varValue = max(0.0, float(placed[i] - targets[i]))
                under.varValue = max(0.0, float(targets[i] - placed[i]))
            f.varValue = float(np.min(placed / targets))
            lp.addConstraint(self._placed_constraint(t_star))
            for row in [*target_rows, cap, *floor_rows]:
                lp.addConstraint(row)
            lp.setObjective(pulp.LpAffineExpression([(f, 1.0)]))
            return lp

        # The cap row must hold to well within the spec's slack whatever T*'s size. Stage
        # 2's basis stays primal feasible with the new rows: primal simplex goes on from
        # it (5x faster than HiGHS' default dual simplex on district categories).
        # (At state scale it crawls on some categories: 20-28 s on state-region ones,
        # where the interior point method takes 4-5 s; but HiGHS' IPM was also seen to
        # hang on one of them, so primal simplex it is.)
        options = {"primal_feasibility_tolerance": 1e-9, "simplex_strategy": 4}
        stage = self._run_keeping_placed(build, options)
        # Stopped by the limit: keep what is best so far; else stage 2's answer stands.
        short = (
            Outcome.TIME_LIMIT
            if stage.outcome in (Outcome.TIME_LIMIT, Outcome.STOPPED)
            else Outcome.ERROR
        )
        if stage.amounts is None:
            return _Stage(short, start)
        d_new = self.distance(stage.amounts, targets)
        z_new = self.coverage(stage.amounts)
        if d_new > limit or z_new < z_start * (1.0 - 1e-9):
            # Solver noise past the cap or below stage 2's floor; or, stopped, nothing better.
            return _Stage(short, start)
        if z_new < z_start:  # as good but for float noise: stage 2's allocation stands
            return _Stage(stage.outcome, start)
        return stage

    def _whole_floor_at_distance(
        self, t_star: float, start: np.ndarray, targets: np.ndarray, d_star: float, limit: float
    ) -> _Stage | None:
        """Stage 3 on a whole-seat flow network (no cohorts, HiGHS) by min-cost flow LPs
        (`allocation.held`) instead of the MILP, whose bound closes slowly when locks put
        schools far above target; None (the MILP decides) on any doubt."""
        if self.solver != "highs" or integral_flow(self.data, bool(self.model.binaries)) != (
            "whole"
        ):
            return None
        cap = d_star * (1.0 + 5e-7) + 5e-10 * t_star  # the MILP's cap (see floor_at_distance)
        search = WholeFloorAtDistance(self.data, t_star, targets, cap, self.clock.left)
        found = search.search(start)
        if found is None:
            return None
        amounts = clean_amounts(self.data, found.amounts)
        z_start, z_new = self.coverage(start), self.coverage(amounts)
        if self.distance(amounts, targets) > limit or z_new < z_start * (1.0 - 1e-9):
            return None  # not what the search promised: let the MILP decide
        if found.proven:
            outcome = Outcome.OPTIMAL
        elif self.clock.expired():
            outcome = Outcome.TIME_LIMIT
        else:
            outcome = Outcome.ERROR  # a solver failure: stage 2's answer stands
        # As good as stage 2's but for float noise: stage 2's allocation stands.
        return _Stage(outcome, start if z_new < z_start else amounts)

    def distance(self, amounts: np.ndarray, targets: np.ndarray) -> float:
        """D = sum |y_s - tau_s| under `amounts`."""
        return float(np.abs(self.placed_by(amounts) - targets).sum())

    def max_floor(self, t_star: float, start: np.ndarray) -> tuple[_Stage, float]:
        """Maximise z with y_s >= z w_s and sum y = T*; return the stage and z found."""
        if self.cohorts is not None:
            self.cohorts.imply(t_star)
            found = self.cohorts.max_floor(t_star, start)
            if found is not None:
                known = clean_amounts(self.data, found.amounts)
                if found.proven:
                    return _Stage(Outcome.OPTIMAL, known), found.value
                return self._max_floor_milp(t_star, known)
        # All amounts continuous: `mip` then means on/off binaries.
        if self.solver == "highs" and continuous_flow(self.data, self.mip):
            # A flow network in continuous amounts: Newton's method over max-flow LPs.
            flowed = ContinuousFloor(self.data, t_star, self.clock.left).search(start)
            if flowed is not None:
                self.floor_by_search = True
                # Stage 3 (min D above the floors): the interior point method with
                # crossover takes a seventh of dual simplex's time at state scale.
                self.distance_options = {"solver": "ipm"}
                return _Stage(Outcome.OPTIMAL, clean_amounts(self.data, flowed.amounts)), flowed.z
        if self.solver == "highs" and integral_flow(self.data, bool(self.model.binaries)):
            searched = IntegralFloor(self.data, t_star, self.clock.left).search(start)
            if searched is not None:
                outcome = Outcome.OPTIMAL if searched.proven else Outcome.TIME_LIMIT
                self.floor_by_search = True
                return _Stage(outcome, clean_amounts(self.data, searched.amounts)), searched.z
        return self._max_floor_milp(t_star, start)

    def held_floors(self, amounts: np.ndarray, z_star: float) -> np.ndarray:
        """The floors ``y_s >= z* w_s`` as lower bounds on each y_s, which `amounts` meets.

        For whole amounts z* is their coverage and the floor is ``ceil(z* w_s)``
        (up to float noise, 1e-9 relative), the same whole allocations.
        """
        placed = self.placed_by(amounts)
        if self.data.all_integer:
            z_star = self.coverage(amounts)
            floors: np.ndarray = np.minimum(ceil_noise(z_star * self.weights), placed)
        else:
            floors = np.minimum(z_star * self.weights, placed)
        return floors

    def _max_floor_milp(self, t_star: float, start: np.ndarray) -> tuple[_Stage, float]:
        factory = pulp.LpProblem("floor_vars", pulp.LpMaximize)
        z = self.z = factory.add_variable("z", 0, None)
        self.floor_rows = [
            pulp.LpConstraint(
                pulp.LpAffineExpression([(y, 1.0), (z, -float(self.weights[i]))]),
                pulp.LpConstraintGE,
                f"floor{i}",
                0.0,
            )
            for i, y in enumerate(self.model.y)
        ]

        def build() -> pulp.LpProblem:
            lp = self.model.problem("floor", pulp.LpMaximize)
            self._set_start(start)
            z.varValue = self.coverage(start)
            lp.addConstraint(self._placed_constraint(t_star))
            for row in self.floor_rows:
                lp.addConstraint(row)
            lp.setObjective(pulp.LpAffineExpression([(z, 1.0)]))
            return lp

        # Dual simplex crawls on max-min models (and in a MILP's LPs does not even
        # heed the time limit); the interior point method does not.
        options = {"mip_lp_solver": "ipm"} if self.mip else {"solver": "ipm"}
        stage = self._run_keeping_placed(build, highs_options=options)
        kept = self._better(stage, start, self.coverage)
        if kept.amounts is None:
            return _Stage(kept.outcome), 0.0
        if kept is not stage:
            return kept, self.coverage(kept.amounts)
        return stage, float(z.varValue or 0.0)

    def coverage(self, amounts: np.ndarray) -> float:
        """min_s y_s / w_s under `amounts` (0 without schools)."""
        if not len(self.weights):
            return 0.0
        return float(np.min(self.placed_by(amounts) / self.weights))

    def targets(self, t_star: float) -> np.ndarray:
        """tau_s = T* w_s / W_c for each school of S_c."""
        total = float(self.weights.sum())
        if total <= 0:
            return np.zeros(len(self.weights))
        return t_star * self.weights / total


@dataclass
class _Solved:
    status: str  # optimal | time_limit
    stage: Stage  # the last stage completed (see STAGES)
    t_star: float
    amounts: np.ndarray


class _Progress:
    """How far a category got: its best allocation, the last stage completed, its status."""

    def __init__(self, first: _Stage) -> None:
        assert first.amounts is not None
        self.amounts: np.ndarray = first.amounts
        self.stage: Stage = "placed"  # at the least (see the module doc)
        self.status = "optimal" if first.outcome == Outcome.OPTIMAL else "time_limit"

    def record(self, outcome: _Stage, stage: Stage) -> bool:
        """Take a later stage's outcome; whether the stage was completed (the next may run).

        Its allocation is kept whenever it has one (the stages only ever keep or
        improve on what came before). A stage stopped by the limit makes the
        status ``time_limit``; one the solver failed (no limit hit) leaves it as is.
        """
        if outcome.amounts is not None:
            self.amounts = outcome.amounts
        if outcome.outcome == Outcome.OPTIMAL:
            self.stage = stage
            return True
        if outcome.outcome in (Outcome.TIME_LIMIT, Outcome.STOPPED):
            self.status = "time_limit"
        return False

    def out_of(self, budget: Budget) -> bool:
        """Whether the budget is gone (then the status says so): a stage not worth
        starting, not even to build its model (seconds at state scale)."""
        if budget.expired():
            self.status = "time_limit"
            return True
        return False

    def solved(self, t_star: float) -> _Solved:
        return _Solved(self.status, self.stage, t_star, self.amounts)


def _solve_category(
    data: CategoryData,
    objective: str,
    solver: str,
    budget: Budget,
    *,
    feasibility_only: bool = False,
) -> _Solved | list[Conflict]:
    conflicts = explain.precheck_conflicts(data)
    if conflicts:
        return conflicts
    stages = STAGES[objective]
    if not data.schools:
        return _Solved("optimal", stages[-1], 0.0, np.zeros(0))
    runner = _CategorySolver(data, solver, budget)
    budget.clock.starting(data.category, "placed")
    first = runner.stage1()
    if first.outcome == Outcome.INFEASIBLE:
        found = explain.elastic_conflicts(data, solver, budget.left)
        return found or [explain.unexplained(data)]
    if first.amounts is None:
        raise RuntimeError(f"the solver failed on category {data.category!r}")
    placed = float(first.amounts.sum())
    # Continuous amounts are rounded (see `clean_amounts`): their sum may exceed by a hair
    # what can be placed at all, and a T* the later stages cannot hold again made HiGHS
    # call a far worse allocation of D "optimal" on the edge of feasibility.
    t_star = float(round(placed)) if data.all_integer else min(placed, placed_bound(data))
    progress = _Progress(first)
    if first.outcome != Outcome.OPTIMAL or feasibility_only:
        return progress.solved(t_star)
    if t_star <= 0:
        progress.stage = stages[-1]  # nothing to share: every stage holds trivially
        return progress.solved(t_star)
    if objective == "proportional":
        budget.clock.starting(data.category, "shared")
        if progress.out_of(budget) or not progress.record(
            runner.min_distance(t_star, progress.amounts), "shared"
        ):
            return progress.solved(t_star)
        budget.clock.starting(data.category, "shared_floor")  # D held, lift the floor
        if not progress.out_of(budget):
            progress.record(runner.floor_at_distance(t_star, progress.amounts), "shared_floor")
        return progress.solved(t_star)
    budget.clock.starting(data.category, "floor")
    if progress.out_of(budget):
        return progress.solved(t_star)
    second, z_star = runner.max_floor(t_star, progress.amounts)
    if not progress.record(second, "floor"):
        return progress.solved(t_star)
    budget.clock.starting(data.category, "floor_shared")
    if progress.out_of(budget):
        return progress.solved(t_star)
    best = progress.amounts
    if data.all_integer or runner.floor_by_search:
        # Hold the floor as lower bounds on y_s (whole ones for whole amounts).
        third = runner.min_distance(t_star, best, floors=runner.held_floors(best, z_star))
    else:
        third = runner.min_distance(t_star, best, z_star)
    progress.record(third, "floor_shared")
    return progress.solved(t_star)


def _solve_scaled(
    data: CategoryData,
    objective: str,
    solver: str,
    budget: Budget,
    *,
    feasibility_only: bool = False,
) -> _Solved | list[Conflict]:
    """`_solve_category` on the category in the engine's units (`allocation.scaling`),
    its amounts and T* brought back to the file's units.

    Conflicts are worded from the file's amounts: when amounts were scaled, they
    are looked for again on the original data (the unscaled texts would show the
    engine's units), falling back to naming every lock and limit.
    """
    scaled = scaling.scale_category(data)
    outcome = _solve_category(
        scaled.data, objective, solver, budget, feasibility_only=feasibility_only
    )
    if isinstance(outcome, list):
        if not outcome or scaled.amount_reference is None:
            return outcome
        again = _solve_category(data, objective, solver, budget, feasibility_only=True)
        return again if isinstance(again, list) and again else [explain.unexplained(data)]
    amounts, t_star = scaled.unscale(data, outcome.amounts, outcome.t_star)
    return dataclasses.replace(outcome, amounts=amounts, t_star=t_star)


def _figures_and_rows(
    data: CategoryData, solved: _Solved
) -> tuple[CategoryFigures, list[Allocation], list[SchoolRow]]:
    weights = np.asarray([school.weight for school in data.schools], dtype=np.float64)
    amounts = solved.amounts
    received = np.bincount(data.pair_school, weights=amounts, minlength=len(data.schools))
    total_weight = float(weights.sum())
    t_star = solved.t_star
    if len(data.schools) and t_star > 0:
        targets = t_star * weights / total_weight
        gap = float(np.abs(received - targets).sum()) / (2.0 * t_star)
        gap = 0.0 if gap < GAP_NOISE else gap  # a share of T*: float noise is no gap
        min_coverage = float(np.min(received / weights))
    else:
        targets = np.zeros(len(data.schools))
        gap = min_coverage = 0.0
    figures = CategoryFigures(
        category=data.category,
        placed=float(amounts.sum()),
        capacity=data.capacity,
        gap=gap,
        min_coverage=min_coverage,
        status=solved.status,
        stage=solved.stage,
    )
    allocations = [
        Allocation(
            service=data.services[int(data.pair_service[k])].id,
            school=data.schools[int(data.pair_school[k])].id,
            amount=float(amounts[k]),
        )
        for k in np.flatnonzero(amounts)
    ]
    whys = explain.why(data, amounts, received, targets, t_star, solved.status)
    rows = [
        SchoolRow(
            school=school.id,
            category=data.category,
            weight=school.weight,
            target=float(targets[i]),
            allocated=float(received[i]),
            why=explained.text if (explained := whys[i]) else None,
            why_clauses=explained.clauses if explained else (),
        )
        for i, school in enumerate(data.schools)
    ]
    return figures, allocations, rows


def default_workers(clock: Clock | None) -> int:
    """How many categories `solve` runs at once when not told: one per core the process
    may use, at most `MAX_WORKERS`; one when a clock is given (a test's clock then sees
    the stages one at a time, in order)."""
    if clock is not None:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _share(budget: Budget, later: int, lanes: int) -> Budget:
    """What a category starting now may use of `budget`: what is left but a reserve for
    each category that will follow it on its lane (`later` categories still to start,
    spread over `lanes`): 5% of what is left, or a second, or an equal share if less.
    So a hard category can take the time it needs yet cannot starve the rest of a first
    solution (half a second left district cohort categories with only their stage-1
    allocation, a floor of 0)."""
    left = budget.left()
    if left is None:
        return Budget(None, budget.clock)
    following = math.ceil(later / lanes)
    reserve = max(0.05 * left, min(1.0, left / (following + 1)))
    return Budget(max(left / (following + 1), left - reserve * following), budget.clock)


def _run_in_lanes(
    count: int,
    lanes: int,
    start: Callable[[int], Callable[[], _Solved | list[Conflict]]],
    finish: Callable[[int, _Solved | list[Conflict], int], None],
) -> None:
    """Run categories 0..count-1 on `lanes` threads, each started (`start`, in this thread)
    when a lane is free, so that its share of the time is read when it starts; `finish`
    is called in this thread as each one ends. HiGHS releases the GIL while it solves,
    so two categories' MILPs run on two cores. An exception (a category's, or one
    `finish` raises) stops the starting of more and goes through; categories already
    running are not waited for (each ends within its share of the limit)."""
    pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="allocation")
    running: dict[Future[_Solved | list[Conflict]], int] = {}
    following = 0
    done = 0
    try:
        while following < count or running:
            while following < count and len(running) < lanes:
                running[pool.submit(start(following))] = following
                following += 1
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(ended, key=running.__getitem__):
                position = running.pop(future)
                done += 1
                finish(position, future.result(), done)
    finally:
        pool.shutdown(wait=not running, cancel_futures=True)


def solve(
    problem: Problem | Mapping[str, Any] | str | bytes,
    objective: str | None = None,
    solver: str | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    *,
    clock: Clock | None = None,
    workers: int | None = None,
) -> Result:
    """Solve `problem` (a Problem, or anything `load_problem` reads) per the spec.

    `objective` overrides the problem's own (default ``proportional``);
    `solver` is ``"highs"`` (default) or ``"cbc"``. `on_progress`, if given, is
    called with (categories done, categories in all, the category just done)
    after each category. `clock` is where the time limit is read (default: the
    machine's monotonic clock; see `allocation.clock`). `workers` is how many
    categories are solved at once, on threads (default `default_workers`: one per
    core, one when a clock is given); the answer is the same whatever the number,
    unless the time limit cuts a category short. Raises ProblemError for an invalid
    problem or objective, ValueError for an unknown solver.
    """
    given_clock = clock
    clock = clock or MonotonicClock()
    started = clock.now()  # the limit bounds the whole solve, reading the file included
    problem = load_problem(problem)
    chosen = parse_objective(objective or problem.objective or DEFAULT_OBJECTIVE)
    solver_name = solver or DEFAULT_SOLVER
    if solver_name not in SOLVERS:
        raise ValueError(f"unknown solver {solver_name!r}; choose one of {', '.join(SOLVERS)}")
    budget = Budget(problem.options.time_limit_s, clock, started=started)

    offered = set(problem.categories)
    categories = sorted(offered | {limit.category for limit in problem.limits})
    # Categories with cohort minimums (MILPs) last: the others take a fraction of a
    # second, and what they leave of a time limit is then shared among the hard ones.
    with_cohorts = {
        service.category
        for service in problem.services
        if service.min_viable and service.capacity > 0
    }
    order = sorted(categories, key=lambda category: (category in with_cohorts, category))
    wanted = workers if workers is not None else default_workers(given_clock)
    lanes = max(1, min(len(order), wanted))
    solved: dict[str, tuple[CategoryData, _Solved]] = {}
    found: dict[str, list[Conflict]] = {}

    started_with: dict[int, tuple[CategoryData, bool]] = {}

    def start(position: int) -> Callable[[], _Solved | list[Conflict]]:
        """Category `order[position]`, with its share of the time left now, as a call."""
        category = order[position]
        data = category_data(problem, category)
        share = _share(budget, len(order) - position - 1, lanes)
        # Already infeasible: only look for more conflicts, cheaply, not for allocations.
        only_conflicts = bool(found) and category in offered
        started_with[position] = (data, only_conflicts)
        return partial(
            _solve_scaled, data, chosen, solver_name, share, feasibility_only=only_conflicts
        )

    def finish(position: int, outcome: _Solved | list[Conflict], done: int) -> None:
        """Called in this thread, in the order categories finish: all that is kept of the
        categories is kept here, the lanes only solve."""
        category = order[position]
        data, only_conflicts = started_with.pop(position)
        if isinstance(outcome, list):
            if outcome:
                found[category] = outcome
        elif category in offered and not only_conflicts:
            solved[category] = (data, outcome)
        if on_progress is not None:
            on_progress(done, len(order), category)

    if lanes == 1:
        for position in range(len(order)):
            finish(position, start(position)(), position + 1)
    else:
        silence_highs_banner()  # before any thread makes a HiGHS object: it swaps stdout
        _run_in_lanes(len(order), lanes, start, finish)
    conflicts = [conflict for category in categories for conflict in found.get(category, [])]

    if conflicts:
        return Result(
            status="infeasible",
            objective=chosen,
            categories=(),
            allocations=(),
            schools=(),
            conflicts=tuple(conflicts),
        )
    figures: list[CategoryFigures] = []
    allocations: list[Allocation] = []
    rows: list[SchoolRow] = []
    for category in sorted(solved):
        data, outcome = solved[category]
        category_figures, category_allocations, category_rows = _figures_and_rows(data, outcome)
        figures.append(category_figures)
        allocations.extend(category_allocations)
        rows.extend(category_rows)
    status = "optimal" if all(f.status == "optimal" for f in figures) else "time_limit"
    return Result(
        status=status,
        objective=chosen,
        categories=tuple(figures),
        allocations=tuple(sorted(allocations, key=lambda a: (a.service, a.school))),
        schools=tuple(sorted(rows, key=lambda r: (r.category, r.school))),
        conflicts=(),
    )


__all__ = ["ProblemError", "solve"]
