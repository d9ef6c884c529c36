"""The allocation problem as typed, frozen data, and its validation.

`load_problem` turns the JSON problem file of the spec (text, bytes or an
already-parsed dict) into a `Problem`; `check_problem` applies the same rules
(and the cross-references) to a `Problem` however it was built. Both raise
`ProblemError` whose message is one line naming the offending entry, e.g.
``services[3] (id "J4"): capacity must be a number >= 0, got -5``.

Ids are strings; school ids and service ids are separate name spaces. Locks
and limits may carry an optional string ``id`` which conflicts echo back.
An entry of a service's ``eligible`` is a school id or ``{"school": id, "max":
m}``, the per-site bound ``m_js`` (`Service.site_max`; ``"max"`` absent or null:
no bound of its own; any other key is invalid); a school appears at most once
in one ``eligible``, bare or not.

What is *invalid* (exit 2) and what is merely *infeasible* (exit 3): a file is
invalid when it is malformed or contradicts itself on its face (unknown or
duplicate ids, a school twice in one ``eligible``, negative or non-numeric
amounts, a weight that is not positive, a lock on a pair that is not eligible
or above its service's capacity, a limit whose min exceeds its max). Locks and
limits that are each well-formed but cannot hold together with the rest of
the problem (a lock above ``max_per_school`` or above a per-site ``max``,
below ``min_viable``, not a whole number on an integer service, two different
locks on one pair, a limit's min that cannot be reached, ...) make the problem
infeasible, and are explained as conflicts.

Numbers. Every number of the file (a weight, capacity, ``max_per_school``,
``min_viable``, per-site ``max``, lock amount, limit min and max, and
``options.time_limit_s``) must be finite and at most `MAX_NUMBER` (1e15): every
whole number up to it is exact in a float, and nothing a district counts
comes near it. For ``time_limit_s`` 1e15 s is thirty million years, i.e. no
limit in practice; no limit at all is said by leaving the key out (the
command line then uses 600 s, see `allocation.cli`). JSON booleans are not
numbers; ``null`` for an optional number means it is absent. Integers of any
length are read without error (an integer of more than 30 digits is not even
converted: it is far above the bound anyway), so a 400-digit capacity, which
``float()`` cannot hold, and a 5,000-digit one, which Python will not read from
text, are both one line naming their entry.

Strings. An *id* (of a school, service, lock or limit, a category, and every
school or service a service, lock or limit names) must be a string of
printable characters in the sense of `str.isprintable`: letters, marks,
digits, punctuation, symbols and the ASCII space, but no control, format,
surrogate, private-use or unassigned character and no other kind of space or
line break (what is unassigned follows the Unicode version of the Python
that runs); ids that are required are also not blank. Names, partners and
units are free text for people: anything that can be written as UTF-8 (no
lone surrogate such as ``"\\ud800"``, which no output could carry). Error
messages show a string as JSON, escaped to ASCII when it is not printable,
and cut at 60 characters, so that the message is always one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

OBJECTIVES = ("proportional", "maxmin")
DEFAULT_OBJECTIVE = "proportional"


class ProblemError(ValueError):
    """A problem that is not valid; the message is one line naming the offending entry."""


@dataclass(frozen=True)
class School:
    """A school with its positive weight (need-weighted enrollment by default)."""

    id: str
    weight: float
    name: str | None = None

    @property
    def label(self) -> str:
        """The school's name for people, falling back to its id."""
        return self.name or self.id


@dataclass(frozen=True)
class Service:
    """A partner's service in one category, with its capacity and eligible schools."""

    id: str
    category: str
    capacity: float
    eligible: tuple[str, ...]
    integer: bool = False
    max_per_school: float | None = None
    min_viable: float | None = None
    name: str | None = None
    partner: str | None = None
    unit: str | None = None
    # Per-site bounds m_js: (school id, max) for the entries of `eligible` given as
    # {"school": id, "max": m}; a school not listed here has no bound of its own.
    site_max: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        """The service's name for people, falling back to its id."""
        return self.name or self.id

    @cached_property
    def site_bounds(self) -> dict[str, float]:
        """The per-site bounds m_js by school id (empty when the file gives none)."""
        return dict(self.site_max)

    def upper_at(self, school: str) -> float:
        """u_js = min(C_j, m_j, m_js): the most this service can give `school` (before rounding)."""
        upper = self.capacity
        if self.max_per_school is not None:
            upper = min(upper, self.max_per_school)
        site = self.site_bounds.get(school)
        if site is not None:
            upper = min(upper, site)
        return upper


@dataclass(frozen=True)
class Lock:
    """A fixed amount of one service at one school: ``x_js = amount`` exactly."""

    service: str
    school: str
    amount: float
    id: str | None = None


@dataclass(frozen=True)
class Limit:
    """Bounds on what one school receives in one category; either side optional."""

    school: str
    category: str
    min: float | None = None
    max: float | None = None
    id: str | None = None


@dataclass(frozen=True)
class Options:
    """Solver options from the problem file."""

    time_limit_s: float | None = None


@dataclass(frozen=True)
class Problem:
    """A whole allocation problem; `objective` None means the default (proportional)."""

    schools: tuple[School, ...]
    services: tuple[Service, ...]
    locks: tuple[Lock, ...] = ()
    limits: tuple[Limit, ...] = ()
    objective: str | None = None
    options: Options = field(default_factory=Options)

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories offered by at least one service, sorted."""
        return tuple(sorted({service.category for service in self.services}))


# --- parsing -----------------------------------------------------------------


MAX_NUMBER = 1e15
"""The largest number a problem may hold (see the module's docstring)."""

_LONG_DIGITS = 30
_SHOWN_CHARS = 60


class _LongInteger:
    """An integer of the JSON text with more than `_LONG_DIGITS` digits, left as digits.

    Python refuses to read an integer of more than 4,300 digits from text, and
    reading one takes time quadratic in its length; such a number is far above
    `MAX_NUMBER` anyway, so the parser keeps only its sign and length."""

    def __init__(self, digits: str) -> None:
        self.negative = digits.startswith("-")
        self.length = len(digits.lstrip("-"))

    def __repr__(self) -> str:
        return _shown(self)


def _parse_int(digits: str) -> int | _LongInteger:
    if len(digits) > _LONG_DIGITS:
        return _LongInteger(digits)
    return int(digits)


def _is_number(value: object) -> bool:
    # JSON booleans arrive as Python bools, which are ints; they are not amounts.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_id(value: object) -> bool:
    """A string of printable characters (`str.isprintable`: no control, format or
    surrogate character, no space but the ASCII one)."""
    return isinstance(value, str) and value.isprintable()


def _id_rule(key: str, required: bool) -> str:
    kind = "a non-empty string" if required else "a string"
    return f"{key} must be {kind} of printable characters"


def _is_text(value: object) -> bool:
    """A string that can be written out (as UTF-8): no lone surrogate."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    """`value` as an error message shows it: short, on one line, never failing."""
    if isinstance(value, _LongInteger):
        sign = "a negative" if value.negative else "an"
        return f"{sign} integer of {value.length:,} digits"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) < 10**_LONG_DIGITS:
            return str(value)
        sign = "a negative" if value < 0 else "an"
        try:
            length = f"{len(str(abs(value))):,}"
        except ValueError:  # more digits than Python converts
            length = "more than 4,300"
        return f"{sign} integer of {length} digits"
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        cut = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…"
        return json.dumps(cut, ensure_ascii=not cut.isprintable())
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _amount_error(key: str, value: object, *, positive: bool = False) -> str | None:
    """Why `value` is not a valid number for `key` ("capacity must be ..."), or None."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, _LongInteger):
        if value.negative:
            return f"{key} must be a number {bound}, got {_shown(value)}"
        return f"{key} must be at most 1e15, got {_shown(value)}"
    if not _is_number(value):
        return f"{key} must be a number {bound}, got {_shown(value)}"
    assert isinstance(value, int | float)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{key} must be a finite number {bound}, got {_shown(value)}"
    if value < 0 or (positive and value == 0):
        return f"{key} must be a number {bound}, got {_shown(value)}"
    if value > MAX_NUMBER:
        return f"{key} must be at most 1e15, got {_shown(value)}"
    return None


def _where(kind: str, index: int, entry: object) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
        return f"{kind}[{index}] (id {_shown(entry['id'])})"
    return f"{kind}[{index}]"


def _number(
    where: str,
    entry: Mapping[str, Any],
    key: str,
    *,
    required: bool,
    positive: bool = False,
) -> float | None:
    if key not in entry or entry[key] is None:
        if required:
            raise ProblemError(f"{where}: {key} is missing")
        return None
    value = entry[key]
    error = _amount_error(key, value, positive=positive)
    if error is not None:
        raise ProblemError(f"{where}: {error}")
    return float(value)


def _string(
    where: str, entry: Mapping[str, Any], key: str, *, required: bool, text: bool = False
) -> str | None:
    """An id (`text` False: printable, not blank when required) or free text for people."""
    if key not in entry or entry[key] is None:
        if required:
            raise ProblemError(f"{where}: {key} is missing")
        return None
    value = entry[key]
    if text:
        if not _is_text(value):
            raise ProblemError(
                f"{where}: {key} must be a string without lone surrogates, got {_shown(value)}"
            )
    elif not _is_id(value) or (required and not value.strip()):
        raise ProblemError(f"{where}: {_id_rule(key, required)}, got {_shown(value)}")
    assert isinstance(value, str)
    return value


def _entries(data: Mapping[str, Any], key: str, *, required: bool) -> list[Mapping[str, Any]]:
    if key not in data or data[key] is None:
        if required:
            raise ProblemError(f"{key} is missing")
        return []
    entries = data[key]
    if not isinstance(entries, list):
        raise ProblemError(f"{key} must be a list")
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ProblemError(f"{key}[{index}] must be an object")
    return entries


def _parse_school(index: int, entry: Mapping[str, Any]) -> School:
    where = _where("schools", index, entry)
    school_id = _string(where, entry, "id", required=True)
    weight = _number(where, entry, "weight", required=True, positive=True)
    assert school_id is not None and weight is not None
    return School(
        id=school_id, weight=weight, name=_string(where, entry, "name", required=False, text=True)
    )


def _parse_service(index: int, entry: Mapping[str, Any]) -> Service:
    where = _where("services", index, entry)
    service_id = _string(where, entry, "id", required=True)
    category = _string(where, entry, "category", required=True)
    capacity = _number(where, entry, "capacity", required=True)
    integer = entry.get("integer", False)
    if integer is None:
        integer = False
    if not isinstance(integer, bool):
        raise ProblemError(f"{where}: integer must be true or false, got {_shown(integer)}")
    eligible, site_max = _parse_eligible(where, entry.get("eligible", []))
    assert service_id is not None and category is not None and capacity is not None
    return Service(
        id=service_id,
        category=category,
        capacity=capacity,
        eligible=eligible,
        site_max=site_max,
        integer=integer,
        max_per_school=_number(where, entry, "max_per_school", required=False),
        min_viable=_number(where, entry, "min_viable", required=False),
        name=_string(where, entry, "name", required=False, text=True),
        partner=_string(where, entry, "partner", required=False, text=True),
        unit=_string(where, entry, "unit", required=False, text=True),
    )


def _parse_eligible(
    where: str, eligible: object
) -> tuple[tuple[str, ...], tuple[tuple[str, float], ...]]:
    """A service's `eligible` list: school ids, or {"school": id, "max": m} entries."""
    if eligible is None:
        return (), ()
    if not isinstance(eligible, list):
        raise ProblemError(f"{where}: eligible must be a list of school ids")
    schools: list[str] = []
    bounds: list[tuple[str, float]] = []
    for position, item in enumerate(eligible):
        if isinstance(item, str):
            schools.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ProblemError(
                f'{where}: eligible[{position}] must be a school id or {{"school": id, "max": m}}'
            )
        entry_where = f"{where}: eligible[{position}]"
        unknown = sorted((key for key in item if key not in ("school", "max")), key=str)
        if unknown:
            raise ProblemError(f"{entry_where}: unknown key {_shown(unknown[0])}")
        school = _string(entry_where, item, "school", required=True)
        assert school is not None
        schools.append(school)
        bound = _number(entry_where, item, "max", required=False)
        if bound is not None:
            bounds.append((school, bound))
    return tuple(schools), tuple(bounds)


def _parse_lock(index: int, entry: Mapping[str, Any]) -> Lock:
    where = _where("locks", index, entry)
    service = _string(where, entry, "service", required=True)
    school = _string(where, entry, "school", required=True)
    amount = _number(where, entry, "amount", required=True)
    assert service is not None and school is not None and amount is not None
    return Lock(
        service=service,
        school=school,
        amount=amount,
        id=_string(where, entry, "id", required=False),
    )


def _parse_limit(index: int, entry: Mapping[str, Any]) -> Limit:
    where = _where("limits", index, entry)
    school = _string(where, entry, "school", required=True)
    category = _string(where, entry, "category", required=True)
    assert school is not None and category is not None
    return Limit(
        school=school,
        category=category,
        min=_number(where, entry, "min", required=False),
        max=_number(where, entry, "max", required=False),
        id=_string(where, entry, "id", required=False),
    )


def _parse_options(data: Mapping[str, Any]) -> Options:
    options = data.get("options")
    if options is None:
        return Options()
    if not isinstance(options, Mapping):
        raise ProblemError("options must be an object")
    time_limit = _number("options", options, "time_limit_s", required=False, positive=True)
    return Options(time_limit_s=time_limit)


def parse_objective(value: object, where: str = "objective") -> str:
    """Return `value` if it names an objective, else raise ProblemError."""
    if value not in OBJECTIVES:
        choices = " or ".join(OBJECTIVES)
        raise ProblemError(f"{where} must be {choices}, got {_shown(value)}")
    assert isinstance(value, str)
    return value


def problem_from_dict(data: object) -> Problem:
    """Build and check a Problem from parsed JSON; raise ProblemError naming any bad entry."""
    if not isinstance(data, Mapping):
        raise ProblemError("the problem must be a JSON object")
    objective = data.get("objective")
    if objective is not None:
        objective = parse_objective(objective)
    problem = Problem(
        schools=tuple(
            _parse_school(i, e) for i, e in enumerate(_entries(data, "schools", required=True))
        ),
        services=tuple(
            _parse_service(i, e) for i, e in enumerate(_entries(data, "services", required=True))
        ),
        locks=tuple(
            _parse_lock(i, e) for i, e in enumerate(_entries(data, "locks", required=False))
        ),
        limits=tuple(
            _parse_limit(i, e) for i, e in enumerate(_entries(data, "limits", required=False))
        ),
        objective=objective,
        options=_parse_options(data),
    )
    check_problem(problem)
    return problem


def load_problem(source: str | bytes | Mapping[str, Any] | Problem) -> Problem:
    """Parse and validate a problem from JSON text, bytes, a dict or a Problem."""
    if isinstance(source, Problem):
        check_problem(source)
        return source
    if isinstance(source, str | bytes):
        try:
            # NaN and Infinity are read (Python's json allows them) and refused as numbers.
            data = json.loads(source, parse_int=_parse_int)
        except json.JSONDecodeError as error:
            raise ProblemError(
                f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}"
            ) from None
        except UnicodeDecodeError:
            raise ProblemError("malformed JSON: not UTF-8, UTF-16 or UTF-32 text") from None
        except RecursionError:
            raise ProblemError("malformed JSON: nested too deeply") from None
        except ValueError as error:
            raise ProblemError(f"malformed JSON: {' '.join(str(error).split())}") from None
        return problem_from_dict(data)
    return problem_from_dict(source)


# --- cross-reference checks --------------------------------------------------


def _close_to_or_below(amount: float, bound: float) -> bool:
    # A lock equal to the capacity up to float noise (e.g. 0.1 + 0.2) is not "above" it.
    # Relative only: amounts have no natural unit (a floor of 1e-9 would let a lock of
    # 2e-9 pass a capacity of 1e-9).
    return amount <= bound + 1e-9 * abs(bound)


def _check_amount(where: str, key: str, value: object, *, positive: bool = False) -> None:
    error = _amount_error(key, value, positive=positive)
    if error is not None:
        raise ProblemError(f"{where}: {error}")


def _check_id(where: str, key: str, value: object, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not _is_id(value) or (required and not value.strip()):
        raise ProblemError(f"{where}: {_id_rule(key, required)}, got {_shown(value)}")


def _check_text(where: str, key: str, value: object) -> None:
    if value is not None and not _is_text(value):
        raise ProblemError(
            f"{where}: {key} must be a string without lone surrogates, got {_shown(value)}"
        )


def check_problem(problem: Problem) -> None:
    """Raise ProblemError naming the first entry of `problem` that is not valid.

    Checks everything `load_problem` checks of a file, for a Problem however it
    was built: ids printable, numbers finite, in range and of the right sign,
    cross-references known, no duplicates."""
    school_ids: set[str] = set()
    for index, school in enumerate(problem.schools):
        _check_id(f"schools[{index}]", "id", school.id)
        where = f"schools[{index}] (id {_shown(school.id)})"
        if school.id in school_ids:
            raise ProblemError(f"{where}: duplicate school id")
        _check_amount(where, "weight", school.weight, positive=True)
        _check_text(where, "name", school.name)
        school_ids.add(school.id)

    services: dict[str, Service] = {}
    for index, service in enumerate(problem.services):
        _check_id(f"services[{index}]", "id", service.id)
        where = f"services[{index}] (id {_shown(service.id)})"
        if service.id in services:
            raise ProblemError(f"{where}: duplicate service id")
        _check_id(where, "category", service.category)
        for key in ("name", "partner", "unit"):
            _check_text(where, key, getattr(service, key))
        _check_amount(where, "capacity", service.capacity)
        for key in ("max_per_school", "min_viable"):
            value = getattr(service, key)
            if value is not None:
                _check_amount(where, key, value)
        seen: set[str] = set()
        for position, school_id in enumerate(service.eligible):
            if not _is_id(school_id):
                raise ProblemError(
                    f"{where}: eligible[{position}] must be a school id (a string of "
                    f"printable characters), got {_shown(school_id)}"
                )
            if school_id not in school_ids:
                raise ProblemError(f"{where}: eligible names unknown school id {_shown(school_id)}")
            if school_id in seen:
                raise ProblemError(
                    f"{where}: school {_shown(school_id)} is listed twice in eligible"
                )
            seen.add(school_id)
        bounded: set[str] = set()
        for school_id, bound in service.site_max:
            if not _is_id(school_id) or school_id not in seen:
                raise ProblemError(
                    f"{where}: a max is given at school {_shown(school_id)}, "
                    "which is not in eligible"
                )
            if school_id in bounded:
                raise ProblemError(f"{where}: a max is given twice at school {_shown(school_id)}")
            bounded.add(school_id)
            _check_amount(where, f"the max at school {_shown(school_id)}", bound)
        services[service.id] = service

    for index, lock in enumerate(problem.locks):
        _check_id(f"locks[{index}]", "id", lock.id, required=False)
        where = f"locks[{index}]" + (f" (id {_shown(lock.id)})" if lock.id else "")
        _check_id(where, "service", lock.service)
        _check_id(where, "school", lock.school)
        locked = services.get(lock.service)
        if locked is None:
            raise ProblemError(f"{where}: unknown service id {_shown(lock.service)}")
        if lock.school not in school_ids:
            raise ProblemError(f"{where}: unknown school id {_shown(lock.school)}")
        _check_amount(where, "amount", lock.amount)
        if lock.school not in locked.eligible:
            raise ProblemError(
                f"{where}: school {_shown(lock.school)} is not eligible for service "
                f"{_shown(lock.service)}"
            )
        # A lock above the per-site max or max_per_school is valid but infeasible: a
        # conflict explains it. Above the capacity it contradicts the file itself.
        if not _close_to_or_below(lock.amount, locked.capacity):
            raise ProblemError(
                f"{where}: amount {lock.amount:g} is above the capacity {locked.capacity:g} "
                f"of service {_shown(lock.service)}"
            )

    for index, limit in enumerate(problem.limits):
        _check_id(f"limits[{index}]", "id", limit.id, required=False)
        where = f"limits[{index}]" + (f" (id {_shown(limit.id)})" if limit.id else "")
        _check_id(where, "school", limit.school)
        if limit.school not in school_ids:
            raise ProblemError(f"{where}: unknown school id {_shown(limit.school)}")
        _check_id(where, "category", limit.category)
        for key in ("min", "max"):
            value = getattr(limit, key)
            if value is not None:
                _check_amount(where, key, value)
        if limit.min is not None and limit.max is not None and limit.min > limit.max:
            raise ProblemError(f"{where}: min {limit.min:g} is above max {limit.max:g}")

    if problem.objective is not None:
        parse_objective(problem.objective)
    if problem.options.time_limit_s is not None:
        _check_amount("options", "time_limit_s", problem.options.time_limit_s, positive=True)
