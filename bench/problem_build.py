"""Benchmark of a scenario's problem build (`registry.scenarios.problem.build_problem`).

Usage::

    python bench/problem_build.py [--database-url URL] [--year 2025-26] [--repeat 3]
        [--reference] [--state-like URL]

Without `--database-url` the demo district (`seed_demo`) is written into a fresh
SQLite file and built there. With it, the registry already at that URL is built
(a state-sized one from `flask --app registry seed-scale`, say); nothing is
written to it (each build's scenario is rolled back). It prints, per scenario
setting, the build's CPU time (`time.process_time`, what matters on a shared
machine) and wall time, the best of `--repeat`, with the size of what was built
and the CPU time `json.dumps` takes to write it as a run stores it.
`--reference` also times the build as it was before it was vectorised
(tests/problem_reference.py) and checks both give the same bytes.

`--state-like URL` first fills the empty database at URL (it must exist and be
empty) with a state-like registry made of copies of the demo district: 42 copies
of its schools (about 1,890) each in zips of its own, 20 of its partners,
services (about 6,300), MOUs and commitments, each copy serving the zips of two
or three copies of the schools. It stands in for `seed-scale` where that is not
at hand; its shape is not the state's, only its size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

SECRET = "bench-problem-build-not-secret"
SCHOOL_COPIES = 42
PARTNER_COPIES = 20

# name → scenario settings (the school year is added)
SETTINGS: dict[str, dict[str, Any]] = {
    "default (all categories, locks, 1 seat per student)": {},
    "locks released, no seats-per-student bound": {
        "keep_commitments_as_locks": False,
        "saturation": None,
    },
    "threshold 0.5, by need": {"need_threshold": Decimal("0.5"), "weight_rule": "need"},
}


def app_for(url: str) -> Any:
    from registry import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})


def seed_demo_into(url: str) -> None:
    from registry.audit import Actor, acting_as
    from registry.demo import seed_demo
    from registry.extensions import db

    app = app_for(url)
    with app.app_context():
        db.create_all()
        with acting_as(Actor(None, "bench")):
            seed_demo(password="bench-password-unused")
            db.session.commit()
        db.engine.dispose()


def _shifted_zip(zip_code: str, copy: int) -> str:
    return str(int(zip_code) + 100 * copy).zfill(5) if zip_code.isdigit() else zip_code


def _copy_rows(
    conn: Any, table: Any, copies: range, change: Callable[[dict[str, Any], int], None]
) -> None:
    rows = [dict(r) for r in conn.execute(table.select()).mappings()]
    for copy in copies:
        batch = []
        for row in rows:
            new = dict(row)
            change(new, copy)
            batch.append(new)
        for start in range(0, len(batch), 2000):
            conn.execute(table.insert(), batch[start : start + 2000])


def make_state_like(url: str) -> None:
    """Fill an empty database with copies of the demo district (see the module's doc)."""
    from sqlalchemy import func, select, update

    from registry.extensions import db
    from registry.models import (
        MOU,
        Commitment,
        Offering,
        Partner,
        School,
        SchoolIndicators,
        Service,
    )
    from registry.models.mou import mou_school

    seed_demo_into(url)
    app = app_for(url)
    with app.app_context(), db.engine.begin() as conn:

        def top(model: Any) -> int:
            return int(conn.execute(select(func.max(model.id))).scalar() or 0)

        school_step, partner_step, service_step = top(School), top(Partner), top(Service)
        mou_step, offering_step, commitment_step = top(MOU), top(Offering), top(Commitment)
        indicator_step = top(SchoolIndicators)
        zips = sorted({z for z in conn.execute(select(School.zip)).scalars()})

        def school_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += school_step * copy
            row["dese_code"] = f"X{copy:02d}{row['id']:05d}"
            row["local_code"] = None
            row["name"] = f"{row['name']} ({copy})"
            row["zip"] = _shifted_zip(row["zip"], copy)

        def indicator_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += indicator_step * copy
            row["school_id"] += school_step * copy

        _copy_rows(conn, School.__table__, range(1, SCHOOL_COPIES), school_copy)
        _copy_rows(conn, SchoolIndicators.__table__, range(1, SCHOOL_COPIES), indicator_copy)

        def groups(copy: int) -> list[int]:
            return [g for g in (copy, copy + PARTNER_COPIES, copy + 2 * PARTNER_COPIES)
                    if g < SCHOOL_COPIES]  # fmt: skip

        def area(row: dict[str, Any], copy: int) -> None:
            own = zips if row["district_wide"] else list(row["service_zips"] or [])
            row["district_wide"] = False
            row["service_zips"] = sorted({_shifted_zip(z, g) for z in own for g in groups(copy)})

        # The originals are copy 0: they serve their school copies' zips only, too.
        for row in conn.execute(Partner.__table__.select()).mappings():
            changed = dict(row)
            area(changed, 0)
            conn.execute(
                update(Partner)
                .where(Partner.id == row["id"])
                .values(district_wide=False, service_zips=changed["service_zips"])
            )

        def partner_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += partner_step * copy
            row["name"] = f"{row['name']} ({copy})"

        def service_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += service_step * copy
            row["partner_id"] += partner_step * copy

        def offering_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += offering_step * copy
            row["service_id"] += service_step * copy
            row["school_id"] += school_step * copy

        def mou_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += mou_step * copy
            row["partner_id"] += partner_step * copy
            for column in ("renewed_from_id", "amends_id"):
                if row.get(column) is not None:
                    row[column] += mou_step * copy

        def mou_school_copy(row: dict[str, Any], copy: int) -> None:
            row["mou_id"] += mou_step * copy
            row["school_id"] += school_step * copy

        def commitment_copy(row: dict[str, Any], copy: int) -> None:
            row["id"] += commitment_step * copy
            row["mou_id"] += mou_step * copy
            row["service_id"] += service_step * copy
            row["school_id"] += school_step * copy

        copies = range(1, PARTNER_COPIES)
        _copy_rows(conn, Partner.__table__, copies, partner_copy)
        _copy_rows(conn, Service.__table__, copies, service_copy)
        _copy_rows(conn, Offering.__table__, copies, offering_copy)
        _copy_rows(conn, MOU.__table__, copies, mou_copy)
        _copy_rows(conn, mou_school, copies, mou_school_copy)
        _copy_rows(conn, Commitment.__table__, copies, commitment_copy)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                for table in ("school", "school_indicators", "partner", "service", "offering",
                              "mou", "commitment"):  # fmt: skip
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
        db.engine.dispose()


@contextmanager
def scenario_of(values: dict[str, Any], year: str) -> Iterator[Any]:
    """A scenario with these settings, flushed, rolled back afterwards."""
    from registry.extensions import db
    from registry.models.scenario import Scenario

    scenario = Scenario(name="bench", school_year=year, **values)
    db.session.add(scenario)
    db.session.flush()
    try:
        yield scenario
    finally:
        db.session.rollback()


def timed(build: Callable[[Any], Any], values: dict[str, Any], year: str, repeat: int) -> Any:
    """(best CPU s, best wall s, median CPU s, CPU s to write the JSON, the last conversion,
    its JSON as a run stores it)."""
    cpu, wall, dump = [], [], []
    conversion: Any = None
    stored: tuple[str, str] = ("", "")
    for _ in range(repeat):
        with scenario_of(values, year) as scenario:
            started_cpu, started = time.process_time(), time.perf_counter()
            conversion = build(scenario)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
            started_cpu = time.process_time()
            # As registry/scenarios/runner.py stores them.
            stored = (
                json.dumps(conversion.problem, indent=1, ensure_ascii=False),
                json.dumps(conversion.report(), ensure_ascii=False),
            )
            dump.append(time.process_time() - started_cpu)
    return min(cpu), min(wall), statistics.median(cpu), min(dump), conversion, stored


def bench(url: str, year: str | None, repeat: int, reference: bool) -> int:
    from sqlalchemy import func, select

    from registry.extensions import db
    from registry.models import MOU, Commitment, School, Service
    from registry.scenarios.problem import build_problem

    app = app_for(url)
    failures = 0
    with app.app_context(), app.test_request_context(method="POST"):
        year = year or db.session.scalar(select(func.max(MOU.school_year)))
        assert year, "no MOUs: give --year"
        sizes = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (School, Service, Commitment)
        }
        counted = ", ".join(f"{n} {model}" for model, n in sizes.items())
        print(f"{db.engine.dialect.name}, {year}: {counted}")
        builds: list[tuple[str, Callable[[Any], Any]]] = [("vectorised", build_problem)]
        if reference:
            sys.path.insert(0, str(ROOT))
            from tests import problem_reference

            builds.append(("before (reference)", problem_reference.build_problem))
        for name, values in SETTINGS.items():
            print(f"\n{name}")
            outputs = []
            for label, build in builds:
                best_cpu, best_wall, median_cpu, dump_cpu, conversion, stored = timed(
                    build, values, year, repeat
                )
                outputs.append(stored)
                print(
                    f"  {label:<20} CPU {best_cpu:7.3f} s (median {median_cpu:.3f})"
                    f"  wall {best_wall:7.3f} s  {len(conversion.problem['schools'])} schools,"
                    f" {len(conversion.problem['services'])} services,"
                    f" {conversion.eligible_pairs} pairs, {len(conversion.problem['locks'])} locks,"
                    f" {len(conversion.problem['limits'])} limits,"
                    f" {(len(stored[0]) + len(stored[1])) / 1e6:.1f} MB of JSON"
                    f" (written in {dump_cpu:.2f} s of CPU)"
                )
            if len(outputs) == 2:
                same = outputs[0] == outputs[1]
                failures += not same
                print(f"  same bytes as before: {same}")
        db.engine.dispose()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--year", default=None, help="school year (default: the latest MOUs')")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also time the old build")
    parser.add_argument("--state-like", metavar="URL", help="fill this empty database first")
    args = parser.parse_args()
    if args.state_like:
        started = time.perf_counter()
        make_state_like(args.state_like)
        print(f"state-like registry written in {time.perf_counter() - started:.0f} s")
        url = args.state_like
    elif args.database_url:
        url = args.database_url
    else:
        folder = tempfile.mkdtemp(prefix="bench-problem-")
        url = f"sqlite:///{folder}/demo.sqlite3"
        seed_demo_into(url)
    return 1 if bench(url, args.year, args.repeat, args.reference) else 0


if __name__ == "__main__":
    sys.exit(main())
