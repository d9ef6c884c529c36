"""A finished run's summary: its pages read it instead of the problem file, and show the same.

The demo district is seeded once per test (a couple of seconds); two runs of one scenario
are solved here, without a request or a worker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit import Actor, acting_as
from registry.demo import seed_demo
from registry.extensions import db
from registry.models import Scenario, ScenarioRun, User
from registry.scenarios import runner, summary
from registry.scenarios.services import RunView, read_run
from tests.conftest import PASSWORD

TODAY = date(2026, 3, 2)  # in 2025-26, the demo's latest fixed year
YEAR = "2025-26"


@pytest.fixture
def runs(app: Flask) -> list[ScenarioRun]:
    """Two solved runs of one scenario of the demo district, all categories."""
    with acting_as(Actor(None, "cli")):
        seed_demo(password=PASSWORD, today=TODAY)
        db.session.commit()
    scenario = Scenario(name="Summary", school_year=YEAR)
    db.session.add(scenario)
    db.session.commit()
    solved = []
    for _ in range(2):
        run = runner.start_run(scenario, by=None)
        runner.solve_run(run)
        db.session.commit()
        assert run.result_json, run.error
        solved.append(run)
    return solved


@pytest.fixture
def admin(runs: list[ScenarioRun], login: Callable[..., User]) -> User:
    user = db.session.scalar(select(User).where(User.email == "admin@demo.example"))
    assert user is not None
    return login(user=user)


@pytest.fixture
def client_of(client: FlaskClient, admin: User) -> FlaskClient:
    """The admin's client, its sign-in message shown (so no page shows it)."""
    client.get("/")
    return client


def _pages(client: FlaskClient, run: ScenarioRun, other: ScenarioRun) -> dict[str, bytes]:
    base = f"/scenarios/runs/{run.id}"
    urls = [
        base,
        f"{base}?page=2&sort=-need",
        f"{base}?sort=short&services_page=2&lines_page=2",
        f"{base}/status.json",
        f"{base}/compare",
        f"{base}/compare?with={other.id}",
        f"{base}/export.csv?table=categories",
        f"{base}/export.csv?table=schools",
        f"{base}/export.csv?table=allocations",
    ]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        # The form's token and the run's elapsed time are the only parts that may differ.
        body = re.sub(rb'name="csrf_token" value="[^"]*"', b"", response.get_data())
        pages[url] = body
    return pages


def test_a_finished_run_keeps_its_summary(runs: list[ScenarioRun]) -> None:
    run = runs[0]
    kept = summary.loads(run.summary_json)
    assert kept is not None
    # What it says is what the problem says.
    problem = json.loads(run.problem_json or "{}")
    assert kept == summary.summarise(
        problem, json.loads(run.result_json or "{}"), json.loads(run.report_json or "{}")
    )
    assert kept["service_categories"] == sorted({s["category"] for s in problem["services"]})
    assert "bounds" not in kept["report"]
    # A fraction of the files it spares the pages from reading.
    assert (
        len(run.summary_json or "") < (len(run.problem_json or "") + len(run.report_json or "")) / 2
    )


def test_the_pages_read_the_summary_not_the_problem_and_show_the_same(
    app: Flask,
    client_of: FlaskClient,
    runs: list[ScenarioRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, other = runs

    def refuse(self: RunView) -> Any:
        raise AssertionError("the problem file was read")

    with monkeypatch.context() as patched:
        patched.setattr(RunView, "problem", property(refuse))
        with_summary = _pages(client_of, run, other)
        # Adoption reads the run's lines without the problem too.
        assert read_run(run).allocation_rows
    # A run finished before summaries were kept: the pages compute it from the problem.
    for each in runs:
        each.summary_json = None
    db.session.commit()
    without = _pages(client_of, run, other)
    assert with_summary.keys() == without.keys()
    for url, body in with_summary.items():
        assert body == without[url], url
    # A GET never writes: the run still has no summary.
    db.session.expire_all()
    assert db.session.get(ScenarioRun, run.id).summary_json is None  # type: ignore[union-attr]


def test_a_summary_of_another_version_is_not_read() -> None:
    assert summary.loads(json.dumps({"version": summary.VERSION + 1})) is None
    assert summary.loads("not json") is None
    assert summary.loads(None) is None


def test_a_run_whose_summary_cannot_be_made_keeps_its_result(
    runs: list[ScenarioRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise KeyError("capacity")

    monkeypatch.setattr(summary, "summarise_files", broken)
    run = runner.start_run(runs[0].scenario, by=None)
    runner.solve_run(run)
    db.session.commit()
    assert run.result_json and run.summary_json is None


def test_a_why_that_lists_many_services_is_worded_the_same_from_the_summary(app: Flask) -> None:
    from registry.scenarios.messages import Names, engine_why

    names = Names(schools={"S1": "Lakeside"}, services={f"J{i}": f"Service {i}" for i in range(9)})
    codes = [
        {
            "code": "site",
            "params": {"service": "J1", "school": "S1", "amount": 20, "unit": "seats"},
        },
        {"code": "full", "params": {"services": [f"J{i}" for i in range(9)]}},
        {"code": "locks_fix", "params": {"services": ["J1", "J2"]}},
    ]
    short = [summary._short(code) for code in codes]
    assert short[1]["params"] == {"services": ["J0", "J1", "J2"], "services_count": 9}
    assert short[2] == codes[2]
    with app.test_request_context():
        worded = engine_why(summary.full_codes(short), names)
        assert worded == engine_why(codes, names)
    assert "6 more" in (worded or "")


def test_allocation_lines_keep_their_amounts() -> None:
    rows = [
        {"service": "J1", "school": "S2", "amount": 92},
        {"service": "J3", "school": "S4", "amount": 12.5},
        {"service": "J5", "school": "S6", "amount": 1e-05},
    ]
    lines = summary.allocation_lines("\n".join(summary._line(row) for row in rows))
    assert [summary.allocation(line) for line in lines] == [
        ("J1", "S2", 92),
        ("J3", "S4", 12.5),
        ("J5", "S6", 1e-05),
    ]
    assert isinstance(summary.allocation(lines[0])[2], int)
    assert summary.allocation_lines("") == []
    with pytest.raises(ValueError):
        summary._line({"service": "J 1", "school": "S2", "amount": 1})


def test_the_audit_trail_does_not_copy_the_summary(runs: list[ScenarioRun]) -> None:
    from registry.models import AuditEntry

    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "scenario_run")
    ).all()
    assert entries
    for entry in entries:
        assert "summary_json" not in (entry.before or {})
        assert "summary_json" not in (entry.after or {})


def test_the_command_line_summarises_the_runs_finished_before(
    app: Flask, runs: list[ScenarioRun]
) -> None:
    kept = runs[0].summary_json
    runs[0].summary_json = None
    runs[1].summary_json = json.dumps({"version": 0})
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["scenarios", "summarise"])
    assert result.exit_code == 0, result.output
    assert "2 runs summarised." in result.output
    db.session.expire_all()
    assert db.session.get(ScenarioRun, runs[0].id).summary_json == kept  # type: ignore[union-attr]
    assert summary.loads(db.session.get(ScenarioRun, runs[1].id).summary_json)  # type: ignore[union-attr]
    again = app.test_cli_runner().invoke(args=["scenarios", "summarise"])
    assert "0 runs summarised." in again.output
