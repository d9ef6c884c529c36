"""The need index and equity pages: roles, definitions and their versions, the KPI API, the demo."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_babel import refresh
from sqlalchemy import func, select

from registry.audit import SYSTEM, Actor, acting_as, set_actor
from registry.equity import services as equity_services
from registry.equity.need_index import compute_need, default_definition
from registry.extensions import db
from registry.models import MOU, AuditEntry, NeedIndexDefinition
from registry.vocabulary import Category, MOUStatus, Unit
from tests.exported import csv_text


@pytest.fixture(autouse=True)
def no_actor_left_from_an_earlier_test() -> None:
    """A request sets the audit actor for the thread; a later test must not inherit it."""
    set_actor(SYSTEM)


ECON, EL = "pct_econ_disadvantaged", "pct_english_learners"
ALL_FIVE = (
    "pct_econ_disadvantaged",
    "pct_english_learners",
    "pct_disabilities",
    "pct_high_needs",
    "pct_chronically_absent",
)


def indicators(value: float, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {name: Decimal(str(value)) for name in ALL_FIVE}
    values.update(overrides)
    return values


def definition_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Poverty and language",
        "description": "",
        "normalisation": "percentile",
        "missing_policy": "exclude",
        **{f"weight_{name}": "0" for name in ALL_FIVE},
        f"weight_{ECON}": "2",
        f"weight_{EL}": "1",
    }
    data.update(overrides)
    return data


PAGES = [
    "/equity/",
    "/equity/need",
    "/equity/need/compare",
    "/equity/need/definitions",
]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(
    "role, status",
    [("admin", 200), ("coordinator", 200), ("leader", 200), ("partner", 404)],
)
def test_who_may_see_the_equity_pages(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
    path: str,
    role: str,
    status: int,
) -> None:
    make_school(indicators=indicators(50))
    login(role)
    assert client.get(path).status_code == status


@pytest.mark.parametrize("role, may_define", [("coordinator", False), ("leader", True)])
def test_before_any_need_index_the_pages_say_so_and_write_nothing(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    role: str,
    may_define: bool,
) -> None:
    make_school(indicators=indicators(50))
    login(role)
    audit_rows = db.session.scalar(select(func.count(AuditEntry.id)))
    for path in PAGES[:3]:
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "No need index is defined yet" in page, path
        assert ("/equity/need/definitions/new" in page) == may_define, path
        assert "<svg" not in page and "Concentration index" not in page, path
    data = client.get("/api/v1/kpis?year=2025-26").get_json()
    # What needs no need index is given; what does is null, never a zero made up.
    assert data["need_definition"] is None and "No need index" in data["note"]
    assert data["mous_by_year"] == {"2025-26": 0}
    assert data["concentration_index"] is None and data["quartiles"] is None
    db.session.rollback()
    assert db.session.scalars(select(NeedIndexDefinition)).all() == []
    assert db.session.scalar(select(func.count(AuditEntry.id))) == audit_rows


def test_seed_demo_makes_the_default_need_index_once(app: Any) -> None:
    from registry.demo import seed_demo

    with acting_as(Actor(None, "test")):
        first = seed_demo(password="demo-password-1", today=date(2026, 3, 1))
        again = seed_demo(password="demo-password-1", today=date(2026, 3, 1))
    defaults = db.session.scalars(select(NeedIndexDefinition)).all()
    assert [(d.name, d.version, d.is_default) for d in defaults] == [
        ("District need index", 1, True)
    ]
    assert first.tallies["need indexes"].created == 1
    assert again.tallies["need indexes"].created == 0


@pytest.mark.parametrize("path", [*PAGES, "/equity/need/definitions/new"])
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "role, status", [("admin", 200), ("leader", 200), ("coordinator", 404), ("partner", 404)]
)
def test_who_may_define_a_need_index(
    client: FlaskClient, login: Callable[..., Any], role: str, status: int
) -> None:
    login(role)
    with acting_as(Actor(None, "test")):
        definition = default_definition()
        db.session.commit()
    assert client.get("/equity/need/definitions/new").status_code == status
    assert client.get(f"/equity/need/definitions/{definition.id}/edit").status_code == status
    response = client.post("/equity/need/definitions/new", data=definition_form())
    assert response.status_code == (302 if status == 200 else 404)


def test_a_leader_creates_a_definition_and_edits_it_into_a_new_version(
    client: FlaskClient, login: Callable[..., Any], make_school: Callable[..., Any]
) -> None:
    make_school(indicators=indicators(50))
    leader = login("leader")
    response = client.post("/equity/need/definitions/new", data=definition_form())
    assert response.status_code == 302
    first = db.session.scalars(
        select(NeedIndexDefinition).where(NeedIndexDefinition.name == "Poverty and language")
    ).one()
    assert first.version == 1 and first.weights == {ECON: 2.0, EL: 1.0}
    assert first.created_by_id == leader.id and not first.is_default

    response = client.post(
        f"/equity/need/definitions/{first.id}/edit",
        data=definition_form(name="Renamed?", missing_policy="median", is_default="y"),
    )
    assert response.status_code == 302
    versions = db.session.scalars(
        select(NeedIndexDefinition)
        .where(NeedIndexDefinition.name == "Poverty and language")
        .order_by(NeedIndexDefinition.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    db.session.refresh(versions[0])
    assert versions[0].missing_policy.value == "exclude"  # the old version is untouched
    assert versions[1].missing_policy.value == "median" and versions[1].is_default
    defaults = db.session.scalars(
        select(NeedIndexDefinition).where(NeedIndexDefinition.is_default.is_(True))
    ).all()
    assert defaults == [versions[1]]
    page = client.get(f"/equity/need?definition={versions[1].id}")
    assert "Poverty and language v2" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({f"weight_{ECON}": "0", f"weight_{EL}": "0"}, "at least one indicator"),
        ({f"weight_{ECON}": "-1"}, "from 0 to 100"),
        ({f"weight_{ECON}": "1e400"}, "from 0 to 100"),
        ({f"weight_{ECON}": "lots"}, "Not a valid decimal"),
        ({"normalisation": "zscore"}, "Not a valid choice"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_bad_definitions_are_refused_in_place(
    client: FlaskClient, login: Callable[..., Any], overrides: dict[str, str], message: str
) -> None:
    login("admin")
    response = client.post("/equity/need/definitions/new", data=definition_form(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(NeedIndexDefinition).where(NeedIndexDefinition.name == "Poverty and language")
        )
        is None
    )


def test_a_taken_name_is_refused(client: FlaskClient, login: Callable[..., Any]) -> None:
    login("admin")
    assert client.post("/equity/need/definitions/new", data=definition_form()).status_code == 302
    response = client.post("/equity/need/definitions/new", data=definition_form())
    assert response.status_code == 400
    assert "edit it to add a new version" in response.get_data(as_text=True)


def test_compute_need_flags_schools_without_indicators(
    app: Any, make_school: Callable[..., Any]
) -> None:
    low = make_school(indicators=indicators(20))
    high = make_school(indicators=indicators(80))
    partial = make_school(indicators=indicators(50, pct_english_learners=None))
    bare = make_school()  # no indicator row at all for the year
    with acting_as(Actor(None, "test")):
        definition = default_definition()
    assert default_definition() is definition  # found, not created twice
    needs = compute_need(definition, "2025-26")
    assert needs[low.id].value == pytest.approx(0.01)
    assert needs[high.id].value == pytest.approx(0.99)
    # The default renormalises: the partial school is scored on its 4 indicators (each in
    # the middle of 20, 50, 80 → 0.5), flagged; the bare one has none and is excluded.
    assert needs[partial.id].value == pytest.approx(0.5) and needs[partial.id].missing == (EL,)
    assert needs[partial.id].renormalised and needs[partial.id].scored_on == 4
    assert needs[bare.id].excluded and needs[bare.id].missing == ALL_FIVE


def test_need_page_says_who_was_scored_on_fewer_excluded_or_given_the_median(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> None:
    make_school(indicators=indicators(20), name="Alder School")
    make_school(indicators=indicators(80), name="Birch School")
    make_school(indicators=indicators(50, pct_english_learners=None), name="Cedar School")
    login("admin")
    with acting_as(Actor(None, "test")):
        median = equity_services.create_definition(
            equity_services.DefinitionInput(
                "Median fill",
                "",
                {ECON: 1, EL: 1},
                equity_services.Normalisation.PERCENTILE,
                equity_services.MissingPolicy.MEDIAN,
                False,
            ),
            by=None,
        )
        strict = equity_services.create_definition(
            equity_services.DefinitionInput(
                "All or nothing",
                "",
                {ECON: 1, EL: 1},
                equity_services.Normalisation.PERCENTILE,
                equity_services.MissingPolicy.EXCLUDE,
                False,
            ),
            by=None,
        )
        db.session.commit()
    footnote = "* filled with the district median."  # only where a cell carries the *
    page = " ".join(client.get("/equity/need").get_data(as_text=True).split())
    assert "Cedar School: no data for English learners — scored on 4 of 5 indicators" in page
    assert footnote not in page and "The bar shows each indicator's share" in page
    page = client.get(f"/equity/need?definition={strict.id}").get_data(as_text=True)
    assert "Cedar School" in page and "excluded from the index" in page
    assert footnote not in page
    page = client.get(f"/equity/need?definition={median.id}").get_data(as_text=True)
    assert "given the district median" in page
    assert footnote in page and '<span class="muted">*</span>' in page
    csv = csv_text(client.get(f"/equity/need?definition={median.id}&format=csv"))
    assert csv.splitlines()[0].startswith("Rank,School ID,DESE code")
    assert "Birch School" in csv.splitlines()[1]


@pytest.mark.parametrize(
    "query",
    [
        "year=nonsense",
        "definition=abc",
        "definition=99999999999999",
        "year=2025-27",
        "category=pottery",
        "unit=litres",
    ],
)
def test_bad_selections_answer_400_not_500(
    client: FlaskClient,
    login: Callable[..., Any],
    query: str,
    default_need_index: NeedIndexDefinition,
) -> None:
    login("leader")
    assert client.get(f"/equity/?{query}").status_code == 400
    if query.startswith(("year", "definition")):
        assert client.get(f"/equity/need?{query}").status_code == 400


def test_compare_shows_rank_shifts_and_crossings(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> None:
    make_school(indicators=indicators(40, pct_english_learners=Decimal(10)), name="Alder")
    make_school(indicators=indicators(60, pct_english_learners=Decimal(30)), name="Birch")
    make_school(indicators=indicators(80, pct_english_learners=Decimal(30)), name="Cedar")
    make_school(indicators=indicators(90, pct_english_learners=Decimal(50)), name="Dogwood")
    login("leader")
    with acting_as(Actor(None, "test")):
        a = equity_services.create_definition(
            equity_services.DefinitionInput(
                "Econ",
                "",
                {ECON: 1},
                equity_services.Normalisation.PERCENTILE,
                equity_services.MissingPolicy.EXCLUDE,
                False,
            ),
            by=None,
        )
        b = equity_services.create_definition(
            equity_services.DefinitionInput(
                "EL",
                "",
                {EL: 1},
                equity_services.Normalisation.PERCENTILE,
                equity_services.MissingPolicy.EXCLUDE,
                False,
            ),
            by=None,
        )
        db.session.commit()
    # Econ: Birch 0.3367; EL: Birch 0.5 → Birch crosses 0.4; ρ = 0.9487 (see test_need_index)
    response = client.get(f"/equity/need/compare?a={a.id}&b={b.id}&year=2025-26&threshold=0.4")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "0.949" in page
    assert "Birch: 0.34 (A) → 0.50 (B)" in " ".join(page.split())
    bad = client.get(f"/equity/need/compare?a={a.id}&b={b.id}&threshold=7")
    assert bad.status_code == 400


# ---- the KPI API ---------------------------------------------------------------------------


@pytest.fixture
def small_district(
    make_school: Callable[..., Any],
    make_service: Callable[..., Any],
    make_mou: Callable[..., Any],
    make_partner: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> dict[str, Any]:
    """Three schools, units leaning to the least needy (as in test_kpis: CI = −0.3)."""
    a = make_school(indicators=indicators(20), name="Ash", enrollment=100)
    b = make_school(indicators=indicators(50), name="Beech", enrollment=200)
    c = make_school(indicators=indicators(80), name="Cherry", enrollment=100)
    lone = make_school(indicators=indicators(60), name="Larch", enrollment=0)
    partner = make_partner()
    seats = make_service(partner=partner, unit=Unit.SEATS, category=Category.MENTORING)
    make_mou(
        partner=partner,
        schools=[a, b, c],
        status=MOUStatus.ACTIVE,
        commitments=[(seats, a, 50), (seats, b, 40), (seats, c, 10)],
    )
    # last year: one MOU in force; a draft never counts
    make_mou(
        partner=partner,
        schools=[a],
        status=MOUStatus.EXPIRED,
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
    )
    make_mou(partner=partner, schools=[lone], status=MOUStatus.DRAFT)
    return {"a": a, "b": b, "c": c, "lone": lone}


def test_kpi_api_shape_and_figures(
    client: FlaskClient, login: Callable[..., Any], small_district: dict[str, Any]
) -> None:
    login("coordinator")
    response = client.get("/api/v1/kpis?year=2025-26")
    assert response.status_code == 200
    data = response.get_json()
    assert data["year"] == "2025-26"
    # 2024-25: one expired MOU; 2025-26: one active MOU (the draft doesn't count) → +0 %
    assert data["mous_by_year"] == {"2024-25": 1, "2025-26": 1}
    assert data["mou_growth_pct"] == pytest.approx(0)
    # Larch has no enrollment and only a draft MOU: it is without a partner and
    # carries no weight in the CI. Needs by percentile of 20, 50, 60, 80: Ash lowest, Cherry top.
    # Units per student 0.5, 0.2, 0.1 from least to most need → negative, as in test_kpis.
    assert data["concentration_index"] < 0
    assert data["schools_without_partner"] == [{"id": small_district["lone"].id, "name": "Larch"}]
    assert [q["quartile"] for q in data["quartiles"]] == [1, 2, 3, 4]
    assert set(data["quartiles"][0]) >= {
        "quartile",
        "enrollment_share",
        "resource_share",
        "units_per_student",
    }
    assert sum(q["resource_share"] for q in data["quartiles"]) == pytest.approx(1)
    assert 0 < data["gap"] <= 1
    assert data["need_definition"]["version"] == 1


def test_kpi_api_by_category(
    client: FlaskClient, login: Callable[..., Any], small_district: dict[str, Any]
) -> None:
    login("leader")
    data = client.get("/api/v1/kpis?year=2025-26&category=athletics").get_json()
    # Nothing committed: units per student are 0 everywhere, nothing leans, no index.
    assert data["total_units"] == 0 and data["concentration_index"] is None
    data = client.get("/api/v1/kpis?year=2025-26&category=mentoring").get_json()
    assert data["total_units"] == 100


@pytest.mark.parametrize(
    "role, status", [("admin", 200), ("coordinator", 200), ("leader", 200), ("partner", 404)]
)
def test_kpi_api_roles(
    client: FlaskClient,
    login: Callable[..., Any],
    role: str,
    status: int,
    default_need_index: NeedIndexDefinition,
) -> None:
    login(role)
    response = client.get("/api/v1/kpis?year=2025-26")
    assert response.status_code == status
    assert response.is_json


def test_kpi_api_needs_a_session(client: FlaskClient) -> None:
    response = client.get("/api/v1/kpis?year=2025-26")
    assert response.status_code == 401 and "error" in response.get_json()


@pytest.mark.parametrize(
    "query",
    [
        "year=2025",
        "year=2025-27",
        "year=",
        "category=pottery",
        "unit=litres",
        "definition=abc",
    ],
)
def test_kpi_api_bad_parameters_are_400(
    client: FlaskClient, login: Callable[..., Any], query: str
) -> None:
    login("leader")
    if query == "year=":
        query = "year=%20"
    response = client.get(f"/api/v1/kpis?{query}")
    assert response.status_code == 400 and "error" in response.get_json()


def test_kpi_api_unknown_definition_is_404(client: FlaskClient, login: Callable[..., Any]) -> None:
    login("leader")
    response = client.get("/api/v1/kpis?definition=424242")
    assert response.status_code == 404 and "error" in response.get_json()


def test_dashboard_renders_charts_with_text_alternatives(
    client: FlaskClient, login: Callable[..., Any], small_district: dict[str, Any]
) -> None:
    login("leader")
    page = client.get("/equity/?year=2025-26").get_data(as_text=True)
    assert page.count("<svg") == 3
    assert page.count("<details><summary>Data for this chart") == 3
    assert 'role="img"' in page and "<title" in page
    assert "resources lean to the schools with less need" in page
    assert "Larch" in page  # without a partner


# ---- the demo district ---------------------------------------------------------------------


def test_demo_district_partnerships_lean_to_the_less_needy(app: Any) -> None:
    from registry.demo import seed_demo

    with acting_as(Actor(None, "test")):
        seed_demo(password="demo-password-1", today=date(2026, 3, 1))
        definition = default_definition()
    report = equity_services.equity_report(equity_services.Selection("2025-26"), definition)
    assert len(report.schools) > 30
    assert report.total_units > 0
    assert report.concentration_index is not None and report.concentration_index < 0
    q = report.quartiles
    assert q[0].units_per_student > q[3].units_per_student
    assert db.session.scalar(select(MOU.id).limit(1)) is not None


def test_bar_chart_escapes_text_and_carries_its_data(app: Any) -> None:
    from registry.equity.charts import bar_chart

    with app.test_request_context():
        html = str(
            bar_chart(
                [("Status quo", [("<b>Q1</b>", 0.4), ("Q2", 0.6)]), ("Proposal", [("Q2", 0.5)])],
                title="Shares & more",
                unit="share",
            )
        )
    assert "<b>Q1</b>" not in html and "&lt;b&gt;Q1&lt;/b&gt;" in html
    assert "Shares &amp; more" in html and 'role="img"' in html
    assert html.count("<rect") == 3  # Q1 has no Proposal bar
    assert '<td class="num">—</td>' in html  # …and its table says so
    assert "Highest: Q2 (Status quo), 0.600 share." in html


def test_the_default_index_the_registry_wrote_is_shown_in_the_readers_language(
    client: FlaskClient,
    login: Callable[..., Any],
    make_school: Callable[..., Any],
    default_need_index: NeedIndexDefinition,
) -> None:
    make_school(indicators=indicators(20))
    login("leader")
    refresh()  # the locale is cached on the `g` the app fixture shares between requests
    page = " ".join(client.get("/equity/need?lang=es").get_data(as_text=True).split())
    assert "Índice de necesidad del distrito v1" in page
    assert "Los indicadores de DESE, con el mismo peso" in page
    assert "District need index" not in page and "equally weighted" not in page
    refresh()
    page = " ".join(client.get("/equity/need/definitions?lang=pt").get_data(as_text=True).split())
    assert "Índice de necessidade do distrito" in page
    # A name a person typed is shown as typed, in any language.
    with acting_as(Actor(None, "test")):
        typed = equity_services.create_definition(
            equity_services.DefinitionInput(
                "Índice de Worcester",
                "Our own words.",
                {ECON: 1},
                equity_services.Normalisation.PERCENTILE,
                equity_services.MissingPolicy.EXCLUDE,
                False,
            ),
            by=None,
        )
        db.session.commit()
    refresh()
    page = client.get(f"/equity/need?definition={typed.id}&lang=es").get_data(as_text=True)
    assert "Índice de Worcester v1" in page and "Our own words." in page
