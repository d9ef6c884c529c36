"""Record lists: search, sort and paginate, the same way on every page (downloads: exports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, SQLColumnExpression, func, or_

from registry.extensions import db

# Far past any real list, and small enough that page × size never overflows a database integer.
MAX_PAGE = 1_000_000

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows fill, `per_page` a page (one, empty, for none)."""
    return max(1, -(-total // per_page))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list made outside Flask-SQLAlchemy, shaped like its pagination."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def first(self) -> int:
        """The position of the page's first item (1-based), for "21–40 of 57"."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0


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
    """One page of results, from the `page` argument; a page past the end (an old link, a
    typed number) is the last page, not a 404 nor an empty page that says nothing matches."""
    page = request.args.get("page", 1, type=int) or 1

    def page_of(number: int) -> Pagination:
        return db.paginate(
            stmt,
            page=number,
            per_page=current_app.config["PER_PAGE"],
            max_per_page=200,
            error_out=False,
        )

    found = page_of(min(max(page, 1), MAX_PAGE))
    if not found.items and found.page > 1 and found.total:
        found = page_of(found.pages)  # past the end: one more query, only then
    return found
