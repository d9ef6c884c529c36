"""Scenario pages: create, run (now, on a thread, on RQ), read, compare, export, adopt; roles."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask_babel import force_locale, refresh
from sqlalchemy import select

from registry.extensions import db
from registry.models import MOU, AuditEntry, School, Service
from registry.models.need import NeedIndexDefinition
from registry.models.scenario import RunStage, RunStatus, Scenario, ScenarioRun
from registry.scenarios import comparison, runner
from registry.scenarios import services as scenario_services
from registry.scenarios.services import read_run
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Unit
from tests.exported import csv_rows, csv_text, xlsx_book
from tests.redis_queues import forget_queue, local_redis_url

ROOT = Path(__file__).resolve().parent.parent
YEAR = "2025-26"


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
    # The request waits for its run to end (None: no time limit on the wait), so a run
    # shows as done however busy the machine; tests of the wait itself set a number.
    return {"SCENARIO_WAIT_S": None}


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
    for heading in ("Summary", "By school", "By service", "Proposal lines"):
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
def test_a_run_longer_than_the_wait_records_and_shows_its_progress_then_its_results(
    client, login, scenario, district, make_service, monkeypatch, app_config
):
    make_service(name="Mentors", category=Category.MENTORING, capacity=Decimal(4))
    scenario.categories = ["academic_support", "mentoring"]
    db.session.commit()
    first_done, gate = threading.Event(), threading.Event()
    real_solve = runner.solve

    def held(*args: Any, on_progress: Any = None, **kwargs: Any) -> Any:
        def report(done: int, total: int, category: str) -> None:
            on_progress(done, total, category)  # committed by the worker, then held
            if done == 1:
                first_done.set()
                gate.wait(60)

        return real_solve(*args, on_progress=report, **kwargs)

    monkeypatch.setattr(runner, "solve", held)
    login("leader")
    response = client.post(f"/scenarios/{scenario.id}/run")
    run_id = int(response.headers["Location"].split("/")[-1])
    try:
        assert first_done.wait(60)
        status = client.get(f"/scenarios/runs/{run_id}/status.json")
        assert status.headers["Cache-Control"] == "no-store"
        figures = status.get_json()
        assert figures["status"] == "running" and not figures["finished"]
        assert (figures["stage"], figures["categories_done"], figures["categories_total"]) == (
            "solving",
            1,
            2,
        )
        assert figures["elapsed_s"] >= 0
        assert figures["text"].startswith("Solving the categories: 1 of 2 categories done.")
        page = client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)
        assert "http-equiv" not in page  # never a self-reloading page (WCAG 2.2.1)
        live = page.split('id="run-progress-live"')[1].split("</p>")[0]
        assert 'role="status"' in live and 'aria-live="polite"' in live
        assert "1 of 2 categories done" in live and "Time so far" in live
        assert f'href="/scenarios/runs/{run_id}"' in page and "Refresh status" in page
        assert f'data-status-url="/scenarios/runs/{run_id}/status.json"' in page
        assert "run-progress.js" in page
        assert "By school" not in page
    finally:
        gate.set()
        runner.wait_for_thread(run_id, timeout=60)
    db.session.expire_all()
    run = db.session.get(ScenarioRun, run_id)
    assert run.status == RunStatus.DONE and run.result_json
    assert (run.stage, run.categories_done, run.categories_total) == (RunStage.FINISHED, 2, 2)
    assert run.started_at is not None
    figures = client.get(f"/scenarios/runs/{run_id}/status.json").get_json()
    assert figures["finished"] and figures["text"] == "Results ready."
    page = client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)
    assert "By school" in page and "http-equiv" not in page and "run-progress.js" not in page


def test_a_queued_run_shows_its_progress_with_a_refresh_button(client, login, scenario):
    run = ScenarioRun(scenario=scenario, status=RunStatus.QUEUED, categories_total=3)
    db.session.add(run)
    db.session.commit()
    login("coordinator")
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "http-equiv" not in page and "Waiting for a worker" in page
    assert "Refresh status" in page
    figures = client.get(f"/scenarios/runs/{run.id}/status.json").get_json()
    assert figures["stage"] == "waiting" and figures["categories_total"] == 3


def test_reading_a_runs_status_never_writes(client, login, scenario, app):
    run = ScenarioRun(scenario=scenario, status=RunStatus.QUEUED)
    db.session.add(run)
    db.session.commit()
    login("leader")
    writes: list[str] = []

    def count(session: Any, *args: Any) -> None:
        writes.append(str(session.new | session.dirty | session.deleted))

    from sqlalchemy import event

    event.listen(db.session, "before_flush", count)
    try:
        assert client.get(f"/scenarios/runs/{run.id}/status.json").status_code == 200
        assert client.get(f"/scenarios/runs/{run.id}").status_code == 200
    finally:
        event.remove(db.session, "before_flush", count)
    assert writes == []
    assert client.get("/scenarios/runs/999999/status.json").status_code == 404


def test_no_page_reloads_itself():
    templates = list((ROOT / "templates").rglob("*.html"))
    assert len(templates) > 20
    for template in templates:
        assert "http-equiv" not in template.read_text(), template.name
    # The run page's progress is polled by a script of our own (CSP: script-src 'self').
    script = (ROOT / "registry" / "static" / "run-progress.js").read_text()
    assert 'getAttribute("data-status-url")' in script and "location.reload" not in script


REDIS_URL = local_redis_url()


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
        forget_queue(connection, queue.name)
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
    rows = csv_rows(csv)
    assert rows[0][:3] == ["Category", "Unit", "Placed"]
    assert sorted(r[:3] for r in rows[1:]) == [
        ["Academic support", "Hours", "20"],
        ["Academic support", "Seats", "10"],
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
    # Released, the 10 committed seats are taken off the 20: the proposal places the other 10
    # (kept as a lock, they would be the whole proposal).
    service.capacity = Decimal(20)
    scenario.keep_commitments_as_locks = False
    db.session.commit()
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
    # In Spanish the figures are written the Spanish way: the concentration index too.
    refresh()
    page = client.get(f"/scenarios/runs/{run.id}/compare?with={other.id}&lang=es")
    text = " ".join(page.get_data(as_text=True).split())
    assert "−0,500" in text or "-0,500" in text
    assert "-0.500" not in text and "Min coverage" not in text


# --- exporting and adopting -------------------------------------------------------------------


def test_results_export_as_csv_and_xlsx(client, login, scenario, district):
    run = solved_run(scenario)
    login("coordinator")
    csv = client.get(f"/scenarios/runs/{run.id}/export.csv?table=schools")
    assert csv.mimetype == "text/csv"
    assert "Needy Elementary" in csv_text(csv)
    assert client.get(f"/scenarios/runs/{run.id}/export.csv?table=nope").status_code == 404
    xlsx = client.get(f"/scenarios/runs/{run.id}/export.xlsx")
    book = xlsx_book(xlsx)
    assert book.sheetnames == ["Categories", "Schools", "Allocations"]
    rows = list(book["Allocations"].values)
    assert rows[1][1] == "Reading club" and rows[1][6] == 10
    reading_club = db.session.scalar(select(Service).where(Service.name == "Reading club"))
    assert rows[1][0] == reading_club.id and isinstance(rows[1][4], int)
    assert book["Allocations"]["G2"].number_format == "#,##0" and rows[1][7] == "Seats"
    categories = book["Categories"]
    assert [c.value for c in categories[1]] == csv_rows(
        client.get(f"/scenarios/runs/{run.id}/export.csv?table=categories")
    )[0]
    for sheet in book.worksheets:
        assert all(re.fullmatch(r"[A-Z][^_]*", c.value) for c in sheet[1])
    gap = categories["E2"]
    assert gap.number_format == "0.0%" and 0 <= gap.value <= 1
    schools = book["Schools"]
    header = [c.value for c in schools[1]]
    per_student = schools[2][header.index("Per student")]
    assert per_student.data_type == "n" and per_student.number_format == "#,##0.0000"


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


# --- who a background run acts for ------------------------------------------------------------


def test_a_background_run_is_audited_for_the_user_who_started_it(client, login, scenario):
    leader = login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    assert run.status == RunStatus.DONE
    entries = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "scenario_run", AuditEntry.entity_id == run.id)
        .order_by(AuditEntry.id)
    ).all()
    # Created in the request, then started and finished by the worker thread.
    assert entries[0].action == "create" and len(entries) >= 3
    assert {(e.user_id, e.user_email) for e in entries} == {(leader.id, leader.email)}
    assert entries[-1].after["status"] == "done"
    assert not db.session.scalars(
        select(AuditEntry).where(AuditEntry.user_email == "scenario-worker")
    ).first()


def test_a_run_whose_starter_is_gone_is_audited_for_the_worker(app, scenario):
    run = runner.start_run(scenario, by=None)
    db.session.commit()
    runner.execute_run(run.id)
    entry = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "scenario_run", AuditEntry.entity_id == run.id)
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry.user_email == "scenario-worker" and entry.user_id is None


# --- stored texts in the reader's language ----------------------------------------------------


def test_stored_texts_are_codes_worded_in_the_readers_language(
    client, login, scenario, make_school, make_partner, make_service
):
    applicant = make_partner(status=PartnerStatus.APPLICANT)
    make_service(name="Chess club", partner=applicant)
    make_school(name="Halfway Elementary", indicators={"pct_econ_disadvantaged": 50})
    scenario.categories = []
    db.session.commit()
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))  # clicked in English
    report = json.loads(run.report_json)
    skipped = next(s for s in report["skipped_services"] if s["name"] == "Chess club")
    assert skipped["reason"] == {"code": "partner_not_approved", "params": {"status": "applicant"}}
    halfway = next(s for s in report["schools"].values() if s["name"] == "Halfway Elementary")
    assert halfway["excluded"] == {
        "code": "need_indicators_missing",
        "params": {"names": ["pct_high_needs"]},
    }

    refresh()  # the test's app context outlives each request: forget the language chosen
    spanish = client.get(f"/scenarios/runs/{run.id}?lang=es").get_data(as_text=True)
    assert "El socio no está aprobado (Solicitante)." in spanish
    assert "faltan indicadores para el año (Con altas necesidades)" in spanish
    assert "pct_high_needs" not in spanish and "is not approved" not in spanish
    # Units in words: the service table's capacity and the proposal lines.
    assert re.search(r"\d cupos</td>", spanish) and "<td>Cupos</td>" in spanish
    assert " seats</td>" not in spanish and "<td>seats</td>" not in spanish
    refresh()
    english = client.get(f"/scenarios/runs/{run.id}?lang=en").get_data(as_text=True)
    assert "The partner is not approved (Applicant)." in english
    assert "indicators missing for the year (High needs)" in english


def test_stored_messages_word_nested_codes_and_keep_older_plain_texts(app):
    from registry.scenarios.messages import dumps, in_words, message

    nested = message(
        "lock_school_not_taking_part",
        reason=message("need_below_threshold", need=0.2, threshold=0.5),
    )
    with force_locale("es"):
        assert in_words(nested) == (
            "No se mantuvo: la escuela no participa. "
            + in_words(message("need_below_threshold", need=0.2, threshold=0.5))
        )
    assert in_words(dumps("weight_zero")) == "Its weight is zero (no enrollment)."
    assert in_words("Solver crashed: stored as words before codes") == (
        "Solver crashed: stored as words before codes"
    )
    assert in_words(None) == ""
    with pytest.raises(KeyError):
        message("no_such_code")


# --- the run page's summary and school table --------------------------------------------------


def test_the_summary_gives_each_category_and_its_schools_furthest_below_target(
    client, login, scenario, district
):
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    (row,) = scenario_services.category_summary(read_run(run))
    assert (row["placed"], row["capacity"]) == (10, 10)
    assert row["gap"] == pytest.approx(0.01) and row["min_coverage"] == 0
    assert [(s["name"], s["allocated"]) for s in row["furthest_below"]] == [
        ("Comfortable Elementary", 0)
    ]
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    summary = page.split('id="summary-head"')[1].split("</section>")[0]
    assert "Academic support · seats" in summary
    assert "Schools furthest below their target" in summary
    # What each figure is, in its unit: whole seats are whole, a fair share keeps its cents.
    assert "Comfortable Elementary: 0 seats, target 0.10 seats" in summary
    assert '<td class="num">10</td>' in summary  # 10 seats placed, not 10.00
    # The floor in words: 10 seats for a weight of 99, none for a weight of 1.
    assert "0: at least one eligible school gets nothing" in summary and "0.0000" not in summary
    assert "The least any eligible school gets for each unit of its weight" in summary
    assert "A school's weight in this run: enrollment × need." in summary
    assert "1.0%" in summary  # the gap
    # How far the engine got, in words (its last stage, which depends on the objective).
    assert "Solved up to" in summary
    assert row["stage_words"].startswith("Shared by need") and row["stage_words"] in summary


def _run_everything(client, login, definition, name: str) -> ScenarioRun:
    """A scenario over every category, run by the leader (signed in): its run."""
    scenario = Scenario(
        name=name, school_year=YEAR, need_definition_id=definition.id, categories=[]
    )
    db.session.add(scenario)
    db.session.commit()
    login("leader")
    return run_of(client.post(f"/scenarios/{scenario.id}/run"))


def test_dollars_read_alike_and_say_they_are_dollars(
    client, login, definition, make_school, make_service
):
    """Two dollar services, one per grade band: the elementary school gets all of its
    service's $19,852 and is still below its share of the $24,516.84 placed."""
    make_school(name="Needy Elementary", enrollment=100, indicators={"pct_high_needs": 90})
    make_school(
        name="Comfortable Middle",
        grades=["6", "7", "8"],
        enrollment=100,
        indicators={"pct_high_needs": 10},
    )
    for grades, capacity in ((["K", "1", "2"], "19852"), (["6", "7", "8"], "4664.84")):
        make_service(
            category=Category.BASIC_NEEDS,
            unit=Unit.DOLLARS,
            grades=grades,
            capacity=Decimal(capacity),
        )
    run = _run_everything(client, login, definition, "Dollars")
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    summary = page.split('id="summary-head"')[1].split("</section>")[0]
    assert '<td class="num">$24,516.84</td><td class="num">$24,516.84</td>' in summary
    assert "Needy Elementary: $19,852.00, target $24,271.67" in summary
    # The floor: $19,852 for a weight of 99 is $200.53 a unit of weight, to 3 digits.
    assert "at least $201.00 per unit of weight" in summary
    schools = page.split('id="schools-head"')[1].split("</section>")[0]
    assert "$19,852.00" in schools and "19,852<" not in schools


def test_a_floor_the_run_did_not_report_is_said_missing_never_0(client, login, scenario):
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    kept = json.loads(run.summary_json)
    for figures in kept["result"]["categories"].values():
        del figures["min_coverage"]
    run.summary_json = json.dumps(kept)
    db.session.commit()
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    summary = page.split('id="summary-head"')[1].split("</section>")[0]
    assert "Not reported" in summary and "0: at least one" not in summary


def test_a_floor_is_said_in_words_in_its_unit(app):
    words = scenario_services.floor_words
    with app.test_request_context("/"):
        assert words(3.7178, "seats") == "at least 3.72 seats per unit of weight"
        assert words(0.0418, "hours") == "at least 0.0418 hours per unit of weight"
        assert words(4.3336, "dollars") == "at least $4.33 per unit of weight"
        assert words(0, "seats") == "0: at least one eligible school gets nothing"
        assert words(None, "seats") is None


def test_a_categorys_stage_is_said_in_words_and_a_time_limit_with_it(app):
    words = scenario_services.stage_words
    with app.test_request_context("/"):
        assert words({"status": "optimal", "stage": "floor_shared"}) == (
            "Floor lifted, then the rest shared by need"
        )
        assert words({"status": "time_limit", "stage": "placed"}) == (
            "As much as possible placed (stopped by the time limit)"
        )
        # Runs stored before stages were reported (a category may even say no_solution).
        assert words({"status": "no_solution", "placed": 0}) == ""
        assert words({"status": "optimal", "stage": "some later stage"}) == ""


def test_at_most_five_schools_are_named_furthest_below_target():
    rows = [
        {"category": "c", "name": f"S{i}", "target": 10.0, "allocated": float(i)} for i in range(9)
    ]
    view = scenario_services.RunView(run=None, problem={}, result={}, report={})
    view.school_rows = rows
    view.category_rows = [{"category": "c", "category_label": "C"}]
    (row,) = scenario_services.category_summary(view)
    assert [s["name"] for s in row["furthest_below"]] == ["S0", "S1", "S2", "S3", "S4"]


ENROLLMENTS = [1, 2, 10, 11, 100, 5, 3, 20, 7, 9, 30, 4]


def _school_table(page: str) -> list[str]:
    table = page.split('id="schools-head"')[1].split("</tbody>")[0]
    return [cell.split("</th>")[0] for cell in table.split('<tr><th scope="row">')[1:]]


@pytest.mark.parametrize("app_config", [{"SCENARIO_WAIT_S": None, "SCENARIO_ROWS_PER_PAGE": 5}])
def test_the_school_table_is_paged_and_sorted_by_number(
    client, login, definition, make_school, make_service, app_config
):
    for enrollment in ENROLLMENTS:
        make_school(
            name=f"E{enrollment}",
            enrollment=enrollment,
            indicators={"pct_high_needs": 50 + enrollment % 7},
        )
    make_service(capacity=Decimal(30))
    run = _run_everything(client, login, definition, "Many")
    url = f"/scenarios/runs/{run.id}"

    # 12 rows: the table is behind a disclosure, closed, its size said; the summary is open.
    page = client.get(url).get_data(as_text=True)
    schools = page.split('id="schools-head"')[1].split("</section>")[0]
    assert "<details" not in page.split('id="schools-head"')[0]
    assert re.search(r'<details class="data-table">\s*<summary>[^<]*: 12 rows</summary>', schools)
    assert "<table" in schools  # in the page, reachable: the disclosure opens in place
    # One service: a short table shows as it is.
    assert "<details" not in page.split('id="services-head"')[1].split("</section>")[0]
    # Paging or sorting the table keeps it open.
    for args in ("sort=enrollment", "page=2"):
        page = client.get(f"{url}?{args}").get_data(as_text=True)
        schools = page.split('id="schools-head"')[1].split("</section>")[0]
        assert '<details class="data-table" open>' in schools, args

    ascending = sorted(ENROLLMENTS)
    page = client.get(f"{url}?sort=enrollment").get_data(as_text=True)
    assert _school_table(page) == [f"E{n}" for n in ascending[:5]]  # 1, 2, 3, 4, 5: not 1, 10, 100
    assert "Page 1 of 3" in page and "12 records" in page
    page = client.get(f"{url}?sort=enrollment&page=3").get_data(as_text=True)
    assert _school_table(page) == [f"E{n}" for n in ascending[10:]]
    page = client.get(f"{url}?sort=-enrollment").get_data(as_text=True)
    assert _school_table(page) == [f"E{n}" for n in sorted(ENROLLMENTS, reverse=True)[:5]]
    # By name: text order, case-folded.
    page = client.get(f"{url}?sort=school").get_data(as_text=True)
    assert _school_table(page) == sorted(f"E{n}" for n in ENROLLMENTS)[:5]
    # An unknown sort or page out of range falls back, never a 500.
    assert client.get(f"{url}?sort=nonsense&page=99").status_code == 200

    # Sort links keep the page's other arguments and start again at page 1.
    page = client.get(f"{url}?sort=enrollment&page=2&drafted=7").get_data(as_text=True)
    header = page.split('id="schools-head"')[1].split("</thead>")[0]
    link = next(a for a in header.split('href="')[1:] if "sort=-enrollment" in a).split('"')[0]
    assert "drafted=7" in link and "page=1" in link and link.endswith("#schools-head")
    pager = page.split('aria-label="Pages of the school table"')[1].split("</nav>")[0]
    assert "page=3" in pager and "sort=enrollment" in pager and "drafted=7" in pager


# --- the engine's sentences, worded by the registry from the engine's clauses ------------------


def _why_problem(**service: Any) -> dict[str, Any]:
    return {
        "schools": [
            {"id": "S1", "name": "Lincoln Elementary", "weight": 10},
            {"id": "S2", "name": "Washington Middle", "weight": 1},
        ],
        "services": [
            {
                "id": "J1",
                "name": "Reading club",
                "category": "tutoring",
                "unit": "seats",
                "capacity": 30,
                "integer": True,
                "eligible": ["S1", "S2"],
                **service,
            }
        ],
    }


def _english_problems() -> list[dict[str, Any]]:
    from tests.allocation.test_allocation_conflicts import base

    below_cohort = base(
        locks=[
            {"service": "J1", "school": "S1", "amount": 3},
            {"service": "J1", "school": "S2", "amount": 5.5},
        ]
    )
    below_cohort["services"][0].update(min_viable=5, integer=True)
    return [
        _why_problem(capacity=1, eligible=["S2"]) | {"schools": _why_problem()["schools"]},
        _why_problem(max_per_school=5),
        _why_problem() | {"limits": [{"school": "S1", "category": "tutoring", "max": 2}]},
        _why_problem() | {"locks": [{"service": "J1", "school": "S1", "amount": 1}]},
        _why_problem(capacity=1),
        base(limits=[{"school": "S1", "category": "tutoring", "min": 40}]),
        base(
            locks=[
                {"service": "J1", "school": "S1", "amount": 10},
                {"service": "J1", "school": "S2", "amount": 6},
            ]
        ),
        base(locks=[{"service": "J2", "school": "S2", "amount": 9}]),
        below_cohort,
        base(
            locks=[{"service": "J1", "school": "S1", "amount": 12}],
            limits=[{"school": "S1", "category": "tutoring", "max": 10}],
        ),
        base(
            limits=[
                {"school": "S2", "category": "tutoring", "min": 5},
                {"school": "S2", "category": "tutoring", "max": 3},
            ]
        ),
        base(limits=[{"school": "S2", "category": "arts", "min": 1}]),
        base(
            limits=[
                {"school": "S1", "category": "tutoring", "min": 23},
                {"school": "S2", "category": "tutoring", "min": 20},
            ]
        ),
        base(
            locks=[{"service": "J1", "school": "S1", "amount": 15}],
            limits=[{"school": "S2", "category": "tutoring", "min": 12}],
        ),
        *_english_problems_v2(),
    ]


def _english_problems_v2() -> list[dict[str, Any]]:
    """Per-site bounds, conflicts that name every party, min_viable blamed, "1 seat"."""
    from tests.allocation.test_allocation_conflicts import three_schools
    from tests.allocation.test_allocation_explain import cohort_service, problem, reading

    math_lab = {"id": "J2", "name": "Math lab", "category": "tutoring", "unit": "seats"}
    return [
        problem(),
        problem(reading(eligible=[{"school": "S1", "max": 5}, "S2"], min_viable=8)),
        problem(locks=[{"service": "J1", "school": "S1", "amount": 25}]),
        problem(limits=[{"school": "S1", "category": "tutoring", "min": 25}]),
        problem(
            reading(eligible=[{"school": "S1", "max": 5}, "S2"], min_viable=8),
            limits=[{"school": "S1", "category": "tutoring", "min": 2}],
        ),
        problem(
            cohort_service(),
            limits=[{"school": "S1", "category": "tutoring", "min": 3, "max": 7.5}],
        ),
        problem(
            cohort_service(),
            {**math_lab, "capacity": 30, "eligible": ["S1", "S2"]},
            locks=[{"service": "J2", "school": "S1", "amount": 2}],
            limits=[
                {"school": "S1", "category": "tutoring", "max": 5},
                {"school": "S1", "category": "tutoring", "min": 3},
            ],
        ),
        problem(
            reading(capacity=1, eligible=["S1", "S2"]),
            limits=[{"school": "S1", "category": "tutoring", "min": 2}],
        ),
        three_schools(
            limits=[{"school": s, "category": "tutoring", "min": 8} for s in ("S1", "S2", "S3")]
        ),
        three_schools(
            locks=[{"service": "J1", "school": "S1", "amount": 10}],
            limits=[
                {"school": "S2", "category": "tutoring", "min": 5},
                {"school": "S2", "category": "tutoring", "min": 5},
                {"school": "S3", "category": "tutoring", "min": 10},
                {"school": "S3", "category": "tutoring", "min": 10},
            ],
        ),
    ]


def test_the_registry_words_the_engines_clauses_as_the_engine_does_in_english(app):
    from allocation import result_to_dict, solve
    from registry.scenarios.messages import Names, engine_conflict, engine_why

    codes: set[str] = set()
    compared = 0
    for problem in _english_problems():
        result = result_to_dict(solve(problem))
        names = Names(
            schools={s["id"]: s.get("name", s["id"]) for s in problem["schools"]},
            services={s["id"]: s.get("name", s["id"]) for s in problem["services"]},
        )
        for row in result["schools"]:
            assert bool(row["why"]) == bool(row["why_codes"])
            if row["why"]:
                assert engine_why(row["why_codes"], names) == row["why"]
                codes.update(c["code"] for c in row["why_codes"])
                compared += 1
        for conflict in result["conflicts"]:
            assert engine_conflict(conflict["code"], names) == conflict["message"]
            codes.add(conflict["code"]["code"])
            compared += 1
    assert compared >= 14
    assert {
        "full",
        "capped",
        "limit_at_most",
        "locks_fix",
        "limit_unreachable",
        "locks_over_capacity",
        "lock_above_max",
        "lock_below_cohort",
        "lock_not_whole",
        "locks_over_limit",
        "limits_contradict",
        "limit_short",
        "site",
        "groups",
        "lock_above_site_max",
        "limit_excess",
        "lock_cannot_hold",
    } <= codes


def test_an_infeasible_run_states_its_conflicts_in_the_readers_language(
    client, login, scenario, district
):
    scenario.limits = [
        {"school_id": district["needy"].id, "category": "academic_support", "min": 50, "max": None}
    ]
    db.session.commit()
    login("leader")
    run = run_of(client.post(f"/scenarios/{scenario.id}/run"))
    [conflict] = json.loads(run.result_json)["conflicts"]
    assert conflict["code"]["code"] == "limit_unreachable"
    refresh()
    page = client.get(f"/scenarios/runs/{run.id}?lang=es").get_data(as_text=True)
    # The category and unit in Spanish (the sentence itself once the catalog has it).
    assert "50 cupos" in page
    assert "Apoyo académico" in page and "academic_support" not in page
