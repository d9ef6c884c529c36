"""A run's stored texts as codes and parameters, put in words in the reader's language.

A run is solved in the background, in no one's language: what it has to say
(why a school or service is left out, a lock's note, why the run failed) is
stored as ``{"code": ..., "params": {...}}`` and worded when a page or an
export shows it (`in_words`). Parameters hold data, never words: statuses,
indicator names and categories by their codes, numbers as numbers. Runs
stored before this kept plain English sentences; those are shown as stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _

from registry.vocabulary import INDICATOR_LABELS, PartnerStatus

Message = dict[str, Any]


def message(code: str, **params: Any) -> Message:
    """A text to store: its code and parameters (`code` must be one of `TEXTS`)."""
    if code not in TEXTS:
        raise KeyError(f"unknown scenario message: {code!r}")
    return {"code": code, "params": params}


def dumps(code: str, **params: Any) -> str:
    """A message as JSON, for a text column."""
    return json.dumps(message(code, **params), ensure_ascii=False)


def in_words(stored: Message | str | None) -> str:
    """A stored message in the current language; a plain text (older runs) as it is."""
    if not stored:
        return ""
    if isinstance(stored, str):
        if not stored.startswith("{"):
            return stored
        try:
            stored = json.loads(stored)
        except ValueError:
            return stored
        if not isinstance(stored, dict):
            return str(stored)
    wording = TEXTS.get(str(stored.get("code")))
    if wording is None:
        return str(stored.get("code", ""))
    return wording(stored.get("params") or {})


def _indicator(name: str) -> str:
    return str(INDICATOR_LABELS.get(name, name))


def _status(value: str) -> str:
    try:
        return str(PartnerStatus(value).label)
    except ValueError:
        return value


def _number(value: Any) -> str:
    return format_decimal(value, format="#,##0.######")


def _need(value: Any) -> str:
    return format_decimal(value, format="0.00")


# Each code and its wording: literal strings, so extraction sees every one.
TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "build_failed": lambda p: _("The problem could not be built: %(e)s", e=p.get("error", "")),
    "problem_invalid": lambda p: _("The problem file is not valid: %(e)s", e=p.get("error", "")),
    "run_timed_out": lambda p: _(
        "The worker stopped the run after its time limit; no result was kept."
    ),
    "run_crashed": lambda p: _("The solve stopped with an error: %(e)s", e=p.get("error", "")),
    "queue_unreachable": lambda p: _(
        "The job queue could not be reached; solving on the web server."
    ),
    "need_indicators_missing": lambda p: _(
        "No need index: indicators missing for the year (%(names)s).",
        names=", ".join(_indicator(n) for n in p.get("names", [])),
    ),
    "need_no_indicators": lambda p: _("No need index: no indicators for the year."),
    "need_below_threshold": lambda p: _(
        "Need %(need)s is below the threshold %(threshold)s.",
        need=_need(p["need"]),
        threshold=_need(p["threshold"]),
    ),
    "weight_zero": lambda p: _("Its weight is zero (no enrollment)."),
    "service_inactive": lambda p: _("The service is not active."),
    "partner_not_approved": lambda p: _(
        "The partner is not approved (%(status)s).", status=_status(p.get("status", ""))
    ),
    "lock_service_out_of_scope": lambda p: _(
        "Not kept: the service is out of scope (inactive, unapproved partner, not chosen)."
    ),
    "lock_school_not_taking_part": lambda p: _(
        "Not kept: the school does not take part. %(reason)s", reason=in_words(p.get("reason"))
    ),
    "lock_above_capacity": lambda p: _(
        "Not kept: %(amount)s committed is above the service's capacity of %(capacity)s.",
        amount=_number(p["amount"]),
        capacity=_number(p["capacity"]),
    ),
    "lock_made_eligible": lambda p: _(
        "Kept; the pair was made eligible although the service's grades or area rule "
        "excludes it, because an active MOU commits it."
    ),
    "limit_school_not_taking_part": lambda p: _(
        "Left out: the school does not take part in this scenario."
    ),
}
