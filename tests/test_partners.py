"""Partner pages: who sees and changes what, the form's rules, the list, the version check."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from registry import audit, district_time
from registry.extensions import db
from registry.models import AuditEntry, ChangeRequest, Partner
from registry.vocabulary import PartnerStatus, PartnerType
from tests.exported import csv_rows


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    # The request hook leaves the last signed-in user as the audit actor; on PostgreSQL a
    # later test's factory rows would then name a user this fresh database does not have.
    audit.set_actor(audit.SYSTEM)


def form_data(partner: Partner | None = None, **overrides: Any) -> dict[str, Any]:
    """A complete, valid partner form (the current values of a partner, when given)."""
    data: dict[str, Any] = {
        "name": "Harbor Youth Collaborative",
        "partner_type": "nonprofit",
        "description": "After-school tutoring",
        "website": "https://harbor.example",
        "contact_name": "Ana Lima",
        "email": "ana@harbor.example",
        "phone": "508-555-0100",
        "address": "1 Harbor Way",
        "zip": "01602",
        "languages": ["English", "Portuguese"],
        "district_wide": "y",
        "service_zips": "",
        "status": "approved",
        "background_check_policy": "y",
        "background_check_verified": "2025-08-01",
        "insurance_expiry": "2099-06-30",
        "insurance_liability": "1000000",
    }
    if partner is not None:
        data["name"] = partner.name
        data["version"] = str(partner.version)
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ---- who may reach which page --------------------------------------------------------------


@pytest.mark.parametrize(
    "role, status",
    [("admin", 200), ("coordinator", 200), ("leader", 200), ("partner", 302)],
)
def test_who_may_see_the_list(client, login, role, status):
    login(role)
    assert client.get("/partners/").status_code == status


def test_a_partner_user_is_sent_from_the_list_to_its_own_record(client, login):
    user = login("partner")
    response = client.get("/partners/")
    assert response.headers["Location"].endswith("/partners/mine")
    page = client.get("/partners/mine")
    assert page.status_code == 200
    assert user.partner.name in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "page", ["/partners/", "/partners/new", "/partners/mine", "/partners/1", "/partners/1/edit"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, make_partner, page):
    make_partner()
    response = client.get(page)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "role, status",
    [("admin", 200), ("coordinator", 200), ("leader", 404), ("partner", 404)],
)
def test_who_may_open_the_new_partner_form(client, login, role, status):
    login(role)
    assert client.get("/partners/new").status_code == status


@pytest.mark.parametrize(
    "role, view, edit",
    [
        ("admin", 200, 200),
        ("coordinator", 200, 200),
        ("leader", 200, 404),
        ("partner", 404, 404),
    ],
)
def test_who_may_see_and_edit_another_partner(client, login, make_partner, role, view, edit):
    other = make_partner(name="Other Org")
    login(role)
    assert client.get(f"/partners/{other.id}").status_code == view
    assert client.get(f"/partners/{other.id}/edit").status_code == edit
    posted = client.post(f"/partners/{other.id}/edit", data=form_data(other, phone="555"))
    assert posted.status_code == (302 if edit == 200 else 404)
    db.session.expire_all()
    assert (db.session.get(Partner, other.id).phone == "555") == (edit == 200)


def test_a_partner_user_sees_and_edits_its_own_record(client, login):
    user = login("partner")
    assert client.get(f"/partners/{user.partner_id}").status_code == 200
    assert client.get(f"/partners/{user.partner_id}/edit").status_code == 200


@pytest.mark.parametrize("role", ["admin", "coordinator", "leader"])
def test_mine_is_only_for_partner_users(client, login, role):
    login(role)
    assert client.get("/partners/mine").status_code == 404


def test_missing_partner_is_404(client, login):
    login("coordinator")
    assert client.get("/partners/999999").status_code == 404
    assert client.get("/partners/999999/edit").status_code == 404


@pytest.mark.parametrize("role", ["leader", "partner"])
def test_who_may_not_create_partners(client, login, role):
    login(role)
    response = client.post("/partners/new", data=form_data(name="Sneaky Org"))
    assert response.status_code == 404
    assert db.session.scalar(select(Partner).where(Partner.name == "Sneaky Org")) is None


# ---- create and edit ------------------------------------------------------------------------


def test_a_coordinator_adds_a_partner(client, login):
    login("coordinator")
    response = client.post(
        "/partners/new",
        data=form_data(district_wide=None, service_zips="01602, 01603 01602", zip="01602-1234"),
    )
    assert response.status_code == 302
    partner = db.session.scalar(select(Partner).where(Partner.name == "Harbor Youth Collaborative"))
    assert partner is not None
    assert response.headers["Location"].endswith(f"/partners/{partner.id}")
    assert partner.partner_type == PartnerType.NONPROFIT
    assert partner.status == PartnerStatus.APPROVED
    assert partner.languages == ["English", "Portuguese"]
    assert partner.district_wide is False
    assert partner.service_zips == ["01602", "01603"]
    assert partner.insurance_liability == Decimal("1000000")
    assert partner.background_check_verified == date(2025, 8, 1)
    page = client.get(f"/partners/{partner.id}").get_data(as_text=True)
    assert "01603" in page and "Ana Lima" in page and "Portuguese" in page


def test_editing_writes_an_audit_row(client, login, make_partner):
    partner = make_partner(name="Old Name")
    user = login("coordinator")
    response = client.post(
        f"/partners/{partner.id}/edit", data=form_data(partner, name="New Name", status="suspended")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Partner, partner.id).name == "New Name"
    entry = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "partner", AuditEntry.entity_id == partner.id)
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry is not None
    assert entry.user_email == user.email
    assert entry.action == "status"
    assert entry.before["name"] == "Old Name" and entry.after["name"] == "New Name"


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"zip": "1602"}, "zip", "zip code"),
        ({"website": "javascript://x.example/%0aalert(1)"}, "website", "https://"),
        ({"district_wide": None, "service_zips": ""}, "service_zips", "zip codes"),
        ({"district_wide": None, "service_zips": "01602, abc"}, "service_zips", "abc"),
        ({"insurance_liability": "-5"}, "insurance_liability", "0 or more"),
        ({"insurance_liability": "NaN"}, "insurance_liability", "number"),
        ({"insurance_liability": "1e400"}, "insurance_liability", "at most"),
        ({"insurance_expiry": "30/06/2099"}, "insurance_expiry", "date"),
        ({"partner_type": "spaceship"}, "partner_type", "choice"),
        ({"status": "emperor"}, "status", "choice"),
        ({"languages": ["Klingon"]}, "languages", "choice"),
        ({"name": ""}, "name", "required"),
        ({"name": "x" * 201}, "name", "200"),
    ],
)
def test_invalid_input_is_shown_in_place(client, login, overrides, field, message):
    login("coordinator")
    response = client.post("/partners/new", data=form_data(**overrides))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message.lower() in error.lower()
    assert db.session.scalar(select(Partner)) is None


def test_duplicate_name_is_a_field_error(client, login, make_partner):
    make_partner(name="Harbor Youth Collaborative")
    login("coordinator")
    response = client.post("/partners/new", data=form_data(name="harbor youth collaborative "))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="name-error"' in html and "already has this name" in html
    assert len(db.session.scalars(select(Partner)).all()) == 1


def test_renaming_to_another_partners_name_is_refused(client, login, make_partner):
    make_partner(name="Taken")
    partner = make_partner(name="Mine")
    login("coordinator")
    response = client.post(f"/partners/{partner.id}/edit", data=form_data(partner, name="Taken"))
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Partner, partner.id).name == "Mine"


def test_an_edit_against_an_old_version_is_refused(client, login, make_partner):
    partner = make_partner(name="Versioned", phone="1")
    login("coordinator")
    stale = form_data(partner, phone="2")
    assert (
        client.post(f"/partners/{partner.id}/edit", data=form_data(partner, phone="3")).status_code
        == 302
    )
    response = client.post(f"/partners/{partner.id}/edit", data=stale)
    assert response.status_code == 409
    assert "Someone else changed this record" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Partner, partner.id).phone == "3"


def test_an_edit_without_a_version_is_refused(client, login, make_partner):
    partner = make_partner(phone="1")
    login("coordinator")
    data = form_data(partner, phone="2")
    del data["version"]
    assert client.post(f"/partners/{partner.id}/edit", data=data).status_code == 409
    db.session.expire_all()
    assert db.session.get(Partner, partner.id).phone == "1"


def test_a_partner_user_proposes_insurance_but_not_status_or_verification(client, login):
    user = login("partner")
    partner = user.partner
    partner.status = PartnerStatus.APPLICANT
    partner.background_check_policy = False
    partner.background_check_verified = None
    db.session.commit()
    form = client.get(f"/partners/{partner.id}/edit").get_data(as_text=True)
    assert 'name="status"' not in form
    assert 'name="background_check_verified"' not in form
    response = client.post(
        f"/partners/{partner.id}/edit",
        data=form_data(
            partner,
            name=partner.name,
            insurance_expiry="2030-01-31",
            insurance_liability="2000000",
            status="approved",
            background_check_policy="y",
            background_check_verified="2025-01-01",
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    # Insurance goes to the district's review (tests/test_partner_edits.py); the rest is ignored.
    [change] = db.session.scalars(select(ChangeRequest)).all()
    assert change.changes["insurance_expiry"]["new"] == "2030-01-31"
    assert change.changes["insurance_liability"]["new"] == "2000000.00"
    assert not {"status", "background_check_policy", "background_check_verified"} & set(
        change.changes
    )
    partner = db.session.get(Partner, partner.id)
    assert partner.insurance_expiry == date(2099, 6, 30)
    assert partner.insurance_liability == Decimal("1000000")
    assert partner.status == PartnerStatus.APPLICANT
    assert partner.background_check_policy is False
    assert partner.background_check_verified is None


# ---- detail page -----------------------------------------------------------------------------


def test_detail_flags_compliance_problems(client, login, make_partner):
    partner = make_partner(
        insurance_expiry=district_time.today() - timedelta(days=1), background_check_verified=None
    )
    login("leader")
    html = client.get(f"/partners/{partner.id}").get_data(as_text=True)
    assert "Insurance expired" in html
    assert "Background check missing" in html
    assert f"/partners/{partner.id}/edit" not in html  # leaders edit nothing


def test_detail_links_services_and_mous(client, login, make_partner, make_service, make_mou):
    partner = make_partner()
    service = make_service(partner=partner, name="Reading Buddies")
    mou = make_mou(partner=partner)
    login("coordinator")
    html = client.get(f"/partners/{partner.id}").get_data(as_text=True)
    assert f"/services/{service.id}" in html and "Reading Buddies" in html
    assert f"/mous/{mou.id}" in html
    assert f"/mous/new?partner_id={partner.id}" in html
    assert f"/services/new?partner_id={partner.id}" in html


def test_a_partner_user_sees_no_new_mou_link(client, login):
    user = login("partner")
    html = client.get("/partners/mine").get_data(as_text=True)
    assert "/mous/new" not in html
    assert f"/partners/{user.partner_id}/edit" in html


# ---- the list -------------------------------------------------------------------------------


def _names(response) -> list[str]:
    rows = csv_rows(response)
    return [row[1] for row in rows[1:]]


def test_search_filters_and_sorting(client, login, make_partner, make_service):
    today = district_time.today()
    a = make_partner(
        name="Alpha Tutors", description="math help", partner_type=PartnerType.BUSINESS
    )
    b = make_partner(
        name="Beta Health", languages=["Spanish"], partner_type=PartnerType.HEALTH_CARE
    )
    make_partner(name="Gamma Arts", contact_name="Maria Tutor", insurance_expiry=None)
    make_partner(name="Delta Club", insurance_expiry=today - timedelta(days=3))
    make_partner(name="Epsilon", background_check_policy=False, status=PartnerStatus.SUSPENDED)
    make_service(partner=b)
    make_service(partner=b)
    make_service(partner=a)
    login("coordinator")

    def names(query: str) -> list[str]:
        return _names(client.get(f"/partners/?format=csv&{query}"))

    assert names("q=tutor") == ["Alpha Tutors", "Gamma Arts"]  # name or contact
    assert names("q=MATH") == ["Alpha Tutors"]  # description
    assert names("partner_type=health_care") == ["Beta Health"]
    assert names("status=suspended") == ["Epsilon"]
    assert names("language=Spanish") == ["Beta Health"]
    assert names("compliance=insurance_missing") == ["Gamma Arts"]
    assert names("compliance=insurance_expired") == ["Delta Club"]
    assert names("compliance=background_check") == ["Epsilon"]
    assert names("compliance=any_problem") == ["Delta Club", "Epsilon", "Gamma Arts"]
    assert names("sort=-name")[0] == "Gamma Arts"
    assert names("sort=-services")[:2] == ["Beta Health", "Alpha Tutors"]
    assert names("sort=type")[0] == "Alpha Tutors"  # business sorts first


def test_search_folds_accented_capitals(client, login, make_partner):
    """Names in Spanish and Portuguese: "ÉLAN" is found by "élan" on SQLite as on PostgreSQL."""
    make_partner(name="ÉLAN Artes", contact_name="João Araújo")
    make_partner(name="Elan Tutors")
    login("coordinator")

    def names(query: str) -> list[str]:
        return _names(client.get(f"/partners/?format=csv&{query}"))

    assert names("q=élan") == ["ÉLAN Artes"]
    assert names("q=ARAÚJO") == ["ÉLAN Artes"]  # the contact's name


@pytest.mark.parametrize(
    "query",
    [
        "partner_type=spaceship",
        "status=x",
        "language=Klingon",
        "compliance=%27;drop",
        "sort=nonsense",
        "sort=-",
        "page=abc",
        "page=-4",
        "page=99999999999999999999",
        "q=" + "%25" * 300,
    ],
)
def test_odd_query_strings_do_not_break_the_list(client, login, make_partner, query):
    make_partner()
    login("coordinator")
    assert client.get(f"/partners/?{query}").status_code == 200


def test_csv_exports_every_filtered_row(client, login, make_partner, app):
    for n in range(app.config["PER_PAGE"] + 3):
        make_partner(name=f"Org {n:02d}")
    make_partner(name="=HYPERLINK(evil)", status=PartnerStatus.INACTIVE)
    login("leader")
    response = client.get("/partners/?format=csv&status=approved")
    assert response.mimetype == "text/csv"
    rows = csv_rows(response)
    assert rows[0][:4] == ["ID", "Name", "Type", "Status"]
    assert len(rows) == 1 + app.config["PER_PAGE"] + 3
    everyone = csv_rows(client.get("/partners/?format=csv"))
    assert [r[1] for r in everyone if "HYPERLINK" in r[1]] == ["'=HYPERLINK(evil)"]


def test_list_paginates_and_shows_an_empty_state(client, login, make_partner, app):
    for n in range(app.config["PER_PAGE"] + 1):
        make_partner(name=f"Org {n:02d}")
    login("coordinator")
    first = client.get("/partners/").get_data(as_text=True)
    second = client.get("/partners/?page=2").get_data(as_text=True)
    assert "Org 00" in first and "Org 25" not in first
    assert "Org 25" in second
    assert "No partners match." in client.get("/partners/?q=zzzz").get_data(as_text=True)


def test_saving_keeps_a_language_outside_the_usual_list(client, login, make_partner):
    partner = make_partner(languages=["English", "Swahili"])
    login("coordinator")
    form = client.get(f"/partners/{partner.id}/edit").get_data(as_text=True)
    assert 'value="Swahili"' in form
    data = form_data(partner, languages=["English", "Swahili"])
    assert client.post(f"/partners/{partner.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(Partner, partner.id).languages == ["English", "Swahili"]


def test_a_refusal_without_a_field_is_shown_once_in_the_error_summary(
    client, login, make_partner, monkeypatch
):
    """A form-level refusal is listed in the error summary (which takes focus), not repeated
    in a second alert beside it."""
    from registry.partners import services as partner_services
    from registry.refusals import Refused

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise Refused("Nothing may change today.")

    monkeypatch.setattr(partner_services, "update_partner", refuse)
    partner = make_partner(name="Old Name")
    login("coordinator")
    response = client.post(f"/partners/{partner.id}/edit", data=form_data(partner, name="New"))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert page.count("Nothing may change today.") == 1
    summary = page[page.index('class="error-summary"') :]
    assert summary.index("Nothing may change today.") < summary.index("</div>")
