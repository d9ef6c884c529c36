"""The equity dashboard and the KPI API never state a conclusion the need data cannot support."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.models import AuditEntry, NeedIndexDefinition
from registry.vocabulary import Category, MOUStatus, Unit

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


def indicators(value: float) -> dict[str, Any]:
    return {name: Decimal(str(value)) for name in ALL_FIVE}


@pytest.fixture
def district(
    make_school: Callable[..., Any],
    make_service: Callable[..., Any],
    make_mou: Callable[..., Any],
    make_partner: Callable[..., Any],
) -> Callable[..., list[Any]]:
    """Schools with the given indicator values (None: no report row), 10 seats each."""

    def make(*values: float | None) -> list[Any]:
        schools = [
            make_school(
                indicators=indicators(v) if v is not None else None,
                name=f"School {chr(65 + i)}",
                enrollment=100,
            )
            for i, v in enumerate(values)
        ]
        partner = make_partner()
        seats = make_service(partner=partner, unit=Unit.SEATS, category=Category.MENTORING)
        make_mou(
            partner=partner,
            schools=schools,
            status=MOUStatus.ACTIVE,
            commitments=[(seats, s, 10 * (i + 1)) for i, s in enumerate(schools)],
        )
        return schools

    return make


def _text(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.get_data(as_text=True).split())


def test_some_schools_without_need_are_counted_and_said(
    client: FlaskClient,
    login: Callable[..., Any],
    district: Callable[..., list[Any]],
    default_need_index: NeedIndexDefinition,
) -> None:
    district(20, 50, 80, None)
    login("leader")
    page = _text(client, "/equity/?year=2025-26")
    assert (
        "Need is unknown for 1 of 4 schools; the figures by need are computed on the other "
        "3 only." in page
    )
    assert "Not counted: School D (no data for Low income / economically disadvantaged" in page
    # The index is computed on the three (seats rise with need: positive) and says so.
    assert "resources lean to the schools with more need" in page
    assert "(3 schools with a need score; 1 without, not counted.)" in page

    data = client.get("/api/v1/kpis?year=2025-26").get_json()
    assert data["schools_with_need"] == 3 and data["schools_without_need"] == 1
    assert "unknown for 1 of 4 schools" in data["note"]
    assert data["concentration_index"] > 0
    assert sum(q["schools"] for q in data["quartiles"]) == 3
    assert data["total_units"] == 100  # units are every school's: 10 + 20 + 30 + 40
    assert [s["name"] for s in data["schools_not_scored"]] == ["School D"]


def test_no_concentration_index_when_need_is_unknown_for_all(
    client: FlaskClient,
    login: Callable[..., Any],
    district: Callable[..., list[Any]],
    default_need_index: NeedIndexDefinition,
) -> None:
    district(None, None, None)
    login("coordinator")
    page = _text(client, "/equity/?year=2025-26")
    assert "Need is unknown for all 3 schools in 2025-26" in page
    assert "Concentration index" not in page
    assert "+0.000" not in page and "evenly" not in page
    assert "Gap:" not in page
    assert page.count("<svg") == 1  # the MOU trend only: no chart by need

    data = client.get("/api/v1/kpis?year=2025-26").get_json()
    assert data["schools_with_need"] == 0 and data["schools_without_need"] == 3
    assert data["concentration_index"] is None
    assert data["gap"] is None and data["quartiles"] is None
    assert "unknown for all 3 schools" in data["note"]
    assert data["total_units"] == 60  # committed seats are still a fact


def test_every_school_scored_says_nothing_of_caveats(
    client: FlaskClient,
    login: Callable[..., Any],
    district: Callable[..., list[Any]],
    default_need_index: NeedIndexDefinition,
) -> None:
    district(20, 50, 80)
    login("admin")
    page = _text(client, "/equity/?year=2025-26")
    assert "Need is unknown" not in page
    data = client.get("/api/v1/kpis?year=2025-26").get_json()
    assert data["schools_with_need"] == 3 and data["schools_without_need"] == 0
    assert data["note"] is None


def test_schools_scored_on_fewer_indicators_are_flagged_on_the_pages_that_list_need(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> None:
    make_school(indicators=indicators(20), name="Full School")
    partial = indicators(60)
    partial["pct_chronically_absent"] = None
    partial["pct_high_needs"] = None
    make_school(indicators=partial, name="Partial School")
    make_school(indicators=indicators(80), name="Other School")
    login("leader")
    for url in ("/equity/schools?year=2025-26&table=need", "/equity/need?year=2025-26"):
        page = _text(client, url)
        assert 'Partial School</a> <span class="badge warn">scored on 3 of 5 indicators' in page
    page = _text(client, "/equity/need?year=2025-26")
    assert "scored on the indicators it has, its weights re-scaled over them" in page
    page = _text(client, "/equity/need/compare?year=2025-26")
    assert '<span class="muted">(3 of 5 indicators)</span>' in page


def test_no_units_committed_is_no_concentration_index(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> None:
    make_school(indicators=indicators(20))
    make_school(indicators=indicators(80))
    login("leader")
    page = _text(client, "/equity/?year=2025-26")
    assert "No seats are committed to a school with a need score" in page
    assert "evenly" not in page
    data = client.get("/api/v1/kpis?year=2025-26").get_json()
    assert data["concentration_index"] is None and data["total_units"] == 0


def test_the_pages_write_nothing(
    client: FlaskClient,
    login: Callable[..., Any],
    district: Callable[..., list[Any]],
    default_need_index: NeedIndexDefinition,
) -> None:
    from registry.extensions import db

    district(20, None)
    login("leader")
    before = db.session.scalar(select(func.count(AuditEntry.id)))
    for url in ("/equity/", "/equity/need", "/api/v1/kpis", "/equity/need/reference"):
        assert client.get(url).status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(func.count(AuditEntry.id))) == before


def test_the_definition_form_offers_the_three_missing_data_rules(
    client: FlaskClient, login: Callable[..., Any], default_need_index: NeedIndexDefinition
) -> None:
    login("leader")
    page = _text(client, "/equity/need/definitions/new")
    assert "Score it on the indicators it has: its weights are re-scaled over them" in page
    assert "Fill the missing indicator with the district median" in page
    assert "Exclude the school from the index: it gets no score" in page
    checked = re.search(r'<input[^>]*value="renormalise"[^>]*>', page)
    assert checked is not None and "checked" in checked.group(0)  # the default rule
    listing = _text(client, "/equity/need/definitions")
    assert "Score on the indicators it has" in listing
