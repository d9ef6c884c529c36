"""Runs side by side, and against the status quo and the plain spreadsheet formula.

Every column is measured the same way, per problem category (one registry
category in one unit, `registry.scenarios.problem.category_key`), on the run's own school
facts (enrollment, need and weight as the run saw them):

- ``placed``: units given to schools, in all;
- ``gap`` and ``min_coverage`` exactly as the allocation spec defines them,
  against the run's weights and the run's eligible schools ``S_c``. A school
  outside ``S_c`` that receives units (possible for the status quo and the
  formula) has a target of 0, so those units count as off target;
- concentration index and need-quartile shares of units per student
  (`registry.equity.kpis`), over every school with a need value.

The status quo is this school year's commitments in active MOUs (read now
from the registry). The plain formula is what a spreadsheet would do: all the
category's in-scope capacity shared pro rata to enrollment × need among the
schools at or above the threshold with a need value, ignoring eligibility,
capacity per service and integrality.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from registry.equity.kpis import QuartileRow, SchoolUnits, concentration_index, need_quartiles
from registry.extensions import db
from registry.models import MOU, Commitment, Service
from registry.scenarios.problem import (
    category_label,
    school_key,
    split_category_key,
)
from registry.scenarios.services import RunView
from registry.vocabulary import Category, MOUStatus


@dataclass(frozen=True)
class Figures:
    """One column of the comparison for one category."""

    label: str
    placed: float
    gap: float
    min_coverage: float
    concentration: float
    quartiles: list[QuartileRow]
    units: dict[str, float]  # school key → units


def eligible_weights(view: RunView, category: str) -> dict[str, float]:
    """S_c of the run's problem with each school's weight."""
    weights = view.figures["weights"]
    eligible = view.figures["eligible"].get(category, [])
    return {key: weights[key] for key in eligible if key in weights}


def measure(label: str, view: RunView, category: str, units: dict[str, float]) -> Figures:
    """The comparison's figures for one distribution of a category's units."""
    weights = eligible_weights(view, category)
    total = sum(units.values())
    total_weight = sum(weights.values())
    gap = 0.0
    min_coverage = 0.0
    if total > 0 and total_weight > 0:
        distance = sum(
            abs(units.get(k, 0.0) - total * w / total_weight) for k, w in weights.items()
        )
        distance += sum(amount for k, amount in units.items() if k not in weights)
        gap = distance / (2 * total)
        min_coverage = min(units.get(k, 0.0) / w for k, w in weights.items())
    rows = [
        SchoolUnits(
            school_id=int(facts["id"]),
            enrollment=int(facts["enrollment"] or 0),
            need=float(facts["need"]),
            units=units.get(key, 0.0),
        )
        for key, facts in view.schools.items()
        if facts.get("need") is not None
    ]
    return Figures(
        label=label,
        placed=total,
        gap=gap,
        min_coverage=min_coverage,
        concentration=concentration_index(rows),
        quartiles=need_quartiles(rows),
        units=dict(units),
    )


def proposal_units(view: RunView, category: str) -> dict[str, float]:
    """What the run proposes per school in a category (nothing for an infeasible run)."""
    units: dict[str, float] = defaultdict(float)
    for row in view.school_rows:
        if row["category"] == category:
            units[row["school"]] += float(row["allocated"])
    return dict(units)


def status_quo_units(school_year: str, category: str) -> dict[str, float]:
    """This school year's commitments in active MOUs, per school, in a category and its unit."""
    stmt = (
        select(Commitment.school_id, Commitment.amount)
        .join(MOU, Commitment.mou_id == MOU.id)
        .join(Service, Commitment.service_id == Service.id)
        .where(MOU.status == MOUStatus.ACTIVE, MOU.school_year == school_year)
    )
    try:
        registry_category, unit = split_category_key(category)
        stmt = stmt.where(Service.category == registry_category, Service.unit == unit)
    except ValueError:  # a run stored before categories carried their unit
        stmt = stmt.where(Service.category == Category(category))
    rows = db.session.execute(stmt)
    units: dict[str, Decimal] = defaultdict(Decimal)
    for school_id, amount in rows:
        units[school_key(school_id)] += amount
    return {key: float(amount) for key, amount in units.items()}


def formula_units(view: RunView, category: str) -> dict[str, float]:
    """The category's capacity pro rata to enrollment × need above the threshold."""
    capacity = view.figures["capacity"].get(category, 0.0)
    threshold = float(view.report.get("settings", {}).get("need_threshold") or 0)
    weights = {
        key: facts["enrollment"] * facts["need"]
        for key, facts in view.schools.items()
        if facts.get("need") is not None and facts["need"] >= threshold and facts["enrollment"]
    }
    total_weight = sum(weights.values())
    if total_weight <= 0:
        return {}
    return {key: capacity * w / total_weight for key, w in weights.items()}


def categories_of(*views: RunView) -> list[str]:
    found: set[str] = set()
    for view in views:
        found.update(view.figures["service_categories"])
    return sorted(found)


@dataclass(frozen=True)
class CategoryComparison:
    category: str
    unit: str
    columns: list[Figures]

    @property
    def label(self) -> str:
        return category_label(self.category)

    @property
    def anchor(self) -> str:
        """The category as an HTML id."""
        return "cmp-" + self.category.replace(":", "-")


def compare(
    view: RunView, other: RunView | None, labels: dict[str, str]
) -> list[CategoryComparison]:
    """Per category: status quo, plain formula, this run and (if given) another run."""
    school_year = view.run.scenario.school_year
    result = []
    views = [view, *([other] if other else [])]
    for category in categories_of(*views):
        unit = next(
            (v.figures["units"][category] for v in views if category in v.figures["units"]), ""
        )
        columns = [
            measure(labels["status_quo"], view, category, status_quo_units(school_year, category)),
            measure(labels["formula"], view, category, formula_units(view, category)),
            measure(labels["run"], view, category, proposal_units(view, category)),
        ]
        if other is not None:
            columns.append(
                measure(labels["other"], other, category, proposal_units(other, category))
            )
        result.append(CategoryComparison(category, unit, columns))
    return result


def chart_series(comparison: CategoryComparison) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Need-quartile shares of units, one series per column (for the bar chart)."""
    return [
        (
            figures.label,
            [(f"Q{q.quartile}", round(q.resource_share * 100, 1)) for q in figures.quartiles],
        )
        for figures in comparison.columns
        if figures.label != ""
    ]
