"""The school CSV import: upsert on the DESE code, idempotent, all rows or none."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.extensions import db
from registry.models import AuditEntry, School
from registry.schools.importer import ImportRefused, import_schools, parse_grades

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    # The signed-in user of an earlier test's request lingers in the audit context; on
    # PostgreSQL its id (gone with that test's rows) would break the audit foreign key.
    set_actor(SYSTEM)


@pytest.fixture
def app_config(tmp_path):
    # Uploads are kept between preview and confirmation: in this test's own folder.
    return {"UPLOAD_FOLDER": str(tmp_path / "uploads")}


def _import(name: str):
    with open(DATA / name, encoding="utf-8-sig", newline="") as handle:
        report = import_schools(handle)
    db.session.commit()
    return report


def _import_text(text: str):
    report = import_schools(io.StringIO(text))
    db.session.commit()
    return report


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _school(code: str) -> School:
    return db.session.scalar(select(School).where(School.dese_code == code))


def test_import_creates_schools_with_grades_and_indicators(app):
    report = _import("schools.csv")
    assert report.describe() == "3 schools read: 3 created, 0 updated, 0 unchanged."
    elm = _school("03480505")
    assert elm.name == "Elm Park Community"
    assert elm.grades == ["PK", "K", "1", "2", "3", "4", "5"]
    assert elm.enrollment == 412
    assert elm.zip == "01609"
    row = elm.indicators_for("2025-26")
    assert row.pct_econ_disadvantaged == Decimal("71.4")
    assert row.pct_english_learners == Decimal("38.2")


def test_short_codes_are_left_padded_and_thousands_separators_read(app):
    _import("schools.csv")
    burncoat = _school("03480010")  # the file says 3480010: a spreadsheet dropped the zero
    assert burncoat.grades == ["6", "7", "8"]
    assert burncoat.enrollment == 1021


def test_blank_indicator_is_missing_not_zero(app):
    _import("schools.csv")
    assert _school("03480010").indicators_for("2025-26").pct_chronically_absent is None


def test_importing_the_same_file_twice_changes_nothing(app):
    _import("schools.csv")
    audit_rows = _count(AuditEntry)
    versions = {s.dese_code: s.version for s in db.session.scalars(select(School))}

    report = _import("schools.csv")

    assert report.describe() == "3 schools read: 0 created, 0 updated, 3 unchanged."
    assert _count(AuditEntry) == audit_rows
    db.session.expire_all()
    assert {s.dese_code: s.version for s in db.session.scalars(select(School))} == versions


def test_import_updates_only_what_differs(app, make_school):
    school = make_school(dese_code="03480505", name="Old Name", grades=["K"], enrollment=1)
    report = _import("schools.csv")
    assert report.updated == ["03480505"]
    assert len(report.created) == 2
    db.session.refresh(school)
    assert school.name == "Elm Park Community"
    assert school.version == 2


def test_a_bad_row_writes_nothing_and_names_the_row(app):
    with pytest.raises(ImportRefused) as caught:
        _import("schools_bad_row.csv")
    db.session.rollback()
    assert "row 7: enrollment 'abc' is not a whole number" in str(caught.value)
    assert _count(School) == 0
    assert _count(AuditEntry) == 0


def test_missing_required_column_is_refused(app):
    with pytest.raises(ImportRefused, match="missing required column: grades"):
        _import("schools_missing_column.csv")


def test_duplicate_code_in_the_file_is_refused(app):
    with pytest.raises(ImportRefused) as caught:
        _import("schools_duplicate_code.csv")
    assert "row 4: DESE code 03480505 is also on row 2" in str(caught.value)
    assert _count(School) == 0


@pytest.mark.parametrize(
    "row, problem",
    [
        (
            "03480505,Elm,K-5,412,2025-26,120",
            "row 2: Low income / economically disadvantaged (%) 120",
        ),
        ("03480505,Elm,K-5,412,2025-26,-1", "not between 0 and 100"),
        ("03480505,Elm,K-5,412,2025-26,lots", "'lots' is not a number"),
        ("03480505,Elm,K-5,412,2025-26,NaN", "not between 0 and 100"),
        ("034805051,Elm,K-5,412,2025-26,50", "DESE code '034805051' is not 8 digits"),
        ("03480505,,K-5,412,2025-26,50", "school name is blank"),
        ("03480505,Elm,K-13,412,2025-26,50", "grade '13'"),
        ("03480505,Elm,05-K,412,2025-26,50", "grade range '05-K'"),
        ("03480505,Elm,K-5,-4,2025-26,50", "enrollment '-4' is not a whole number"),
        ("03480505,Elm,K-5,412,2025-27,50", "school year '2025-27'"),
    ],
)
def test_bad_values_are_named(app, row, problem):
    header = "Org Code,School Name,Grades,Enrollment,School Year,% Economically Disadvantaged\n"
    with pytest.raises(ImportRefused) as caught:
        _import_text(header + row + "\n")
    assert problem in str(caught.value)
    assert _count(School) == 0


@pytest.mark.parametrize("text", ["", "\n\n", "School Code,School Name,Grades,Enrollment\n"])
def test_an_empty_file_is_refused(app, text):
    with pytest.raises(ImportRefused):
        _import_text(text)


def test_headers_are_matched_ignoring_case_and_spelling(app):
    text = (
        "DESE CODE,school name,GRADE SPAN,enrollment,school year,pct english learners\n"
        "12345678,Lower Case School,K;1;2,10,2024-25,12.345\n"
    )
    _import_text(text)
    school = _school("12345678")
    assert school.grades == ["K", "1", "2"]
    assert school.indicators_for("2024-25").pct_english_learners == Decimal("12.35")


def test_indicator_columns_need_a_school_year_column(app):
    text = "School Code,School Name,Grades,Enrollment,% High Needs\n12345678,X,K,1,50\n"
    with pytest.raises(ImportRefused, match="missing required column: school year"):
        _import_text(text)


@pytest.mark.parametrize(
    "text, grades",
    [
        ("PK,K,01,02", ["PK", "K", "1", "2"]),
        ("PK-05", ["PK", "K", "1", "2", "3", "4", "5"]),
        ("09-12,SP", ["9", "10", "11", "12"]),
        ("KG-2", ["K", "1", "2"]),
    ],
)
def test_grade_notations(text, grades):
    assert parse_grades(text) == grades


# ---- the command line ----------------------------------------------------------------


def test_cli_imports_and_reports(app):
    result = app.test_cli_runner().invoke(args=["import-schools", str(DATA / "schools.csv")])
    assert result.exit_code == 0, result.output
    assert "3 schools read: 3 created, 0 updated, 0 unchanged." in result.output
    assert _count(School) == 3
    entry = db.session.scalars(select(AuditEntry)).first()
    assert entry.user_email == "cli"


def test_cli_refuses_a_bad_file_with_the_row(app):
    result = app.test_cli_runner().invoke(
        args=["import-schools", str(DATA / "schools_bad_row.csv")]
    )
    assert result.exit_code == 1
    assert "row 7: enrollment 'abc' is not a whole number" in result.output
    assert _count(School) == 0


# ---- the web upload -------------------------------------------------------------------


def _upload(client, content: bytes, filename: str = "schools.csv"):
    return client.post(
        "/schools/import",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_web_import_previews_then_reports(client, login):
    login("coordinator")
    response = _upload(client, (DATA / "schools.csv").read_bytes())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 schools read: 3 to add, 0 to change, 0 unchanged." in page
    assert _count(School) == 0
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/schools/import/review", data={"token": token, "action": "confirm"}, follow_redirects=True
    )
    assert "3 schools read: 3 created, 0 updated, 0 unchanged." in response.get_data(as_text=True)
    assert _count(School) == 3


def test_web_import_shows_the_row_error_and_writes_nothing(client, login):
    login("admin")
    response = _upload(client, (DATA / "schools_bad_row.csv").read_bytes())
    assert response.status_code == 400
    assert "row 7: enrollment &#39;abc&#39; is not a whole number" in response.get_data(
        as_text=True
    )
    assert _count(School) == 0


def test_web_import_takes_only_csv(client, login):
    login("coordinator")
    response = _upload(client, b"not a spreadsheet", filename="schools.xlsx")
    assert response.status_code == 400
    assert _count(School) == 0


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 5 >>\nstream\n\x00\x01\x02\x03\n",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,  # an Excel 97-2003 .xls
    ],
    ids=["pdf", "xls"],
)
def test_web_import_refuses_a_binary_file_named_csv(client, login, content):
    """Read as a CSV, its bytes would make a header of garbage for the mapping step."""
    login("coordinator")
    response = _upload(client, content)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "the file is neither a CSV nor an XLSX file" in page
    assert "import/columns" not in page  # not the mapping step
    assert _count(School) == 0


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024}])
def test_web_import_is_size_limited(client, login):
    login("coordinator")
    response = _upload(client, b"School Code\n" + b"12345678\n" * 500)
    assert response.status_code == 413


@pytest.mark.parametrize("role, status", [("leader", 404), ("partner", 404), ("admin", 200)])
def test_who_may_import(client, login, role, status):
    login(role)
    assert client.get("/schools/import").status_code == status


def test_cli_reads_what_excel_on_windows_saves_and_xlsx(app, tmp_path):
    cp1252 = tmp_path / "cp1252.csv"
    cp1252.write_bytes(
        "School Code,School Name,Grades,Enrollment\n03480505,Escuela María Peña,K-05,412\n".encode(
            "cp1252"
        )
    )
    result = app.test_cli_runner().invoke(args=["import-schools", str(cp1252)])
    assert result.exit_code == 0, result.output
    assert db.session.scalars(select(School.name)).one() == "Escuela María Peña"

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["School Code", "School Name", "Grades", "Enrollment"])
    book.active.append(["03480506", "São Tomé School", "06-08", 300])
    xlsx = tmp_path / "schools.xlsx"
    book.save(xlsx)
    result = app.test_cli_runner().invoke(args=["import-schools", str(xlsx)])
    assert result.exit_code == 0, result.output
    assert "1 school read: 1 created, 0 updated, 0 unchanged." in result.output
    assert _count(School) == 2
