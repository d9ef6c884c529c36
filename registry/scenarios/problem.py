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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry.equity.need_index import SchoolNeed, compute_need, default_definition
from registry.extensions import db
from registry.models import MOU, Commitment, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, WeightRule
from registry.scenarios.messages import Message, message
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit


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
    capacity: float
    eligible: int = 0


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
        }


def _number(value: float | Decimal) -> int | float:
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


def _services_in_scope(scenario: Scenario) -> tuple[list[Service], list[dict[str, Any]]]:
    categories = set(scenario.categories or []) or {c.value for c in Category}
    chosen = set(scenario.service_ids or [])
    stmt = select(Service).options(selectinload(Service.partner)).order_by(Service.id)
    kept: list[Service] = []
    skipped: list[dict[str, Any]] = []
    for service in db.session.scalars(stmt):
        if service.category.value not in categories:
            continue
        if chosen and service.id not in chosen:
            continue
        reason = None
        if not service.active:
            reason = message("service_inactive")
        elif service.partner.status != PartnerStatus.APPROVED:
            reason = message("partner_not_approved", status=service.partner.status.value)
        if reason:
            skipped.append({"id": service.id, "name": service.name, "reason": reason})
            continue
        kept.append(service)
    return kept, skipped


def build_problem(scenario: Scenario) -> Conversion:
    """The scenario's problem file from the registry as it is now, with the conversion's report."""
    definition = _definition(scenario)
    needs = compute_need(definition, scenario.school_year)
    threshold = float(scenario.need_threshold or 0)
    rule = WeightRule(scenario.weight_rule)

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
        },
    )
    schools = list(db.session.scalars(select(School).order_by(School.id)))
    taking_part: dict[int, School] = {}
    for school in schools:
        need = needs.get(school.id)
        value = need.value if need else None
        weight = school_weight(rule, school.enrollment, value) if value is not None else None
        reason = _exclusion(need, weight, threshold)
        conversion.schools[school_key(school.id)] = SchoolFacts(
            id=school.id,
            name=school.name,
            enrollment=school.enrollment,
            need=round(value, 6) if value is not None else None,
            weight=None if reason else weight,
            excluded=reason,
        )
        if reason is None:
            taking_part[school.id] = school

    services, conversion.skipped_services = _services_in_scope(scenario)
    eligible: dict[int, list[int]] = {}
    for service in services:
        eligible[service.id] = [
            school.id
            for school in taking_part.values()
            if grades_overlap(school, service)
            and (not scenario.require_service_area or service.partner.serves_zip(school.zip))
        ]

    locks: list[dict[str, Any]] = []
    if scenario.keep_commitments_as_locks:
        locks = _locks(scenario, conversion, {s.id: s for s in services}, taking_part, eligible)

    problem_services = []
    for service in services:
        key = service_key(service.id)
        entry: dict[str, Any] = {
            "id": key,
            "name": service.name,
            "partner": f"P{service.partner_id}",
            "category": category_key(service.category, service.unit),
            "unit": service.unit.value,
            "capacity": _number(pool_capacity(service)),
        }
        if service.unit == Unit.SEATS:
            entry["integer"] = True
        entry["eligible"] = [school_key(i) for i in sorted(eligible[service.id])]
        problem_services.append(entry)
        conversion.services[key] = ServiceFacts(
            id=service.id,
            name=service.name,
            partner_id=service.partner_id,
            partner=service.partner.name,
            category=service.category.value,
            unit=service.unit.value,
            capacity=float(pool_capacity(service)),
            eligible=len(entry["eligible"]),
        )

    conversion.problem = {
        "objective": scenario.objective.value,
        "schools": [
            {"id": key, "name": facts.name, "weight": facts.weight}
            for key, facts in conversion.schools.items()
            if facts.excluded is None
        ],
        "services": problem_services,
        "locks": locks,
        "limits": _limits(scenario, conversion),
        "options": {"time_limit_s": scenario.time_limit_s},
    }
    return conversion


def _locks(
    scenario: Scenario,
    conversion: Conversion,
    services: dict[int, Service],
    taking_part: dict[int, School],
    eligible: dict[int, list[int]],
) -> list[dict[str, Any]]:
    categories = set(scenario.categories or []) or {c.value for c in Category}
    stmt = (
        select(Commitment)
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(MOU.status == MOUStatus.ACTIVE, MOU.school_year == scenario.school_year)
        .options(selectinload(Commitment.service).selectinload(Service.partner))
        .order_by(Commitment.service_id, Commitment.school_id, Commitment.id)
    )
    # Two MOUs may commit the same service at the same school: one lock, their sum.
    grouped: dict[tuple[int, int], list[Commitment]] = defaultdict(list)
    for commitment in db.session.scalars(stmt):
        if commitment.service.category.value not in categories:
            continue  # outside the scenario's question altogether
        grouped[(commitment.service_id, commitment.school_id)].append(commitment)

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
        service = services.get(service_id)
        school_facts = conversion.schools.get(school_key(school_id))
        if service is None:
            note.note = message("lock_service_out_of_scope")
            continue
        if school_id not in taking_part:
            reason = school_facts.excluded if school_facts else None
            note.note = message("lock_school_not_taking_part", reason=reason)
            continue
        if amount > float(pool_capacity(service)) + 1e-9:
            note.note = message(
                "lock_above_capacity",
                amount=_number(amount),
                capacity=_number(pool_capacity(service)),
            )
            continue
        if school_id not in eligible[service_id]:
            eligible[service_id].append(school_id)
            note.note = message("lock_made_eligible")
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


def pool_capacity(service: Service) -> Decimal:
    """All a service can hand out: its overall capacity, else the sum of its site capacities."""
    if service.capacity is not None:
        return service.capacity
    return sum((o.capacity or Decimal(0) for o in service.offerings), Decimal(0))
