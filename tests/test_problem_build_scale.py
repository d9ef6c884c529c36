"""The fast problem build gives what the row-by-row one gave, byte for byte, at any size.

`build_problem` is vectorised (issue 13: 40 s of CPU at state scale). These tests
build the seeded demo district's problem under many scenario settings, on the demo
as seeded and on a demo bent to reach every rule (inactive and area-bound services,
pools made of sites, locks the file cannot hold, limits for schools that do not take
part), and compare the JSON a run stores with what `tests/problem_reference.py` (the
build before it was vectorised) gives. They also pin the build's phases, reported as
it goes, and the number of queries it makes, which must not grow with the registry.

Seeding takes a couple of seconds, so each test seeds once and builds many times.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, insert, select, update

from registry.audit import Actor, acting_as
from registry.demo import seed_demo
from registry.extensions import db
from registry.models import (
    MOU,
    Commitment,
    NeedIndexDefinition,
    Offering,
    Partner,
    School,
    SchoolIndicators,
    Service,
)
from registry.models.need import MissingPolicy, Normalisation
from registry.models.scenario import Scenario, WeightRule
from registry.scenarios.problem import BUILD_PHASES, Conversion, build_problem
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit
from tests import problem_reference

TODAY = date(2026, 3, 2)  # in 2025-26, the demo's latest year
YEAR = "2025-26"


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Iterator[None]:
    # A POST, as building a problem is part of starting a run (it may flush the default
    # need index), and seeding writes.
    with app.test_request_context(method="POST"):
        yield


def seed() -> None:
    with acting_as(Actor(None, "test")):
        seed_demo(password="demo password 123", today=TODAY)
        db.session.commit()


def settings(school_ids: list[int], service_ids: list[int]) -> dict[str, dict[str, Any]]:
    """Scenario settings worth telling apart, by name (ids: the district's, in id order)."""
    every = len(school_ids) // 7
    return {
        "default": {},
        "locks released": {"keep_commitments_as_locks": False},
        "no seats per student": {"saturation": None},
        "half a seat, by need, threshold": {
            "saturation": Decimal("0.5"),
            "weight_rule": WeightRule.NEED,
            "need_threshold": Decimal("0.4"),
        },
        "by enrollment, anywhere, two categories": {
            "weight_rule": WeightRule.ENROLLMENT,
            "require_service_area": False,
            "categories": [Category.ACADEMIC_SUPPORT.value, Category.MENTORING.value],
        },
        "chosen services, locks released": {
            "service_ids": service_ids[::3],
            "keep_commitments_as_locks": False,
            "saturation": Decimal("2"),
        },
        "high threshold with limits": {
            "need_threshold": Decimal("0.6"),
            "limits": [
                {"school_id": sid, "category": "academic_support", "min": 3, "max": None}
                for sid in school_ids[::every]
            ]
            + [
                {"school_id": school_ids[1], "category": "mentoring", "min": None, "max": 4},
                {
                    "school_id": school_ids[2],
                    "category": "mental_health",
                    "unit": "hours",
                    "min": 2,
                    "max": 9.5,
                },
                {"school_id": school_ids[3], "category": "athletics", "min": 10_000},
            ],
        },
        "another need index": {"need_definition": "renormalised", "need_threshold": Decimal("0.2")},
    }


def stored(conversion: Conversion) -> tuple[str, str]:
    """The problem file and report as a run stores them (registry/scenarios/runner.py)."""
    return (
        json.dumps(conversion.problem, indent=1, ensure_ascii=False),
        json.dumps(conversion.report(), ensure_ascii=False),
    )


def scenario(name: str, values: dict[str, Any]) -> Scenario:
    values = dict(values)
    if values.pop("need_definition", None):
        name = "Two indicators, renormalised"
        renormalised = db.session.scalar(
            select(NeedIndexDefinition).where(NeedIndexDefinition.name == name)
        )
        if renormalised is None:
            renormalised = NeedIndexDefinition(
                name=name,
                weights={"pct_high_needs": 2.0, "pct_chronically_absent": 1.0},
                normalisation=Normalisation.PERCENTILE,
                missing_policy=MissingPolicy.RENORMALISE,
            )
            db.session.add(renormalised)
            db.session.flush()
        values["need_definition_id"] = renormalised.id
    found = Scenario(name=name, school_year=YEAR, **values)
    db.session.add(found)
    db.session.flush()
    return found


def first_difference(new: Any, old: Any, path: str = "") -> str:
    """Where two JSON values first differ, for a failure one can read."""
    if type(new) is not type(old):
        return f"{path}: {new!r} != {old!r}"
    if isinstance(new, dict):
        if list(new) != list(old):
            return f"{path}: keys {list(new)[:20]} != {list(old)[:20]}"
        for key in new:
            found = first_difference(new[key], old[key], f"{path}.{key}")
            if found:
                return found
        return ""
    if isinstance(new, list):
        if len(new) != len(old):
            return f"{path}: {len(new)} items != {len(old)}"
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return ""
    return "" if new == old else f"{path}: {new!r} != {old!r}"


def codes(found: Any) -> set[str]:
    """The message codes and bound kinds in a stored report (what the build had to decide)."""
    if isinstance(found, dict):
        own = {found["code"]} if isinstance(found.get("code"), str) else set()
        return own.union(*(codes(v) for v in found.values()))
    if isinstance(found, list):
        return set().union(*(codes(v) for v in found))
    return {found} if found in ("site", "saturation", "lock") else set()


def assert_same_as_before() -> set[str]:
    """Every setting builds as before; what the builds decided (`codes`), for a test to check."""
    school_ids = list(db.session.scalars(select(School.id).order_by(School.id)))
    service_ids = list(db.session.scalars(select(Service.id).order_by(Service.id)))
    differences = []
    decided: set[str] = set()
    for name, values in settings(school_ids, service_ids).items():
        fast = stored(build_problem(scenario(name, values)))
        reference = stored(problem_reference.build_problem(scenario(name, values)))
        for part, new, old in zip(("problem", "report"), fast, reference, strict=True):
            if new != old:
                where = first_difference(json.loads(new), json.loads(old)) or "(bytes only)"
                differences.append(f"{name}: {part} {where}")
        decided |= codes(json.loads(reference[1]))
        db.session.rollback()
    assert differences == []
    return decided


def bend(district: dict[str, list[int]]) -> None:
    """Bend the seeded demo so that every rule of the conversion has work to do."""
    schools, services = district["schools"], district["services"]
    partners = list(db.session.scalars(select(Partner).order_by(Partner.id)))
    zips = sorted({z for z in db.session.scalars(select(School.zip))})
    # Service areas: a third of the partners serve two zips only.
    for i, partner in enumerate(partners[::3]):
        partner.district_wide = False
        partner.service_zips = [zips[i % len(zips)], zips[(i + 3) % len(zips)]]
    partners[1].status = PartnerStatus.SUSPENDED  # its services (and locks) out of scope
    db.session.flush()
    by_id = {s.id: s for s in db.session.scalars(select(Service).order_by(Service.id))}
    ordered = [by_id[i] for i in services]
    # Pools without an overall capacity: of seats (bounded per student), of hours (none:
    # left out), and of sites (offerings with and without a site capacity, own grades).
    seats = [s for s in ordered if s.unit == Unit.SEATS]
    hours = [s for s in ordered if s.unit != Unit.SEATS]
    for service in seats[::5] + hours[::4]:
        service.capacity = None
    seats[1].grades = []  # names no grades: eligible nowhere by grades, whole school by offering
    seats[2].active = False
    pooled = seats[7]
    pooled.capacity = None
    for i, school_id in enumerate(schools[:6]):
        db.session.add(
            Offering(
                service_id=pooled.id,
                school_id=school_id,
                capacity=None if i == 2 else Decimal(5 + 3 * i),
                grades=["3", "4"] if i == 4 else [],
            )
        )
    db.session.add(Offering(service_id=seats[1].id, school_id=schools[7], capacity=Decimal(12)))
    db.session.flush()
    # Schools: one with no grades, one with no pupils, one without this year's indicators.
    first = db.session.get(School, schools[0])
    assert first is not None
    first.grades = []
    db.session.execute(update(School).where(School.id == schools[4]).values(enrollment=0))
    db.session.execute(
        delete(SchoolIndicators).where(
            SchoolIndicators.school_id == schools[5], SchoolIndicators.school_year == YEAR
        )
    )
    # Locks the file cannot hold as they are: a pair outside the grades or area, a lock
    # above a capacity cut after signing, fractional and doubled commitments.
    active = db.session.scalars(
        select(MOU).where(MOU.school_year == YEAR, MOU.status == MOUStatus.ACTIVE).order_by(MOU.id)
    ).all()
    committed = db.session.scalars(
        select(Commitment).where(Commitment.mou_id.in_([m.id for m in active]))
    ).all()
    taken = {(c.mou_id, c.service_id, c.school_id) for c in committed}
    extra = [
        (active[0].id, seats[1].id, schools[9], Decimal(3)),
        (active[1].id, hours[0].id, schools[10], Decimal("2.5")),
        (active[2].id, committed[0].service_id, committed[0].school_id, Decimal(4)),
        (active[3].id, pooled.id, schools[20], Decimal(6)),
        (active[4].id, seats[2].id, schools[11], Decimal(2)),
    ]
    rows = [
        {"mou_id": m, "service_id": sv, "school_id": sc, "amount": amount}
        for m, sv, sc, amount in extra
        if (m, sv, sc) not in taken
    ]
    db.session.execute(insert(Commitment), rows)
    cut = by_id[committed[5].service_id]
    if cut.capacity is not None:
        cut.capacity = Decimal(1)
    db.session.commit()


def district_ids() -> dict[str, list[int]]:
    return {
        "schools": list(db.session.scalars(select(School.id).order_by(School.id))),
        "services": list(db.session.scalars(select(Service.id).order_by(Service.id))),
    }


def test_the_demo_district_builds_as_before_under_every_setting() -> None:
    seed()
    assert_same_as_before()


def test_a_bent_demo_district_builds_as_before_under_every_setting() -> None:
    seed()
    bend(district_ids())
    decided = assert_same_as_before()
    assert decided >= {
        "service_inactive",
        "partner_not_approved",
        "service_no_capacity",
        "need_below_threshold",
        "need_indicators_missing",
        "weight_zero",
        "lock_made_eligible",
        "lock_made_eligible_offering",
        "lock_above_capacity",
        "lock_service_out_of_scope",
        "lock_school_not_taking_part",
        "limit_school_not_taking_part",
        "site",
        "saturation",
        "lock",
    }, decided


def test_the_build_reports_its_phases_in_order() -> None:
    seed()
    phases: list[str] = []
    conversion = build_problem(scenario("default", {}), on_progress=phases.append)
    assert phases == list(BUILD_PHASES) == ["loading", "pairs", "locks", "limits"]
    assert conversion.eligible_pairs > 0


def test_the_build_makes_a_fixed_number_of_queries() -> None:
    """However many schools, services and commitments (no query per row)."""
    seed()
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    built = scenario("default", {})
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        build_problem(built)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) <= 10, statements
