"""A run's results as tables: categories, schools and allocations, for CSV and XLSX.

A category is written as its label with its unit in a column of its own.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from flask_babel import gettext as _
from openpyxl import Workbook

from registry.scenarios.problem import category_label
from registry.scenarios.services import RunView

TABLES = ("categories", "schools", "allocations")


def _category(row: dict[str, Any]) -> str:
    # The registry category's label; its unit has a column of its own.
    return category_label(row["registry_category"])


def table(view: RunView, name: str) -> tuple[list[str], list[list[Any]]]:
    """One results table: its header and rows."""
    if name == "categories":
        return (
            [_("Category"), _("Unit"), _("Placed"), _("Capacity"), _("Gap"), _("Min coverage")],
            [
                [_category(r), r["unit"], r["placed"], r["capacity"], r["gap"], r["min_coverage"]]
                for r in view.category_rows
            ],
        )
    if name == "schools":
        return (
            [
                _("School id"),
                _("School"),
                _("Category"),
                _("Unit"),
                _("Need"),
                _("Enrollment"),
                _("Weight"),
                _("Target"),
                _("Allocated"),
                _("Per student"),
                _("Why"),
            ],
            [
                [
                    r["school_id"],
                    r["name"],
                    _category(r),
                    r["unit"],
                    r["need"],
                    r["enrollment"],
                    r["weight"],
                    r["target"],
                    r["allocated"],
                    round(r["per_student"], 6) if r["per_student"] is not None else None,
                    r["why"] or "",
                ]
                for r in view.school_rows
            ],
        )
    return (
        [
            _("Service id"),
            _("Service"),
            _("Partner"),
            _("Category"),
            _("School id"),
            _("School"),
            _("Amount"),
            _("Unit"),
        ],
        [
            [
                r["service"],
                r["service_name"],
                r["partner"],
                _category(r),
                r["school"],
                r["school_name"],
                r["amount"],
                r["unit"],
            ]
            for r in view.allocation_rows
        ],
    )


def _cell(value: Any) -> Any:
    return "" if value is None else value


def xlsx_bytes(view: RunView) -> bytes:
    """The three tables as sheets of one workbook."""
    book = Workbook()
    book.remove(book.worksheets[0])  # the empty sheet a new workbook starts with
    for name in TABLES:
        header, rows = table(view, name)
        sheet = book.create_sheet(title=name)
        _write(sheet, header, rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _write(sheet: Any, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    sheet.append(list(header))
    for row in rows:
        sheet.append([_cell(v) for v in row])
    # openpyxl stores a text starting with "=" as a formula; names are data, never formulas.
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
