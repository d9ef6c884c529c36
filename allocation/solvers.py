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
  `outcome_of` says `STOPPED` and callers must not read them.
- CBC does not heed its own ``-sec`` in every phase (whole-seat problems of
  10 schools ran minutes past it): with a time limit, `TimedCOIN_CMD` tells
  it a little less (`cbc_seconds`), kills the ``cbc`` process (its whole
  process group) at the limit and reports a stop without solution.
- Duals from PuLP's HiGHS interface have the opposite sign on maximisation
  problems; the stages read no duals at all (only values), so it cannot bite.
- HiGHS prints its banner on stdout the first time a `Highs` object is made,
  whatever the options; that would corrupt the command line's JSON, so the
  first one is made with stdout pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import Any

import highspy
import numpy as np
import pulp  # type: ignore[import-untyped, unused-ignore]  # pulp ships no types
from pulp import constants as pc  # type: ignore[import-untyped, unused-ignore]

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
    TIME_LIMIT = "time_limit"  # stopped (by a limit) with a feasible solution, not proven optimal
    STOPPED = "stopped"  # stopped (by a limit) before finding any solution: no values
    INFEASIBLE = "infeasible"
    ERROR = "error"  # anything else (a solver failure): no values


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
        return Outcome.STOPPED
    if status == pc.LpStatusNotSolved:
        return Outcome.STOPPED
    return Outcome.ERROR


def new_highs() -> highspy.Highs:
    """A bare highspy model (highspy leaves its constructor unannotated)."""
    return highspy.Highs()  # type: ignore[no-untyped-call, unused-ignore]


def quiet_highs(**options: Any) -> highspy.Highs:
    """A highspy model that prints nothing and runs the same way every time (one
    thread, random seed 0), with `options` set on top."""
    silence_highs_banner()
    highs = new_highs()
    settings = {
        "output_flag": False,
        "log_to_console": False,
        "threads": 1,
        "random_seed": 0,
        **options,
    }
    for key, value in settings.items():
        highs.setOptionValue(key, value)
    return highs


def set_time_limit(highs: highspy.Highs, seconds: float | None) -> None:
    """Let the next run of `highs` take at most `seconds` (None: no limit).

    HiGHS' ``time_limit`` is read against the model's run time summed over every
    run of the same object, not the next run's: a model re-solved many times (a
    dive, a bisection, stages grown in place) would otherwise be stopped at once
    when what earlier runs took exceeds the limit.
    """
    if seconds is None:
        highs.setOptionValue("time_limit", highspy.kHighsInf)
    else:
        highs.setOptionValue("time_limit", float(highs.getRunTime()) + float(seconds))


def run_highs(highs: highspy.Highs) -> None:
    """`highs.run()`, once more without presolve if HiGHS reports a solve error.

    HiGHS 1.16 with ``mip_feasibility_tolerance`` 1e-9 ends some tiny MILPs that
    presolve reduces to an LP with ``kSolveError`` (a 3-pair category whose only
    integer column is fixed at 0); the same model solves without presolve.
    """
    highs.run()
    if highs.getModelStatus() == highspy.HighsModelStatus.kSolveError:
        highs.setOptionValue("presolve", "off")
        try:
            highs.run()
        finally:
            highs.setOptionValue("presolve", "choose")


_banner_silenced = False
_banner_lock = threading.Lock()


def silence_highs_banner() -> None:
    """Make the first HiGHS object with stdout pointed at /dev/null (see module doc)."""
    global _banner_silenced
    with _banner_lock:
        if not _banner_silenced:
            _make_first_highs_quietly()
            _banner_silenced = True


def _make_first_highs_quietly() -> None:
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        new_highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


class HighsSession:
    """One HiGHS model kept across the stages of a category, grown rather than rebuilt.

    Each stage's PuLP problem holds the previous stage's variables and
    constraints (the same objects, in the same order) plus its own. Loading
    only the new columns and rows, with fresh costs and bounds, lets HiGHS
    start from the previous stage's basis, as a hand-written model would.
    """

    def __init__(self) -> None:
        self.highs: highspy.Highs | None = None
        self.variables: list[pulp.LpVariable] = []
        self.constraints: list[pulp.LpConstraint] = []

    def extends(self, variables: list[Any], constraints: list[Any]) -> bool:
        """Whether a problem with these variables and constraints grows the loaded one."""
        if self.highs is None:
            return False
        old_vars, old_rows = self.variables, self.constraints
        return (
            len(variables) >= len(old_vars)
            and len(constraints) >= len(old_rows)
            and all(a is b for a, b in zip(old_vars, variables, strict=False))
            and all(a is b for a, b in zip(old_rows, constraints, strict=False))
        )


class BulkHiGHS(pulp.HiGHS):  # type: ignore[misc, valid-type, unused-ignore]
    """PuLP's in-process HiGHS, loading the model in bulk arrays instead of row by row.

    PuLP's own loader makes one highspy call per column and per row and sorts
    the variables by name several times per solve, which dominates the run
    time at state scale. With a `HighsSession`, a problem that only adds to
    the previous one is loaded incrementally. Only values are read back (the
    stages use no duals).
    """

    def __init__(
        self,
        *args: Any,
        warm_start: bool = False,
        session: HighsSession | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.warm_start = warm_start
        self.session = session
        self.model_status: highspy.HighsModelStatus | None = None  # of the last run

    @property
    def stopped_by_time(self) -> bool:
        """Whether the last run ended on HiGHS' own time limit."""
        return self.model_status == highspy.HighsModelStatus.kTimeLimit

    def _configure(self, highs: highspy.Highs) -> None:
        # Options persist in a reused model: set every one each time.
        highs.setOptionValue("output_flag", False)
        set_time_limit(highs, None if self.timeLimit is None else float(self.timeLimit))
        highs.setOptionValue("solver", "choose")
        highs.setOptionValue("mip_lp_solver", "choose")
        highs.setOptionValue("presolve", "choose")
        if self.gapRel is not None:
            highs.setOptionValue("mip_rel_gap", self.gapRel)
        if self.gapAbs is not None:
            highs.setOptionValue("mip_abs_gap", self.gapAbs)
        if self.threads is not None:
            highs.setOptionValue("threads", self.threads)
        for key, value in self.optionsDict.items():
            highs.setOptionValue(key, value)

    def _variables(self, lp: pulp.LpProblem) -> list[pulp.LpVariable]:
        # The problem's variables in the order they were registered (deterministic),
        # without `LpProblem.variables()`, which re-registers and sorts by name on
        # every call: half a second per solve at state scale.
        if lp.objective is not None:
            lp._add_variables(lp.objective.keys())
        return list(lp._variables)

    def actualSolve(self, lp: pulp.LpProblem, **kwargs: Any) -> int:
        """Build in bulk (or grow the session's model), run, read values; return the status."""
        variables = self._variables(lp)
        constraints = list(lp._constraints.values())
        session = self.session
        if session is not None and session.extends(variables, constraints):
            assert session.highs is not None
            lp.solverModel = session.highs
            self._configure(session.highs)
            self._load(lp, variables, constraints, len(session.variables), len(session.constraints))
        else:
            silence_highs_banner()
            lp.solverModel = new_highs()
            self._configure(lp.solverModel)
            self._load(lp, variables, constraints, 0, 0)
        if session is not None:
            session.highs = lp.solverModel
            session.variables = variables
            session.constraints = constraints
        self._warm_start(lp, variables)
        run_highs(lp.solverModel)
        self.model_status = lp.solverModel.getModelStatus()
        status, sol_status = self._read(lp, variables)
        lp.assignStatus(status, sol_status)
        return status

    def _load(
        self,
        lp: pulp.LpProblem,
        variables: list[pulp.LpVariable],
        constraints: list[pulp.LpConstraint],
        loaded_columns: int,
        loaded_rows: int,
    ) -> None:
        inf = highspy.kHighsInf
        highs = lp.solverModel
        count = len(variables)
        cost = np.zeros(count)
        lower = np.empty(count)
        upper = np.empty(count)
        integral: list[int] = []
        for index, var in enumerate(variables):
            var.index = index
            lower[index] = -inf if var.lowBound is None else var.lowBound
            upper[index] = inf if var.upBound is None else var.upBound
            if index >= loaded_columns and var.cat == pc.LpInteger and self.mip:
                integral.append(index)
        # HiGHS minimises here; a maximisation is its negation.
        sign = -1.0 if lp.sense == pc.LpMaximize else 1.0
        if lp.objective is not None:
            for var, coefficient in lp.objective.items():
                cost[var.index] = sign * coefficient
        new_columns = count - loaded_columns
        if new_columns:
            highs.addVars(new_columns, lower[loaded_columns:], upper[loaded_columns:])
        if loaded_columns:
            old = np.arange(loaded_columns, dtype=np.int32)
            highs.changeColsBounds(
                loaded_columns, old, lower[:loaded_columns], upper[:loaded_columns]
            )
        if count:
            highs.changeColsCost(count, np.arange(count, dtype=np.int32), cost)
        if integral:
            integral_array = np.asarray(integral, dtype=np.int32)
            highs.changeColsIntegrality(
                len(integral),
                integral_array,
                np.full(len(integral), highspy.HighsVarType.kInteger),
            )
        starts: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        row_lower: list[float] = []
        row_upper: list[float] = []
        for row, constraint in enumerate(constraints):
            constraint.index = row
            if row < loaded_rows:
                continue
            starts.append(len(indices))
            for var, coefficient in constraint.items():
                if coefficient != 0:
                    indices.append(var.index)
                    values.append(coefficient)
            lb = constraint.getLb()
            ub = constraint.getUb()
            row_lower.append(-inf if lb is None else lb)
            row_upper.append(inf if ub is None else ub)
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

    def _warm_start(self, lp: pulp.LpProblem, variables: list[pulp.LpVariable]) -> None:
        if not self.warm_start or not any(v.cat == pc.LpInteger for v in variables):
            return
        # The previous stage's solution is feasible here too: hand it over as
        # the first incumbent so a stopped MILP is never worse than it.
        known = [(v.index, v.varValue) for v in variables if v.varValue is not None]
        if known:
            lp.solverModel.setSolution(
                len(known),
                np.asarray([i for i, _ in known], dtype=np.int32),
                np.asarray([value for _, value in known], dtype=np.float64),
            )

    def _read(self, lp: pulp.LpProblem, variables: list[pulp.LpVariable]) -> tuple[int, int]:
        # Values only: the stages use no duals, reduced costs or slacks.
        highs = lp.solverModel
        values = highs.getSolution().col_value
        for var, value in zip(variables, values, strict=True):
            var.varValue = value
        return self._status(lp)

    def _status(self, lp: pulp.LpProblem) -> tuple[int, int]:
        highs = lp.solverModel
        model_status = highs.getModelStatus()
        kinds = highspy.HighsModelStatus
        if model_status == kinds.kOptimal:
            status, sol_status = pc.LpStatusOptimal, pc.LpSolutionOptimal
        elif model_status in (kinds.kInfeasible, kinds.kUnboundedOrInfeasible):
            status, sol_status = pc.LpStatusInfeasible, pc.LpSolutionInfeasible
        elif model_status == kinds.kUnbounded:
            status, sol_status = pc.LpStatusUnbounded, pc.LpSolutionUnbounded
        elif model_status in (
            kinds.kTimeLimit,
            kinds.kIterationLimit,
            kinds.kInterrupt,
            kinds.kObjectiveBound,
            kinds.kObjectiveTarget,
            kinds.kSolutionLimit,
        ):
            status, sol_status = pc.LpStatusOptimal, pc.LpSolutionIntegerFeasible
        else:
            status, sol_status = pc.LpStatusNotSolved, pc.LpSolutionNoSolutionFound
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
    from pulp.apis import coin_api  # type: ignore[import-untyped, unused-ignore]

    return str(coin_api.PULP_CBC_CMD.pulp_cbc_path)


def cbc_seconds(time_limit_s: float) -> float:
    """The ``-sec`` a ``cbc`` run of at most `time_limit_s` wall-clock seconds is given:
    less than that, so that a CBC that heeds it can still write its incumbent before it
    would be killed (at `time_limit_s`)."""
    return max(0.5 * time_limit_s, 0.95 * time_limit_s - 0.5)


class TimedCOIN_CMD(pulp.COIN_CMD):  # type: ignore[misc, valid-type, unused-ignore]
    """PuLP's COIN_CMD, but with a time limit the ``cbc`` process is killed when it overruns.

    `solve_CBC` is PuLP's own (MPS in, solution file out, the same options),
    with ``Popen.wait(timeout=...)`` in place of an unbounded wait. The process
    runs in its own session, so the kill reaches anything it started. A killed
    run is reported as stopped without a solution (`killed` says so).
    """

    def __init__(self, *args: Any, kill_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_after_s = kill_after_s
        self.killed = False
        self.stopped_on_time = False

    @property
    def stopped_by_time(self) -> bool:
        """Whether the last run stopped on its ``-sec`` or was killed for overrunning it."""
        return self.killed or self.stopped_on_time

    def solve_CBC(self, lp: pulp.LpProblem, use_mps: bool = True) -> int:
        if self.kill_after_s is None:
            return int(super().solve_CBC(lp, use_mps))
        self.killed = self.stopped_on_time = False
        if not self.executable(self.path):
            raise pulp.PulpSolverError(f"cannot execute {self.path}")
        mps, solution = self.create_tmp_files(lp.name, "mps", "sol")
        variables, variable_names, constraint_names, _ = lp.writeMPS(mps, rename=1)
        args = [self.path, mps]
        if lp.sense == pc.LpMaximize:
            args.append("-max")
        args += ["-sec", str(self.timeLimit)]
        for option in self.options + self.getOptions():
            args += ("-" + option).split()
        args += ["-solve" if self.mip else "-initialSolve", "-printingOptions", "all"]
        args += ["-solution", solution]
        process = subprocess.Popen(  # our own argument list, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=self.kill_after_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # it ended in the meantime
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self.killed = True
            self.delete_tmp_files(mps, solution)
            lp.assignStatus(pc.LpStatusNotSolved, pc.LpSolutionNoSolutionFound)
            return int(pc.LpStatusNotSolved)
        if code != 0 or not os.path.exists(solution):
            self.delete_tmp_files(mps, solution)
            raise pulp.PulpSolverError(f"{self.path} ended with status {code}")
        with open(solution) as first:
            # "Stopped on time - objective value ..." or "Stopped on time" alone
            self.stopped_on_time = first.readline().startswith("Stopped on time")
        status, values, _, _, _, sol_status = self.readsol_MPS(
            solution, lp, variables, variable_names, constraint_names
        )
        lp.assignVarsVals(values)
        lp.assignStatus(status, sol_status)
        self.delete_tmp_files(mps, solution)
        return int(status)


def make_solver(
    name: str,
    *,
    time_limit_s: float | None,
    highs_options: dict[str, Any] | None = None,
    warm_start: bool = False,
    session: HighsSession | None = None,
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
            session=session,
            **options,
        )
    if name == "cbc":
        return TimedCOIN_CMD(
            path=_cbc_path(),
            msg=False,
            timeLimit=None if time_limit_s is None else cbc_seconds(time_limit_s),
            kill_after_s=time_limit_s,
            timeMode="elapsed",  # -sec in wall-clock seconds, as the budget counts them
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
