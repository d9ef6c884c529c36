"""A run's stored texts as codes and parameters, put in words in the reader's language.

The engine's sentences (a school's `why`, a conflict) are worded here too,
from the clauses the engine gives beside its English (`allocation.explain`):
`engine_why` and `engine_conflict`.

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
from dataclasses import dataclass
from typing import Any

from babel.lists import format_list
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from registry import formats
from registry.vocabulary import INDICATOR_LABELS, Category, PartnerStatus, Unit

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
            parsed = json.loads(stored)
        except ValueError:
            return stored
        if not isinstance(parsed, dict):
            return stored
        stored = parsed
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
    return formats.number(value, digits=6, trim=True)


def _need(value: Any) -> str:
    return formats.number(value)


# Each code and its wording: literal strings, so extraction sees every one.
TEXTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "build_failed": lambda p: _("The problem could not be built: %(e)s", e=p.get("error", "")),
    "problem_invalid": lambda p: _("The problem file is not valid: %(e)s", e=p.get("error", "")),
    "run_timed_out": lambda p: _(
        "The worker stopped the run after its time limit; no result was kept."
    ),
    "run_crashed": lambda p: _("The solve stopped with an error: %(e)s", e=p.get("error", "")),
    "worker_lost": lambda p: _(
        "The background worker stopped answering: the run was still not finished long after "
        "its time limit, so it was marked failed. Run the scenario again; if this repeats, "
        "ask an administrator to check the scenario worker."
    ),
    "worker_stopped": lambda p: _(
        "The worker running this scenario stopped (it no longer answered), after %(n)s "
        "attempts, so the run was marked failed. Run the scenario again; if this repeats, "
        "ask an administrator to check the scenario workers.",
        n=p.get("attempts", 1),
    ),
    "worker_retried": lambda p: _(
        "The worker running this scenario stopped (it no longer answered); the run was "
        "queued again."
    ),
    "building": lambda p: _(
        "Building the problem. Schools: %(schools)s; services: %(services)s.",
        schools=_number(p.get("schools", 0)),
        services=_number(p.get("services", 0)),
    ),
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
    "lock_made_eligible_offering": lambda p: _(
        "Kept; the pair was made eligible although the service lists no offering at this "
        "school, because an active MOU commits it."
    ),
    "limit_school_not_taking_part": lambda p: _(
        "Left out: the school does not take part in this scenario."
    ),
    "service_no_capacity": lambda p: _(
        "Nothing bounds what it could give: it has no overall capacity, no site capacity at "
        "any school and is not counted in seats per student."
    ),
}


# --- the engine's sentences, from the clauses it gives beside them (allocation.explain) --------

LISTED_SERVICES = 3  # name at most this many services in one clause, as the engine does


@dataclass(frozen=True)
class Names:
    """How a run names its schools, services and categories (from its report)."""

    schools: dict[str, str]
    services: dict[str, str]

    def school(self, key: str) -> str:
        return self.schools.get(key, key)

    def service(self, key: str) -> str:
        return self.services.get(key, key)


def _category(key: str) -> str:
    # The registry category's name: the unit is said with each amount.
    try:
        return str(Category(key.partition(":")[0]).label)
    except ValueError:
        return key


# Units the engine says in the singular for exactly 1 (allocation.explain.UNIT_SINGULAR).
_SINGULAR_UNITS = {"seats", "hours", "dollars", "sessions", "slots", "units"}


def _unit(unit: str, value: Any = None) -> str:
    """The unit's name for people; singular when `value` is exactly 1, as the engine says it."""
    if value is not None and round(float(value), 6) == 1:
        singular = {
            "seats": _("seat"),
            "hours": _("hour"),
            "dollars": _("dollar"),
            "units": _("unit"),
        }.get(unit)
        if singular is not None:
            return singular
        return unit[:-1] if unit.lower() in _SINGULAR_UNITS else unit
    try:
        return str(Unit(unit).label).lower()
    except ValueError:
        return unit


def _amount(value: Any, unit: str) -> str:
    return f"{_number(value)} {_unit(unit, value)}"


def _listed(names: list[str]) -> str:
    if len(names) > LISTED_SERVICES:
        more = _("%(n)s more", n=len(names) - LISTED_SERVICES)
        names = [*names[:LISTED_SERVICES], more]
    return format_list(names, locale=str(get_locale() or "en"))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _why_clause(code: str, p: dict[str, Any], names: Names) -> str | None:
    unit = p.get("unit", "")
    if code == "locks_fix":
        return _(
            "locks fix what it gets from %(services)s",
            services=_listed([names.service(s) for s in p["services"]]),
        )
    if code == "capped":
        return _(
            "%(service)s is capped at %(amount)s per school",
            service=names.service(p["service"]),
            amount=_amount(p["amount"], unit),
        )
    if code in ("site", "groups"):
        return _note({"code": code, **p}, names)
    if code == "cohort":
        return _(
            "%(service)s needs a cohort of at least %(amount)s, more than it has left",
            service=names.service(p["service"]),
            amount=_amount(p["amount"], unit),
        )
    if code == "full":
        return ngettext(
            "%(services)s has no capacity left",
            "%(services)s have no capacity left",
            len(p["services"]),
            services=_listed([names.service(s) for s in p["services"]]),
        )
    if code == "needed_elsewhere":
        return _(
            "the rest of its eligible %(category)s capacity is needed to keep other schools' "
            "locks, limits or cohorts",
            category=_category(p["category"]),
        )
    return None


def _note(note: dict[str, Any], names: Names) -> str:
    """A service's rule that makes a conflict or a shortfall bite (a conflict's `notes`)."""
    code, unit = note.get("code"), note.get("unit", "")
    if code == "groups":
        return _(
            "%(service)s runs only in groups of at least %(amount)s",
            service=names.service(note["service"]),
            amount=_amount(note["amount"], unit),
        )
    if code == "site":
        return _(
            "%(school)s's own site capacity for %(service)s is %(amount)s",
            school=names.school(note["school"]),
            service=names.service(note["service"]),
            amount=_amount(note["amount"], unit),
        )
    return _(
        "%(service)s is capped at %(amount)s per school",
        service=names.service(note["service"]),
        amount=_amount(note["amount"], unit),
    )


def _notes(p: dict[str, Any], names: Names) -> str:
    """A conflict's notes as the sentence that follows it ("" when it has none)."""
    notes = p.get("notes") or []
    if not notes:
        return ""
    return " " + _sentence("; ".join(_note(note, names) for note in notes)) + "."


def _party(party: dict[str, Any], here: str | None, names: Names) -> str:
    """Another lock or limit a conflict involves; `here`: the school whose limits are "its"."""
    amount = _amount(party["amount"], party.get("unit", ""))
    if party.get("kind") == "lock":
        return _(
            "the lock of %(amount)s of %(service)s at %(school)s",
            amount=amount,
            service=names.service(party["service"]),
            school=names.school(party["school"]),
        )
    own = party["school"] == here
    if party.get("kind") == "limit_min":
        if own:
            return _("its limit of at least %(amount)s", amount=amount)
        return _(
            "%(school)s's limit of at least %(amount)s",
            school=names.school(party["school"]),
            amount=amount,
        )
    if own:
        return _("its limit of at most %(amount)s", amount=amount)
    return _(
        "%(school)s's limit of at most %(amount)s",
        school=names.school(party["school"]),
        amount=amount,
    )


def _parties(p: dict[str, Any], here: str | None, names: Names) -> str:
    return format_list(
        [_party(party, here, names) for party in p["parties"]], locale=str(get_locale() or "en")
    )


def engine_why(clauses: list[dict[str, Any]], names: Names) -> str | None:
    """The engine's `why` of a school row, worded from its clauses; None if it has none."""
    if not clauses:
        return None
    first = clauses[0]
    if first["code"] == "no_solution":  # older runs only: a category is never left empty now
        return _("No allocation was found for this category within the time limit.")
    if first["code"] == "limit_at_most":
        p = first["params"]
        return _(
            "Its limit allows at most %(amount)s of %(category)s.",
            amount=_amount(p["amount"], p["unit"]),
            category=_category(p["category"]),
        )
    parts = [_why_clause(c["code"], c.get("params") or {}, names) for c in clauses]
    if any(part is None for part in parts):
        return None  # a code this registry does not know: the engine's own sentence
    return _sentence("; ".join(part for part in parts if part)) + "."


def engine_conflict(clause: dict[str, Any], names: Names) -> str | None:
    """An engine conflict worded from its clause; None for a code this registry doesn't know."""
    code, p = clause.get("code"), clause.get("params") or {}
    unit = p.get("unit", "")
    school = names.school(p.get("school", ""))
    service = names.service(p.get("service", ""))
    category = _category(p.get("category", ""))

    def amount(key: str) -> str:
        return _amount(p[key], unit)

    if code == "lock_twice":
        return _(
            "%(service)s at %(school)s is locked more than once with different amounts "
            "(%(amounts)s).",
            service=service,
            school=school,
            amounts=format_list(
                [_amount(a, unit) for a in p["amounts"]], locale=str(get_locale() or "en")
            ),
        )
    if code == "lock_above_max":
        return _(
            "The lock of %(amount)s of %(service)s at %(school)s is above that service's "
            "maximum of %(max)s per school.",
            amount=amount("amount"),
            service=service,
            school=school,
            max=amount("max"),
        )
    if code == "lock_above_site_max":
        return _(
            "The lock of %(amount)s of %(service)s at %(school)s is above that service's own "
            "site capacity of %(max)s there.",
            amount=amount("amount"),
            service=service,
            school=school,
            max=amount("max"),
        )
    if code == "lock_below_cohort":
        return _(
            "The lock of %(amount)s of %(service)s at %(school)s is below that service's "
            "minimum cohort of %(min)s; it must be 0 or at least that.",
            amount=amount("amount"),
            service=service,
            school=school,
            min=amount("min"),
        )
    if code == "lock_not_whole":
        return _(
            "The lock of %(amount)s of %(service)s at %(school)s is not a whole number, but "
            "%(service)s comes in whole %(unit)s.",
            amount=amount("amount"),
            service=service,
            school=school,
            unit=_unit(unit),
        )
    if code == "locks_over_capacity":
        return _(
            "Locks commit %(total)s of %(service)s (%(locks)s), but it has only %(capacity)s.",
            total=amount("total"),
            service=service,
            locks=", ".join(f"{names.school(s)} {_number(a)}" for s, a in p["locks"]),
            capacity=amount("capacity"),
        )
    if code == "limits_contradict":
        return _(
            "%(school)s needs at least %(min)s of %(category)s (limit), but another limit "
            "allows at most %(max)s.",
            school=school,
            min=amount("min"),
            category=category,
            max=amount("max"),
        )
    if code == "locks_over_limit":
        return _(
            "Locks give %(school)s %(locked)s of %(category)s, but its limit allows at most "
            "%(max)s.",
            school=school,
            locked=amount("locked"),
            category=category,
            max=amount("max"),
        )
    if code == "limit_unreachable":
        return _limit_unreachable(p, school, amount, category) + _notes(p, names)
    if code in ("lock_cannot_hold", "limit_short", "limit_excess"):
        if "parties" not in p:
            return None  # a run stored before conflicts named their parties: its own English
        return _elastic(code, p, names, amount, school, service) + _notes(p, names)
    if code == "unexplained":
        return _(
            "The locks and limits of %(category)s cannot all hold together.", category=category
        )
    return None


def _limit_unreachable(
    p: dict[str, Any], school: str, amount: Callable[[str], str], category: str
) -> str:
    values = {"school": school, "min": amount("min"), "category": category}
    if p.get("why") == "no_service":
        return _(
            "%(school)s needs at least %(min)s of %(category)s (limit), but no %(category)s "
            "service is eligible there.",
            **values,
        )
    if p.get("why") == "nothing":
        return _(
            "%(school)s needs at least %(min)s of %(category)s (limit), but its eligible "
            "%(category)s services can give it nothing.",
            **values,
        )
    if p.get("with_locks"):
        return _(
            "%(school)s needs at least %(min)s of %(category)s (limit), but its eligible "
            "%(category)s services offer %(reach)s in all once the locks are kept.",
            reach=amount("reach"),
            **values,
        )
    return _(
        "%(school)s needs at least %(min)s of %(category)s (limit), but its eligible "
        "%(category)s services offer %(reach)s in all.",
        reach=amount("reach"),
        **values,
    )


def _elastic(
    code: str,
    p: dict[str, Any],
    names: Names,
    amount: Callable[[str], str],
    school: str,
    service: str,
) -> str:
    """A lock or limit the elastic model found in conflict, with every other party named."""
    if code == "lock_cannot_hold":
        if p["parties"]:
            return _(
                "The lock of %(amount)s of %(service)s at %(school)s cannot be kept together "
                "with %(parties)s; it would have to change by %(change)s.",
                amount=amount("amount"),
                service=service,
                school=school,
                parties=_parties(p, None, names),
                change=amount("change"),
            )
        return _(
            "The lock of %(amount)s of %(service)s at %(school)s cannot be kept; it would "
            "have to change by %(change)s.",
            amount=amount("amount"),
            service=service,
            school=school,
            change=amount("change"),
        )
    category = _category(p.get("category", ""))
    if code == "limit_short":
        if p["parties"]:
            return _(
                "%(school)s needs at least %(min)s of %(category)s (limit), but it falls "
                "%(short)s short with %(parties)s kept.",
                school=school,
                min=amount("min"),
                category=category,
                short=amount("short"),
                parties=_parties(p, p.get("school"), names),
            )
        return _(
            "%(school)s needs at least %(min)s of %(category)s (limit), but it falls "
            "%(short)s short.",
            school=school,
            min=amount("min"),
            category=category,
            short=amount("short"),
        )
    if p["parties"]:
        return _(
            "%(school)s may get at most %(max)s of %(category)s (limit), but it would get "
            "%(excess)s more with %(parties)s kept.",
            school=school,
            max=amount("max"),
            category=category,
            excess=amount("excess"),
            parties=_parties(p, p.get("school"), names),
        )
    return _(
        "%(school)s may get at most %(max)s of %(category)s (limit), but it would get "
        "%(excess)s more.",
        school=school,
        max=amount("max"),
        category=category,
        excess=amount("excess"),
    )
