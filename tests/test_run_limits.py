"""Scenario run limits: runs beyond the limits wait in line with a clear status; a run
whose worker died is marked failed, never left running; parallel requests never 500."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.models import NeedIndexDefinition, School, Service, User
from registry.models.columns import utcnow
from registry.models.scenario import RunStage, RunStatus, Scenario, ScenarioRun
from registry.scenarios import runner
from registry.scenarios import services as scenario_services
from registry.vocabulary import Role
from tests.conftest import PASSWORD
from tests.scenario_support import reading_by_need

LIMIT_S = 60  # the scenario's time limit
MARGIN_S = 300
BUILD_S = 120  # the build's allowance


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "SCENARIO_RUNS_PER_USER": 2,
        "SCENARIO_RUNS_TOTAL": 4,
        "SCENARIO_STALE_MARGIN_S": MARGIN_S,
        "SCENARIO_BUILD_ALLOWANCE_S": BUILD_S,
        # The runs below are claimed with clocks of long ago: their heartbeats are judged in
        # tests/test_run_heartbeat.py, here only their age.
        "SCENARIO_HEARTBEAT_TIMEOUT_S": 365 * 24 * 3600,
        "SCENARIO_WAIT_S": 0,  # the request never waits: the held solves below stay running
    }


@pytest.fixture
def scenario(
    definition: NeedIndexDefinition,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
) -> Scenario:
    return reading_by_need(definition, make_school, make_service, time_limit_s=LIMIT_S)


@pytest.fixture
def no_background(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Runs are handed to nobody: the list says which were handed over."""
    handed: list[int] = []
    monkeypatch.setattr(runner, "dispatch", lambda run: handed.append(run.id))
    return handed


def _queued(scenario: Scenario, by: User | None) -> ScenarioRun:
    run = runner.start_run(scenario, by=by)
    db.session.commit()
    return run


def _statuses(ids: list[int]) -> dict[int, RunStatus]:
    db.session.expire_all()
    return {i: db.session.get(ScenarioRun, i).status for i in ids}  # type: ignore[union-attr]


def test_runs_beyond_the_limits_wait_in_line(
    app: Flask, scenario: Scenario, make_user: Callable[..., User], no_background: list[int]
) -> None:
    ann, bob, cy = (make_user(Role.LEADER) for _ in range(3))
    anns = [_queued(scenario, ann) for _ in range(3)]
    assert [runner.claim(r.id) for r in anns] == [True, True, False]  # two each
    bobs = [_queued(scenario, bob) for _ in range(2)]
    assert [runner.claim(r.id) for r in bobs] == [True, True]
    last = _queued(scenario, cy)
    assert runner.claim(last.id) is False  # four in all
    assert runner.claim(anns[0].id) is False  # a run takes its slot once
    db.session.expire_all()
    assert anns[2].status == RunStatus.QUEUED and anns[2].stage == RunStage.WAITING
    progress = scenario_services.progress_of(last)
    assert progress["text"].startswith("Waiting: 1 run ahead.")
    assert scenario_services.progress_of(anns[2])["text"].startswith("Waiting for a worker")


def test_a_finished_run_hands_its_slot_to_the_oldest_waiting_run(
    app: Flask, scenario: Scenario, make_user: Callable[..., User], no_background: list[int]
) -> None:
    ann, bob = make_user(Role.LEADER), make_user(Role.LEADER)
    first, second, third = (_queued(scenario, ann) for _ in range(3))
    other = _queued(scenario, bob)
    assert runner.claim(first.id) and runner.claim(second.id)
    # Ann's third waits for her own slot; Bob's run may start at once.
    assert runner.release_waiting() == [other.id]
    db.session.expire_all()
    first.status, first.stage = RunStatus.DONE, RunStage.FINISHED
    db.session.commit()
    assert runner.release_waiting() == [third.id, other.id]


def test_a_run_page_never_writes_and_a_dead_workers_run_is_reaped_after_its_limit(
    client: FlaskClient,
    login: Callable[..., User],
    scenario: Scenario,
    no_background: list[int],
) -> None:
    user = login(Role.LEADER)
    run = _queued(scenario, user)
    started = utcnow() - timedelta(hours=1)
    assert runner.claim(run.id, now=started)
    db.session.expire_all()
    run.status = RunStatus.RUNNING  # its worker then died: nothing will ever finish it
    db.session.commit()
    # The page reads: it warns, and leaves the run as it is.
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "longer than its time limit" in page
    assert _statuses([run.id])[run.id] == RunStatus.RUNNING
    deadline = started + timedelta(seconds=LIMIT_S * 2 + BUILD_S + MARGIN_S)
    assert runner.reap_stale(now=deadline) == []
    assert [r.id for r in runner.reap_stale(now=deadline + timedelta(seconds=1))] == [run.id]
    db.session.commit()
    db.session.expire_all()
    assert run.status == RunStatus.FAILED and run.stage == RunStage.FINISHED
    page = client.get(f"/scenarios/runs/{run.id}").get_data(as_text=True)
    assert "The background worker stopped answering" in page


def test_starting_a_run_reaps_dead_runs_so_their_slots_free(
    app: Flask, scenario: Scenario, make_user: Callable[..., User], no_background: list[int]
) -> None:
    ann = make_user(Role.LEADER)
    dead = [_queued(scenario, ann) for _ in range(2)]
    for run in dead:
        assert runner.claim(run.id, now=utcnow() - timedelta(days=1))
    db.session.expire_all()
    for run in dead:
        run.status = RunStatus.RUNNING
    db.session.commit()
    fresh = _queued(scenario, ann)  # start_run marks the two dead runs failed first
    assert set(_statuses([r.id for r in dead]).values()) == {RunStatus.FAILED}
    assert runner.claim(fresh.id)


def test_the_reap_command_marks_dead_runs_failed(
    app: Flask, scenario: Scenario, no_background: list[int]
) -> None:
    run = _queued(scenario, None)
    assert runner.claim(run.id, now=utcnow() - timedelta(days=1))
    db.session.expire_all()
    run.status = RunStatus.RUNNING
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["scenarios", "reap"])
    assert result.exit_code == 0 and "1 run(s) marked failed" in result.output
    assert _statuses([run.id])[run.id] == RunStatus.FAILED


# ---- two hand-overs of one run at once ------------------------------------------------


def test_two_dispatches_of_one_run_at_once_start_one_thread(
    app: Flask, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release and the run's own request hand it over together: one thread, one entry.

    Each thread is slow to start, so the second hand-over asks "is one alive?" while the
    first is being started: unguarded, it started a second, which took the first's place
    in `_threads`, and the first ran on unseen (nothing waited for it).
    """
    run = _queued(scenario, None)
    assert (run.status, run.stage) == (RunStatus.QUEUED, RunStage.WAITING)  # loaded here
    release = threading.Event()
    started: list[int] = []
    monkeypatch.setattr(runner, "_in_thread", lambda _app, run_id: release.wait(30))

    class SlowStart(threading.Thread):
        def start(self) -> None:
            started.append(1)
            release.wait(0.2)  # the other hand-over's moment
            super().start()

    # Only the runner's threads start slowly (its module's name `threading`, not the module).
    monkeypatch.setattr(runner, "threading", SimpleNamespace(Thread=SlowStart))
    handles: list[Any] = []

    def hand_over() -> None:
        with app.app_context():
            handles.append(runner.dispatch(run))

    both = [threading.Thread(target=hand_over) for _ in range(2)]
    try:
        for caller in both:
            caller.start()
        for caller in both:
            caller.join(30)
        assert len(started) == 1
        assert handles[0] is handles[1] is runner._threads[run.id]
    finally:
        release.set()
        for handle in handles:
            handle.join(30)


# ---- ten parallel requests ----------------------------------------------------------------


class HeldSolves:
    """The engine stubbed: every solve waits until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.release.wait(120)
            raise RuntimeError("stub solver: no result")
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldSolves]:
    stub = HeldSolves()
    monkeypatch.setattr(runner, "solve", stub)
    yield stub
    stub.release.set()
    _join_all_runs()


def _join_all_runs() -> None:
    """Wait for every background run, including those started by runs that finished."""
    while alive := [t for t in list(runner._threads.values()) if t.is_alive()]:
        for thread in alive:
            thread.join(120)


def test_ten_parallel_runs_never_500_and_none_is_left_running(
    app: Flask, scenario: Scenario, make_user: Callable[..., User], held: HeldSolves
) -> None:
    users = [make_user(Role.LEADER) for _ in range(3)]
    emails = [users[n % 3].email for n in range(10)]
    url = f"/scenarios/{scenario.id}/run"
    codes: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(10)

    def post(email: str) -> None:
        # Each in its own thread, so its own app context: the test's own context (and the
        # signed-in user Flask-Login keeps in it) is not shared.
        try:
            client = app.test_client()
            signed_in = client.post("/login", data={"email": email, "password": PASSWORD})
            assert signed_in.status_code == 302
            barrier.wait(60)
            answer = client.post(url)
            assert answer.headers["Location"].startswith("/scenarios/runs/")
            codes.append(answer.status_code)
        except BaseException as err:  # shown below: a thread's exception is otherwise lost
            errors.append(err)

    threads = [threading.Thread(target=post, args=(e,)) for e in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(codes) == [302] * 10
    db.session.rollback()  # a fresh transaction: see the requests' commits
    runs = db.session.scalars(select(ScenarioRun)).all()
    assert len(runs) == 10
    holding = [r for r in runs if r.stage in (RunStage.BUILDING, RunStage.SOLVING)]
    assert 1 <= len(holding) <= 4
    for user in users:
        assert sum(r.created_by_id == user.id for r in holding) <= 2
    waiting = [r for r in runs if r.status == RunStatus.QUEUED and r.stage == RunStage.WAITING]
    assert len(waiting) == 10 - len(holding)
    last = max(r.id for r in waiting)
    page = app.test_client()
    page.post("/login", data={"email": users[0].email, "password": PASSWORD})
    text = page.get(f"/scenarios/runs/{last}").get_data(as_text=True)
    assert "runs ahead" in text
    held.release.set()
    _join_all_runs()
    assert held.most <= 4
    db.session.rollback()  # a fresh transaction: see the requests' commits
    finished = db.session.scalars(select(ScenarioRun)).all()
    assert {r.status for r in finished} == {RunStatus.FAILED}  # the stub's error, every one
    assert all("stub solver" in r.error for r in finished)
