"""Benchmark of the partner-listing import: 600 rows, previewed and imported on SQLite.

Usage::

    python bench/import_programs.py [--rows 600] [--schools 120] [--partners 60]
        [--programs 150] [--seed N]

A seeded synthetic PartnerBPS-style listing (one row per school × program; a
tenth of the school names spelled differently, so they match only after
normalisation) is written as XLSX and as a cp1252 CSV. Against a fresh SQLite
database holding the schools, it times:

- reading the file (XLSX and CSV);
- the preview (`build_plan`: matching, comparison; reads only);
- the import (`apply_plan` and the commit);
- the preview and import of the same file again (nothing to write).

Each figure is the wall time and the CPU time of this process (on a shared
machine only CPU time compares).
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

T = TypeVar("T")
AREAS = ["Academic Support", "Arts", "Health & Wellness", "Sports", "Mentoring", "Youth Media"]
HEADERS = [
    "School Name", "RC", "Organization Name", "Website", "Program Name", "Program Areas",
    "Program Subareas", "Program Description", "Days of Operation", "Time", "Grades Served",
    "Average Weekly Dosage per Student", "Service Capacity", "Student Fees?",
]  # fmt: skip


def listing(rows: int, schools: int, partners: int, programs: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    program_partner = [
        (f"Partner Org {p % partners + 1}", f"Program {p + 1}") for p in range(programs)
    ]
    table: list[list[str]] = [HEADERS]
    # Every program at least once (so every partner too), the rest drawn at random.
    chosen = {(p, rng.randrange(schools)) for p in range(programs)}
    while len(chosen) < rows:
        chosen.add((rng.randrange(programs), rng.randrange(schools)))
    for program, school in sorted(chosen):
        org, name = program_partner[program]
        n = school + 1
        school_name = f"School {n} K-8 School" if rng.random() > 0.1 else f"SCHOOL {n} K8"
        grades = ",".join(f"'{g}'" for g in rng.sample(["K2", "1", "2", "3", "4", "5"], 3))
        table.append([
            school_name, str(1000 + n) if rng.random() > 0.5 else "", org,
            f"https://partner{program % partners + 1}.example", name,
            AREAS[program % len(AREAS)], "", f"What {name} does, in a few words.", "Mon-Thu",
            "3:00 PM - 5:00 PM", grades, "3 hours", str(rng.randint(10, 80)), "No",
        ])  # fmt: skip
    return table


def xlsx(table: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in table:
        sheet.append(line)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_cp1252(table: list[list[str]]) -> bytes:
    import csv

    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(table)
    return buffer.getvalue().encode("cp1252")


def timed(label: str, action: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    print(
        f"  {label:<38} {time.perf_counter() - wall:7.3f} s wall "
        f"{time.process_time() - cpu:7.3f} s CPU"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--schools", type=int, default=120)
    parser.add_argument("--partners", type=int, default=60)
    parser.add_argument("--programs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from registry import create_app
    from registry.audit import Actor, acting_as
    from registry.extensions import db
    from registry.models import AuditEntry, School
    from registry.programs.importer import read_listing
    from registry.programs.services import apply_plan, build_plan

    table = listing(args.rows, args.schools, args.partners, args.programs, args.seed)
    workbook, text = xlsx(table), csv_cp1252(table)
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite3",
                "SECRET_KEY": "bench",
                "UPLOAD_FOLDER": folder,
            }
        )
        with app.app_context(), acting_as(Actor(None, "bench")):
            db.create_all()
            for n in range(1, args.schools + 1):
                db.session.add(
                    School(
                        dese_code=f"0035{n:04d}",
                        local_code=str(1000 + n),
                        name=f"School {n} K-8 School",
                        grades=["K", "1", "2", "3", "4", "5"],
                        enrollment=400,
                    )
                )
            db.session.commit()
            print(
                f"{args.rows} rows, {args.schools} schools, {args.partners} partners, "
                f"{args.programs} programs (XLSX {len(workbook):,} bytes, CSV {len(text):,} bytes)"
            )
            timed("read the CSV (cp1252)", lambda: read_listing(text))
            parsed = timed("read the XLSX", lambda: read_listing(workbook))
            plan = timed("preview (build_plan)", lambda: build_plan(parsed))
            print("  " + " ".join(plan.describe()))

            def write(plan: Any) -> None:
                apply_plan(plan)
                db.session.commit()

            timed("import (apply_plan + commit)", lambda: write(plan))
            audit = db.session.query(AuditEntry).count()
            again = timed("preview again (same file)", lambda: build_plan(read_listing(workbook)))
            timed("import again (nothing to write)", lambda: write(again))
            print("  " + " ".join(again.describe()))
            print(
                f"  audit rows: {audit:,} after the import, "
                f"{db.session.query(AuditEntry).count() - audit} more after the second"
            )
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
