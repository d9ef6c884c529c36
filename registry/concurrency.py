"""Optimistic locking: an edit made against an older version is refused, never merged."""

from __future__ import annotations

from typing import Any


class StaleEdit(Exception):
    """Someone else saved the record after this form was opened."""

    def __init__(self, obj: Any) -> None:
        super().__init__(
            f"{type(obj).__name__} {getattr(obj, 'id', '')} changed since it was opened"
        )
        self.obj = obj


def check_version(obj: Any, submitted: int | str | None) -> None:
    """Refuse an edit whose form carried a version other than the record's current one."""
    try:
        version = int(submitted) if submitted is not None else None
    except (TypeError, ValueError):
        version = None
    if version != obj.version:
        raise StaleEdit(obj)
