"""The allocation problem as typed, frozen data, and its validation.

`load_problem` turns the JSON problem file of the spec (text, bytes or an
already-parsed dict) into a `Problem`; `check_problem` checks the
cross-references of a `Problem` however it was built. Both raise
`ProblemError` whose message is one line naming the offending entry, e.g.
``services[3] (id "J4"): capacity must be a number >= 0, got -5``.

Ids are strings; school ids and service ids are separate name spaces. Locks
and limits may carry an optional string ``id`` which conflicts echo back.

What is *invalid* (exit 2) and what is merely *infeasible* (exit 3): a file is
invalid when it is malformed or contradicts itself on its face (unknown or
duplicate ids, a school twice in one ``eligible``, negative or non-numeric
amounts, a weight that is not positive, a lock on a pair that is not eligible
or above its service's capacity, a limit whose min exceeds its max). Locks and
limits that are each well-formed but cannot hold together with the rest of
the problem (a lock above ``max_per_school``, below ``min_viable``, not a whole
number on an integer service, two different locks on one pair, a limit's min
that cannot be reached, ...) make the problem infeasible, and are explained as
conflicts.
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


def _is_number(value: object) -> bool:
    # JSON booleans arrive as Python bools, which are ints; they are not amounts.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _where(kind: str, index: int, entry: object) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
        return f'{kind}[{index}] (id "{entry["id"]}")'
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
    bound = "> 0" if positive else ">= 0"
    if not _is_number(value) or not math.isfinite(value):
        raise ProblemError(f"{where}: {key} must be a number {bound}, got {json.dumps(value)}")
    if value < 0 or (positive and value == 0):
        raise ProblemError(f"{where}: {key} must be a number {bound}, got {json.dumps(value)}")
    return float(value)


def _string(where: str, entry: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    if key not in entry or entry[key] is None:
        if required:
            raise ProblemError(f"{where}: {key} is missing")
        return None
    value = entry[key]
    if not isinstance(value, str) or (required and not value.strip()):
        raise ProblemError(f"{where}: {key} must be a non-empty string, got {json.dumps(value)}")
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
    return School(id=school_id, weight=weight, name=_string(where, entry, "name", required=False))


def _parse_service(index: int, entry: Mapping[str, Any]) -> Service:
    where = _where("services", index, entry)
    service_id = _string(where, entry, "id", required=True)
    category = _string(where, entry, "category", required=True)
    capacity = _number(where, entry, "capacity", required=True)
    integer = entry.get("integer", False)
    if integer is None:
        integer = False
    if not isinstance(integer, bool):
        raise ProblemError(f"{where}: integer must be true or false, got {json.dumps(integer)}")
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
        name=_string(where, entry, "name", required=False),
        partner=_string(where, entry, "partner", required=False),
        unit=_string(where, entry, "unit", required=False),
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
        unknown = sorted(set(item) - {"school", "max"})
        if unknown:
            raise ProblemError(f"{entry_where}: unknown key {json.dumps(unknown[0])}")
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
        raise ProblemError(f"{where} must be {choices}, got {json.dumps(value)}")
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
            data = json.loads(source)
        except json.JSONDecodeError as error:
            raise ProblemError(
                f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}"
            ) from None
        except (UnicodeDecodeError, RecursionError) as error:
            raise ProblemError(f"malformed JSON: {type(error).__name__}") from None
        return problem_from_dict(data)
    return problem_from_dict(source)


# --- cross-reference checks --------------------------------------------------


def _close_to_or_below(amount: float, bound: float) -> bool:
    # A lock equal to the capacity up to float noise (e.g. 0.1 + 0.2) is not "above" it.
    return amount <= bound + 1e-9 * max(1.0, abs(bound))


def check_problem(problem: Problem) -> None:
    """Raise ProblemError naming the first entry of `problem` that is not valid."""
    school_ids: set[str] = set()
    for index, school in enumerate(problem.schools):
        where = f'schools[{index}] (id "{school.id}")'
        if not isinstance(school.id, str) or not school.id:
            raise ProblemError(f"schools[{index}]: id must be a non-empty string")
        if school.id in school_ids:
            raise ProblemError(f"{where}: duplicate school id")
        if not _is_number(school.weight) or not math.isfinite(school.weight) or school.weight <= 0:
            raise ProblemError(f"{where}: weight must be a number > 0, got {school.weight!r}")
        school_ids.add(school.id)

    services: dict[str, Service] = {}
    for index, service in enumerate(problem.services):
        where = f'services[{index}] (id "{service.id}")'
        if not isinstance(service.id, str) or not service.id:
            raise ProblemError(f"services[{index}]: id must be a non-empty string")
        if service.id in services:
            raise ProblemError(f"{where}: duplicate service id")
        if not isinstance(service.category, str) or not service.category:
            raise ProblemError(f"{where}: category must be a non-empty string")
        for key in ("capacity", "max_per_school", "min_viable"):
            value = getattr(service, key)
            if value is None and key != "capacity":
                continue
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise ProblemError(f"{where}: {key} must be a number >= 0, got {value!r}")
        for school_id, bound in service.site_max:
            if not _is_number(bound) or not math.isfinite(bound) or bound < 0:
                raise ProblemError(
                    f'{where}: the max at school "{school_id}" must be a number >= 0, got {bound!r}'
                )
            if school_id not in service.eligible:
                raise ProblemError(
                    f'{where}: a max is given at school "{school_id}", which is not in eligible'
                )
        seen: set[str] = set()
        for school_id in service.eligible:
            if school_id not in school_ids:
                raise ProblemError(f'{where}: eligible names unknown school id "{school_id}"')
            if school_id in seen:
                raise ProblemError(f'{where}: school "{school_id}" is listed twice in eligible')
            seen.add(school_id)
        services[service.id] = service

    for index, lock in enumerate(problem.locks):
        where = f"locks[{index}]" + (f' (id "{lock.id}")' if lock.id else "")
        locked = services.get(lock.service)
        if locked is None:
            raise ProblemError(f'{where}: unknown service id "{lock.service}"')
        if lock.school not in school_ids:
            raise ProblemError(f'{where}: unknown school id "{lock.school}"')
        if not _is_number(lock.amount) or not math.isfinite(lock.amount) or lock.amount < 0:
            raise ProblemError(f"{where}: amount must be a number >= 0, got {lock.amount!r}")
        if lock.school not in locked.eligible:
            raise ProblemError(
                f'{where}: school "{lock.school}" is not eligible for service "{lock.service}"'
            )
        if not _close_to_or_below(lock.amount, locked.capacity):
            raise ProblemError(
                f"{where}: amount {lock.amount:g} is above the capacity {locked.capacity:g} "
                f'of service "{lock.service}"'
            )

    for index, limit in enumerate(problem.limits):
        where = f"limits[{index}]" + (f' (id "{limit.id}")' if limit.id else "")
        if limit.school not in school_ids:
            raise ProblemError(f'{where}: unknown school id "{limit.school}"')
        if not isinstance(limit.category, str) or not limit.category:
            raise ProblemError(f"{where}: category must be a non-empty string")
        for key in ("min", "max"):
            value = getattr(limit, key)
            if value is not None and (
                not _is_number(value) or not math.isfinite(value) or value < 0
            ):
                raise ProblemError(f"{where}: {key} must be a number >= 0, got {value!r}")
        if limit.min is not None and limit.max is not None and limit.min > limit.max:
            raise ProblemError(f"{where}: min {limit.min:g} is above max {limit.max:g}")

    if problem.objective is not None:
        parse_objective(problem.objective)
    time_limit = problem.options.time_limit_s
    if time_limit is not None and (
        not _is_number(time_limit) or not math.isfinite(time_limit) or time_limit <= 0
    ):
        raise ProblemError(f"options: time_limit_s must be a number > 0, got {time_limit!r}")
