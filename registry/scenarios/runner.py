"""Running a scenario: record it in the request, build and solve it in the background.

The request only records a queued run, commits it and hands it to the
background (`dispatch`): RQ when `REDIS_URL` is set (queue `SCENARIO_QUEUE`,
worker: ``flask --app registry scenarios worker``), otherwise a thread of this
process with its own app context and session. A Redis that cannot be reached
falls back to the thread, and the run says so. The worker (`execute_run`)
takes a run slot (`claim`), builds the problem from the registry as it is
then (stage "building": at state scale the build is the long part, so it
never runs in a request), stores the problem file and the conversion's
report, and solves it (stage "solving"), committing after each category
(`record_progress`). A build error marks the run failed with the reason. The
request waits `SCENARIO_WAIT_S` seconds (default 0: it returns at once, in
a few milliseconds whatever the district's size) before sending the browser
to the run page, which polls `status.json` without reloading itself: the
stage, the problem's size while it is built, the categories done of all and
the time so far. Tests set a wait (None: to the end) to see a run finish in
its request.

A background run is audited in the name of the user who started it.

Measured on the seeded demo district (all categories, whole seats, HiGHS):
proportional solves in about 0.2–0.3 s and maxmin in about 0.4–0.6 s. Before
categories were split by unit (seats added to hours in one category, mixed
whole/continuous) the same maxmin took about 5.8 s and proportional about
0.35 s. With this year's commitments held as locks (the default since issue
10; 388 locks on the demo's 2026-27, 6,958 pairs, 485 seats-per-student
limits) maxmin still takes about 1 s, but proportional spends 10–20 s on
some seat categories (family engagement: 11.7 s with its 57 locks, 0.12 s
without) and reached the 60 s time limit with three categories at stage
"shared" (a busy machine, 2 cores shared); released, 1.5 s.

Limits (issue 12): at most `SCENARIO_RUNS_TOTAL` runs build or solve at once, and at
most `SCENARIO_RUNS_PER_USER` of one user's. A run beyond them stays queued ("Waiting: N
runs ahead" on its page) until a slot frees: a run takes its slot with one conditional
UPDATE (`claim`, under an advisory lock on PostgreSQL), so parallel requests and workers
never start more, nor the same run twice; a run that finishes hands the free slots to the
oldest waiting runs (`release_waiting`), and so does every new run.

Dead workers (issue 13): while it has a run, a worker beats (`Heartbeat`: a thread that
sets the run's `heartbeat_at` every `SCENARIO_HEARTBEAT_S` seconds on a connection of
its own, outside the run's unit of work; each category's progress beats too). A run
whose heartbeat is older than `SCENARIO_HEARTBEAT_TIMEOUT_S` lost its worker (killed,
its machine gone): `reap_stale` queues it again, once (`SCENARIO_RUN_ATTEMPTS` attempts
in all), or marks it failed and says why. Each attempt has its number (`attempts`,
counted by `claim`), and a worker writes to its run only while the run is still its
attempt's (`_commit_if_mine`: a conditional UPDATE in the same transaction), so a worker
taken for dead that comes back never overwrites the retry, nor solves it twice. A run
still "running" long after its time limit (twice it plus the build's allowance
`SCENARIO_BUILD_ALLOWANCE_S`, about the RQ job's own timeout, plus
`SCENARIO_STALE_MARGIN_S`) is marked failed whatever its heartbeat says; a job stopped
by its timeout marks its run timed out. The reaper runs when any run is started or
finishes, every `SCENARIO_REAP_EVERY_S` seconds in each ``scenarios worker`` (so a
surviving worker picks up a killed one's run; each round also hands out again the runs
left waiting with a slot free, whose job was lost: a run's job still on the queue is
never queued twice), and by ``flask --app registry scenarios reap`` (for cron). A page
(a GET) only reads: it never marks a run.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from time import monotonic, perf_counter, sleep
from types import TracebackType
from typing import Any

import click
from flask import Flask, current_app, g, has_app_context
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException
from sqlalchemy import Engine, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased, defer

from allocation import ProblemError, result_to_json, solve
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.models import ScenarioRun, School, Service, User
from registry.models.columns import utcnow
from registry.models.scenario import RunStage, RunStatus, Scenario
from registry.scenarios import summary as run_summary
from registry.scenarios.messages import dumps
from registry.scenarios.problem import Conversion, build_problem

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 0.0
POLL_S = 0.05
DEFAULT_QUEUE = "scenarios"
DEFAULT_RUNS_PER_USER = 2
DEFAULT_RUNS_TOTAL = 4
DEFAULT_STALE_MARGIN_S = 300
DEFAULT_HEARTBEAT_S = 10.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
DEFAULT_ATTEMPTS = 2  # a run whose worker died is tried once more
DEFAULT_REAP_EVERY_S = 30.0
# What the build may take on top of the solve's limit (the job's limit, and the age after which
# a "running" run is taken for stuck). Measured: 40 s of CPU at state scale before the build
# was vectorised; a busy 2-core machine stretched it past 180 s.
DEFAULT_BUILD_ALLOWANCE_S = 120
# Claims of run slots take turns on PostgreSQL (any constant both sides agree on).
CLAIM_LOCK_KEY = 0x5CE7A210
WORKER_ACTOR = Actor(None, "scenario-worker")  # a run nobody (still on record) started
FINISHED = (RunStatus.DONE, RunStatus.FAILED, RunStatus.TIMED_OUT)
# A run's files: loaded only where they are read.
BIG_COLUMNS = (
    ScenarioRun.problem_json,
    ScenarioRun.result_json,
    ScenarioRun.report_json,
    ScenarioRun.summary_json,
)
# What the reaper reads again of a run once it holds the row (never its files).
REAPER_READS = ("status", "stage", "attempts", "heartbeat_at", "started_at", "progress", "error")
# Stages of a run that holds a slot: a worker took it.
TAKEN = (RunStage.BUILDING, RunStage.SOLVING)
# g's flag: this request queued again a run whose worker died (hand it out after the commit).
REQUEUED_FLAG = "scenario_runs_requeued"

# Background threads by run id, so tests (and shutdown) can wait for them.
_threads: weakref.WeakValueDictionary[int, threading.Thread] = weakref.WeakValueDictionary()
# Held from a run's "is a thread alive for it?" to its thread's start, so two releases
# at once cannot both start one (the second would replace the first here, unseen).
_threads_lock = threading.Lock()


class RunLost(Exception):
    """This worker's attempt is no longer the run's: it was taken for dead and retried or failed."""


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


def heartbeat_seconds() -> float:
    """How often a worker says it is alive while it has a run."""
    return max(float(current_app.config.get("SCENARIO_HEARTBEAT_S", DEFAULT_HEARTBEAT_S)), 0.05)


def heartbeat_timeout() -> timedelta:
    """How long a run may go without a heartbeat before its worker is taken for dead."""
    seconds = current_app.config.get("SCENARIO_HEARTBEAT_TIMEOUT_S", DEFAULT_HEARTBEAT_TIMEOUT_S)
    return timedelta(seconds=max(float(seconds), 2 * heartbeat_seconds()))


def max_attempts() -> int:
    return max(int(current_app.config.get("SCENARIO_RUN_ATTEMPTS", DEFAULT_ATTEMPTS)), 1)


def reap_every() -> float:
    return max(float(current_app.config.get("SCENARIO_REAP_EVERY_S", DEFAULT_REAP_EVERY_S)), 0.1)


def job_timeout(run: ScenarioRun) -> int:
    """The RQ job's own time limit, in seconds: the build's allowance, then twice the solve's."""
    build = int(current_app.config.get("SCENARIO_BUILD_ALLOWANCE_S", DEFAULT_BUILD_ALLOWANCE_S))
    return run.scenario.time_limit_s * 2 + 60 + build


def stale_after(run: ScenarioRun) -> timedelta:
    """How long a run may stay "running" before its worker is taken for dead."""
    margin = current_app.config.get("SCENARIO_STALE_MARGIN_S", DEFAULT_STALE_MARGIN_S)
    build = int(current_app.config.get("SCENARIO_BUILD_ALLOWANCE_S", DEFAULT_BUILD_ALLOWANCE_S))
    return timedelta(seconds=run.scenario.time_limit_s * 2 + build + int(margin))


def start_run(scenario: Scenario, by: User | None) -> ScenarioRun:
    """A new queued run of the scenario (flush, no commit): `dispatch` hands it to a worker,
    which builds its problem and solves it (`execute_run`). Nothing is built here.

    Runs whose worker died are dealt with first (`reap_stale`), so their slots count free.
    """
    if any(r.status == RunStatus.QUEUED for r in reap_stale()) and has_app_context():
        g.setdefault(REQUEUED_FLAG, True)
    run = ScenarioRun(
        scenario=scenario,
        created_by=by,
        status=RunStatus.QUEUED,
        stage=RunStage.WAITING,
        progress="",
    )
    db.session.add(run)
    db.session.flush()
    return run


def build_run(run: ScenarioRun, flush: bool = True) -> bool:
    """Build the run's problem from the registry as it is now and keep it on the run.

    Whether it was built; a problem that cannot be built marks the run failed, saying why.
    The worker flushes later (`flush=False`), after checking the run is still its own.
    """
    try:
        conversion = build_problem(run.scenario)
    except (ValueError, LookupError) as err:
        _finish(run, RunStatus.FAILED, error=dumps("build_failed", error=str(err)))
    except JobTimeoutException:  # the RQ job's own time limit, in the build
        _finish(run, RunStatus.TIMED_OUT, dumps("run_timed_out"))
    except SQLAlchemyError:
        raise  # the database went away: the run is retried once it is back (`reap_stale`)
    except Exception as err:  # a run that breaks must say so on its page, whatever broke
        _finish(run, RunStatus.FAILED, dumps("build_failed", error=f"{type(err).__name__}: {err}"))
    else:
        _keep(run, conversion)
        if flush:
            db.session.flush()
        return True
    if flush:
        db.session.flush()
    return False


def _keep(run: ScenarioRun, conversion: Conversion) -> None:
    """The built problem's files and figures, on its run."""
    # Compact: with an indent, `json` falls back to its pure-Python encoder (2.95 s and 54 MB
    # for the state-sized problem, against 0.72 s and 35 MB compact).
    run.problem_json = json.dumps(conversion.problem, ensure_ascii=False, separators=(",", ":"))
    run.report_json = json.dumps(conversion.report(), ensure_ascii=False)
    run.eligible_pairs = conversion.eligible_pairs
    # The engine's categories: every one a service offers or a limit names.
    run.categories_total = len(
        {s["category"] for s in conversion.problem["services"]}
        | {limit["category"] for limit in conversion.problem["limits"]}
    )


def build_size(scenario: Scenario) -> dict[str, int]:
    """How big the problem is to be built: the registry's schools, the services asked for."""
    schools = db.session.scalar(select(func.count(School.id))) or 0
    services = select(func.count(Service.id))
    if scenario.categories:
        services = services.where(Service.category.in_(scenario.categories))
    if scenario.service_ids:
        services = services.where(Service.id.in_(scenario.service_ids))
    return {"schools": int(schools), "services": int(db.session.scalar(services) or 0)}


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
    """Solve the run's problem with the scenario's objective and solver (no commit).

    A run whose problem is not built yet is built first (`build_run`): the command line and
    tests solve a run in one call. `on_progress` is called after each category (by default
    it counts them on the run); a `RunLost` it raises goes through.
    """
    if run.problem_json is None and not build_run(run):
        return
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
    except RunLost:
        raise
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
    run.summary_json = _summary_of(run)
    run.engine_status = result.status
    _finish(run, RunStatus.TIMED_OUT if result.status == "time_limit" else RunStatus.DONE)
    run.duration_ms = int((perf_counter() - started) * 1000)


def _summary_of(run: ScenarioRun) -> str | None:
    """What the run's pages need of its problem, once, so that they never read it.

    None if it cannot be computed: the pages then compute it from the problem themselves.
    """
    try:
        return run_summary.dumps(
            run_summary.summarise_files(
                run.problem_json or "", run.result_json or "", run.report_json or ""
            )
        )
    except Exception:  # the result stands without its summary
        log.exception("run %s: no summary", run.id)
        return None


def _still_mine(run_id: int, attempt: int | None) -> Any:
    """The conditions under which a run is still this worker's attempt (and not finished)."""
    conditions = [
        ScenarioRun.id == run_id,
        ScenarioRun.status.not_in(FINISHED),
        ScenarioRun.stage.in_(TAKEN),
    ]
    if attempt is not None:
        conditions.append(ScenarioRun.attempts == attempt)
    return conditions


def record_progress(
    run_id: int, done: int, total: int, category: str = "", *, attempt: int | None = None
) -> None:
    """Commit how many categories a running run has done (its own unit of work), and beat.

    A plain UPDATE of the counts alone: nothing else of the run is flushed, and the counts
    are not audited (the run's start and end are). Raises `RunLost` when the run is no
    longer this attempt's.
    """
    # The row first, the audit trail's lock (if the commit flushes anything) after, in the
    # same order as `_commit_if_mine` and the reaper.
    with db.session.no_autoflush:
        counted = db.session.execute(
            update(ScenarioRun)
            .where(*_still_mine(run_id, attempt))
            .values(categories_done=done, categories_total=total, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    if not counted.rowcount:  # type: ignore[attr-defined]
        db.session.rollback()
        raise RunLost(run_id)
    db.session.commit()


def _commit_if_mine(run_id: int, attempt: int) -> None:
    """Commit the run's changes only while the run is still this attempt's (else `RunLost`).

    The conditional UPDATE comes before the run's changes are flushed (the worker never
    flushes them before): on PostgreSQL it holds the row until the commit, so a reaper
    deciding the run's fate waits and then sees this beat.
    """
    with db.session.no_autoflush:
        fenced = db.session.execute(
            update(ScenarioRun.__table__)  # type: ignore[arg-type]
            .where(*_still_mine(run_id, attempt))
            .values(heartbeat_at=utcnow())
        )
    if not fenced.rowcount:  # type: ignore[attr-defined]
        db.session.rollback()
        raise RunLost(run_id)
    db.session.commit()


class Heartbeat:
    """A thread that says, every few seconds, that this worker still runs its attempt.

    Each beat is its own short transaction on a connection of its own, outside the run's
    unit of work. `lost` is set once the run is no longer the attempt's.
    """

    def __init__(self, engine: Engine, run_id: int, attempt: int, every: float) -> None:
        self.engine, self.run_id, self.attempt, self.every = engine, run_id, attempt, every
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name=f"scenario-heartbeat-{run_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(self.every + 10)

    def beat(self) -> None:
        try:
            with self.engine.begin() as conn:
                beaten = conn.execute(
                    update(ScenarioRun)
                    .where(*_still_mine(self.run_id, self.attempt))
                    .values(heartbeat_at=utcnow())
                )
        except SQLAlchemyError as err:  # a busy database: the next beat tries again
            log.warning("scenario run %s: heartbeat not recorded: %s", self.run_id, err)
            return
        if not beaten.rowcount:
            self.lost.set()

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()
            if self.lost.is_set():
                return


def run_actor(run: ScenarioRun) -> Actor:
    """Whom a background run's changes are audited for: the user who started it."""
    if run.created_by is not None:
        return Actor(run.created_by.id, run.created_by.email)
    return WORKER_ACTOR


def _solving() -> Any:
    """Runs holding a slot: taken (stage building or solving) and not finished."""
    return ScenarioRun.stage.in_(TAKEN), ScenarioRun.status.not_in(FINISHED)


def claim_attempt(run_id: int, now: datetime | None = None) -> int | None:
    """Take a run slot for a queued run, within the limits: the attempt's number, or None.

    One conditional UPDATE counts the runs holding slots and takes this one's, so two
    workers can't both take the last slot, nor both the same run (PostgreSQL: the claims
    also take turns on an advisory lock, as each statement there counts from its own
    snapshot). Commits.
    """
    db.session.rollback()  # a fresh transaction: SQLite takes its write lock at the UPDATE
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
    owner = db.session.scalar(select(ScenarioRun.created_by_id).where(ScenarioRun.id == run_id))
    other = aliased(ScenarioRun)
    holding = select(func.count(other.id)).where(
        other.stage.in_(TAKEN), other.status.not_in(FINISHED)
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
    now = now or utcnow()
    taken = db.session.execute(
        update(ScenarioRun)
        .where(*conditions)
        .values(
            stage=RunStage.BUILDING,
            started_at=now,
            heartbeat_at=now,
            attempts=ScenarioRun.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    attempt = None
    if taken.rowcount:  # type: ignore[attr-defined]
        attempt = db.session.scalar(select(ScenarioRun.attempts).where(ScenarioRun.id == run_id))
    db.session.commit()
    return attempt


def claim(run_id: int, now: datetime | None = None) -> bool:
    """Take a run slot for a queued run, within the limits; whether it was taken (commits)."""
    return claim_attempt(run_id, now) is not None


def execute_run(run_id: int) -> None:
    """Build and solve a queued run, committing its progress (the worker's entry point).

    A run that finds no free slot stays queued; the run that frees one starts it.
    """
    attempt = claim_attempt(run_id)
    if attempt is None:
        return
    run = db.session.get(ScenarioRun, run_id)
    if run is None:
        return
    # Stored texts are codes (registry.scenarios.messages): no language is needed here.
    with (
        acting_as(run_actor(run)),
        Heartbeat(db.engine, run_id, attempt, heartbeat_seconds()),
    ):
        try:
            _build_and_solve(run, attempt)
        except RunLost:
            db.session.rollback()
            log.warning("scenario run %s: attempt %s was taken for dead; left", run_id, attempt)
        except JobTimeoutException:  # the RQ job's time limit, wherever it struck
            db.session.rollback()
            _finish(run, RunStatus.TIMED_OUT, dumps("run_timed_out"))
            try:
                _commit_if_mine(run_id, attempt)
            except RunLost:
                db.session.rollback()
    reap_stale()
    db.session.commit()
    release_waiting()


def _build_and_solve(run: ScenarioRun, attempt: int) -> None:
    run_id = run.id
    run.status = RunStatus.RUNNING  # the start is audited; the slot was taken by the claim
    if run.problem_json is None:
        note = run.progress  # a note of the run's way, shown again once built
        run.progress = dumps("building", **build_size(run.scenario))
        _commit_if_mine(run_id, attempt)
        _held_for_tests(run_id, attempt)
        built = build_run(run, flush=False)
        if built:
            run.progress = note
        _commit_if_mine(run_id, attempt)
        if not built:
            return
    run.stage = RunStage.SOLVING
    _commit_if_mine(run_id, attempt)
    solve_run(run, on_progress=partial(record_progress, run_id, attempt=attempt))
    _commit_if_mine(run_id, attempt)
    _mark_for_tests("solved", run_id, attempt)


def _hold_dir() -> Path | None:
    held = current_app.config.get("SCENARIO_TEST_HOLD_DIR")
    return Path(held) if held else None


def _mark_for_tests(what: str, run_id: int, attempt: int) -> None:
    """Leave a file saying what this process did to the run (`SCENARIO_TEST_HOLD_DIR` only)."""
    if (folder := _hold_dir()) is not None:
        (folder / f"{what}-{run_id}-{attempt}-{os.getpid()}").touch()


def _held_for_tests(run_id: int, attempt: int) -> None:
    """Tests of dead workers: with `SCENARIO_TEST_HOLD_DIR`, wait in the build until a file
    named ``release`` is there (at most two minutes), having left ``held-RUN-ATTEMPT-PID``."""
    if (folder := _hold_dir()) is None:
        return
    _mark_for_tests("held", run_id, attempt)
    deadline = monotonic() + 120
    while not (folder / "release").exists() and monotonic() < deadline:
        sleep(0.05)


def _lock_if(run_id: int, *conditions: Any) -> bool:
    """Hold the run's row for this transaction if it still meets the conditions.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so the conditions are checked on the row's
    latest version and a row a worker is writing (alive, then) is skipped, never waited
    for: the reaper holds the audit trail's lock once it has flushed one run, and waiting
    for a worker that waits for that lock would deadlock. SQLite: a no-op UPDATE, which
    takes the database's write lock first and checks the conditions after.
    """
    with db.session.no_autoflush:
        if db.engine.dialect.name == "postgresql":
            found = db.session.scalar(
                select(ScenarioRun.id)
                .where(ScenarioRun.id == run_id, *conditions)
                .with_for_update(skip_locked=True)
            )
            return found is not None
        held = db.session.execute(
            update(ScenarioRun.__table__)  # type: ignore[arg-type]
            .where(ScenarioRun.id == run_id, *conditions)
            .values(attempts=ScenarioRun.attempts)
        )
    return bool(held.rowcount)  # type: ignore[attr-defined]


def reap_stale(now: datetime | None = None) -> list[ScenarioRun]:
    """Deal with runs whose worker died (flush): the runs queued again, or marked failed.

    A run whose heartbeat stopped is queued again while it has attempts left, else marked
    failed; a run still "running" long after its time limit is marked failed. Its page then
    says what happened; its slot counts free again.
    """
    now = now or utcnow()
    silent_since = now - heartbeat_timeout()
    candidates = db.session.scalars(
        select(ScenarioRun)
        .where(
            ScenarioRun.status.not_in(FINISHED),
            or_(ScenarioRun.status == RunStatus.RUNNING, ScenarioRun.stage.in_(TAKEN)),
        )
        # Every new run's request reaps: never the files (megabytes at state scale).
        .options(*(defer(c) for c in BIG_COLUMNS))
    ).all()
    reaped = []
    for run in candidates:
        since = run.started_at or run.created_at
        too_old = (
            run.status == RunStatus.RUNNING and since is not None and now - since > stale_after(run)
        )
        silent = run.heartbeat_at is not None and run.heartbeat_at < silent_since
        if too_old and _lock_if(
            run.id, ScenarioRun.status == RunStatus.RUNNING, ScenarioRun.attempts == run.attempts
        ):
            db.session.refresh(run, REAPER_READS)
            with acting_as(WORKER_ACTOR):
                _finish(run, RunStatus.FAILED, dumps("worker_lost"))
                run.finished_at = now
                run.duration_ms = int((now - since).total_seconds() * 1000)
                db.session.flush()
            reaped.append(run)
        elif silent and _lock_if(
            run.id,
            *_still_mine(run.id, run.attempts),
            ScenarioRun.heartbeat_at < silent_since,
        ):
            db.session.refresh(run, REAPER_READS)
            with acting_as(WORKER_ACTOR):
                if run.attempts < max_attempts():
                    _queue_again(run)
                else:
                    _finish(run, RunStatus.FAILED, dumps("worker_stopped", attempts=run.attempts))
                    run.finished_at = now
                db.session.flush()
            reaped.append(run)
    return reaped


def _queue_again(run: ScenarioRun) -> None:
    """Back in line, as if new, for another attempt; a problem built stays built."""
    run.status = RunStatus.QUEUED
    run.stage = RunStage.WAITING
    run.started_at = None
    run.heartbeat_at = None
    run.categories_done = 0
    run.progress = dumps("worker_retried")


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


def _enqueue(queue: Queue, run: ScenarioRun) -> Job:
    """The run's job on the queue: the one still waiting there, else a new one.

    Runs are handed out again whenever a slot frees (and by each worker's reaper), so the
    last job of each run is remembered (a key per run) and not queued twice; a job already
    taken, finished or lost is replaced (its run, still waiting, was not claimed by it).
    """
    key = f"scenario-run-job:{queue.name}:{run.id}"
    known = queue.connection.get(key)
    if known:
        try:
            job = Job.fetch(
                known.decode() if isinstance(known, bytes) else str(known),
                connection=queue.connection,
            )
        except NoSuchJobError:
            pass
        else:
            if job.get_status() == JobStatus.QUEUED:
                return job
    job = queue.enqueue(
        run_job,
        run.id,
        job_timeout=job_timeout(run),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
    )
    queue.connection.set(key, job.id, ex=job_timeout(run) + 24 * 3600)
    return job


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
            return _enqueue(Queue(queue_name(), connection=Redis.from_url(url)), run)
        except RedisError:
            # Better slower on this process than never: say so on the run page.
            run.progress = dumps("queue_unreachable")
            db.session.commit()
    with _threads_lock:
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
        thread.start()  # returns once the thread runs: is_alive() is true from here
    return thread


def hand_over(run: ScenarioRun) -> None:
    """After the request's commit: hand its new run to the background and wait as configured.

    When the request queued again a run whose worker died, the oldest waiting runs are
    handed out (`release_waiting`: the new one among them when its turn has come).
    """
    run_id = run.id
    if has_app_context() and g.pop(REQUEUED_FLAG, False):
        release_waiting()
        wait_briefly(run_id, _threads.get(run_id))
        return
    wait_briefly(run_id, dispatch(run))


def wait_briefly(run_id: int, handle: Job | threading.Thread | None) -> None:
    """Give a dispatched run up to `SCENARIO_WAIT_S` seconds, so a quick one shows as done."""
    # End the request's read transaction: it holds nothing while the worker
    # writes, and what it reads next is the worker's latest commit.
    db.session.rollback()
    timeout = wait_seconds()
    if handle is None or timeout == 0:
        return
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


def silent(run: ScenarioRun, now: Any = None) -> bool:
    """Whether the worker running the run stopped beating (a read: the reaper deals with it)."""
    if run.status.finished or run.heartbeat_at is None:
        return False
    return bool((now or utcnow()) - run.heartbeat_at > heartbeat_timeout())


def stalled(run: ScenarioRun, now: Any = None) -> bool:
    """Whether a queued or running run has waited far beyond its time limit, or its worker
    stopped beating (a read: the reaper deals with it)."""
    if run.status.finished:
        return False
    now = now or utcnow()
    if silent(run, now):
        return True
    since = run.started_at or run.created_at
    if since is None:
        return False
    return bool(now - since > stale_after(run))


def _reaped_words(reaped: list[ScenarioRun]) -> str:
    failed = [str(r.id) for r in reaped if r.status == RunStatus.FAILED]
    again = [str(r.id) for r in reaped if r.status == RunStatus.QUEUED]
    return (
        f"{len(failed)} run(s) marked failed: {', '.join(failed)}; "
        f"{len(again)} run(s) queued again: {', '.join(again)}"
    )


@click.command("reap")
@with_appcontext
def reap_command() -> None:
    """Retry or mark failed the runs whose worker died (no heartbeat, or long past their limit)."""
    reaped = reap_stale()
    db.session.commit()
    if any(r.status == RunStatus.QUEUED for r in reaped):
        release_waiting()
    click.echo(_reaped_words(reaped))


def reap_once(app: Flask) -> list[int]:
    """One round of the reaper in its own app context and session: the ids dealt with."""
    with app.app_context():
        try:
            reaped = reap_stale()
            ids = [r.id for r in reaped]
            db.session.commit()
            if reaped:
                log.warning("scenario runs of dead workers: %s", _reaped_words(reaped))
            # Also every run left waiting with a slot free: its job lost with a worker that
            # died before taking it, or with Redis (a job still queued is not queued twice).
            release_waiting()
            return ids
        except SQLAlchemyError as err:  # the database away for a moment: the next round
            log.warning("scenario reaper: %s", err)
            db.session.rollback()
            return []
        finally:
            db.session.remove()


def _reap_until(app: Flask, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        reap_once(app)


@click.command("summarise")
@with_appcontext
def summarise_command() -> None:
    """Give the finished runs that have none a summary (runs finished before summaries were
    kept: their pages read the whole problem file until then). One run at a time."""
    stale = select(ScenarioRun.id).where(
        ScenarioRun.result_json.is_not(None),
        or_(
            ScenarioRun.summary_json.is_(None),
            ~ScenarioRun.summary_json.startswith(f'{{"version":{run_summary.VERSION},'),
        ),
    )
    done = 0
    with acting_as(Actor(None, "cli")):
        for run_id in db.session.scalars(stale.order_by(ScenarioRun.id)).all():
            run = db.session.get(ScenarioRun, run_id)
            if run is None:
                continue
            run.summary_json = _summary_of(run)
            db.session.commit()
            db.session.expire(run)  # its files: freed before the next run's
            done += 1
    click.echo(f"{done} runs summarised.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Solve queued scenario runs (needs REDIS_URL); and every `SCENARIO_REAP_EVERY_S`
    seconds, retry or fail the runs of workers that died."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        raise click.ClickException("REDIS_URL is not set; runs are solved in the web process.")
    connection = Redis.from_url(url)
    stop = threading.Event()
    reaper = threading.Thread(
        target=_reap_until,
        args=(current_app._get_current_object(), reap_every(), stop),  # type: ignore[attr-defined]
        name="scenario-reaper",
        daemon=True,
    )
    reaper.start()
    try:
        # SimpleWorker runs each job in this process, inside this app context.
        SimpleWorker([Queue(queue_name(), connection=connection)], connection=connection).work(
            burst=burst
        )
    finally:
        stop.set()
