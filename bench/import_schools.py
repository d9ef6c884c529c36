"""Benchmark of the school import on a statewide DESE-style file.

Usage::

    python bench/import_schools.py [--schools 1850] [--district-schools 300] [--seed N]
        [--database-url URL]      # default: a scratch SQLite file; TEST_DATABASE_URL if set

Generates a statewide file in the state data portal's layout (``SY``, ``ORG_CODE``,
``ORG_TYPE``, per-grade ``*_CNT``, ``TOTAL_CNT``, ``EL_PCT``, ``LI_PCT``, ``SWD_PCT``,
``HN_PCT``), about 1,850 schools in some 400 districts plus each district's total row,
with a few hundred schools in district 0035 (some of them post-12 programs and schools
of 0 students), and times, on an empty registry and again on the same file (nothing
to change):

- parse: reading the CSV and validating every row of the district;
- preview: comparing with the registry (`plan_import`);
- write: making the changes and committing (`apply_plan`, audit rows included).

On PostgreSQL the run uses a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry import create_app
from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.schools.import_plan import apply_plan, plan_import
from registry.schools.importer import ReadOptions, read_file, read_table, upload_lines

DISTRICT = "0035"
GRADES = ["PK", "K", *(f"G{n:02d}" for n in range(1, 13)), "SP"]
BANDS = [("PK", "G05"), ("K", "G08"), ("G06", "G08"), ("G09", "G12"), ("K", "G05")]


def generate(schools: int, district_schools: int, seed: int) -> bytes:
    """A statewide portal export: CSV bytes."""
    rng = random.Random(seed)
    header = [
        "SY",
        "DIST_CODE",
        "DIST_NAME",
        "ORG_CODE",
        "ORG_NAME",
        "ORG_TYPE",
        *(f"{g}_CNT" for g in GRADES),
        "TOTAL_CNT",
        "EL_PCT",
        "LI_PCT",
        "SWD_PCT",
        "HN_PCT",
    ]
    rows: list[list[str]] = []
    others = schools - district_schools
    districts = [f"{n:04d}" for n in range(1, 900, 2) if f"{n:04d}" != DISTRICT][:400]
    plan = [(DISTRICT, i) for i in range(district_schools)]
    plan += [(districts[i % len(districts)], i // len(districts)) for i in range(others)]
    seen: set[str] = set()
    for district, index in plan:
        if district not in seen:
            seen.add(district)
            rows.append(_row(rng, district, f"{district}0000", f"District {district}", "District"))
        code = f"{district}{index + 1:04d}"
        kind = "post12" if index % 97 == 96 else ("empty" if index % 151 == 150 else "school")
        rows.append(_row(rng, district, code, f"School {code}", "School", kind))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _row(
    rng: random.Random, district: str, code: str, name: str, org_type: str, kind: str = "school"
) -> list[str]:
    counts = dict.fromkeys(GRADES, 0)
    if kind == "post12":
        counts["SP"] = rng.randint(10, 60)
    elif kind == "school":
        low, high = rng.choice(BANDS)
        for grade in GRADES[GRADES.index(low) : GRADES.index(high) + 1]:
            counts[grade] = rng.randint(20, 180)
    total = sum(counts.values())
    pcts = [f"{rng.uniform(0, 100):.1f}" for _ in range(4)]
    return [
        "2026",
        f"{district}0000",
        f"District {district}",
        code,
        name,
        org_type,
        *(f"{counts[g]:,}" for g in GRADES),
        f"{total:,}",
        *pcts,
    ]


def _scratch(url: str | None, tmp: str) -> tuple[str, str | None]:
    if not url:
        return f"sqlite:///{tmp}/bench.sqlite3", None
    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}", schema


def run(raw: bytes, label: str) -> None:
    options = ReadOptions(district=DISTRICT)
    started = time.perf_counter()
    parsed = read_file(read_table(upload_lines(raw)), options)
    parsed_at = time.perf_counter()
    plan = plan_import(parsed)
    planned_at = time.perf_counter()
    with acting_as(Actor(None, "bench")):
        apply_plan(plan)
        db.session.commit()
    written_at = time.perf_counter()
    db.session.expire_all()
    print(
        f"  {label:<22} parse {parsed_at - started:6.3f} s"
        f"   preview {planned_at - parsed_at:6.3f} s"
        f"   write {written_at - planned_at:6.3f} s   total {written_at - started:6.3f} s"
        f"   ({len(plan.new)} new, {len(plan.changed)} changed, {len(plan.unchanged)} unchanged,"
        f" {len(plan.skipped)} skipped, {plan.other_districts} other districts)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=1850)
    parser.add_argument("--district-schools", type=int, default=300)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    raw = generate(args.schools, args.district_schools, args.seed)
    lines = raw.count(b"\n") - 1
    print(f"statewide file: {lines} rows, {len(raw) / 1024:.0f} KiB, district {DISTRICT}")
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = _scratch(args.database_url, tmp)
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "UPLOAD_FOLDER": tmp,
            }
        )
        try:
            with app.app_context():
                db.create_all()
                print(f"database: {db.engine.dialect.name}")
                run(raw, "empty registry")
                run(raw, "same file again")
                db.session.remove()
                db.engine.dispose()
        finally:
            if schema is not None:
                engine = sa.create_engine(args.database_url)
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                engine.dispose()


if __name__ == "__main__":
    main()
