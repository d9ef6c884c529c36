"""seed-scale: a small state data set scales, repeats for a seed, refuses a non-empty
database, keeps the audit chain whole, and the pages work on it."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import func, select

from registry.cli import seed_scale_command
from registry.extensions import db
from registry.models import (
    MOU,
    AuditEntry,
    Commitment,
    Offering,
    Partner,
    School,
    SchoolIndicators,
    Service,
    User,
)
from registry.scale import PARTNERS_PER_SCHOOL, SCHOOLS, SEED, build_scale_plan, scale_years
from registry.vocabulary import MOUStatus

TODAY = date(2026, 11, 30)
SMALL = 40


def _count(model: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def test_the_plan_repeats_for_a_seed_and_scales_with_the_schools() -> None:
    first = build_scale_plan(schools=SMALL, seed=7, today=TODAY)
    again = build_scale_plan(schools=SMALL, seed=7, today=TODAY)
    other = build_scale_plan(schools=SMALL, seed=8, today=TODAY)
    assert first.rows == again.rows
    assert first.rows["partner"] != other.rows["partner"]
    double = build_scale_plan(schools=2 * SMALL, seed=7, today=TODAY)
    assert len(first.rows["school"]) == SMALL and len(double.rows["school"]) == 2 * SMALL
    assert len(first.rows["partner"]) == round(SMALL * PARTNERS_PER_SCHOOL)
    for table in ("service", "mou", "commitment"):
        small, large = len(first.rows[table]), len(double.rows[table])
        assert 0 < small < large, table
    assert first.years == scale_years(TODAY) == ["2024-25", "2025-26", "2026-27"]
    defaults = {p.name: p.default for p in seed_scale_command.params}
    assert (defaults["schools"], defaults["seed"]) == (SCHOOLS, SEED)


def test_commitments_stay_within_capacity_and_fit_the_schools() -> None:
    plan = build_scale_plan(schools=SMALL, seed=3, today=TODAY)
    services = {s["id"]: s for s in plan.rows["service"]}
    schools = {s["id"]: s for s in plan.rows["school"]}
    partners = {p["id"]: p for p in plan.rows["partner"]}
    mous = {m["id"]: m for m in plan.rows["mou"]}
    used: dict[tuple[int, str], float] = {}
    for line in plan.rows["commitment"]:
        service, school = services[line["service_id"]], schools[line["school_id"]]
        partner = partners[mous[line["mou_id"]]["partner_id"]]
        assert service["partner_id"] == partner["id"]
        assert set(service["grades"]) & set(school["grades"])
        assert partner["district_wide"] or school["zip"] in partner["service_zips"]
        key = (service["id"], mous[line["mou_id"]]["school_year"])
        used[key] = used.get(key, 0) + float(line["amount"])
    for (service_id, _), total in used.items():
        capacity = services[service_id]["capacity"]
        assert capacity is None or total <= capacity
    codes = [s["dese_code"] for s in plan.rows["school"]]
    assert len(set(codes)) == len(codes) and all(len(c) == 8 and c.isdigit() for c in codes)


def test_seed_scale_writes_a_working_registry(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-scale", "--schools", str(SMALL), "--password", "pw-scale"])
    assert result.exit_code == 0, result.output
    plan = build_scale_plan(schools=SMALL)  # today's, as the command drew it
    for model, table in (
        (School, "school"), (SchoolIndicators, "school_indicators"), (Partner, "partner"),
        (Service, "service"), (Offering, "offering"), (MOU, "mou"), (Commitment, "commitment"),
    ):  # fmt: skip
        assert _count(model) == len(plan.rows[table]), table
    assert _count(User) >= 4
    statuses = {m.status for m in db.session.scalars(select(MOU))}
    assert MOUStatus.ACTIVE in statuses and MOUStatus.EXPIRED in statuses
    # One audit row for the data set, not one per record; the chain verifies.
    assert _count(AuditEntry) <= 3
    verified = runner.invoke(args=["verify-audit"])
    assert verified.exit_code == 0, verified.output

    # The ids go on from the data set's: a new school gets the next one.
    school = School(dese_code="99999999", name="Added Later School", grades=["K"])
    db.session.add(school)
    db.session.commit()
    assert school.id == SMALL + 1

    # A second run refuses, in one line, with exit status 2.
    again = runner.invoke(args=["seed-scale", "--schools", str(SMALL)])
    assert again.exit_code == 2
    assert len(again.output.strip().splitlines()) == 1
    assert "not empty" in again.output

    client = app.test_client()
    response = client.post("/login", data={"email": "admin@state.example", "password": "pw-scale"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    for path in ("/schools/", "/partners/", "/mous/", "/services/", "/equity/", "/directory/"):
        assert client.get(path).status_code == 200, path
    mou = db.session.scalars(select(MOU).where(MOU.status == MOUStatus.ACTIVE)).first()
    assert mou is not None
    assert client.get(f"/mous/{mou.id}").status_code == 200
