"""Benchmark of the list exports: queries, time, CPU and peak memory of each download.

Usage::

    python bench/exports.py [--database-url URL] [--url /mous/?format=csv ...]
        [--memory] [--repeat N]

Without `--database-url`, the demo district (`seed_demo`) is written into a fresh SQLite
file. With one (e.g. a state-sized registry built by `flask --app registry seed-scale`
in a PostgreSQL database of its own), the registry is read as it is; only a bench admin
account (`bench-exports@bench.example`) is added if missing, to sign in with.

Each export is fetched through the Flask test client, signed in as that admin, and read
to its last byte. Printed per URL: the SQL statements run (an engine event counts them),
the bytes, the wall time and the process CPU time (`time.process_time`; the machine is
shared, so wall time is noisy). With `--memory`, a second pass measures, per export, the
process's peak resident memory above what it held before the request (Linux: the peak is
reset through /proc/self/clear_refs, then read from VmHWM), and a third the peak of Python's
own allocations during the request (`tracemalloc`, which slows it down several times).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

SECRET = "bench-exports-not-secret"
EMAIL = "bench-exports@bench.example"
PASSWORD = "bench-exports-password-unused-elsewhere"
URLS = (
    "/mous/?format=csv",
    "/mous/?format=xlsx",
    "/schools/?format=csv",
    "/partners/?format=csv",
    "/services/?format=csv",
)


def make_app(url: str) -> Any:
    from registry import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET,
            "WTF_CSRF_ENABLED": False,
            "MFA_REQUIRED_ROLES": (),
            "LOGIN_MAX_FAILURES": 10_000,
        }
    )


def prepare(app: Any, seed_demo: bool) -> None:
    """The demo district if asked, and the bench admin account, committed."""
    from sqlalchemy import select

    from registry.audit import Actor, acting_as
    from registry.extensions import db
    from registry.models import User
    from registry.vocabulary import Role

    with app.app_context(), acting_as(Actor(None, "bench")):
        if seed_demo:
            from registry.demo import seed_demo as seed

            db.create_all()
            seed(password="bench-password-unused")
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        if user is None:
            user = User(email=EMAIL, name="Bench exports", role=Role.ADMIN)
            db.session.add(user)
        user.set_password(PASSWORD)
        if hasattr(user, "must_change_password"):
            user.must_change_password = False
        db.session.commit()


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


def _status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def fetch(client: Any, url: str) -> tuple[int, int, bool]:
    """Status, bytes, and whether the view's response was streamed; read to the end."""
    from flask import request_finished

    sent: list[Any] = []

    def remember(_sender: Any, response: Any, **_: Any) -> None:
        sent.append(response)

    request_finished.connect(remember)
    try:
        response = client.get(url)
        size = sum(len(chunk) for chunk in response.response)
        response.close()
    finally:
        request_finished.disconnect(remember)
    return response.status_code, size, bool(sent) and sent[0].is_streamed


def measure_memory(client: Any, exports: list[str]) -> None:
    """Per export: the process's resident memory before, its peak growth during the
    request, and the peak of Python's allocations (a second request, under tracemalloc)."""
    print(f"{'export':<24} {'RSS before MB':>13} {'peak RSS +MB':>12} {'traced MB':>9}")
    for export in exports:
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        before = _status_kb("VmRSS")
        fetch(client, export)
        growth = _status_kb("VmHWM") - before
        tracemalloc.start()
        fetch(client, export)
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{export:<24} {before / 1024:>13.1f} {growth / 1024:>12.1f} {traced / 2**20:>9.1f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--url", action="append", help="an export to fetch (repeatable)")
    parser.add_argument(
        "--memory", action="store_true", help="measure peak memory first (one --url: cleanest)"
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    import sqlalchemy as sa

    from registry.extensions import db

    url = args.database_url
    scratch = None
    if url is None:
        scratch = tempfile.TemporaryDirectory()
        url = f"sqlite:///{scratch.name}/demo.sqlite3"
    app = make_app(url)
    prepare(app, seed_demo=args.database_url is None)
    exports = args.url or list(URLS)

    client = app.test_client()
    with app.app_context():
        response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        if args.memory:  # first: what earlier requests freed would hide a later one's growth
            measure_memory(client, exports)
        counter = QueryCounter()
        sa.event.listen(db.engine, "before_cursor_execute", counter)
        print(
            f"{'export':<24} {'status':>6} {'queries':>7} {'bytes':>10} {'wall s':>7} "
            f"{'cpu s':>6} streamed"
        )
        for export in exports:
            for _ in range(args.repeat):
                counter.count = 0
                wall, cpu = time.perf_counter(), time.process_time()
                status, size, streamed = fetch(client, export)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(
                    f"{export:<24} {status:>6} {counter.count:>7} {size:>10} {wall:>7.2f} "
                    f"{cpu:>6.2f} {streamed}"
                )
        sa.event.remove(db.engine, "before_cursor_execute", counter)
    if scratch is not None:
        with app.app_context():
            db.engine.dispose()
        scratch.cleanup()


if __name__ == "__main__":
    main()
