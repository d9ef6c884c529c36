"""Numbers and dates follow the reader's locale; times are shown in the district's zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import refresh

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
        assert formats.amount(12716.999999998) == whole  # a solver's float noise is not cents
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


# ---- the same pages in English, Spanish and Portuguese -----------------------------------


def _page(client, url: str) -> str:
    # Flask-Babel caches the locale on `g`, which the app fixture's context shares between
    # requests: forget the sign-in request's, as a new request on a server would.
    refresh()
    # Collapse the markup's own white space, not the no-break spaces the locales use.
    return re.sub(r"[ \t\r\n]+", " ", client.get(url).get_data(as_text=True))


@pytest.mark.parametrize(
    "lang, enrollment, percent",
    [("en", "12,717", "45.3%"), ("es", "12.717", f"45,3{NBSP}%"), ("pt", "12.717", "45,3%")],
)
def test_a_school_page_shows_numbers_the_readers_way(
    client, login, make_school, lang, enrollment, percent
):
    school = make_school(enrollment=12717, indicators={"pct_high_needs": Decimal("45.3")})
    login("coordinator")
    page = _page(client, f"/schools/{school.id}?lang={lang}")
    assert f"<dd>{enrollment}</dd>" in page
    assert f'<td class="num">{percent}</td>' in page
    assert "12,717" not in page or lang == "en"


@pytest.mark.parametrize(
    "lang, amount, start, audited",
    [
        ("en", "12,717", "Sep 1, 2025", "Jan 15, 2026, 12:05\u202fPM"),
        ("es", "12.717", "1 sept 2025", "15 ene 2026, 12:05"),
        ("pt", "12.717", "1 de set. de 2025", "15 de jan. de 2026 12:05"),
    ],
)
def test_an_mou_page_shows_amounts_dates_and_new_york_times_the_readers_way(
    client, login, make_mou, make_service, make_school, lang, amount, start, audited
):
    from registry.extensions import db
    from registry.models import AuditEntry

    service = make_service(capacity=Decimal(20000))
    school = make_school()
    mou = make_mou(
        partner=service.partner, schools=[school], commitments=[(service, school, 12717)]
    )
    # 17:05 UTC is 12:05 in New York in January (EST, UTC-5).
    db.session.add(
        AuditEntry(
            at=datetime(2026, 1, 15, 17, 5, tzinfo=UTC),
            user_email="someone@district.example",
            action="update",
            entity="mou",
            entity_id=mou.id,
            before={"notes": ""},
            after={"notes": "Checked"},
        )
    )
    db.session.commit()
    login("coordinator")
    page = _page(client, f"/mous/{mou.id}?lang={lang}")
    assert f'<td class="num">{amount} ' in page
    assert start in page
    assert f"<td>{audited}</td>" in page
    with client.application.test_request_context(f"/?lang={lang}"):
        assert formats.time_zone_name() in page  # the column says which zone
    assert "17:05" not in page and "5:05" not in page


@pytest.mark.parametrize("name", ["amount", "integer", "number", "pct", "share", "dollars"])
def test_a_number_that_is_not_one_shows_as_a_dash_never_nan(app, name):
    with in_locale(app, "es"):
        assert formats.FILTERS[name](float("nan")) == "—"
        assert formats.FILTERS[name](float("inf")) == "—"


@pytest.mark.parametrize(
    "lang, whole, cents",
    [
        ("en", "$12,717", "$12,717.50"),
        ("es", f"12.717{NBSP}US$", f"12.717,50{NBSP}US$"),
        ("pt", f"US${NBSP}12.717", f"US${NBSP}12.717,50"),
    ],
)
def test_dollars_follow_the_locale(app, lang, whole, cents):
    with in_locale(app, lang):
        assert formats.dollars(Decimal("12717.00")) == whole
        assert formats.dollars(Decimal("12717.5")) == cents


def test_a_float_is_shown_to_its_decimals_never_with_its_binary_noise(app):
    with in_locale(app, "en"):
        assert formats.amount(5600.000000001) == "5,600"  # whole to the cent shown
        assert formats.amount(5600.004) == "5,600"
        assert formats.amount(5600.006) == "5,600.01"
        assert formats.number(0.1 + 0.2, 3) == "0.300"


@pytest.mark.parametrize(
    "lang, zone", [("en", "Eastern Time"), ("es", "hora oriental"), ("pt", "Horário do Leste")]
)
def test_the_district_time_zone_is_named_in_the_readers_words(app, lang, zone):
    with in_locale(app, lang):
        assert formats.time_zone_name() == zone


@pytest.mark.parametrize(
    "lang, seats, one_hour, fraction, dollars, whole_dollars",
    [
        ("en", "79 seats", "1 hour", "24.75 hours", "$4,664.84", "$19,852.00"),
        ("es", "79 cupos", "1 hora", "24,75 horas", f"4.664,84{NBSP}US$", f"19.852,00{NBSP}US$"),
        ("pt", "79 vagas", "1 hora", "24,75 horas", f"US${NBSP}4.664,84", f"US${NBSP}19.852,00"),
    ],
)
def test_a_quantity_says_its_unit_whole_seats_whole_and_dollars_to_the_cent(
    app, lang, seats, one_hour, fraction, dollars, whole_dollars
):
    with in_locale(app, lang):
        assert formats.quantity(79, "seats") == seats
        assert formats.quantity(79.0000000001, "seats") == seats  # a solver's noise is no fraction
        assert formats.quantity(1, "hours") == one_hour
        assert formats.quantity(24.75, "hours") == fraction
        # Dollars side by side read alike: both to the cent, never "4,664.84 of 19,852".
        assert formats.quantity(4664.84, "dollars") == dollars
        assert formats.quantity(19852, "dollars") == whole_dollars
        assert formats.in_unit(19852, "dollars") == whole_dollars
        assert formats.dollars(19852, cents=True) == whole_dollars


def test_a_quantity_in_a_unit_the_registry_does_not_know_is_the_bare_amount(app):
    with in_locale(app, "en"):
        assert formats.quantity(3.5, "") == "3.50"
        assert formats.in_unit(1416, "seats") == "1,416"
        assert formats.in_unit(86.83, "seats") == "86.83"


def test_a_rate_keeps_a_few_significant_digits_however_small(app):
    with in_locale(app, "en"):
        assert formats.quantity(3.7178, "seats", figures=3) == "3.72 seats"
        assert formats.quantity(0.0418, "hours", figures=3) == "0.0418 hours"
        assert formats.quantity(0.000012345, "seats", figures=3) == "0.0000123 seats"
        assert formats.quantity(9.9996, "seats", figures=3) == "10 seats"
        assert formats.quantity(4.3336, "dollars", figures=3) == "$4.33"
        assert formats.quantity(0.0418, "dollars", figures=3) == "$0.0418"
        assert formats.quantity(1, "hours", figures=3) == "1 hour"
    with in_locale(app, "es"):
        refresh()  # the app's context outlives the request: forget the English chosen above
        assert formats.quantity(0.0898, "seats", figures=3) == "0,0898 cupos"
