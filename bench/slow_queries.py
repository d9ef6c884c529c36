"""The slowest SQL the main pages run, with PostgreSQL's EXPLAIN ANALYZE of each.

Usage::

    python bench/slow_queries.py --database-url postgresql+psycopg://.../exports_state
        [--top 5] [--markdown FILE] [--repeat 2]

FILE: the "## Slowest queries" section of bench/RESULTS-web.md.

Walks the main pages (lists with their filters, detail pages, the dashboard, the equity
page and KPI API, the family directory, the exports) through the Flask test client, signed
in as a bench admin (`bench-exports@bench.example`, added if missing), and times every
statement with an engine event: the time from sending it to getting its cursor back. A
streamed export reads its rows through a server-side cursor, whose execute only declares it:
that query's time shows in the page's time, not in its statement's. (pg_stat_statements
would need the server restarted with it preloaded, so the timing is done here.)

Each page is walked `--repeat` times and a statement's time is its fastest run (a cold cache
and a busy shared machine otherwise decide the order). Statements are grouped by their
text; the `--top` slowest are printed, each with the pages that ran it and the plan of one
of its runs: EXPLAIN (ANALYZE, BUFFERS) with the same parameters, in a transaction that is
rolled back. With `--markdown`, the section "## Slowest queries" is written to that file.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.exports import EMAIL, PASSWORD, make_app, prepare  # noqa: E402

# Pages as people use them; {school}, {partner}, {service}, {mou}, {year} come from the data.
PAGES = (
    "/",
    "/mous/",
    "/mous/?status=active&school_year={year}",
    "/mous/?school={school}",
    "/mous/?partner={partner}",
    "/mous/?expiring=1",
    "/mous/?q=Elementary",
    "/mous/?sort=partner&page=3",
    "/mous/{mou}",
    "/schools/",
    "/schools/?no_partner=1",
    "/schools/?level=middle&sort=partners",
    "/schools/?sort=-econ",
    "/schools/{school}",
    "/partners/",
    "/partners/?status=approved&compliance=any_problem",
    "/partners/?q=Youth",
    "/partners/{partner}",
    "/services/",
    "/services/?category=academic_support&unit=seats",
    "/services/?partner={partner}",
    "/services/{service}",
    "/equity/?year={year}",
    "/api/v1/kpis?year={year}",
    "/directory/",
    "/directory/?q=tutor",
    "/directory/?school={school_name}&category=academic_support",
    "/directory/schools/{school}",
    "/mous/?format=csv",
    "/mous/?format=xlsx",
    "/schools/?format=csv",
    "/partners/?format=csv",
    "/services/?format=csv",
)


@dataclass
class Statement:
    text: str
    runs: int = 0
    fastest: float = float("inf")
    slowest: float = 0.0
    total: float = 0.0
    parameters: Any = None
    pages: set[str] = field(default_factory=set)


class Timer:
    """Times each statement from execute to cursor, grouped by its text."""

    def __init__(self) -> None:
        self.page = ""
        self.by_text: dict[str, Statement] = {}
        self.sql: list[float] = []  # the current page's statements' times

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        took = time.perf_counter() - conn.info["bench_started"].pop()
        found = self.by_text.setdefault(statement, Statement(statement))
        found.runs += 1
        found.total += took
        found.slowest = max(found.slowest, took)
        if took < found.fastest or found.parameters is None:
            found.parameters = parameters
        found.fastest = min(found.fastest, took)
        found.pages.add(self.page)
        self.sql.append(took)


def sample_ids(app: Any) -> dict[str, Any]:
    """A school, partner, service and MOU with the most going on, and the latest year."""
    from sqlalchemy import func, select

    from registry.extensions import db
    from registry.models import MOU, Commitment, School, Service, mou_school

    with app.app_context():
        year = db.session.scalar(select(func.max(MOU.school_year)))
        school = db.session.scalar(
            select(mou_school.c.school_id)
            .group_by(mou_school.c.school_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        partner = db.session.scalar(
            select(MOU.partner_id).group_by(MOU.partner_id).order_by(func.count().desc()).limit(1)
        )
        mou = db.session.scalar(
            select(Commitment.mou_id)
            .group_by(Commitment.mou_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        service = db.session.scalar(
            select(Commitment.service_id)
            .group_by(Commitment.service_id)
            .order_by(func.count().desc())
            .limit(1)
        ) or db.session.scalar(select(Service.id).limit(1))
        school_name = db.session.scalar(select(School.name).where(School.id == school))
    return {
        "year": year,
        "school": school,
        "partner": partner,
        "mou": mou,
        "service": service,
        "school_name": school_name,
    }


PageTimes = dict[str, tuple[int, float, int, float]]


def walk(app: Any, timer: Timer, repeat: int) -> PageTimes:
    """Every page, `repeat` times; each page's status, fastest wall time, and the number of
    statements and their time in that walk."""
    import sqlalchemy as sa

    from registry.extensions import db

    ids = sample_ids(app)
    client = app.test_client()
    pages: PageTimes = {}
    with app.app_context():
        response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        sa.event.listen(db.engine, "before_cursor_execute", timer.before)
        sa.event.listen(db.engine, "after_cursor_execute", timer.after)
        try:
            for _ in range(repeat):
                for template in PAGES:
                    page = template.format(**ids)
                    timer.page, timer.sql = template, []
                    started = time.perf_counter()
                    response = client.get(page)
                    response.get_data()  # a streamed export runs its queries as it is read
                    took = time.perf_counter() - started
                    if took < pages.get(template, (0, float("inf")))[1]:
                        sql = timer.sql
                        pages[template] = (response.status_code, took, len(sql), sum(sql))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", timer.before)
            sa.event.remove(db.engine, "after_cursor_execute", timer.after)
    return pages


def explain(app: Any, statement: Statement) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement with its parameters, rolled back."""
    from registry.extensions import db

    text = statement.text
    if re.match(r"\s*(DECLARE|FETCH|CLOSE)\b", text, re.IGNORECASE):
        return "(a server-side cursor's command: see the SELECT it declared)"
    with app.app_context(), db.engine.connect() as conn:
        transaction = conn.begin()
        try:
            rows = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + text, statement.parameters or ()
            )
            return "\n".join(row[0] for row in rows)
        finally:
            transaction.rollback()


def short(text: str, limit: int = 600) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[:limit] + " …"


def report(app: Any, timer: Timer, pages: PageTimes, top: int) -> str:
    from registry.extensions import db

    with app.app_context():
        counts = {
            table: db.session.execute(db.text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("school", "partner", "service", "mou", "commitment", "mou_school")
        }
    queries = [s for s in timer.by_text.values() if re.match(r"\s*(SELECT|WITH)\b", s.text, re.I)]
    ranked = sorted(queries, key=lambda s: s.fastest, reverse=True)
    lines = [
        "## Slowest queries",
        "",
        "Measured by `bench/slow_queries.py` on PostgreSQL "
        f"({', '.join(f'{n:,} {t}' for t, n in counts.items())} rows): the pages below walked "
        "through the Flask test client as an admin, every statement timed (execute to "
        "cursor), each page walked twice and a statement's time its fastest run. Then the "
        f"{top} slowest distinct statements, each with EXPLAIN (ANALYZE, BUFFERS) run again "
        "with the same parameters.",
        "",
        "| page | status | time (s) | statements | their time (s) |",
        "|---|---|---|---|---|",
        *(f"| `{p}` | {s} | {t:.3f} | {n} | {q:.3f} |" for p, (s, t, n, q) in pages.items()),
        "",
    ]
    for rank, statement in enumerate(ranked[:top], 1):
        lines += [
            f"### {rank}. {statement.fastest * 1000:.1f} ms (fastest of {statement.runs} runs, "
            f"slowest {statement.slowest * 1000:.1f} ms)",
            "",
            "Pages: " + ", ".join(f"`{p}`" for p in sorted(statement.pages)),
            "",
            "```sql",
            short(statement.text, 1500),
            "```",
            "",
            "```",
            explain(app, statement),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("EXPLAIN ANALYZE as printed here needs PostgreSQL")
    app = make_app(args.database_url)
    prepare(app, seed_demo=False)
    timer = Timer()
    pages = walk(app, timer, args.repeat)
    text = report(app, timer, pages, args.top)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
