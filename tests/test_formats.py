"""Numbers and dates follow the reader's locale; times are shown in the district's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask

from registry import formats
from registry.config import ConfigError

NBSP = "\xa0"


def in_locale(app: Flask, lang: str):
    return app.test_request_context(f"/?lang={lang}")


@pytest.mark.parametrize(
    "lang, whole, fraction, percent, signed",
    [
        ("en", "12,717", "1,234.50", "45.3%", "+4.0%"),
        ("es", "12.717", "1.234,50", f"45,3{NBSP}%", f"+4,0{NBSP}%"),
        ("pt", "12.717", "1.234,50", "45,3%", "+4,0%"),
    ],
)
def test_numbers_follow_the_locale(app, lang, whole, fraction, percent, signed):
    with in_locale(app, lang):
        assert formats.amount(12717) == whole
        assert formats.integer(Decimal("12717.4")) == whole
        assert formats.amount(Decimal("1234.5")) == fraction
        assert formats.pct(45.3) == percent
        assert formats.pct(4, signed=True) == signed


@pytest.mark.parametrize("lang, expected", [("en", "25%"), ("es", f"25{NBSP}%"), ("pt", "25%")])
def test_a_share_is_a_fraction_shown_as_a_percentage(app, lang, expected):
    with in_locale(app, lang):
        assert formats.share(0.25) == expected


@pytest.mark.parametrize("lang, expected", [("en", "0.53"), ("es", "0,53"), ("pt", "0,53")])
def test_a_measure_keeps_its_decimals(app, lang, expected):
    with in_locale(app, lang):
        assert formats.number(Decimal("0.5312")) == expected
        assert formats.number(0.1234, digits=3, signed=True).startswith("+0")


@pytest.mark.parametrize(
    "lang, expected",
    [("en", "Mar 5, 2026"), ("es", "5 mar 2026"), ("pt", "5 de mar. de 2026")],
)
def test_dates_follow_the_locale(app, lang, expected):
    with in_locale(app, lang):
        assert formats.date(date(2026, 3, 5)) == expected


@pytest.mark.parametrize(
    "lang, expected",
    [
        ("en", "Mar 5, 2026, 9:30\u202fAM"),
        ("es", "5 mar 2026, 9:30"),
        ("pt", "5 de mar. de 2026 09:30"),
    ],
)
def test_a_stored_utc_time_is_shown_in_new_york_time(app, lang, expected):
    with in_locale(app, lang):
        assert formats.datetime(datetime(2026, 3, 5, 14, 30, tzinfo=UTC)) == expected


def test_a_time_just_after_midnight_utc_is_the_day_before_in_new_york(app):
    with in_locale(app, "en"):
        assert formats.date(datetime(2026, 7, 1, 2, 0, tzinfo=UTC)) == "Jun 30, 2026"
        assert formats.datetime(datetime(2026, 7, 1, 2, 0, tzinfo=UTC)).endswith("10:00\u202fPM")


@pytest.mark.parametrize("app_config", [{"DISTRICT_TIMEZONE": "America/Los_Angeles"}])
def test_the_district_time_zone_is_configured(app):
    assert app.config["BABEL_DEFAULT_TIMEZONE"] == "America/Los_Angeles"
    with in_locale(app, "en"):
        assert formats.datetime(datetime(2026, 3, 5, 14, 30, tzinfo=UTC)).endswith("6:30\u202fAM")


def test_an_unknown_time_zone_stops_the_app_at_start(test_database):
    from tests.conftest import make_app

    with pytest.raises(ConfigError, match="DISTRICT_TIMEZONE"):
        make_app(test_database.url, DISTRICT_TIMEZONE="Mars/Olympus_Mons")


def test_nothing_to_show_is_an_empty_string(app):
    with in_locale(app, "es"):
        assert [formats.FILTERS[name](None) for name in formats.FILTERS] == [""] * len(
            formats.FILTERS
        )
