"""MOUs: the lifecycle, the data-privacy rule, commitments within capacity, renewal, access."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from registry import district_time
from registry.audit import SYSTEM, acting_as
from registry.extensions import db
from registry.models import MOU, AuditEntry, Commitment, DocumentType
from registry.mous import services as mou_services
from registry.refusals import Refused
from registry.vocabulary import DPAStatus, DPAType, MOUStatus, PartnerStatus, Unit
from tests.exported import csv_records
from tests.mou_ready import ready, verified

TODAY = date(2025, 10, 1)
CURRENT_DPA = {
    "shares_student_data": True,
    "dpa_type": DPAType.DISTRICT_DPA,
    "dpa_status": DPAStatus.SIGNED,
    "dpa_expiry": date(2099, 6, 30),
}

ACTIONS = {
    "submit": MOUStatus.SUBMITTED,
    "activate": MOUStatus.ACTIVE,
    "expire": MOUStatus.EXPIRED,
    "terminate": MOUStatus.TERMINATED,
}
ALLOWED = {
    (MOUStatus.DRAFT, "submit"),
    (MOUStatus.SUBMITTED, "activate"),
    (MOUStatus.ACTIVE, "expire"),
    (MOUStatus.ACTIVE, "terminate"),
}


@pytest.fixture(autouse=True)
def in_a_request(app):
    """Service messages are translated (the locale comes from a request); changes made
    outside a signed-in request are the system's, not a user's left over from another test."""
    with app.test_request_context(method="POST"), acting_as(SYSTEM):
        yield


def status_of(mou: MOU) -> MOUStatus:
    db.session.expire_all()
    return db.session.get(MOU, mou.id).status


def page(response) -> str:
    return response.get_data(as_text=True)


def listed(response) -> str:
    """The rows of a list page (not its filter drop-downs)."""
    html = page(response)
    return html[html.find("<tbody>") : html.find("</tbody>")] if "<tbody>" in html else ""


def mou_form(schools, **overrides) -> dict:
    data = {
        "school_ids": [str(i) for i in schools],
        "school_year": "2025-26",
        "start_date": "2025-09-01",
        "end_date": "2026-06-30",
        "signatories": "",
        "notes": "",
    }
    data.update(overrides)
    return data


# ---- lifecycle -------------------------------------------------------------------------


def test_the_whole_lifecycle_through_the_pages(client, login, make_mou) -> None:
    login("coordinator")
    mou = ready(make_mou())
    for action, reached in [
        ("submit", MOUStatus.SUBMITTED),
        ("activate", MOUStatus.ACTIVE),
        ("expire", MOUStatus.EXPIRED),
    ]:
        response = client.post(f"/mous/{mou.id}/{action}")
        assert response.status_code == 302
        assert status_of(mou) == reached

    other = make_mou(status=MOUStatus.ACTIVE)
    assert client.post(f"/mous/{other.id}/terminate").status_code == 302
    assert status_of(other) == MOUStatus.TERMINATED


@pytest.mark.parametrize(
    "start, action",
    [(s, a) for s in MOUStatus for a in ACTIONS if (s, a) not in ALLOWED],
)
def test_every_other_move_is_refused_and_changes_nothing(
    client, login, make_mou, start, action
) -> None:
    login("coordinator")
    mou = make_mou(status=start)
    response = client.post(f"/mous/{mou.id}/{action}", follow_redirects=True)
    assert response.status_code == 200
    assert status_of(mou) == start
    assert f"A {start.label.lower()} MOU cannot become" in page(response)


def test_a_status_change_leaves_a_status_audit_row(client, login, make_mou) -> None:
    user = login("coordinator")
    mou = make_mou()
    client.post(f"/mous/{mou.id}/submit")
    row = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "mou", AuditEntry.entity_id == mou.id)
        .order_by(AuditEntry.id.desc())
    ).first()
    assert row.action == "status"
    assert row.user_email == user.email
    assert row.before == {"status": "draft"} and row.after == {"status": "submitted"}
    # ... and the MOU's page shows it in its history.
    assert "submitted" in page(client.get(f"/mous/{mou.id}"))


# ---- activation rules ------------------------------------------------------------------


def test_sharing_student_data_without_an_agreement_blocks_activation(make_mou) -> None:
    mou = ready(make_mou(status=MOUStatus.SUBMITTED, shares_student_data=True), documents=False)
    verified(mou.partner_id, DocumentType.INSURANCE_CERTIFICATE)
    verified(mou.partner_id, DocumentType.BACKGROUND_CHECK)
    db.session.commit()
    with pytest.raises(Refused, match="no data-privacy agreement covers the whole term"):
        mou_services.activate(mou, TODAY)
    assert status_of(mou) == MOUStatus.SUBMITTED


def test_a_current_agreement_allows_activation(make_mou) -> None:
    mou = ready(make_mou(status=MOUStatus.SUBMITTED, **CURRENT_DPA))
    mou_services.activate(mou, TODAY)
    db.session.commit()
    assert status_of(mou) == MOUStatus.ACTIVE


def test_an_expired_agreement_blocks_activation(make_mou) -> None:
    mou = ready(make_mou(status=MOUStatus.SUBMITTED, **CURRENT_DPA), documents=False)
    verified(mou.partner_id, DocumentType.INSURANCE_CERTIFICATE)
    verified(mou.partner_id, DocumentType.BACKGROUND_CHECK)
    verified(mou.partner_id, DocumentType.DATA_PRIVACY_AGREEMENT, expiry_date=date(2025, 6, 30))
    db.session.commit()
    with pytest.raises(Refused, match="expires on Jun 30, 2025, before the term ends"):
        mou_services.activate(mou, TODAY)


def test_the_refusal_is_shown_on_the_page(client, login, make_mou) -> None:
    login("admin")
    mou = make_mou(status=MOUStatus.SUBMITTED, shares_student_data=True)
    response = client.post(f"/mous/{mou.id}/activate", follow_redirects=True)
    assert "cannot become active" in page(response)
    assert status_of(mou) == MOUStatus.SUBMITTED


def test_an_unapproved_partner_blocks_activation(make_mou, make_partner) -> None:
    mou = make_mou(status=MOUStatus.SUBMITTED, partner=make_partner(status=PartnerStatus.SUSPENDED))
    with pytest.raises(Refused, match="not approved"):
        mou_services.activate(mou, TODAY)


def test_an_mou_with_no_school_cannot_become_active(make_mou) -> None:
    mou = make_mou(status=MOUStatus.SUBMITTED, schools=[])
    with pytest.raises(Refused, match="no school"):
        mou_services.activate(mou, TODAY)


# ---- creating and editing --------------------------------------------------------------


def test_a_coordinator_creates_a_draft(client, login, make_partner, make_school) -> None:
    login("coordinator")
    partner, school = make_partner(), make_school()
    assert client.get(f"/mous/new?partner_id={partner.id}").status_code == 200
    response = client.post("/mous/new", data=mou_form([school.id], partner_id=partner.id))
    assert response.status_code == 302
    mou = db.session.scalars(select(MOU)).one()
    assert mou.status == MOUStatus.DRAFT and mou.partner == partner and mou.schools == [school]


def test_a_new_mou_proposes_the_districts_school_year_of_today(
    client, login, make_partner, monkeypatch
) -> None:
    login("coordinator")
    partner = make_partner()
    monkeypatch.setattr(district_time, "today", lambda now=None: date(2031, 2, 10))
    page = client.get(f"/mous/new?partner_id={partner.id}").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="school_year"[^>]*>', page)
    assert field and 'value="2030-31"' in field.group(0)
    monkeypatch.setattr(district_time, "today", lambda now=None: date(2031, 7, 1))
    page = client.get(f"/mous/new?partner_id={partner.id}").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="school_year"[^>]*>', page)
    assert field and 'value="2031-32"' in field.group(0)


@pytest.mark.parametrize(
    "overrides, field_error",
    [
        ({"start_date": "2026-01-01", "end_date": "2025-12-01"}, "end date is before the start"),
        ({"school_year": "2025-27"}, "school year like"),
        ({"school_year": "banana"}, "school year like"),
        ({"start_date": "2027-09-01", "end_date": "2028-06-30"}, "does not overlap"),
        ({"school_ids": []}, "at least one school"),
        ({"start_date": "not a date"}, "Not a valid date"),
        ({"dpa_type": "no_such_type"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_a_field_error_and_saves_nothing(
    client, login, make_partner, make_school, overrides, field_error
) -> None:
    login("coordinator")
    partner, school = make_partner(), make_school()
    response = client.post(
        "/mous/new", data=mou_form([school.id], partner_id=partner.id, **overrides)
    )
    assert response.status_code == 400
    assert field_error.lower() in page(response).lower()
    assert "has-error" in page(response)
    assert db.session.scalar(select(func.count(MOU.id))) == 0


def test_an_edit_saves_the_fields(client, login, make_mou, make_school) -> None:
    login("coordinator")
    mou = make_mou()
    added = make_school()
    data = mou_form(
        [mou.schools[0].id, added.id], signatories="Dr. A. Principal", version=str(mou.version)
    )
    assert client.post(f"/mous/{mou.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(MOU, mou.id).signatories == "Dr. A. Principal"
    assert len(db.session.get(MOU, mou.id).schools) == 2


def test_an_edit_against_an_old_version_is_refused_and_overwrites_nothing(
    client, login, make_mou
) -> None:
    login("coordinator")
    mou = make_mou(notes="original")
    form_page = page(client.get(f"/mous/{mou.id}/edit"))
    opened_version = re.search(r'name="version" type="hidden" value="(\d+)"', form_page).group(1)

    mou.notes = "someone else's change"  # saved by another coordinator meanwhile
    db.session.commit()

    data = mou_form([mou.schools[0].id], notes="my change", version=opened_version)
    response = client.post(f"/mous/{mou.id}/edit", data=data)
    assert response.status_code == 409
    assert "Someone else changed this record" in page(response)
    db.session.expire_all()
    assert db.session.get(MOU, mou.id).notes == "someone else's change"


def test_active_mous_are_not_editable(client, login, make_mou) -> None:
    login("coordinator")
    mou = make_mou(status=MOUStatus.ACTIVE, notes="as signed")
    data = mou_form([mou.schools[0].id], notes="changed", version=str(mou.version))
    response = client.post(f"/mous/{mou.id}/edit", data=data, follow_redirects=True)
    assert "Only draft and submitted MOUs can be edited" in page(response)
    db.session.expire_all()
    assert db.session.get(MOU, mou.id).notes == "as signed"


def test_a_school_with_commitments_cannot_be_removed(
    client, login, make_mou, make_school, make_service
) -> None:
    login("coordinator")
    keep, drop = make_school(name="Keep School"), make_school(name="Drop School")
    service = make_service()
    mou = make_mou(partner=service.partner, schools=[keep, drop], commitments=[(service, drop, 5)])
    data = mou_form([keep.id], version=str(mou.version))
    response = client.post(f"/mous/{mou.id}/edit", data=data)
    assert response.status_code == 400
    assert "Remove the commitments at Drop School" in page(response)
    db.session.expire_all()
    assert {s.name for s in db.session.get(MOU, mou.id).schools} == {"Keep School", "Drop School"}


def test_not_sharing_student_data_clears_the_agreement(make_mou) -> None:
    mou = make_mou(**CURRENT_DPA)
    details = mou_services.MOUDetails(
        school_ids=[s.id for s in mou.schools],
        school_year="2025-26",
        start_date=date(2025, 9, 1),
        end_date=date(2026, 6, 30),
        shares_student_data=False,
        dpa_type=DPAType.DISTRICT_DPA,
    )
    mou_services.update_mou(mou, details, mou.version)
    assert mou.dpa_type is None and mou.dpa_status is None and mou.dpa_expiry is None


# ---- commitments -----------------------------------------------------------------------


@pytest.fixture
def seats(make_service, make_partner):
    """A 100-seat service of one partner."""
    return make_service(partner=make_partner(), capacity=Decimal(100), unit=Unit.SEATS)


def test_a_commitment_within_capacity_is_added(client, login, make_mou, seats) -> None:
    login("coordinator")
    mou = make_mou(partner=seats.partner)
    school = mou.schools[0]
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": seats.id, "school_id": school.id, "amount": "100"},
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Commitment)).one().amount == Decimal(100)


def test_capacity_used_by_another_mou_that_year_counts(
    client, login, make_mou, make_school, seats
) -> None:
    login("coordinator")
    school = make_school()
    make_mou(
        partner=seats.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(seats, school, 60)],
    )
    mou = make_mou(partner=seats.partner, schools=[school])
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": seats.id, "school_id": school.id, "amount": "41"},
    )
    assert response.status_code == 400
    assert f"exceeds the overall capacity of {seats.name}: 40 seats left" in page(response)
    assert len(db.session.get(MOU, mou.id).commitments) == 0


def test_over_committed_capacity_is_shown_below_zero_and_nothing_more_is_committed(
    client, login, make_mou, make_school, seats
) -> None:
    """One rule: remaining capacity is reported honestly below zero; it never goes further."""
    school = make_school()
    # Older data: 130 seats of a 100-seat service, committed before the checks existed.
    active = make_mou(
        partner=seats.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(seats, school, 130)],
    )
    assert mou_services.remaining_capacity(seats, "2025-26") == Decimal(-30)
    assert mou_services.remaining_capacity(seats, "2025-26", capacity=Decimal(200)) == 70
    draft = make_mou(partner=seats.partner, schools=[school])
    assert mou_services.capacity_left(draft) == {}
    with pytest.raises(Refused, match="already commit 30 seats more than"):
        mou_services.add_commitment(draft, seats, school, Decimal(1))
    db.session.rollback()
    login("coordinator")
    response = client.post(
        f"/mous/{draft.id}/commitments",
        data={"service_id": seats.id, "school_id": school.id, "amount": "1"},
    )
    assert response.status_code == 400
    assert "already commit 30 seats more than" in page(response)
    assert db.session.get(MOU, draft.id).commitments == []
    assert "-30 of 100" in page(client.get(f"/mous/{active.id}"))


def test_terminated_mous_and_other_years_use_no_capacity(make_mou, make_school, seats) -> None:
    school = make_school()
    make_mou(
        partner=seats.partner,
        schools=[school],
        status=MOUStatus.TERMINATED,
        commitments=[(seats, school, 90)],
    )
    make_mou(
        partner=seats.partner,
        schools=[school],
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
        status=MOUStatus.EXPIRED,
        commitments=[(seats, school, 90)],
    )
    mou = make_mou(partner=seats.partner, schools=[school])
    mou_services.add_commitment(mou, seats, school, Decimal(100))
    with pytest.raises(Refused, match="0 seats left"):
        mou_services.add_commitment(
            make_mou(partner=seats.partner, schools=[school]), seats, school, Decimal(1)
        )


def test_a_service_of_another_partner_is_refused(
    client, login, make_mou, make_service, seats
) -> None:
    login("coordinator")
    mou = make_mou(partner=seats.partner)
    foreign = make_service()  # another partner's
    with pytest.raises(Refused, match="another partner"):
        mou_services.add_commitment(mou, foreign, mou.schools[0], Decimal(1))
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": foreign.id, "school_id": mou.schools[0].id, "amount": "1"},
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Commitment.id))) == 0


def test_a_school_not_on_the_mou_is_refused(make_mou, make_school, seats) -> None:
    mou = make_mou(partner=seats.partner)
    with pytest.raises(Refused, match="not on this MOU"):
        mou_services.add_commitment(mou, seats, make_school(), Decimal(1))


def test_an_inactive_service_is_refused(make_mou, make_service, seats) -> None:
    idle = make_service(partner=seats.partner, active=False)
    mou = make_mou(partner=seats.partner)
    with pytest.raises(Refused, match="not active"):
        mou_services.add_commitment(mou, idle, mou.schools[0], Decimal(1))


@pytest.mark.parametrize(
    "amount, message",
    [
        ("2.5", "whole numbers"),
        ("0", "above zero"),
        ("-3", "above zero"),
        ("abc", "Not a valid decimal"),
        ("NaN", "above zero"),
        ("1e999999", "smaller amount"),
        ("", "required"),
    ],
)
def test_bad_amounts_are_field_errors(client, login, make_mou, seats, amount, message) -> None:
    login("coordinator")
    mou = make_mou(partner=seats.partner)
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": seats.id, "school_id": mou.schools[0].id, "amount": amount},
    )
    assert response.status_code == 400
    assert message.lower() in page(response).lower()


def test_hours_may_be_fractional(make_mou, make_service, seats) -> None:
    hours = make_service(partner=seats.partner, unit=Unit.HOURS, capacity=Decimal(10))
    mou = make_mou(partner=seats.partner)
    line = mou_services.add_commitment(mou, hours, mou.schools[0], Decimal("2.5"))
    assert line.amount == Decimal("2.5")


def test_a_commitment_is_removed(client, login, make_mou, seats) -> None:
    login("coordinator")
    mou = make_mou(partner=seats.partner)
    mou = make_mou(partner=seats.partner, commitments=[(seats, make_mou().schools[0], 1)])
    mou.schools.append(mou.commitments[0].school)
    db.session.commit()
    line = mou.commitments[0]
    response = client.post(f"/mous/{mou.id}/commitments/{line.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(Commitment.id))) == 0


def test_commitments_of_an_active_mou_do_not_change(make_mou, seats) -> None:
    mou = make_mou(partner=seats.partner, status=MOUStatus.ACTIVE)
    with pytest.raises(Refused, match="cannot be changed"):
        mou_services.add_commitment(mou, seats, mou.schools[0], Decimal(1))


def test_a_commitment_of_another_mou_is_not_found(client, login, make_mou, make_school, seats):
    login("coordinator")
    school = make_school()
    other = make_mou(partner=seats.partner, schools=[school], commitments=[(seats, school, 1)])
    mou = make_mou()
    response = client.post(f"/mous/{mou.id}/commitments/{other.commitments[0].id}/delete")
    assert response.status_code == 404


# ---- renewal ---------------------------------------------------------------------------


def test_renew_makes_next_years_draft(client, login, make_mou, make_school, seats) -> None:
    login("coordinator")
    school = make_school()
    mou = make_mou(
        partner=seats.partner,
        schools=[school],
        status=MOUStatus.ACTIVE,
        commitments=[(seats, school, 30)],
        **CURRENT_DPA,
    )
    response = client.post(f"/mous/{mou.id}/renew")
    assert response.status_code == 302
    renewal = db.session.scalars(select(MOU).where(MOU.renewed_from_id == mou.id)).one()
    assert renewal.status == MOUStatus.DRAFT
    assert renewal.school_year == "2026-27"
    assert (renewal.start_date, renewal.end_date) == (date(2026, 9, 1), date(2027, 6, 30))
    assert renewal.partner == mou.partner and renewal.schools == [school]
    assert [(c.service, c.school, c.amount) for c in renewal.commitments] == [
        (seats, school, Decimal(30))
    ]
    # No signature and no verification is copied forward.
    assert renewal.shares_student_data and renewal.dpa_status == DPAStatus.NOT_STARTED
    assert renewal.dpa_expiry is None and renewal.signed_date is None
    assert response.headers["Location"].endswith(f"/mous/{renewal.id}")

    again = client.post(f"/mous/{mou.id}/renew", follow_redirects=True)
    assert "already renewed for 2026-27" in page(again)
    assert db.session.scalar(select(func.count(MOU.id)).where(MOU.renewed_from_id == mou.id)) == 1


def test_renewal_reduces_lines_that_would_exceed_next_years_capacity(
    make_mou, make_school, seats
) -> None:
    school = make_school()
    mou = make_mou(partner=seats.partner, schools=[school], commitments=[(seats, school, 50)])
    make_mou(
        partner=seats.partner,
        schools=[school],
        school_year="2026-27",
        start_date=date(2026, 9, 1),
        end_date=date(2027, 6, 30),
        commitments=[(seats, school, 80)],
    )
    result = mou_services.renew(mou)
    assert [c.amount for c in result.mou.commitments] == [Decimal(20)]
    assert "reduced from 50 to 20" in result.adjustments[0]


def test_renewal_flashes_a_line_it_left_out(client, login, make_mou, make_school, seats) -> None:
    login("coordinator")
    school = make_school()
    mou = make_mou(partner=seats.partner, schools=[school], commitments=[(seats, school, 50)])
    seats.active = False
    db.session.commit()
    response = client.post(f"/mous/{mou.id}/renew", follow_redirects=True)
    assert "was left out: the service is no longer active" in page(response)


# ---- access ----------------------------------------------------------------------------


def _requests(mou: MOU, service_id: int, line_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("post", f"/mous/{mou.id}/submit", {}),
        ("post", f"/mous/{mou.id}/renew", {}),
        (
            "post",
            f"/mous/{mou.id}/commitments",
            {"service_id": service_id, "school_id": mou.schools[0].id, "amount": "1"},
        ),
        ("post", f"/mous/{mou.id}/commitments/{line_id}/delete", {}),
        ("get", f"/mous/{mou.id}/edit", {}),
        ("get", "/mous/new", {}),
    ]


@pytest.mark.parametrize(
    "role, allowed",
    [("admin", True), ("coordinator", True), ("leader", False), ("partner", False)],
)
def test_who_may_change_mous(client, login, make_mou, make_service, role, allowed) -> None:
    user = login(role)
    service = make_service(partner=user.partner) if user.partner else make_service()
    mou = make_mou(partner=service.partner)
    line = mou_services.add_commitment(mou, service, mou.schools[0], Decimal(1))
    db.session.commit()
    for method, url, data in _requests(mou, service.id, line.id):
        status = getattr(client, method)(url, data=data).status_code
        assert (status != 404) == allowed, (method, url, status)
        if not allowed:
            assert status_of(mou) == MOUStatus.DRAFT


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ["leader", "partner"])
def test_readers_and_partners_cannot_move_statuses(client, login, make_mou, role, action):
    user = login(role)
    start = {"submit": MOUStatus.DRAFT, "activate": MOUStatus.SUBMITTED}.get(
        action, MOUStatus.ACTIVE
    )
    mou = make_mou(status=start, **({"partner": user.partner} if user.partner else {}))
    assert client.post(f"/mous/{mou.id}/{action}").status_code == 404
    assert status_of(mou) == start


@pytest.mark.parametrize("role", ["admin", "coordinator", "leader"])
def test_district_staff_read_any_mou_with_its_history(client, login, make_mou, role) -> None:
    login(role)
    mou = make_mou()
    response = client.get(f"/mous/{mou.id}")
    assert response.status_code == 200
    assert "History" in page(response)
    editor = role != "leader"
    assert (f"/mous/{mou.id}/submit" in page(response)) == editor
    assert (f"/mous/{mou.id}/edit" in page(response)) == editor


def test_a_partner_reads_its_own_mous_only(client, login, make_mou) -> None:
    user = login("partner")
    own, foreign = make_mou(partner=user.partner), make_mou()
    response = client.get(f"/mous/{own.id}")
    assert response.status_code == 200
    assert f"/mous/{own.id}/submit" not in page(response)
    assert "History" not in page(response)
    assert client.get(f"/mous/{foreign.id}").status_code == 404
    listing = page(client.get("/mous/"))
    assert user.partner.name in listed(client.get("/mous/")) and foreign.partner.name not in listing


def test_missing_mous_are_404(client, login) -> None:
    login("coordinator")
    assert client.get("/mous/999999").status_code == 404
    assert client.post("/mous/999999/activate").status_code == 404


def test_anonymous_visitors_sign_in_first(client, make_mou) -> None:
    mou = make_mou()
    assert "/login" in client.get(f"/mous/{mou.id}").headers["Location"]


def test_status_posts_need_a_csrf_token(app, make_user, make_mou) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    user = make_user("coordinator")
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    mou = make_mou()
    assert client.post(f"/mous/{mou.id}/submit").status_code == 400
    assert status_of(mou) == MOUStatus.DRAFT


# ---- the list --------------------------------------------------------------------------


def test_the_list_searches_filters_and_sorts(client, login, make_mou, make_partner, make_school):
    login("leader")
    lincoln = make_school(name="Lincoln Elementary")
    a = make_mou(partner=make_partner(name="Alpha Tutors"), schools=[lincoln])
    b = make_mou(
        partner=make_partner(name="Beta Arts"), status=MOUStatus.ACTIVE, shares_student_data=True
    )
    assert "Beta Arts" not in listed(client.get("/mous/?q=lincoln"))
    assert "Alpha Tutors" in listed(client.get("/mous/?q=lincoln"))
    active = listed(client.get("/mous/?status=active"))
    assert "Beta Arts" in active and "Alpha Tutors" not in active
    assert "Alpha Tutors" not in listed(client.get("/mous/?shares=yes"))
    assert "Beta Arts" not in listed(client.get(f"/mous/?school={lincoln.id}"))
    by_partner = listed(client.get("/mous/?sort=-partner"))
    assert by_partner.index("Beta Arts") < by_partner.index("Alpha Tutors")
    assert a.id and b.id


def test_the_list_survives_nonsense_arguments(client, login, make_mou) -> None:
    login("coordinator")
    make_mou()
    response = client.get(
        "/mous/?status=bogus&school=abc&partner=x&school_year=9&sort=nope&page=-4&shares=maybe"
    )
    assert response.status_code == 200


def test_expiring_filter_and_helper(client, login, make_mou, make_partner) -> None:
    login("coordinator")
    today = district_time.today()
    soon = make_mou(
        partner=make_partner(name="Ending Soon"),
        status=MOUStatus.ACTIVE,
        start_date=today.replace(year=today.year - 1),
        end_date=today,
    )
    make_mou(
        partner=make_partner(name="Plenty Left"),
        status=MOUStatus.ACTIVE,
        end_date=today.replace(year=today.year + 1),
    )
    listing = listed(client.get("/mous/?expiring=1"))
    assert "Ending Soon" in listing and "Plenty Left" not in listing
    assert mou_services.expiring_within(60, today) == [soon]


def test_csv_export_has_every_matching_row(client, login, make_mou, make_school, seats) -> None:
    login("coordinator")
    a, b = make_school(name="Adams"), make_school(name="Burns")
    make_mou(partner=seats.partner, schools=[a, b], commitments=[(seats, a, 10), (seats, b, 5)])
    response = client.get("/mous/?format=csv")
    assert response.mimetype == "text/csv"
    rows = csv_records(response)
    assert len(rows) == 1
    assert rows[0]["Schools"] == "Adams; Burns"
    assert rows[0]["Commitment lines"] == "2" and rows[0]["Total committed (seats)"] == "15"
    assert rows[0]["Total committed (hours)"] == ""


def test_dpa_problems_lists_submitted_and_active_mous_without_a_current_agreement(
    make_mou,
) -> None:
    missing = make_mou(status=MOUStatus.SUBMITTED, shares_student_data=True)
    lapsed = make_mou(status=MOUStatus.ACTIVE, **{**CURRENT_DPA, "dpa_expiry": date(2025, 9, 30)})
    make_mou(status=MOUStatus.ACTIVE, **CURRENT_DPA)
    make_mou(status=MOUStatus.DRAFT, shares_student_data=True)
    make_mou(status=MOUStatus.ACTIVE)
    assert {m.id for m in mou_services.dpa_problems(TODAY)} == {missing.id, lapsed.id}
