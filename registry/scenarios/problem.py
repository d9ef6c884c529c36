"""The one conversion from registry data to the allocation problem file (specs/allocation.md).

Schools are ``"S<id>"``, services ``"J<id>"``. A school takes part when it has
a need index value for the scenario's year, that value is at least the
scenario's threshold, and its weight (by the weight rule) is positive;
every other school is listed in the report with the reason. Services are the
active services of approved partners, in the scenario's categories and
(when it names some) among its chosen services. A service is eligible at a
school when their grades overlap (always) and, when the scenario asks, the
partner's service area covers the school's zip.

Each allocation category is one registry category in one unit,
``category_key(category, unit)`` ("mentoring:seats"): seats are never added
to hours or dollars. The scenario's category filter names registry
categories (all their units); a limit names a category and a unit (seats
when a stored limit has none).

Commitments kept as locks (this school year's active MOUs, summed per
service and school). A lock the file could not hold is decided like this:

- the school takes part and the service is in scope, but the pair fails the
  grade or service-area rule: the pair is made eligible anyway and the report
  says so — a signed MOU shows the partner does serve that school;
- the school does not take part (no need value, below the threshold, no
  weight) or the service is out of scope (inactive, partner not approved, or
  not among the chosen services), or the committed amount is above the
  service's capacity: the commitment is not locked, and the report lists it
  as a conflict with its MOU, so nobody mistakes the run for one that kept it.

Limits naming a school that does not take part are left out and reported too.

The build reads the registry as plain rows, in a fixed number of queries, and
finds the schools a service could serve by groups (schools with the same
grades, as bit masks; schools in one zip), once for all the services with the
same grades, area and unit: its time grows with the pairs it writes, not with
schools × services (issue 13: 1,885 schools and 6,302 services took 40 s).
`on_progress` hears its phases (`BUILD_PHASES`) as they start.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select

from registry.equity.need_index import SchoolNeed, compute_need, default_definition
from registry.extensions import db
from registry.models import MOU, Commitment, Offering, Partner, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, WeightRule
from registry.mous.services import counted_for_capacity
from registry.scenarios.messages import Message, message
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit

# What `build_problem` tells its `on_progress` as it goes, in this order.
BUILD_PHASES = ("loading", "pairs", "locks", "limits")
Progress = Callable[[str], None]


def school_key(school_id: int) -> str:
    return f"S{school_id}"


def service_key(service_id: int) -> str:
    return f"J{service_id}"


def category_key(category: Category, unit: Unit) -> str:
    """The problem's category for a registry category in one unit ("mentoring:seats").

    Units are never added together: a registry category with seats and hours
    services is two allocation categories.
    """
    return f"{category.value}:{unit.value}"


def split_category_key(key: str) -> tuple[Category, Unit]:
    """The registry category and unit of a problem category; ValueError for anything else."""
    category, sep, unit = key.partition(":")
    if not sep:
        raise ValueError(f"not a category key: {key!r}")
    return Category(category), Unit(unit)


def category_label(key: str) -> str:
    """A problem category as people read it ("Mentoring · seats").

    Runs stored before categories carried their unit have the bare category.
    """
    try:
        category, unit = split_category_key(key)
    except ValueError:
        try:
            return str(Category(key).label)
        except ValueError:
            return key
    return f"{category.label} · {str(unit.label).lower()}"


def eligible_schools(service: dict[str, Any]) -> list[str]:
    """The school ids of a problem service's `eligible` (bare ids or per-site entries)."""
    return [e if isinstance(e, str) else e["school"] for e in service.get("eligible", [])]


def key_id(key: str) -> int | None:
    """The registry id inside a problem id ("S12" → 12); None for anything else."""
    try:
        return int(key[1:])
    except (ValueError, TypeError):
        return None


@dataclass
class SchoolFacts:
    """A school as the run saw it (kept with the run, so its page never changes later)."""

    id: int
    name: str
    enrollment: int
    need: float | None
    weight: float | None = None  # None: not taking part
    excluded: Message | None = None  # why it does not take part (registry.scenarios.messages)


@dataclass
class ServiceFacts:
    id: int
    name: str
    partner_id: int
    partner: str
    category: str
    unit: str
    capacity: float  # what the problem lets it hand out (see `pool_capacity`)
    eligible: int = 0
    # The registry's overall capacity (None: no overall pool, `capacity` is then the sum
    # of its site bounds) and what commitments not held as locks took off it.
    registry_capacity: float | None = None
    not_held: float = 0
    offered_at: int = 0  # schools it has an offering at (0: the grade and area rule)
    below_threshold: int = 0  # schools it could serve that are below the need threshold


@dataclass
class LockNote:
    """A commitment kept as a lock, or not, and why."""

    service: str
    school: str
    amount: float
    mou_ids: list[int]
    commitment_ids: list[int]
    kept: bool
    note: Message | None = None
    lock_index: int | None = None


@dataclass
class Conversion:
    """The problem file and everything the conversion decided on the way."""

    problem: dict[str, Any]
    need_definition: str
    settings: dict[str, Any] = field(default_factory=dict)
    schools: dict[str, SchoolFacts] = field(default_factory=dict)
    services: dict[str, ServiceFacts] = field(default_factory=dict)
    skipped_services: list[dict[str, Any]] = field(default_factory=list)
    locks: list[LockNote] = field(default_factory=list)
    skipped_limits: list[dict[str, Any]] = field(default_factory=list)
    # Per service, per school: which bound its per-site max is ("site", "saturation",
    # "lock" when a lock is above both).
    bounds: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def eligible_pairs(self) -> int:
        return sum(len(s["eligible"]) for s in self.problem["services"])

    def report(self) -> dict[str, Any]:
        """The JSON-ready record kept with the run beside the problem file."""
        return {
            "need_definition": self.need_definition,
            "settings": self.settings,
            "schools": {k: asdict(v) for k, v in self.schools.items()},
            "services": {k: asdict(v) for k, v in self.services.items()},
            "skipped_services": self.skipped_services,
            "locks": [asdict(n) for n in self.locks],
            "skipped_limits": self.skipped_limits,
            "bounds": self.bounds,
        }


def _number(value: float | Decimal) -> int | float:
    if type(value) is int:  # whole seats, most bounds: already what the file holds
        return value
    number = round(float(value), 6)
    return int(number) if number.is_integer() else number


def school_weight(rule: WeightRule, enrollment: int, need: float) -> float:
    """A school's weight under a scenario's weight rule."""
    if rule == WeightRule.NEED:
        return round(need, 6)
    if rule == WeightRule.ENROLLMENT:
        return float(enrollment)
    return round(enrollment * need, 6)


def grades_overlap(school: School, service: Service) -> bool:
    return bool(set(school.grades or []) & set(service.grades or []))


class Enrolled(Protocol):
    """A school as `served_enrollment` reads it (a `School`, or a row of the build's)."""

    @property
    def grades(self) -> list[str] | None: ...

    @property
    def enrollment(self) -> int: ...


def served_enrollment(school: Enrolled, grades: list[str] | set[str]) -> float:
    """A school's enrollment in the grades a service serves, estimated.

    The registry keeps a school's total enrollment and its grades, not its
    enrollment per grade, so this is the total × the share of the school's
    grades that are served (grades assumed equally large). A service that
    names no grades, or none the school lists, counts the whole school.
    """
    own = set(school.grades or [])
    served = own & set(grades or [])
    if not own or not served:
        return float(school.enrollment)
    return school.enrollment * len(served) / len(own)


# --- the registry as the build reads it: plain rows, grades as bits ------------------------


class GradeBits:
    """One bit per grade name, so that sets of grades meet as integers (`a & b`).

    `served_enrollment` over bits: the popcount of a mask is the number of distinct
    grades in it, so the arithmetic (and every float it gives) is the same.
    """

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}
        self._masks: dict[tuple[str, ...], int] = {}

    def mask(self, grades: Iterable[str] | None) -> int:
        named = tuple(grades or ())
        mask = self._masks.get(named)
        if mask is None:
            mask = 0
            for grade in named:
                bit = self._bits.get(grade)
                if bit is None:
                    bit = self._bits[grade] = 1 << len(self._bits)
                mask |= bit
            self._masks[named] = mask
        return mask


@dataclass(frozen=True, slots=True)
class _School:
    id: int
    key: str  # "S<id>"
    name: str
    code: str
    enrollment: int
    zip: str
    grades: int  # GradeBits

    def served(self, grades: int) -> float:
        """`served_enrollment` over grade bits."""
        served = self.grades & grades
        if not self.grades or not served:
            return float(self.enrollment)
        return self.enrollment * served.bit_count() / self.grades.bit_count()


@dataclass(frozen=True, slots=True)
class _Offering:
    school_id: int
    capacity: Decimal | None
    grades: list[str]


@dataclass(slots=True)
class _Service:
    id: int
    name: str
    partner_id: int
    partner: str
    partner_status: PartnerStatus
    area: frozenset[str] | None  # the zips its partner serves; None: the whole district
    category: Category
    unit: Unit
    capacity: Decimal | None
    grades: list[str]
    active: bool
    offerings: list[_Offering] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Commitment:
    id: int
    mou_id: int
    service_id: int
    school_id: int
    amount: Decimal


def _schools(bits: GradeBits) -> list[_School]:
    stmt = select(
        School.id, School.name, School.dese_code, School.enrollment, School.zip, School.grades
    ).order_by(School.id)
    return [
        _School(id_, school_key(id_), name, code, enrollment, zip_code, bits.mask(grades))
        for id_, name, code, enrollment, zip_code, grades in db.session.execute(stmt)
    ]


def _services() -> list[_Service]:
    """Every service with its partner's name, status and area, and its offerings."""
    stmt = (
        select(
            Service.id,
            Service.name,
            Service.partner_id,
            Partner.name,
            Partner.status,
            Partner.district_wide,
            Partner.service_zips,
            Service.category,
            Service.unit,
            Service.capacity,
            Service.grades,
            Service.active,
        )
        .join(Partner, Service.partner_id == Partner.id)
        .order_by(Service.id)
    )
    services: dict[int, _Service] = {}
    for (
        id_, name, partner_id, partner, status, district_wide, zips, category, unit, capacity,
        grades, active,
    ) in db.session.execute(stmt):  # fmt: skip
        services[id_] = _Service(
            id=id_,
            name=name,
            partner_id=partner_id,
            partner=partner,
            partner_status=status,
            area=None if district_wide else frozenset(zips or []),
            category=category,
            unit=unit,
            capacity=capacity,
            grades=list(grades or []),
            active=active,
        )
    offerings = select(
        Offering.service_id, Offering.school_id, Offering.capacity, Offering.grades
    ).order_by(Offering.service_id, Offering.id)
    for service_id, school_id, capacity, grades in db.session.execute(offerings):
        services[service_id].offerings.append(_Offering(school_id, capacity, list(grades or [])))
    return list(services.values())


def _definition(scenario: Scenario) -> NeedIndexDefinition:
    if scenario.need_definition_id is not None:
        found = db.session.get(NeedIndexDefinition, scenario.need_definition_id)
        if found is not None:
            return found
    return default_definition()


def _exclusion(need: SchoolNeed | None, weight: float | None, threshold: float) -> Message | None:
    if need is None or need.value is None:
        if need and need.missing:
            return message("need_indicators_missing", names=list(need.missing))
        return message("need_no_indicators")
    if threshold > 0 and need.value < threshold:
        return message("need_below_threshold", need=round(need.value, 6), threshold=threshold)
    if not weight or weight <= 0:
        return message("weight_zero")
    return None


def _in_scope(
    scenario: Scenario, services: list[_Service]
) -> tuple[list[_Service], list[dict[str, Any]]]:
    """The scenario's services that can take part, and the ones it names that cannot, why."""
    categories = set(scenario.categories or []) or {c.value for c in Category}
    chosen = set(scenario.service_ids or [])
    kept: list[_Service] = []
    skipped: list[dict[str, Any]] = []
    for service in services:
        if service.category.value not in categories:
            continue
        if chosen and service.id not in chosen:
            continue
        reason = None
        if not service.active:
            reason = message("service_inactive")
        elif service.partner_status != PartnerStatus.APPROVED:
            reason = message("partner_not_approved", status=service.partner_status.value)
        if reason:
            skipped.append({"id": service.id, "name": service.name, "reason": reason})
            continue
        kept.append(service)
    return kept, skipped


@dataclass(frozen=True, slots=True)
class _Pair:
    """What bounds one service at one school before commitments are counted."""

    school: _School
    grades: int  # the grades served there (GradeBits; 0: none named)
    site: Decimal | None = None  # the offering's site capacity
    saturation: float | None = None  # saturation × enrollment in the grades served


def _saturation_bound(per_student: float | None, school: _School, grades: int) -> int | None:
    """Seats per student × the school's enrollment in the grades served, in whole seats."""
    if per_student is None:
        return None
    return math.floor(per_student * school.served(grades) + 1e-9)


class _Reach:
    """The schools a service without offerings could serve (need aside), by grade and area.

    Schools are grouped by their grades (a few dozen distinct sets) and by zip, so a
    service meets groups, not every school; services with the same grades, area and
    unit (a partner's programs, often) share one answer, bounds and all.
    """

    def __init__(
        self, taking_part: list[_School], below: list[_School], saturation: float | None
    ) -> None:
        self._saturation = saturation
        self._taking_part = {s.id for s in taking_part}
        self._rank = {s.id: rank for rank, s in enumerate(taking_part + below)}
        self._by_grades: dict[int, list[_School]] = defaultdict(list)
        self._by_zip: dict[str, list[_School]] = defaultdict(list)
        for school in taking_part + below:
            self._by_grades[school.grades].append(school)
            self._by_zip[school.zip].append(school)
        self._found: dict[tuple[int, frozenset[str] | None, bool], tuple[dict[int, _Pair], int]]
        self._found = {}

    def pairs(
        self, grades: int, area: frozenset[str] | None, seats: bool
    ) -> tuple[dict[int, _Pair], int]:
        """The schools taking part whose grades meet `grades` and whose zip is in `area`
        (None: anywhere), in id order, with their bounds (seats per student for `seats`),
        and how many more there are below the threshold. The caller may change the dict."""
        key = (grades, area, seats)
        found = self._found.get(key)
        if found is None:
            if area is None:
                groups = (g for mask, g in self._by_grades.items() if mask & grades)
            else:
                groups = ([s for s in self._by_zip.get(z, ()) if s.grades & grades] for z in area)
            reached = sorted((s for group in groups for s in group), key=self._by_rank)
            per_student = self._saturation if seats else None
            taking_part = {
                s.id: _Pair(s, grades, saturation=_saturation_bound(per_student, s, grades))
                for s in reached
                if s.id in self._taking_part
            }
            found = self._found[key] = (taking_part, len(reached) - len(taking_part))
        return dict(found[0]), found[1]

    def _by_rank(self, school: _School) -> int:
        return self._rank[school.id]


def _pairs(
    service: _Service,
    bits: GradeBits,
    reach: _Reach,
    taking_part: dict[int, _School],
    below: dict[int, _School],
    require_area: bool,
    saturation: float | None,
) -> tuple[dict[int, _Pair], int]:
    """The schools taking part a service could serve, with what bounds it there, and how
    many it could serve below the threshold.

    A service with offerings is offered at those schools only; one without
    serves the schools whose grades overlap its own and, when the scenario
    asks, whose zip its partner's service area covers.
    """
    seats = service.unit == Unit.SEATS
    if not service.offerings:
        area = service.area if require_area else None
        return reach.pairs(bits.mask(service.grades), area, seats)
    # Seats per student bound each seat-counted pair (`served_enrollment`).
    per_student = saturation if seats else None
    found: dict[int, _Pair] = {}
    below_threshold = 0
    for offering in service.offerings:
        if offering.school_id in below:
            below_threshold += 1
        school = taking_part.get(offering.school_id)
        if school is None:
            continue
        grades = bits.mask(offering.grades or service.grades)
        bound = _saturation_bound(per_student, school, grades)
        found[school.id] = _Pair(school, grades, site=offering.capacity, saturation=bound)
    return found, below_threshold


def _commitments(school_year: str) -> tuple[dict[tuple[int, int], Decimal], list[_Commitment]]:
    """This year's commitments that use capacity (all but terminated MOUs'), summed per
    (service, school), and the active ones, which may be held as locks."""
    stmt = (
        select(
            Commitment.id,
            Commitment.mou_id,
            Commitment.service_id,
            Commitment.school_id,
            Commitment.amount,
            MOU.status,
        )
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(MOU.school_year == school_year, counted_for_capacity())
        .order_by(Commitment.service_id, Commitment.school_id, Commitment.id)
    )
    committed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    active: list[_Commitment] = []
    for id_, mou_id, service_id, school_id, amount, status in db.session.execute(stmt):
        committed[(service_id, school_id)] += amount
        if status == MOUStatus.ACTIVE:
            active.append(_Commitment(id_, mou_id, service_id, school_id, amount))
    return committed, active


def _by_service(amounts: dict[tuple[int, int], float]) -> dict[int, dict[int, float]]:
    """Amounts per (service, school) as service → school → amount."""
    nested: dict[int, dict[int, float]] = defaultdict(dict)
    for (service_id, school_id), amount in amounts.items():
        nested[service_id][school_id] = amount
    return nested


def build_problem(scenario: Scenario, on_progress: Progress | None = None) -> Conversion:
    """The scenario's problem file from the registry as it is now, with the conversion's report.

    Bounds (specs/allocation.md v2). A service with offerings is eligible at
    its offering schools only, each offering's site capacity its per-site
    `max`. For seat-counted services and a scenario saturation `k`, a school
    gets at most `k` × its enrollment in the grades served (`served_enrollment`)
    of each service (per-site `max`) and of its category in all (a limit, over
    the grades any of the category's services serves there). Commitments of
    the year kept as locks count inside every bound; every other commitment
    that uses capacity (drafts, submitted, expired, or active ones released or
    not kept) is taken off the service's pool, its site capacity and the
    school's saturation bound. So each proposed line can be drafted into an
    MOU without exceeding either capacity level.

    `on_progress` is told each phase as it starts (`BUILD_PHASES`, in that order).
    The registry is read with a fixed number of queries, as plain rows.
    """
    progress = on_progress or (lambda _phase: None)
    progress("loading")
    definition = _definition(scenario)
    needs = compute_need(definition, scenario.school_year)
    threshold = float(scenario.need_threshold or 0)
    rule = WeightRule(scenario.weight_rule)
    saturation = float(scenario.saturation) if scenario.saturation is not None else None

    conversion = Conversion(
        problem={},
        need_definition=definition.title,
        settings={
            "school_year": scenario.school_year,
            "weight_rule": rule.value,
            "need_threshold": threshold,
            "categories": list(scenario.categories or []),
            "require_service_area": scenario.require_service_area,
            "keep_commitments_as_locks": scenario.keep_commitments_as_locks,
            "saturation": saturation,
            # What a proposed amount means for adoption: the pair's total, commitments
            # held inside it ("held"), or an amount on top of what is committed ("on_top").
            "commitments": "held" if scenario.keep_commitments_as_locks else "on_top",
        },
    )
    bits = GradeBits()
    schools = _schools(bits)
    taking_part: dict[int, _School] = {}
    below: dict[int, _School] = {}
    for school in schools:
        need = needs.get(school.id)
        value = need.value if need else None
        weight = school_weight(rule, school.enrollment, value) if value is not None else None
        reason = _exclusion(need, weight, threshold)
        conversion.schools[school.key] = SchoolFacts(
            id=school.id,
            name=school.name,
            enrollment=school.enrollment,
            need=round(value, 6) if value is not None else None,
            weight=None if reason else weight,
            excluded=reason,
        )
        if reason is None:
            taking_part[school.id] = school
        elif reason["code"] == "need_below_threshold":
            below[school.id] = school
    every_service = _services()
    categories = {s.id: s.category for s in every_service}
    services, conversion.skipped_services = _in_scope(scenario, every_service)

    progress("pairs")
    reach = _Reach(list(taking_part.values()), list(below.values()), saturation)
    pairs: dict[int, dict[int, _Pair]] = {}
    kept_services: list[_Service] = []
    for service in services:
        found, below_threshold = _pairs(
            service, bits, reach, taking_part, below, scenario.require_service_area, saturation
        )
        bounded = any(p.site is not None or p.saturation is not None for p in found.values())
        if service.capacity is None and found and not bounded:
            conversion.skipped_services.append(
                {"id": service.id, "name": service.name, "reason": message("service_no_capacity")}
            )
            continue
        pairs[service.id] = found
        kept_services.append(service)
        conversion.services[service_key(service.id)] = ServiceFacts(
            id=service.id,
            name=service.name,
            partner_id=service.partner_id,
            partner=service.partner,
            category=service.category.value,
            unit=service.unit.value,
            capacity=0,
            registry_capacity=(float(service.capacity) if service.capacity is not None else None),
            offered_at=len(service.offerings),
            below_threshold=below_threshold,
        )
    services = kept_services

    progress("locks")
    committed, active = _commitments(scenario.school_year)
    held: dict[tuple[int, int], float] = {}
    locks: list[dict[str, Any]] = []
    if scenario.keep_commitments_as_locks:
        locks = _locks(
            scenario, conversion, services, categories, bits, active, committed, taking_part, pairs
        )
        held = {
            (key_id(n.service) or 0, key_id(n.school) or 0): float(n.amount)
            for n in conversion.locks
            if n.kept
        }
    not_held: dict[tuple[int, int], float] = {
        pair: float(amount) - held.get(pair, 0.0) for pair, amount in committed.items()
    }

    progress("limits")
    held_at, not_held_at = _by_service(held), _by_service(not_held)
    problem_services = []
    shared_bounds: dict[int, _Bound] = {}  # by id(pair), for the pairs without commitments
    # Per seat category, per school: what its saturation limit sums (`_saturation_limits`).
    seat_cells: dict[str, dict[int, _SeatCell]] = defaultdict(dict)
    for service in services:
        key = service_key(service.id)
        facts = conversion.services[key]
        whole = service.unit == Unit.SEATS
        own_held = held_at.get(service.id, {})
        own_not_held = not_held_at.get(service.id, {})
        cells = seat_cells[category_key(service.category, service.unit)] if whole else None
        eligible_entries: list[Any] = []
        kinds: dict[str, str] = {}
        finite: list[float] = []
        for school_id, pair in sorted(pairs[service.id].items()):
            lock, not_held_here = None, 0.0
            if school_id in own_held or school_id in own_not_held:
                lock, not_held_here = own_held.get(school_id), own_not_held.get(school_id, 0.0)
                at = _bound(pair, not_held_here, lock, whole)
            else:
                # Services alike share their pairs (`_Reach`): one bound for them all.
                shared = shared_bounds.get(id(pair))
                if shared is None:
                    shared = shared_bounds[id(pair)] = _bound(pair, 0.0, None, whole)
                at = shared
            finite.append(at.share)
            if at.value is None:
                eligible_entries.append(pair.school.key)
            else:
                kinds[pair.school.key] = at.kind
                eligible_entries.append({"school": pair.school.key, "max": at.max})
            if cells is not None and saturation is not None:
                cell = cells.get(school_id)
                if cell is None:
                    cell = cells[school_id] = _SeatCell()
                cell.add(pair, lock, not_held_here, at.value)
        service_not_held = sum(own_not_held.values(), 0.0) if own_not_held else 0.0
        capacity = pool_capacity(service, finite, service_not_held)
        facts.capacity = float(capacity)
        facts.not_held = _number(service_not_held)
        facts.eligible = len(eligible_entries)
        if kinds:
            conversion.bounds[key] = kinds
        entry: dict[str, Any] = {
            "id": key,
            "name": service.name,
            "partner": service.partner,
            "category": category_key(service.category, service.unit),
            "unit": service.unit.value,
            "capacity": _number(capacity),
        }
        if whole:
            entry["integer"] = True
        entry["eligible"] = eligible_entries
        problem_services.append(entry)

    codes = {school.id: school.code for school in schools}
    conversion.problem = {
        "objective": scenario.objective.value,
        "schools": [
            {
                "id": key,
                "name": facts.name,
                "code": codes[facts.id],
                "enrollment": facts.enrollment,
                "weight": facts.weight,
            }
            for key, facts in conversion.schools.items()
            if facts.excluded is None
        ],
        "services": problem_services,
        "locks": locks,
        "limits": _limits(scenario, conversion)
        + _saturation_limits(scenario, saturation, seat_cells, taking_part),
        "options": {"time_limit_s": scenario.time_limit_s},
    }
    return conversion


@dataclass(frozen=True, slots=True)
class _Bound:
    """A pair's per-site max as the file has it, net of commitments."""

    value: float | None  # None: no bound
    kind: str  # which bound it is: "site", "saturation", "lock" ("" for none)
    max: int | float | None  # `value` as the file writes it
    share: float  # its share of a pool made of sites (`pool_capacity`)


def _bound(pair: _Pair, not_held: float, lock: float | None, whole: bool) -> _Bound:
    """A pair's per-site max, given what is committed there and held (`lock`) or not."""
    bound, kind = _site_bound(pair, not_held, whole)
    if lock is not None and bound is not None and bound < lock:
        bound, kind = lock, "lock"
    # Its share of a pool made of sites: the site capacity as listed (net of what
    # is not held) even where seats per student bind below it, so what they keep
    # unplaced is said as such; else the per-site max; else what is locked there.
    if pair.site is not None:
        listed = float(pair.site) - not_held
        share = max(listed, bound or 0.0, lock or 0.0, 0.0)
    else:
        share = bound if bound is not None else (lock or 0.0)
    return _Bound(bound, kind, None if bound is None else _number(bound), share)


def _site_bound(pair: _Pair, not_held: float, whole: bool) -> tuple[float | None, str]:
    """A pair's per-site max (None: no bound) and which bound it is, net of commitments
    that are not held as locks. The lower of the site capacity and seats per student;
    the site's on a tie."""
    site, saturation = pair.site, pair.saturation
    if saturation is None or (site is not None and float(site) <= saturation):
        if site is None:
            return None, ""
        value, kind = float(site), "site"
    else:
        value, kind = float(saturation), "saturation"
    value = max(value - not_held, 0.0)
    if whole:
        value = math.floor(value + 1e-9)
    return value, kind


@dataclass(slots=True)
class _SeatCell:
    """One school in one seat category: what its saturation limit sums over the pairs."""

    grades: int = 0  # served by any of the category's services there (GradeBits)
    inside: float = 0.0  # held as locks
    outside: float = 0.0  # committed, not held
    room: float | None = 0.0  # the pairs' per-site maxes together (None: one has none)

    def add(self, pair: _Pair, held: float | None, not_held: float, bound: float | None) -> None:
        # A service that names no grades serves the whole school.
        self.grades |= pair.grades or pair.school.grades
        if held:
            self.inside += held
        if not_held:
            self.outside += not_held
        room = self.room
        self.room = None if bound is None or room is None else room + bound


def _saturation_limits(
    scenario: Scenario,
    saturation: float | None,
    seat_cells: dict[str, dict[int, _SeatCell]],
    taking_part: dict[int, _School],
) -> list[dict[str, Any]]:
    """Per school and seat category: at most saturation × its enrollment in the grades the
    category's services serve there, so that two programs together stay within it too.

    Held locks count inside it (a bound below them is raised to them, as is one below a
    scenario limit's minimum); commitments not held are taken off it. A limit no tighter
    than the school's per-site maxes together is left out: it could never bind.
    """
    if saturation is None:
        return []
    minimums = {
        (limit_category(limit), int(limit["school_id"])): float(limit["min"])
        for limit in scenario.limits or []
        if limit.get("min") is not None
    }
    limits: list[dict[str, Any]] = []
    for category in sorted(seat_cells):
        cells = seat_cells[category]
        for school_id in sorted(cells):
            cell = cells[school_id]
            enrolled = taking_part[school_id].served(cell.grades)
            bound = max(math.floor(saturation * enrolled + 1e-9) - cell.outside, 0.0)
            bound = max(bound, cell.inside, minimums.get((category, school_id), 0.0))
            if cell.room is not None and cell.room <= bound:
                continue
            limits.append(
                {
                    "id": saturation_limit_id(school_key(school_id), category),
                    "school": school_key(school_id),
                    "category": category,
                    "max": _number(bound),
                }
            )
    return limits


SATURATION_PREFIX = "saturation "


def saturation_limit_id(school: str, category: str) -> str:
    """The id of the saturation limit of a school in a category ("saturation S3 tutoring:seats")."""
    return f"{SATURATION_PREFIX}{school} {category}"


def _locks(
    scenario: Scenario,
    conversion: Conversion,
    services: list[_Service],
    categories_of: dict[int, Category],
    bits: GradeBits,
    active: list[_Commitment],
    committed: dict[tuple[int, int], Decimal],
    taking_part: dict[int, _School],
    pairs: dict[int, dict[int, _Pair]],
) -> list[dict[str, Any]]:
    categories = set(scenario.categories or []) or {c.value for c in Category}
    in_scope = {s.id: s for s in services}
    # Two MOUs may commit the same service at the same school: one lock, their sum.
    grouped: dict[tuple[int, int], list[_Commitment]] = defaultdict(list)
    for commitment in active:
        if categories_of[commitment.service_id].value not in categories:
            continue  # outside the scenario's question altogether
        grouped[(commitment.service_id, commitment.school_id)].append(commitment)

    # What the pool keeps for commitments that cannot be locks in any case (not active).
    active_sum: dict[int, Decimal] = defaultdict(Decimal)
    for commitment in active:
        active_sum[commitment.service_id] += commitment.amount
    reserved: dict[int, Decimal] = defaultdict(Decimal)
    for (service_id, _school), total in committed.items():
        reserved[service_id] += total
    locks: list[dict[str, Any]] = []
    for (service_id, school_id), commitments in grouped.items():
        amount = float(sum((c.amount for c in commitments), Decimal(0)))
        note = LockNote(
            service=service_key(service_id),
            school=school_key(school_id),
            amount=_number(amount),
            mou_ids=sorted({c.mou_id for c in commitments}),
            commitment_ids=[c.id for c in commitments],
            kept=False,
        )
        conversion.locks.append(note)
        service = in_scope.get(service_id)
        school_facts = conversion.schools.get(school_key(school_id))
        if service is None:
            note.note = message("lock_service_out_of_scope")
            continue
        if school_id not in taking_part:
            reason = school_facts.excluded if school_facts else None
            note.note = message("lock_school_not_taking_part", reason=reason)
            continue
        if service.capacity is not None:
            # The pool less the commitments that are not active (they are never locks).
            room = service.capacity - (reserved[service_id] - active_sum[service_id])
            if amount > float(room) + 1e-9:
                note.note = message(
                    "lock_above_capacity", amount=_number(amount), capacity=_number(room)
                )
                continue
        if school_id not in pairs[service_id]:
            made = _Pair(taking_part[school_id], bits.mask(service.grades))
            pairs[service_id][school_id] = made
            note.note = message(
                "lock_made_eligible_offering" if service.offerings else "lock_made_eligible"
            )
        note.kept = True
        note.lock_index = len(locks)
        locks.append(
            {
                "id": "C" + "+".join(str(c.id) for c in commitments),
                "service": note.service,
                "school": note.school,
                "amount": note.amount,
            }
        )
    return locks


def limit_unit(limit: dict[str, Any]) -> Unit:
    """A stored limit's unit (limits stored without one are in seats); ValueError if unknown."""
    return Unit(limit.get("unit") or Unit.SEATS)


def limit_category(limit: dict[str, Any]) -> str:
    """The problem category a stored limit bounds."""
    return category_key(Category(limit["category"]), limit_unit(limit))


def _limits(scenario: Scenario, conversion: Conversion) -> list[dict[str, Any]]:
    limits: list[dict[str, Any]] = []
    for index, limit in enumerate(scenario.limits or []):
        key = school_key(int(limit["school_id"]))
        category = limit_category(limit)
        facts = conversion.schools.get(key)
        if facts is None or facts.excluded is not None:
            conversion.skipped_limits.append(
                {
                    "index": index,
                    "school": key,
                    "category": category,
                    "reason": message("limit_school_not_taking_part"),
                }
            )
            continue
        entry: dict[str, Any] = {"id": f"L{index}", "school": key, "category": category}
        for bound in ("min", "max"):
            if limit.get(bound) is not None:
                entry[bound] = _number(limit[bound])
        limits.append(entry)
    return limits


class _Site(Protocol):
    @property
    def capacity(self) -> Decimal | None: ...


class Pooled(Protocol):
    """A service as `pool_capacity` reads it (a `Service`, or a row of the build's)."""

    @property
    def capacity(self) -> Decimal | None: ...

    @property
    def offerings(self) -> Sequence[_Site]: ...


def pool_capacity(
    service: Pooled, site_bounds: list[float] | None = None, not_held: float = 0
) -> Decimal:
    """What the problem lets a service hand out in all.

    With an overall capacity: that capacity less the commitments of the year
    that are not held as locks (`not_held`; held ones count inside it). Without
    one there is no overall pool, and the honest finite bound is what its
    eligible schools list: the sum of their site capacities, and where a school
    has none its per-site max (seats per student × enrollment in the grades
    served), else what is locked there. A program listing 10,000 seats at a
    school of 282 students so has 10,000 in the pool, 282 of them placeable
    there, and the run says the rest stayed unplaced because of seats per
    student. `site_bounds` are those, one per eligible school; without them,
    the sum of the offerings' site capacities.
    """
    if service.capacity is not None:
        return max(service.capacity - Decimal(str(not_held)), Decimal(0))
    if site_bounds is None:
        return sum((o.capacity or Decimal(0) for o in service.offerings), Decimal(0))
    return Decimal(str(_number(sum(site_bounds))))
