"""Record lists: search, sort, paginate and export to CSV, the same way on every page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, SQLColumnExpression, func, or_

from registry.extensions import db

# Far past any real list, and small enough that page × size never overflows a database integer.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Sorting:
    key: str
    descending: bool

    def toggled_for(self, key: str) -> str:
        """The `sort` argument a column header links to."""
        if key == self.key and not self.descending:
            return f"-{key}"
        return key


def search(stmt: Select[Any], text: str | None, *columns: SQLColumnExpression[Any]) -> Select[Any]:
    """Keep rows where any column contains the text, case-insensitively."""
    text = (text or "").strip()
    if not text:
        return stmt
    pattern = f"%{text.lower()}%"
    return stmt.where(or_(*(func.lower(c).like(pattern) for c in columns)))


def sort(
    stmt: Select[Any],
    columns: Mapping[str, SQLColumnExpression[Any]],
    default: str,
    argument: str | None = None,
) -> tuple[Select[Any], Sorting]:
    """Order by the column the `sort` argument names ("-name": descending; unknown: default)."""
    raw = argument if argument is not None else request.args.get("sort", default)
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in columns:
        key, descending = default.lstrip("-"), default.startswith("-")
    column = columns[key]
    # Empty values last either way, so SQLite and PostgreSQL list rows in the same order.
    order = column.desc() if descending else column.asc()
    return stmt.order_by(order.nulls_last()), Sorting(key, descending)


def paginate(stmt: Select[Any]) -> Pagination:
    """One page of results, from the `page` argument; an out-of-range page is empty, not a 404."""
    page = request.args.get("page", 1, type=int) or 1
    return db.paginate(
        stmt,
        page=min(max(page, 1), MAX_PAGE),
        per_page=current_app.config["PER_PAGE"],
        max_per_page=200,
        error_out=False,
    )


def _safe_cell(value: Any) -> Any:
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download, with cells a spreadsheet would run as formulas neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def wants_csv() -> bool:
    return request.args.get("format") == "csv"
