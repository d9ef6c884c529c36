"""Need-based allocation of partner capacity to schools, per ``specs/allocation.md``.

Pure Python over plain data (no Flask, no database). The public API:

- `load_problem` (JSON text, bytes or dict -> `Problem`, or `ProblemError`),
- `solve` (`Problem` or dict -> `Result`),
- `result_to_json` / `result_to_dict` (`Result` -> the result file), and
- `Clock` (where `solve` reads the time; a test passes its own).

Modules: `problem` (input data and validation), `model` (one category's PuLP
model), `scaling` (weights and amounts in the engine's own units, so that the
answer does not depend on the file's), `stages` (the spec's stages and
`solve`), `integral` (the exact
whole-seat maxmin floor by LPs), `held` (the exact whole-seat floor at the
least D, proportional's stage 3, by flow LPs), `cohorts` (proven optima for whole seats
with cohort minimums: flow-LP bounds, reachable totals, neighbourhood
search), `solvers` (HiGHS/CBC through
PuLP and their statuses), `explain` (why a school falls short, conflicts),
`result` (output data and JSON), `clock` (the time limit's clock), `cli` (the
command line: exit 0 solved, 3 infeasible, 2 invalid file in one line, 1
internal error in one line; 600 s when the file sets no time limit, where
`solve` itself has none).
"""

from allocation.clock import Clock
from allocation.problem import (
    Limit,
    Lock,
    Options,
    Problem,
    ProblemError,
    School,
    Service,
    load_problem,
)
from allocation.result import (
    Allocation,
    CategoryFigures,
    Conflict,
    LimitRef,
    LockRef,
    Result,
    SchoolRow,
    result_to_dict,
    result_to_json,
)
from allocation.stages import solve

__all__ = [
    "Allocation",
    "CategoryFigures",
    "Clock",
    "Conflict",
    "Limit",
    "LimitRef",
    "Lock",
    "LockRef",
    "Options",
    "Problem",
    "ProblemError",
    "Result",
    "School",
    "SchoolRow",
    "Service",
    "load_problem",
    "result_to_dict",
    "result_to_json",
    "solve",
]
