"""A run's results as tables: categories, schools and allocations, for CSV and XLSX.

A category is written as its label with its unit in a column of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l

from registry.exports import Column, Kind, Sheet
from registry.scenarios.problem import category_label
from registry.scenarios.services import RunView, unit_label, worded

TABLES = ("categories", "schools", "allocations")

Row = dict[str, Any]


def _category(row: Row) -> str:
    # The registry category's label; its unit has a column of its own.
    return category_label(row["registry_category"])


def _unit(row: Row) -> str:
    return unit_label(row["unit"])


def _amount(header: Any, key: str) -> Column[Row]:
    return Column(header, lambda r: r[key], Kind.AMOUNT)


CATEGORY_COLUMNS: list[Column[Row]] = [
    Column(_l("Category"), _category),
    Column(_l("Unit"), _unit),
    _amount(_l("Placed"), "placed"),
    _amount(_l("Capacity"), "capacity"),
    Column(_l("Gap"), lambda r: r["gap"], Kind.PCT, places=1),
    Column(_l("Min coverage"), lambda r: r["min_coverage"], Kind.DECIMAL, places=4),
]

SCHOOL_COLUMNS: list[Column[Row]] = [
    Column(_l("School ID"), lambda r: r["school_id"], Kind.INT),
    Column(_l("School"), lambda r: r["name"]),
    Column(_l("Category"), _category),
    Column(_l("Unit"), _unit),
    Column(_l("Need"), lambda r: r["need"], Kind.DECIMAL, places=2),
    Column(_l("Enrollment"), lambda r: r["enrollment"], Kind.INT),
    Column(_l("Weight"), lambda r: r["weight"], Kind.DECIMAL, places=2),
    _amount(_l("Target"), "target"),
    _amount(_l("Allocated"), "allocated"),
    Column(_l("Per student"), lambda r: r["per_student"], Kind.DECIMAL, places=4),
    Column(_l("Why"), lambda r: r["why"]),
]

ALLOCATION_COLUMNS: list[Column[Row]] = [
    Column(_l("Service ID"), lambda r: r["service_id"], Kind.INT),
    Column(_l("Service"), lambda r: r["service_name"]),
    Column(_l("Partner"), lambda r: r["partner"]),
    Column(_l("Category"), _category),
    Column(_l("School ID"), lambda r: r["school_id"], Kind.INT),
    Column(_l("School"), lambda r: r["school_name"]),
    _amount(_l("Amount"), "amount"),
    Column(_l("Unit"), _unit),
]

SHEET_TITLES = {
    "categories": _l("Categories"),
    "schools": _l("Schools"),
    "allocations": _l("Allocations"),
}


def _with_registry_ids(view: RunView) -> list[Row]:
    # The run's keys ("J4", "S12") as the registry's ids, as the schools table gives them.
    return [
        {
            **row,
            "service_id": view.services.get(row["service"], {}).get("id"),
            "school_id": view.schools.get(row["school"], {}).get("id"),
        }
        for row in view.allocation_rows
    ]


def table(view: RunView, name: str) -> Sheet[Row]:
    """One results table: its sheet title, columns and rows."""
    rows: Iterable[Row]
    if name == "categories":
        columns, rows = CATEGORY_COLUMNS, view.category_rows
    elif name == "schools":
        columns, rows = SCHOOL_COLUMNS, (worded(view, row) for row in view.school_rows)
    else:
        columns, rows = ALLOCATION_COLUMNS, _with_registry_ids(view)
    return Sheet(str(SHEET_TITLES[name]), columns, rows)


def sheets(view: RunView) -> list[Sheet[Row]]:
    """The three tables, as the sheets of one workbook."""
    return [table(view, name) for name in TABLES]
