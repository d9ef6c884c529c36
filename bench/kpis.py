"""Benchmark of the equity pages and the KPI API: wall time, CPU time, queries, bytes.

Usage::

    python bench/kpis.py [--database-url URL] [--seed demo|synthetic|none]
        [--schools N] [--repeat 3] [--year 2025-26]

With no URL, a fresh SQLite file is made and seeded (`--seed demo`, the demo
district; `--seed synthetic --schools 1885`, a made-up registry of about the
state's shape: per school and year about 2.7 MOUs naming 1–4 schools, 3 school
years). With a URL of a registry already built (e.g. by
`flask --app registry seed-scale`), `--seed none` measures it as it is.

Each request runs in this process through Flask's test client, signed in as a
leader (the API also with a leader's bearer token); the first answer of each
path warms caches and is not counted. Printed per path: the best and median
wall time, the CPU time of the process (`time.process_time`, so the database
server's own work is not in it on PostgreSQL, but is on SQLite), the number of
SQL statements, the time spent in them (from sending each to its last row's
arrival: the server's work, waits included) and the size of the answer.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-kpis-password-not-secret"
TODAY = date(2026, 3, 2)


def seed_synthetic(schools: int, rng: random.Random) -> None:
    """A made-up registry of about the state's shape (see the module docstring)."""
    from sqlalchemy import insert, select

    from registry.equity.need_index import default_definition
    from registry.extensions import db
    from registry.models import MOU, Commitment, Partner, School, SchoolIndicators, Service
    from registry.models.mou import mou_school
    from registry.vocabulary import Category, MOUStatus, PartnerStatus, PartnerType, Setting, Unit

    years = [("2023-24", 2023), ("2024-25", 2024), ("2025-26", 2025)]
    db.session.execute(
        insert(School),
        [
            {
                "dese_code": f"9{n:07d}",
                "name": f"Synthetic School {n:05d}",
                "grades": ["K", "1", "2", "3", "4", "5"],
                "enrollment": rng.choice([0, *range(80, 1600, 7)]) if n % 97 else 0,
                "address": f"{n} Main Street",
                "zip": f"0{1000 + n % 900}",
            }
            for n in range(schools)
        ],
    )
    school_ids = list(db.session.scalars(select(School.id)))
    names = ("pct_econ_disadvantaged", "pct_english_learners", "pct_disabilities")
    optional = ("pct_high_needs", "pct_chronically_absent")
    indicator_rows = []
    for sid in school_ids:
        if sid % 53 == 0:
            continue  # no indicators at all: not scored
        base = rng.uniform(5, 90)
        for year, _first in years:
            row: dict[str, Any] = {"school_id": sid, "school_year": year}
            for name in names:
                row[name] = Decimal(f"{min(99.0, max(0.0, base + rng.uniform(-15, 15))):.2f}")
            for name in optional:
                row[name] = (
                    None
                    if rng.random() < 0.2
                    else Decimal(f"{min(99.0, max(0.0, base + rng.uniform(-20, 20))):.2f}")
                )
            indicator_rows.append(row)
    db.session.execute(insert(SchoolIndicators), indicator_rows)

    partners = int(schools * 1.66)
    db.session.execute(
        insert(Partner),
        [
            {
                "name": f"Synthetic Partner {n:05d}",
                "partner_type": PartnerType.NONPROFIT,
                "status": PartnerStatus.APPROVED,
                "background_check_policy": True,
                "background_check_verified": date(2025, 8, 1),
                "insurance_expiry": date(2099, 6, 30),
            }
            for n in range(partners)
        ],
    )
    partner_ids = list(db.session.scalars(select(Partner.id)))
    categories = list(Category)
    units = [Unit.SEATS, Unit.SEATS, Unit.HOURS, Unit.DOLLARS]
    db.session.execute(
        insert(Service),
        [
            {
                "partner_id": pid,
                "name": f"Service {k} of {pid}",
                "category": rng.choice(categories),
                "grades": ["K", "1", "2", "3", "4", "5"],
                "setting": Setting.AFTER_SCHOOL,
                "unit": rng.choice(units),
                "capacity": Decimal(100),
            }
            for pid in partner_ids
            for k in range(2)
        ],
    )
    services_of: dict[int, list[int]] = {}
    for service_id, pid in db.session.execute(select(Service.id, Service.partner_id)):
        services_of.setdefault(pid, []).append(service_id)

    mou_rows = []
    links = []
    for index, (year, first) in enumerate(years):
        current = index == len(years) - 1
        for _n in range(int(schools * 2.7)):
            if current:
                status = rng.choices(
                    [MOUStatus.ACTIVE, MOUStatus.DRAFT, MOUStatus.SUBMITTED, MOUStatus.TERMINATED],
                    [85, 6, 5, 4],
                )[0]
            else:
                status = rng.choices([MOUStatus.EXPIRED, MOUStatus.TERMINATED], [93, 7])[0]
            two_years = rng.random() < 0.08
            mou_rows.append(
                {
                    "partner_id": rng.choice(partner_ids),
                    "school_year": year,
                    "start_date": date(first, 9, 1),
                    "end_date": date(first + (2 if two_years else 1), 6, 30),
                    "status": status,
                }
            )
            links.append(rng.sample(school_ids, rng.choice([1, 1, 2, 2, 3, 4])))
    db.session.execute(insert(MOU), mou_rows)
    mous = list(db.session.execute(select(MOU.id, MOU.partner_id).order_by(MOU.id)))
    db.session.execute(
        insert(mou_school),
        [
            {"mou_id": mou_id, "school_id": sid}
            for (mou_id, _pid), chosen in zip(mous, links, strict=True)
            for sid in chosen
        ],
    )
    commitments = []
    for (mou_id, pid), chosen in zip(mous, links, strict=True):
        for sid in chosen:
            for service_id in rng.sample(services_of[pid], rng.choice([1, 1, 2])):
                commitments.append(
                    {
                        "mou_id": mou_id,
                        "service_id": service_id,
                        "school_id": sid,
                        "amount": Decimal(rng.randrange(5, 200)),
                    }
                )
    db.session.execute(insert(Commitment), commitments)
    default_definition()
    db.session.commit()


def build(url: str, seed: str, schools: int) -> None:
    from registry import create_app
    from registry.audit import Actor, acting_as
    from registry.demo import seed_demo
    from registry.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        db.create_all()
        with acting_as(Actor(None, "bench")):
            if seed == "demo":
                seed_demo(password=PASSWORD, today=TODAY)
                db.session.commit()
            elif seed == "synthetic":
                seed_synthetic(schools, random.Random(13))


def measure(url: str, repeat: int, year: str) -> None:
    from sqlalchemy import event, func, select

    from registry import create_app
    from registry.api import tokens
    from registry.extensions import db
    from registry.models import MOU, Commitment, School, User
    from registry.vocabulary import Role

    logging.getLogger("registry.security").disabled = True  # its JSON lines on stderr
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "MFA_REQUIRED_ROLES": (),
            "API_RATE_LIMIT": 1_000_000,
        }
    )
    statements = 0
    sql_seconds = 0.0

    with app.app_context():

        def count(conn: Any, *_args: Any) -> None:
            nonlocal statements
            statements += 1
            conn.info["bench_started"] = time.perf_counter()

        def timed(conn: Any, *_args: Any) -> None:
            nonlocal sql_seconds
            sql_seconds += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

        event.listen(db.engine, "before_cursor_execute", count)
        event.listen(db.engine, "after_cursor_execute", timed)
        email = "bench-kpis-leader@district.example"
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name="Bench leader", role=Role.LEADER)
            user.set_password(PASSWORD)
            db.session.add(user)
            db.session.flush()
        _token, secret = tokens.create(user, "bench", 30, datetime.now(UTC))
        db.session.commit()
        sizes = (
            db.session.scalar(select(func.count(School.id))),
            db.session.scalar(select(func.count(MOU.id))),
            db.session.scalar(select(func.count(Commitment.id))),
        )
        print(f"{url.split('@')[-1]}: {sizes[0]:,} schools, {sizes[1]:,} MOUs, "
              f"{sizes[2]:,} commitments")  # fmt: skip
        client = app.test_client()
        signed_in = client.post("/login", data={"email": email, "password": PASSWORD})
        assert signed_in.status_code == 302, signed_in.status_code
        bare = app.test_client()
        paths = [
            (client, f"/equity/?year={year}", {}),
            (client, f"/equity/?year={year}&category=mentoring&unit=hours", {}),
            (client, f"/equity/schools?year={year}", {}),
            (client, f"/equity/schools?year={year}&table=mous&page=3", {}),
            (client, f"/equity/need?year={year}", {}),
            (client, f"/equity/need/compare?year={year}", {}),
            (client, f"/api/v1/kpis?year={year}", {}),
            (bare, f"/api/v1/kpis?year={year}", {"Authorization": f"Bearer {secret}"}),
            (client, "/", {}),
            (client, "/schools/?no_partner=1", {}),
        ]
        print(f"{'path':58} {'status':>6} {'best ms':>8} {'median':>8} {'cpu ms':>8} "
              f"{'sql ms':>7} {'queries':>7} {'KB':>8}")  # fmt: skip
        for who, path, headers in paths:
            walls, cpus, sqls, queries = [], [], [], []
            status, size = 0, 0
            for attempt in range(repeat + 1):
                db.session.remove()
                statements, sql_seconds = 0, 0.0
                wall, cpu = time.perf_counter(), time.process_time()
                response = who.get(path, headers=headers)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                status, size = response.status_code, len(response.get_data())
                if attempt:  # the first warms caches
                    walls.append(wall)
                    cpus.append(cpu)
                    sqls.append(sql_seconds)
                    queries.append(statements)
            label = path + (" (token)" if headers else "")
            print(
                f"{label:58} {status:>6} {1000 * min(walls):8.0f} "
                f"{1000 * statistics.median(walls):8.0f} {1000 * statistics.median(cpus):8.0f} "
                f"{1000 * statistics.median(sqls):7.0f} {max(queries):7d} {size / 1024:8.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--seed", choices=("demo", "synthetic", "none"), default=None)
    parser.add_argument("--schools", type=int, default=1885)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--year", default="2025-26", help="the school year asked for")
    args = parser.parse_args()
    url = args.database_url
    seed = args.seed or ("none" if url else "demo")
    if url is None:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-kpis-')}/registry.sqlite3"
    if seed != "none":
        started = time.perf_counter()
        build(url, seed, args.schools)
        print(f"seeded ({seed}) in {time.perf_counter() - started:.1f} s")
    measure(url, args.repeat, args.year)


if __name__ == "__main__":
    main()
