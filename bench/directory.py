"""Benchmark of the family directory: 50 concurrent visitors over the demo district.

Usage::

    python bench/directory.py [--visitors 50] [--pages 20] [--think 1.0] [--workers 2]
        [--threads 8] [--server gunicorn|werkzeug] [--seed N]

The demo district (`seed_demo`) is written into a fresh SQLite file and served
by gunicorn (gthread workers; or werkzeug's threaded server in this process),
as a deployment would. Then `--visitors` visitors browse at once, each on its
own keep-alive connection, in a language of its own (en, es or pt): the search
page (plain and with filters), service pages, the school list and school pages,
`--pages` pages each (none rendered beforehand), waiting a random 0–2 × `--think`
seconds between pages as a person reading would. A second pass browses on the same way (pages the
first pass asked for are kept rendered, by ETag); a third has every visitor come
back to pages it has seen, sending their ETags (a browser revalidating after
max-age).

It prints the latency percentiles of each pass (p50, p95, max), the requests
per second, the server's CPU time per request (gunicorn's processes, read from
/proc: what a page costs whatever else the machine runs), and the machine's
load average before and after, since on a shared machine the latencies mean
little without it. `--think 0` measures saturation:
every visitor fires its next request as soon as the last one answers.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

LANGUAGES = ("en", "es", "pt")
SECRET = "bench-directory-not-secret"


def seed(url: str) -> None:
    from registry import create_app
    from registry.audit import Actor, acting_as
    from registry.demo import seed_demo
    from registry.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
    with app.app_context():
        db.create_all()
        with acting_as(Actor(None, "bench")):
            seed_demo(password="bench-password-unused")
            db.session.commit()
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """The app served on loopback, by gunicorn (a child process) or werkzeug (a thread)."""

    def __init__(self, kind: str, url: str, workers: int, threads: int) -> None:
        self.port = free_port()
        self.kind = kind
        self._process: subprocess.Popen[bytes] | None = None
        self._werkzeug: object | None = None
        if kind == "gunicorn":
            env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET}
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
            gunicorn = Path(sys.executable).with_name("gunicorn")
            command = [str(gunicorn), "--workers", str(workers), "--worker-class", "gthread"]
            command += ["--threads", str(threads), "--bind", f"127.0.0.1:{self.port}"]
            # Visitors pause up to 2 × think time between pages on one connection.
            command += ["--keep-alive", "10", "--log-level", "warning", "registry:create_app()"]
            self._process = subprocess.Popen(command, env=env, cwd=str(ROOT))
        else:
            from werkzeug.serving import make_server

            from registry import create_app

            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
            server = make_server("127.0.0.1", self.port, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._werkzeug = server
        self._wait_until_up()

    def _wait_until_up(self, budget_s: float = 60.0) -> None:
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not come up")

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the server (gunicorn's master and workers), if on Linux."""
        if self._process is None:
            return time.process_time()  # werkzeug serves in this process (visitors count too)
        pids = [self._process.pid]
        try:
            for task in Path(f"/proc/{self._process.pid}/task").iterdir():
                pids += [int(p) for p in (task / "children").read_text().split()]
            total = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, ValueError, IndexError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
        if self._werkzeug is not None:
            self._werkzeug.shutdown()  # type: ignore[attr-defined]


def directory_paths(port: int) -> list[str]:
    """Every page type: searches, every school page, and the services they link to."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(path: str) -> str:
        connection.request("GET", path)
        return connection.getresponse().read().decode()

    return pages_found(get)


def pages_found(get: Callable[[str], str]) -> list[str]:
    """The directory's pages, found by reading them with `get` (a path to its HTML)."""
    found: set[str] = set()
    for page in range(1, 1000):
        listed = get(f"/directory/schools/?page={page}")
        found |= set(re.findall(r'href="(/directory/schools/\d+)"', listed))
        if 'rel="next"' not in listed:
            break
    schools = sorted(found)
    services: set[str] = set()
    for school in schools:
        services |= set(re.findall(r'href="(/directory/services/\d+)"', get(school)))
    searches = [
        "/directory/",
        "/directory/?page=2",
        "/directory/?grade=3",
        "/directory/?language=Spanish",
        "/directory/?category=mentoring",
        "/directory/?zip=01602",
        "/directory/?q=tutoring",
        "/directory/?grade=9&language=Spanish&q=club",
        "/directory/schools/",
        "/directory/schools/?q=elementary",
    ]
    return searches + schools + sorted(services)


@dataclass
class Visitor:
    """One person browsing on one connection, in one language."""

    port: int
    lang: str
    rng: random.Random
    think_s: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)  # path -> ETag

    def browse(self, paths: list[str], pages: int, revalidate: bool) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for _ in range(pages):
            path = self.rng.choice(list(self.seen) if revalidate and self.seen else paths)
            headers = {"Accept-Language": self.lang}
            if revalidate and path in self.seen:
                headers["If-None-Match"] = self.seen[path]
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected):
                # The server closed the idle connection: a browser opens another, so do we.
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
            response.read()
            self.latencies.append(time.perf_counter() - started)
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            if response.getheader("ETag"):
                self.seen[path] = str(response.getheader("ETag"))
            if self.think_s:
                time.sleep(self.rng.uniform(0, 2 * self.think_s))
        connection.close()


def run_pass(
    visitors: list[Visitor], paths: list[str], pages: int, revalidate: bool
) -> tuple[list[float], dict[int, int], float]:
    for visitor in visitors:
        visitor.latencies.clear()
        visitor.statuses.clear()
    threads = [threading.Thread(target=v.browse, args=(paths, pages, revalidate)) for v in visitors]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for v in visitors for x in v.latencies)
    statuses: dict[int, int] = {}
    for visitor in visitors:
        for status, n in visitor.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return latencies, statuses, elapsed


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(
    name: str,
    latencies: list[float],
    statuses: dict[int, int],
    elapsed: float,
    cpu_s: float | None = None,
) -> None:
    ms = [x * 1000 for x in latencies]
    cpu = "" if cpu_s is None else f"  server CPU {cpu_s * 1000 / len(ms):5.2f} ms/request"
    print(
        f"{name:<22} {len(ms):>5} requests  p50 {percentile(ms, 0.5):7.1f} ms  "
        f"p95 {percentile(ms, 0.95):7.1f} ms  max {max(ms):7.1f} ms  "
        f"mean {statistics.fmean(ms):6.1f} ms  {len(ms) / elapsed:6.1f} req/s  "
        f"statuses {dict(sorted(statuses.items()))}{cpu}"
    )


def measured_pass(
    server: Server, visitors: list[Visitor], paths: list[str], pages: int, revalidate: bool
) -> tuple[list[float], dict[int, int], float, float | None]:
    """A pass, and the server's CPU seconds during it (None where it cannot be read)."""
    before = server.cpu_seconds()
    latencies, statuses, elapsed = run_pass(visitors, paths, pages, revalidate)
    after = server.cpu_seconds()
    cpu = None if before is None or after is None else after - before
    return latencies, statuses, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/directory-bench.sqlite3"
        started = time.perf_counter()
        seed(url)
        print(f"demo district seeded in {time.perf_counter() - started:.1f} s")
        server = Server(args.server, url, args.workers, args.threads)
        try:
            paths = directory_paths(server.port)
            print(
                f"{len(paths)} directory pages; {args.visitors} visitors, {args.pages} pages each,"
            )
            print(
                f"think time 0–{2 * args.think:g} s; {args.server}"
                + (
                    f" {args.workers} workers × {args.threads} threads"
                    if args.server == "gunicorn"
                    else ""
                )
            )
            rng = random.Random(args.seed)
            # Start-up only (imports, the first connection); pages are rendered as visitors ask.
            Visitor(server.port, "en", random.Random(0), 0).browse(["/directory/"], 1, False)
            load_before = os.getloadavg()
            visitors = [
                Visitor(server.port, LANGUAGES[n % 3], random.Random(rng.random()), args.think)
                for n in range(args.visitors)
            ]
            for name, revalidate in (
                ("browsing (cold)", False),
                ("browsing on", False),
                ("revisits (ETag)", True),
            ):
                report(name, *measured_pass(server, visitors, paths, args.pages, revalidate))
            load_after = os.getloadavg()
            print(
                f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load_before)}, "
                f"after {tuple(round(x, 2) for x in load_after)}; {os.cpu_count()} CPUs"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
