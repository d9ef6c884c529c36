"""The result of a solve, as typed, frozen data, and its JSON form.

JSON shape (keys always present, lists sorted, numbers rounded to 10 significant
digits and printed as integers when whole, so the same input gives the same
bytes; see `number`)::

    {
      "status": "optimal" | "time_limit" | "infeasible",
      "objective": "proportional" | "maxmin",
      "categories": {                      # every category a service offers
        "<category>": {"status": "optimal", "stage": "shared_floor", "placed": 60,
                        "capacity": 60, "gap": 0.04, "min_coverage": 0.09}
      },
      "allocations": [{"service": "J1", "school": "S1", "amount": 30}],
      "schools": [{"school": "S1", "category": "tutoring", "weight": 312.5,
                   "target": 28.8, "allocated": 30, "why": null, "why_codes": []}],
      "conflicts": [{"category": "tutoring", "message": "...",
                     "code": {"code": "limit_unreachable", "params": {...}},
                     "locks": [{"index": 0, "id": null, "service": "J1", "school": "S1"}],
                     "limits": [{"index": 1, "id": "L2", "school": "S2",
                                 "category": "tutoring"}]}]
    }

- ``categories[c].status`` is the category's own status: ``optimal`` or
  ``time_limit`` (a limit was hit: the best found in time, never empty where
  capacity can be used); the top-level ``status`` is the worst of them
  (``infeasible`` has no categories). ``categories[c].stage`` names the last
  stage completed: ``placed`` (stage 1), then ``shared`` and ``shared_floor``
  for ``proportional``, ``floor`` and ``floor_shared`` for ``maxmin``. Under
  ``time_limit`` it is ``placed`` at the least (the allocation then places
  what was found in time). Under ``optimal`` it is normally the objective's
  last stage; a stage the solver failed to finish for a reason other than
  time (after retries) is not completed, so ``optimal`` with an earlier
  ``stage`` means: solved to optimality up to that stage, the later ones not
  done (see `allocation.stages`).
- ``allocations`` lists every non-zero amount, sorted by (service, school).
- ``schools`` has a row for every school of ``S_c`` of every category, sorted
  by (category, school). ``why`` is null unless the school falls well short
  of its target (see `allocation.explain.well_below`), then a short sentence;
  ``why_codes`` says the same as data (each clause's code and parameters, see
  `allocation.explain`), and a conflict's ``code`` its ``message``, so that a
  program can word them in another language.
- ``conflicts`` is empty unless ``status`` is ``infeasible``; each names the
  locks and limits (by 0-based ``index`` in the problem's ``locks`` and
  ``limits`` lists, and by their ``id`` when the problem gave one) that
  cannot hold together. An infeasible result has no categories, allocations
  or school rows: nothing is proposed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

SIGNIFICANT_DIGITS = 10  # the spec's least; solver noise (about 1e-11 relative) lies beyond


@dataclass(frozen=True)
class CategoryFigures:
    """How one category came out: what was placed, out of what, and how fairly."""

    category: str
    placed: float
    capacity: float
    gap: float
    min_coverage: float
    status: str  # optimal | time_limit
    stage: str  # the last stage completed (see `allocation.stages.STAGES`)


@dataclass(frozen=True)
class Allocation:
    """A non-zero amount of one service at one school."""

    service: str
    school: str
    amount: float


@dataclass(frozen=True)
class Clause:
    """A `why` or conflict as data, for wording in any language: a code and its parameters.

    Parameters hold ids ("J1", "S2"), amounts, units and the category, never
    words; `allocation.explain` lists the codes beside the English it writes.
    """

    code: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SchoolRow:
    """What one school of S_c gets in one category, against its need-based target."""

    school: str
    category: str
    weight: float
    target: float
    allocated: float
    why: str | None
    why_clauses: tuple[Clause, ...] = ()


@dataclass(frozen=True)
class LockRef:
    """A lock named in a conflict: its position in the problem's list, and its id if any."""

    index: int
    id: str | None
    service: str
    school: str


@dataclass(frozen=True)
class LimitRef:
    """A limit named in a conflict: its position in the problem's list, and its id if any."""

    index: int
    id: str | None
    school: str
    category: str


@dataclass(frozen=True)
class Conflict:
    """Locks and limits of one category that cannot hold together, said plainly."""

    category: str
    message: str
    locks: tuple[LockRef, ...] = ()
    limits: tuple[LimitRef, ...] = ()
    clause: Clause | None = None


@dataclass(frozen=True)
class Result:
    """The outcome of `allocation.solve`."""

    status: str
    objective: str
    categories: tuple[CategoryFigures, ...]
    allocations: tuple[Allocation, ...]
    schools: tuple[SchoolRow, ...]
    conflicts: tuple[Conflict, ...] = ()

    @property
    def exit_code(self) -> int:
        """The command line's exit status for this result: 0 solved, 3 infeasible."""
        return 3 if self.status == "infeasible" else 0


def number(value: float) -> int | float:
    """`value` rounded to 10 significant digits, as an int when whole (stable, readable JSON).

    Relative, not a fixed count of decimals: a floor of 4.36e-06 or a weight of
    1e-12 keeps its digits instead of becoming 0 (the spec asks for at least
    10). A whole number (as whole-seat amounts always are) is written exactly,
    as an integer.
    """
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)  # exactly, however many digits (whole seats)
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if rounded == 0:
        return 0  # also turns -0.0 into 0
    if rounded.is_integer():
        return int(rounded)
    return rounded


def _clause(clause: Clause) -> dict[str, Any]:
    return {"code": clause.code, "params": clause.params}


def result_to_dict(result: Result) -> dict[str, Any]:
    """The result as plain JSON-ready data, in the documented shape and order."""
    return {
        "status": result.status,
        "objective": result.objective,
        "categories": {
            figures.category: {
                "status": figures.status,
                "stage": figures.stage,
                "placed": number(figures.placed),
                "capacity": number(figures.capacity),
                "gap": number(figures.gap),
                "min_coverage": number(figures.min_coverage),
            }
            for figures in sorted(result.categories, key=lambda f: f.category)
        },
        "allocations": [
            {"service": a.service, "school": a.school, "amount": number(a.amount)}
            for a in sorted(result.allocations, key=lambda a: (a.service, a.school))
        ],
        "schools": [
            {
                "school": row.school,
                "category": row.category,
                "weight": number(row.weight),
                "target": number(row.target),
                "allocated": number(row.allocated),
                "why": row.why,
                "why_codes": [_clause(c) for c in row.why_clauses],
            }
            for row in sorted(result.schools, key=lambda r: (r.category, r.school))
        ],
        "conflicts": [
            {
                "category": conflict.category,
                "message": conflict.message,
                "code": _clause(conflict.clause) if conflict.clause else None,
                "locks": [
                    {"index": r.index, "id": r.id, "service": r.service, "school": r.school}
                    for r in conflict.locks
                ],
                "limits": [
                    {"index": r.index, "id": r.id, "school": r.school, "category": r.category}
                    for r in conflict.limits
                ],
            }
            for conflict in result.conflicts
        ],
    }


def _line(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def result_to_json(result: Result) -> str:
    """The result as JSON text, one entry per line: same result, same bytes."""
    data = result_to_dict(result)
    lines = ["{"]
    keys = list(data)
    for position, key in enumerate(keys):
        value = data[key]
        comma = "," if position < len(keys) - 1 else ""
        if isinstance(value, dict) and value:
            lines.append(f"  {_line(key)}: {{")
            items = list(value.items())
            for inner, (name, entry) in enumerate(items):
                inner_comma = "," if inner < len(items) - 1 else ""
                lines.append(f"    {_line(name)}: {_line(entry)}{inner_comma}")
            lines.append(f"  }}{comma}")
        elif isinstance(value, list) and value:
            lines.append(f"  {_line(key)}: [")
            for inner, entry in enumerate(value):
                inner_comma = "," if inner < len(value) - 1 else ""
                lines.append(f"    {_line(entry)}{inner_comma}")
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {_line(key)}: {_line(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
