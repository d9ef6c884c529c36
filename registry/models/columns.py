"""Column types shared by the models: enums stored as their values, UTC timestamps."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, TypeDecorator
from sqlalchemy.engine import Dialect


def enum_column(enum_cls: type[enum.Enum]) -> Enum:
    """Store an enum as its value in a VARCHAR (no native type: migrations stay portable)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=40,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
