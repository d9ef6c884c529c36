"""School files as DESE and its data portal publish them: read, merged, previewed."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.extensions import db
from registry.models import AuditEntry, ImportMapping, School
from registry.schools.import_plan import import_upload, plan_upload
from registry.schools.importer import ImportRefused, ReadOptions, header_key

DATA = Path(__file__).parent / "data"
HARBOR, HILLSIDE, RIVERSIDE, SEAPORT = "00350001", "00350002", "00350003", "00350004"


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    # The signed-in user of an earlier test's request lingers in the audit context.
    set_actor(SYSTEM)


@pytest.fixture
def app_config(tmp_path):
    return {"UPLOAD_FOLDER": str(tmp_path / "uploads")}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _school(code: str) -> School | None:
    return db.session.scalar(select(School).where(School.dese_code == code))


def _import(name: str, year: str | None = None, district: str | None = None, clear=()):
    plan = import_upload(
        (DATA / name).read_bytes(), ReadOptions(school_year=year, district=district), clear
    )
    db.session.commit()
    db.session.expire_all()
    return plan


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["import-schools", *args])


# ---- the layouts --------------------------------------------------------------------


def test_enrollment_by_grade_gives_grades_with_students_and_the_total(app):
    plan = _import("dese_enrollment_by_grade.csv")
    assert plan.describe() == "3 schools read: 3 created, 0 updated, 0 unchanged."
    harbor, hillside, riverside = _school(HARBOR), _school(HILLSIDE), _school(RIVERSIDE)
    assert harbor.grades == ["PK", "K", "1", "2", "3", "4", "5"]
    assert harbor.enrollment == 393
    assert hillside.grades == ["K", "1", "2", "3", "4", "5", "6", "7", "8"]
    assert hillside.enrollment == 1426  # "   1,426" in the file
    # SP students count in the total but are no grade the school offers.
    assert riverside.grades == ["9", "10", "11", "12"]
    assert riverside.enrollment == 699
    assert harbor.indicators == []


def test_selected_populations_as_number_and_percent_pairs_under_the_2025_26_names(app):
    _import("dese_enrollment_by_grade.csv")
    _import("dese_selected_populations_2025-26.csv", year="2025-26")
    row = _school(HARBOR).indicators_for("2025-26")
    assert row.pct_econ_disadvantaged == Decimal("63.5")  # "Low Income %"
    assert row.pct_english_learners == Decimal("20.3")
    assert row.pct_disabilities == Decimal("15.2")
    assert row.pct_high_needs == Decimal("73.6")
    assert row.pct_chronically_absent is None


def test_selected_populations_under_the_older_names_with_a_year_column(app):
    _import("dese_enrollment_by_grade.csv")
    plan = _import("dese_selected_populations_2023-24.csv")
    assert plan.describe() == "2 schools read: 0 created, 2 updated, 0 unchanged."
    row = _school(HILLSIDE).indicators_for("2023-24")
    assert row.pct_econ_disadvantaged == Decimal("60.4")  # "Economically Disadvantaged %"
    assert row.pct_english_learners == Decimal("27.5")
    assert _school(RIVERSIDE).indicators == []


def test_attendance_keeps_chronic_absence_at_10_percent_only(app):
    _import("dese_enrollment_by_grade.csv")
    plan = _import("dese_attendance.csv", year="2025-26")
    assert _school(RIVERSIDE).indicators_for("2025-26").pct_chronically_absent == Decimal("40.6")
    assert "Chronically Absent (20% or more)" in plan.ignored_columns
    assert "Attendance Rate" in plan.ignored_columns


def test_the_state_portal_export(app):
    _import("dese_enrollment_by_grade.csv")
    plan = _import("dese_portal_export.csv", district="0035")
    seaport = _school(SEAPORT)
    assert seaport.name == "Seaport Middle"
    assert seaport.grades == ["6", "7", "8"]
    assert seaport.enrollment == 315
    # SY 2026 is the school year 2025-26.
    row = _school(HARBOR).indicators_for("2025-26")
    assert row.pct_english_learners == Decimal("20.9")
    assert row.pct_econ_disadvantaged == Decimal("64.0")
    assert [(s.dese_code, s.reason) for s in plan.skipped] == [
        ("00350000", "a district or state total, not a school")
    ]
    assert plan.other_districts == 1  # the state's row


def test_headers_are_compared_ignoring_case_and_punctuation():
    assert header_key("School Code") == header_key("school_code") == header_key("SCHOOL-CODE")
    assert header_key("% High Needs") == header_key("High Needs %") == header_key("high needs")
    assert header_key("High Needs #") == "#highneeds"
    assert header_key("EL_PCT") == "el" and header_key("TOTAL_CNT") == "#total"


def test_xlsx_with_counts_as_numbers_and_percentages_as_fractions(app, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["Enrollment by Grade (2025-26)"])  # a title above the header
    sheet.append(["School Name", "School Code", "K", "1", "SP", "Total", "High Needs %"])
    sheet.append(["Fraction School", 350009, 20, 21, 0, 41, 0.594])
    sheet.cell(row=3, column=7).number_format = "0.0%"
    buffer = io.BytesIO()
    book.save(buffer)
    import_upload(buffer.getvalue(), ReadOptions(school_year="2025-26"))
    db.session.commit()
    school = _school("00350009")
    assert (school.grades, school.enrollment) == (["K", "1"], 41)
    assert school.indicators_for("2025-26").pct_high_needs == Decimal("59.4")


# ---- merge, never erase -------------------------------------------------------------


def test_three_reports_merge_without_erasing_each_other(app):
    _import("dese_enrollment_by_grade.csv")
    _import("dese_attendance.csv", year="2025-26")
    _import("dese_selected_populations_2025-26.csv", year="2025-26")
    for code, absent in [(HARBOR, "31.4"), (HILLSIDE, "27.9"), (RIVERSIDE, "40.6")]:
        school = _school(code)
        row = school.indicators_for("2025-26")
        assert row.pct_chronically_absent == Decimal(absent)  # survives the third file
        assert row.pct_high_needs is not None and row.pct_econ_disadvantaged is not None
        assert school.enrollment > 0 and school.grades  # the indicator files kept them
    # And the enrollment file again, after both: it touches no indicator.
    plan = _import("dese_enrollment_by_grade.csv")
    assert plan.describe() == "3 schools read: 0 created, 0 updated, 3 unchanged."


def test_an_empty_cell_keeps_the_value_unless_clearing_is_asked_for(app, tmp_path):
    _import("dese_enrollment_by_grade.csv")
    _import("dese_attendance.csv", year="2025-26")
    blank = tmp_path / "attendance_blank.csv"
    blank.write_text("School Code,Chronically Absent (10% or more)\n00350001,\n00350002,30.0\n")
    import_upload(blank.read_bytes(), ReadOptions(school_year="2025-26"))
    db.session.commit()
    assert _school(HARBOR).indicators_for("2025-26").pct_chronically_absent == Decimal("31.4")

    result = _cli(app, str(blank), "--year", "2025-26", "--clear-empty", "pct_chronically_absent")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert _school(HARBOR).indicators_for("2025-26").pct_chronically_absent is None
    assert _school(HILLSIDE).indicators_for("2025-26").pct_chronically_absent == Decimal("30")


def test_a_file_of_indicators_adds_no_school_and_says_so(app):
    plan = _import("dese_attendance.csv", year="2025-26")
    assert _count(School) == 0
    assert [s.dese_code for s in plan.skipped] == [HARBOR, HILLSIDE, RIVERSIDE]
    assert "import an enrollment file first" in plan.skipped[0].reason


def test_an_indicator_file_renames_no_school(app, make_school):
    make_school(dese_code=HARBOR, name="Harbor View Elem.", grades=["K"], enrollment=5)
    _import("dese_attendance.csv", year="2025-26")
    assert _school(HARBOR).name == "Harbor View Elem."


def test_importing_the_same_files_again_writes_nothing(app):
    _import("dese_enrollment_by_grade.csv")
    _import("dese_selected_populations_2025-26.csv", year="2025-26")
    _import("dese_portal_export.csv", district="0035")
    audits = _count(AuditEntry)
    versions = {s.dese_code: s.version for s in db.session.scalars(select(School))}

    for name, year, district in [
        ("dese_enrollment_by_grade.csv", None, None),
        ("dese_portal_export.csv", None, "0035"),
    ]:
        plan = _import(name, year, district)
        assert not plan.has_changes
    # The portal's 2025-26 values replaced the report's; the report again puts its own back.
    plan = _import("dese_selected_populations_2025-26.csv", year="2025-26")
    assert plan.has_changes
    audits = _count(AuditEntry)
    plan = _import("dese_selected_populations_2025-26.csv", year="2025-26")
    assert not plan.has_changes
    assert _count(AuditEntry) == audits
    assert {s.dese_code: s.version for s in db.session.scalars(select(School))} == versions


# ---- the school year --------------------------------------------------------------------


def test_indicators_need_a_year(app):
    with pytest.raises(ImportRefused, match="missing required column: school year"):
        _import("dese_attendance.csv")


def test_a_year_in_the_file_and_a_year_given_must_agree(app):
    with pytest.raises(ImportRefused) as caught:
        _import("dese_selected_populations_2023-24.csv", year="2025-26")
    message = str(caught.value)
    assert "2023-24" in message and "2025-26" in message
    assert _count(School) == 0
    _import("dese_enrollment_by_grade.csv")
    _import("dese_selected_populations_2023-24.csv", year="2023-24")  # agreeing: fine
    assert _school(HARBOR).indicators_for("2023-24") is not None


def test_the_cli_refuses_a_year_conflict_naming_both(app):
    result = _cli(
        app, str(DATA / "dese_portal_export.csv"), "--district", "0035", "--year", "2024-25"
    )
    assert result.exit_code == 1
    assert "2025-26" in result.output and "2024-25" in result.output
    assert _count(School) == 0


# ---- statewide files ----------------------------------------------------------------------


def test_a_statewide_file_keeps_the_district_and_reports_what_it_skips(app):
    result = _cli(app, str(DATA / "dese_statewide_enrollment.csv"), "--district", "0035")
    assert result.exit_code == 0, result.output
    assert "4 schools read: 4 created, 0 updated, 0 unchanged." in result.output
    assert "3 rows of other districts skipped (district 0035 imported)." in result.output
    assert "Harbor Transition Program: only students beyond grade 12" in result.output
    assert "Closed Annex: no students enrolled" in result.output
    names = set(db.session.scalars(select(School.name)))
    # DESE's "District - School" names lose the district they all share.
    assert names == {
        "Harbor View Elementary",
        "Hillside K-8 School",
        "Riverside High",
        "Seaport Middle",
    }


@pytest.mark.parametrize("app_config", [{"DISTRICT_CODE": "0035"}])
def test_the_district_comes_from_the_configuration(app):
    result = _cli(app, str(DATA / "dese_statewide_enrollment.csv"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 schools read: 4 to add, 0 to change, 0 unchanged." in result.output
    assert "Dry run: nothing was written." in result.output
    assert _count(School) == 0


def test_a_statewide_file_without_a_district_is_refused(app):
    result = _cli(app, str(DATA / "dese_statewide_enrollment.csv"))
    assert result.exit_code == 1
    assert "the file would add schools of 3 districts: choose the district" in result.output


def test_without_a_district_the_schools_the_registry_has_are_updated(app, make_school):
    # A registry may hold schools of several districts (charter schools have their own).
    make_school(dese_code="04450105", name="Westfield Charter School", enrollment=1)
    make_school(dese_code=HARBOR, name="Harbor View Elementary", enrollment=1)
    path = DATA / "dese_statewide_enrollment.csv"
    text = path.read_text().splitlines()
    kept = [text[0], *(line for line in text if "04450105" in line or HARBOR in line)]
    plan = import_upload("\n".join(kept).encode())
    db.session.commit()
    assert plan.describe() == "2 schools read: 0 created, 2 updated, 0 unchanged."
    assert _school("04450105").enrollment == 324
    assert _school("04450105").name == "Westfield Charter School"  # "… (District) - " gone


@pytest.mark.parametrize(
    "row, problem",
    [
        ("00350001,Harbor,10,abc,10", "row 3: grade 1 students 'abc' is not a whole number"),
        ("0035000X,Harbor,10,10,20", "row 3: DESE code '0035000X' is not 8 digits"),
    ],
)
def test_a_malformed_row_stops_the_whole_file(app, tmp_path, row, problem):
    path = tmp_path / "bad.csv"
    path.write_text(f"School Code,School Name,K,1,Total\n00350002,Fine,1,1,2\n{row}\n")
    result = _cli(app, str(path), "--district", "0035")
    assert result.exit_code == 1
    assert problem in result.output
    assert _count(School) == 0


def test_a_percentage_over_100_stops_the_file(app, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("School Code,High Needs %\n00350001,50\n00350002,100.5\n")
    with pytest.raises(ImportRefused, match="row 3: High needs"):
        import_upload(path.read_bytes(), ReadOptions(school_year="2025-26"))


# ---- encodings ----------------------------------------------------------------------------


def test_cli_reads_windows_excel_cp1252(app):
    result = _cli(app, str(DATA / "dese_cp1252.csv"))
    assert result.exit_code == 0, result.output
    assert set(db.session.scalars(select(School.name))) == {
        "Escuela Nuñez",
        "École Sainte-Thérèse",
    }


def test_utf8_with_a_byte_order_mark(app, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffSchool Code,School Name,K,Total\n00350007,Nuñez,5,5\n".encode())
    result = _cli(app, str(path))
    assert result.exit_code == 0, result.output
    assert _school("00350007").name == "Nuñez"


# ---- the web import: preview, confirm, mapping ------------------------------------------


def _upload(client, content: bytes, filename: str = "schools.csv", **fields: str):
    return client.post(
        "/schools/import",
        data={"file": (io.BytesIO(content), filename), **fields},
        content_type="multipart/form-data",
    )


def _token(page: str) -> str:
    match = re.search(r'name="token" type="hidden" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_the_preview_shows_the_changes_and_writes_nothing_until_confirmed(
    client, login, make_school
):
    make_school(dese_code=HARBOR, name="Harbor View Elementary", grades=["K"], enrollment=12)
    login("coordinator")
    audits = _count(AuditEntry)
    response = _upload(client, (DATA / "dese_enrollment_by_grade.csv").read_bytes())
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "3 schools read: 2 to add, 1 to change, 0 unchanged." in page
    assert "Hillside K-8 School" in page and "Riverside High" in page  # new
    assert re.search(r"<td>Enrollment</td><td>12</td><td>393</td>", page)  # old → new
    assert re.search(r"<td>Grades</td><td>K</td><td>PK–5</td>", page)
    assert _count(School) == 1
    assert _count(AuditEntry) == audits
    assert "Clear values the file leaves empty" not in page  # no empty cell erases anything

    response = client.post(
        "/schools/import/review", data={"token": _token(page), "action": "confirm"}
    )
    assert response.status_code == 302
    assert "3 schools read: 2 created, 1 updated, 0 unchanged." in client.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    db.session.expire_all()
    assert _count(School) == 3
    assert _school(HARBOR).enrollment == 393
    assert _count(AuditEntry) > audits


def test_the_preview_lists_skipped_rows_and_other_districts(client, login):
    login("coordinator")
    page = _upload(
        client, (DATA / "dese_statewide_enrollment.csv").read_bytes(), district="0035"
    ).get_data(as_text=True)
    assert "3 rows of other districts skipped (district 0035 imported)." in page
    assert "Harbor Transition Program" in page and "Closed Annex" in page
    assert "no students enrolled" in page
    assert _count(School) == 0


def test_clearing_is_chosen_in_the_preview(client, login, make_school):
    make_school(
        dese_code=HARBOR, indicators={"pct_chronically_absent": Decimal("31.4")}, year="2025-26"
    )
    login("coordinator")
    content = b"School Code,Chronically Absent (10% or more)\n00350001,\n"
    page = _upload(client, content, school_year="2025-26").get_data(as_text=True)
    assert "Nothing to change" in page
    assert "Clear values the file leaves empty" in page  # only the field with a value to erase
    assert 'value="chronically-absent"' in page and 'value="high-needs"' not in page
    assert "pct_econ_disadvantaged" not in page and "pct_chronically_absent" not in page
    token = _token(page)
    page = client.post(
        "/schools/import/review",
        data={"token": token, "school_year": "2025-26", "clear": ["chronically-absent"]},
    ).get_data(as_text=True)
    assert "0 to add, 1 to change" in page
    assert re.search(r"<td>31.4</td><td>\(empty\)</td>", page)
    client.post(
        "/schools/import/review",
        data={
            "token": token,
            "school_year": "2025-26",
            "clear": ["chronically-absent"],
            "action": "confirm",
        },
    )
    db.session.expire_all()
    assert _school(HARBOR).indicators_for("2025-26").pct_chronically_absent is None


def test_an_upload_is_only_confirmed_by_its_uploader(client, login, app):
    login("coordinator")
    page = _upload(client, (DATA / "dese_enrollment_by_grade.csv").read_bytes()).get_data(
        as_text=True
    )
    token = _token(page)
    client.post("/logout")
    login("admin")  # another user, same browser
    response = client.post("/schools/import/review", data={"token": token, "action": "confirm"})
    assert response.status_code == 302
    assert _count(School) == 0


def test_unknown_columns_are_asked_about_once_per_header_set(client, login):
    login("coordinator")
    content = (
        "Código,School Name,Grades,Enrollment,Principal\n00350008,Escola Nova,K-2,90,Ana\n"
    ).encode()
    page = _upload(client, content).get_data(as_text=True)
    assert "What are these columns?" in page
    assert "Código" in page and "Principal" in page
    assert _count(ImportMapping) == 0

    response = client.post(
        "/schools/import/columns",
        data={"token": _token(page), "column_0": "dese-code", "column_1": ""},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "1 school read: 1 to add, 0 to change, 0 unchanged." in page
    assert _count(School) == 0
    mapping = db.session.scalars(select(ImportMapping)).one()
    assert mapping.kind == "schools"
    assert mapping.mapping == {"cdigo": "dese_code", "principal": ""}

    # The same headers next time: straight to the preview.
    page = _upload(client, content).get_data(as_text=True)
    assert "What are these columns?" not in page
    assert "1 school read: 1 to add" in page


def test_the_import_page_shows_the_alias_table(client, login):
    login("coordinator")
    page = client.get("/schools/import").get_data(as_text=True)
    for header in ("DESE ID", "Low Income %", "LI_PCT", "Chronically Absent (10% or more)"):
        assert header in page
    assert "Low income / economically disadvantaged (%)" in page
    assert "pct_econ_disadvantaged" not in page


def test_a_refused_upload_is_a_400_naming_the_row(client, login, tmp_path):
    login("coordinator")
    response = _upload(client, b"School Code,School Name,K,Total\n003500X1,Bad,1,1\n")
    assert response.status_code == 400
    assert "row 2: DESE code" in response.get_data(as_text=True)
    assert _count(School) == 0


def test_plan_upload_asks_about_unknown_columns_only_when_told(app):
    raw = b"School Code,Mystery,High Needs %\n00350001,x,50\n"
    assert plan_upload(raw, ReadOptions(school_year="2025-26")).unknown == ["Mystery"]
    plan = plan_upload(raw, ReadOptions(school_year="2025-26"), ask=False)
    assert plan.ignored_columns == ["Mystery"]


def test_a_file_of_several_school_years_is_refused_with_the_reason(app, tmp_path):
    path = tmp_path / "years.csv"
    path.write_text("SY,ORG_CODE,HN_PCT\n2025,00350001,50\n2026,00350001,52\n")
    with pytest.raises(ImportRefused, match=r"row 3: .* \(of another school year"):
        import_upload(path.read_bytes())


def test_the_mapping_step_shows_a_sample_of_each_unknown_column(client, login):
    login("coordinator")
    content = b"School Code,School Name,Grades,Enrollment,Principal\n00350008,X,K-2,90,Ana Lima\n"
    page = _upload(client, content).get_data(as_text=True)
    assert "For example: Ana Lima" in page


def test_two_schools_sharing_a_dash_keep_their_names(app, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text(
        "School Code,School Name,K,Total\n"
        "00350011,Academy - Upper,5,5\n00350012,Academy - Lower,6,6\n"
    )
    import_upload(path.read_bytes())
    db.session.commit()
    assert set(db.session.scalars(select(School.name))) == {"Academy - Upper", "Academy - Lower"}


def test_a_total_without_any_grade_count_is_malformed(app, tmp_path):
    path = tmp_path / "nocounts.csv"
    path.write_text("School Code,School Name,K,1,Total\n00350011,Blank Counts,,,300\n")
    with pytest.raises(ImportRefused, match="row 2: no grade PK–12 has a count of students"):
        import_upload(path.read_bytes())


def test_xlsx_number_and_percent_pairs_under_merged_group_names(app):
    _import("dese_enrollment_by_grade.csv")
    book = Workbook()
    sheet = book.active
    sheet.append(["School Name", "School Code", "High Needs", None, "Low Income", None])
    sheet.append([None, None, "#", "%", "#", "%"])
    sheet.append(["Harbor View Elementary", "00350001", 290, 73.6, 250, 63.5])
    sheet.merge_cells("C1:D1")
    sheet.merge_cells("E1:F1")
    buffer = io.BytesIO()
    book.save(buffer)
    import_upload(buffer.getvalue(), ReadOptions(school_year="2025-26"))
    db.session.commit()
    row = _school(HARBOR).indicators_for("2025-26")
    assert (row.pct_high_needs, row.pct_econ_disadvantaged) == (Decimal("73.6"), Decimal("63.5"))
