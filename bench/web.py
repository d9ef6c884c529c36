"""Load benchmark of the web app: gunicorn on PostgreSQL under locust, then a scenario run.

Usage::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/NAME \\
        python bench/web.py [--build [--seed-command seed-scale]] [--users 10,50]
        [--duration 60] [--spawn-rate 5] [--think 1 5] [--workers 3]
        [--redis-url redis://127.0.0.1:6379/0] [--no-scenario] [--no-write]

The database holds a seeded registry (``--build`` makes it: ``flask db upgrade``, then
``flask --app registry seed-scale``, or the command ``--seed-command`` names, e.g.
``seed-demo``). The benchmark adds its own accounts to it (``bench-*@bench.example``:
coordinators, leaders and admins, and one partner contact per partner it edits, all
with one known password; no second step: ``MFA_REQUIRED_ROLES`` is empty), an API
token for each staff account, and one scenario; running it again reuses them.

Then it serves the app as the README does (gunicorn, 3 sync workers, ``--timeout
120``; sign-in throttling and the API's rate limit raised so that the load's accounts
are never slowed down; they never fail a password anyway) and runs locust headless on
`bench/web_workload.py`, once per ``--users`` count: visitors start at ``--spawn-rate``
a second and sign in (the ramp-up), then ``--duration`` seconds of steady load are
measured from the moment the last sign-in answered, on a mixed workload: the dashboard and
equity page, lists with filters and search, detail pages, the KPI API and the token
API (staff), the family directory (anonymous), and partner contacts reading their
records and now and then editing their listing (a reviewed change request). Each
visitor reads a page for a uniform 1–5 s (``--think``) before the next: 50 visitors ask
for about 16 pages a second when answered at once, fewer as answers slow down.

It prints, per endpoint group and overall: requests, req/s, p50, p95, p99, max and
errors of the steady load; checks the targets on it (at the largest user count: p95
under 300 ms, no error, no request over 2 s); gives the ramp-up's figures apart (its
sign-ins are argon2, slow on purpose, all within seconds); and the
state scenario: the time to enqueue a run (its POST), the time until its result, the
run page once it is done, and the engine's own CLI (``python -m allocation solve``) on
the run's stored problem file, for comparison. The figures go into the "## Load" and
"## State scenario" sections of bench/RESULTS-web.md (other sections are kept) with
the date, the machine and the data set's size.

gunicorn, locust and the RQ worker (with ``--redis-url``) are this script's children,
each stopped on the way out, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import web_forms as workload  # noqa: E402  (after the path is set)

RESULTS = ROOT / "bench" / "RESULTS-web.md"
SECRET = "bench-web-not-secret"
PASSWORD = "bench-web-load-Password-1"  # the bench accounts' password (set as a hash)
EMAIL_DOMAIN = "bench.example"
TOKEN_NAME = "bench/web.py"
SCENARIO_NAME = "bench/web.py scenario"
STAFF_ROLES = ("coordinator", "leader", "admin")
STAFF_ACCOUNTS = 12
SAMPLE_IDS = 300

# Targets (issue 13), at the largest user count.
P95_TARGET_MS = 300.0
MAX_TARGET_MS = 2000.0
ENQUEUE_TARGET_MS = 100.0
RUN_PAGE_TARGET_MS = 1000.0
RESULT_TARGET_RATIO = 2.0

# The app as served: sign-in throttling and the API rate limit out of the load's way.
APP_OVERRIDES: dict[str, Any] = {
    "LOGIN_FREE_FAILURES": 1000,
    "LOGIN_LOCK_AFTER": 100000,
    "LOGIN_IP_FREE_FAILURES": 1000,
    "LOGIN_IP_LOCK_AFTER": 100000,
    "API_RATE_LIMIT": 10**9,
}


def flask_env(url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "MFA_REQUIRED_ROLES": ""}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    env.pop("REDIS_URL", None)
    return env


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?")[0]


# ---- the data set ----------------------------------------------------------------------------


def build(url: str, seed_command: str) -> None:
    """`flask db upgrade`, then the seed command, on the given (existing, empty) database."""
    env = flask_env(url)
    flask = [bin_path("flask"), "--app", "registry"]
    for command in (["db", "upgrade"], shlex.split(seed_command)):
        started = time.perf_counter()
        subprocess.run([*flask, *command], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"flask {' '.join(command)}: {time.perf_counter() - started:.1f} s")


@dataclass
class Prepared:
    plan: dict[str, Any]
    sizes: dict[str, int]
    scenario_id: int | None
    objective: str
    planner: dict[str, Any]


def prepare(url: str, max_users: int, scenario_year: str | None, with_scenario: bool) -> Prepared:
    """Accounts, tokens, sampled ids and search words, and the scenario, in the database."""
    from sqlalchemy import func, select

    from registry import create_app, district_time
    from registry.api import tokens
    from registry.audit import Actor, acting_as
    from registry.directory import listing
    from registry.equity import services as equity_services
    from registry.extensions import db
    from registry.models import MOU, Commitment, Partner, School, Service, User
    from registry.models.scenario import Objective, Scenario, SolverChoice, WeightRule
    from registry.models.user_session import UserSession
    from registry.vocabulary import PartnerStatus, Role

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
    with app.app_context(), acting_as(Actor(None, "bench")):
        sizes = {
            "schools": db.session.scalar(select(func.count(School.id))) or 0,
            "partners": db.session.scalar(select(func.count(Partner.id))) or 0,
            "services": db.session.scalar(select(func.count(Service.id))) or 0,
            "MOUs": db.session.scalar(select(func.count(MOU.id))) or 0,
            "commitments": db.session.scalar(select(func.count(Commitment.id))) or 0,
        }
        if not sizes["schools"] or not sizes["partners"]:
            raise SystemExit("the database holds no registry: seed it, or give --build")
        probe = User()
        probe.set_password(PASSWORD)
        hashed = probe.password_hash

        verified: dict[str, bool] = {}  # one argon2 check per distinct hash, not per account

        def account(email: str, role: str, partner_id: int | None) -> User:
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, name=f"Bench {role}", role=Role(role))
                user.password_hash = hashed
                db.session.add(user)
            else:
                if user.password_hash not in verified:
                    verified[user.password_hash] = user.check_password(PASSWORD)
                if not verified[user.password_hash]:
                    # Only when it differs: a new password ends the account's sessions.
                    user.password_hash = hashed
            user.active = True
            user.must_change_password = False
            user.partner_id = partner_id
            return user

        staff_users = [
            account(f"bench-{STAFF_ROLES[n % 3]}-{n}@{EMAIL_DOMAIN}", STAFF_ROLES[n % 3], None)
            for n in range(STAFF_ACCOUNTS)
        ]
        # One partner contact per partner visitor (weight 1 of 10), each its own partner with
        # services: approved ones, in id order, so that runs again reuse the same.
        wanted = math.ceil(max_users / 10) + 2
        partner_ids = list(
            db.session.scalars(
                select(Partner.id)
                .where(Partner.status == PartnerStatus.APPROVED)
                .where(Partner.id.in_(select(Service.partner_id)))
                .order_by(Partner.id)
                .limit(wanted)
            )
        )
        partner_users = [
            account(f"bench-partner-{pid}@{EMAIL_DOMAIN}", "partner", pid) for pid in partner_ids
        ]
        db.session.flush()
        now = datetime.now(UTC)
        # Sessions of earlier runs: ended, so that the sessions table stays small.
        bench_ids = [u.id for u in staff_users + partner_users]
        for old in db.session.scalars(
            select(UserSession).where(
                UserSession.user_id.in_(bench_ids), UserSession.ended_at.is_(None)
            )
        ):
            old.ended_at = now
        staff = []
        for user in staff_users:
            for old_token in tokens.tokens_of(user):
                if old_token.name == TOKEN_NAME and old_token.usable(now):
                    tokens.revoke(user, old_token.id, now)
            _token, secret = tokens.create(user, TOKEN_NAME, 30, now)
            staff.append(
                {
                    "email": user.email,
                    "password": PASSWORD,
                    "role": user.role.value,
                    "token": secret,
                }
            )
        partners = [
            {"email": u.email, "password": PASSWORD, "partner_id": u.partner_id}
            for u in partner_users
        ]

        def sample(column: Any, limit: int = SAMPLE_IDS) -> list[Any]:
            return list(db.session.scalars(select(column).order_by(func.random()).limit(limit)))

        def first_words(names: list[str]) -> list[str]:
            words = [w for n in names for w in re.findall(r"[A-Za-z]{4,}", n)[:1]]
            return sorted(set(words))

        today = district_time.today()
        service_ids = sample(Service.id, 2 * SAMPLE_IDS)
        listed = [i for i in service_ids if listing.listed_service(i, today) is not None]
        school_names = sample(School.name, 100)
        ids = {
            "school": sample(School.id),
            "partner": sample(Partner.id),
            "service": service_ids[:SAMPLE_IDS],
            "mou": sample(MOU.id),
            "directory_service": listed[:SAMPLE_IDS],
        }
        words = {
            "schools": first_words(school_names),
            "partners": first_words(sample(Partner.name, 100)),
            "services": first_words(sample(Service.name, 100)),
            "directory_schools": school_names[:50],
        }
        years = sorted(set(db.session.scalars(select(MOU.school_year).distinct())))
        plan = {
            "staff": staff,
            "partners": partners,
            "ids": ids,
            "words": words,
            "years": years,
            "languages": listing.languages_served(today),
        }

        scenario_id = None
        objective = "proportional"
        planner = next(s for s in staff if s["role"] == "admin")
        if with_scenario:
            # This school year if the registry has data for it, else its latest (the equity
            # pages' rule): a data set seeded for earlier years still has commitments to lock.
            year = scenario_year or equity_services.default_year(today)
            scenario = db.session.scalar(
                select(Scenario).where(Scenario.name == SCENARIO_NAME, Scenario.school_year == year)
            )
            if scenario is None:
                definition = equity_services.opening_definition()
                scenario = Scenario(
                    name=SCENARIO_NAME,
                    school_year=year,
                    need_definition_id=definition.id if definition else None,
                    weight_rule=WeightRule.ENROLLMENT_X_NEED,
                    objective=Objective.PROPORTIONAL,
                    solver=SolverChoice.HIGHS,
                    time_limit_s=60,
                )
                db.session.add(scenario)
                db.session.flush()
            scenario_id = scenario.id
            objective = scenario.objective.value
        db.session.commit()
        db.engine.dispose()
    return Prepared(plan, sizes, scenario_id, objective, planner)


# ---- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def app_spec(overrides: dict[str, Any]) -> str:
    """`registry:create_app({...})`: gunicorn and flask read literal arguments."""
    return f"registry:create_app({overrides!r})"


def stop(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """SIGTERM, then SIGKILL to its own process group (started with a session of its own)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 30 s: killing its process group {process.pid}")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def process_cpu(pid: int) -> float:
    """User + system CPU of one process so far, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (gunicorn's workers), in seconds."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    return sum(process_cpu(each) for each in pids)


class DatabaseCPU:
    """CPU of the PostgreSQL backends serving our database (same machine: /proc).

    Backends are per connection, and the app's pools keep theirs, so the difference
    between two readings is the database's share of the work; a backend that ended in
    between loses its part (few do: the pools keep their connections).
    """

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.name = database_name(url)
        self.engine = create_engine(url)

    def reading(self) -> dict[int, float]:
        from sqlalchemy import text

        try:
            with self.engine.connect() as conn:
                pids = conn.execute(
                    text("select pid from pg_stat_activity where datname = :name"),
                    {"name": self.name},
                ).scalars()
                return {pid: process_cpu(pid) for pid in pids}
        except Exception:  # a figure we can do without: never fail the run for it
            return {}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        self.engine.dispose()


class Server:
    """gunicorn as the README runs it, on a free loopback port."""

    def __init__(
        self, url: str, workers: int, timeout: int, scratch: Path, redis_url: str | None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = scratch / "gunicorn.log"
        self.redis_url = redis_url
        self.queue = ""
        env = flask_env(url)
        overrides = dict(APP_OVERRIDES)
        if redis_url:
            env["REDIS_URL"] = redis_url
            # A queue of our own: other helpers' workers must not take our runs.
            self.queue = f"webbench-{os.getpid()}"
            overrides["SCENARIO_QUEUE"] = self.queue
        self.spec = app_spec(overrides)
        command = [bin_path("gunicorn"), "--workers", str(workers), "--timeout", str(timeout)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", self.spec]
        with self.log.open("wb") as log:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
        self.worker: subprocess.Popen[bytes] | None = None
        if redis_url:
            worker_log = scratch / "rq-worker.log"
            flask = [bin_path("flask"), "--app", self.spec, "scenarios", "worker"]
            with worker_log.open("wb") as log:
                self.worker = subprocess.Popen(
                    flask, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
                )
        self._wait_until_up()

    def _wait_until_up(self, budget_s: float = 90.0) -> None:
        import requests

        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not come up:\n" + self.log.read_text(errors="replace"))

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid) if self.process else 0.0

    def worker_timeouts(self) -> int:
        """How many times so far gunicorn killed a worker for holding a request too long."""
        return self.log.read_text(errors="replace").count("WORKER TIMEOUT")

    def stop(self) -> None:
        stop(self.worker, "the RQ worker")
        stop(self.process, "gunicorn")
        self.worker = self.process = None
        if self.redis_url and self.queue:
            self._forget_queue()

    def _forget_queue(self) -> None:
        """Our queue's keys in Redis (its jobs expire by themselves)."""
        from redis import Redis
        from redis.exceptions import RedisError

        kinds = ("queue", "finished", "failed", "started", "deferred", "scheduled", "canceled")
        try:
            redis = Redis.from_url(str(self.redis_url))
            redis.delete(*(f"rq:{k}:{self.queue}" for k in kinds))
            redis.srem("rq:queues", f"rq:queue:{self.queue}")
        except RedisError as err:
            print(f"could not remove the queue {self.queue} from Redis: {err}")


def sign_in(base: str, account: dict[str, Any]) -> Any:
    """A requests session signed in through the login form (as the load's visitors do)."""
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30)
    fields = dict(workload.form_with(page.text, "password"))
    fields.update(email=account["email"], password=account["password"])
    answer = session.post(f"{base}/login", data=fields, allow_redirects=False, timeout=30)
    if answer.status_code != 302:
        raise SystemExit(f"{account['email']} could not sign in: {answer.status_code}")
    return session


def warm_up(base: str, plan: dict[str, Any]) -> str:
    """Every page kind once per worker or so (templates compiled); which auth /api/v1/kpis took."""
    import requests

    staff = plan["staff"][0]
    session = sign_in(base, staff)
    ids = plan["ids"]
    paths = ["/", "/equity/", "/schools/", "/partners/", "/mous/", "/services/", "/directory/"]
    paths += [f"/{k}s/{ids[k][0]}" for k in ("school", "partner", "mou", "service") if ids[k]]
    for _round in range(3):
        for path in paths:
            session.get(base + path, timeout=120)
    bearer = {"Authorization": f"Bearer {staff['token']}"}
    by_token = requests.get(f"{base}/api/v1/kpis", headers=bearer, timeout=120)
    return "bearer token" if by_token.status_code == 200 else "session cookie"


# ---- the load --------------------------------------------------------------------------------


@dataclass
class Sample:
    name: str
    start: float
    ms: float
    status: int
    size: int
    ok: bool

    @property
    def group(self) -> str:
        return self.name.split(workload.SEPARATOR, 1)[0]


@dataclass
class Figures:
    requests: int
    per_s: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: int
    statuses: dict[int, int] = field(default_factory=dict)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def figures(samples: list[Sample], seconds: float) -> Figures:
    ms = sorted(s.ms for s in samples)
    errors = [s for s in samples if not s.ok]
    statuses: dict[int, int] = defaultdict(int)
    for s in errors:
        statuses[s.status] += 1
    return Figures(
        requests=len(ms),
        per_s=len(ms) / seconds if seconds else math.nan,
        p50=percentile(ms, 0.50),
        p95=percentile(ms, 0.95),
        p99=percentile(ms, 0.99),
        max=ms[-1] if ms else math.nan,
        errors=len(errors),
        statuses=dict(sorted(statuses.items())),
    )


@dataclass
class Phase:
    """One locust run: the ramp-up (visitors starting and signing in), then the steady load.

    The steady load starts when the last sign-in has answered: 50 sign-ins within 10 s
    (argon2, slow on purpose, each holding a sync worker) are a start-up storm of the
    benchmark, not the load the targets speak of. The ramp-up is reported apart.
    """

    users: int
    samples: list[Sample]
    server_cpu_s: float
    database_cpu_s: float
    locust_cpu_s: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    worker_timeouts: int = 0  # gunicorn killed a worker stuck on a request (its log says)

    @property
    def first(self) -> float:
        return min((s.start for s in self.samples), default=0.0)

    @property
    def steady_from(self) -> float:
        ends = [s.start + s.ms / 1000 for s in self.samples if s.group == workload.LOGIN]
        return max(ends, default=self.first)

    @property
    def seconds(self) -> float:
        """The steady load's length."""
        end = max((s.start + s.ms / 1000 for s in self.samples), default=self.first)
        return max(0.0, end - self.steady_from)

    @property
    def ramp_seconds(self) -> float:
        return self.steady_from - self.first

    @property
    def steady(self) -> list[Sample]:
        start = self.steady_from
        return [s for s in self.samples if s.group != workload.LOGIN and s.start >= start]

    @property
    def ramp(self) -> list[Sample]:
        start = self.steady_from
        return [s for s in self.samples if s.start < start]

    @property
    def sign_ins(self) -> list[Sample]:
        return [s for s in self.samples if s.group == workload.LOGIN]

    def by(self, key: str) -> dict[str, list[Sample]]:
        """The steady load's samples by group or by endpoint."""
        found: dict[str, list[Sample]] = defaultdict(list)
        for s in self.steady:
            found[s.group if key == "group" else s.name].append(s)
        return found


def run_locust(
    base: str,
    plan_path: Path,
    scratch: Path,
    users: int,
    args: argparse.Namespace,
    server: Server,
    database: DatabaseCPU,
) -> Phase:
    samples_path = scratch / f"samples-{users}.json"
    env = {
        **os.environ,
        workload.PLAN_ENV: str(plan_path),
        workload.SAMPLES_ENV: str(samples_path),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "web_workload.py")]
    command += ["--headless", "--users", str(users), "--spawn-rate", str(args.spawn_rate)]
    # The workload quits after --duration seconds of steady load, however long the ramp-up
    # (starting and signing in) took; --run-time is only a bound, should that never come.
    env[workload.STEADY_ENV] = str(args.duration)
    ramp_s = 10 * math.ceil(users / args.spawn_rate) + 300
    command += ["--run-time", f"{args.duration + ramp_s}s", "--host", base]
    # Requests still running at the end are waited for (up to gunicorn's own timeout), so
    # that a slow one is counted rather than cut off.
    command += ["--stop-timeout", str(args.timeout + 10)]
    command += ["--only-summary", "--loglevel", "WARNING"]
    log = scratch / f"locust-{users}.log"
    load_before = os.getloadavg()
    cpu_before = server.cpu()
    database_before = database.reading()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process: subprocess.Popen[bytes] | None = None
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=out, start_new_session=True
            )
            try:
                process.wait(timeout=args.duration + ramp_s + 300)
            except subprocess.TimeoutExpired:
                print(f"locust ran past its time at {users} users: stopped")
    finally:
        stop(process, "locust")
    server_cpu = server.cpu() - cpu_before
    database_cpu = database.spent(database_before, database.reading())
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    locust_cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    if not samples_path.exists():
        raise SystemExit("locust wrote no samples:\n" + log.read_text(errors="replace")[-4000:])
    raw = json.loads(samples_path.read_text(encoding="utf-8"))
    return Phase(
        users,
        [Sample(*row) for row in raw],
        server_cpu,
        database_cpu,
        locust_cpu,
        load_before,
        os.getloadavg(),
    )


# ---- the state scenario ----------------------------------------------------------------------


@dataclass
class ScenarioFigures:
    run_id: int
    status: str
    enqueue_ms: float
    result_s: float
    run_page_ms: float
    run_page_kb: float
    problem_kb: float
    eligible_pairs: int
    cli_wall_s: float
    cli_cpu_s: float
    cli_exit: int
    run_duration_ms: int | None


class ScenarioFailed(RuntimeError):
    """The scenario could not be run through the web (what happened, in a sentence)."""


def scenario_run(
    base: str, prepared: Prepared, scratch: Path, url: str, budget_s: float, timeout_s: int
) -> ScenarioFigures:
    """Run the bench scenario through the web, then the engine's CLI on the run's problem file."""
    session = sign_in(base, prepared.planner)
    scenario_page = session.get(f"{base}/scenarios/{prepared.scenario_id}", timeout=120)
    token = dict(workload.form_with(scenario_page.text, "csrf_token"))["csrf_token"]
    started = time.perf_counter()
    try:
        answer = session.post(
            f"{base}/scenarios/{prepared.scenario_id}/run",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=timeout_s + 30,
        )
    except OSError as err:  # requests' errors are OSErrors: gunicorn's timeout kills the worker
        took = time.perf_counter() - started
        raise ScenarioFailed(f"The run's POST got no answer after {took:.1f} s ({err}).") from err
    enqueue_ms = (time.perf_counter() - started) * 1000
    location = answer.headers.get("Location", "")
    found = re.search(r"/scenarios/runs/(\d+)", location)
    if answer.status_code != 302 or not found:
        raise ScenarioFailed(
            f"The run's POST answered {answer.status_code} after {enqueue_ms / 1000:.1f} s: "
            "no run started."
        )
    run_id = int(found.group(1))
    status: dict[str, Any] = {}
    while time.perf_counter() - started < budget_s:
        status = session.get(f"{base}/scenarios/runs/{run_id}/status.json", timeout=60).json()
        if status.get("finished"):
            break
        time.sleep(0.2)
    result_s = time.perf_counter() - started
    page_started = time.perf_counter()
    page = session.get(f"{base}/scenarios/runs/{run_id}", timeout=300)
    run_page_ms = (time.perf_counter() - page_started) * 1000
    problem = session.get(f"{base}/scenarios/runs/{run_id}/problem.json", timeout=300)
    problem_path = scratch / f"run-{run_id}-problem.json"
    problem_path.write_bytes(problem.content)
    eligible = 0
    duration_ms = None
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text("select eligible_pairs, duration_ms from scenario_run where id = :id"),
            {"id": run_id},
        ).one()
        eligible, duration_ms = int(row[0] or 0), row[1]
    engine.dispose()
    cli_wall = cli_cpu = math.nan
    cli_exit = -1
    if problem.status_code == 200:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_started = time.perf_counter()
        command = [sys.executable, "-m", "allocation", "solve", str(problem_path)]
        command += ["--objective", prepared.objective]
        with (scratch / f"run-{run_id}-cli-result.json").open("wb") as out:
            cli_exit = subprocess.run(
                command, cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL, check=False
            ).returncode
        cli_wall = time.perf_counter() - cli_started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ScenarioFigures(
        run_id=run_id,
        status=str(status.get("status", "not finished")),
        enqueue_ms=enqueue_ms,
        result_s=result_s,
        run_page_ms=run_page_ms,
        run_page_kb=len(page.content) / 1024,
        problem_kb=len(problem.content) / 1024,
        eligible_pairs=eligible,
        cli_wall_s=cli_wall,
        cli_cpu_s=cli_cpu,
        cli_exit=cli_exit,
        run_duration_ms=duration_ms,
    )


# ---- reporting -------------------------------------------------------------------------------


def ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def row(label: str, f: Figures) -> str:
    errors = str(f.errors) + (
        f" ({', '.join(f'{k}: {v}' for k, v in f.statuses.items())})" if f.statuses else ""
    )
    return (
        f"| {label} | {f.requests:,} | {f.per_s:.1f} | {ms(f.p50)} | {ms(f.p95)} | "
        f"{ms(f.p99)} | {ms(f.max)} | {errors} |"
    )


HEADER = (
    "| group | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|"
)


def phase_table(phase: Phase) -> list[str]:
    lines = [HEADER]
    groups = phase.by("group")
    for group in workload.GROUPS:
        if group in groups:
            lines.append(row(group, figures(groups[group], phase.seconds)))
    lines.append(row("**all (steady load)**", figures(phase.steady, phase.seconds)))
    lines.append(
        row(
            f"ramp-up: the first {phase.ramp_seconds:.0f} s, sign-ins included",
            figures(phase.ramp, phase.ramp_seconds),
        )
    )
    lines.append(row("sign-ins (in the ramp-up)", figures(phase.sign_ins, phase.ramp_seconds)))
    return lines


def slowest(phase: Phase, count: int = 8) -> list[str]:
    lines = [
        "| endpoint | requests | p50 ms | p95 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    named = [
        (name, figures(s, phase.seconds))
        for name, s in phase.by("name").items()
        if not name.startswith(workload.LOGIN)
    ]
    named.sort(key=lambda item: item[1].p95, reverse=True)
    for name, f in named[:count]:
        lines.append(
            f"| {name.replace('|', '·')} | {f.requests} | {ms(f.p50)} | {ms(f.p95)} | "
            f"{ms(f.max)} | {f.errors} |"
        )
    return lines


def target_check(phase: Phase) -> list[str]:
    load = figures(phase.steady, phase.seconds)
    ramp = figures(phase.ramp, phase.ramp_seconds)

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    return [
        f"Targets at {phase.users} users (the steady load, {phase.seconds:.0f} s):",
        f"- p95 {ms(load.p95)} ms, target under {P95_TARGET_MS:.0f} ms: "
        f"{verdict(load.p95 < P95_TARGET_MS)}",
        f"- errors {load.errors}, target 0: {verdict(load.errors == 0)}",
        f"- slowest request {ms(load.max)} ms, target none over {MAX_TARGET_MS:.0f} ms: "
        f"{verdict(load.max <= MAX_TARGET_MS)}",
        f"- the ramp-up before it ({phase.ramp_seconds:.0f} s, {phase.users} visitors starting, "
        f"{len(phase.sign_ins) // 2} signing in): {ramp.requests} requests, p95 {ms(ramp.p95)} "
        f"ms, max {ms(ramp.max)} ms, errors {ramp.errors}",
    ]


def load_section(
    phases: list[Phase], args: argparse.Namespace, sizes: dict[str, int], kpi_auth: str, url: str
) -> list[str]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = ", ".join(f"{n:,} {what}" for what, n in sizes.items())
    lines = [
        "## Load",
        "",
        f"`python bench/web.py {shlex.join(sys.argv[1:])}` on {when}; machine: "
        f"{os.cpu_count()} CPUs, shared ({_load_words(phases)}). Data set (PostgreSQL "
        f"database `{database_name(url)}`): {size}. gunicorn {args.workers} sync workers, "
        f"`--timeout {args.timeout}`; locust headless, spawn rate {args.spawn_rate}/s, think time "
        f"{args.think[0]:g}–{args.think[1]:g} s; per user count, {args.duration} s of steady "
        "load measured once every visitor has signed in. Visitors 6 : 3 : 1 staff (signed "
        "in once) : families (anonymous directory) : partner contacts (own pages; edits of "
        "their listing, GET + POST with the CSRF token, about 1 in 6 of their requests). "
        "The KPI API was called with a "
        f"{kpi_auth}.",
        "",
    ]
    for phase in phases:
        lines += [
            f"### {phase.users} users",
            "",
            f"{phase.seconds:.0f} s of steady load. {cpu_words(phase)} gunicorn worker "
            f"timeouts: {phase.worker_timeouts}. Load average before "
            f"{_load(phase.load_before)}, after {_load(phase.load_after)}.",
            "",
            *phase_table(phase),
            "",
            "Slowest endpoints by p95:",
            "",
            *slowest(phase),
            "",
        ]
    if phases:
        lines += [*target_check(phases[-1]), ""]
    return lines


def cpu_words(phase: Phase) -> str:
    """The CPU spent, per request: what a quiet machine would need, whatever the load."""
    n = max(1, len(phase.samples))
    return (
        "CPU over the whole run, ramp-up and sign-ins included: "
        f"gunicorn {phase.server_cpu_s:.1f} s ({1000 * phase.server_cpu_s / n:.1f} ms a "
        f"request), PostgreSQL backends {phase.database_cpu_s:.1f} s "
        f"({1000 * phase.database_cpu_s / n:.1f} ms a request), locust "
        f"{phase.locust_cpu_s:.1f} s."
    )


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _load_words(phases: list[Phase]) -> str:
    loads = [p.load_before[0] for p in phases] + [p.load_after[0] for p in phases]
    if not loads:
        return "load unknown"
    return (
        f"1-minute load average {min(loads):.1f}–{max(loads):.1f} while it ran, other work "
        "included: the figures are noisy"
    )


def scenario_section(
    found: ScenarioFigures | None,
    note: str,
    args: argparse.Namespace,
    sizes: dict[str, int],
    url: str,
) -> list[str]:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    size = ", ".join(f"{n:,} {what}" for what, n in sizes.items())
    lines = [
        "## State scenario",
        "",
        f"`python bench/web.py {shlex.join(sys.argv[1:])}` on {when}, {os.cpu_count()} CPUs "
        f"shared (1-minute load average {os.getloadavg()[0]:.1f} at the end); database "
        f"`{database_name(url)}`: {size}; gunicorn `--timeout {args.timeout}`.",
        "",
    ]
    if found is None:
        return [*lines, note or "Not measured.", ""]
    ratio = found.result_s / found.cli_wall_s if found.cli_wall_s else math.nan

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines += [
        f"The bench scenario (all categories, proportional, HiGHS, 60 s limit; run {found.run_id}, "
        f"{found.status}, {found.eligible_pairs:,} eligible pairs, problem file "
        f"{found.problem_kb:,.0f} KB) run through the web with no other load. {note}",
        "",
        "| what | figure | target |",
        "|---|---:|---|",
        f"| enqueue: the run's POST answered | {ms(found.enqueue_ms)} ms | under "
        f"{ENQUEUE_TARGET_MS:.0f} ms: {verdict(found.enqueue_ms < ENQUEUE_TARGET_MS)} |",
        f"| total time to result (POST sent → status finished) | {found.result_s:.1f} s | under "
        f"{RESULT_TARGET_RATIO:g}× the CLI: {verdict(ratio < RESULT_TARGET_RATIO)} "
        f"({ratio:.2f}×) |",
        f"| the run's own duration (recorded) | "
        f"{'–' if found.run_duration_ms is None else f'{found.run_duration_ms / 1000:.1f} s'} | |",
        f"| run page once done | {ms(found.run_page_ms)} ms, {found.run_page_kb:,.0f} KB | "
        f"under {RUN_PAGE_TARGET_MS:.0f} ms: {verdict(found.run_page_ms < RUN_PAGE_TARGET_MS)} |",
        f"| engine CLI on the stored problem.json (`python -m allocation solve`) | "
        f"{found.cli_wall_s:.1f} s wall, {found.cli_cpu_s:.1f} s CPU, exit {found.cli_exit} | |",
        "",
    ]
    return lines


def write_results(sections: dict[str, list[str]]) -> None:
    """Replace our sections of RESULTS-web.md, keeping any other section as it is."""
    title = "# Web app under load (bench/web.py)"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else title + "\n"
    parts = re.split(r"(?m)^(?=## )", text)
    head, rest = parts[0], parts[1:]
    kept: dict[str, str] = {}
    order: list[str] = []
    for part in rest:
        heading = part.splitlines()[0]
        kept[heading] = part
        order.append(heading)
    for heading, lines in sections.items():
        if heading not in kept:
            order.append(heading)
        kept[heading] = "\n".join(lines).rstrip() + "\n\n"
    body = head.rstrip() + "\n\n" + "".join(kept[h] for h in order)
    RESULTS.write_text(body.rstrip() + "\n", encoding="utf-8")


def print_phase(phase: Phase) -> None:
    print(
        f"\n{phase.users} users, {phase.seconds:.0f} s. {cpu_words(phase)} "
        f"gunicorn worker timeouts: {phase.worker_timeouts}."
    )
    print("\n".join(phase_table(phase)))
    print("slowest endpoints by p95:")
    print("\n".join(slowest(phase)))


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--build", action="store_true", help="migrate and seed the database first")
    parser.add_argument("--seed-command", default="seed-scale", help="with --build")
    parser.add_argument("--users", default="10,50", help="user counts, one load run each")
    parser.add_argument("--duration", type=int, default=60, help="seconds per user count")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="visitors started a second")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(1.0, 5.0),
        metavar=("MIN", "MAX"),
        help="seconds a visitor reads a page (uniform); 0 0 measures saturation",
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--timeout", type=int, default=120, help="gunicorn's worker timeout (the README's: 120)"
    )
    parser.add_argument("--redis-url", default=None, help="queue scenario runs on RQ")
    parser.add_argument("--scenario-year", default=None, help="the bench scenario's school year")
    parser.add_argument("--no-scenario", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    url = args.database_url
    if not url or not url.startswith("postgresql"):
        raise SystemExit("give a PostgreSQL DATABASE_URL (or --database-url)")
    # --users "" measures the scenario alone.
    user_counts = [int(n) for n in args.users.split(",") if n.strip()]

    if args.build:
        build(url, args.seed_command)
    started = time.perf_counter()
    prepared = prepare(url, max(user_counts, default=1), args.scenario_year, not args.no_scenario)
    prepared.plan["think_s"] = list(args.think)
    print(
        f"prepared in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{n:,} {what}" for what, n in prepared.sizes.items())
        + f"; {len(prepared.plan['staff'])} staff and {len(prepared.plan['partners'])} partner "
        "accounts"
    )
    phases: list[Phase] = []
    found: ScenarioFigures | None = None
    note = ""
    kpi_auth = "(not reached)"
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch_name:
        scratch = Path(scratch_name)
        plan_path = scratch / "plan.json"
        plan_path.write_text(json.dumps(prepared.plan), encoding="utf-8")
        server = Server(url, args.workers, args.timeout, scratch, args.redis_url)
        database = DatabaseCPU(url)
        try:
            if user_counts:
                kpi_auth = warm_up(server.base, prepared.plan)
                print(f"gunicorn up on {server.base}; /api/v1/kpis answered to a {kpi_auth}")
            for users in user_counts:
                timeouts = server.worker_timeouts()
                phase = run_locust(server.base, plan_path, scratch, users, args, server, database)
                phase.worker_timeouts = server.worker_timeouts() - timeouts
                phases.append(phase)
                print_phase(phase)
            if prepared.scenario_id is not None:
                budget = 2 * 60 + 300.0 + args.timeout
                note = (
                    "Scenario runs queued on RQ (one worker)."
                    if args.redis_url
                    else "No REDIS_URL: the run is solved in a thread of the gunicorn worker."
                )
                try:
                    found = scenario_run(server.base, prepared, scratch, url, budget, args.timeout)
                except ScenarioFailed as err:
                    note = f"{err} {note}"
                    print(note)
        finally:
            server.stop()
            database.close()
    if phases:
        print()
        print("\n".join(target_check(phases[-1])))
    scenario_lines = scenario_section(found, note, args, prepared.sizes, url)
    if found is not None:
        print()
        print("\n".join(scenario_lines))
    if not args.no_write:
        sections: dict[str, list[str]] = {}
        if phases:
            sections["## Load"] = load_section(phases, args, prepared.sizes, kpi_auth, url)
        if prepared.scenario_id is not None:
            sections["## State scenario"] = scenario_lines
        write_results(sections)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
