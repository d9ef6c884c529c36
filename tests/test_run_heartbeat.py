"""Runs in the background from the first second: the request only records the run, the
worker builds and solves it, beating as it goes; a run whose worker stopped beating is
queued again once, then marked failed; a worker taken for dead never writes to its run
again. (Two app processes and two RQ workers, one killed: tests/test_scale_out.py.)"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.models import AuditEntry, NeedIndexDefinition, School, Service, User
from registry.models.columns import utcnow
from registry.models.scenario import RunStage, RunStatus, Scenario, ScenarioRun
from registry.scenarios import runner
from registry.scenarios import services as scenario_services
from registry.vocabulary import Role
from tests.redis_queues import forget_queue, local_redis_url
from tests.scenario_support import reading_by_need

TIMEOUT_S = 60


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"SCENARIO_HEARTBEAT_TIMEOUT_S": TIMEOUT_S, "SCENARIO_RUN_ATTEMPTS": 2}


@pytest.fixture
def scenario(
    definition: NeedIndexDefinition,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
) -> Scenario:
    return reading_by_need(definition, make_school, make_service)


@pytest.fixture
def no_background(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Runs are handed to nobody: the list says which were handed over."""
    handed: list[int] = []
    monkeypatch.setattr(runner, "dispatch", lambda run: handed.append(run.id))
    return handed


def _fresh(run_id: int) -> ScenarioRun:
    db.session.rollback()
    db.session.expire_all()
    found = db.session.get(ScenarioRun, run_id)
    assert found is not None
    return found


def _taken_long_ago(scenario: Scenario, by: User | None = None) -> tuple[int, int]:
    """A run a worker took and then stopped beating for: (its id, the attempt's number)."""
    run = runner.start_run(scenario, by=by)
    db.session.commit()
    attempt = runner.claim_attempt(run.id, now=utcnow() - timedelta(seconds=TIMEOUT_S + 5))
    assert attempt is not None
    return run.id, attempt


def test_the_request_only_records_the_run_the_worker_builds_it(
    client: FlaskClient,
    login: Callable[..., User],
    scenario: Scenario,
    no_background: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_build_here(*args: Any) -> None:
        raise AssertionError("the request built the problem")

    monkeypatch.setattr(runner, "build_problem", no_build_here)
    login(Role.LEADER)
    response = client.post(f"/scenarios/{scenario.id}/run")
    assert response.status_code == 302
    run_id = int(response.headers["Location"].split("/")[-1])
    assert no_background == [run_id]
    run = _fresh(run_id)
    assert (run.status, run.stage, run.problem_json, run.attempts) == (
        RunStatus.QUEUED,
        RunStage.WAITING,
        None,
        0,
    )
    monkeypatch.undo()
    runner.execute_run(run_id)
    run = _fresh(run_id)
    assert run.status == RunStatus.DONE and run.problem_json and run.result_json
    assert run.eligible_pairs == 2 and run.categories_total == 1 and run.attempts == 1
    assert run.heartbeat_at is not None and run.stage == RunStage.FINISHED


def test_the_progress_shows_the_build_with_the_problems_size_and_the_time(
    client: FlaskClient,
    login: Callable[..., User],
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    building, go_on = threading.Event(), threading.Event()
    real_build = runner.build_problem

    def slow_build(*args: Any) -> Any:
        building.set()
        go_on.wait(60)
        return real_build(*args)

    monkeypatch.setattr(runner, "build_problem", slow_build)
    login(Role.LEADER)
    response = client.post(f"/scenarios/{scenario.id}/run")
    run_id = int(response.headers["Location"].split("/")[-1])
    try:
        assert building.wait(60)
        figures = client.get(f"/scenarios/runs/{run_id}/status.json").get_json()
        assert (figures["status"], figures["stage"]) == ("running", "building")
        assert figures["stage_label"] == "Building the problem"
        assert figures["text"].startswith(
            "Building the problem. Schools: 2; services: 1. Time so far:"
        )
        assert figures["note"] == "" and figures["elapsed_s"] >= 0
        page = client.get(f"/scenarios/runs/{run_id}").get_data(as_text=True)
        live = page.split('id="run-progress-live"')[1].split("</p>")[0]
        assert "Building the problem. Schools: 2; services: 1." in live
        assert "Not counted yet: the problem is still to be built" in page
    finally:
        go_on.set()
        runner.wait_for_thread(run_id, timeout=60)
    figures = client.get(f"/scenarios/runs/{run_id}/status.json").get_json()
    assert figures["finished"] and figures["text"] == "Results ready."


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (LookupError("no need index for 2025-26"), "no need index for 2025-26"),
        (RuntimeError("a bug"), "RuntimeError: a bug"),  # never left "building"
    ],
)
def test_a_build_error_fails_the_run_in_the_worker_with_its_reason(
    app: Flask,
    scenario: Scenario,
    no_background: list[int],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    words: str,
) -> None:
    def broken(*args: Any) -> None:
        raise error

    monkeypatch.setattr(runner, "build_problem", broken)
    run = runner.start_run(scenario, by=None)
    db.session.commit()
    runner.execute_run(run.id)
    run = _fresh(run.id)
    assert (run.status, run.stage) == (RunStatus.FAILED, RunStage.FINISHED)
    assert scenario_services.progress_of(run)["text"] == "The run failed."
    from registry.scenarios.messages import in_words

    assert in_words(run.error) == f"The problem could not be built: {words}"


def test_a_run_whose_worker_stopped_beating_is_queued_again_once_then_failed(
    app: Flask, scenario: Scenario, no_background: list[int]
) -> None:
    run_id, attempt = _taken_long_ago(scenario)
    assert attempt == 1
    reaped = runner.reap_stale()
    assert [r.id for r in reaped] == [run_id]
    db.session.commit()
    run = _fresh(run_id)
    assert (run.status, run.stage, run.attempts, run.heartbeat_at) == (
        RunStatus.QUEUED,
        RunStage.WAITING,
        1,
        None,
    )
    assert "queued again" in scenario_services.progress_of(run)["note"]
    assert runner.release_waiting() == [run_id]  # handed out again
    # The second attempt's worker dies too: the run fails, saying why.
    assert runner.claim_attempt(run_id, now=utcnow() - timedelta(seconds=TIMEOUT_S + 5)) == 2
    assert [r.id for r in runner.reap_stale()] == [run_id]
    db.session.commit()
    run = _fresh(run_id)
    assert (run.status, run.stage) == (RunStatus.FAILED, RunStage.FINISHED)
    from registry.scenarios.messages import in_words

    assert in_words(run.error).startswith(
        "The worker running this scenario stopped (it no longer answered), after 2 attempts"
    )
    # Each step is audited, for the worker.
    entries = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "scenario_run",
            AuditEntry.entity_id == run_id,
            AuditEntry.user_email == "scenario-worker",
        )
    ).all()
    assert [(e.after.get("stage"), e.after.get("status")) for e in entries] == [
        ("waiting", None),  # taken, never started: still "queued"
        ("finished", "failed"),
    ]


def test_a_beating_run_is_left_alone_and_its_page_does_not_warn(
    client: FlaskClient, login: Callable[..., User], scenario: Scenario, no_background: list[int]
) -> None:
    user = login(Role.LEADER)
    run = runner.start_run(scenario, by=user)
    db.session.commit()
    assert runner.claim_attempt(run.id) == 1
    assert runner.reap_stale() == []
    assert runner.reap_stale(now=utcnow() + timedelta(seconds=TIMEOUT_S - 5)) == []
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "The background worker may not be running" not in page
    # Silent past the timeout: the page warns (a GET only reads), the reaper acts.
    later = utcnow() + timedelta(seconds=TIMEOUT_S + 5)
    assert runner.stalled(_fresh(run.id), now=later)
    found = _fresh(run.id)
    found.heartbeat_at = utcnow() - timedelta(seconds=TIMEOUT_S + 5)
    db.session.commit()
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "The worker running this scenario has stopped answering" in page
    assert _fresh(run.id).status == RunStatus.QUEUED and _fresh(run.id).attempts == 1
    assert [r.id for r in runner.reap_stale()] == [run.id]


def test_a_worker_taken_for_dead_cannot_write_to_its_run_again(
    app: Flask, scenario: Scenario, no_background: list[int]
) -> None:
    run_id, first = _taken_long_ago(scenario)
    runner.reap_stale()
    db.session.commit()
    second = runner.claim_attempt(run_id)  # another worker took it
    assert second == first + 1
    # The first worker comes back: its progress and its commits are refused.
    with pytest.raises(runner.RunLost):
        runner.record_progress(run_id, 1, 1, attempt=first)
    run = _fresh(run_id)
    run.status = RunStatus.DONE
    with pytest.raises(runner.RunLost):
        runner._commit_if_mine(run_id, first)
    run = _fresh(run_id)
    assert run.status == RunStatus.QUEUED and run.attempts == second
    # Its heartbeat says it lost the run; the second worker's beats.
    lost = runner.Heartbeat(db.engine, run_id, first, 0.05)
    lost.beat()
    assert lost.lost.is_set()
    alive = runner.Heartbeat(db.engine, run_id, second, 0.05)
    alive.beat()
    assert not alive.lost.is_set()


def test_the_heartbeat_thread_beats_on_its_own_connection(
    app: Flask, scenario: Scenario, no_background: list[int]
) -> None:
    run_id, attempt = _taken_long_ago(scenario)
    before = _fresh(run_id).heartbeat_at
    assert before is not None
    with runner.Heartbeat(db.engine, run_id, attempt, 0.05):
        deadline = utcnow() + timedelta(seconds=30)
        while _fresh(run_id).heartbeat_at == before and utcnow() < deadline:
            threading.Event().wait(0.05)
    assert _fresh(run_id).heartbeat_at > before  # type: ignore[operator]
    assert runner.reap_stale() == []


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    handed: list[int] = []
    monkeypatch.setattr(runner, "dispatch", lambda run: handed.append(run.id))
    yield handed


def test_a_workers_reaper_round_retries_another_workers_dead_run(
    app: Flask, scenario: Scenario, dispatched: list[int]
) -> None:
    run_id, _attempt = _taken_long_ago(scenario)
    assert runner.reap_once(app) == [run_id]
    assert dispatched == [run_id]
    assert _fresh(run_id).status == RunStatus.QUEUED
    # Still waiting with a slot free (its job lost, say): each round hands it out again
    # (a job still on the queue is not queued twice: the next test).
    assert runner.reap_once(app) == []
    assert dispatched == [run_id, run_id]


def test_the_reap_command_says_what_it_did(
    app: Flask, scenario: Scenario, no_background: list[int]
) -> None:
    run_id, _attempt = _taken_long_ago(scenario)
    result = app.test_cli_runner().invoke(args=["scenarios", "reap"])
    assert result.exit_code == 0, result.output
    assert f"0 run(s) marked failed: ; 1 run(s) queued again: {run_id}" in result.output
    assert no_background == [run_id]


def test_a_job_stopped_by_its_time_limit_anywhere_marks_its_run_timed_out(
    app: Flask, scenario: Scenario, no_background: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rq.timeouts import JobTimeoutException

    def out_of_time(*args: Any) -> None:
        raise JobTimeoutException("Task exceeded maximum timeout value (180 seconds)")

    monkeypatch.setattr(runner, "_keep", out_of_time)  # after the build, storing its files
    run = runner.start_run(scenario, by=None)
    db.session.commit()
    runner.execute_run(run.id)
    run = _fresh(run.id)
    assert (run.status, run.stage, run.problem_json) == (
        RunStatus.TIMED_OUT,
        RunStage.FINISHED,
        None,
    )
    assert runner.reap_stale() == []


def test_the_run_request_does_the_same_few_queries_whatever_the_districts_size(
    client: FlaskClient,
    login: Callable[..., User],
    scenario: Scenario,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    no_background: list[int],
) -> None:
    from sqlalchemy import event

    login(Role.LEADER)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:60])

    def queries_of_a_run() -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert client.post(f"/scenarios/{scenario.id}/run").status_code == 302
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    queries_of_a_run()  # the first request of a test warms what is loaded once
    small = queries_of_a_run()
    for n in range(30):
        make_school(name=f"School {n}", enrollment=100, indicators={"pct_high_needs": n})
        make_service(name=f"Service {n}", capacity=Decimal(5))
    large = queries_of_a_run()
    assert small == large, statements
    assert large <= 16, statements


REDIS_URL = local_redis_url()


@pytest.mark.skipif(REDIS_URL is None, reason="no Redis server at 127.0.0.1:6379")
@pytest.mark.parametrize(
    "app_config", [{"REDIS_URL": REDIS_URL, "SCENARIO_QUEUE": f"test-{uuid.uuid4()}"}]
)
def test_a_run_handed_out_again_is_queued_once_until_its_job_is_taken(
    app: Flask, scenario: Scenario, app_config: dict[str, Any]
) -> None:
    from redis import Redis
    from rq import Queue

    run = runner.start_run(scenario, by=None)
    db.session.commit()
    queue = Queue(app_config["SCENARIO_QUEUE"], connection=Redis.from_url(str(REDIS_URL)))
    try:
        first = runner.dispatch(run)
        assert runner.dispatch(run).id == first.id  # type: ignore[union-attr]
        assert queue.count == 1
        queue.empty()  # the job is lost (taken by a worker that died before claiming)
        again = runner.dispatch(run)
        assert again is not None and again.id != first.id  # type: ignore[union-attr]
        assert queue.count == 1
    finally:
        forget_queue(queue.connection, queue.name)
        Redis.from_url(str(REDIS_URL)).delete(f"scenario-run-job:{queue.name}:{run.id}")
