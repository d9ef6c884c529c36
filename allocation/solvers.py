"""The solvers behind PuLP, and what their statuses mean for us.

Two solvers are offered: ``"highs"`` (the default; HiGHS in-process through
highspy) and ``"cbc"`` (CBC as a command, via PuLP's non-deprecated
``COIN_CMD``; the ``cbc`` on PATH if any, else the binary PuLP bundles).

Pitfalls handled here:

- PuLP maps a HiGHS time limit to status "Optimal" with solution status
  "integer feasible"; that is a `time_limit` outcome, never `optimal`.
- On an LP stopped by a limit, HiGHS may hold a point that is not primal
  feasible; PuLP still calls it a solution. We ask HiGHS whether the primal
  solution is feasible and otherwise report no solution.
- CBC stopped without a solution still writes values into the variables;
  `outcome_of` says `no_solution` and callers must not read them.
- HiGHS prints its banner on stdout the first time a `Highs` object is made,
  whatever the options; that would corrupt the command line's JSON, so the
  first one is made with stdout pointed at /dev/null.
"""

from __future__ import annotations

import enum
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import highspy
import numpy as np
import pulp
from pulp import constants as pc

SOLVERS = ("highs", "cbc")
DEFAULT_SOLVER = "highs"

# Tolerances asked of the solvers: tight enough that a min_viable on/off binary
# cannot leak a fraction of a cohort, and that T* is the true maximum.
MIP_FEASIBILITY_TOLERANCE = 1e-9
MIP_REL_GAP = 1e-9
MIP_ABS_GAP = 1e-7


class Outcome(enum.Enum):
    """What one solver run produced, as far as the allocation is concerned."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"  # a feasible solution, not proven optimal
    NO_SOLUTION = "no_solution"  # stopped (time limit) before finding any solution
    INFEASIBLE = "infeasible"
    ERROR = "error"


def outcome_of(status: int, sol_status: int) -> Outcome:
    """Map PuLP's (status, sol_status) to an Outcome; only OPTIMAL and TIME_LIMIT hold values."""
    if status == pc.LpStatusInfeasible or sol_status == pc.LpSolutionInfeasible:
        return Outcome.INFEASIBLE
    if status == pc.LpStatusOptimal:
        if sol_status == pc.LpSolutionOptimal:
            return Outcome.OPTIMAL
        if sol_status == pc.LpSolutionIntegerFeasible:
            # PuLP says "Optimal" for a stopped MILP with an incumbent.
            return Outcome.TIME_LIMIT
        return Outcome.NO_SOLUTION
    if status == pc.LpStatusNotSolved:
        return Outcome.NO_SOLUTION
    return Outcome.ERROR


_banner_silenced = False


def _silence_highs_banner() -> None:
    global _banner_silenced
    if _banner_silenced:
        return
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    _banner_silenced = True


class BulkHiGHS(pulp.HiGHS):  # type: ignore[misc, valid-type]
    """PuLP's in-process HiGHS, loading the model in bulk arrays instead of row by row.

    PuLP's own loader makes one highspy call per column and per row, which
    dominates the run time at state scale. Values, reduced costs, duals and
    slacks are read back by PuLP's own code, unchanged.
    """

    def __init__(self, *args: Any, warm_start: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warm_start = warm_start

    def createAndConfigureSolver(self, lp: pulp.LpProblem) -> None:
        _silence_highs_banner()
        super().createAndConfigureSolver(lp)

    def buildSolverModel(self, lp: pulp.LpProblem) -> None:
        inf = highspy.kHighsInf
        variables = lp.variables()
        count = len(variables)
        cost = np.zeros(count)
        lower = np.empty(count)
        upper = np.empty(count)
        integral: list[int] = []
        for index, var in enumerate(variables):
            var.index = index
            lower[index] = -inf if var.lowBound is None else var.lowBound
            upper[index] = inf if var.upBound is None else var.upBound
            if var.cat == pc.LpInteger and self.mip:
                integral.append(index)
        sign = -1.0 if lp.sense == pc.LpMaximize else 1.0
        if lp.objective is not None:
            for var, coefficient in lp.objective.items():
                cost[var.index] = sign * coefficient
        starts: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        row_lower: list[float] = []
        row_upper: list[float] = []
        for row, constraint in enumerate(lp._constraints.values()):
            constraint.index = row
            starts.append(len(indices))
            for var, coefficient in constraint.items():
                if coefficient != 0:
                    indices.append(var.index)
                    values.append(coefficient)
            lb = constraint.getLb()
            ub = constraint.getUb()
            row_lower.append(-inf if lb is None else lb)
            row_upper.append(inf if ub is None else ub)
        highs = lp.solverModel
        highs.addVars(count, lower, upper)
        highs.changeColsCost(count, np.arange(count, dtype=np.int32), cost)
        if integral:
            integral_array = np.asarray(integral, dtype=np.int32)
            highs.changeColsIntegrality(
                len(integral),
                integral_array,
                np.full(len(integral), highspy.HighsVarType.kInteger),
            )
        if row_lower:
            highs.addRows(
                len(row_lower),
                np.asarray(row_lower),
                np.asarray(row_upper),
                len(indices),
                np.asarray(starts, dtype=np.int32),
                np.asarray(indices, dtype=np.int32),
                np.asarray(values, dtype=np.float64),
            )
        if self.warm_start and integral:
            # The previous stage's solution is feasible here too: hand it over as
            # the first incumbent so a stopped MILP is never worse than it.
            known = [(v.index, v.varValue) for v in variables if v.varValue is not None]
            if known:
                highs.setSolution(
                    len(known),
                    np.asarray([i for i, _ in known], dtype=np.int32),
                    np.asarray([value for _, value in known], dtype=np.float64),
                )

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:
        status, sol_status = super().findSolutionValues(lp)
        highs = lp.solverModel
        model_status = highs.getModelStatus()
        stopped = model_status not in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kInfeasible,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,
            highspy.HighsModelStatus.kUnbounded,
        )
        if stopped and status == pc.LpStatusOptimal:
            # PuLP trusts whatever point HiGHS holds when stopped; an LP stopped
            # mid-simplex holds one that need not be feasible.
            feasible = highs.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
            if not feasible:
                return pc.LpStatusNotSolved, pc.LpSolutionNoSolutionFound
            return pc.LpStatusOptimal, pc.LpSolutionIntegerFeasible
        return status, sol_status


def _cbc_path() -> str:
    found = shutil.which("cbc")
    if found:
        return found
    # The binary PuLP bundles, driven by the non-deprecated COIN_CMD.
    from pulp.apis import coin_api

    return str(coin_api.PULP_CBC_CMD.pulp_cbc_path)


def make_solver(
    name: str,
    *,
    time_limit_s: float | None,
    highs_options: dict[str, Any] | None = None,
    warm_start: bool = False,
) -> pulp.LpSolver:
    """A configured, quiet, deterministic PuLP solver for `name` ("highs" or "cbc")."""
    if name == "highs":
        options: dict[str, Any] = {
            "threads": 1,
            "random_seed": 0,
            "mip_feasibility_tolerance": MIP_FEASIBILITY_TOLERANCE,
            "log_to_console": False,
        }
        options.update(highs_options or {})
        return BulkHiGHS(
            msg=False,
            timeLimit=time_limit_s,
            gapRel=MIP_REL_GAP,
            gapAbs=MIP_ABS_GAP,
            warm_start=warm_start,
            **options,
        )
    if name == "cbc":
        return pulp.COIN_CMD(
            path=_cbc_path(),
            msg=False,
            timeLimit=time_limit_s,
            gapRel=MIP_REL_GAP,
            gapAbs=MIP_ABS_GAP,
            threads=1,
            options=["integerTolerance 1e-9", "randomSeed 1", "randomCbcSeed 1"],
        )
    raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}")


def run(problem: pulp.LpProblem, solver: pulp.LpSolver) -> Outcome:
    """Solve `problem` with `solver` and say what came of it."""
    problem.solve(solver)
    return outcome_of(problem.status, problem.sol_status)


def values_of(variables: Sequence[pulp.LpVariable]) -> np.ndarray:
    """The solved values of `variables` (None read as 0) as a float array."""
    return np.fromiter(
        (0.0 if v.varValue is None else v.varValue for v in variables),
        dtype=np.float64,
        count=len(variables),
    )
