"""The equity figures from GROUP BY queries: the same numbers as the first implementation,
a constant number of queries whatever the registry's size, and pages that stay small."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from registry.audit import SYSTEM, Actor, acting_as, set_actor
from registry.equity import services as equity_services
from registry.equity.need_index import default_definition
from registry.extensions import db
from registry.models import MOU, Commitment, NeedIndexDefinition, Partner, School, Service
from registry.models.mou import mou_school
from registry.models.school import SchoolIndicators
from registry.vocabulary import Category, MOUStatus, PartnerStatus, PartnerType, Setting, Unit
from tests.equity_oracle import reference_mou_trend, snapshot
from tests.statements import counted_queries

GOLDEN = Path(__file__).parent / "data" / "equity_demo_golden.json"
ALL_FIVE = (
    "pct_econ_disadvantaged",
    "pct_english_learners",
    "pct_disabilities",
    "pct_high_needs",
    "pct_chronically_absent",
)


@pytest.fixture(autouse=True)
def no_actor_left_from_an_earlier_test() -> None:
    set_actor(SYSTEM)


def approx_equal(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (a SUM in SQL may round its last bit differently)."""
    if isinstance(want, float) or isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for key in want:
            approx_equal(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            approx_equal(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


def lacking_from_the_matrix(report: equity_services.EquityReport) -> list[tuple[Any, ...]]:
    """Schools reached per category as first counted: over the whole matrix, in Python."""
    return [
        (
            category,
            sum(1 for cells in report.matrix.values() if cells.get(category)),
            sum(1 for sid in report.top_quartile if report.lacks(sid, category)),
        )
        for category in report.categories
    ]


def lacking(report: equity_services.EquityReport) -> list[tuple[Any, ...]]:
    return [
        (r.category, r.schools, r.high_need_lacking)
        for r in equity_services.high_need_lacking(report)
    ]


def every_school_trend(year: str, years: list[str]) -> dict[int, tuple[dict[str, int], Any]]:
    found = equity_services.school_mou_counts(year, years)
    return {sid: (row.counts, row.growth_pct) for sid, row in found.items()}


# ---- the same numbers as before, on the demo ------------------------------------------------


@pytest.fixture
def demo(app: Any) -> NeedIndexDefinition:
    from registry.demo import seed_demo

    with acting_as(Actor(None, "test")):
        seed_demo(password="demo-password-1", today=date(2026, 3, 1))
        definition = default_definition()
    db.session.commit()
    return definition


def test_the_demo_gives_the_figures_of_the_first_implementation(
    demo: NeedIndexDefinition,
) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == 8
    for key, want in golden.items():
        year, category, unit = key.split("|")
        selection = equity_services.Selection(
            year, Category(category) if category else None, Unit(unit)
        )
        report = equity_services.equity_report(selection, demo)
        got = snapshot(report, every_school_trend(year, list(report.trend.counts)))
        approx_equal(json.loads(json.dumps(got)), want, key)
        assert lacking(report) == lacking_from_the_matrix(report), key


# ---- the same numbers as before, on hand-made and random registries -------------------------


def test_mou_trend_counts_terms_statuses_and_pairs_as_before(
    make_school: Callable[..., Any], make_partner: Callable[..., Any], make_mou: Callable[..., Any]
) -> None:
    a, b, c = make_school(name="A"), make_school(name="B"), make_school(name="C")
    make_school(name="D")  # never under an MOU
    p, q = make_partner(), make_partner()

    def mou(partner: Any, schools: list[Any], status: MOUStatus, start: date, end: date) -> None:
        year = f"{start.year if start.month >= 7 else start.year - 1}"
        make_mou(
            partner=partner,
            schools=schools,
            status=status,
            school_year=f"{year}-{(int(year) + 1) % 100:02d}",
            start_date=start,
            end_date=end,
        )

    mou(p, [a, b], MOUStatus.ACTIVE, date(2025, 9, 1), date(2026, 6, 30))
    mou(p, [a], MOUStatus.ACTIVE, date(2025, 9, 1), date(2026, 6, 30))  # same pair again
    mou(q, [a], MOUStatus.TERMINATED, date(2025, 10, 1), date(2025, 11, 1))
    mou(q, [c], MOUStatus.EXPIRED, date(2023, 6, 30), date(2025, 7, 1))  # 2022-23 … 2025-26
    mou(q, [b], MOUStatus.DRAFT, date(2024, 9, 1), date(2025, 6, 30))  # never counts
    mou(p, [c], MOUStatus.SUBMITTED, date(2024, 9, 1), date(2025, 6, 30))  # never counts
    mou(p, [], MOUStatus.EXPIRED, date(2021, 7, 1), date(2021, 7, 1))  # names no school
    for year in ("2025-26", "2024-25", "2021-22", "2027-28", "2019-20"):
        want = reference_mou_trend(year)
        got = equity_services.mou_trend(year)
        assert got.counts == want["counts"] and list(got.counts) == list(want["counts"]), year
        assert got.pairs == want["pairs"], year
        assert got.growth_pct == want["growth_pct"], year
        assert got.pair_growth_pct == want["pair_growth_pct"], year
        assert got.with_partner == want["with_partner"], year
        assert every_school_trend(year, list(got.counts)) == want["per_school"], year
    # A page of schools gets the same counts as the whole list.
    years = list(equity_services.mou_trend("2025-26").counts)
    page = equity_services.school_mou_counts("2025-26", years, [c.id, a.id])
    whole = reference_mou_trend("2025-26")["per_school"]
    assert {sid: (r.counts, r.growth_pct) for sid, r in page.items()} == {
        sid: whole[sid] for sid in (a.id, c.id)
    }
    assert equity_services.school_mou_counts("2025-26", years, []) == {}
    trend = equity_services.mou_trend("2025-26")
    assert trend.counts == {
        "2021-22": 1, "2022-23": 1, "2023-24": 1, "2024-25": 1, "2025-26": 4
    }  # fmt: skip
    assert trend.pairs["2025-26"] == 4  # A–p, B–p, A–q, C–q


def test_no_mou_at_all_is_zero_for_the_year_asked_not_missing(app: Any) -> None:
    trend = equity_services.mou_trend("2025-26")
    assert trend.counts == {"2025-26": 0} and trend.pairs == {"2025-26": 0}
    assert trend.growth_pct is None and trend.pair_growth_pct is None  # nothing to compare
    assert trend.with_partner == set()
    assert trend.counts == reference_mou_trend("2025-26")["counts"]


def random_registry(rng: random.Random, schools: int, mous: int) -> None:
    """Schools, partners and MOUs of every status with random terms over seven years."""
    db.session.execute(
        insert(School),
        [
            {"dese_code": f"7{n:07d}", "name": f"Random {n}", "enrollment": rng.randrange(0, 900)}
            for n in range(schools)
        ],
    )
    school_ids = list(db.session.scalars(select(School.id)))
    db.session.execute(
        insert(Partner),
        [
            {"name": f"Random partner {n}", "partner_type": PartnerType.NONPROFIT}
            for n in range(max(2, schools // 3))
        ],
    )
    partner_ids = list(db.session.scalars(select(Partner.id)))
    rows = []
    for _n in range(mous):
        start = date(2020, 1, 1).toordinal() + rng.randrange(0, 7 * 365)
        end = start + rng.choice([0, 30, 200, 300, 365, 700, 1200])
        rows.append(
            {
                "partner_id": rng.choice(partner_ids),
                "school_year": "2024-25",
                "start_date": date.fromordinal(start),
                "end_date": date.fromordinal(end),
                "status": rng.choice(list(MOUStatus)),
            }
        )
    db.session.execute(insert(MOU), rows)
    links = {
        (mou_id, sid)
        for mou_id in db.session.scalars(select(MOU.id))
        for sid in rng.sample(school_ids, rng.choice([0, 1, 1, 2, 3]))
    }
    if links:
        db.session.execute(
            insert(mou_school), [{"mou_id": m, "school_id": s} for m, s in sorted(links)]
        )
    db.session.commit()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mou_trend_on_random_registries_is_as_before(app: Any, seed: int) -> None:
    random_registry(random.Random(seed), schools=25, mous=120)
    for year in ("2019-20", "2022-23", "2024-25", "2026-27", "2031-32"):
        want = reference_mou_trend(year)
        got = equity_services.mou_trend(year)
        assert list(got.counts.items()) == list(want["counts"].items()), (seed, year)
        assert got.pairs == want["pairs"], (seed, year)
        assert (got.growth_pct, got.pair_growth_pct) == (
            want["growth_pct"],
            want["pair_growth_pct"],
        ), (seed, year)
        assert got.with_partner == want["with_partner"], (seed, year)
        assert equity_services.mou_years(year) == list(want["counts"]), (seed, year)
        assert every_school_trend(year, list(got.counts)) == want["per_school"], (seed, year)


# ---- a constant number of queries, small pages ----------------------------------------------


def test_schools_reached_per_category_are_counted_in_sql_as_from_the_matrix(
    app: Any, default_need_index: NeedIndexDefinition
) -> None:
    synthetic_district(schools=120, seed=4)
    # 2025-26 has need scores and MOUs; 2024-25 MOUs but no school scored; 2023-24 nothing.
    for year in ("2025-26", "2024-25", "2023-24"):
        selection = equity_services.Selection(year)
        report = equity_services.equity_report(selection, default_need_index, with_matrix=True)
        want = lacking_from_the_matrix(report)
        assert lacking(report) == want, year
        # The dashboard's report has no matrix, and the same figures.
        dashboard = equity_services.equity_report(selection, default_need_index, with_matrix=False)
        assert dashboard.matrix == {} and lacking(dashboard) == want, year
        if year == "2025-26":  # figures worth comparing: some reached, some Q4 schools lacking
            assert any(schools for _c, schools, _n in want)
            assert any(0 < n < len(report.top_quartile) for _c, _s, n in want)


def synthetic_district(schools: int, seed: int = 7) -> None:
    """Scored schools (one in 9 without indicators), partners, services and MOUs of two years."""
    rng = random.Random(seed)
    db.session.execute(
        insert(School),
        [
            {
                "dese_code": f"8{seed}{n:06d}",
                "name": f"Synthetic {seed}-{n:04d}",
                "enrollment": rng.randrange(0, 900),
            }
            for n in range(schools)
        ],
    )
    school_ids = list(
        db.session.scalars(select(School.id).where(School.dese_code.startswith(f"8{seed}")))
    )
    db.session.execute(
        insert(SchoolIndicators),
        [
            {"school_id": sid, "school_year": "2025-26"}
            | {name: Decimal(rng.randrange(1, 99)) for name in ALL_FIVE}
            for sid in school_ids
            if sid % 9
        ],
    )
    db.session.execute(
        insert(Partner),
        [
            {
                "name": f"Synthetic partner {seed}-{n}",
                "partner_type": PartnerType.NONPROFIT,
                "status": PartnerStatus.APPROVED,
            }
            for n in range(max(2, schools // 2))
        ],
    )
    partner_ids = list(
        db.session.scalars(
            select(Partner.id).where(Partner.name.startswith(f"Synthetic partner {seed}-"))
        )
    )
    db.session.execute(
        insert(Service),
        [
            {
                "partner_id": pid,
                "name": f"Service of {pid}",
                "category": rng.choice(list(Category)),
                "setting": Setting.AFTER_SCHOOL,
                "unit": rng.choice(list(Unit)),
            }
            for pid in partner_ids
        ],
    )
    service_of = {
        pid: sid for pid, sid in db.session.execute(select(Service.partner_id, Service.id))
    }
    for first in (2024, 2025):
        mou_rows: list[dict[str, Any]] = [
            {
                "partner_id": rng.choice(partner_ids),
                "school_year": f"{first}-{(first + 1) % 100:02d}",
                "start_date": date(first, 9, 1),
                "end_date": date(first + 1, 6, 30),
                "status": rng.choice([MOUStatus.ACTIVE, MOUStatus.EXPIRED, MOUStatus.DRAFT]),
            }
            for _n in range(schools * 2)
        ]
        ids = db.session.scalars(
            insert(MOU).returning(MOU.id, sort_by_parameter_order=True), mou_rows
        )
        for mou_id, row in zip(list(ids), mou_rows, strict=True):
            chosen = rng.sample(school_ids, rng.choice([1, 2]))
            db.session.execute(
                insert(mou_school), [{"mou_id": mou_id, "school_id": s} for s in chosen]
            )
            db.session.execute(
                insert(Commitment),
                [
                    {
                        "mou_id": mou_id,
                        "service_id": service_of[row["partner_id"]],
                        "school_id": s,
                        "amount": Decimal(rng.randrange(1, 50)),
                    }
                    for s in chosen
                ],
            )
    db.session.commit()


KPI_PATHS = (
    "/equity/?year=2025-26",
    "/equity/?year=2025-26&category=mentoring&unit=hours",
    "/api/v1/kpis?year=2025-26",
    "/equity/schools?year=2025-26&table=need",
    "/equity/schools?year=2025-26&table=mous&page=2",
    "/equity/schools?year=2025-26&table=categories",
    "/equity/schools?year=2025-26&table=unpartnered",
)


def queries_per_path(client: FlaskClient) -> dict[str, int]:
    found = {}
    for path in KPI_PATHS:
        client.get(path)  # the first request of a path may load what a process caches
        with counted_queries() as statements:
            response = client.get(path)
        assert response.status_code == 200, path
        # The sign-in's session is touched now and then (an UPDATE of its last use): not the page's.
        found[path] = sum(1 for s in statements if "user_session" not in s)
    return found


def test_the_kpis_take_the_same_number_of_queries_whatever_the_size(
    client: FlaskClient, login: Callable[..., Any], default_need_index: NeedIndexDefinition
) -> None:
    login("leader")
    synthetic_district(schools=60, seed=1)  # two pages of schools in the paged tables
    small = queries_per_path(client)
    synthetic_district(schools=700, seed=2)  # 760 schools, 3,040 MOUs
    bigger = queries_per_path(client)
    assert bigger == small
    assert max(small.values()) <= 25, small
    # 19 and 10 before the school years were read once (in one UNION), the schools reached
    # per category counted in SQL and the schools read with their indicators (one join).
    assert small["/equity/?year=2025-26"] <= 12, small
    assert small["/api/v1/kpis?year=2025-26"] <= 8, small


def test_the_equity_pages_list_a_page_of_schools_not_the_registry(
    client: FlaskClient, login: Callable[..., Any], default_need_index: NeedIndexDefinition
) -> None:
    login("leader")
    synthetic_district(schools=400, seed=3)
    need_pages = ("/equity/need?year=2025-26", "/equity/need/compare?year=2025-26&page=3")
    for path in KPI_PATHS[:2] + KPI_PATHS[3:] + need_pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert page.count("/schools/") <= 120, path  # a link per school listed, and the menus
        assert len(page.encode()) < 300_000, path


# ---- schools without a partner: one anti-join -----------------------------------------------


def test_schools_without_an_active_partner_are_one_not_exists(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    make_partner: Callable[..., Any],
    make_mou: Callable[..., Any],
) -> None:
    from registry.schools.services import current_school_year

    year = current_school_year()
    first = int(year[:4])
    term = {"start_date": date(first, 9, 1), "end_date": date(first + 1, 6, 30)}
    covered, lapsed, _bare = (
        make_school(name="Covered"),
        make_school(name="Lapsed"),
        make_school(name="Bare"),
    )
    partner = make_partner()
    make_mou(partner=partner, schools=[covered], status=MOUStatus.ACTIVE, school_year=year, **term)
    make_mou(
        partner=partner, schools=[covered, lapsed], status=MOUStatus.DRAFT, school_year=year, **term
    )
    login("coordinator")
    with counted_queries() as statements:
        page = client.get("/schools/?no_partner=1").get_data(as_text=True)
    assert "Lapsed" in page and "Bare" in page and "Covered" not in page
    listing = [s for s in statements if "FROM school" in s and "NOT (EXISTS" in s]
    assert listing, "the filter is a NOT EXISTS"
    assert not any("count(DISTINCT mou.partner_id)" in s and "= ?" in s for s in listing)
