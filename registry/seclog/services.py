"""The security-event list: filters shared by the admin page and its CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select

from registry import district_time
from registry.exports import neutralised
from registry.extensions import db
from registry.models import SecurityEvent

KINDS = (
    "login.success",
    "login.failure",
    "login.locked",
    "logout",
    "mfa.enrolled",
    "mfa.used",
    "password.changed",
    "password.reset",
    "access.refused",
    "csrf.failure",
    "user.role_changed",
    "user.partner_changed",
    "export",
    "document.download",
)

CSV_HEADER = ("id", "at_utc", "kind", "user_id", "email", "ip", "path", "details", "chain_hash")


@dataclass(frozen=True)
class EventFilter:
    """What the admin asked for: a kind, part of an email, and days in the district's zone."""

    kind: str = ""
    email: str = ""
    first: date | None = None
    last: date | None = None


def _day_start(day: date) -> datetime:
    """Midnight starting a day in the district's zone (dates are the district's days)."""
    return datetime.combine(day, time.min, tzinfo=district_time.zone())


def filtered(chosen: EventFilter) -> Select[Any]:
    """The events matching the filter, newest first."""
    stmt = select(SecurityEvent)
    if chosen.kind:
        stmt = stmt.where(SecurityEvent.kind == chosen.kind)
    if chosen.email.strip():
        pattern = f"%{chosen.email.strip().lower()}%"
        stmt = stmt.where(func.lower(SecurityEvent.email).like(pattern))
    if chosen.first is not None:
        stmt = stmt.where(SecurityEvent.at >= _day_start(chosen.first))
    if chosen.last is not None:
        stmt = stmt.where(SecurityEvent.at < _day_start(chosen.last + timedelta(days=1)))
    return stmt.order_by(SecurityEvent.id.desc())


def _line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def csv_lines(chosen: EventFilter) -> Iterator[str]:
    """The filtered events as CSV, a line at a time (read in batches: the table grows)."""
    yield "\ufeff" + _line(list(CSV_HEADER))
    stmt = filtered(chosen).execution_options(yield_per=500)
    with db.session.scalars(stmt) as events:  # closed even if the download stops early
        for event in events:
            yield _line(
                [
                    event.id,
                    event.at.isoformat(),
                    event.kind,
                    "" if event.user_id is None else event.user_id,
                    neutralised(event.email),
                    event.ip,
                    neutralised(event.path),
                    neutralised(json.dumps(event.details, ensure_ascii=False, sort_keys=True)),
                    event.chain_hash or "",
                ]
            )
