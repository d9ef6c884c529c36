"""The scenario list as a download: one row per scenario, with how many runs it has.

Runs are counted in SQL: loading them to count them would read every run's problem and
result files (megabytes each at state size).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from registry.exports import Column, Kind, batched
from registry.models.scenario import Scenario, ScenarioRun


@dataclass(frozen=True)
class ScenarioRow:
    scenario: Scenario
    runs: int


COLUMNS: list[Column[ScenarioRow]] = [
    Column(_l("Name"), lambda r: r.scenario.name),
    Column(_l("School year"), lambda r: r.scenario.school_year),
    Column(_l("Objective"), lambda r: r.scenario.objective, Kind.LABEL),
    Column(_l("Runs"), lambda r: r.runs, Kind.INT),
    Column(_l("Created"), lambda r: r.scenario.created_at, Kind.DATE),
]


def rows(stmt: Select[Any]) -> Iterator[ScenarioRow]:
    """The scenarios `stmt` selects, in its order, with their runs counted (one query)."""
    runs = (
        select(func.count())
        .where(ScenarioRun.scenario_id == Scenario.id)
        .correlate(Scenario)
        .scalar_subquery()
    )
    for scenario, counted in batched(stmt.add_columns(runs)):
        yield ScenarioRow(scenario, counted)
