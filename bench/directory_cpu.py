"""CPU time of the family directory's pages, rendered cold, in one process (no server).

Usage::

    python bench/directory_cpu.py [--rounds 3] [--profile N]

The demo district is seeded into a fresh SQLite file; then every directory page
the load benchmark (bench/directory.py) visits is asked for once per language
through the app's test client, with the kept pages emptied before each request
(the listing's fingerprint is kept, as a server reuses it for 2 s), so that every
answer is a full render (the first pass of the load benchmark), never a kept page
or a 304. It prints the CPU time
(`time.process_time`) per request: what a render costs a core, whatever else the
machine is doing, where wall-clock latencies under load mostly measure queueing.
The first round includes the first use of each template and query; later rounds
are a process that has served for a while. `--profile N` prints the N costliest
functions of the last round (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.directory import LANGUAGES, SECRET, pages_found, seed  # noqa: E402


def paths(client: object) -> list[str]:
    """The load benchmark's pages: searches, every school, every service they list."""
    get = client.get  # type: ignore[attr-defined]
    return pages_found(lambda path: get(path).get_data(as_text=True))


def forget_rendered_pages(app: object) -> None:
    """Empty the kept pages (not the listing's fingerprint, reused for 2 s as in a server)."""
    store = app.extensions.get("directory_pages")  # type: ignore[attr-defined]
    if store is not None:
        store._pages.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/directory-cpu.sqlite3"
        seed(url)
        from registry import create_app

        started = time.process_time()
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
        print(f"create_app: {(time.process_time() - started) * 1000:.0f} ms CPU")
        client = app.test_client()
        listed = paths(client)
        print(f"{len(listed)} pages × {len(LANGUAGES)} languages a round")
        profiler = cProfile.Profile()
        for round_ in range(1, args.rounds + 1):
            costs: list[float] = []
            last = round_ == args.rounds
            for lang in LANGUAGES:
                for path in listed:
                    forget_rendered_pages(app)
                    started = time.process_time()
                    if last and args.profile:
                        profiler.enable()
                    response = client.get(path, headers={"Accept-Language": lang})
                    if last and args.profile:
                        profiler.disable()
                    costs.append(time.process_time() - started)
                    assert response.status_code == 200, (path, response.status_code)
            ms = sorted(c * 1000 for c in costs)
            print(
                f"round {round_}: CPU per cold request  mean {statistics.fmean(ms):5.2f} ms  "
                f"p50 {ms[len(ms) // 2]:5.2f} ms  p95 {ms[round(0.95 * (len(ms) - 1))]:5.2f} ms  "
                f"max {ms[-1]:6.2f} ms  ({len(ms)} requests)"
            )
        if args.profile:
            pstats.Stats(profiler).sort_stats(
                os.environ.get("PROFILE_SORT", "cumulative")
            ).print_stats(args.profile)


if __name__ == "__main__":
    main()
