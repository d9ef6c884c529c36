"""Running a scenario: build the problem in the request, solve it in the background, record it.

The request builds the problem (about 0.1 s on the demo district: 43
schools, 262 services, about 7,000 eligible pairs, 17 categories of one
unit each), commits the queued run and hands it to the background: RQ when
`REDIS_URL` is set (queue `SCENARIO_QUEUE`, worker: ``flask --app registry
scenarios worker``), otherwise a thread of this process with its own app
context and session. A Redis that cannot be reached falls back to the
thread, and the run says so. The request then waits at most
`SCENARIO_WAIT_S` seconds (default 1.0) for the run to finish — joining the
thread, or polling the run's status in the database every 50 ms for RQ —
and sends the browser to the run page, which shows the results when the run
finished in time and otherwise its progress: the stage reached, the
categories done of all and the time taken so far, which the background
commits after each category (`record_progress`) and the page polls
(`status.json`) without reloading itself. No request is held longer than
that, however large the district.

A background run is audited in the name of the user who started it.

Measured on the seeded demo district (all categories, whole seats, HiGHS):
proportional solves in about 0.2–0.3 s and maxmin in about 0.4–0.6 s, so
both answer within the first second. Before categories were split by unit
(seats added to hours in one category, mixed whole/continuous) the same
maxmin took about 5.8 s and proportional about 0.35 s. With this year's
commitments held as locks (the default since issue 10; 388 locks on the
demo's 2026-27, 6,958 pairs, 485 seats-per-student limits) maxmin still
takes about 1 s, but proportional spends 10–20 s on some seat categories
(family engagement: 11.7 s with its 57 locks, 0.12 s without) and reached
the 60 s time limit with three categories at stage "shared" (a busy
machine, 2 cores shared); released, 1.5 s.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from functools import partial
from time import monotonic, perf_counter, sleep
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.timeouts import JobTimeoutException
from sqlalchemy import select, update

from allocation import ProblemError, result_to_json, solve
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.models import ScenarioRun, User
from registry.models.columns import utcnow
from registry.models.scenario import RunStage, RunStatus, Scenario
from registry.scenarios.messages import dumps
from registry.scenarios.problem import build_problem

DEFAULT_WAIT_S = 1.0
POLL_S = 0.05
DEFAULT_QUEUE = "scenarios"
WORKER_ACTOR = Actor(None, "scenario-worker")  # a run nobody (still on record) started

# Background threads by run id, so tests (and shutdown) can wait for them.
_threads: weakref.WeakValueDictionary[int, threading.Thread] = weakref.WeakValueDictionary()


def wait_seconds() -> float | None:
    """How long a request waits for its run: `SCENARIO_WAIT_S`; None waits for the end (tests)."""
    wait = current_app.config.get("SCENARIO_WAIT_S", DEFAULT_WAIT_S)
    return None if wait is None else max(float(wait), 0.0)


def queue_name() -> str:
    return str(current_app.config.get("SCENARIO_QUEUE") or DEFAULT_QUEUE)


def start_run(scenario: Scenario, by: User | None) -> ScenarioRun:
    """A new queued run of the scenario with its problem built; `dispatch` solves it (no commit)."""
    run = ScenarioRun(
        scenario=scenario, created_by=by, status=RunStatus.QUEUED, stage=RunStage.WAITING
    )
    db.session.add(run)
    try:
        conversion = build_problem(scenario)
    except (ValueError, LookupError) as err:
        _finish(run, RunStatus.FAILED, error=dumps("build_failed", error=str(err)))
        db.session.flush()
        return run
    run.problem_json = json.dumps(conversion.problem, indent=1, ensure_ascii=False)
    run.report_json = json.dumps(conversion.report(), ensure_ascii=False)
    run.eligible_pairs = conversion.eligible_pairs
    # The engine's categories: every one a service offers or a limit names.
    run.categories_total = len(
        {s["category"] for s in conversion.problem["services"]}
        | {limit["category"] for limit in conversion.problem["limits"]}
    )
    run.progress = ""
    db.session.flush()
    return run


def _finish(run: ScenarioRun, status: RunStatus, error: str = "") -> None:
    run.status = status
    run.stage = RunStage.FINISHED
    run.error = error
    run.finished_at = utcnow()
    if run.started_at is not None:
        run.duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)


ProgressCallback = Callable[[int, int, str], None]


def _count_on(run: ScenarioRun, done: int, total: int, category: str) -> None:
    run.categories_done, run.categories_total = done, total


def solve_run(run: ScenarioRun, on_progress: ProgressCallback | None = None) -> None:
    """Solve the run's stored problem with the scenario's objective and solver (no commit).

    `on_progress` is called after each category (by default it counts them on the run).
    """
    scenario = run.scenario
    if run.status != RunStatus.RUNNING:
        run.status = RunStatus.RUNNING
    if run.stage != RunStage.SOLVING:
        run.stage = RunStage.SOLVING
    run.started_at = run.started_at or utcnow()
    started = perf_counter()
    try:
        result = solve(
            run.problem_json or "{}",
            objective=scenario.objective.value,
            solver=scenario.solver.value,
            on_progress=on_progress or partial(_count_on, run),
        )
    except JobTimeoutException:
        _finish(run, RunStatus.TIMED_OUT, dumps("run_timed_out"))
        return
    except ProblemError as err:
        _finish(run, RunStatus.FAILED, dumps("problem_invalid", error=str(err)))
        return
    except Exception as err:  # a run that breaks must say so on its page, whatever broke
        _finish(run, RunStatus.FAILED, dumps("run_crashed", error=f"{type(err).__name__}: {err}"))
        return
    run.categories_done = run.categories_total
    run.result_json = result_to_json(result)
    run.engine_status = result.status
    _finish(run, RunStatus.TIMED_OUT if result.status == "time_limit" else RunStatus.DONE)
    run.duration_ms = int((perf_counter() - started) * 1000)


def record_progress(run_id: int, done: int, total: int, category: str = "") -> None:
    """Commit how many categories a running run has done (its own unit of work).

    A plain UPDATE of the counts alone: nothing else of the run is flushed, and
    the counts are not audited (the run's start and end are).
    """
    db.session.execute(
        update(ScenarioRun)
        .where(ScenarioRun.id == run_id)
        .values(categories_done=done, categories_total=total)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def run_actor(run: ScenarioRun) -> Actor:
    """Whom a background run's changes are audited for: the user who started it."""
    if run.created_by is not None:
        return Actor(run.created_by.id, run.created_by.email)
    return WORKER_ACTOR


def execute_run(run_id: int) -> None:
    """Solve a queued run, committing its progress (the worker's entry point)."""
    run = db.session.get(ScenarioRun, run_id)
    if run is None or run.status != RunStatus.QUEUED:
        return
    # Stored texts are codes (registry.scenarios.messages): no language is needed here.
    with acting_as(run_actor(run)):
        run.status = RunStatus.RUNNING
        run.stage = RunStage.SOLVING
        run.started_at = utcnow()
        db.session.commit()
        solve_run(run, on_progress=partial(record_progress, run_id))
        db.session.commit()


def run_job(run_id: int) -> None:
    """The RQ job: run inside the worker's app context, or a fresh app's."""
    if has_app_context():
        execute_run(run_id)
        return
    from registry import create_app

    with create_app().app_context():
        execute_run(run_id)


def _in_thread(app: Flask, run_id: int) -> None:
    with app.app_context():
        try:
            execute_run(run_id)
        finally:
            db.session.remove()


def dispatch(run: ScenarioRun) -> Job | threading.Thread | None:
    """Hand a committed, queued run to the background: RQ when configured, else a thread."""
    if run.status != RunStatus.QUEUED:
        return None
    url = current_app.config.get("REDIS_URL")
    if url:
        try:
            queue = Queue(queue_name(), connection=Redis.from_url(url))
            return queue.enqueue(
                run_job,
                run.id,
                job_timeout=run.scenario.time_limit_s * 2 + 60,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
        except RedisError:
            # Better slower on this process than never: say so on the run page.
            run.progress = dumps("queue_unreachable")
            db.session.commit()
    thread = threading.Thread(
        target=_in_thread,
        args=(current_app._get_current_object(), run.id),  # type: ignore[attr-defined]
        name=f"scenario-run-{run.id}",
        daemon=True,
    )
    _threads[run.id] = thread
    thread.start()
    return thread


def wait_briefly(run_id: int, handle: Job | threading.Thread | None) -> None:
    """Give a dispatched run up to `SCENARIO_WAIT_S` seconds, so a quick one shows as done."""
    # End the request's read transaction: it holds nothing while the worker
    # writes, and what it reads next is the worker's latest commit.
    db.session.rollback()
    if handle is None:
        return
    timeout = wait_seconds()
    if isinstance(handle, threading.Thread):
        handle.join(timeout)
        return
    deadline = None if timeout is None else monotonic() + timeout
    while True:
        status = db.session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run_id))
        db.session.rollback()  # each poll a fresh transaction, to see the worker's commits
        if status is None or status.finished:
            return
        if deadline is None:
            sleep(POLL_S)
            continue
        if monotonic() >= deadline:
            return
        sleep(min(POLL_S, max(deadline - monotonic(), 0.0)))


def wait_for_thread(run_id: int, timeout: float | None = None) -> None:
    """Wait for a run's background thread, if it has one (tests, orderly shutdown)."""
    thread = _threads.get(run_id)
    if thread is not None:
        thread.join(timeout)


def stalled(run: ScenarioRun, now: Any = None) -> bool:
    """Whether a queued or running run has waited far beyond its time limit."""
    if run.status.finished:
        return False
    since = run.started_at or run.created_at
    if since is None:
        return False
    waited = ((now or utcnow()) - since).total_seconds()
    return waited > run.scenario.time_limit_s * 2 + 300


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Solve queued scenario runs (needs REDIS_URL)."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("REDIS_URL is not set; runs are solved in the web process.")
    connection = Redis.from_url(url)
    # SimpleWorker runs each job in this process, inside this app context.
    SimpleWorker([Queue(queue_name(), connection=connection)], connection=connection).work(
        burst=burst
    )
