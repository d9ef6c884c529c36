"""Every "today" is the district's date, not the server's (which keeps UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from registry import district_time
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent

# 02:00 UTC on 1 July is 22:00 on 30 June in Boston (EDT, UTC-4): still the old school year.
LATE_EVENING_IN_BOSTON = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def test_the_district_date_is_the_day_in_its_own_zone(app):
    assert district_time.today(LATE_EVENING_IN_BOSTON) == date(2026, 6, 30)
    assert district_time.today(datetime(2026, 7, 1, 4, 0, tzinfo=UTC)) == date(2026, 7, 1)


def test_the_configured_zone_decides(test_database):
    honolulu = make_app(test_database.url, DISTRICT_TIMEZONE="Pacific/Honolulu")  # UTC-10
    with honolulu.app_context():
        assert district_time.today(datetime(2026, 7, 1, 9, 0, tzinfo=UTC)) == date(2026, 6, 30)


def test_a_stored_naive_time_is_taken_as_utc(app):
    assert district_time.in_zone(datetime(2026, 1, 5, 17, 5)).hour == 12  # EST, UTC-5


@pytest.mark.nodb
def test_no_code_asks_the_server_for_its_own_date():
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        # The tests too: their "today" must be the one the registry reasons with, or they
        # fail on a UTC machine between midnight UTC and midnight in Boston.
        for folder in ("registry", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\b(date\.today|datetime\.(now|today|utcnow))\(\s*\)", line)
    ]
    assert not found, f"use registry.district_time.today(): {found}"
