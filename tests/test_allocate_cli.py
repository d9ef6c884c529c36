"""`flask --app registry allocate`: the web's problem, solved, stored and written to a folder."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from flask import Flask
from sqlalchemy import select

import allocation
from registry.extensions import db
from registry.models import MOU, AuditEntry
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import Objective, RunStatus, Scenario, ScenarioRun
from registry.scenarios.problem import build_problem
from registry.vocabulary import Category, MOUStatus, Unit

YEAR = "2025-26"


def district(make_school, make_service, make_offering) -> dict:
    high = make_school(name="Lincoln High", enrollment=282, indicators={"pct_high_needs": 90})
    low = make_school(name="Adams Elementary", enrollment=150, indicators={"pct_high_needs": 10})
    seats = make_service(name="Reading club", capacity=Decimal(40))
    hours = make_service(name="Counselling", category=Category.MENTAL_HEALTH, unit=Unit.HOURS)
    hours.capacity = None
    db.session.commit()
    make_offering(service=hours, school=high, capacity=Decimal(12))
    return {"high": high, "low": low, "seats": seats, "hours": hours}


def test_allocate_writes_both_files_and_stores_the_run(
    app: Flask, tmp_path: Path, definition, make_school, make_service, make_offering
):
    found = district(make_school, make_service, make_offering)
    out = tmp_path / "out"
    result = app.test_cli_runner().invoke(
        args=[
            "allocate",
            "--year",
            YEAR,
            "--objective",
            "maxmin",
            "--need-definition",
            definition.name,
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "run" in result.output and "optimal" in result.output

    problem = json.loads((out / "problem.json").read_text(encoding="utf-8"))
    solution = json.loads((out / "result.json").read_text(encoding="utf-8"))
    allocation.load_problem(problem)  # the engine reads the extra keys without complaint
    schools = {s["name"]: s for s in problem["schools"]}
    assert schools["Lincoln High"]["code"] == found["high"].dese_code
    assert schools["Lincoln High"]["enrollment"] == 282
    services = {s["name"]: s for s in problem["services"]}
    assert services["Reading club"]["partner"] == found["seats"].partner.name
    assert services["Reading club"]["unit"] == "seats"
    assert services["Counselling"]["unit"] == "hours"
    assert services["Counselling"]["eligible"] == [{"school": f"S{found['high'].id}", "max": 12}]
    assert solution["status"] == "optimal" and solution["objective"] == "maxmin"

    db.session.expire_all()
    run = db.session.scalars(select(ScenarioRun)).one()
    assert run.status == RunStatus.DONE and run.engine_status == "optimal"
    assert run.problem_json == (out / "problem.json").read_text(encoding="utf-8")
    assert run.result_json == (out / "result.json").read_text(encoding="utf-8")
    scenario = run.scenario
    assert scenario.school_year == YEAR and scenario.objective == Objective.MAXMIN
    assert scenario.need_definition_id == definition.id
    assert scenario.keep_commitments_as_locks and scenario.saturation == Decimal(1)
    audited = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity.in_(("scenario", "scenario_run")))
    ).all()
    assert {a.entity for a in audited} == {"scenario", "scenario_run"}
    assert {a.user_email for a in audited} == {"cli"}


def test_allocate_builds_the_same_problem_as_the_web(
    app: Flask, tmp_path: Path, definition, make_school, make_service, make_offering, make_mou
):
    found = district(make_school, make_service, make_offering)
    make_mou(
        partner=found["seats"].partner,
        schools=[found["low"]],
        status=MOUStatus.ACTIVE,
        commitments=[(found["seats"], found["low"], 4)],
    )
    result = app.test_cli_runner().invoke(
        args=[
            "allocate",
            "--year",
            YEAR,
            "--category",
            "academic_support",
            "--need-definition",
            definition.name,
            "--out",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    problem = json.loads((tmp_path / "problem.json").read_text(encoding="utf-8"))
    assert [s["category"] for s in problem["services"]] == ["academic_support:seats"]
    assert problem["locks"][0]["amount"] == 4
    # A scenario made on the web with the same settings gets the same file.
    web = Scenario(
        name="Same question",
        school_year=YEAR,
        need_definition_id=definition.id,
        categories=["academic_support"],
    )
    db.session.add(web)
    db.session.commit()
    assert build_problem(web).problem == problem


def test_allocate_refuses_bad_options_without_storing_anything(
    app: Flask, tmp_path: Path, definition: NeedIndexDefinition
):
    runner = app.test_cli_runner()
    unknown = runner.invoke(
        args=["allocate", "--year", YEAR, "--need-definition", "Nope", "--out", str(tmp_path)]
    )
    assert unknown.exit_code == 2 and "no need index definition 'Nope'" in unknown.output
    assert definition.name in unknown.output
    bad_year = runner.invoke(args=["allocate", "--year", "2025", "--out", str(tmp_path)])
    assert bad_year.exit_code == 2 and "2025-26" in bad_year.output
    bad_category = runner.invoke(
        args=["allocate", "--year", YEAR, "--category", "magic", "--out", str(tmp_path)]
    )
    assert bad_category.exit_code == 2
    assert db.session.scalars(select(Scenario)).first() is None
    assert not (tmp_path / "problem.json").exists()
    assert db.session.scalars(select(MOU)).first() is None


def test_allocate_exits_3_when_the_locks_cannot_all_hold(
    app: Flask, tmp_path: Path, definition, make_school, make_service, make_mou
):
    # Two MOUs signed before the capacity was cut to 10: 12 locked seats cannot fit.
    service = make_service(capacity=Decimal(20))
    first = make_school(indicators={"pct_high_needs": 90})
    second = make_school(indicators={"pct_high_needs": 10})
    for school in (first, second):
        make_mou(
            partner=service.partner,
            schools=[school],
            status=MOUStatus.ACTIVE,
            commitments=[(service, school, 6)],
        )
    service.capacity = Decimal(10)
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=[
            "allocate",
            "--year",
            YEAR,
            "--need-definition",
            definition.name,
            "--out",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 3, result.output
    assert "infeasible" in result.output
    solution = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert solution["status"] == "infeasible" and solution["conflicts"]
    db.session.expire_all()
    assert db.session.scalars(select(ScenarioRun)).one().engine_status == "infeasible"
