"""Scenario pages: create, run (now, on a thread, on RQ), read, compare, export, adopt; roles."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import select

from registry.extensions import db
from registry.models import MOU, AuditEntry, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import RunStatus, Scenario, ScenarioRun
from registry.scenarios import comparison, runner
from registry.scenarios.services import read_run
from registry.vocabulary import MOUStatus

ROOT = Path(__file__).resolve().parent.parent
YEAR = "2025-26"


@pytest.fixture(autouse=True)
def english(app: Flask) -> Iterator[None]:
    # Runs started outside a request still write their notes in a language.
    with force_locale("en"):
        yield


@pytest.fixture
def district(
    make_school: Callable[..., School], make_service: Callable[..., Service]
) -> dict[str, Any]:
    """Two schools of equal enrollment, needs 0.99 and 0.01, and one 10-seat service."""
    needy = make_school(name="Needy Elementary", enrollment=100, indicators={"pct_high_needs": 90})
    comfortable = make_school(
        name="Comfortable Elementary", enrollment=100, indicators={"pct_high_needs": 10}
    )
    service = make_service(name="Reading club", capacity=Decimal(10))
    return {"needy": needy, "comfortable": comfortable, "service": service}


@pytest.fixture
def scenario(definition: NeedIndexDefinition, district: dict[str, Any]) -> Scenario:
    found = Scenario(
        name="Reading by need",
        school_year=YEAR,
        need_definition_id=definition.id,
        categories=["academic_support"],
    )
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def app_config() -> dict[str, Any]:
    # A run that finishes while the request waits shows as done; a generous wait keeps
    # that so on a busy machine (the request returns as soon as the run is done).
    return {"SCENARIO_WAIT_S": 30}


def solved_run(scenario: Scenario) -> ScenarioRun:
    """A run built and solved here, without a request or a worker."""
    run = runner.start_run(scenario, by=None)
    runner.solve_run(run)
    db.session.commit()
    return run


def run_of(response: Any) -> ScenarioRun:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    run_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    db.session.expire_all()
    return db.session.get(ScenarioRun, run_id)


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, read, plan, adopt",
    [
        ("admin", 200, 200, True),
        ("leader", 200, 200, False),
        ("coordinator", 200, 404, True),
        ("partner", 404, 404, False),
    ],
)
def test_who_may_do_what(client, login, scenario, role, read, plan, adopt):
    login(role)
    assert client.get("/scenarios/").status_code == read
    assert client.get(f"/scenarios/{scenario.id}").status_code == read
    assert client.get("/scenarios/new").status_code == plan
    assert client.get(f"/scenarios/{scenario.id}/edit").status_code == plan
    response = client.post(f"/scenarios/{scenario.id}/run")
    assert response.status_code == (302 if plan == 200 else 404)
    run = db.session.scalars(select(ScenarioRun)).first()
    if run is None:  # this role may not run: let the engine answer for the rest of the test
        run = solved_run(scenario)
    assert client.get(f"/scenarios/runs/{run.id}").status_code == read
    assert client.get(f"/scenarios/runs/{run.id}/problem.json").status_code == read
    assert client.get(f"/scenarios/runs/{run.id}/export.xlsx").status_code == read
    assert client.get(f"/scenarios/runs/{run.id}/compare").status_code == read
    line = f"J{scenario_service_id(run)}:S{needy_id(run)}"
    adopted = client.post(f"/scenarios/runs/{run.id}/adopt", data={"lines": [line]})
    assert adopted.status_code == (302 if adopt else 404)
    assert bool(db.session.scalars(select(MOU)).first()) == adopt


def scenario_service_id(run: ScenarioRun) -> int:
    return int(json.loads(run.problem_json)["services"][0]["id"][1:])


def needy_id(run: ScenarioRun) -> int:
    rows = json.loads(run.result_json)["allocations"]
    return int(rows[0]["school"][1:])


def test_anonymous_visitors_are_sent_to_sign_in(client, scenario):
    assert client.get("/scenarios/").status_code == 302


# --- creating and editing ---------------------------------------------------------------------


def form_data(definition: NeedIndexDefinition, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Tutoring by need",
        "school_year": YEAR,
        "need_definition_id": str(definition.id),
        "weight_rule": "enrollment_x_need",
        "need_threshold": "0",
        "categories": ["academic_support"],
        "require_service_area": "y",
        "objective": "proportional",
        "solver": "highs",
        "time_limit_s": "30",
    }
    data.update(overrides)
    return data


def test_a_leader_creates_a_scenario_with_a_limit(client, login, definition, district):
    login("leader")
    school = district["needy"]
    response = client.post(
        "/scenarios/new",
        data=form_data(
            definition,
            **{
                "limits-0-school_id": str(school.id),
                "limits-0-category": "academic_support",
                "limits-0-unit": "hours",
                "limits-0-min": "2",
                "limits-1-school_id": "",
            },
        ),
    )
    assert response.status_code == 302
    scenario = db.session.scalars(select(Scenario)).one()
    assert scenario.limits == [
        {
            "school_id": school.id,
            "category": "academic_support",
            "unit": "hours",
            "min": 2.0,
            "max": None,
        }
    ]
    assert scenario.require_service_area is True
    assert scenario.keep_commitments_as_locks is False
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "scenario")).first()


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ""},
        {"school_year": "2025-27"},
        {"need_threshold": "1.5"},
        {"need_threshold": "abc"},
        {"weight_rule": "magic"},
        {"objective": "greedy"},
        {"time_limit_s": "99999999999999999999"},
        {"need_definition_id": "x"},
        {
            "limits-0-school_id": "999999",
            "limits-0-category": "academic_support",
            "limits-0-min": "1",
        },
        {"limits-0-category": "academic_support", "limits-0-min": "5", "limits-0-max": "2"},
        {"limits-0-category": "academic_support", "limits-0-unit": "litres", "limits-0-min": "1"},
    ],
)
def test_bad_input_is_refused_with_400_never_500(client, login, definition, district, overrides):
    login("admin")
    if "limits-0-category" in overrides and "limits-0-school_id" not in overrides:
        overrides["limits-0-school_id"] = str(district["needy"].id)
    response = client.post("/scenarios/new", data=form_data(definition, **overrides))
    assert response.status_code == 400
    assert db.session.scalars(select(Scenario)).first() is None


def test_an_edit_against_an_old_version_is_refused(client, login, scenario, definition):
    login("leader")
    data = form_data(definition, name="Renamed", version=str(scenario.version + 1))
    assert client.post(f"/scenarios/{scenario.id}/edit", data=data).status_code == 409
    data["version"] = str(scenario.version)
    assert client.post(f"/scenarios/{scenario.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(Scenario, scenario.id).name == "Renamed"


def test_the_list_searches_and_exports(client, login, scenario):
    login("coordinator")
    assert "Reading by need" in client.get("/scenarios/?q=reading").get_data(as_text=True)
    assert "No scenarios match." in client.get("/scenarios/?q=zzz").get_data(as_text=True)
    csv = client.get("/scenarios/?format=csv")
    assert csv.mimetype == "text/csv" and "Reading by need" in csv.get_data(as_text=True)


# --- running ----------------------------------------------------------------------------------


def test_a_quick_run_redirects_to_its_results(client, login, scenario, district):
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.status == RunStatus.DONE and run.engine_status == "optimal"
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    for heading in ("By category", "By school", "By service", "Proposal lines"):
        assert heading in page
    assert "Needy Elementary" in page and 'http-equiv="refresh"' not in page
    result = json.loads(client.get(f"/scenarios/runs/{run.id}/result.json").get_data())
    # Targets 9.9 and 0.1 seats; whole seats: 10 and 0.
    assert result["allocations"] == [
        {
            "service": f"J{district['service'].id}",
            "school": f"S{district['needy'].id}",
            "amount": 10,
        }
    ]


def test_a_demo_district_run_redirects_to_its_results_and_is_re_solvable(client, login, tmp_path):
    from registry.demo import seed_demo

    seed_demo(password="demo password 123")
    db.session.commit()
    year = db.session.scalars(select(MOU.school_year).order_by(MOU.school_year.desc())).first()
    # Every category, share by need: the whole district in one run.
    scenario = Scenario(name="Everything by need", school_year=year, need_threshold=0)
    db.session.add(scenario)
    db.session.commit()
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.status == RunStatus.DONE, run.error
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "By school" in page and 'http-equiv="refresh"' not in page
    problem = tmp_path / "problem.json"
    problem.write_bytes(client.get(f"/scenarios/runs/{run.id}/problem.json").get_data())
    solved = subprocess.run(
        [sys.executable, "-m", "allocation", "solve", str(problem)],
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    stored = client.get(f"/scenarios/runs/{run.id}/result.json").get_data()
    # Parsed first, so a difference shows as the entries that differ.
    assert json.loads(solved.stdout) == json.loads(stored)
    assert solved.stdout == stored
    assert client.get(f"/scenarios/runs/{run.id}/compare").status_code == 200


@pytest.mark.parametrize("app_config", [{"SCENARIO_WAIT_S": 0.05}])
def test_a_run_longer_than_the_wait_shows_its_progress_then_its_results(
    client, login, scenario, monkeypatch, app_config
):
    gate = threading.Event()
    real_solve = runner.solve

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(60)  # the solve lasts until the test has seen the page in progress
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(runner, "solve", held)
    login("leader")
    response = client.post(f"/scenarios/{scenario.id}/run")
    run_id = int(response.headers["Location"].split("/")[-1])
    try:
        page = client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)
        assert 'http-equiv="refresh"' in page
        assert "Running" in page or "Queued" in page
        assert "By school" not in page
    finally:
        gate.set()
        runner.wait_for_thread(run_id, timeout=60)
    db.session.expire_all()
    run = db.session.get(ScenarioRun, run_id)
    assert run.status == RunStatus.DONE and run.result_json
    page = client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)
    assert "By school" in page and 'http-equiv="refresh"' not in page


def test_a_queued_run_shows_its_progress_and_refreshes(client, login, scenario):
    run = ScenarioRun(scenario=scenario, status=RunStatus.QUEUED, progress="Waiting for a worker")
    db.session.add(run)
    db.session.commit()
    login("coordinator")
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "Waiting for a worker" in page


def _redis_url() -> str | None:
    from redis import Redis
    from redis.exceptions import RedisError

    url = "redis://127.0.0.1:6379/0"
    try:
        Redis.from_url(url, socket_connect_timeout=1).ping()
    except RedisError:
        return None
    return url


REDIS_URL = _redis_url()


@pytest.mark.skipif(REDIS_URL is None, reason="no Redis server at 127.0.0.1:6379")
@pytest.mark.parametrize(
    "app_config",
    [{"SCENARIO_WAIT_S": 0.1, "REDIS_URL": REDIS_URL, "SCENARIO_QUEUE": f"test-{uuid.uuid4()}"}],
)
def test_a_run_goes_to_rq_when_redis_is_configured(client, login, scenario, app, app_config):
    from redis import Redis
    from rq import Queue, SimpleWorker

    login("leader")
    response = client.post(f"/scenarios/{scenario.id}/run")
    run_id = int(response.headers["Location"].split("/")[-1])
    db.session.expire_all()
    assert db.session.get(ScenarioRun, run_id).status == RunStatus.QUEUED
    assert "Queued" in client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)

    connection = Redis.from_url(REDIS_URL)
    queue = Queue(app_config["SCENARIO_QUEUE"], connection=connection)
    try:
        assert queue.count == 1
        SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        queue.delete(delete_jobs=True)
    db.session.expire_all()
    run = db.session.get(ScenarioRun, run_id)
    assert run.status == RunStatus.DONE and run.engine_status == "optimal"


def test_a_failed_run_says_so(client, login, scenario, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(runner, "solve", broken)
    login("admin")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.status == RunStatus.FAILED
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "The run failed" in page and "solver crashed" in page


def test_an_infeasible_run_lists_its_conflicts_with_links(client, login, scenario, district):
    scenario.limits = [
        {"school_id": district["needy"].id, "category": "academic_support", "min": 50, "max": None}
    ]
    db.session.commit()
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.engine_status == "infeasible"
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "No allocation can keep every lock and limit" in page
    assert f"/scenarios/{scenario.id}/edit#limit-0" in page
    # The engine's sentence with its category key in words, the unit once by each amount.
    assert "needs at least 50 seats of Academic support (limit)" in page
    assert "its eligible Academic support services offer 10 seats in all" in page
    assert "seats of Academic support · seats" not in page


def test_locks_named_in_a_conflict_link_to_their_mou(client, login, scenario, district, make_mou):
    service, needy = district["service"], district["needy"]
    mou = make_mou(
        partner=service.partner,
        schools=[needy],
        status=MOUStatus.ACTIVE,
        commitments=[(service, needy, 8)],
    )
    scenario.keep_commitments_as_locks = True
    scenario.limits = [
        {"school_id": needy.id, "category": "academic_support", "min": None, "max": 3}
    ]
    db.session.commit()
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.engine_status == "infeasible"
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert f"/mous/{mou.id}" in page and f"/scenarios/{scenario.id}/edit#limit-0" in page


def test_results_show_each_category_in_one_unit_by_its_label(
    client, login, scenario, district, make_service
):
    from registry.vocabulary import Unit

    make_service(name="Homework hours", unit=Unit.HOURS, capacity=Decimal(20))
    scenario.limits = [
        {
            "school_id": district["needy"].id,
            "category": "academic_support",
            "unit": "hours",
            "min": 30,
            "max": None,
        }
    ]
    db.session.commit()
    login("leader")
    # An hours limit no service can meet: infeasible, said with labels.
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.engine_status == "infeasible"
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "Academic support · hours" in page and "academic_support:" not in page
    assert "Academic support · hours" in client.get(f"/scenarios/{scenario.id}").get_data(
        as_text=True
    )
    edit = client.get(f"/scenarios/{scenario.id}/edit").get_data(as_text=True)
    assert '<option selected value="hours">' in edit

    scenario.limits = []
    db.session.commit()
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.status == RunStatus.DONE
    assert set(json.loads(run.result_json)["categories"]) == {
        "academic_support:seats",
        "academic_support:hours",
    }
    for url in (f"/scenarios/runs/{run.id}", f"/scenarios/runs/{run.id}/compare"):
        page = client.get(url).get_data(as_text=True)
        assert "Academic support · seats" in page and "Academic support · hours" in page
        assert "academic_support:" not in page
    csv = client.get(f"/scenarios/runs/{run.id}/export.csv?table=categories")
    rows = csv.get_data(as_text=True).splitlines()
    assert rows[0].startswith("Category,Unit,Placed")
    assert sorted(r.split(",")[:3] for r in rows[1:]) == [
        ["Academic support", "hours", "20"],
        ["Academic support", "seats", "10"],
    ]


# --- comparing --------------------------------------------------------------------------------


def test_status_quo_formula_and_proposal_figures(client, login, scenario, district, make_mou):
    service, needy, comfortable = district["service"], district["needy"], district["comfortable"]
    # The status quo: all 10 seats at the comfortable school.
    make_mou(
        partner=service.partner,
        schools=[comfortable],
        status=MOUStatus.ACTIVE,
        commitments=[(service, comfortable, 10)],
    )
    run = solved_run(scenario)
    view = read_run(run)
    labels = {"status_quo": "Status quo", "formula": "Formula", "run": "Run", "other": ""}
    [academic] = comparison.compare(view, None, labels)
    status_quo, formula, proposal = academic.columns
    # Weights 100 × 0.99 = 99 and 100 × 0.01 = 1; T = 10; targets 9.9 and 0.1.
    # Status quo 0 / 10: D = 9.9 + 9.9, gap = 19.8 / 20 = 0.99; min coverage 0 / 99 = 0.
    assert status_quo.placed == 10
    assert status_quo.gap == pytest.approx(0.99)
    assert status_quo.min_coverage == 0
    # Formula: 10 seats pro rata to 99 : 1 → 9.9 and 0.1: gap 0, min coverage 0.1 / 1 = 0.1.
    assert formula.units[f"S{needy.id}"] == pytest.approx(9.9)
    assert formula.gap == pytest.approx(0)
    assert formula.min_coverage == pytest.approx(0.1)
    # Proposal in whole seats: 10 and 0: D = 0.1 + 0.1, gap 0.01.
    assert proposal.gap == pytest.approx(0.01)
    # Concentration index, equal enrollments, ranks 1/4 (comfortable) and 3/4 (needy):
    # status quo h = 0.1 and 0: μ = 0.05, CI = 40 · (½·0.05·(−¼) + ½·(−0.05)·¼) = −0.5;
    # formula h = 0.001 and 0.099: CI = 40 · (½·(−0.049)·(−¼) + ½·0.049·¼) = 0.49.
    assert status_quo.concentration == pytest.approx(-0.5)
    assert formula.concentration == pytest.approx(0.49)
    # Two schools: quartile 2 holds the comfortable one, quartile 4 the needy one.
    assert [q.resource_share for q in status_quo.quartiles] == [0, 1, 0, 0]
    assert [q.resource_share for q in proposal.quartiles] == [0, 0, 0, 1]

    login("coordinator")
    other = solved_run(scenario)
    page = client.get(f"/scenarios/runs/{run.id}/compare?with={other.id}").get_data(as_text=True)
    for text in ("Status quo", "Plain formula", f"Run {run.id}", f"Run {other.id}", "<svg"):
        assert text in page
    assert client.get(f"/scenarios/runs/{run.id}/compare?with=abc").status_code == 200


# --- exporting and adopting -------------------------------------------------------------------


def test_results_export_as_csv_and_xlsx(client, login, scenario, district):
    run = solved_run(scenario)
    login("coordinator")
    csv = client.get(f"/scenarios/runs/{run.id}/export.csv?table=schools")
    assert csv.mimetype == "text/csv"
    assert "Needy Elementary" in csv.get_data(as_text=True)
    assert client.get(f"/scenarios/runs/{run.id}/export.csv?table=nope").status_code == 404
    xlsx = client.get(f"/scenarios/runs/{run.id}/export.xlsx")
    book = load_workbook(io.BytesIO(xlsx.get_data()))
    assert book.sheetnames == ["categories", "schools", "allocations"]
    rows = list(book["allocations"].values)
    assert rows[1][1] == "Reading club" and rows[1][6] == 10


def test_chosen_lines_become_one_draft_mou_per_partner(
    client, login, scenario, district, make_service
):
    second = make_service(name="Math lab", capacity=Decimal(4))
    run = solved_run(scenario)
    assert db.session.scalars(select(MOU)).first() is None  # nothing changes by running
    login("coordinator")
    lines = [row["line"] for row in read_run(run).allocation_rows]
    assert len(lines) >= 2
    response = client.post(f"/scenarios/runs/{run.id}/adopt", data={"lines": lines})
    assert response.status_code == 302
    mous = db.session.scalars(select(MOU)).all()
    assert {m.partner_id for m in mous} == {district["service"].partner_id, second.partner_id}
    assert all(m.status == MOUStatus.DRAFT and m.school_year == YEAR for m in mous)
    assert sum(len(m.commitments) for m in mous) == len(lines)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Draft MOUs created" in page and f"/mous/{mous[0].id}" in page
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "mou")).first()


def test_adopting_needs_a_line_of_this_run(client, login, scenario):
    run = solved_run(scenario)
    login("coordinator")
    for data in ({}, {"lines": ["J999:S999"]}, {"lines": ["garbage"]}):
        response = client.post(f"/scenarios/runs/{run.id}/adopt", data=data, follow_redirects=True)
        assert response.status_code == 200
    assert db.session.scalars(select(MOU)).first() is None


def test_limits_are_checked_per_category_and_unit(app, district):
    # The rules below the form: a stored limit without a unit is in seats, an unknown
    # unit is refused, and one school may have a seats and an hours limit in a category
    # (two allocation categories) but not two in the same unit.
    from registry.refusals import Refused
    from registry.scenarios.services import _check

    school = district["needy"].id

    def limit(**extra: Any) -> dict[str, Any]:
        return {"school_id": school, "category": "academic_support", "min": 1, **extra}

    _check({"limits": [limit(), limit(unit="hours")]})
    for limits, message in (
        ([limit(unit="litres")], "Unknown unit."),
        ([limit(), limit(unit="seats")], "Two limits name the same school and category."),
    ):
        with pytest.raises(Refused, match=message):
            _check({"limits": limits})
