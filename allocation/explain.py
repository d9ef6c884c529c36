"""Plain-language explanations: why a school falls short, and which locks and limits clash.

Every sentence is also given as data (`Clause`: a code and its parameters,
ids and amounts, never words), so that the registry can word it in the
reader's language. The codes of `why`: ``no_solution``, ``limit_at_most``,
``locks_fix``, ``capped``, ``cohort``, ``full``, ``needed_elsewhere``; of
conflicts: ``lock_twice``, ``lock_above_max``, ``lock_below_cohort``,
``lock_not_whole``, ``locks_over_capacity``, ``limits_contradict``,
``locks_over_limit``, ``limit_unreachable``, ``lock_cannot_hold``,
``limit_short``, ``limit_excess``, ``unexplained``.

Conflicts are found in two ways. Cheap pre-checks catch the common cases
with precise wording (a lock above a per-school maximum or below a cohort
minimum or not whole, locks over a service's capacity, two locks on one pair,
limits that contradict each other or the locks, a limit's min that the
school's eligible services cannot reach). Anything subtler is found by an
elastic model: every lock and limit gets slack, the total slack is
minimised, and each lock or limit left with slack is reported. Nothing is
ever relaxed silently: a conflict makes the whole result infeasible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pulp  # type: ignore[import-untyped, unused-ignore]  # pulp ships no types

from allocation.model import CategoryData, CategoryModel
from allocation.problem import Limit, Lock, Service
from allocation.result import Clause, Conflict, LimitRef, LockRef
from allocation.solvers import Outcome, make_solver, run

WELL_BELOW_SHARE = 0.9  # "well below" target: less than 90% of it ...
WELL_BELOW_MIN_SHORTFALL = 1e-6  # ... and short by at least 1e-6 T*
LISTED_SERVICES = 3  # name at most this many services in one clause


def well_below(allocated: float, target: float, t_star: float) -> bool:
    """True when a school gets under 90% of its target and is short by at least 1e-6 T*."""
    shortfall = target - allocated
    return allocated < WELL_BELOW_SHARE * target and shortfall >= WELL_BELOW_MIN_SHORTFALL * t_star


def fmt(value: float) -> str:
    """A number for people: whole numbers without decimals, others to at most 6 decimals."""
    rounded = round(value, 6)
    if rounded.is_integer():
        return str(int(rounded))
    return f"{rounded:.6f}".rstrip("0").rstrip(".")


def _n(value: float) -> int | float:
    """An amount for a clause's parameters: rounded as `fmt` rounds it."""
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded


@dataclass(frozen=True)
class Why:
    """Why a school falls well below its target: the sentence, and its clauses as data."""

    text: str
    clauses: tuple[Clause, ...]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _above(a: float, b: float) -> bool:
    return a > b + 1e-9 * max(1.0, abs(b))


def _names(services: list[Service]) -> str:
    labels = [service.label for service in services]
    if len(labels) > LISTED_SERVICES:
        shown = labels[:LISTED_SERVICES]
        return f"{', '.join(shown)} and {len(labels) - LISTED_SERVICES} more"
    if len(labels) <= 2:
        return " and ".join(labels)
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Words:
    """Phrasing shared by the checks and explanations of one category."""

    def __init__(self, data: CategoryData) -> None:
        self.data = data
        self.services = {service.id: service for service in data.services}

    def unit(self, service: Service | None = None) -> str:
        return (service.unit if service and service.unit else None) or self.data.unit

    def amount(self, value: float, service: Service | None = None) -> str:
        return f"{fmt(value)} {self.unit(service)}"

    def of_category(self, value: float) -> str:
        return f"{self.amount(value)} of {self.data.category}"

    def school(self, school_id: str) -> str:
        return self.data.all_schools[school_id].label

    def lock(self, lock: Lock) -> str:
        service = self.services[lock.service]
        return (
            f"the lock of {self.amount(lock.amount, service)} of {service.label} "
            f"at {self.school(lock.school)}"
        )

    def lock_ref(self, index: int, lock: Lock) -> LockRef:
        return LockRef(index=index, id=lock.id, service=lock.service, school=lock.school)

    def limit_ref(self, index: int, limit: Limit) -> LimitRef:
        return LimitRef(index=index, id=limit.id, school=limit.school, category=limit.category)


def precheck_conflicts(data: CategoryData) -> list[Conflict]:
    """Conflicts visible without solving, each naming its locks and limits."""
    words = _Words(data)
    category = data.category
    conflicts: list[Conflict] = []

    by_pair: dict[tuple[str, str], list[tuple[int, Lock]]] = defaultdict(list)
    for index, lock in data.locks:
        by_pair[(lock.service, lock.school)].append((index, lock))
    for (service_id, school_id), locks in sorted(by_pair.items()):
        amounts = sorted({lock.amount for _, lock in locks})
        if len(amounts) > 1:
            service = words.services[service_id]
            listed = " and ".join(words.amount(a, service) for a in amounts)
            conflicts.append(
                Conflict(
                    category,
                    f"{service.label} at {words.school(school_id)} is locked more than once "
                    f"with different amounts ({listed}).",
                    locks=tuple(words.lock_ref(i, lock) for i, lock in locks),
                    clause=Clause(
                        "lock_twice",
                        {
                            "service": service_id,
                            "school": school_id,
                            "amounts": [_n(a) for a in amounts],
                            "unit": words.unit(service),
                        },
                    ),
                )
            )

    for index, lock in data.locks:
        service = words.services[lock.service]
        ref = (words.lock_ref(index, lock),)
        problem_with = None
        params: dict[str, object] = {
            "service": lock.service,
            "school": lock.school,
            "amount": _n(lock.amount),
            "unit": words.unit(service),
        }
        if service.max_per_school is not None and _above(lock.amount, service.max_per_school):
            problem_with = (
                f"is above that service's maximum of "
                f"{words.amount(service.max_per_school, service)} per school"
            )
            clause = Clause("lock_above_max", {**params, "max": _n(service.max_per_school)})
        elif (
            service.min_viable is not None
            and lock.amount > 0
            and _above(service.min_viable, lock.amount)
        ):
            problem_with = (
                f"is below that service's minimum cohort of "
                f"{words.amount(service.min_viable, service)}; it must be 0 or at least that"
            )
            clause = Clause("lock_below_cohort", {**params, "min": _n(service.min_viable)})
        elif service.integer and not _close(lock.amount, round(lock.amount)):
            unit = service.unit or words.data.unit
            problem_with = f"is not a whole number, but {service.label} comes in whole {unit}"
            clause = Clause("lock_not_whole", params)
        if problem_with:
            message = _sentence(f"{words.lock(lock)} {problem_with}.")
            conflicts.append(Conflict(category, message, ref, clause=clause))

    by_service: dict[str, list[tuple[int, Lock]]] = defaultdict(list)
    for index, lock in data.locks:
        by_service[lock.service].append((index, lock))
    for service_id, locks in sorted(by_service.items()):
        service = words.services[service_id]
        total = _locked_total(locks)
        if _above(total, service.capacity):
            parts = ", ".join(
                f"{words.school(lock.school)} {fmt(lock.amount)}"
                for _, lock in sorted(locks, key=lambda item: item[1].school)
            )
            conflicts.append(
                Conflict(
                    category,
                    f"Locks commit {words.amount(total, service)} of {service.label} ({parts}), "
                    f"but it has only {words.amount(service.capacity, service)}.",
                    locks=tuple(words.lock_ref(i, lock) for i, lock in locks),
                    clause=Clause(
                        "locks_over_capacity",
                        {
                            "service": service_id,
                            "total": _n(total),
                            "capacity": _n(service.capacity),
                            "unit": words.unit(service),
                            "locks": [
                                [lock.school, _n(lock.amount)]
                                for _, lock in sorted(locks, key=lambda item: item[1].school)
                            ],
                        },
                    ),
                )
            )
    if conflicts:
        return conflicts  # the reach figures below assume the locks themselves are sound

    limits_by_school: dict[str, list[tuple[int, Limit]]] = defaultdict(list)
    for index, limit in data.limits:
        limits_by_school[limit.school].append((index, limit))
    locks_by_school: dict[str, list[tuple[int, Lock]]] = defaultdict(list)
    for index, lock in data.locks:
        locks_by_school[lock.school].append((index, lock))

    for school_id, limits in sorted(limits_by_school.items()):
        name = words.school(school_id)
        with_min = [(i, limit) for i, limit in limits if limit.min is not None]
        with_max = [(i, limit) for i, limit in limits if limit.max is not None]
        if with_min and with_max:
            low_index, low = max(with_min, key=lambda item: (item[1].min, -item[0]))
            high_index, high = min(with_max, key=lambda item: (item[1].max, item[0]))
            assert low.min is not None and high.max is not None
            if _above(low.min, high.max):
                conflicts.append(
                    Conflict(
                        category,
                        f"{name} needs at least {words.of_category(low.min)} (limit), but "
                        f"another limit allows at most {words.amount(high.max)}.",
                        limits=(words.limit_ref(low_index, low), words.limit_ref(high_index, high)),
                        clause=Clause(
                            "limits_contradict",
                            {
                                "school": school_id,
                                "min": _n(low.min),
                                "max": _n(high.max),
                                "unit": words.unit(),
                                "category": category,
                            },
                        ),
                    )
                )
                continue
        locks_here = locks_by_school.get(school_id, [])
        locked_total = _locked_total(locks_here)
        for index, limit in with_max:
            assert limit.max is not None
            if _above(locked_total, limit.max):
                conflicts.append(
                    Conflict(
                        category,
                        f"Locks give {name} {words.of_category(locked_total)}, but its limit "
                        f"allows at most {words.amount(limit.max)}.",
                        locks=tuple(words.lock_ref(i, lock) for i, lock in locks_here),
                        limits=(words.limit_ref(index, limit),),
                        clause=Clause(
                            "locks_over_limit",
                            {
                                "school": school_id,
                                "locked": _n(locked_total),
                                "max": _n(limit.max),
                                "unit": words.unit(),
                                "category": category,
                            },
                        ),
                    )
                )
        for index, limit in with_min:
            assert limit.min is not None
            if limit.min <= 0:
                continue
            reach, involved = _reach(data, school_id)
            if _above(limit.min, reach):
                if reach <= 0 and not any(school_id in s.eligible for s in data.services):
                    tail = f"no {data.category} service is eligible there."
                    reach_code = "no_service"
                elif reach <= 0:
                    tail = f"its eligible {data.category} services can give it nothing."
                    reach_code = "nothing"
                else:
                    reach_code = "offer"
                    tail = (
                        f"its eligible {data.category} services offer "
                        f"{words.amount(reach)} in all"
                        + (" once the locks are kept." if involved else ".")
                    )
                conflicts.append(
                    Conflict(
                        category,
                        f"{name} needs at least {words.of_category(limit.min)} (limit), but {tail}",
                        locks=tuple(
                            words.lock_ref(i, lock) for i, lock in sorted(involved.items())
                        ),
                        limits=(words.limit_ref(index, limit),),
                        clause=Clause(
                            "limit_unreachable",
                            {
                                "school": school_id,
                                "min": _n(limit.min),
                                "unit": words.unit(),
                                "category": category,
                                "reach": _n(reach),
                                "why": reach_code,
                                "with_locks": bool(involved),
                            },
                        ),
                    )
                )
    return conflicts


def _locked_total(locks: list[tuple[int, Lock]]) -> float:
    # A pair locked twice at the same amount counts once.
    return math.fsum({(lock.service, lock.school): lock.amount for _, lock in locks}.values())


def _reach(data: CategoryData, school_id: str) -> tuple[float, dict[int, Lock]]:
    """The most a school could receive in the category, and the locks that cut it down."""
    total = 0.0
    involved: dict[int, Lock] = {}
    for service in data.services:
        if service.capacity <= 0 or school_id not in service.eligible:
            continue
        own = None
        elsewhere: dict[str, float] = {}
        for index, lock in data.locks:
            if lock.service != service.id:
                continue
            if lock.school == school_id:
                own = lock.amount
                involved[index] = lock
            elif lock.amount > 0:
                elsewhere[lock.school] = lock.amount
                involved[index] = lock
        others = math.fsum(elsewhere.values())
        if own is not None:
            total += own
            continue
        room = service.capacity - others
        if service.max_per_school is not None:
            room = min(room, service.max_per_school)
        if service.integer:
            room = math.floor(room + 1e-9)
        if service.min_viable is not None and room < service.min_viable:
            room = 0.0
        total += max(0.0, room)
    return total, involved


def elastic_conflicts(data: CategoryData, solver: str) -> list[Conflict]:
    """Locks and limits left with slack when all are made soft and total slack is minimised."""
    model = CategoryModel(data, elastic=True)
    lp = model.problem("elastic", pulp.LpMinimize)
    slack_terms = [(var, 1.0) for pair in model.lock_slack.values() for var in pair]
    slack_terms += [
        (var, 1.0) for pair in model.limit_slack.values() for var in pair if var is not None
    ]
    lp.setObjective(pulp.LpAffineExpression(slack_terms))
    outcome = run(lp, make_solver(solver, time_limit_s=None))
    if outcome not in (Outcome.OPTIMAL, Outcome.TIME_LIMIT):
        return []
    words = _Words(data)
    category = data.category
    conflicts: list[Conflict] = []
    for index, lock in data.locks:
        k = data.pair_of.get((lock.service, lock.school))
        if k is None or k not in model.lock_slack:
            continue
        over, under = model.lock_slack[k]
        moved = (over.varValue or 0.0) + (under.varValue or 0.0)
        if moved > 1e-6 * max(1.0, lock.amount):
            conflicts.append(
                Conflict(
                    category,
                    _sentence(
                        f"{words.lock(lock)} cannot be kept together with the other locks and "
                        f"limits of {category}; it would have to change by "
                        f"{words.amount(moved)}."
                    ),
                    locks=(words.lock_ref(index, lock),),
                    clause=Clause(
                        "lock_cannot_hold",
                        {
                            "service": lock.service,
                            "school": lock.school,
                            "amount": _n(lock.amount),
                            "unit": words.unit(words.services[lock.service]),
                            "category": category,
                            "change": _n(moved),
                        },
                    ),
                )
            )
    received = {school.id: model.y[i].varValue or 0.0 for i, school in enumerate(data.schools)}
    for index, limit in data.limits:
        if index not in model.limit_slack:
            continue
        short, excess = model.limit_slack[index]
        name = words.school(limit.school)
        if short is not None and (short.varValue or 0.0) > 1e-6 * max(1.0, limit.min or 0.0):
            assert limit.min is not None
            rivals, rival_locks = _rivals(data, limit.school, received)
            rival_names = sorted({words.school(other.school) for _, other in rivals})
            competing = ""
            if rival_names or rival_locks:
                parts = []
                if rival_names:
                    parts.append("the limits of " + ", ".join(rival_names))
                if rival_locks:
                    parts.append("locks")
                competing = f", competing for the same services with {' and '.join(parts)}"
            conflicts.append(
                Conflict(
                    category,
                    f"{name} needs at least {words.of_category(limit.min)} (limit), but with "
                    f"the other locks and limits of {category} kept it falls "
                    f"{words.amount(short.varValue or 0.0)} short{competing}.",
                    locks=tuple(words.lock_ref(i, lock) for i, lock in rival_locks),
                    limits=(
                        words.limit_ref(index, limit),
                        *(words.limit_ref(i, other) for i, other in rivals),
                    ),
                    clause=Clause(
                        "limit_short",
                        {
                            "school": limit.school,
                            "min": _n(limit.min),
                            "unit": words.unit(),
                            "category": category,
                            "short": _n(short.varValue or 0.0),
                            "rival_schools": sorted({other.school for _, other in rivals}),
                            "rival_locks": bool(rival_locks),
                        },
                    ),
                )
            )
        if excess is not None and (excess.varValue or 0.0) > 1e-6 * max(1.0, limit.max or 0.0):
            assert limit.max is not None
            conflicts.append(
                Conflict(
                    category,
                    f"{name} may get at most {words.of_category(limit.max)} (limit), but the "
                    f"other locks and limits of {category} need "
                    f"{words.amount(excess.varValue or 0.0)} more there.",
                    limits=(words.limit_ref(index, limit),),
                    clause=Clause(
                        "limit_excess",
                        {
                            "school": limit.school,
                            "max": _n(limit.max),
                            "unit": words.unit(),
                            "category": category,
                            "excess": _n(excess.varValue or 0.0),
                        },
                    ),
                )
            )
    return conflicts


def _rivals(
    data: CategoryData, school_id: str, received: dict[str, float]
) -> tuple[list[tuple[int, Limit]], list[tuple[int, Lock]]]:
    """Limits at their min elsewhere, and positive locks, on the services `school_id` needs."""
    shared = {s.id for s in data.services if s.capacity > 0 and school_id in s.eligible}
    neighbours = {
        other for s in data.services if s.id in shared for other in s.eligible if other != school_id
    }
    rivals = [
        (i, limit)
        for i, limit in data.limits
        if limit.school in neighbours
        and limit.min is not None
        and limit.min > 0
        and received.get(limit.school, 0.0) <= limit.min + 1e-6 * max(1.0, limit.min)
    ]
    locks = [(i, lock) for i, lock in data.locks if lock.service in shared and lock.amount > 0]
    return rivals, locks


def unexplained(data: CategoryData) -> Conflict:
    """A conflict for an infeasibility the checks could not pin down (should not happen)."""
    words = _Words(data)
    return Conflict(
        data.category,
        f"The locks and limits of {data.category} cannot all hold together.",
        locks=tuple(words.lock_ref(i, lock) for i, lock in data.locks),
        limits=tuple(words.limit_ref(i, limit) for i, limit in data.limits),
        clause=Clause("unexplained", {"category": data.category}),
    )


def why(
    data: CategoryData,
    amounts: np.ndarray,
    received: np.ndarray,
    targets: np.ndarray,
    t_star: float,
    status: str,
) -> list[Why | None]:
    """Per school of S_c, None or a short sentence (and its clauses) on why it is well below
    its target."""
    if status == "no_solution":
        return [
            Why(
                "No allocation was found for this category within the time limit.",
                (Clause("no_solution", {}),),
            )
        ] * len(data.schools)
    words = _Words(data)
    _, upper = data.school_bounds()
    used = np.bincount(data.pair_service, weights=amounts, minlength=len(data.services))
    locked_pairs = {(lock.service, lock.school) for _, lock in data.locks}
    reasons: list[Why | None] = []
    for i, school in enumerate(data.schools):
        if not well_below(float(received[i]), float(targets[i]), t_star):
            reasons.append(None)
            continue
        if math.isfinite(upper[i]) and received[i] >= upper[i] - 1e-6 * max(1.0, upper[i]):
            # The limit alone decides: whatever else holds, it could not get more.
            reasons.append(
                Why(
                    f"Its limit allows at most {words.of_category(float(upper[i]))}.",
                    (
                        Clause(
                            "limit_at_most",
                            {
                                "amount": _n(float(upper[i])),
                                "unit": words.unit(),
                                "category": data.category,
                            },
                        ),
                    ),
                )
            )
            continue
        clauses: list[str] = []
        parts: list[Clause] = []
        groups: dict[str, list[Service]] = defaultdict(list)
        for j, service in enumerate(data.services):
            if service.capacity <= 0 or school.id not in service.eligible:
                continue
            groups[_blocker(data, j, service, school.id, amounts, used, locked_pairs)].append(
                service
            )
        if groups.get("lock"):
            clauses.append(f"locks fix what it gets from {_names(groups['lock'])}")
            parts.append(Clause("locks_fix", {"services": [s.id for s in groups["lock"]]}))
        for service in groups.get("cap", []):
            clauses.append(
                f"{service.label} is capped at "
                f"{words.amount(service.max_per_school or 0.0, service)} per school"
            )
            parts.append(
                Clause(
                    "capped",
                    {
                        "service": service.id,
                        "amount": _n(service.max_per_school or 0.0),
                        "unit": words.unit(service),
                    },
                )
            )
        for service in groups.get("cohort", []):
            clauses.append(
                f"{service.label} needs a cohort of at least "
                f"{words.amount(service.min_viable or 0.0, service)}, more than it has left"
            )
            parts.append(
                Clause(
                    "cohort",
                    {
                        "service": service.id,
                        "amount": _n(service.min_viable or 0.0),
                        "unit": words.unit(service),
                    },
                )
            )
        if groups.get("full"):
            full = groups["full"]
            verb = "has" if len(full) == 1 else "have"
            clauses.append(f"{_names(full)} {verb} no capacity left")
            parts.append(Clause("full", {"services": [s.id for s in full]}))
        if groups.get("open") and not clauses:
            clauses.append(
                f"the rest of its eligible {data.category} capacity is needed to keep "
                f"other schools' locks, limits or cohorts"
            )
            parts.append(Clause("needed_elsewhere", {"category": data.category}))
        reasons.append(Why(_sentence("; ".join(clauses)) + ".", tuple(parts)) if clauses else None)
    return reasons


def _blocker(
    data: CategoryData,
    j: int,
    service: Service,
    school_id: str,
    amounts: np.ndarray,
    used: np.ndarray,
    locked_pairs: set[tuple[str, str]],
) -> str:
    """What stops `service` giving more to the school: lock, cap, cohort, full or open."""
    if (service.id, school_id) in locked_pairs:
        return "lock"
    k = data.pair_of.get((service.id, school_id))
    if k is None:
        # No variable: the per-school maximum is 0 or below the cohort minimum.
        if service.max_per_school is not None and service.max_per_school <= 0:
            return "cap"
        return "cohort"
    amount = float(amounts[k])
    spare = service.capacity - float(used[j])
    tolerance = 1e-6 * max(1.0, service.capacity)
    if (
        service.max_per_school is not None
        and service.max_per_school < service.capacity
        and amount >= float(data.pair_upper[k]) - tolerance
    ):
        return "cap"
    if spare <= tolerance or (service.integer and spare < 1.0):
        return "full"
    if amount <= 0 and service.min_viable is not None and spare < service.min_viable - tolerance:
        return "cohort"
    return "open"
