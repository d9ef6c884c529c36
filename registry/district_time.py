"""The district's clock: its time zone (`DISTRICT_TIMEZONE`), and what day it is there.

Stored times are UTC. A server keeps UTC too, so from 7 or 8 pm in Boston the
server's own date is already tomorrow: every "today" the registry reasons with
(expiring MOUs, the current school year, compliance dates) is the district's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

from flask_babel import get_timezone

from registry.config import DEFAULT_DISTRICT_TIMEZONE


def zone() -> tzinfo:
    """The district's time zone (the configured one; the default outside an app)."""
    try:
        configured = get_timezone()
    except RuntimeError:  # no app: a script or a unit test
        configured = None
    return configured or ZoneInfo(DEFAULT_DISTRICT_TIMEZONE)


def in_zone(moment: datetime) -> datetime:
    """A stored time (UTC; a naive one is taken as UTC) moved into the district's zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone())


def today(now: datetime | None = None) -> date:
    """The date in the district now (or at `now`), whatever the server's own zone."""
    return in_zone(now or datetime.now(UTC)).date()
