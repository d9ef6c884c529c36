"""Plain-language explanations: why a school falls short, and which locks and limits clash.

Every sentence is also given as data (`Clause`: a code and its parameters,
ids and amounts, never words), so that the registry can word it in the
reader's language. The codes of `why`: ``limit_at_most``,
``locks_fix``, ``capped``, ``site``, ``groups``, ``cohort``, ``full``,
``needed_elsewhere``; of conflicts: ``lock_twice``, ``lock_above_max``,
``lock_above_site_max``, ``lock_below_cohort``, ``lock_not_whole``,
``locks_over_capacity``, ``limits_contradict``, ``locks_over_limit``,
``limit_unreachable``, ``lock_cannot_hold``, ``limit_short``,
``limit_excess``, ``unexplained``.

Some conflicts carry, beside their own parameters:

- ``parties``: the other locks and limits the conflict involves, each a dict
  with ``kind`` (``lock``, ``limit_min``, ``limit_max``), ``school``,
  ``amount``, ``unit`` and, for a lock, ``service``;
- ``notes``: the facts of the services that make it bite, each a dict with
  ``code`` ``groups`` (``service``, ``amount``, ``unit``: a ``min_viable``),
  ``site`` (``service``, ``school``, ``amount``, ``unit``: a per-site bound)
  or ``capped`` (``service``, ``amount``, ``unit``: a ``max_per_school``).
  They are said as a second sentence, joined by "; ".

Amounts are said with their unit, singular for exactly 1 when the unit is
one `UNIT_SINGULAR` knows ("1 seat"), as given otherwise.

Conflicts are found in two ways. Cheap pre-checks catch the common cases
with precise wording (a lock above a per-school or per-site maximum or below
a cohort minimum or not whole, locks over a service's capacity, two locks on
one pair, limits that contradict each other or the locks, a limit's min that
the school's eligible services cannot reach). Anything subtler is found by
an elastic model: every lock and limit gets slack, the total slack is
minimised, and each lock or limit left with slack is reported. Each of those
then names every party of a least set of locks, limits and ``min_viable``
rules that cannot hold together with it (found by QuickXplain over
feasibility checks, services' capacities and bounds held throughout).
Nothing is ever relaxed silently: a conflict makes the whole result
infeasible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pulp  # type: ignore[import-untyped, unused-ignore]  # pulp ships no types

from allocation.model import CategoryData, CategoryModel
from allocation.problem import Limit, Lock, Service
from allocation.result import Clause, Conflict, LimitRef, LockRef
from allocation.solvers import (
    MIP_FEASIBILITY_TOLERANCE,
    Outcome,
    make_solver,
    quiet_highs,
    run,
    run_highs,
    set_time_limit,
)

WELL_BELOW_SHARE = 0.9  # "well below" target: less than 90% of it ...
WELL_BELOW_MIN_SHORTFALL = 1e-6  # ... and short by at least 1e-6 T*
LISTED_SERVICES = 3  # name at most this many services in one clause
# Units whose singular is the plural without its final "s" ("1 seat"); others stay as given.
UNIT_SINGULAR = {"seats", "hours", "dollars", "sessions", "slots", "units"}
# Feasibility checks one category's conflicts may spend naming their parties, and the most
# parties one search may weigh; past either, a conflict names the limits and locks at their
# bounds around it. A check of whole amounts stops after this many branch-and-bound nodes
# (a count, not a time, so that the same file gives the same words).
MAX_CHECKS = 200
MAX_SEARCHED = 40
CHECK_MAX_NODES = 500


def well_below(allocated: float, target: float, t_star: float) -> bool:
    """True when a school gets under 90% of its target and is short by at least 1e-6 T*."""
    shortfall = target - allocated
    return allocated < WELL_BELOW_SHARE * target and shortfall >= WELL_BELOW_MIN_SHORTFALL * t_star


def _digits(value: float) -> int:
    # 6 decimals, and 6 significant digits below 1 (a floor of 4.36e-06 is not 0).
    if value == 0 or not math.isfinite(value):
        return 6
    return min(20, max(6, 5 - math.floor(math.log10(abs(value)))))


def _rounded(value: float) -> float:
    value = float(value)
    return round(value, _digits(value))


def fmt(value: float) -> str:
    """A number for people: whole numbers without decimals, others to at most 6 decimals
    (6 significant digits below 1)."""
    rounded = _rounded(value)
    if rounded.is_integer():
        return str(int(rounded))
    return f"{rounded:.{_digits(rounded)}f}".rstrip("0").rstrip(".")


def _n(value: float) -> int | float:
    """An amount for a clause's parameters: rounded as `fmt` rounds it."""
    rounded = _rounded(value)
    return int(rounded) if rounded.is_integer() else rounded


def unit_name(unit: str, value: float) -> str:
    """`unit` as the number asks: "seat" for exactly 1 seat (as `fmt` says it), when the unit
    is one of `UNIT_SINGULAR`; any other unit as given."""
    if fmt(value) == "1" and unit.lower() in UNIT_SINGULAR:
        return unit[:-1]
    return unit


@dataclass(frozen=True)
class Why:
    """Why a school falls well below its target: the sentence, and its clauses as data."""

    text: str
    clauses: tuple[Clause, ...]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _above(a: float, b: float) -> bool:
    """Whether input figure `a` exceeds `b`: by a relative margin only, so that amounts of
    any scale are judged alike (3e-9 locked of a capacity of 2e-9 is over it)."""
    return a > b + 1e-9 * abs(b)


def _join(items: Sequence[str]) -> str:
    """A list in English as Babel's format_list says it ("A, B, and C")."""
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return f"{', '.join(items[:-1])}, and {items[-1]}"


def _names(services: list[Service]) -> str:
    labels = [service.label for service in services]
    if len(labels) > LISTED_SERVICES:
        return _join([*labels[:LISTED_SERVICES], f"{len(labels) - LISTED_SERVICES} more"])
    return _join(labels)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _site_binds(service: Service, school_id: str) -> bool:
    """Whether the per-site bound m_js is what sets u_js (below C_j and m_j)."""
    site = service.site_bounds.get(school_id)
    if site is None:
        return False
    others = service.capacity
    if service.max_per_school is not None:
        others = min(others, service.max_per_school)
    return site < others


def _cap_binds(service: Service, school_id: str) -> bool:
    """Whether max_per_school m_j is what sets u_js (below C_j, not above m_js)."""
    if service.max_per_school is None or service.max_per_school >= service.capacity:
        return False
    return not _site_binds(service, school_id)


class _Words:
    """Phrasing shared by the checks and explanations of one category."""

    def __init__(self, data: CategoryData) -> None:
        self.data = data
        self.services = {service.id: service for service in data.services}

    def unit(self, service: Service | None = None) -> str:
        return (service.unit if service and service.unit else None) or self.data.unit

    def amount(self, value: float, service: Service | None = None) -> str:
        return f"{fmt(value)} {unit_name(self.unit(service), value)}"

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

    # --- notes: the services' own rules that make a conflict or a shortfall bite ---

    def groups(self, service: Service) -> tuple[str, dict[str, Any]]:
        v = service.min_viable or 0.0
        return (
            f"{service.label} runs only in groups of at least {self.amount(v, service)}",
            {"code": "groups", "service": service.id, "amount": _n(v), "unit": self.unit(service)},
        )

    def site(self, service: Service, school_id: str) -> tuple[str, dict[str, Any]]:
        m = service.site_bounds[school_id]
        return (
            f"{self.school(school_id)}'s own site capacity for {service.label} is "
            f"{self.amount(m, service)}",
            {
                "code": "site",
                "service": service.id,
                "school": school_id,
                "amount": _n(m),
                "unit": self.unit(service),
            },
        )

    def capped(self, service: Service) -> tuple[str, dict[str, Any]]:
        m = service.max_per_school or 0.0
        return (
            f"{service.label} is capped at {self.amount(m, service)} per school",
            {"code": "capped", "service": service.id, "amount": _n(m), "unit": self.unit(service)},
        )


def _notes_sentence(notes: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """The notes as one sentence after the conflict's own ("" when none)."""
    if not notes:
        return ""
    return " " + _sentence("; ".join(text for text, _ in notes)) + "."


def _unique_notes(
    notes: list[tuple[str, dict[str, Any]]],
) -> list[tuple[str, dict[str, Any]]]:
    seen: set[str] = set()
    kept = []
    for text, params in notes:
        if text not in seen:
            seen.add(text)
            kept.append((text, params))
    return kept


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
            listed = _join([words.amount(a, service) for a in amounts])
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
        site = service.site_bounds.get(lock.school)
        cap = service.max_per_school
        if site is not None and _above(lock.amount, site) and (cap is None or site < cap):
            problem_with = (
                f"is above that service's own site capacity of {words.amount(site, service)} there"
            )
            clause = Clause("lock_above_site_max", {**params, "max": _n(site)})
        elif cap is not None and _above(lock.amount, cap):
            problem_with = (
                f"is above that service's maximum of {words.amount(cap, service)} per school"
            )
            clause = Clause("lock_above_max", {**params, "max": _n(cap)})
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
            reach, involved, notes = _reach(data, school_id, words)
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
                        f"{name} needs at least {words.of_category(limit.min)} (limit), but {tail}"
                        + _notes_sentence(notes),
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
                                "notes": [params for _, params in notes],
                            },
                        ),
                    )
                )
    return conflicts


def _locked_total(locks: list[tuple[int, Lock]]) -> float:
    # A pair locked twice at the same amount counts once.
    return math.fsum({(lock.service, lock.school): lock.amount for _, lock in locks}.values())


def _reach(
    data: CategoryData, school_id: str, words: _Words
) -> tuple[float, dict[int, Lock], list[tuple[str, dict[str, Any]]]]:
    """The most a school could receive in the category, the locks that cut it down, and the
    services' own rules that did (a per-site bound, a max_per_school, a min_viable)."""
    total = 0.0
    involved: dict[int, Lock] = {}
    notes: list[tuple[str, dict[str, Any]]] = []
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
        left = service.capacity - others
        room = min(left, service.upper_at(school_id))
        if room < left:
            if _site_binds(service, school_id):
                notes.append(words.site(service, school_id))
            elif service.max_per_school is not None:
                notes.append(words.capped(service))
        if service.integer:
            room = math.floor(room + 1e-9)
        if service.min_viable is not None and room < service.min_viable:
            if room > 0:
                notes.append(words.groups(service))
            room = 0.0
        total += max(0.0, room)
    return total, involved, notes


# --- conflicts found by the elastic model, and the parties of each -----------------------------


@dataclass(frozen=True)
class _Party:
    """A lock, one side of a limit, or a service's min_viable: what a conflict can involve."""

    kind: str  # "lock" | "limit_min" | "limit_max" | "cohort"
    index: int  # position in problem.locks or problem.limits; for "cohort", in data.services


# How a conflict lists its parties: limits in the problem's order, then locks, then cohorts.
_SAID_ORDER = {"limit_min": 0, "limit_max": 0, "lock": 1, "cohort": 2}


class _GiveUp(Exception):
    """The feasibility checks ran out (too many, or a solver without an answer)."""


class _Checker:
    """Feasibility of a set of parties, with every service's capacity and bounds held.

    One HiGHS model per connected component of the category (schools and services
    linked by eligible pairs), loaded once; a check only moves bounds: a lock fixes its
    pair, a limit bounds its school's row, a min_viable opens its cohort rows.
    """

    def __init__(
        self, data: CategoryData, time_left: Callable[[], float | None] = lambda: None
    ) -> None:
        self.data = data
        self.time_left = time_left  # what is left of the solve's time limit (None: no limit)
        self.checks = 0
        self.position = {school.id: i for i, school in enumerate(data.schools)}
        self.locks = dict(data.locks)
        self.limits = dict(data.limits)
        services = len(data.services)
        parent = list(range(services + len(data.schools)))

        def find(node: int) -> int:
            while parent[node] != node:
                parent[node] = parent[parent[node]]
                node = parent[node]
            return node

        self._find = find
        for j, i in zip(data.pair_service.tolist(), data.pair_school.tolist(), strict=True):
            a, b = find(j), find(services + i)
            if a != b:
                parent[max(a, b)] = min(a, b)
        self.pairs_of: dict[int, list[int]] = defaultdict(list)
        for k, j in enumerate(data.pair_service.tolist()):
            self.pairs_of[find(j)].append(k)
        self._models: dict[int, _ComponentModel] = {}
        self.found: list[list[_Party]] = []  # least conflicting sets found so far

    def lock_pair(self, index: int) -> int | None:
        lock = self.locks[index]
        return self.data.pair_of.get((lock.service, lock.school))

    def component(self, party: _Party) -> int:
        services = len(self.data.services)
        if party.kind == "cohort":
            return self._find(party.index)
        if party.kind == "lock":
            k = self.lock_pair(party.index)
            assert k is not None
            return self._find(int(self.data.pair_service[k]))
        return self._find(services + self.position[self.limits[party.index].school])

    def candidates(self, root: int) -> list[_Party]:
        """Every lock, limit side and min_viable of the component that can bind, in the
        order preferred in explanations: limits, then locks, then min_viable rules."""
        found: list[_Party] = []
        for index, limit in self.data.limits:
            if limit.school not in self.position:
                continue
            if limit.min is not None and limit.min > 0:
                found.append(_Party("limit_min", index))
            if limit.max is not None:
                found.append(_Party("limit_max", index))
        found += [
            _Party("lock", index)
            for index, _ in self.data.locks
            if self.lock_pair(index) is not None
        ]
        with_pairs = set(self.data.pair_service.tolist())
        found += [
            _Party("cohort", j)
            for j, service in enumerate(self.data.services)
            if service.min_viable and service.min_viable > 0 and j in with_pairs
        ]
        return [party for party in found if self.component(party) == root]

    def feasible(self, parties: Sequence[_Party], root: int) -> bool:
        """Whether the parties (all of the component `root`) can all hold together."""
        self.checks += 1
        if self.checks > MAX_CHECKS:
            raise _GiveUp
        model = self._models.get(root)
        if model is None:
            model = self._models[root] = _ComponentModel(self, self.pairs_of.get(root, []))
        return model.feasible(parties)


class _ComponentModel:
    """One component's pairs as a HiGHS model whose parties are switched by bounds."""

    def __init__(self, checker: _Checker, pairs: list[int]) -> None:
        data = checker.data
        self.checker = checker
        self.highs = quiet_highs(
            mip_feasibility_tolerance=MIP_FEASIBILITY_TOLERANCE, mip_max_nodes=CHECK_MAX_NODES
        )
        pair_service = data.pair_service.tolist()
        pair_school = data.pair_school.tolist()
        pair_upper = data.pair_upper.tolist()
        self.column = {k: c for c, k in enumerate(pairs)}
        self.upper = [pair_upper[k] for k in pairs]
        lower = [0.0] * len(pairs)
        upper = list(self.upper)
        integer = [c for c, k in enumerate(pairs) if data.services[pair_service[k]].integer]
        rows: list[tuple[float, float, list[int], list[float]]] = []
        self.cohort_rows: dict[int, list[int]] = defaultdict(list)  # service j -> rows
        for c, k in enumerate(pairs):
            service = data.services[pair_service[k]]
            if service.min_viable and service.min_viable > 0:
                b = len(lower)
                lower.append(0.0)
                upper.append(1.0)
                integer.append(b)
                rows.append((-math.inf, 0.0, [c, b], [1.0, -pair_upper[k]]))
                self.cohort_rows[pair_service[k]].append(len(rows))
                rows.append((-math.inf, math.inf, [c, b], [1.0, -service.min_viable]))
        by_service: dict[int, list[int]] = defaultdict(list)
        self.by_school: dict[int, list[int]] = defaultdict(list)
        for c, k in enumerate(pairs):
            by_service[pair_service[k]].append(c)
            self.by_school[pair_school[k]].append(c)
        for j, columns in sorted(by_service.items()):
            capacity = data.services[j].capacity
            rows.append((-math.inf, capacity, columns, [1.0] * len(columns)))
        self.school_row: dict[int, int] = {}
        for i, columns in sorted(self.by_school.items()):
            self.school_row[i] = len(rows)
            rows.append((-math.inf, math.inf, columns, [1.0] * len(columns)))
        highs = self.highs
        highs.addVars(len(lower), np.asarray(lower), np.asarray(upper))
        if integer:
            highs.changeColsIntegrality(
                len(integer),
                np.asarray(integer, dtype=np.int32),
                np.asarray([highspy.HighsVarType.kInteger] * len(integer)),
            )
        starts: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        for _, _, columns, coefficients in rows:
            starts.append(len(indices))
            indices += columns
            values += coefficients
        highs.addRows(
            len(rows),
            np.asarray([row[0] for row in rows], dtype=np.float64),
            np.asarray([row[1] for row in rows], dtype=np.float64),
            len(indices),
            np.asarray(starts, dtype=np.int32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(values, dtype=np.float64),
        )
        self.rows = len(rows)

    def feasible(self, parties: Sequence[_Party]) -> bool:
        checker, highs = self.checker, self.highs
        col_lower = [0.0] * len(self.upper)
        col_upper = list(self.upper)
        row_bounds: dict[int, tuple[float, float]] = {
            row: (-math.inf, math.inf) for row in self.school_row.values()
        }
        for rows in self.cohort_rows.values():
            for row in rows:
                row_bounds[row] = (-math.inf, math.inf)
        for party in parties:
            if party.kind == "lock":
                k = checker.lock_pair(party.index)
                assert k is not None
                c = self.column[k]
                col_lower[c] = col_upper[c] = checker.locks[party.index].amount
            elif party.kind == "cohort":
                for row in self.cohort_rows.get(party.index, []):
                    row_bounds[row] = (0.0, math.inf)
            else:
                limit = checker.limits[party.index]
                school_row = self.school_row.get(checker.position[limit.school])
                if school_row is None:
                    if party.kind == "limit_min":
                        return False  # nothing can reach the school, and it needs something
                    continue
                low, high = row_bounds[school_row]
                if party.kind == "limit_min":
                    assert limit.min is not None
                    low = max(low, limit.min)
                else:
                    assert limit.max is not None
                    high = min(high, limit.max)
                row_bounds[school_row] = (low, high)
        columns = len(self.upper)
        highs.changeColsBounds(
            columns,
            np.arange(columns, dtype=np.int32),
            np.asarray(col_lower, dtype=np.float64),
            np.asarray(col_upper, dtype=np.float64),
        )
        listed = sorted(row_bounds)
        highs.changeRowsBounds(  # type: ignore[attr-defined, unused-ignore]  # not in its stubs
            len(listed),
            np.asarray(listed, dtype=np.int32),
            np.asarray([row_bounds[row][0] for row in listed], dtype=np.float64),
            np.asarray([row_bounds[row][1] for row in listed], dtype=np.float64),
        )
        left = checker.time_left()
        if left is not None and left <= 0:
            raise _GiveUp  # the time limit is spent: what is known stands
        set_time_limit(highs, left)
        run_highs(highs)
        status = highs.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            return True
        if status in (
            highspy.HighsModelStatus.kInfeasible,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,  # the objective is 0: infeasible
        ):
            return False
        raise _GiveUp


def _quickxplain(
    feasible: Callable[[Sequence[_Party]], bool], held: list[_Party], others: list[_Party]
) -> list[_Party]:
    """A least subset X of `others` (preferring earlier ones) such that `held` and X cannot
    all hold, when `held` and all of `others` cannot (Junker's QuickXplain)."""

    def search(background: list[_Party], added: bool, candidates: list[_Party]) -> list[_Party]:
        if added and not feasible(background):
            return []
        if len(candidates) == 1:
            return candidates
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        from_second = search([*background, *first], bool(first), second)
        from_first = search([*background, *from_second], bool(from_second), first)
        return [*from_first, *from_second]

    if not others or not feasible(held):
        return []
    return search(held, False, others)


def _parties_of(
    checker: _Checker, violated: _Party, tight: Callable[[_Party], bool]
) -> list[_Party]:
    """The other parties of a least set that cannot hold together with `violated`; when the
    checks cannot tell, its school's other limits and the locks and limits of its component
    at their bounds in the elastic model's answer. `tight`: whether a party is at its bound
    there (such parties are searched first, and alone when they suffice)."""
    for found in checker.found:
        if violated in found:
            return found  # a least set with it in: no need to search again
    root = checker.component(violated)
    here = None if violated.kind in ("lock", "cohort") else checker.limits[violated.index].school

    def rank(party: _Party) -> int:
        # At their bounds first, the school's own other limits first among equals.
        own = party.kind.startswith("limit") and checker.limits[party.index].school == here
        return (0 if tight(party) else 2) + (0 if own else 1)

    others = sorted(
        (party for party in checker.candidates(root) if party != violated), key=rank
    )  # a stable sort: limits, then locks, then min_viable rules within each rank
    first = [party for party in others if rank(party) < 2]
    if len(first) > MAX_SEARCHED:
        return first
    try:
        if not checker.feasible([violated, *first], root):
            searched = first
        elif len(others) > MAX_SEARCHED or checker.feasible([violated, *others], root):
            return first  # too many to weigh, or the checks find no conflict: what is known
        else:
            searched = others
        least = _quickxplain(lambda parties: checker.feasible(parties, root), [violated], searched)
        checker.found.append([violated, *least])
        return least
    except _GiveUp:
        return first


def _party_words(
    words: _Words, checker: _Checker, party: _Party, here: str | None
) -> tuple[str, dict[str, Any]]:
    """A party other than the conflict's own, in words and as data (`here`: the school the
    sentence is about, whose limits are "its")."""
    if party.kind == "lock":
        lock = checker.locks[party.index]
        service = words.services[lock.service]
        return words.lock(lock), {
            "kind": "lock",
            "service": lock.service,
            "school": lock.school,
            "amount": _n(lock.amount),
            "unit": words.unit(service),
        }
    limit = checker.limits[party.index]
    bound = limit.min if party.kind == "limit_min" else limit.max
    assert bound is not None
    side = "at least" if party.kind == "limit_min" else "at most"
    whose = "its" if limit.school == here else f"{words.school(limit.school)}'s"
    return f"{whose} limit of {side} {words.amount(bound)}", {
        "kind": party.kind,
        "school": limit.school,
        "amount": _n(bound),
        "unit": words.unit(),
    }


@dataclass
class _Involved:
    """What a conflict of the elastic model names besides its own lock or limit."""

    texts: list[str]
    parties: list[dict[str, Any]]
    notes: list[tuple[str, dict[str, Any]]]
    locks: list[tuple[int, Lock]]
    limits: list[tuple[int, Limit]]

    def kept(self, before: str) -> str:
        return f" {before} {_join(self.texts)}" if self.texts else ""

    def kept_with(self) -> str:
        """The end of a limit's sentence: " with A and B kept." (or "."), then its notes."""
        return self.kept("with") + (" kept." if self.texts else ".") + _notes_sentence(self.notes)

    @property
    def note_params(self) -> list[dict[str, Any]]:
        """The notes as a clause's parameters."""
        return [params for _, params in self.notes]


def _involved(
    words: _Words,
    checker: _Checker,
    violated: _Party,
    here: str | None,
    tight: Callable[[_Party], bool],
) -> _Involved:
    parties = sorted(
        (p for p in _parties_of(checker, violated, tight) if p != violated),
        key=lambda p: (_SAID_ORDER[p.kind], p.index),
    )
    described = [_party_words(words, checker, p, here) for p in parties if p.kind != "cohort"]
    notes = _unique_notes(
        [words.groups(words.data.services[p.index]) for p in parties if p.kind == "cohort"]
    )
    locks = sorted({p.index for p in parties if p.kind == "lock"})
    limits = sorted(
        {p.index for p in parties if p.kind.startswith("limit")}
        - ({violated.index} if violated.kind.startswith("limit") else set())
    )
    return _Involved(
        texts=[text for text, _ in described],
        parties=[params for _, params in described],
        notes=notes,
        locks=[(i, checker.locks[i]) for i in locks],
        limits=[(i, checker.limits[i]) for i in limits],
    )


def elastic_conflicts(
    data: CategoryData, solver: str, time_left: Callable[[], float | None] = lambda: None
) -> list[Conflict]:
    """Locks and limits left with slack when all are made soft and total slack is minimised,
    each with every other lock, limit and min_viable it cannot hold together with.

    The search counts against the solve's time limit (`time_left`: seconds left, None
    for none): once it is spent, each conflict names what the checks found so far, and
    with no elastic answer at all there are none (the caller then names every lock
    and limit)."""
    left = time_left()
    if left is not None and left <= 0:
        return []  # the time limit is spent: not even the model is built
    model = CategoryModel(data, elastic=True)
    lp = model.problem("elastic", pulp.LpMinimize)
    slack_terms = [(var, 1.0) for pair in model.lock_slack.values() for var in pair]
    slack_terms += [
        (var, 1.0) for pair in model.limit_slack.values() for var in pair if var is not None
    ]
    lp.setObjective(pulp.LpAffineExpression(slack_terms))
    outcome = run(lp, make_solver(solver, time_limit_s=time_left()))
    if outcome not in (Outcome.OPTIMAL, Outcome.TIME_LIMIT):
        return []
    words = _Words(data)
    checker = _Checker(data, time_left)
    category = data.category
    conflicts: list[Conflict] = []
    received = {school.id: model.y[i].varValue or 0.0 for i, school in enumerate(data.schools)}

    def tight(party: _Party) -> bool:
        """Whether a party is at its bound in the elastic model's answer."""
        if party.kind == "lock":
            return True
        if party.kind == "cohort":
            return False
        limit = checker.limits[party.index]
        got = received.get(limit.school, 0.0)
        bound = limit.min if party.kind == "limit_min" else limit.max
        assert bound is not None
        close = 1e-6 * max(1.0, bound)
        return got <= bound + close if party.kind == "limit_min" else got >= bound - close

    for index, lock in data.locks:
        k = data.pair_of.get((lock.service, lock.school))
        if k is None or k not in model.lock_slack:
            continue
        over, under = model.lock_slack[k]
        moved = (over.varValue or 0.0) + (under.varValue or 0.0)
        if moved <= 1e-6 * max(1.0, lock.amount):
            continue
        service = words.services[lock.service]
        involved = _involved(
            words,
            checker,
            _Party("lock", index),
            None,
            tight,
        )
        conflicts.append(
            Conflict(
                category,
                _sentence(
                    f"{words.lock(lock)} cannot be kept{involved.kept('together with')}; it "
                    f"would have to change by {words.amount(moved, service)}."
                )
                + _notes_sentence(involved.notes),
                locks=(
                    words.lock_ref(index, lock),
                    *(words.lock_ref(i, other) for i, other in involved.locks if i != index),
                ),
                limits=tuple(words.limit_ref(i, limit) for i, limit in involved.limits),
                clause=Clause(
                    "lock_cannot_hold",
                    {
                        "service": lock.service,
                        "school": lock.school,
                        "amount": _n(lock.amount),
                        "unit": words.unit(service),
                        "category": category,
                        "change": _n(moved),
                        "parties": involved.parties,
                        "notes": involved.note_params,
                    },
                ),
            )
        )
    for index, limit in data.limits:
        if index not in model.limit_slack:
            continue
        short, excess = model.limit_slack[index]
        name = words.school(limit.school)
        if short is not None and (short.varValue or 0.0) > 1e-6 * max(1.0, limit.min or 0.0):
            assert limit.min is not None
            missing = short.varValue or 0.0
            involved = _involved(
                words,
                checker,
                _Party("limit_min", index),
                limit.school,
                tight,
            )
            conflicts.append(
                Conflict(
                    category,
                    f"{name} needs at least {words.of_category(limit.min)} (limit), but it falls "
                    f"{words.amount(missing)} short{involved.kept_with()}",
                    locks=tuple(words.lock_ref(i, lock) for i, lock in involved.locks),
                    limits=(
                        words.limit_ref(index, limit),
                        *(words.limit_ref(i, other) for i, other in involved.limits),
                    ),
                    clause=Clause(
                        "limit_short",
                        {
                            "school": limit.school,
                            "min": _n(limit.min),
                            "unit": words.unit(),
                            "category": category,
                            "short": _n(missing),
                            "parties": involved.parties,
                            "notes": involved.note_params,
                        },
                    ),
                )
            )
        if excess is not None and (excess.varValue or 0.0) > 1e-6 * max(1.0, limit.max or 0.0):
            assert limit.max is not None
            over_by = excess.varValue or 0.0
            involved = _involved(
                words,
                checker,
                _Party("limit_max", index),
                limit.school,
                tight,
            )
            conflicts.append(
                Conflict(
                    category,
                    f"{name} may get at most {words.of_category(limit.max)} (limit), but it "
                    f"would get {words.amount(over_by)} more{involved.kept_with()}",
                    locks=tuple(words.lock_ref(i, lock) for i, lock in involved.locks),
                    limits=(
                        words.limit_ref(index, limit),
                        *(words.limit_ref(i, other) for i, other in involved.limits),
                    ),
                    clause=Clause(
                        "limit_excess",
                        {
                            "school": limit.school,
                            "max": _n(limit.max),
                            "unit": words.unit(),
                            "category": category,
                            "excess": _n(over_by),
                            "parties": involved.parties,
                            "notes": involved.note_params,
                        },
                    ),
                )
            )
    return conflicts


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
    words = _Words(data)
    _, upper = data.school_bounds()
    used = np.bincount(data.pair_service, weights=amounts, minlength=len(data.services))
    locked_pairs = {(lock.service, lock.school) for _, lock in data.locks}
    # Each school's eligible services with capacity, in service order: one pass over the
    # pairs, not a search of every service's list per school (seconds at state scale).
    eligible_at: dict[str, list[int]] = defaultdict(list)
    for j, service in enumerate(data.services):
        if service.capacity > 0:
            for school_id in service.eligible:
                eligible_at[school_id].append(j)
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
        for j in eligible_at.get(school.id, []):
            service = data.services[j]
            groups[_blocker(data, j, service, school.id, amounts, used, locked_pairs)].append(
                service
            )
        if groups.get("lock"):
            clauses.append(f"locks fix what it gets from {_names(groups['lock'])}")
            parts.append(Clause("locks_fix", {"services": [s.id for s in groups["lock"]]}))
        for service in groups.get("cap", []):
            _say(clauses, parts, words.capped(service))
        for service in groups.get("site", []):
            _say(clauses, parts, words.site(service, school.id))
        for service in groups.get("site_groups", []):
            _say(clauses, parts, words.site(service, school.id))
            _say(clauses, parts, words.groups(service))
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


def _say(clauses: list[str], parts: list[Clause], note: tuple[str, dict[str, Any]]) -> None:
    text, params = note
    clauses.append(text)
    parts.append(Clause(params["code"], {k: v for k, v in params.items() if k != "code"}))


def _blocker(
    data: CategoryData,
    j: int,
    service: Service,
    school_id: str,
    amounts: np.ndarray,
    used: np.ndarray,
    locked_pairs: set[tuple[str, str]],
) -> str:
    """What stops `service` giving more to the school: lock, cap (its max_per_school), site
    (its per-site bound), site_groups (a per-site bound below its min_viable), cohort, full
    or open."""
    if (service.id, school_id) in locked_pairs:
        return "lock"
    k = data.pair_of.get((service.id, school_id))
    if k is None:
        # No variable: u_js is 0, or below the cohort minimum.
        upper = service.upper_at(school_id)
        if service.integer:
            upper = math.floor(upper + 1e-9)
        if _site_binds(service, school_id):
            return "site_groups" if upper > 0 else "site"
        if upper > 0:
            return "cohort"
        return "cap" if _cap_binds(service, school_id) else "full"
    amount = float(amounts[k])
    spare = service.capacity - float(used[j])
    tolerance = 1e-6 * max(1.0, service.capacity)
    if amount >= float(data.pair_upper[k]) - tolerance:
        if _site_binds(service, school_id):
            return "site"
        if _cap_binds(service, school_id):
            return "cap"
    if spare <= tolerance or (service.integer and spare < 1.0):
        return "full"
    if amount <= 0 and service.min_viable is not None and spare < service.min_viable - tolerance:
        return "cohort"
    return "open"
