"""The registry-to-problem conversion as it was before it was vectorised (issue 13).

Row by row over ORM objects: slow at state scale (40 s of CPU), but plain to read.
tests/test_problem_build_scale.py checks that `registry.scenarios.problem.build_problem`
gives byte for byte the same problem file and report as this one. A change to the
conversion's rules is made in both, or this reference is retired with a note in the test.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry.equity.need_index import SchoolNeed, compute_need, default_definition
from registry.extensions import db
from registry.models import MOU, Commitment, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Scenario, WeightRule
from registry.mous.services import counted_for_capacity
from registry.scenarios.messages import Message, message
from registry.scenarios.problem import (
    Conversion,
    LockNote,
    SchoolFacts,
    ServiceFacts,
    category_key,
    key_id,
    limit_category,
    saturation_limit_id,
    school_key,
    service_key,
)
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit


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


def served_enrollment(school: School, grades: list[str] | set[str]) -> float:
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
    stmt = (
        select(Service)
        .options(selectinload(Service.partner), selectinload(Service.offerings))
        .order_by(Service.id)
    )
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


@dataclass
class _Pair:
    """What bounds one service at one school before commitments are counted."""

    grades: list[str]
    site: Decimal | None = None  # the offering's site capacity
    saturation: float | None = None  # saturation × enrollment in the grades served


def _candidates(
    service: Service, schools: dict[int, School], require_area: bool
) -> dict[int, list[str]]:
    """The schools a service could serve (need aside), with the grades it serves there.

    A service with offerings is offered at those schools only; one without
    serves the schools whose grades overlap its own and, when the scenario
    asks, whose zip its partner's service area covers.
    """
    if service.offerings:
        return {
            o.school_id: list(o.grades or service.grades or [])
            for o in service.offerings
            if o.school_id in schools
        }
    return {
        school.id: list(service.grades or [])
        for school in schools.values()
        if grades_overlap(school, service)
        and (not require_area or service.partner.serves_zip(school.zip))
    }


def _commitments(school_year: str) -> tuple[dict[tuple[int, int], Decimal], list[Commitment]]:
    """This year's commitments that use capacity (all but terminated MOUs'), summed per
    (service, school), and the active ones, which may be held as locks."""
    stmt = (
        select(Commitment, MOU.status)
        .join(MOU, Commitment.mou_id == MOU.id)
        .where(MOU.school_year == school_year, counted_for_capacity())
        .options(selectinload(Commitment.service))
        .order_by(Commitment.service_id, Commitment.school_id, Commitment.id)
    )
    committed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    active: list[Commitment] = []
    for commitment, status in db.session.execute(stmt):
        committed[(commitment.service_id, commitment.school_id)] += commitment.amount
        if status == MOUStatus.ACTIVE:
            active.append(commitment)
    return committed, active


def build_problem(scenario: Scenario) -> Conversion:
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
    """
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
    schools = list(db.session.scalars(select(School).order_by(School.id)))
    taking_part: dict[int, School] = {}
    below: dict[int, School] = {}
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
        elif reason["code"] == "need_below_threshold":
            below[school.id] = school

    services, conversion.skipped_services = _services_in_scope(scenario)
    pairs: dict[int, dict[int, _Pair]] = {}
    kept_services: list[Service] = []
    for service in services:
        candidates = _candidates(service, {**taking_part, **below}, scenario.require_service_area)
        sites = {o.school_id: o.capacity for o in service.offerings}
        found: dict[int, _Pair] = {}
        for school_id, grades in candidates.items():
            if school_id not in taking_part:
                continue
            pair = _Pair(grades=grades, site=sites.get(school_id))
            if service.unit == Unit.SEATS and saturation is not None:
                enrolled = served_enrollment(taking_part[school_id], grades)
                pair.saturation = math.floor(saturation * enrolled + 1e-9)
            found[school_id] = pair
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
            partner=service.partner.name,
            category=service.category.value,
            unit=service.unit.value,
            capacity=0,
            registry_capacity=(float(service.capacity) if service.capacity is not None else None),
            offered_at=len(service.offerings),
            below_threshold=sum(1 for s in candidates if s in below),
        )
    services = kept_services

    committed, active = _commitments(scenario.school_year)
    held: dict[tuple[int, int], float] = {}
    locks: list[dict[str, Any]] = []
    if scenario.keep_commitments_as_locks:
        locks = _locks(scenario, conversion, services, active, committed, taking_part, pairs)
        held = {
            (key_id(n.service) or 0, key_id(n.school) or 0): float(n.amount)
            for n in conversion.locks
            if n.kept
        }
    not_held: dict[tuple[int, int], float] = {
        pair: float(amount) - held.get(pair, 0.0) for pair, amount in committed.items()
    }

    not_held_by_service: dict[int, float] = defaultdict(float)
    for (service_id, _school), amount in not_held.items():
        not_held_by_service[service_id] += amount
    problem_services = []
    site_max: dict[tuple[int, int], float | None] = {}
    for service in services:
        key = service_key(service.id)
        facts = conversion.services[key]
        whole = service.unit == Unit.SEATS
        eligible_entries: list[Any] = []
        kinds: dict[str, str] = {}
        finite: list[float] = []
        for school_id in sorted(pairs[service.id]):
            pair = pairs[service.id][school_id]
            bound, kind = _site_bound(pair, not_held.get((service.id, school_id), 0.0), whole)
            lock = held.get((service.id, school_id))
            if lock is not None and bound is not None and bound < lock:
                bound, kind = lock, "lock"
            site_max[(service.id, school_id)] = bound
            # Its share of a pool made of sites: the site capacity as listed (net of what
            # is not held) even where seats per student bind below it, so what they keep
            # unplaced is said as such; else the per-site max; else what is locked there.
            if pair.site is not None:
                listed = float(pair.site) - not_held.get((service.id, school_id), 0.0)
                finite.append(max(listed, bound or 0.0, lock or 0.0, 0.0))
            else:
                finite.append(bound if bound is not None else (lock or 0.0))
            if bound is None:
                eligible_entries.append(school_key(school_id))
                continue
            kinds[school_key(school_id)] = kind
            eligible_entries.append({"school": school_key(school_id), "max": _number(bound)})
        own_not_held = not_held_by_service.get(service.id, 0.0)
        capacity = pool_capacity(service, finite, own_not_held)
        facts.capacity = float(capacity)
        facts.not_held = _number(own_not_held)
        facts.eligible = len(eligible_entries)
        if kinds:
            conversion.bounds[key] = kinds
        entry: dict[str, Any] = {
            "id": key,
            "name": service.name,
            "partner": service.partner.name,
            "category": category_key(service.category, service.unit),
            "unit": service.unit.value,
            "capacity": _number(capacity),
        }
        if whole:
            entry["integer"] = True
        entry["eligible"] = eligible_entries
        problem_services.append(entry)

    codes = {school.id: school.dese_code for school in schools}
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
        + _saturation_limits(
            scenario, saturation, services, pairs, taking_part, held, not_held, site_max
        ),
        "options": {"time_limit_s": scenario.time_limit_s},
    }
    return conversion


def _site_bound(pair: _Pair, not_held: float, whole: bool) -> tuple[float | None, str]:
    """A pair's per-site max (None: no bound) and which bound it is, net of commitments
    that are not held as locks."""
    bounds: list[tuple[float, str]] = []
    if pair.site is not None:
        bounds.append((float(pair.site), "site"))
    if pair.saturation is not None:
        bounds.append((float(pair.saturation), "saturation"))
    if not bounds:
        return None, ""
    value, kind = min(bounds, key=lambda b: (b[0], b[1] != "site"))
    value = max(value - not_held, 0.0)
    if whole:
        value = math.floor(value + 1e-9)
    return value, kind


def _saturation_limits(
    scenario: Scenario,
    saturation: float | None,
    services: list[Service],
    pairs: dict[int, dict[int, _Pair]],
    taking_part: dict[int, School],
    held: dict[tuple[int, int], float],
    not_held: dict[tuple[int, int], float],
    site_max: dict[tuple[int, int], float | None],
) -> list[dict[str, Any]]:
    """Per school and seat category: at most saturation × its enrollment in the grades the
    category's services serve there, so that two programs together stay within it too.

    Held locks count inside it (a bound below them is raised to them, as is one below a
    scenario limit's minimum); commitments not held are taken off it. A limit no tighter
    than the school's per-site maxes together is left out: it could never bind.
    """
    if saturation is None:
        return []
    grades: dict[tuple[str, int], set[str]] = defaultdict(set)
    inside: dict[tuple[str, int], float] = defaultdict(float)
    outside: dict[tuple[str, int], float] = defaultdict(float)
    room: dict[tuple[str, int], float | None] = defaultdict(float)
    for service in services:
        if service.unit != Unit.SEATS:
            continue
        category = category_key(service.category, service.unit)
        for school_id, pair in pairs[service.id].items():
            cell = (category, school_id)
            # A service that names no grades serves the whole school.
            grades[cell] |= set(pair.grades or []) or set(taking_part[school_id].grades or [])
            inside[cell] += held.get((service.id, school_id), 0.0)
            outside[cell] += not_held.get((service.id, school_id), 0.0)
            bound = site_max.get((service.id, school_id))
            so_far = room[cell]
            room[cell] = None if bound is None or so_far is None else so_far + bound
    minimums = {
        (limit_category(limit), int(limit["school_id"])): float(limit["min"])
        for limit in scenario.limits or []
        if limit.get("min") is not None
    }
    limits: list[dict[str, Any]] = []
    for (category, school_id), served in sorted(grades.items()):
        cell = (category, school_id)
        enrolled = served_enrollment(taking_part[school_id], served)
        bound = max(math.floor(saturation * enrolled + 1e-9) - outside[cell], 0.0)
        bound = max(bound, inside[cell], minimums.get(cell, 0.0))
        most = room[cell]
        if most is not None and most <= bound:
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


def _locks(
    scenario: Scenario,
    conversion: Conversion,
    services: list[Service],
    active: list[Commitment],
    committed: dict[tuple[int, int], Decimal],
    taking_part: dict[int, School],
    pairs: dict[int, dict[int, _Pair]],
) -> list[dict[str, Any]]:
    categories = set(scenario.categories or []) or {c.value for c in Category}
    in_scope = {s.id: s for s in services}
    # Two MOUs may commit the same service at the same school: one lock, their sum.
    grouped: dict[tuple[int, int], list[Commitment]] = defaultdict(list)
    for commitment in active:
        if commitment.service.category.value not in categories:
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
            pairs[service_id][school_id] = _Pair(grades=list(service.grades or []))
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


def pool_capacity(
    service: Service, site_bounds: list[float] | None = None, not_held: float = 0
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
