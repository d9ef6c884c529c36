"""Counting the SQL statements a piece of code sends (for tests that a page's work stays
constant whatever the registry's size)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from registry.extensions import db


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    """The statements sent on the app's engine inside the block, in order."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
