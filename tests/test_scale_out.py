"""Scale-out: two app processes (two gunicorn masters on two ports) and two RQ workers on
one PostgreSQL and one Redis. Scenarios are run from both apps over HTTP; one worker is
killed (SIGKILL) in the middle of a run; every run still ends, the killed one retried by the
surviving worker, none solved twice and none lost.

PostgreSQL and Redis only (it runs in CI's PostgreSQL pass): it is skipped, saying why,
when TEST_DATABASE_URL is not PostgreSQL or no Redis answers at 127.0.0.1:6379. Nothing is
timed: the workers wait in the build (`SCENARIO_TEST_HOLD_DIR`) until the test has killed
one of them, and every wait polls against a generous deadline.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from registry.extensions import db
from registry.models import AuditEntry, NeedIndexDefinition, School, Service, User
from registry.models.scenario import RunStatus, ScenarioRun
from registry.vocabulary import Role
from tests.conftest import PASSWORD, ScratchDatabase
from tests.redis_queues import forget_queue
from tests.scenario_support import reading_by_need

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
DEADLINE_S = 90.0  # generous: a busy machine; the test takes about 20-30 s


def _redis_answers() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except RedisError:
        return False


pytestmark = [
    pytest.mark.skipif(
        not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
        reason="scale-out needs PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://...",
    ),
    pytest.mark.skipif(not _redis_answers(), reason=f"scale-out needs Redis at {REDIS_URL}"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, found: Callable[[], Any], procs: list[subprocess.Popen[bytes]]) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if result := found():
            return result
        for proc in procs:
            if proc.poll() is not None and proc.returncode not in (-signal.SIGKILL,):
                raise AssertionError(f"{proc.args!r} exited ({proc.returncode}) waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"not within {DEADLINE_S} s: {what}")


class Cluster:
    """The processes of the test, each in its own process group; all stopped in the end."""

    def __init__(self, tmp: Path, env: dict[str, str], factory: str) -> None:
        self.tmp, self.env, self.factory = tmp, env, factory
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            args,
            cwd=self.tmp,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def app(self, name: str, port: int) -> subprocess.Popen[bytes]:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        args = [gunicorn, "--workers", "1", "--bind", f"127.0.0.1:{port}", self.factory]
        # No control socket: the default path is one per machine, and there are two masters.
        return self.start(name, [*args, "--timeout", "60", "--no-control-socket"])

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "flask", "--app", self.factory, "scenarios", "worker"]
        return self.start(name, args)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in self.tmp.glob("*.log"))


@pytest.fixture
def cluster(
    test_database: ScratchDatabase, app: Flask, tmp_path: Path
) -> Iterator[tuple[Cluster, str]]:
    from redis import Redis

    queue = f"scale-out-{uuid.uuid4().hex}"
    held = tmp_path / "held"
    held.mkdir()
    config = {
        "SCENARIO_QUEUE": queue,
        "SCENARIO_TEST_HOLD_DIR": str(held),
        "SCENARIO_HEARTBEAT_S": 0.5,
        "SCENARIO_HEARTBEAT_TIMEOUT_S": 8,  # a loaded machine may delay a beat by seconds
        "SCENARIO_REAP_EVERY_S": 1,
        "SCENARIO_RUNS_TOTAL": 8,
        "SCENARIO_RUNS_PER_USER": 8,
    }
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("FLASK_APP", "TEST_DATABASE_URL")},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": test_database.url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": secrets.token_hex(32),
        "MFA_REQUIRED_ROLES": "",
    }
    found = Cluster(tmp_path, env, f"registry:create_app({config!r})")
    try:
        yield found, str(held)
    finally:
        logs = found.logs()
        found.stop()
        forget_queue(Redis.from_url(REDIS_URL), queue)
        print(logs)  # shown by pytest when the test failed


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _signed_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=30)
    answer = session.post(
        f"{base}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": _csrf(form.text)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text[:500]
    return session


def _run(session: requests.Session, base: str, scenario_id: int) -> tuple[int, float]:
    """Run the scenario over HTTP: the run's id and the request's time in seconds."""
    page = session.get(f"{base}/scenarios/{scenario_id}", timeout=30)
    token = _csrf(page.text)
    started = time.perf_counter()
    answer = session.post(
        f"{base}/scenarios/{scenario_id}/run",
        data={"csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    took = time.perf_counter() - started
    assert answer.status_code == 302, answer.text[:500]
    return int(answer.headers["Location"].rstrip("/").split("/")[-1]), took


def _runs(ids: list[int]) -> dict[int, ScenarioRun]:
    db.session.rollback()  # a fresh transaction: see the other processes' commits
    db.session.expire_all()
    return {r.id: r for r in db.session.scalars(select(ScenarioRun)).all() if r.id in ids}


def _held(folder: Path) -> list[tuple[int, int, int]]:
    """(run, attempt, pid) of each run a worker held in its build."""
    found = []
    for path in folder.glob("held-*"):
        _, run, attempt, pid = path.name.split("-")
        found.append((int(run), int(attempt), int(pid)))
    return found


def test_two_apps_two_workers_one_killed_mid_run_nothing_stuck_lost_or_solved_twice(
    cluster: tuple[Cluster, str],
    definition: NeedIndexDefinition,
    make_school: Callable[..., School],
    make_service: Callable[..., Service],
    make_user: Callable[..., User],
) -> None:
    processes, held_dir = cluster
    held = Path(held_dir)
    scenario = reading_by_need(definition, make_school, make_service)
    ann, bob = make_user(Role.LEADER), make_user(Role.LEADER)

    ports = [_free_port(), _free_port()]
    apps = [processes.app(f"app{n}", port) for n, port in enumerate(ports)]
    workers = {proc.pid: proc for proc in (processes.worker("w0"), processes.worker("w1"))}
    bases = [f"http://127.0.0.1:{port}" for port in ports]

    def answering() -> bool:
        try:
            return all(requests.get(f"{b}/healthz", timeout=5).ok for b in bases)
        except requests.RequestException:
            return False

    everyone = [*apps, *workers.values()]
    _wait_for("both apps to answer", answering, everyone)
    sessions = [_signed_in(bases[0], ann.email), _signed_in(bases[1], bob.email)]
    started = [_run(sessions[n % 2], bases[n % 2], scenario.id) for n in range(4)]
    ids = [run_id for run_id, _took in started]
    assert len(set(ids)) == 4

    # Both workers are in the middle of a run (held in its build): kill one of them.
    def both_holding() -> list[tuple[int, int, int]] | None:
        found = _held(held)
        return found if len({pid for _run, _attempt, pid in found}) == 2 else None

    pairs = _wait_for("both workers to hold a run", both_holding, everyone)
    killed_run, _attempt, killed_pid = min(pairs)
    assert killed_pid in workers
    os.kill(killed_pid, signal.SIGKILL)
    workers[killed_pid].wait(30)
    (held / "release").touch()

    survivors = [*apps, *(p for pid, p in workers.items() if pid != killed_pid)]

    def all_finished() -> dict[int, ScenarioRun] | None:
        found = _runs(ids)
        return found if all(r.status.finished for r in found.values()) else None

    runs = _wait_for("every run to finish", all_finished, survivors)
    print(
        {r.id: (r.status.value, r.attempts, r.error) for r in runs.values()}, "killed:", killed_run
    )
    # Nothing lost, nothing stuck: every run is there and finished.
    assert sorted(runs) == sorted(ids)
    assert {r.id: r.status for r in runs.values()} == {i: RunStatus.DONE for i in ids}
    # The killed worker's run was queued again and solved by the survivor.
    assert runs[killed_run].attempts == 2
    assert runs[killed_run].result_json
    # None solved twice: one solve each (the workers' own marks), one "done" in the trail.
    solved = [path.name.split("-")[1] for path in held.glob("solved-*")]
    assert sorted(int(s) for s in solved) == sorted(ids)
    done = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "scenario_run", AuditEntry.action == "status")
    ).all()
    finished = [e.entity_id for e in done if (e.after or {}).get("status") == "done"]
    assert sorted(finished) == sorted(ids)
    # The request only recorded and queued each run (figures: README/bench, not asserted).
    print("run requests (s):", [round(took, 3) for _id, took in started])
