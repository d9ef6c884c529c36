"""Offerings on a service's page: who may add, change and remove them, the form's rules,
the audit trail, and the table of schools with what is committed and left."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from registry import audit, district_time
from registry.extensions import db
from registry.models import AuditEntry, Offering, Service
from registry.schoolyear import school_year_of
from registry.vocabulary import MOUStatus


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    # As in test_services: a later test's factory rows must not name an earlier test's user.
    audit.set_actor(audit.SYSTEM)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def offerings_count() -> int:
    return db.session.scalar(select(func.count(Offering.id))) or 0


# ---- who may do what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, status",
    [("admin", 200), ("coordinator", 200), ("leader", 404), ("partner", 404)],
)
def test_who_may_manage_another_partners_offerings(
    client, login, make_offering, role, status
) -> None:
    offering = make_offering()
    service_id = offering.service_id
    login(role)
    base = f"/services/{service_id}/offerings"
    assert client.get(f"{base}/new").status_code == status
    assert client.get(f"{base}/{offering.id}/edit").status_code == status
    removed = client.post(f"{base}/{offering.id}/delete")
    assert removed.status_code == (302 if status == 200 else 404)
    assert offerings_count() == (0 if status == 200 else 1)


def test_a_partners_offering_changes_go_to_review(
    client, login, make_service, make_school, make_offering
) -> None:
    user = login("partner")
    service = make_service(partner=user.partner, name="Homework help")
    school = make_school(name="Lincoln Elementary")
    response = client.post(
        f"/services/{service.id}/offerings/new",
        data={"school_id": str(school.id), "capacity": "25", "days": "Mon, Wed"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/partners/services/{service.id}/changes")
    assert offerings_count() == 0
    offering = make_offering(service=service, school=school, days="Tue")
    base = f"/services/{service.id}/offerings/{offering.id}"
    assert client.post(f"{base}/edit", data={"days": "Fri", "capacity": "99"}).status_code == 302
    assert client.post(f"{base}/delete").status_code == 302
    db.session.expire_all()
    kept = db.session.get(Offering, offering.id)
    assert kept is not None and kept.days == "Tue" and kept.capacity == 20


def test_an_offering_of_another_service_is_not_found_under_this_one(
    client, login, make_service, make_offering
) -> None:
    elsewhere = make_offering()
    service = make_service()
    login("coordinator")
    base = f"/services/{service.id}/offerings/{elsewhere.id}"
    assert client.get(f"{base}/edit").status_code == 404
    assert client.post(f"{base}/delete").status_code == 404
    assert offerings_count() == 1


def test_readers_see_offerings_without_the_buttons(client, login, make_offering) -> None:
    offering = make_offering(capacity=Decimal(20), days="Tuesdays", time="3–5 pm")
    login("leader")
    page = text(client.get(f"/services/{offering.service_id}"))
    assert offering.school.name in page and "Tuesdays" in page and "3–5 pm" in page
    assert "/offerings/new" not in page and "/delete" not in page


# ---- the form -------------------------------------------------------------------------------


def test_adding_editing_and_removing_write_audit_rows(
    client, login, make_service, make_school
) -> None:
    user = login("coordinator")
    service = make_service(grades=["K", "1", "2", "3"])
    school = make_school()
    client.post(
        f"/services/{service.id}/offerings/new",
        data={"school_id": str(school.id), "capacity": "20", "grades": ["1", "2"]},
    )
    offering = db.session.scalars(select(Offering)).one()
    assert offering.grades == ["1", "2"]
    response = client.post(
        f"/services/{service.id}/offerings/{offering.id}/edit",
        data={"capacity": "", "time": "After school", "version": str(offering.version)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).capacity is None
    assert client.post(f"/services/{service.id}/offerings/{offering.id}/delete").status_code == 302
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "offering").order_by(AuditEntry.id)
    ).all()
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert all(e.user_id == user.id for e in entries)
    assert entries[0].after["capacity"] == "20.00"
    assert entries[1].before["capacity"] == "20.00" and entries[1].after["capacity"] is None
    assert entries[1].after["time"] == "After school"
    # The trail names the row by its service and school, not by a bare id.
    assert all(f"{service.name} · {school.name}" in e.summary for e in entries), [
        e.summary for e in entries
    ]


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"school_id": "0"}, "school_id", "Choose a school"),
        ({"capacity": "-1"}, "capacity", "0 or more"),
        ({"capacity": "NaN"}, "capacity", "number"),
        ({"grades": ["12"]}, "grades", "choice"),
        ({"days": "x" * 201}, "days", "200"),
    ],
)
def test_bad_input_is_shown_in_place_and_saves_nothing(
    client, login, make_service, make_school, data, field, message
) -> None:
    service = make_service(grades=["K", "1"])
    school = make_school()
    login("coordinator")
    response = client.post(
        f"/services/{service.id}/offerings/new", data={"school_id": str(school.id), **data}
    )
    assert response.status_code == 400
    page = text(response)
    assert f'id="{field}-error"' in page
    assert message.lower() in page.split(f'id="{field}-error">', 1)[1].split("</p>")[0].lower()
    assert 'class="error-summary"' in page
    assert offerings_count() == 0


def test_a_school_is_offered_once_per_service(client, login, make_offering) -> None:
    offering = make_offering()
    login("coordinator")
    form = client.get(f"/services/{offering.service_id}/offerings/new")
    assert f'<option value="{offering.school_id}"' not in form.get_data(as_text=True)
    response = client.post(
        f"/services/{offering.service_id}/offerings/new",
        data={"school_id": str(offering.school_id)},
    )
    assert response.status_code == 400
    assert offerings_count() == 1


def test_an_edit_against_an_old_version_is_refused(client, login, make_offering) -> None:
    offering = make_offering(capacity=Decimal(20))
    login("coordinator")
    url = f"/services/{offering.service_id}/offerings/{offering.id}/edit"
    old = str(offering.version)
    assert client.post(url, data={"capacity": "30", "version": old}).status_code == 302
    assert client.post(url, data={"capacity": "40", "version": old}).status_code == 409
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).capacity == 30


def test_an_offering_with_commitments_this_year_is_not_removed(
    client, login, make_offering, make_mou
) -> None:
    offering = make_offering()
    service, school = offering.service, offering.school
    year = school_year_of(district_time.today())
    make_mou(
        partner=service.partner,
        schools=[school],
        school_year=year,
        status=MOUStatus.ACTIVE,
        commitments=[(service, school, 5)],
    )
    login("coordinator")
    response = client.post(
        f"/services/{service.id}/offerings/{offering.id}/delete", follow_redirects=True
    )
    assert f"MOUs for {year} commit {service.name} at {school.name}" in text(response)
    assert offerings_count() == 1


def _cells(row: str) -> list[str]:
    """A table row's cells as text (tags dropped)."""
    cells = [c.split("</td>")[0] for c in row.split("<td")[1:]]
    return [re.sub(r"<[^>]+>", "", c.split(">", 1)[1]).strip() for c in cells]


# ---- the table ------------------------------------------------------------------------------


def test_the_table_shows_site_capacity_committed_and_remaining(
    client, login, make_service, make_offering, make_school, make_mou
) -> None:
    service = make_service(name="Reading club", capacity=None)
    north = make_school(name="North Elementary")
    south = make_school(name="South Elementary")
    make_offering(service=service, school=north, capacity=Decimal(20))
    make_offering(service=service, school=south, capacity=None)
    year = school_year_of(district_time.today())
    make_mou(
        partner=service.partner,
        schools=[north, south],
        school_year=year,
        commitments=[(service, north, 15), (service, south, 4)],
    )
    login("coordinator")
    page = text(client.get(f"/services/{service.id}"))
    table = page.split('aria-labelledby="offerings-heading"', 1)[1].split("</table>", 1)[0]
    assert 'class="table-scroll" tabindex="0" role="region"' in table
    rows = table.split("<tbody>", 1)[1].split("</tr>")
    north_row = next(r for r in rows if "North Elementary" in r)
    south_row = next(r for r in rows if "South Elementary" in r)
    assert _cells(north_row)[1:4] == ["20", "15", "5"]
    assert _cells(south_row)[1:4] == ["No limit", "4", "No limit"]


def test_commitments_at_schools_not_offered_are_pointed_out(
    client, login, make_service, make_offering, make_school, make_mou
) -> None:
    service = make_service(name="Reading club")
    offered, other = make_school(name="North Elementary"), make_school(name="East Elementary")
    make_mou(
        partner=service.partner,
        schools=[other],
        school_year=school_year_of(district_time.today()),
        commitments=[(service, other, 3)],
    )
    make_offering(service=service, school=offered)
    login("coordinator")
    page = text(client.get(f"/services/{service.id}"))
    assert "commit it at schools where it is not offered: East Elementary" in page


def test_the_service_form_takes_an_empty_overall_capacity(client, login, make_partner) -> None:
    partner = make_partner()
    login("coordinator")
    form = text(client.get("/services/new"))
    assert "Leave empty when the service has no overall pool; site capacities then apply" in form
    response = client.post(
        "/services/new",
        data={
            "partner_id": str(partner.id),
            "name": "Open gym",
            "category": "academic_support",
            "grades": ["K"],
            "setting": "school_day",
            "unit": "seats",
            "capacity": "",
            "cost": "0",
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Service)).one().capacity is None
