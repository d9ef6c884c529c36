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

Limits (issue 12): at most `SCENARIO_RUNS_TOTAL` runs solve at once, and at most
`SCENARIO_RUNS_PER_USER` of one user's. A run beyond them stays queued ("Waiting: N runs
ahead" on its page) until a slot frees: a run takes its slot with one conditional UPDATE
(`claim`, under an advisory lock on PostgreSQL), so parallel requests never start more;
a run that finishes hands the free slots to the oldest waiting runs (`release_waiting`),
and so does every new run. A run whose worker died (still "running" after twice its time
limit, the RQ job's own timeout, plus `SCENARIO_STALE_MARGIN_S`) is marked failed
(`reap_stale`): when any run is started or finishes, and by ``flask --app registry
scenarios reap`` (for cron). A page (a GET) only reads: it never marks a run.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
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
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import aliased

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
DEFAULT_RUNS_PER_USER = 2
DEFAULT_RUNS_TOTAL = 4
DEFAULT_STALE_MARGIN_S = 300
# Claims of run slots take turns on PostgreSQL (any constant both sides agree on).
CLAIM_LOCK_KEY = 0x5CE7A210
WORKER_ACTOR = Actor(None, "scenario-worker")  # a run nobody (still on record) started

# Background threads by run id, so tests (and shutdown) can wait for them.
_threads: weakref.WeakValueDictionary[int, threading.Thread] = weakref.WeakValueDictionary()


def wait_seconds() -> float | None:
    """How long a request waits for its run: `SCENARIO_WAIT_S`; None waits for the end (tests)."""
    wait = current_app.config.get("SCENARIO_WAIT_S", DEFAULT_WAIT_S)
    return None if wait is None else max(float(wait), 0.0)


def queue_name() -> str:
    return str(current_app.config.get("SCENARIO_QUEUE") or DEFAULT_QUEUE)


def runs_per_user() -> int:
    return max(int(current_app.config.get("SCENARIO_RUNS_PER_USER", DEFAULT_RUNS_PER_USER)), 1)


def runs_total() -> int:
    return max(int(current_app.config.get("SCENARIO_RUNS_TOTAL", DEFAULT_RUNS_TOTAL)), 1)


def stale_after(run: ScenarioRun) -> timedelta:
    """How long a run may stay "running" before its worker is taken for dead."""
    margin = current_app.config.get("SCENARIO_STALE_MARGIN_S", DEFAULT_STALE_MARGIN_S)
    return timedelta(seconds=run.scenario.time_limit_s * 2 + int(margin))


def start_run(scenario: Scenario, by: User | None) -> ScenarioRun:
    """A new queued run of the scenario with its problem built; `dispatch` solves it (no commit).

    Runs whose worker died are marked failed first, so their slots count free again.
    """
    reap_stale()
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


def _solving() -> Any:
    """Runs holding a slot: taken (stage solving) and not finished."""
    return ScenarioRun.stage == RunStage.SOLVING, ScenarioRun.status.not_in(
        [RunStatus.DONE, RunStatus.FAILED, RunStatus.TIMED_OUT]
    )


def claim(run_id: int, now: datetime | None = None) -> bool:
    """Take a run slot for a queued run, within the limits; whether it was taken (commits).

    One conditional UPDATE counts the runs holding slots and takes this one's, so two
    workers can't both take the last slot (PostgreSQL: the claims also take turns on an
    advisory lock, as each statement there counts from its own snapshot).
    """
    db.session.rollback()  # a fresh transaction: SQLite takes its write lock at the UPDATE
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
    owner = db.session.scalar(select(ScenarioRun.created_by_id).where(ScenarioRun.id == run_id))
    other = aliased(ScenarioRun)
    holding = select(func.count(other.id)).where(
        other.stage == RunStage.SOLVING,
        other.status.not_in([RunStatus.DONE, RunStatus.FAILED, RunStatus.TIMED_OUT]),
    )
    conditions = [
        ScenarioRun.id == run_id,
        ScenarioRun.status == RunStatus.QUEUED,
        ScenarioRun.stage == RunStage.WAITING,
        holding.scalar_subquery() < runs_total(),
    ]
    if owner is not None:
        mine = holding.where(other.created_by_id == owner)
        conditions.append(mine.scalar_subquery() < runs_per_user())
    taken = db.session.execute(
        update(ScenarioRun)
        .where(*conditions)
        .values(stage=RunStage.SOLVING, started_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def execute_run(run_id: int) -> None:
    """Solve a queued run, committing its progress (the worker's entry point).

    A run that finds no free slot stays queued; the run that frees one starts it.
    """
    if not claim(run_id):
        return
    run = db.session.get(ScenarioRun, run_id)
    if run is None:
        return
    # Stored texts are codes (registry.scenarios.messages): no language is needed here.
    with acting_as(run_actor(run)):
        run.status = RunStatus.RUNNING  # the start is audited; the slot was taken above
        db.session.commit()
        solve_run(run, on_progress=partial(record_progress, run_id))
        db.session.commit()
    reap_stale()
    db.session.commit()
    release_waiting()


def reap_stale(now: datetime | None = None) -> list[ScenarioRun]:
    """Mark failed every run still "running" long after its worker should have ended (flush).

    Its page then says the worker stopped; its slot counts free again.
    """
    now = now or utcnow()
    running = db.session.scalars(
        select(ScenarioRun).where(ScenarioRun.status == RunStatus.RUNNING)
    ).all()
    reaped = []
    for run in running:
        since = run.started_at or run.created_at
        if since is not None and now - since > stale_after(run):
            with acting_as(WORKER_ACTOR):
                _finish(run, RunStatus.FAILED, dumps("worker_lost"))
                run.finished_at = now
                run.duration_ms = int((now - since).total_seconds() * 1000)
                db.session.flush()
            reaped.append(run)
    return reaped


def waiting_ahead(run: ScenarioRun) -> int:
    """How many queued runs were made before this one and still wait (a read, for its page)."""
    if run.status != RunStatus.QUEUED:
        return 0
    return int(
        db.session.scalar(
            select(func.count(ScenarioRun.id)).where(
                ScenarioRun.status == RunStatus.QUEUED,
                ScenarioRun.stage == RunStage.WAITING,
                ScenarioRun.id < run.id,
            )
        )
        or 0
    )


def release_waiting() -> list[int]:
    """Hand the oldest waiting runs to the background, as many as there are free slots.

    Each still takes its slot itself (`claim`), so handing one out twice does no harm.
    """
    db.session.rollback()
    held = db.session.execute(
        select(ScenarioRun.created_by_id, func.count(ScenarioRun.id))
        .where(*_solving())
        .group_by(ScenarioRun.created_by_id)
    ).all()
    by_user: dict[int | None, int] = {owner: int(count) for owner, count in held}
    free = runs_total() - sum(by_user.values())
    released: list[int] = []
    if free <= 0:
        return released
    waiting = db.session.scalars(
        select(ScenarioRun)
        .where(ScenarioRun.status == RunStatus.QUEUED, ScenarioRun.stage == RunStage.WAITING)
        .order_by(ScenarioRun.id)
    ).all()
    for run in waiting:
        if len(released) >= free:
            break
        owner = run.created_by_id
        if owner is not None and by_user.get(owner, 0) >= runs_per_user():
            continue
        by_user[owner] = by_user.get(owner, 0) + 1
        released.append(run.id)
    for run_id in released:
        found = db.session.get(ScenarioRun, run_id)
        if found is not None:
            dispatch(found)
    return released


def may_start(run: ScenarioRun) -> bool:
    """Whether a slot looks free for the run now (a read; `claim` decides for sure)."""
    held = db.session.execute(
        select(ScenarioRun.created_by_id, func.count(ScenarioRun.id))
        .where(*_solving())
        .group_by(ScenarioRun.created_by_id)
    ).all()
    by_user = {owner: int(count) for owner, count in held}
    if sum(by_user.values()) >= runs_total():
        return False
    owner = run.created_by_id
    return owner is None or by_user.get(owner, 0) < runs_per_user()


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
    """Hand a committed, queued run to the background: RQ when configured, else a thread.

    A run with no free slot stays queued, and nothing is handed over: the run that frees
    a slot starts it (`release_waiting`).
    """
    if run.status != RunStatus.QUEUED or run.stage != RunStage.WAITING or not may_start(run):
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
    running = _threads.get(run.id)
    if running is not None and running.is_alive():
        return running  # handed over already (a release and its own request, say)
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
    return (now or utcnow()) - since > stale_after(run)


@click.command("reap")
@with_appcontext
def reap_command() -> None:
    """Mark failed the runs whose worker died (still running long after their time limit)."""
    reaped = reap_stale()
    db.session.commit()
    click.echo(f"{len(reaped)} run(s) marked failed: {', '.join(str(r.id) for r in reaped)}")


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
