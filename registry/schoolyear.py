"""School years: July 1 to June 30, named like "2025-26"."""

from __future__ import annotations

import re
from datetime import date

# The first month of a school year (July).
FIRST_MONTH = 7

_NAME = re.compile(r"^(\d{4})-(\d{2})$")


def school_year_of(day: date) -> str:
    """The school year a day falls in: 2026-11-24 → "2026-27", 2026-06-30 → "2025-26"."""
    start = day.year if day.month >= FIRST_MONTH else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def year_bounds(school_year: str) -> tuple[date, date]:
    """The first and last day of a school year ("2025-26" → 2025-07-01, 2026-06-30).

    Raises ValueError for a name that is not a school year.
    """
    match = _NAME.match(school_year or "")
    if not match:
        raise ValueError(f"not a school year: {school_year!r}")
    start = int(match.group(1))
    if int(match.group(2)) != (start + 1) % 100:
        raise ValueError(f"not a school year: {school_year!r}")
    return date(start, FIRST_MONTH, 1), date(start + 1, FIRST_MONTH - 1, 30)


def previous_year(school_year: str) -> str:
    """The school year before the one named ("2025-26" → "2024-25")."""
    first, _ = year_bounds(school_year)
    return school_year_of(date(first.year - 1, FIRST_MONTH, 1))


def next_year(school_year: str) -> str:
    """The school year after the one named ("2025-26" → "2026-27")."""
    first, _ = year_bounds(school_year)
    return school_year_of(date(first.year + 1, FIRST_MONTH, 1))


def a_year_later(day: date) -> date:
    """The same day a year on (28 February for 29 February, which has no twin next year)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def is_school_year(text: str) -> bool:
    """Whether a string names a school year like "2025-26"."""
    try:
        year_bounds(text)
    except ValueError:
        return False
    return True
