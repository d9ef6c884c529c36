"""School pages: who sees what, the list's search/filters/sort/export, the form and its rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from registry.audit import SYSTEM, set_actor
from registry.extensions import db
from registry.models import AuditEntry, School
from registry.refusals import Refused
from registry.schools.services import SchoolData, create_school, current_school_year
from registry.vocabulary import MOUStatus
from tests.exported import csv_rows, csv_text

THIS_YEAR = current_school_year()


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    # The signed-in user of an earlier test's request lingers in the audit context; on
    # PostgreSQL its id (gone with that test's rows) would break the audit foreign key.
    set_actor(SYSTEM)


def _form(**overrides):
    data = {
        "dese_code": "03480505",
        "name": "Elm Park Community",
        "grades": ["K", "1", "2", "3", "4", "5"],
        "enrollment": "412",
        "address": "23 North Ashland Street",
        "zip": "01609",
        "school_year": "2025-26",
        "econ-disadvantaged": "71.4",
        "english-learners": "38.2",
        "disabilities": "",
        "high-needs": "84",
        "chronically-absent": "",
    }
    data.update(overrides)
    return data


# ---- access ----------------------------------------------------------------------------

PAGES = ["/schools/", "/schools/new", "/schools/{id}", "/schools/{id}/edit", "/schools/import"]
ACCESS = {
    "admin": (200, 200, 200, 200, 200),
    "coordinator": (200, 200, 200, 200, 200),
    "leader": (200, 404, 200, 404, 404),
    "partner": (404, 404, 404, 404, 404),
}


@pytest.mark.parametrize(
    "role, page, status",
    [(role, page, ACCESS[role][i]) for role in ACCESS for i, page in enumerate(PAGES)],
)
def test_who_may_open_school_pages(client, login, make_school, role, page, status):
    school = make_school()
    login(role)
    assert client.get(page.format(id=school.id)).status_code == status


@pytest.mark.parametrize("role", ["leader", "partner"])
def test_readers_and_partners_cannot_post_changes(client, login, make_school, role):
    school = make_school(name="Unchanged")
    login(role)
    response = client.post(f"/schools/{school.id}/edit", data=_form(version=school.version))
    assert response.status_code == 404
    assert client.post("/schools/new", data=_form()).status_code == 404
    db.session.refresh(school)
    assert school.name == "Unchanged"


def test_anonymous_visitors_are_sent_to_sign_in(client, make_school):
    school = make_school()
    response = client.get(f"/schools/{school.id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "path",
    ["/schools/999999", "/schools/999999/edit", "/schools/abc", "/schools/99999999999999999999"],
)
def test_missing_schools_are_404(client, login, path):
    login("admin")
    assert client.get(path).status_code == 404


# ---- list --------------------------------------------------------------------------------


def _names(response) -> list[str]:
    text = response.get_data(as_text=True)
    return [line.split(">")[-1] for line in text.split("</a></th>")[:-1]]


def test_list_searches_name_code_and_zip(client, login, make_school):
    make_school(name="Elm Park", dese_code="03480505", zip="01609")
    make_school(name="Burncoat", dese_code="03480010", zip="01606")
    login("leader")
    assert _names(client.get("/schools/?q=elm")) == ["Elm Park"]
    assert _names(client.get("/schools/?q=0348001")) == ["Burncoat"]
    assert _names(client.get("/schools/?q=01606")) == ["Burncoat"]
    assert "No schools match." in client.get("/schools/?q=zzz").get_data(as_text=True)


def test_list_filters_by_level_and_zip(client, login, make_school):
    make_school(name="Little", grades=["PK", "K", "1"], zip="01602")
    make_school(name="KEight", grades=["K", *[str(g) for g in range(1, 9)]], zip="01602")
    make_school(name="Big", grades=["9", "10", "11", "12"], zip="01604")
    make_school(name="KSix", grades=["K", "1", "2", "3", "4", "5", "6"], zip="01602")
    make_school(name="SixEight", grades=["6", "7", "8"], zip="01602")
    login("coordinator")
    assert _names(client.get("/schools/?level=elementary")) == ["KEight", "KSix", "Little"]
    assert _names(client.get("/schools/?level=middle")) == ["KEight", "SixEight"]
    assert _names(client.get("/schools/?level=high")) == ["Big"]
    assert _names(client.get("/schools/?zip=01604")) == ["Big"]
    # an unknown level is ignored rather than an error
    assert len(_names(client.get("/schools/?level=university"))) == 5


def test_list_filters_schools_without_an_active_partner(client, login, make_school, make_mou):
    served = make_school(name="Served")
    make_school(name="Alone")
    lapsed = make_school(name="Lapsed")
    make_mou(schools=[served], status=MOUStatus.ACTIVE, school_year=THIS_YEAR)
    make_mou(schools=[lapsed], status=MOUStatus.DRAFT, school_year=THIS_YEAR)
    login("leader")
    assert _names(client.get("/schools/?no_partner=1")) == ["Alone", "Lapsed"]


def test_list_sorts(client, login, make_school, make_mou, make_partner):
    low = make_school(name="A Low Need", enrollment=300, indicators={"pct_econ_disadvantaged": 20})
    make_school(name="B High Need", enrollment=500, indicators={"pct_econ_disadvantaged": 90})
    mid = make_school(name="C Mid", enrollment=100, indicators={"pct_econ_disadvantaged": 50})
    for _ in range(2):
        make_mou(schools=[mid], status=MOUStatus.ACTIVE, school_year=THIS_YEAR)
    make_mou(schools=[low], status=MOUStatus.ACTIVE, school_year=THIS_YEAR)
    login("coordinator")
    assert _names(client.get("/schools/?sort=-econ")) == ["B High Need", "C Mid", "A Low Need"]
    assert _names(client.get("/schools/?sort=enrollment")) == ["C Mid", "A Low Need", "B High Need"]
    assert _names(client.get("/schools/?sort=-partners"))[0] == "C Mid"
    assert _names(client.get("/schools/?sort=-name"))[0] == mid.name
    assert client.get("/schools/?sort=nonsense&page=abc").status_code == 200


def test_list_paginates(client, login, make_school):
    for n in range(30):
        make_school(name=f"School {n:02d}")
    login("leader")
    assert len(_names(client.get("/schools/"))) == 25
    assert len(_names(client.get("/schools/?page=2"))) == 5
    # A page past the end (an old link) is the last page, not an empty list.
    assert _names(client.get("/schools/?page=99")) == _names(client.get("/schools/?page=2"))


def test_csv_export_has_every_filtered_row(client, login, make_school):
    for n in range(30):
        make_school(name=f"Elementary {n:02d}", indicators={"pct_english_learners": 12.5})
    make_school(name="=HYPERLINK(evil)", grades=["9"])
    login("leader")
    response = client.get("/schools/?level=elementary&format=csv")
    assert response.mimetype == "text/csv"
    rows = csv_rows(response)
    assert rows[0][:2] == ["DESE code", "Name"]
    assert len(rows) == 31
    assert "12.5%" in rows[1]
    everything = csv_text(client.get("/schools/?format=csv&q=HYPERLINK"))
    assert "'=HYPERLINK(evil)" in everything


# ---- detail -------------------------------------------------------------------------------


def test_detail_shows_indicators_partners_and_commitments(
    client, login, make_school, make_mou, make_service
):
    school = make_school(
        name="Elm Park",
        indicators={"pct_econ_disadvantaged": Decimal("71.4"), "pct_english_learners": None},
    )
    service = make_service(name="Reading Buddies")
    mou = make_mou(
        partner=service.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        school_year=THIS_YEAR,
        commitments=[(service, school, 25)],
    )
    login("leader")
    page = client.get(f"/schools/{school.id}").get_data(as_text=True)
    assert "71.4%" in page
    assert "missing" in page
    assert service.partner.name in page
    assert "Reading Buddies" in page
    assert f"/mous/{mou.id}" in page
    assert "no partner with an active MOU" not in page


def test_detail_warns_when_no_active_partner(client, login, make_school):
    school = make_school()
    login("coordinator")
    page = client.get(f"/schools/{school.id}").get_data(as_text=True)
    assert "no partner with an active MOU" in page
    assert "No indicators recorded yet." in page


# ---- create and edit -------------------------------------------------------------------------


def test_coordinator_adds_a_school(client, login):
    login("coordinator")
    response = client.post("/schools/new", data=_form())
    assert response.status_code == 302
    school = db.session.scalar(select(School))
    assert school.grades == ["K", "1", "2", "3", "4", "5"]
    row = school.indicators_for("2025-26")
    assert row.pct_econ_disadvantaged == Decimal("71.4")
    assert row.pct_disabilities is None  # blank is missing, never 0
    assert response.headers["Location"].endswith(f"/schools/{school.id}")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("dese_code", "1234567", "exactly 8 digits"),
        ("dese_code", "1234567a", "exactly 8 digits"),
        ("dese_code", "123456789", "exactly 8 digits"),
        ("name", "", "This field is required."),
        ("enrollment", "-1", "between 0 and"),
        ("enrollment", "abc", "Not a valid integer value."),
        ("enrollment", "9" * 40, "between 0 and"),
        ("high-needs", "120", "from 0 to 100"),
        ("high-needs", "-3", "from 0 to 100"),
        ("high-needs", "NaN", "from 0 to 100"),
        ("high-needs", "lots", "Not a valid decimal value."),
        ("school_year", "2025-27", "school year like 2025-26"),
        ("school_year", "2025", "school year like 2025-26"),
        ("zip", "1609", "zip code"),
        ("grades", [], "at least one grade"),
        ("grades", ["K", "13"], "not a valid choice"),
    ],
)
def test_form_refuses_bad_values(client, login, field, value, message):
    login("coordinator")
    response = client.post("/schools/new", data=_form(**{field: value}))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(School.id))) == 0


def test_duplicate_dese_code_is_a_field_error(client, login, make_school):
    make_school(dese_code="03480505", name="Elm Park Original")
    login("coordinator")
    response = client.post("/schools/new", data=_form(name="Copy"))
    assert response.status_code == 400
    assert "already used by Elm Park Original" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(School.id))) == 1


def test_edit_changes_the_school_and_one_year_of_indicators(client, login, make_school):
    school = make_school(indicators={"pct_high_needs": 50}, year="2024-25")
    login("admin")
    form = client.get(f"/schools/{school.id}/edit").get_data(as_text=True)
    assert 'value="2024-25"' in form
    response = client.post(
        f"/schools/{school.id}/edit",
        data=_form(dese_code=school.dese_code, name="Renamed", version=school.version),
    )
    assert response.status_code == 302
    db.session.refresh(school)
    assert school.name == "Renamed"
    assert school.version == 2
    assert {row.school_year for row in school.indicators} == {"2024-25", "2025-26"}
    assert school.indicators_for("2024-25").pct_high_needs == Decimal(50)


def test_saving_an_unchanged_school_writes_no_audit_row(client, login, make_school):
    school = make_school(indicators={"pct_high_needs": 50}, year="2025-26")
    login("coordinator")
    before = db.session.scalar(select(func.count(AuditEntry.id)))
    data = {
        "dese_code": school.dese_code,
        "name": school.name,
        "grades": school.grades,
        "enrollment": str(school.enrollment),
        "address": school.address,
        "zip": school.zip,
        "school_year": "2025-26",
        "high-needs": "50.00",
        "version": str(school.version),
    }
    assert client.post(f"/schools/{school.id}/edit", data=data).status_code == 302
    assert db.session.scalar(select(func.count(AuditEntry.id))) == before
    db.session.refresh(school)
    assert school.version == 1


def test_stale_edit_is_refused_and_overwrites_nothing(client, login, make_school):
    school = make_school(name="Original")
    opened_at = school.version
    school.name = "Changed by someone else"
    db.session.commit()
    login("coordinator")
    response = client.post(
        f"/schools/{school.id}/edit",
        data=_form(dese_code=school.dese_code, name="Mine", version=opened_at),
    )
    assert response.status_code == 409
    assert "Someone else changed this record" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(School, school.id).name == "Changed by someone else"


def test_edit_without_a_version_is_refused(client, login, make_school):
    school = make_school(name="Original")
    login("coordinator")
    response = client.post(
        f"/schools/{school.id}/edit", data=_form(dese_code=school.dese_code, name="Mine")
    )
    assert response.status_code == 409


def test_edit_refuses_another_schools_code(client, login, make_school):
    make_school(dese_code="11111111", name="Holder")
    school = make_school(dese_code="22222222")
    login("coordinator")
    response = client.post(
        f"/schools/{school.id}/edit", data=_form(dese_code="11111111", version=school.version)
    )
    assert response.status_code == 400
    assert "already used by Holder" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"dese_code": "123"}, "dese_code"),
        ({"enrollment": -1}, "enrollment"),
        ({"school_year": "2025-27"}, "school_year"),
        ({"indicators": {"pct_high_needs": Decimal(101)}}, "pct_high_needs"),
    ],
)
def test_the_service_holds_any_caller_to_the_rules(app, change, field):
    values = {
        "dese_code": "03480505",
        "name": "Elm",
        "grades": ["K"],
        "enrollment": 10,
        "school_year": "2025-26",
        "indicators": {},
    }
    values.update(change)
    with app.test_request_context(method="POST"), pytest.raises(Refused) as caught:
        create_school(SchoolData(**values))
    assert caught.value.field == field


def test_a_local_school_code_is_optional_and_shown(client, login, make_school):
    login("coordinator")
    assert client.post("/schools/new", data=_form(local_code="  RC-101 ")).status_code == 302
    school = db.session.scalar(select(School))
    assert school.local_code == "RC-101"
    page = client.get(f"/schools/{school.id}").get_data(as_text=True)
    assert "Local school code" in page and "RC-101" in page
    other = make_school()
    assert other.local_code is None  # unset codes never clash
    response = client.post(
        f"/schools/{school.id}/edit",
        data=_form(local_code="", version=str(school.version)),
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(School, school.id).local_code is None  # cleared on the form


def test_a_local_school_code_in_use_is_refused(client, login, make_school):
    make_school(dese_code="11111111", name="Holder School", local_code="RC-7")
    login("coordinator")
    response = client.post("/schools/new", data=_form(local_code="RC-7"))
    assert response.status_code == 400
    assert "The local school code RC-7 is already used by Holder School." in response.get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count(School.id))) == 1


def test_no_page_shows_an_indicator_attribute_name(client, login, make_school):
    school = make_school(indicators={"pct_econ_disadvantaged": 60}, year="2025-26")
    login("coordinator")
    for path in (
        "/schools/",
        "/schools/new",
        f"/schools/{school.id}",
        f"/schools/{school.id}/edit",
    ):
        page = client.get(path).get_data(as_text=True)
        assert "pct_" not in page, path
    assert "Low income / economically disadvantaged" in client.get(
        f"/schools/{school.id}"
    ).get_data(as_text=True)
