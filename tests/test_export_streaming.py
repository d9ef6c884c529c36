"""List exports stream: rows read a batch at a time while the file is sent, a constant number
of queries whatever the list's length, and the same file as before, cell for cell."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, Response, request_finished
from flask.testing import FlaskClient
from openpyxl import load_workbook

from registry import district_time
from registry.extensions import db
from registry.models import (
    MOU,
    Commitment,
    Partner,
    Scenario,
    ScenarioRun,
    School,
    SchoolIndicators,
    Service,
)
from registry.vocabulary import (
    Category,
    DPAStatus,
    DPAType,
    MOUStatus,
    PartnerStatus,
    PartnerType,
    Setting,
    Unit,
)
from tests.conftest import PASSWORD, ScratchDatabase, make_app
from tests.exported import csv_records, csv_rows

LISTS = ("/mous/", "/schools/", "/partners/", "/services/")


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Small batches, so the larger data set below spans several: a loader that queries
    # once per batch (selectinload under yield_per) would show as more queries.
    return {"EXPORT_BATCH_ROWS": 3}


def _registry(size: int) -> None:
    """A registry of `size` partners, schools and MOUs (plus fixed odd cases), committed.

    Written with plain inserts of ORM objects, no factories: names and values are fixed, so
    the expected files below are the same whatever ran before.
    """
    schools = []
    for n in range(size):
        school = School(
            dese_code=f"0900{n:04d}",
            name=f"=Zeta {n:02d} School" if n == 0 else f"School {n:02d}",
            grades=["6", "7", "8"] if n % 2 else ["K", "1", "2"],
            enrollment=300 + n,
            address=f"{n} Elm Street",
            zip="01602",
        )
        school.indicators.append(
            SchoolIndicators(school_year="2024-25", pct_high_needs=Decimal("10.5") + n)
        )
        if n % 3 == 0:
            school.indicators.append(
                SchoolIndicators(
                    school_year="2025-26",
                    pct_econ_disadvantaged=Decimal("59.4"),
                    pct_high_needs=Decimal("61.25"),
                )
            )
        schools.append(school)
    db.session.add_all(schools)
    for n in range(size):
        partner = Partner(
            name=f"Partner {n:02d}" if n else "+Plus Partners",
            partner_type=PartnerType.NONPROFIT if n % 2 else PartnerType.BUSINESS,
            status=PartnerStatus.APPROVED if n % 4 else PartnerStatus.APPLICANT,
            email=f"p{n}@partner.example",
            languages=["es", "pt"] if n % 2 else [],
            district_wide=bool(n % 2),
            service_zips=[] if n % 2 else ["01602", "01603"],
            background_check_policy=bool(n % 3),
            background_check_verified=date(2025, 8, 1) if n % 3 else None,
            insurance_expiry=date(2099, 6, 30) if n % 5 else date(2020, 1, 31),
            insurance_liability=Decimal("1000000.50") if n % 2 else None,
        )
        seats = Service(
            partner=partner,
            name=f"Tutoring {n:02d}",
            category=Category.ACADEMIC_SUPPORT,
            grades=["K", "1", "2"],
            languages=["es"],
            setting=Setting.AFTER_SCHOOL,
            unit=Unit.SEATS,
            capacity=Decimal("1000.5"),
            cost=Decimal("12.25"),
            description="-starts like a formula",
        )
        hours = Service(
            partner=partner,
            name=f"Counseling {n:02d}",
            category=Category.MENTAL_HEALTH,
            setting=Setting.SCHOOL_DAY,
            unit=Unit.HOURS,
            capacity=None,
            active=bool(n % 2),
        )
        db.session.add_all([partner, seats, hours])
        if n % 4 == 3:
            continue  # a partner with services and no MOU
        first, second = schools[n], schools[(n + 1) % size]
        mou = MOU(
            partner=partner,
            school_year="2025-26" if n % 2 else "2024-25",
            start_date=date(2025, 9, 1),
            end_date=date(2026, 6, 30),
            status=MOUStatus.ACTIVE if n % 3 else MOUStatus.DRAFT,
            schools=[second, first] if second is not first else [first],
            signed_date=date(2025, 8, 15) if n % 3 else None,
            signatories="@Chief Officer" if n == 0 else "Ana Díaz; Bo Li",
            shares_student_data=bool(n % 2),
            dpa_type=DPAType.STATE_SDPA if n % 2 else None,
            dpa_status=DPAStatus.SIGNED if n % 2 else None,
            dpa_expiry=date(2027, 6, 30) if n % 2 else None,
        )
        mou.commitments.append(Commitment(service=seats, school=first, amount=Decimal("10.5")))
        if n % 2:
            mou.commitments.append(Commitment(service=hours, school=first, amount=Decimal(40)))
            mou.commitments.append(Commitment(service=seats, school=second, amount=Decimal(5)))
        db.session.add(mou)
    db.session.commit()
    db.session.expunge_all()


@contextmanager
def _counting(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


@contextmanager
def _view_responses(app: Flask, statements: list[str]) -> Iterator[list[tuple[Response, int]]]:
    """The responses the views returned, as Flask sent them (before the test client's
    wrapping), each with how many statements had run when the view returned it."""
    seen: list[tuple[Response, int]] = []

    def remember(_sender: Any, response: Response, **_: Any) -> None:
        seen.append((response, len(statements)))

    request_finished.connect(remember, app)
    try:
        yield seen
    finally:
        request_finished.disconnect(remember, app)


def _download(client: FlaskClient, url: str) -> bytes:
    response = client.get(url)
    body = response.get_data()  # read whole before asserting: the stream closes
    assert response.status_code == 200, body[:300]
    return body


def _queries(app: Flask, client: FlaskClient, url: str) -> int:
    """The statements a download runs, but for the session's (its last-seen time is written
    at most once a minute, whenever a request falls due)."""
    with _counting(app) as statements:
        _download(client, url)
    return sum(1 for s in statements if "user_session" not in s)


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_makes_the_same_queries_whatever_its_length(
    app: Flask, client: FlaskClient, login: Callable[..., Any], url: str, fmt: str
) -> None:
    login("admin")
    _registry(2)
    small = _queries(app, client, f"{url}?format={fmt}")
    _registry_more(12)
    larger = _queries(app, client, f"{url}?format={fmt}")
    assert larger == small


def _registry_more(size: int) -> None:
    """More of the same, under other names and codes, added to what is there."""
    schools = [
        School(dese_code=f"0800{n:04d}", name=f"Other {n:02d}", grades=["K"], zip="01603")
        for n in range(size)
    ]
    for n, school in enumerate(schools):
        school.indicators.append(SchoolIndicators(school_year="2025-26", pct_high_needs=n))
    db.session.add_all(schools)
    for n in range(size):
        partner = Partner(name=f"Other Partner {n:02d}", partner_type=PartnerType.NONPROFIT)
        service = Service(
            partner=partner,
            name=f"Other {n:02d}",
            category=Category.ARTS_ENRICHMENT,
            setting=Setting.SCHOOL_DAY,
            unit=Unit.DOLLARS,
        )
        mou = MOU(
            partner=partner,
            school_year="2025-26",
            start_date=date(2025, 9, 1),
            end_date=date(2026, 6, 30),
            status=MOUStatus.ACTIVE,
            schools=[schools[n], schools[(n + 1) % size]],
        )
        mou.commitments.append(Commitment(service=service, school=schools[n], amount=n + 1))
        db.session.add_all([partner, service, mou])
    db.session.commit()
    db.session.expunge_all()


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_is_streamed_and_reads_its_rows_as_it_is_sent(
    app: Flask, client: FlaskClient, login: Callable[..., Any], url: str, fmt: str
) -> None:
    login("admin")
    _registry(6)
    with _counting(app) as statements, _view_responses(app, statements) as sent:
        body = _download(client, f"{url}?format={fmt}")
    assert body
    ((view_response, when_returned),) = sent
    assert view_response.is_streamed
    assert not isinstance(view_response.response, list | tuple | bytes)
    # The list's rows are selected while the body is sent, after the view has returned.
    table = url.strip("/").rstrip("s")
    assert any(_selects_rows(s, table) for s in statements[when_returned:])
    assert not any(_selects_rows(s, table) for s in statements[:when_returned])


def _selects_rows(statement: str, table: str) -> bool:
    """Whether a statement reads a list's rows from its table (not a count of them)."""
    head = statement.lstrip().lower()
    return (
        head.startswith("select")
        and not head.startswith("select count")
        and bool(re.search(rf"\bfrom {table}\b", head))
    )


def _csv_of(client: FlaskClient, url: str) -> list[list[str]]:
    response = client.get(url)
    rows = csv_rows(response)
    assert response.status_code == 200
    return rows


def _xlsx_of(client: FlaskClient, url: str) -> list[list[list[Any]]]:
    book = load_workbook(io.BytesIO(_download(client, url)))
    return [
        [[c.value, c.number_format, c.data_type, c.quotePrefix] for c in row]
        for row in book.worksheets[0].iter_rows()
    ]


FILTERED = (
    ("/mous/", "school_year=2025-26&sort=-partner&q=School+01"),
    ("/mous/", "status=active&shares=no&sort=end"),
    ("/schools/", "no_partner=1&sort=-enrollment"),
    ("/schools/", "level=middle&sort=partners"),
    ("/partners/", "compliance=insurance_expired"),
    ("/services/", "unit=hours&sort=-name"),
)
ID_COLUMNS: dict[str, dict[str, type[MOU | Partner | Service]]] = {
    "/mous/": {"ID": MOU},
    "/partners/": {"ID": Partner},
    "/services/": {"ID": Service, "Partner ID": Partner},
}


def _numbered(url: str, rows: list[list[Any]]) -> list[list[Any]]:
    """The rows with each id replaced by its rank among its table's ids (#1, #2...): a
    database numbers rows its own way."""
    header = [c[0] if isinstance(c, list) else c for c in rows[0]]
    for name, model in ID_COLUMNS.get(url, {}).items():
        ids = db.session.scalars(sa.select(model.id).order_by(model.id))
        ranks = {str(i): f"#{n}" for n, i in enumerate(ids, 1)}
        at = header.index(name)
        for row in rows[1:]:
            cell = row[at]
            row[at] = [ranks[str(cell[0])], *cell[1:]] if isinstance(cell, list) else ranks[cell]
    return rows


def snapshot(client: FlaskClient) -> dict[str, Any]:
    """Every list's CSV rows and XLSX cells (value, number format), ids as ranks."""
    found: dict[str, Any] = {}
    for url in LISTS:
        found[f"{url}?format=csv"] = _numbered(url, _csv_of(client, f"{url}?format=csv"))
        found[f"{url}?format=xlsx"] = _numbered(url, _xlsx_of(client, f"{url}?format=xlsx"))
    for url, query in FILTERED:
        found[f"{url}?{query}"] = _numbered(url, _csv_of(client, f"{url}?format=csv&{query}"))
    return found


# Written by the exports as they were before they streamed (commit 57779f3), from `_registry(6)`.
BEFORE_STREAMING = Path(__file__).parent / "data" / "exports_before_streaming.json"


def test_every_export_writes_the_same_file_as_before_it_streamed(
    client: FlaskClient, login: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A day in 2025-26, the data set's school year: the schools' partner counts and the
    # partners' compliance problems depend on it.
    monkeypatch.setattr(district_time, "today", lambda now=None: date(2025, 10, 1))
    login("admin")
    _registry(6)
    found = json.loads(json.dumps(snapshot(client), default=str, ensure_ascii=False))
    expected = json.loads(BEFORE_STREAMING.read_text("utf-8"))
    assert found.keys() == expected.keys()
    for url, rows in expected.items():
        assert found[url] == rows, url


def _scenarios(count: int, runs: int) -> None:
    for n in range(count):
        scenario = Scenario(name=f"Scenario {runs}-{n}", school_year="2025-26")
        scenario.runs.extend(ScenarioRun(problem_json="{}") for _ in range(runs))
        db.session.add(scenario)
    db.session.commit()
    db.session.expunge_all()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_scenario_list_counts_runs_in_the_same_queries_whatever_its_length(
    app: Flask, client: FlaskClient, login: Callable[..., Any], fmt: str
) -> None:
    login("admin")
    _scenarios(1, runs=1)
    small = _queries(app, client, f"/scenarios/?format={fmt}")
    _scenarios(7, runs=2)
    assert _queries(app, client, f"/scenarios/?format={fmt}") == small
    runs = {r["Name"]: r["Runs"] for r in csv_records(client.get("/scenarios/?format=csv"))}
    assert runs["Scenario 1-0"] == "1" and runs["Scenario 2-6"] == "2" and len(runs) == 8


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_streams_after_its_request_has_ended_as_under_a_server(
    test_database: ScratchDatabase, make_user: Callable[..., Any], fmt: str
) -> None:
    """Under a server, the body is written after the request's own context has ended (its
    database session closed, the signed-in user's row expired), in a context Flask pushes
    again around the stream. The tests' app keeps one context open across requests, which
    hides that: here a second app serves the request, as a worker would."""
    _registry(2)
    user = make_user("admin", locale="es")  # the page's language comes from the user's row
    served = make_app(test_database.url)
    client = served.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    response = client.get(f"/mous/?format={fmt}")
    body = response.get_data()
    assert response.status_code == 200, body[:500]
    if fmt == "csv":
        rows = csv_rows(response)
        assert rows[0][:2] == ["ID", "Socio"] and rows[1][5] == "Borrador"
    else:
        book = load_workbook(io.BytesIO(body))
        assert book.worksheets[0]["F2"].value == "Borrador"
    with served.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "url", [*LISTS, "/users/", "/scenarios/", "/equity/need", "/security-events"]
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_list_exports_after_its_request_has_ended(
    test_database: ScratchDatabase,
    make_user: Callable[..., Any],
    default_need_index: Any,
    url: str,
    fmt: str,
) -> None:
    """Lists read in the request (users, the need ranking) as well as those read while the
    file is sent: none may touch the request's objects once it has ended."""
    if url == "/security-events" and fmt == "xlsx":
        pytest.skip("the security log exports CSV only")
    _registry(2)
    _scenarios(1, runs=1)
    user = make_user("admin")
    served = make_app(test_database.url)
    client = served.test_client()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code
    response = client.get(f"{url}?format={fmt}")
    body = response.get_data()
    assert response.status_code == 200, body[:500]
    if fmt == "csv":
        assert len(csv_rows(response)) > 1
    else:
        assert load_workbook(io.BytesIO(body)).worksheets[0].max_row > 1
    with served.app_context():
        db.engine.dispose()


def test_a_partner_users_exports_hold_its_own_rows_only(
    client: FlaskClient, login: Callable[..., Any]
) -> None:
    _registry(4)
    own = db.session.scalar(sa.select(Partner).where(Partner.name == "Partner 01"))
    assert own is not None
    login("partner", partner_id=own.id)
    mous = csv_records(client.get("/mous/?format=csv"))
    assert [(r["Partner"], r["Schools"], r["Commitment lines"]) for r in mous] == [
        ("Partner 01", "School 01; School 02", "3")
    ]
    services = csv_records(client.get("/services/?format=csv"))
    assert {r["Partner"] for r in services} == {"Partner 01"} and len(services) == 2
