"""How numbers and dates are shown: in the reader's locale, times in the district's zone.

One place for every number or date a page SHOWS (templates through the filters
registered by `init_app`, Python code that builds sentences or charts by calling
these functions). Exports and the `value=` of form inputs stay machine-readable
and do not come here. Stored times are UTC; they are shown in the district's time
zone (`DISTRICT_TIMEZONE`, Flask-Babel's `BABEL_DEFAULT_TIMEZONE`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date as Date
from datetime import datetime as DateTime
from decimal import Decimal
from functools import wraps
from typing import Concatenate, ParamSpec

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_timezone_name
from babel.numbers import format_currency as babel_format_currency
from babel.numbers import format_decimal as babel_format_decimal
from flask import Flask
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from registry import district_time
from registry.vocabulary import Unit

Number = int | float | Decimal

FALLBACK_LOCALE = Locale("en")


def _locale() -> Locale:
    # Outside a request and an app context (a script, a test of a chart) the default is English.
    try:
        return get_locale() or FALLBACK_LOCALE
    except RuntimeError:
        return FALLBACK_LOCALE


def _pattern(integer: str, digits: int, signed: bool, trim: bool = False) -> str:
    pattern = integer + ("." + ("#" if trim else "0") * digits if digits > 0 else "")
    return f"+{pattern};-{pattern}" if signed else pattern


# What a page shows for a number that is not one (NaN, infinity): never "nan".
NOT_A_NUMBER = "—"


def _decimal(value: Number) -> Decimal | None:
    """The value as an exact Decimal (floats by their shortest repr), or None if not finite."""
    exact = Decimal(str(value))
    return exact if exact.is_finite() else None


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


P = ParamSpec("P")


def _shown(
    show: Callable[Concatenate[Decimal, P], str],
) -> Callable[Concatenate[Number | None, P], str]:
    """Show a number that may be missing ("") or not a number ("—") with `show`."""

    @wraps(show)
    def shown(value: Number | None, /, *args: P.args, **kwargs: P.kwargs) -> str:
        if value is None:
            return ""
        exact = _decimal(value)
        return NOT_A_NUMBER if exact is None else show(exact, *args, **kwargs)

    return shown


@_shown
def integer(exact: Decimal) -> str:
    """A whole number with the locale's grouping: 12,717 (en), 12.717 (es, pt)."""
    return babel_format_decimal(round(exact), format="#,##0", locale=_locale())


@_shown
def amount(exact: Decimal) -> str:
    """A quantity (seats, hours, dollars): no decimals when whole, else two: 1,234.50 / 1.234,50.

    Whole means whole to the cent shown: a solver's 5600.000000001 is 5,600, not 5,600.00.
    """
    shown = exact.quantize(Decimal("0.01"))
    digits = 0 if _is_whole(shown) else 2
    return babel_format_decimal(shown, format=_pattern("#,##0", digits, False), locale=_locale())


@_shown
def dollars(exact: Decimal, cents: bool = False) -> str:
    """US dollars the locale's way: $12,717 / 12.717 US$ / US$ 12.717 (cents only if any).

    With `cents`, always to the cent ($12,717.00), so that amounts side by side read alike.
    """
    shown = exact.quantize(Decimal("0.01"))
    return _dollars(shown, 2 if cents or not _is_whole(shown) else 0)


def _dollars(exact: Decimal, digits: int) -> str:
    locale = _locale()
    pattern = str(locale.currency_formats["standard"].pattern)
    pattern = pattern.replace("0.00", "0" + ("." + "0" * digits if digits else ""))
    return babel_format_currency(exact, "USD", format=pattern, locale=locale, currency_digits=False)


# The units a registry service counts in, as stored (read once: an enum's value is slow to
# read for every row of a table).
SEATS, HOURS, DOLLARS = Unit.SEATS.value, Unit.HOURS.value, Unit.DOLLARS.value


@_shown
def in_unit(exact: Decimal, unit: str) -> str:
    """An amount in a column that names its unit: dollars to the cent ($4,664.84, $19,852.00),
    seats and hours as `amount` (whole seats without decimals)."""
    return dollars(exact, cents=True) if unit == DOLLARS else amount(exact)


@_shown
def quantity(exact: Decimal, unit: str, figures: int | None = None) -> str:
    """An amount with its unit in words: 79 seats, 24.75 hours, $5,451.69 (a unit the
    registry does not know, or none: the bare amount).

    With `figures`, a rate to that many significant digits (0.0418 seats, $4.33) rather
    than an amount to the cent.
    """
    if figures is not None:
        rounded = _to_figures(exact, figures)
        if unit == DOLLARS:
            return _dollars(rounded, max(2, _decimals(rounded, figures)))
        shown = number(rounded, _decimals(rounded, figures), trim=True)
    elif unit == DOLLARS:
        return dollars(exact, cents=True)
    else:
        rounded = exact.quantize(Decimal("0.01"))
        shown = amount(exact)
    # A whole amount chooses its plural form by its number; a fraction takes the plural.
    count = int(rounded) if _is_whole(rounded) and abs(rounded) < 10**9 else 2
    if unit == SEATS:
        return ngettext("%(amount)s seat", "%(amount)s seats", count, amount=shown)
    if unit == HOURS:
        return ngettext("%(amount)s hour", "%(amount)s hours", count, amount=shown)
    return shown


def _decimals(exact: Decimal, figures: int) -> int:
    """How many decimals show `figures` significant digits of the value (none for 0)."""
    return 0 if exact == 0 else max(0, figures - 1 - exact.adjusted())


def _to_figures(exact: Decimal, figures: int) -> Decimal:
    rounded = exact.quantize(Decimal(1).scaleb(-_decimals(exact, figures)))
    # Rounding up may add a digit (9.996 is 10.0): round again at the new magnitude.
    return rounded.quantize(Decimal(1).scaleb(-_decimals(rounded, figures)))


@_shown
def number(exact: Decimal, digits: int = 2, signed: bool = False, trim: bool = False) -> str:
    """A measure to a fixed number of decimals (a need index, a ratio): 0.53 / 0,53.

    With `trim`, at most that many: trailing zeros go (0.25, not 0.250).
    """
    return babel_format_decimal(
        exact, format=_pattern("#,##0", digits, signed, trim), locale=_locale()
    )


@_shown
def pct(exact: Decimal, digits: int = 1, signed: bool = False) -> str:
    """A value in percentage points (45.3 is 45.3 %), with the locale's percent sign and spacing."""
    locale = _locale()
    # The locale's percent pattern ("#,##0%" in en, "#,##0 %" in es) with the decimals asked for.
    positive = str(locale.percent_formats[None].pattern).split(";")[0]
    body = _with_decimals(positive, digits)
    pattern = f"+{body};-{body}" if signed else body
    # Babel's percent patterns scale by 100; this value is already in points.
    return babel_format_decimal(exact / 100, format=pattern, locale=locale)


def _with_decimals(positive: str, digits: int) -> str:
    """The locale's positive percent pattern with exactly `digits` decimals after its last 0."""
    last_zero = positive.rfind("0")
    decimals = "." + "0" * digits if digits > 0 else ""
    return positive[: last_zero + 1] + decimals + positive[last_zero + 1 :]


@_shown
def share(exact: Decimal, digits: int = 0, signed: bool = False) -> str:
    """A fraction shown as a percentage: 0.25 is 25 %."""
    return pct(exact * 100, digits, signed)


def date(value: Date | DateTime | None, form: str = "medium") -> str:
    """A calendar day in the locale's words: Mar 5, 2026 / 5 mar 2026 / 5 de mar. de 2026."""
    if value is None:
        return ""
    if isinstance(value, DateTime):
        value = district_time.in_zone(value).date()
    return babel_format_date(value, format=form, locale=_locale())


def datetime(value: DateTime | None) -> str:
    """A moment in the district's zone, to the minute: 14:30 UTC is shown Mar 5, 2026, 9:30 AM."""
    if value is None:
        return ""
    locale = _locale()
    local = district_time.in_zone(value)
    day = babel_format_date(local.date(), format="medium", locale=locale)
    time = babel_format_time(local, format="short", locale=locale)
    joined: str = locale.datetime_formats["medium"]
    return joined.replace("{1}", day).replace("{0}", time)


def actor(email: str | None) -> str:
    """Who made a recorded change, as a history table shows it: a person's email, or the
    registry itself in words (a command on its server, the scenario worker), never the
    internal name the record keeps for it ("cli", "scenario-worker"); nothing for None."""
    if email is None:
        return ""
    if "@" in email:
        return email
    if email == "cli" or email.startswith("cli:"):
        return _("The registry (a command run on its server)")
    if email == "scenario-worker":
        return _("The registry (the scenario worker)")
    return _("The registry (no signed-in user)")


def time_zone_name() -> str:
    """The district's time zone in the reader's words: Eastern Time / hora oriental."""
    return str(get_timezone_name(district_time.zone(), locale=_locale()))


FILTERS: dict[str, Callable[..., str]] = {
    "amount": amount,
    "dollars": dollars,
    "in_unit": in_unit,
    "quantity": quantity,
    "integer": integer,
    "number": number,
    "pct": pct,
    "share": share,
    "date": date,
    "datetime": datetime,
    "actor": actor,
}


def init_app(app: Flask) -> None:
    """Register them as template filters: {{ n|amount }}, {{ day|date }}, {{ at|datetime }}."""
    for name, function in FILTERS.items():
        app.add_template_filter(function, name)
    app.add_template_global(time_zone_name, "district_time_zone")
