"""Downloads that open in Excel: BOM, word headers, labels, typed XLSX cells, round trips."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask_babel import refresh
from openpyxl import load_workbook
from sqlalchemy import func, select

from registry.exports import Column, Kind, csv_bytes, sheet_title, xlsx_bytes, xlsx_response
from registry.exports import Sheet as ExportSheet
from registry.extensions import db
from registry.models import AuditEntry, School
from registry.vocabulary import MOUStatus, PartnerStatus, Unit
from tests.exported import csv_records, csv_rows, xlsx_book

# ---- the shared module ----------------------------------------------------------------------


def _one_cell(app, column: Column[Any], value: Any) -> tuple[str, Any]:
    """The value as a CSV writes it and the XLSX cell that holds it."""
    with app.test_request_context():
        text = csv_bytes([column], [value]).decode("utf-8-sig").splitlines()[1]
        book = xlsx_book_from(xlsx_bytes([ExportSheet("t", [column], [value])]))
    return text, book["t"]["A2"]


def xlsx_book_from(content: bytes) -> Any:
    return load_workbook(io.BytesIO(content))


@pytest.mark.parametrize(
    "kind, places, value, csv_text, xlsx_value, number_format",
    [
        (Kind.AMOUNT, 2, 5600.000000001, "5600", 5600, "#,##0"),
        (Kind.AMOUNT, 2, Decimal("12.5"), "12.5", 12.5, "#,##0.00"),
        (Kind.AMOUNT, 2, 0.1 + 0.2, "0.3", 0.3, "#,##0.00"),
        (Kind.INT, 0, 399.9999999, "400", 400, "#,##0"),
        (Kind.PCT, 1, 0.59400000001, "59.4%", 0.594, "0.0%"),
        (Kind.PCT, 2, Decimal("0.125"), "12.5%", 0.125, "0.00%"),
        (Kind.DECIMAL, 4, 0.123456, "0.1235", 0.1235, "#,##0.0000"),
    ],
)
def test_numbers_are_numbers_with_a_format_and_no_float_noise(
    app, kind, places, value, csv_text, xlsx_value, number_format
):
    text, cell = _one_cell(app, Column("Value", lambda v: v, kind, places), value)
    assert text == csv_text
    assert cell.data_type == "n" and cell.value == xlsx_value
    assert cell.number_format == number_format


def test_dates_are_dates_and_yes_no_and_labels_are_words(app):
    text, cell = _one_cell(app, Column("Day", lambda v: v, Kind.DATE), date(2026, 9, 1))
    assert text == "2026-09-01"
    assert cell.is_date and cell.value.date() == date(2026, 9, 1)
    assert cell.number_format == "yyyy-mm-dd"
    assert _one_cell(app, Column("Active", lambda v: v, Kind.YES_NO), False)[0] == "No"
    # 02:30 UTC on 2 September is still 1 September in the district (America/New_York).
    late = datetime(2026, 9, 2, 2, 30, tzinfo=UTC)
    assert _one_cell(app, Column("Created", lambda v: v, Kind.DATE), late)[0] == "2026-09-01"
    text, cell = _one_cell(app, Column("Status", lambda v: v, Kind.LABEL), MOUStatus.ACTIVE)
    assert text == "Active" and cell.value == "Active"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+cmd|calc", "-2+3", "@SUM(A1)"])
def test_text_never_becomes_a_formula(app, text):
    csv_text, cell = _one_cell(app, Column("Name", lambda v: v), text)
    assert next(csv.reader([csv_text])) == ["'" + text]
    assert cell.data_type == "s" and cell.value == text and cell.quotePrefix
    with app.test_request_context():
        content = xlsx_bytes([ExportSheet("t", [Column("Name", lambda v: v)], [text])])
    sheet_xml = zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml


# ---- every list -----------------------------------------------------------------------------


LISTS = [
    "/partners/",
    "/services/",
    "/mous/",
    "/schools/",
    "/users/",
    "/scenarios/",
    "/equity/need",
]


@pytest.fixture
def registry_rows(make_mou, make_service, make_school, make_partner, default_need_index):
    partner = make_partner(name="São Paulo Tutors", status=PartnerStatus.APPROVED)
    school = make_school(name="María Baez Elementary", indicators={"pct_high_needs": 59.4})
    service = make_service(partner=partner, unit=Unit.SEATS, capacity=Decimal("12.5"))
    make_mou(
        partner=partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(service, school, 10)],
    )
    return partner, school, service


@pytest.mark.parametrize("url", LISTS)
def test_every_list_exports_csv_with_a_bom_and_xlsx_with_the_same_header(
    client, login, registry_rows, url
):
    login("admin")
    csv_response = client.get(f"{url}?format=csv")
    header = csv_rows(csv_response)[0]  # csv_rows checks the byte-order mark
    assert csv_response.mimetype == "text/csv"
    book = xlsx_book(client.get(f"{url}?format=xlsx"))
    assert [c.value for c in book.worksheets[0][1]] == header
    # Words in sentence case: a capital first, no code-style underscores.
    for name in header:
        assert re.fullmatch(r"[A-Z][^_]*", name), name
    page = client.get(url).get_data(as_text=True)
    assert "format=csv" in page and "format=xlsx" in page


def test_accents_survive_in_both_formats(client, login, registry_rows):
    login("coordinator")
    assert "São Paulo Tutors" in csv_rows(client.get("/partners/?format=csv"))[1]
    book = xlsx_book(client.get("/schools/?format=xlsx"))
    assert "María Baez Elementary" in [c.value for c in book.worksheets[0]["B"]]


def test_statuses_and_types_are_the_labels_the_pages_show(client, login, registry_rows):
    login("coordinator")
    partner = csv_records(client.get("/partners/?format=csv"))[0]
    assert partner["Status"] == "Approved" and partner["Type"] == "Nonprofit"
    assert partner["Serves the whole district"] == "Yes"
    mou = csv_records(client.get("/mous/?format=csv"))[0]
    assert mou["Status"] == "Active" and mou["Start"] == "2025-09-01"
    service = csv_records(client.get("/services/?format=csv"))[0]
    assert service["Unit"] == "Seats" and service["Category"] == "Academic support"
    spanish = csv_records(_in_language(client, "/mous/?format=csv", "es"))[0]
    assert spanish["Estado"] == "Activo"


def _in_language(client, url: str, lang: str):
    # The tests' app context outlives requests, and Flask-Babel caches the locale on it.
    refresh()
    response = client.get(f"{url}&lang={lang}")
    refresh()
    return response


def test_xlsx_cells_are_typed(client, login, registry_rows):
    login("coordinator")
    mous = xlsx_book(client.get("/mous/?format=xlsx")).worksheets[0]
    header = [c.value for c in mous[1]]
    row = {h: c for h, c in zip(header, mous[2], strict=True)}
    assert row["Total committed (seats)"].value == 10
    assert row["Total committed (seats)"].number_format == "#,##0"
    assert row["Start"].is_date and row["Start"].value.date() == date(2025, 9, 1)
    services = xlsx_book(client.get("/services/?format=xlsx")).worksheets[0]
    header = [c.value for c in services[1]]
    capacity = services[2][header.index("Annual capacity")]
    assert capacity.value == 12.5 and capacity.number_format == "#,##0.00"
    schools = xlsx_book(client.get("/schools/?format=xlsx")).worksheets[0]
    header = [c.value for c in schools[1]]
    needs = schools[2][header.index("High needs (%)")]
    assert needs.value == pytest.approx(0.594) and needs.number_format == "0.00%"
    assert schools[2][header.index("Enrollment")].value == 400


# ---- the schools round trip -----------------------------------------------------------------


def _snapshot() -> list[tuple[Any, ...]]:
    schools = db.session.scalars(select(School).order_by(School.dese_code)).all()
    return [
        (
            s.dese_code,
            s.name,
            list(s.grades),
            s.enrollment,
            s.address,
            s.zip,
            s.version,
            sorted(
                (
                    i.school_year,
                    i.pct_econ_disadvantaged,
                    i.pct_english_learners,
                    i.pct_disabilities,
                    i.pct_high_needs,
                    i.pct_chronically_absent,
                )
                for i in s.indicators
            ),
        )
        for s in schools
    ]


def _upload(client, content: bytes, filename: str):
    return client.post(
        "/schools/import",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def schools(make_school):
    make_school(
        name="São Tomé Academy",
        grades=["PK", "K", "1"],
        address="1 Rua Street",
        zip="02118",
        indicators={
            "pct_econ_disadvantaged": Decimal("59.4"),
            "pct_english_learners": Decimal("12.35"),
            "pct_disabilities": None,
            "pct_high_needs": Decimal("100"),
            "pct_chronically_absent": Decimal("0.05"),
        },
    )
    make_school(name="-Dash Charter", grades=["9", "10", "11", "12"], enrollment=1234)
    make_school(name="No Indicators Yet", indicators=None)
    make_school(name="María Older Year", year="2023-24", indicators={"pct_high_needs": 7})
    db.session.expire_all()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_schools_export_imports_back_unchanged(client, login, schools, fmt):
    login("coordinator")
    before = _snapshot()
    audits = db.session.scalar(select(func.count(AuditEntry.id)))
    exported = client.get(f"/schools/?format={fmt}").get_data()
    response = _upload(client, exported, f"schools.{fmt}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "4 schools read: 0 created, 0 updated, 4 unchanged." in page
    db.session.expire_all()
    assert _snapshot() == before
    assert db.session.scalar(select(func.count(AuditEntry.id))) == audits


@pytest.mark.parametrize("lang, name", [("es", "Nombre"), ("pt", "Nome")])
def test_the_import_reads_the_export_written_in_another_language(
    client, login, schools, lang, name
):
    login("coordinator")
    before = _snapshot()
    exported = _in_language(client, "/schools/?format=xlsx", lang).get_data()
    header = [c.value for c in xlsx_book_from(exported).worksheets[0][1]]
    assert name in header
    assert _upload(client, exported, "escuelas.xlsx").status_code == 200
    db.session.expire_all()
    assert _snapshot() == before


def test_the_import_reads_the_old_indicators_year_header(app, schools):
    from registry.schools.importer import import_schools

    text = (
        "DESE code,Name,Grades,Enrollment,Indicators year,High needs (%)\n"
        "99000099,New School,K 1,300,2025-26,42.5\n"
    )
    report = import_schools(io.StringIO(text))
    created = db.session.scalar(select(School).where(School.dese_code == "99000099"))
    assert report.created == ["99000099"]
    assert created.indicators_for("2025-26").pct_high_needs == Decimal("42.50")
    db.session.rollback()


def test_an_unreadable_workbook_is_refused_not_a_500(client, login):
    login("coordinator")
    response = _upload(client, b"PK\x03\x04 not really a workbook", "schools.xlsx")
    assert response.status_code == 400
    assert "not a readable XLSX file" in response.get_data(as_text=True)


def test_a_name_that_excel_would_refuse_is_made_safe(app):
    assert sheet_title("need-A/B: [draft]?-v1-2025-26") == "need-A-B- -draft---v1-2025-26"
    with app.test_request_context():
        response = xlsx_response('need-Índice "A/B"', [ExportSheet("x/y", [], [])])
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
