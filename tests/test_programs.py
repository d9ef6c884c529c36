"""The partner-program import: a PartnerBPS-style listing in; partners, services, offerings out."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.extensions import db
from registry.models import (
    AuditEntry,
    Offering,
    Partner,
    ProgramAreaMapping,
    School,
    SchoolAlias,
    Service,
    User,
)
from registry.programs.importer import read_listing
from registry.programs.matching import (
    MatchedBy,
    SchoolMatcher,
    SchoolRef,
    partner_key,
    school_key,
)
from registry.programs.services import apply_plan, build_plan
from registry.vocabulary import Category, PartnerStatus, PartnerType, Setting, Unit
from tests.data.partner_programs import BGC, ROWS, SCRIPT, csv_text, with_accents, xlsx_bytes

DATA = Path(__file__).parent / "data"


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Uploads kept in the test's own folder."""
    return {"UPLOAD_FOLDER": str(tmp_path / "uploads")}


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    # A signed-in user of an earlier test lingers in the audit context (see test_import.py).
    set_actor(SYSTEM)


@pytest.fixture
def district(
    make_school: Callable[..., School], make_partner: Callable[..., Any]
) -> dict[str, Any]:
    """Five schools and one partner already known, spelled as the registry spells them."""
    schools = {
        "mission": make_school(name="Mission Hill K-8 School", local_code="101"),
        "hernandez": make_school(name="Rafael Hernández K-8 School"),
        "latin": make_school(name="Boston Latin Academy", local_code="103"),
        "charlestown": make_school(name="Charlestown High School", grades=["9", "10", "11", "12"]),
        "orchard": make_school(name="Orchard Gardens K-8 School"),
    }
    bgc = make_partner(name="Boys and Girls Clubs of Boston")
    return {**schools, "bgc": bgc}


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _import(raw: bytes, **kwargs: Any) -> Any:
    plan = build_plan(read_listing(raw), **kwargs)
    apply_plan(plan)
    db.session.commit()
    return plan


def test_the_committed_fixture_is_the_generated_listing() -> None:
    listing = read_listing((DATA / "partner_programs.xlsx").read_bytes())
    assert len(listing.rows) == 12
    cp1252 = read_listing((DATA / "partner_programs_cp1252.csv").read_bytes())
    assert [r.school_name for r in cp1252.rows][1] == "Rafael Hernández School"


def test_the_listing_reads_grades_capacity_and_text_as_written() -> None:
    rows = read_listing(xlsx_bytes()).rows
    assert rows[0].grades == ["K", "1", "2"]
    assert rows[9].grades == ["PK"]  # K0 and K1 are pre-kindergarten
    assert rows[0].capacity == Decimal(20)
    assert rows[2].capacity is None  # blank: no limit at that school
    assert rows[8].capacity == Decimal(1000)  # "1,000"
    assert rows[9].description == SCRIPT
    assert rows[4].areas == ["Academic Support", "Social Emotional"]


def test_a_cp1252_csv_reads_as_the_xlsx_does() -> None:
    from_csv = read_listing(csv_text(with_accents(ROWS)).encode("cp1252")).rows
    from_xlsx = read_listing(xlsx_bytes(with_accents(ROWS))).rows
    assert from_csv == from_xlsx
    assert from_csv[1].school_name == "Rafael Hernández School"
    with_bom = read_listing(b"\xef\xbb\xbf" + csv_text().encode("utf-8")).rows
    assert with_bom == read_listing(xlsx_bytes()).rows


def test_the_preview_says_what_would_happen_and_writes_nothing(app: Flask, district: Any) -> None:
    audit_rows = _count(AuditEntry)
    plan = build_plan(read_listing(xlsx_bytes()))

    assert [p.name for p in plan.partners_with(new=True)] == ["City Year Boston", "Zumix"]
    assert [p.existing for p in plan.partners_with(new=False)] == [district["bgc"]]
    assert len(plan.services_with("new")) == 5
    assert len(plan.offerings_with("new")) == 11
    assert [(s.line, s.reason) for s in plan.skipped] == [
        (8, "no school matches 'Hernandez Dual Language'")
    ]
    assert [(n.name, n.lines) for n in plan.review] == [("Hernandez Dual Language", [8])]
    assert district["hernandez"].id in [s.id for s in plan.review[0].suggestions]
    db.session.commit()
    assert _count(AuditEntry) == audit_rows
    assert _count(Service) == 0 and _count(Offering) == 0 and _count(Partner) == 1


def test_schools_match_by_code_then_local_code_then_normalised_name(
    app: Flask, district: Any
) -> None:
    plan = build_plan(read_listing(xlsx_bytes()))
    by_line = {o.line: (o.school.id, o.matched_by) for o in plan.offerings}
    assert by_line[2] == (district["mission"].id, MatchedBy.LOCAL_CODE)
    assert by_line[6] == (district["mission"].id, MatchedBy.LOCAL_CODE)  # "Mission Hill School"
    assert by_line[3] == (district["hernandez"].id, MatchedBy.NAME)  # accents, K-8, School
    assert by_line[4] == (district["latin"].id, MatchedBy.NAME)  # "Acad."
    assert by_line[7] == (district["orchard"].id, MatchedBy.NAME)


def test_a_dese_code_wins_over_the_local_code_and_the_name(app: Flask, district: Any) -> None:
    text = (
        "School Code,RC,School Name,Organization Name,Program Name\r\n"
        f"{district['latin'].dese_code},101,Mission Hill K-8 School,Zumix,Radio\r\n"
        f"{int(district['charlestown'].dese_code)},,Orchard Gardens,Zumix,Radio\r\n"
        ",999,Orchard Gardens,Zumix,Radio\r\n"
    )
    plan = build_plan(read_listing(text.encode()))
    matched = [(o.school.id, o.matched_by) for o in plan.offerings]
    assert matched == [
        (district["latin"].id, MatchedBy.DESE_CODE),
        (district["charlestown"].id, MatchedBy.DESE_CODE),  # leading zeros restored
        (district["orchard"].id, MatchedBy.NAME),  # an unknown RC falls through to the name
    ]


def test_the_import_creates_partners_services_and_offerings(app: Flask, district: Any) -> None:
    _import(xlsx_bytes())

    assert _count(Partner) == 3
    city_year = db.session.scalar(select(Partner).where(Partner.name == "City Year Boston"))
    assert city_year.status == PartnerStatus.APPLICANT
    assert city_year.partner_type == PartnerType.OTHER
    assert city_year.website == "https://cityyear.org"
    assert district["bgc"].name == "Boys and Girls Clubs of Boston"  # matched, not renamed

    services = {s.name: s for s in db.session.scalars(select(Service))}
    assert sorted(services) == [
        "Attendance Coaching",
        "Homework Club",
        "Radio Zumix",
        "Teen Center Arts",
        "Whole School Whole Child",
    ]
    homework = services["Homework Club"]
    assert homework.partner_id == district["bgc"].id
    assert homework.category == Category.ACADEMIC_SUPPORT
    assert homework.unit == Unit.SEATS and homework.capacity is None
    assert homework.grades == ["K", "1", "2"]  # the union of its rows
    assert homework.setting == Setting.AFTER_SCHOOL  # 3:00 PM
    assert services["Attendance Coaching"].setting == Setting.SCHOOL_DAY  # 8:00 AM
    assert services["Radio Zumix"].setting == Setting.AFTER_SCHOOL  # Saturdays
    assert services["Teen Center Arts"].category == Category.ARTS_ENRICHMENT
    assert services["Attendance Coaching"].category == Category.MENTAL_HEALTH
    assert services["Radio Zumix"].category == Category.OUT_OF_SCHOOL_TIME  # unknown area
    assert services["Radio Zumix"].description == SCRIPT

    offerings = {(o.service.name, o.school_id): o for o in db.session.scalars(select(Offering))}
    assert len(offerings) == 11
    at_latin = offerings[("Teen Center Arts", district["latin"].id)]
    assert at_latin.capacity is None and at_latin.grades == ["7", "8"]
    coaching = offerings[("Attendance Coaching", district["charlestown"].id)]
    assert coaching.capacity == Decimal(1000) and coaching.days == "Mon, Wed"
    radio = offerings[("Radio Zumix", district["orchard"].id)]
    assert radio.grades == ["PK"] and radio.student_fees == "$50"
    assert radio.weekly_dosage == "3 hours" and radio.time == "10:00 AM"
    mapped = {m.area: m.category for m in db.session.scalars(select(ProgramAreaMapping))}
    assert mapped["Youth Media"] == Category.OUT_OF_SCHOOL_TIME
    assert mapped["Health & Wellness"] == Category.MENTAL_HEALTH


def test_importing_the_same_file_again_changes_nothing(app: Flask, district: Any) -> None:
    _import(xlsx_bytes())
    audit_rows = _count(AuditEntry)
    versions = {o.id: o.version for o in db.session.scalars(select(Offering))}

    plan = _import(xlsx_bytes())

    assert not plan.changes_anything
    assert len(plan.services_with("unchanged")) == 5
    assert len(plan.offerings_with("unchanged")) == 11
    assert _count(AuditEntry) == audit_rows
    assert {o.id: o.version for o in db.session.scalars(select(Offering))} == versions


def test_a_changed_listing_is_previewed_field_by_field(app: Flask, district: Any) -> None:
    _import(xlsx_bytes())
    changed = [list(row) for row in ROWS]
    changed[0][11] = "25"  # Homework Club at Mission Hill: 20 → 25 seats
    changed[0][9] = "'K2','1','2','3'"
    audit_rows = _count(AuditEntry)

    plan = build_plan(read_listing(xlsx_bytes(changed)))

    [offering] = plan.offerings_with("changed")
    assert [(c.field, c.old, c.new) for c in offering.changes] == [
        ("capacity", Decimal(20), Decimal(25)),
        ("grades", ["K", "1", "2"], ["K", "1", "2", "3"]),
    ]
    [service] = plan.services_with("changed")
    assert [(c.field, c.new) for c in service.changes] == [("grades", ["K", "1", "2", "3"])]
    apply_plan(plan)
    db.session.commit()
    assert _count(AuditEntry) == audit_rows + 2  # one offering, one service


def test_an_offering_the_file_no_longer_lists_is_kept_and_said_so(
    app: Flask, district: Any, tmp_path: Path
) -> None:
    _import(xlsx_bytes())
    path = tmp_path / "shorter.xlsx"
    path.write_bytes(xlsx_bytes(ROWS[:-1]))  # Radio Zumix no longer at Charlestown
    result = app.test_cli_runner().invoke(args=["import-partner-programs", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 offering at a school this file does not list is kept as it is." in result.output
    assert "Nothing to change" in result.output
    db.session.expire_all()
    assert _count(Offering) == 11


def test_a_mapping_changed_on_its_page_recategorises_at_the_next_import(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    _import(xlsx_bytes())
    mapping = db.session.scalar(
        select(ProgramAreaMapping).where(ProgramAreaMapping.area == "Youth Media")
    )
    login("coordinator")
    page = client.get("/programs/areas").get_data(as_text=True)
    assert "Youth Media" in page
    response = client.post(
        f"/programs/areas/{mapping.id}/edit", data={"category": "arts_enrichment"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    plan = build_plan(read_listing(xlsx_bytes()))
    [radio] = plan.services_with("changed")
    assert [(c.field, c.new) for c in radio.changes] == [("category", Category.ARTS_ENRICHMENT)]


def _upload(client: FlaskClient, raw: bytes, name: str = "listing.xlsx", **extra: str) -> Any:
    return client.post(
        "/programs/import",
        data={"file": (io.BytesIO(raw), name), **extra},
        content_type="multipart/form-data",
    )


def test_the_web_review_step_is_remembered_for_the_next_import(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    login("coordinator")
    response = _upload(client, xlsx_bytes())
    assert response.status_code == 303
    preview_url = response.headers["Location"]
    token = preview_url.rstrip("/").rsplit("/", 1)[1]
    page = client.get(preview_url).get_data(as_text=True)
    assert "Hernandez Dual Language" in page
    assert _count(Service) == 0  # the preview wrote nothing

    chosen = client.post(
        f"/programs/import/{token}/review", data={"school_0": str(district["hernandez"].id)}
    )
    assert chosen.status_code == 303
    alias = db.session.scalar(select(SchoolAlias))
    assert alias.school_id == district["hernandez"].id
    page = client.get(preview_url).get_data(as_text=True)
    assert "School names to match" not in page

    page = client.get(preview_url).get_data(as_text=True)
    confirmed = client.post(f"/programs/import/{token}/confirm", data={"plan": _fingerprint(page)})
    assert confirmed.status_code == 303
    assert _count(Offering) == 12
    assert client.get(preview_url).status_code == 404  # the stored file is gone once imported

    # The next import matches the name on its own.
    plan = build_plan(read_listing(xlsx_bytes()))
    assert plan.review == [] and not plan.changes_anything
    assert {o.matched_by for o in plan.offerings if o.line == 8} == {MatchedBy.ALIAS}


def _fingerprint(page: str) -> str:
    found = re.search(r'name="plan" type="hidden" value="([0-9a-f]{64})"', page)
    assert found, "no confirmation form"
    return found.group(1)


def test_a_preview_the_registry_has_moved_past_is_not_imported(
    app: Flask,
    client: FlaskClient,
    login: Callable[..., User],
    district: Any,
    make_partner: Callable[..., Any],
) -> None:
    login("coordinator")
    preview_url = _upload(client, xlsx_bytes()).headers["Location"]
    token = preview_url.rsplit("/", 1)[1]
    fingerprint = _fingerprint(client.get(preview_url).get_data(as_text=True))
    make_partner(name="Zumix")  # added meanwhile: the preview said "new"
    response = client.post(f"/programs/import/{token}/confirm", data={"plan": fingerprint})
    assert response.status_code == 303 and response.headers["Location"].endswith(preview_url)
    assert _count(Service) == 0
    assert "Matched: Zumix" in client.get(preview_url).get_data(as_text=True)


def test_a_name_is_matched_from_its_suggestions_or_a_search_not_a_menu_of_all(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    login("coordinator")
    preview_url = _upload(client, xlsx_bytes()).headers["Location"]
    token = preview_url.rsplit("/", 1)[1]
    hernandez = district["hernandez"].id
    page = client.get(preview_url).get_data(as_text=True)
    assert f'name="pick" value="add:school_0:{hernandez}"' in page  # suggested
    assert "<optgroup" not in page  # no menu of every school per name
    response = client.post(
        f"/programs/import/{token}/review",
        data={"school_0-q": "hernández", "pick": "search:school_0"},
    )
    assert response.status_code == 200
    assert f'name="pick" value="add:school_0:{hernandez}"' in response.get_data(as_text=True)
    assert _count(SchoolAlias) == 0  # a search saves nothing


def test_a_review_naming_no_school_is_refused(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    login("coordinator")
    preview_url = _upload(client, xlsx_bytes()).headers["Location"]
    token = preview_url.rsplit("/", 1)[1]
    response = client.post(f"/programs/import/{token}/review", data={"school_0": "999999"})
    assert response.status_code == 400
    assert _count(SchoolAlias) == 0


def test_partner_text_is_shown_as_plain_text(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    rows = [list(row) for row in ROWS]
    rows[9][2] = "Zumix <b>Radio</b>"
    login("coordinator")
    preview_url = _upload(client, xlsx_bytes(rows)).headers["Location"]
    page = client.get(preview_url).get_data(as_text=True)
    assert "Zumix &lt;b&gt;Radio&lt;/b&gt;" in page
    assert "<b>Radio</b>" not in page


def test_an_upload_that_is_not_a_listing_is_refused_and_not_kept(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    login("coordinator")
    not_xlsx = _upload(client, csv_text().encode(), name="listing.xlsx")
    assert not_xlsx.status_code == 400
    assert "does not match its name" in not_xlsx.get_data(as_text=True)
    no_header = _upload(client, b"a,b\r\n1,2\r\n", name="listing.csv")
    assert no_header.status_code == 400
    assert "Organization Name" in no_header.get_data(as_text=True)
    wrong_type = _upload(client, b"x", name="listing.pdf")
    assert wrong_type.status_code == 400
    uploads = Path(app.config["UPLOAD_FOLDER"]) / "programs"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_an_upload_too_large_is_refused(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    app.config["PROGRAM_LISTING_MAX_BYTES"] = 1000
    login("coordinator")
    response = _upload(client, xlsx_bytes())
    assert response.status_code == 400
    assert "too large" in response.get_data(as_text=True)


def test_another_coordinators_upload_is_not_found(
    app: Flask, client: FlaskClient, login: Callable[..., User], district: Any
) -> None:
    login("coordinator")
    preview_url = _upload(client, xlsx_bytes()).headers["Location"]
    token = preview_url.rsplit("/", 1)[1]
    assert client.get(preview_url).status_code == 200
    client.post("/logout")
    login("coordinator")
    assert client.get(preview_url).status_code == 404
    assert client.post(f"/programs/import/{token}/review").status_code == 404
    assert client.post(f"/programs/import/{token}/confirm").status_code == 404
    assert client.get("/programs/import/not-a-token").status_code == 404
    assert _count(Service) == 0


@pytest.mark.parametrize("role", ["leader", "partner"])
@pytest.mark.parametrize(
    "method, path",
    [("GET", "/programs/import"), ("POST", "/programs/import"), ("GET", "/programs/areas"),
     ("POST", "/programs/areas")],
)  # fmt: skip
def test_only_the_district_may_import_listings(
    client: FlaskClient, login: Callable[..., User], role: str, method: str, path: str
) -> None:
    login(role)
    assert client.open(path, method=method).status_code == 404


@pytest.mark.parametrize("role", ["admin", "coordinator"])
def test_coordinators_and_admins_see_the_import(
    client: FlaskClient, login: Callable[..., User], role: str
) -> None:
    login(role)
    page = client.get("/programs/import")
    assert page.status_code == 200
    assert 'href="/programs/import"' in client.get("/").get_data(as_text=True)


def test_a_program_area_can_be_mapped_before_any_import(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login("admin")
    response = client.post(
        "/programs/areas", data={"area": "Robotics", "category": "academic_support"}
    )
    assert response.status_code == 303
    again = client.post("/programs/areas", data={"area": "ROBOTICS!", "category": "mentoring"})
    assert again.status_code == 400
    assert "already mapped" in again.get_data(as_text=True)


def test_rows_of_another_year_are_skipped(app: Flask, district: Any) -> None:
    text = (
        "School Name,Organization Name,Program Name,School Year\r\n"
        "Orchard Gardens,Zumix,Radio,2025-2026\r\n"
        "Charlestown High,Zumix,Radio,2024-25\r\n"
    )
    plan = build_plan(read_listing(text.encode()), school_year="2025-26")
    assert [o.school.id for o in plan.offerings] == [district["orchard"].id]
    assert [s.reason for s in plan.skipped] == ["the row is for 2024-25, not 2025-26"]


def test_the_cli_dry_run_prints_the_preview_and_writes_nothing(
    app: Flask, district: Any, tmp_path: Path
) -> None:
    path = tmp_path / "listing.xlsx"
    path.write_bytes(xlsx_bytes())
    audit_rows = _count(AuditEntry)
    result = app.test_cli_runner().invoke(
        args=["import-partner-programs", str(path), "--dry-run", "--year", "2025-26"]
    )
    assert result.exit_code == 0, result.output
    assert "12 rows read, 1 skipped." in result.output
    assert "Partners: 2 new, 1 matched." in result.output
    assert "Services: 5 new, 0 changed, 0 unchanged." in result.output
    assert "Offerings: 11 new, 0 changed, 0 unchanged." in result.output
    assert "Skipped row 8: no school matches 'Hernandez Dual Language'" in result.output
    assert "Hernandez Dual Language (rows 8)" in result.output
    assert "Dry run: nothing was written." in result.output
    db.session.expire_all()
    assert _count(Service) == 0 and _count(AuditEntry) == audit_rows


def test_the_cli_takes_choices_from_a_match_file_and_remembers_them(
    app: Flask, district: Any, tmp_path: Path
) -> None:
    listing = tmp_path / "listing.xlsx"
    listing.write_bytes(xlsx_bytes())
    matches = tmp_path / "matches.csv"
    matches.write_text(
        f"name,school code\r\nHernandez Dual Language,{district['hernandez'].dese_code}\r\n"
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-partner-programs", str(listing), "--match", str(matches)])
    assert result.exit_code == 0, result.output
    assert "Imported." in result.output
    db.session.expire_all()
    assert _count(Offering) == 12
    assert db.session.scalar(select(SchoolAlias.school_id)) == district["hernandez"].id

    audit_rows = _count(AuditEntry)
    again = runner.invoke(args=["import-partner-programs", str(listing)])
    assert again.exit_code == 0, again.output
    assert "Nothing to change" in again.output and "0 skipped" in again.output
    db.session.expire_all()
    assert _count(AuditEntry) == audit_rows


def test_the_cli_refuses_a_match_file_naming_no_school(
    app: Flask, district: Any, tmp_path: Path
) -> None:
    listing = tmp_path / "listing.xlsx"
    listing.write_bytes(xlsx_bytes())
    matches = tmp_path / "matches.csv"
    matches.write_text("Hernandez Dual Language,99999999\r\n")
    result = app.test_cli_runner().invoke(
        args=["import-partner-programs", str(listing), "--match", str(matches)]
    )
    assert result.exit_code != 0
    assert "no school has the code '99999999'" in result.output
    assert _count(Service) == 0


def test_the_cli_refuses_a_file_that_is_not_a_listing(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "schools.csv"
    path.write_text("School Code,School Name\r\n00350001,X\r\n")
    result = app.test_cli_runner().invoke(args=["import-partner-programs", str(path)])
    assert result.exit_code != 0
    assert re.search(r"no header row naming the Organization Name", result.output)


@pytest.mark.parametrize(
    "listed, registered",
    [
        ("Rafael Hernandez School", "Rafael Hernández K-8 School"),
        ("Boston Latin Acad.", "Boston Latin Academy"),
        ("MISSION HILL K8", "Mission Hill K-8 School"),
        ("Charlestown HS", "Charlestown High School"),
        ("St. Mary's Elem.", "Saint Marys Elementary School"),
        ("O'Bryant School of Math & Science", "The O'Bryant School of Math and Science"),
    ],
)
def test_names_match_once_normalised(listed: str, registered: str) -> None:
    assert school_key(listed) == school_key(registered)


def test_partner_names_match_without_legal_forms_and_ampersands() -> None:
    assert partner_key(BGC) == partner_key("Boys and Girls Clubs of Boston")
    assert partner_key("The Food Project, LLC") == partner_key("Food Project")


def test_matching_tries_code_local_code_name_then_remembered_alias() -> None:
    latin = SchoolRef(1, "Boston Latin Academy", "00350001", "103")
    mission = SchoolRef(2, "Mission Hill K-8 School", "00350002", "101")
    twin_a = SchoolRef(3, "Quincy Elementary", "00350003", None)
    twin_b = SchoolRef(4, "Quincy Elementary School", "00350004", None)
    matcher = SchoolMatcher(
        [latin, mission, twin_a, twin_b], {"boston latin academy": 2, "quincy elementary": 1}
    )
    assert matcher.match("Mission Hill", "101", "350001") == (latin, MatchedBy.DESE_CODE)
    assert matcher.match("Boston Latin Academy", "101") == (mission, MatchedBy.LOCAL_CODE)
    # A name that matches one school wins over an alias remembered for it.
    assert matcher.match("Boston Latin Acad.") == (latin, MatchedBy.NAME)
    # Two schools with one normalised name: the name decides nothing; a remembered choice does.
    assert matcher.match("Quincy Elementary") == (latin, MatchedBy.ALIAS)
    assert matcher.match("Nowhere Academy") is None
