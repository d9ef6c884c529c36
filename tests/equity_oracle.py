"""The equity figures as the first implementation computed them, kept as the tests' oracle.

`reference_mou_trend` is the loop that loaded every MOU in force and counted in
Python (replaced by GROUP BY queries in `registry.equity.services`); the SQL
must give the same numbers on any data. `snapshot` reduces a report to plain
data keyed by DESE code (ids differ between databases), for the golden file
`tests/data/equity_demo_golden.json` written from the first implementation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry.equity import kpis
from registry.equity.services import IN_FORCE
from registry.extensions import db
from registry.models import MOU, School
from registry.schoolyear import next_year, school_year_of


def _years_covered(mou: MOU) -> list[str]:
    first, last = school_year_of(mou.start_date), school_year_of(mou.end_date)
    years, year = [], first
    while year <= last:
        years.append(year)
        year = next_year(year)
    return years


def reference_mou_trend(year: str) -> dict[str, Any]:
    """KPI 3.1 as first computed: every MOU in force loaded and counted (ids as given)."""
    mous = db.session.scalars(
        select(MOU).where(MOU.status.in_(IN_FORCE)).options(selectinload(MOU.schools))
    ).all()
    counts: dict[str, int] = defaultdict(int)
    pairs: dict[str, set[tuple[int, int]]] = defaultdict(set)
    by_school: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for mou in mous:
        for covered in _years_covered(mou):
            counts[covered] += 1
            for school in mou.schools:
                pairs[covered].add((school.id, mou.partner_id))
                by_school[school.id][covered] += 1
    years = sorted(set(counts) | {year})
    ordered_counts = {y: counts.get(y, 0) for y in years}
    pair_counts = {y: len(pairs.get(y, ())) for y in years}
    schools = db.session.scalars(select(School).order_by(School.name)).all()
    return {
        "counts": ordered_counts,
        "pairs": pair_counts,
        "growth_pct": kpis.mou_growth(ordered_counts, year),
        "pair_growth_pct": kpis.mou_growth(pair_counts, year),
        "per_school": {
            s.id: (
                {y: by_school[s.id].get(y, 0) for y in years},
                kpis.mou_growth(by_school[s.id], year),
            )
            for s in schools
        },
        "with_partner": {sid for sid, c in by_school.items() if c.get(year)},
    }


def _codes() -> dict[int, str]:
    return {sid: code for sid, code in db.session.execute(select(School.id, School.dese_code))}


def _recode(value: Any, codes: dict[int, str]) -> Any:
    """The API's JSON with every school id replaced by its DESE code."""
    if isinstance(value, list):
        return [_recode(v, codes) for v in value]
    if isinstance(value, dict):
        if "version" in value and "name" in value:  # the need definition: its id differs too
            return {k: v for k, v in value.items() if k != "id"}
        if "id" in value and "name" in value and "need_definition" not in value:
            return {**value, "id": codes.get(value["id"], value["id"])}
        return {k: _recode(v, codes) for k, v in value.items()}
    return value


def snapshot(report: Any, per_school: dict[int, tuple[dict[str, int], float | None]]) -> Any:
    """A report as plain data keyed by DESE code: the API's JSON and every per-school figure."""
    from registry.equity.services import report_json

    codes = _codes()
    return {
        "api": _recode(report_json(report), codes),
        "per_school_mous": {
            codes[sid]: [counts, growth] for sid, (counts, growth) in sorted(per_school.items())
        },
        "with_partner": sorted(codes[sid] for sid in report.trend.with_partner),
        "schools": [
            [codes[s.school.id], s.need, s.units, s.target, s.quartile] for s in report.schools
        ],
        "matrix": {
            codes[sid]: {c.value: n for c, n in sorted(cells.items(), key=lambda kv: kv[0].value)}
            for sid, cells in sorted(report.matrix.items())
        },
        "top_quartile": sorted(codes[sid] for sid in report.top_quartile),
    }
