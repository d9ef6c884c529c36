"""Service pages: who sees and changes what, the form's rules, the list, capacity left."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from registry import audit, district_time
from registry.extensions import db
from registry.models import AuditEntry, Service
from registry.schoolyear import school_year_of as current_school_year
from registry.vocabulary import Category, MOUStatus, Setting, Unit
from tests.exported import csv_rows


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    # The request hook leaves the last signed-in user as the audit actor; on PostgreSQL a
    # later test's factory rows would then name a user this fresh database does not have.
    audit.set_actor(audit.SYSTEM)


def form_data(service: Service | None = None, **overrides: Any) -> dict[str, Any]:
    """A complete, valid service form (for a given service's partner and version, when given)."""
    data: dict[str, Any] = {
        "name": "Reading Buddies",
        "category": "academic_support",
        "description": "Volunteer reading partners",
        "grades": ["K", "1", "2"],
        "languages": ["English", "Spanish"],
        "setting": "school_day",
        "unit": "seats",
        "capacity": "120",
        "cost": "2500.50",
        "active": "y",
    }
    if service is not None:
        data["partner_id"] = str(service.partner_id)
        data["name"] = service.name
        data["version"] = str(service.version)
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ---- who may reach which page --------------------------------------------------------------


@pytest.mark.parametrize(
    "role, listing, view, edit, new",
    [
        ("admin", 200, 200, 200, 200),
        ("coordinator", 200, 200, 200, 200),
        ("leader", 200, 200, 404, 404),
        ("partner", 200, 404, 404, 200),  # another partner's service
    ],
)
def test_role_page_matrix(client, login, make_service, role, listing, view, edit, new):
    service = make_service()
    login(role)
    assert client.get("/services/").status_code == listing
    assert client.get(f"/services/{service.id}").status_code == view
    assert client.get(f"/services/{service.id}/edit").status_code == edit
    assert client.get("/services/new").status_code == new


@pytest.mark.parametrize("page", ["/services/", "/services/new", "/services/1", "/services/1/edit"])
def test_anonymous_visitors_are_sent_to_sign_in(client, make_service, page):
    make_service()
    response = client.get(page)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_missing_service_is_404(client, login):
    login("coordinator")
    assert client.get("/services/424242").status_code == 404
    assert client.get("/services/424242/edit").status_code == 404


def test_a_partner_user_sees_and_edits_only_its_own_services(client, login, make_service):
    user = login("partner")
    own = make_service(partner=user.partner, name="Our Tutoring")
    other = make_service(name="Their Mentoring")
    assert client.get(f"/services/{own.id}").status_code == 200
    # Its edits to a listed service go to review, never straight to the listing.
    response = client.get(f"/services/{own.id}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/services/{own.id}/changes")
    listing = client.get("/services/").get_data(as_text=True)
    assert "Our Tutoring" in listing and "Their Mentoring" not in listing
    exported = client.get("/services/?format=csv").get_data(as_text=True)
    assert "Our Tutoring" in exported and "Their Mentoring" not in exported
    response = client.post(f"/services/{other.id}/edit", data=form_data(other, name="Mine now"))
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Service, other.id).name == "Their Mentoring"


def test_a_partner_user_cannot_create_for_another_partner(client, login, make_partner):
    user = login("partner")
    other = make_partner(name="Someone Else")
    form = client.get("/services/new").get_data(as_text=True)
    assert 'name="partner_id"' not in form
    response = client.post("/services/new", data=form_data(partner_id=str(other.id)))
    assert response.status_code == 302
    service = db.session.scalar(select(Service).where(Service.name == "Reading Buddies"))
    assert service.partner_id == user.partner_id


def test_a_partner_user_cannot_move_or_rename_its_service_directly(
    client, login, make_service, make_partner
):
    user = login("partner")
    own = make_service(partner=user.partner, name="Original")
    other = make_partner()
    response = client.post(
        f"/services/{own.id}/edit", data=form_data(own, partner_id=str(other.id), name="Renamed")
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/services/{own.id}/changes")
    db.session.expire_all()
    service = db.session.get(Service, own.id)
    assert service.name == "Original"
    assert service.partner_id == user.partner_id


def test_a_partner_users_new_service_waits_for_review(client, login):
    login("partner")
    response = client.post("/services/new", data=form_data())
    assert response.status_code == 302
    service = db.session.scalar(select(Service).where(Service.name == "Reading Buddies"))
    assert service.active is False
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "reviews it before it is listed" in page


def test_leaders_cannot_post_changes(client, login, make_service):
    service = make_service(name="Fixed")
    login("leader")
    assert (
        client.post(f"/services/{service.id}/edit", data=form_data(service, name="x")).status_code
        == 404
    )
    assert (
        client.post("/services/new", data=form_data(partner_id=str(service.partner_id))).status_code
        == 404
    )
    db.session.expire_all()
    assert db.session.get(Service, service.id).name == "Fixed"
    assert len(db.session.scalars(select(Service)).all()) == 1


# ---- create and edit ------------------------------------------------------------------------


def test_a_coordinator_adds_a_service(client, login, make_partner):
    partner = make_partner(name="Harbor Youth")
    login("coordinator")
    form = client.get(f"/services/new?partner_id={partner.id}").get_data(as_text=True)
    assert f'<input type="hidden" name="partner_id" value="{partner.id}">' in form
    response = client.post(
        "/services/new", data=form_data(partner_id=str(partner.id), grades=["2", "K", "1"])
    )
    assert response.status_code == 302
    service = db.session.scalar(select(Service).where(Service.name == "Reading Buddies"))
    assert response.headers["Location"].endswith(f"/services/{service.id}")
    assert service.partner_id == partner.id
    assert service.category == Category.ACADEMIC_SUPPORT
    assert service.setting == Setting.SCHOOL_DAY
    assert service.unit == Unit.SEATS
    assert service.grades == ["K", "1", "2"]
    assert service.languages == ["English", "Spanish"]
    assert service.capacity == Decimal("120")
    assert service.cost == Decimal("2500.50")
    assert service.active is True
    html = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert "Harbor Youth" in html and f"/partners/{partner.id}" in html


def test_editing_writes_an_audit_row(client, login, make_service):
    service = make_service(name="Before", capacity=Decimal(10))
    user = login("coordinator")
    response = client.post(
        f"/services/{service.id}/edit", data=form_data(service, name="After", capacity="15")
    )
    assert response.status_code == 302
    entry = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "service", AuditEntry.entity_id == service.id)
        .order_by(AuditEntry.id.desc())
    ).first()
    assert entry.action == "update"
    assert entry.user_email == user.email
    assert entry.before["name"] == "Before" and entry.after["name"] == "After"
    assert Decimal(entry.after["capacity"]) == Decimal(15)


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"capacity": "-1"}, "capacity", "0 or more"),
        ({"capacity": "abc"}, "capacity", "decimal"),
        ({"capacity": "NaN"}, "capacity", "number"),
        ({"capacity": "1e30"}, "capacity", "at most"),
        ({"cost": ""}, "cost", "cost"),
        ({"cost": "-0.01"}, "cost", "0 or more"),
        ({"grades": None}, "grades", "at least one grade"),
        ({"grades": ["13"]}, "grades", "choice"),
        ({"category": "wizardry"}, "category", "choice"),
        ({"unit": "furlongs"}, "unit", "choice"),
        ({"partner_id": "abc"}, "partner_id", "partner"),
        ({"partner_id": "999999"}, "partner_id", "choice"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_invalid_input_is_shown_in_place(client, login, make_partner, overrides, field, message):
    partner = make_partner()
    login("coordinator")
    response = client.post(
        "/services/new", data=form_data(**{"partner_id": str(partner.id), **overrides})
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    error = html.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message.lower() in error.lower()
    assert db.session.scalar(select(Service)) is None


def test_an_edit_against_an_old_version_is_refused(client, login, make_service):
    service = make_service(name="Original")
    login("coordinator")
    stale = form_data(service, name="Stale edit")
    assert (
        client.post(
            f"/services/{service.id}/edit", data=form_data(service, name="First")
        ).status_code
        == 302
    )
    response = client.post(f"/services/{service.id}/edit", data=stale)
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Service, service.id).name == "First"


def test_capacity_cannot_drop_below_this_years_commitments(
    client, login, make_service, make_mou, make_school
):
    service = make_service(capacity=Decimal(100))
    year = current_school_year(district_time.today())
    make_mou(partner=service.partner, school_year=year, commitments=[(service, make_school(), 60)])
    login("coordinator")
    response = client.post(f"/services/{service.id}/edit", data=form_data(service, capacity="50"))
    assert response.status_code == 400
    assert 'id="capacity-error"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Service, service.id).capacity == Decimal(100)


# ---- detail: commitments and capacity left ----------------------------------------------------


def test_detail_shows_commitments_and_remaining_capacity(
    client, login, make_service, make_mou, make_school
):
    service = make_service(capacity=Decimal(100), name="Tutoring")
    partner = service.partner
    year = current_school_year(district_time.today())
    north, south = make_school(name="North Elementary"), make_school(name="South Elementary")
    live = make_mou(
        partner=partner,
        school_year=year,
        schools=[north, south],
        status=MOUStatus.ACTIVE,
        commitments=[(service, north, 30), (service, south, 25)],
    )
    make_mou(
        partner=partner,
        school_year=year,
        schools=[north],
        status=MOUStatus.TERMINATED,
        commitments=[(service, north, 40)],
    )
    make_mou(
        partner=partner, school_year="2019-20", schools=[north], commitments=[(service, north, 99)]
    )
    login("coordinator")
    html = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert "North Elementary" in html and "South Elementary" in html
    assert f"/mous/{live.id}" in html
    assert f"/schools/{north.id}" in html
    committed = html.split("Committed for", 1)[0].rsplit('class="value">', 1)[1].split("<", 1)[0]
    remaining = html.split("Remaining for", 1)[0].rsplit('class="value">', 1)[1].split("<", 1)[0]
    assert committed == "55"  # the terminated MOU and other years do not count
    assert remaining == "45"


def test_school_year_starts_in_july():
    assert current_school_year(date(2025, 6, 30)) == "2024-25"
    assert current_school_year(date(2025, 7, 1)) == "2025-26"
    assert current_school_year(date(2099, 12, 31)) == "2099-00"


# ---- the list -------------------------------------------------------------------------------


def _names(response) -> list[str]:
    rows = csv_rows(response)
    return [row[1] for row in rows[1:]]


def test_search_filters_and_sorting(client, login, make_partner, make_service):
    harbor = make_partner(name="Harbor Youth")
    zenith = make_partner(name="Zenith Health")
    make_service(
        partner=harbor,
        name="Algebra Club",
        description="math",
        capacity=Decimal(40),
        cost=Decimal(900),
        grades=["9", "10"],
    )
    make_service(
        partner=harbor,
        name="Choir",
        category=Category.ARTS_ENRICHMENT,
        setting=Setting.AFTER_SCHOOL,
        languages=["Spanish"],
        capacity=Decimal(20),
        grades=["1"],
        active=False,
    )
    make_service(
        partner=zenith,
        name="Dental Van",
        category=Category.PHYSICAL_HEALTH,
        setting=Setting.SCHOOL_DAY,
        unit=Unit.HOURS,
        capacity=Decimal(500),
        cost=Decimal(10),
        grades=["12"],
    )
    login("leader")

    def names(query: str) -> list[str]:
        return _names(client.get(f"/services/?format=csv&{query}"))

    assert names("") == ["Algebra Club", "Choir", "Dental Van"]
    assert names("q=MATH") == ["Algebra Club"]
    assert names("q=zenith") == ["Dental Van"]  # partner name
    assert names("category=arts_enrichment") == ["Choir"]
    assert names("setting=school_day") == ["Dental Van"]
    assert names("unit=hours") == ["Dental Van"]
    assert names(f"partner={harbor.id}") == ["Algebra Club", "Choir"]
    assert names("grade=1") == ["Choir"]  # not grade 10 or 12
    assert names("grade=12") == ["Dental Van"]
    assert names("language=Spanish") == ["Choir"]
    assert names("active=no") == ["Choir"]
    assert names("active=yes") == ["Algebra Club", "Dental Van"]
    assert names("sort=-capacity") == ["Dental Van", "Algebra Club", "Choir"]
    assert names("sort=cost")[-1] == "Algebra Club"
    assert names("sort=-partner")[0] == "Dental Van"
    assert names("sort=category")[0] == "Algebra Club"


@pytest.mark.parametrize(
    "query",
    [
        "partner=abc",
        "partner=999999",
        "grade=99",
        "active=maybe",
        "category=x",
        "sort=-",
        "page=0",
        "q=%25_",
    ],
)
def test_odd_query_strings_do_not_break_the_list(client, login, make_service, query):
    make_service()
    login("coordinator")
    assert client.get(f"/services/?{query}").status_code == 200


def test_csv_export_content(client, login, make_service, app):
    service = make_service(
        name="+cmd|calc",
        grades=["K", "1"],
        languages=["English", "Somali"],
        capacity=Decimal("12.5"),
    )
    for n in range(app.config["PER_PAGE"]):
        make_service(name=f"Filler {n:02d}")
    login("coordinator")
    response = client.get("/services/?format=csv")
    assert response.mimetype == "text/csv"
    rows = csv_rows(response)
    assert rows[0][:4] == ["ID", "Name", "Partner ID", "Partner"]
    assert len(rows) == 1 + 1 + app.config["PER_PAGE"]
    row = next(r for r in rows if r[0] == str(service.id))
    assert row[1] == "'+cmd|calc"
    assert row[3] == service.partner.name
    assert row[6] == "K 1" and row[7] == "English; Somali"
    assert Decimal(row[9]) == Decimal("12.5")


def test_list_paginates_and_shows_an_empty_state(client, login, make_service, app):
    partner = make_service().partner
    for n in range(app.config["PER_PAGE"]):
        make_service(partner=partner, name=f"Svc {n:02d}")
    login("coordinator")
    assert "Svc 00" in client.get("/services/").get_data(as_text=True)
    assert "Svc 24" in client.get("/services/?page=2").get_data(as_text=True)
    assert "No services match." in client.get("/services/?q=nothing-like-this").get_data(
        as_text=True
    )
