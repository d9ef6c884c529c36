"""Partners' edits under review: the live listing changes only when a coordinator approves."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from registry import audit
from registry.extensions import db
from registry.models import AuditEntry, ChangeRequest, ChangeStatus, Offering, Partner, Service
from tests.test_partners import form_data


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    audit.set_actor(audit.SYSTEM)


def partner_form(partner: Partner, **overrides: Any) -> dict[str, Any]:
    """The partner user's form, as it comes back unchanged but for the overrides."""
    data = form_data(
        partner,
        description=partner.description,
        website=partner.website,
        contact_name=partner.contact_name,
        email=partner.email,
        phone=partner.phone,
        address=partner.address,
        zip=partner.zip,
        languages=list(partner.languages or []),
        district_wide="y" if partner.district_wide else None,
        insurance_expiry=partner.insurance_expiry.isoformat(),
        insurance_liability=str(partner.insurance_liability),
        status=None,
        background_check_policy=None,
        background_check_verified=None,
    )
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def listed(make_partner) -> Partner:
    return make_partner(
        name="Harbor Youth",
        description="Tutoring",
        languages=["English"],
        phone="508-555-0100",
        website="https://harbor.example",
        contact_name="Ana",
        address="1 Harbor Way",
        zip="01602",
    )


def _live(partner_id: int) -> Partner:
    db.session.expire_all()
    return db.session.get(Partner, partner_id)


def test_a_partners_edit_waits_for_review_but_phone_and_email_apply_at_once(client, login, listed):
    login("partner", partner=listed)
    response = client.post(
        f"/partners/{listed.id}/edit",
        data=partner_form(
            listed,
            description="Tutoring and mentoring",
            languages=["English", "Spanish"],
            description_es="Tutoría y mentoría",
            phone="508-555-0199",
            email="new@harbor.example",
        ),
    )
    assert response.status_code == 302
    live = _live(listed.id)
    assert live.description == "Tutoring"
    assert live.languages == ["English"]
    assert live.description_translations == {}
    assert live.phone == "508-555-0199" and live.email == "new@harbor.example"
    change = db.session.scalars(select(ChangeRequest)).one()
    assert change.status == ChangeStatus.PENDING
    assert set(change.changes) == {
        "description",
        "languages",
        "description_translations.es",
    }
    # The partner sees the status, and its next edit starts from what awaits review.
    mine = client.get("/partners/mine/changes").get_data(as_text=True)
    assert "Awaiting review" in mine
    form = client.get(f"/partners/{listed.id}/edit").get_data(as_text=True)
    assert "Tutoring and mentoring" in form and "Tutoría y mentoría" in form
    assert "awaiting review" in client.get("/partners/mine").get_data(as_text=True)


def test_the_coordinator_sees_a_labelled_diff_and_approval_publishes(client, login, listed):
    partner_user = login("partner", partner=listed)
    client.post(
        f"/partners/{listed.id}/edit",
        data=partner_form(
            listed,
            description="Tutoring and mentoring",
            languages=["English", "Spanish"],
            insurance_expiry="2100-01-31",
            description_pt="Tutoria",
        ),
    )
    change = db.session.scalars(select(ChangeRequest)).one()
    client.post("/logout")
    coordinator = login("coordinator")
    assert "Harbor Youth" in client.get("/partners/changes").get_data(as_text=True)
    page = client.get(f"/partners/changes/{change.id}").get_data(as_text=True)
    for label in ("Description", "Languages served", "Insurance certificate expires on"):
        assert f'<th scope="row">{label}</th>' in page
    assert "Description in Português" in page
    assert "Tutoring and mentoring" in page and "English, Spanish" in page
    assert "insurance_expiry" not in page and "description_translations" not in page

    assert client.post(f"/partners/changes/{change.id}/approve").status_code == 302
    live = _live(listed.id)
    assert live.description == "Tutoring and mentoring"
    assert live.languages == ["English", "Spanish"]
    assert live.insurance_expiry == date(2100, 1, 31)
    assert live.description_translations == {"pt": "Tutoria"}
    change = db.session.get(ChangeRequest, change.id)
    assert change.status == ChangeStatus.APPROVED and change.reviewed_by_id == coordinator.id
    applied = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "partner",
            AuditEntry.entity_id == listed.id,
            AuditEntry.user_id == coordinator.id,
        )
    ).one()
    assert applied.after["description"] == "Tutoring and mentoring"
    assert partner_user.id != coordinator.id


def test_returning_keeps_the_listing_and_shows_the_comment(client, login, listed):
    login("partner", partner=listed)
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Best!"))
    change = db.session.scalars(select(ChangeRequest)).one()
    client.post("/logout")
    login("coordinator")
    assert (
        client.post(f"/partners/changes/{change.id}/return", data={"comment": ""}).status_code
        == 400
    )
    response = client.post(
        f"/partners/changes/{change.id}/return",
        data={"comment": "Describe what you do, not how good it is."},
    )
    assert response.status_code == 302
    assert _live(listed.id).description == "Tutoring"
    client.post("/logout")
    login("partner", partner=listed)
    mine = client.get("/partners/mine/changes").get_data(as_text=True)
    assert "Returned with a comment" in mine
    assert "Describe what you do, not how good it is." in mine


def test_saving_again_replaces_the_pending_request(client, login, listed):
    login("partner", partner=listed)
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="One"))
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Two"))
    [change] = db.session.scalars(select(ChangeRequest)).all()
    assert change.changes["description"] == {"old": "Tutoring", "new": "Two"}
    # Back to the live text: nothing left to review.
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Tutoring"))
    db.session.expire_all()
    assert db.session.get(ChangeRequest, change.id).status == ChangeStatus.WITHDRAWN


def test_another_partners_request_is_404(client, login, listed, make_partner):
    login("partner", partner=listed)
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Ours"))
    change = db.session.scalars(select(ChangeRequest)).one()
    client.post("/logout")
    login("partner", partner=make_partner())
    assert client.get(f"/partners/changes/{change.id}").status_code == 404
    assert client.post(f"/partners/changes/{change.id}/approve").status_code == 404
    assert client.get("/partners/changes").status_code == 302  # to its own list
    assert "Ours" not in client.get("/partners/mine/changes").get_data(as_text=True)


def test_a_partner_cannot_approve_its_own_request(client, login, listed):
    login("partner", partner=listed)
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Ours"))
    change = db.session.scalars(select(ChangeRequest)).one()
    assert client.get(f"/partners/changes/{change.id}").status_code == 200
    assert client.post(f"/partners/changes/{change.id}/approve").status_code == 404
    assert _live(listed.id).description == "Tutoring"


def test_coordinators_edits_apply_directly(client, login, listed):
    login("coordinator")
    response = client.post(
        f"/partners/{listed.id}/edit",
        data=form_data(listed, description="Edited by the district", description_es="Editado"),
    )
    assert response.status_code == 302
    live = _live(listed.id)
    assert live.description == "Edited by the district"
    assert live.description_translations == {"es": "Editado"}
    assert db.session.scalars(select(ChangeRequest)).all() == []


def test_a_service_edit_waits_for_review(client, login, listed, make_service):
    service = make_service(partner=listed, description="Homework help", grades=["3", "4"])
    login("partner", partner=listed)
    assert f"/partners/services/{service.id}/changes" in client.get("/partners/mine").get_data(
        as_text=True
    )
    response = client.post(
        f"/partners/services/{service.id}/changes",
        data={
            "description": "Homework help and reading",
            "grades": ["3", "4", "5"],
            "languages": ["English"],
            "description_es": "Ayuda con tareas",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    live = db.session.get(Service, service.id)
    assert live.description == "Homework help" and live.grades == ["3", "4"]
    change = db.session.scalars(select(ChangeRequest)).one()
    assert change.service_id == service.id
    client.post("/logout")
    login("coordinator")
    page = client.get(f"/partners/changes/{change.id}").get_data(as_text=True)
    assert "Grades served" in page and "3–5" in page
    client.post(f"/partners/changes/{change.id}/approve")
    db.session.expire_all()
    live = db.session.get(Service, service.id)
    assert live.description == "Homework help and reading"
    assert live.grades == ["3", "4", "5"]
    assert live.languages == ["English"]
    assert live.description_translations == {"es": "Ayuda con tareas"}


def test_another_partners_service_is_404(client, login, listed, make_service):
    other = make_service()
    login("partner", partner=listed)
    assert client.get(f"/partners/services/{other.id}/changes").status_code == 404
    response = client.post(
        f"/partners/services/{other.id}/changes", data={"description": "x", "grades": ["1"]}
    )
    assert response.status_code == 404


def test_offering_texts_wait_for_review(
    client, login, listed, make_service, make_offering, make_school
):
    service = make_service(partner=listed)
    school = make_school(name="Lincoln Elementary")
    offering = make_offering(service=service, school=school, days="Mon", student_fees="Free")
    login("partner", partner=listed)
    form = client.get(f"/partners/services/{service.id}/changes").get_data(as_text=True)
    assert "Days at Lincoln Elementary" in form
    response = client.post(
        f"/partners/services/{service.id}/changes",
        data={
            "description": service.description,
            "grades": service.grades,
            f"offering_{offering.id}_days": "Mon, Wed",
            f"offering_{offering.id}_time": "",
            f"offering_{offering.id}_weekly_dosage": "",
            f"offering_{offering.id}_student_fees": "Free",
        },
    )
    assert response.status_code == 302
    change = db.session.scalars(select(ChangeRequest)).one()
    assert list(change.changes) == [f"offering.{offering.id}.days"]
    client.post("/logout")
    login("coordinator")
    page = client.get(f"/partners/changes/{change.id}").get_data(as_text=True)
    assert "Days at Lincoln Elementary" in page and "Mon, Wed" in page
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).days == "Mon"
    client.post(f"/partners/changes/{change.id}/approve")
    db.session.expire_all()
    assert db.session.get(Offering, offering.id).days == "Mon, Wed"


@pytest.mark.parametrize("role", ["leader"])
def test_readers_review_nothing(client, login, listed, role):
    login("partner", partner=listed)
    client.post(f"/partners/{listed.id}/edit", data=partner_form(listed, description="Ours"))
    change = db.session.scalars(select(ChangeRequest)).one()
    client.post("/logout")
    login(role)
    assert client.get("/partners/changes").status_code == 404
    assert client.get(f"/partners/changes/{change.id}").status_code == 404
    assert client.post(f"/partners/changes/{change.id}/approve").status_code == 404
    assert client.get("/applications/").status_code == 404
