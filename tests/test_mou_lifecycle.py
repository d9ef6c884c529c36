"""MOU lifecycle (issue 11): activation gates, two-person approval, renewal without signatures,
one renewal under a race, amendments and versions, history in words, the partner's sign-off,
and the printable page and PDF."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from registry.audit import SYSTEM, acting_as
from registry.extensions import db
from registry.models import MOU, AuditEntry, Document, DocumentStatus, DocumentType, MOUVersion
from registry.mous import services as mou_services
from registry.mous import versions
from registry.mous.services import MOUDetails
from registry.refusals import Refused
from registry.vocabulary import MOUStatus, PartnerStatus
from tests.conftest import PASSWORD
from tests.mou_ready import ready, verified

TODAY = date(2025, 10, 1)


@pytest.fixture(autouse=True)
def in_a_request(app):
    with app.test_request_context(method="POST"), acting_as(SYSTEM):
        yield


def page(response) -> str:
    return response.get_data(as_text=True)


def switch(client, login, role: str):
    """Sign out, and in again as a new user of a role."""
    client.post("/logout")
    return login(role)


def fresh(mou_id: int) -> MOU | None:
    db.session.expire_all()
    return db.session.get(MOU, mou_id)


@pytest.fixture
def lincoln(make_school):
    return make_school(name="Lincoln")


@pytest.fixture
def reading(make_service):
    return make_service(name="After-school reading", capacity=Decimal(100))


def submitted(make_mou, reading, lincoln, **overrides) -> MOU:
    """A submitted MOU of the reading partner at Lincoln, 20 seats, every gate met."""
    values = {
        "partner": reading.partner,
        "schools": [lincoln],
        "status": MOUStatus.SUBMITTED,
        "commitments": [(reading, lincoln, 20)],
    }
    values.update(overrides)
    return ready(make_mou(**values))


# ---- gates, one at a time ------------------------------------------------------------------


def _without(mou: MOU, missing: str) -> None:
    """Take one condition away from an activatable MOU."""
    if missing == "district date":
        mou.signed_date = None
    elif missing == "district signatories":
        mou.signatories = ""
    elif missing == "partner signature":
        mou.partner_signer_name, mou.partner_signed_date = "", None
    elif missing == "commitment":
        mou.commitments.clear()
    elif missing == "approval":
        mou.partner.status = PartnerStatus.APPLICANT
    else:
        kind, how = missing.split(":")
        doc_type = DocumentType(kind)
        for doc in db.session.scalars(
            select(Document).where(Document.partner_id == mou.partner_id)
        ):
            if doc.doc_type == doc_type:
                if how == "missing":
                    db.session.delete(doc)
                elif how == "pending":
                    doc.status = DocumentStatus.PENDING
                elif how == "rejected":
                    doc.status = DocumentStatus.REJECTED
                elif how == "short":
                    doc.expiry_date = date(2026, 3, 31)
                elif how == "late":
                    doc.effective_date = date(2025, 10, 1)
    db.session.commit()


GATES = [
    ("district date", "The district has not signed it: record the date."),
    ("district signatories", "The district has not signed it: record the signatories."),
    ("partner signature", "has not signed it: the partner signs in the app"),
    ("commitment", "It has no commitment: add at least one."),
    ("approval", "The partner is applicant, not approved."),
    ("insurance_certificate:missing", "no verified insurance certificate."),
    ("insurance_certificate:pending", "(one is waiting for verification)"),
    ("insurance_certificate:rejected", "no verified insurance certificate."),
    ("insurance_certificate:short", "expires on Mar 31, 2026, before the term ends"),
    ("insurance_certificate:late", "takes effect on Oct 1, 2025, after the term starts"),
    ("background_check:missing", "Background checks are not verified"),
    ("background_check:pending", "one is waiting for verification"),
    ("data_privacy_agreement:missing", "no data-privacy agreement covers the whole term"),
    ("data_privacy_agreement:short", "the verified data-privacy agreement expires on Mar 31"),
]


@pytest.mark.parametrize("missing, message", GATES, ids=[g[0] for g in GATES])
def test_each_missing_condition_refuses_activation_with_its_message(
    make_mou, reading, lincoln, missing, message
) -> None:
    mou = submitted(make_mou, reading, lincoln, shares_student_data=True)
    _without(mou, missing)
    with pytest.raises(Refused) as refused:
        mou_services.activate(mou, TODAY)
    assert message in str(refused.value)
    assert str(refused.value).startswith("This MOU cannot become active yet:")
    db.session.rollback()
    assert fresh(mou.id).status == MOUStatus.SUBMITTED


def test_an_mou_meeting_every_gate_activates_and_keeps_version_1(
    make_mou, reading, lincoln
) -> None:
    mou = submitted(make_mou, reading, lincoln, shares_student_data=True)
    mou_services.activate(mou, TODAY)
    db.session.commit()
    mou = fresh(mou.id)
    assert mou.status == MOUStatus.ACTIVE
    assert [v.number for v in mou.versions] == [1]
    assert mou.versions[0].snapshot["commitments"][0]["amount"] == "20.00"


def test_background_checks_are_not_needed_without_direct_student_contact(
    make_mou, reading, lincoln
) -> None:
    reading.direct_student_contact = False
    mou = submitted(make_mou, reading, lincoln)
    _without(mou, "background_check:missing")
    mou_services.activate(mou, TODAY)
    assert mou.status == MOUStatus.ACTIVE


def test_a_data_privacy_agreement_for_another_mou_does_not_count(
    make_mou, reading, lincoln
) -> None:
    mou = submitted(make_mou, reading, lincoln, shares_student_data=True)
    _without(mou, "data_privacy_agreement:missing")
    other = make_mou(partner=reading.partner)
    verified(reading.partner_id, DocumentType.DATA_PRIVACY_AGREEMENT, mou_id=other.id)
    db.session.commit()
    with pytest.raises(Refused, match="no data-privacy agreement covers"):
        mou_services.activate(mou, TODAY)
    verified(reading.partner_id, DocumentType.DATA_PRIVACY_AGREEMENT, mou_id=mou.id)
    db.session.commit()
    mou_services.activate(mou, TODAY)
    assert mou.status == MOUStatus.ACTIVE


def test_every_unmet_condition_is_listed_at_once_and_linked_on_the_page(
    client, login, make_mou
) -> None:
    login("coordinator")
    mou = make_mou(status=MOUStatus.SUBMITTED, shares_student_data=True)
    response = client.post(f"/mous/{mou.id}/activate", follow_redirects=True)
    html = page(response)
    assert fresh(mou.id).status == MOUStatus.SUBMITTED
    for words in (
        "The district has not signed it: record the date and the signatories.",
        "has not signed it",
        "It has no commitment",
        "insurance does not cover the whole term",
        "no data-privacy agreement covers the whole term",
    ):
        assert html.count(words) >= 2, words  # in the refusal, and in the list on the page
    assert "What is missing before activation" in html
    assert f'href="/mous/{mou.id}/edit"' in html
    assert f'href="/partners/{mou.partner_id}#documents"' in html
    assert f'href="/mous/{mou.id}#documents"' in html
    assert f'href="/mous/{mou.id}#commitments"' in html


# ---- two-person approval -------------------------------------------------------------------


def _new_mou(client, school_id: int, partner_id: int) -> int:
    response = client.post(
        "/mous/new",
        data={
            "partner_id": str(partner_id),
            "school_ids": [str(school_id)],
            "school_year": "2025-26",
            "start_date": "2025-09-01",
            "end_date": "2026-06-30",
        },
    )
    assert response.status_code == 302, page(response)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_whoever_drafted_or_last_edited_cannot_activate(
    client, login, make_user, make_mou, reading, lincoln
) -> None:
    drafter = login("coordinator")
    mou_id = _new_mou(client, lincoln.id, reading.partner_id)
    mou = fresh(mou_id)
    assert mou.drafted_by_id == mou.last_edited_by_id == drafter.id
    ready(mou)
    assert client.post(f"/mous/{mou_id}/submit").status_code == 302

    refused = page(client.post(f"/mous/{mou_id}/activate", follow_redirects=True))
    assert "Another coordinator or an admin must activate it; you drafted it." in refused
    assert drafter.email in refused  # "other than ... who drafted it"
    assert fresh(mou_id).status == MOUStatus.SUBMITTED

    editor = switch(client, login, "coordinator")
    mou_services.update_mou(
        fresh(mou_id),
        MOUDetails(
            school_ids=[lincoln.id],
            school_year="2025-26",
            start_date=date(2025, 9, 1),
            end_date=date(2026, 6, 30),
            signed_date=date(2025, 8, 15),
            signatories="Dr. Ada Lovelace, Superintendent",
            notes="Edited",
            partner_signer_name="Grace Hopper",
            partner_signer_title="Executive director",
            partner_signed_date=date(2025, 8, 20),
        ),
        fresh(mou_id).version,
        by=editor,
    )
    db.session.commit()
    refused = page(client.post(f"/mous/{mou_id}/activate", follow_redirects=True))
    assert "Another coordinator or an admin must activate it; you last edited it." in refused
    assert fresh(mou_id).status == MOUStatus.SUBMITTED

    switch(client, login, "admin")
    assert client.post(f"/mous/{mou_id}/activate").status_code == 302
    assert fresh(mou_id).status == MOUStatus.ACTIVE


def test_two_person_approval_can_be_turned_off(app, client, login, reading, lincoln) -> None:
    app.config["MOU_TWO_PERSON_APPROVAL"] = False
    login("coordinator")
    mou_id = _new_mou(client, lincoln.id, reading.partner_id)
    ready(fresh(mou_id))
    client.post(f"/mous/{mou_id}/submit")
    assert "Any coordinator or admin may activate it." in page(client.get(f"/mous/{mou_id}"))
    client.post(f"/mous/{mou_id}/activate")
    assert fresh(mou_id).status == MOUStatus.ACTIVE


# ---- renewal -------------------------------------------------------------------------------


def test_renewal_copies_terms_and_commitments_never_a_signature_or_verification(
    make_mou, make_user, reading, lincoln
) -> None:
    mou = submitted(make_mou, reading, lincoln, shares_student_data=True, notes="Kept terms")
    mou_services.activate(mou, TODAY)
    db.session.commit()
    renewer = make_user("coordinator")
    renewal = mou_services.renew(mou, by=renewer).mou
    db.session.commit()
    renewal = fresh(renewal.id)
    assert [(c.service_id, c.school_id, c.amount) for c in renewal.commitments] == [
        (reading.id, lincoln.id, Decimal(20))
    ]
    assert renewal.schools == [lincoln] and renewal.shares_student_data
    assert (renewal.signed_date, renewal.signatories) == (None, "")
    assert (renewal.partner_signer_name, renewal.partner_signed_date) == ("", None)
    assert renewal.partner_signed_at is None and renewal.partner_signed_by_id is None
    assert renewal.dpa_status is not None and renewal.dpa_status.value != "signed"
    assert renewal.drafted_by_id == renewer.id
    assert not renewal.district_signed and not renewal.partner_signed
    assert renewal.versions == []


def test_a_second_renewal_row_is_refused_by_the_database(make_mou) -> None:
    mou = make_mou()
    first = make_mou(partner=mou.partner, renewed_from=mou)
    assert first.renewed_from_id == mou.id
    with pytest.raises(IntegrityError):
        make_mou(partner=mou.partner, renewed_from=mou)
    db.session.rollback()


def test_a_renewal_losing_the_race_names_the_draft_that_won(
    make_mou, reading, lincoln, monkeypatch
) -> None:
    mou = make_mou(partner=reading.partner, schools=[lincoln], commitments=[(reading, lincoln, 5)])
    winner = mou_services.renew(mou).mou
    db.session.commit()
    # As if the other request committed its draft between our check and our insert.
    monkeypatch.setattr(mou_services, "renewal_of", lambda _mou: None)
    with pytest.raises(mou_services.AlreadyRenewed) as lost:
        mou_services.renew(db.session.get(MOU, mou.id))
    assert lost.value.renewal.id == winner.id
    count = select(func.count(MOU.id)).where(MOU.renewed_from_id == mou.id)
    assert db.session.scalar(count) == 1


def test_two_simultaneous_renewals_give_one_draft(
    app, test_database, make_user, make_mou, reading, lincoln
) -> None:
    if not test_database.is_postgres:
        pytest.skip("two writers at once: PostgreSQL (SQLite has one writer at a time)")
    mou = make_mou(
        partner=reading.partner,
        schools=[lincoln],
        status=MOUStatus.ACTIVE,
        commitments=[(reading, lincoln, 20)],
    )
    mou_id = mou.id  # the threads have no app context of their own to load it
    emails = [make_user("coordinator").email for _ in range(2)]
    start = threading.Barrier(2)
    answers: list[tuple[int, str]] = [(0, "")] * 2
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            client = app.test_client()
            signed_in = client.post("/login", data={"email": emails[i], "password": PASSWORD})
            assert signed_in.status_code == 302
            start.wait(timeout=30)
            response = client.post(f"/mous/{mou_id}/renew")
            answers[i] = (response.status_code, response.headers.get("Location", ""))
        except BaseException as err:
            errors.append(err)
            start.abort()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    db.session.expire_all()
    drafts = db.session.scalars(select(MOU).where(MOU.renewed_from_id == mou_id)).all()
    assert len(drafts) == 1
    assert [status for status, _ in answers] == [302, 302]
    assert {location.rsplit("/", 1)[1] for _, location in answers} == {str(drafts[0].id)}


# ---- amendments ----------------------------------------------------------------------------


def _details(mou: MOU, **changes) -> MOUDetails:
    values = {
        "school_ids": [s.id for s in mou.schools],
        "school_year": mou.school_year,
        "start_date": mou.start_date,
        "end_date": mou.end_date,
        "notes": mou.notes,
        "signed_date": mou.signed_date,
        "signatories": mou.signatories,
        "shares_student_data": mou.shares_student_data,
        "partner_signer_name": mou.partner_signer_name,
        "partner_signer_title": mou.partner_signer_title,
        "partner_signed_date": mou.partner_signed_date,
    }
    values.update(changes)
    return MOUDetails(**values)


def test_an_amendment_becomes_the_next_version_and_earlier_ones_stay_readable(
    client, login, make_user, make_mou, reading, lincoln
) -> None:
    mou = submitted(make_mou, reading, lincoln)
    mou_services.activate(mou, TODAY)
    db.session.commit()

    drafter = make_user("coordinator")
    amendment = mou_services.amend(mou, by=drafter)
    db.session.commit()
    assert amendment.status == MOUStatus.DRAFT and amendment.amends_id == mou.id
    assert [c.amount for c in amendment.commitments] == [Decimal(20)]
    assert not amendment.district_signed and not amendment.partner_signed
    with pytest.raises(mou_services.AmendmentInProgress, match="amendment in progress"):
        mou_services.amend(mou)

    # A draft change: 25 seats instead of 20, and the term ends a month early.
    line = amendment.commitments[0]
    mou_services.remove_commitment(amendment, line, by=drafter)
    mou_services.add_commitment(amendment, reading, lincoln, Decimal(25), by=drafter)
    mou_services.update_mou(
        amendment, _details(amendment, end_date=date(2026, 5, 31)), amendment.version, by=drafter
    )
    mou_services.submit(amendment)
    db.session.commit()
    with pytest.raises(Refused, match="district has not signed it"):
        mou_services.activate(amendment, TODAY)
    db.session.rollback()
    amendment = fresh(amendment.id)
    ready(amendment, documents=False)  # its own signatures; the partner's papers stand
    with pytest.raises(Refused, match="you drafted it"):
        mou_services.activate(amendment, TODAY, by=drafter)
    db.session.rollback()
    amendment_id = amendment.id

    login("admin")
    response = client.post(f"/mous/{amendment_id}/activate")
    assert response.headers["Location"].endswith(f"/mous/{mou.id}")
    mou = fresh(mou.id)
    assert fresh(amendment_id) is None
    assert mou.status == MOUStatus.ACTIVE and mou.terms_version == 2
    assert mou.end_date == date(2026, 5, 31)
    assert [c.amount for c in mou.commitments] == [Decimal(25)]
    assert [v.number for v in mou.versions] == [1, 2]

    first = page(client.get(f"/mous/{mou.id}/versions/1"))
    assert "20 seats" in first and "Jun 30, 2026" in first
    assert "A later version replaced it." in first
    second = page(client.get(f"/mous/{mou.id}/versions/2"))
    assert "25 seats" in second and "May 31, 2026" in second
    detail = page(client.get(f"/mous/{mou.id}"))
    assert "Version 2" in detail and "Amendment activated" in detail
    assert "Commitment changed: After-school reading at Lincoln, from 20 to 25 seats" in detail
    assert client.get(f"/mous/{mou.id}/versions/3").status_code == 404


def test_an_amendment_uses_capacity_only_for_what_it_adds(
    make_mou, make_service, reading, lincoln
) -> None:
    pool = make_service(name="Mentoring", partner=reading.partner, capacity=Decimal(30))
    mou = submitted(make_mou, reading, lincoln, commitments=[(pool, lincoln, 20)])
    mou_services.activate(mou, TODAY)
    amendment = mou_services.amend(mou)
    db.session.commit()
    # The amendment's copy of the 20 seats is not counted twice: 10 are left.
    assert mou_services.remaining_capacity(pool, "2025-26") == Decimal(10)
    mou_services.remove_commitment(amendment, amendment.commitments[0])
    with pytest.raises(Refused, match="exceeds the overall capacity of Mentoring: 10 seats left"):
        mou_services.add_commitment(amendment, pool, lincoln, Decimal(31))
    mou_services.add_commitment(amendment, pool, lincoln, Decimal(30))
    # Meanwhile another MOU takes the last 10: the amendment no longer fits on activation.
    make_mou(partner=reading.partner, schools=[lincoln], commitments=[(pool, lincoln, 10)])
    ready(amendment, documents=False)
    mou_services.submit(amendment)
    with pytest.raises(Refused, match="Mentoring: 0 seats left"):
        mou_services.activate(amendment, TODAY)


def test_only_active_mous_are_amended_and_amendments_are_not_renewed(make_mou) -> None:
    with pytest.raises(Refused, match="Only an active MOU can be amended"):
        mou_services.amend(make_mou())
    active = make_mou(status=MOUStatus.ACTIVE)
    amendment = mou_services.amend(active)
    with pytest.raises(Refused, match="An amendment is not renewed"):
        mou_services.renew(amendment)
    with pytest.raises(Refused, match="keeps the school year"):
        mou_services.update_mou(
            amendment,
            _details(
                amendment,
                school_year="2026-27",
                start_date=date(2026, 9, 1),
                end_date=date(2027, 6, 30),
            ),
            amendment.version,
        )


# ---- history in words ----------------------------------------------------------------------


def test_the_history_says_commitment_changes_in_words(client, login, make_mou, reading, lincoln):
    login("coordinator")
    mou = make_mou(partner=reading.partner, schools=[lincoln])
    client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": str(reading.id), "school_id": str(lincoln.id), "amount": "20"},
    )
    html = page(client.get(f"/mous/{mou.id}"))
    assert "Commitment added: 20 seats of After-school reading at Lincoln" in html
    line = fresh(mou.id).commitments[0]
    client.post(f"/mous/{mou.id}/commitments/{line.id}/delete")
    html = page(client.get(f"/mous/{mou.id}"))
    assert "Commitment removed: 20 seats of After-school reading at Lincoln" in html
    trail = html.split("Changes to this MOU", 1)[1]
    for code in ("service_id", "school_id", "mou_id", "commitment"):
        assert code not in trail


# ---- the partner's sign-off ----------------------------------------------------------------


def test_a_partner_user_signs_its_mou_in_the_app(client, login, make_mou) -> None:
    user = login("partner")
    mou = make_mou(partner=user.partner, status=MOUStatus.SUBMITTED)
    assert "Sign for" in page(client.get(f"/mous/{mou.id}"))
    assert client.get(f"/mous/{mou.id}/sign").status_code == 200
    unconfirmed = client.post(
        f"/mous/{mou.id}/sign", data={"name": "Grace Hopper", "title": "Director"}
    )
    assert unconfirmed.status_code == 400
    assert "Confirm that you may sign" in page(unconfirmed)
    assert not fresh(mou.id).partner_signed

    response = client.post(
        f"/mous/{mou.id}/sign",
        data={"name": " Grace Hopper ", "title": "Executive director", "confirm": "y"},
    )
    assert response.status_code == 302
    mou = fresh(mou.id)
    assert (mou.partner_signer_name, mou.partner_signer_title) == (
        "Grace Hopper",
        "Executive director",
    )
    assert mou.partner_signed_by_id == user.id and mou.partner_signed_at is not None
    assert mou.partner_signed_date is not None and mou.partner_signed
    row = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity == "mou", AuditEntry.entity_id == mou.id)
        .order_by(AuditEntry.id.desc())
    ).first()
    assert row.user_email == user.email
    assert row.after["partner_signer_name"] == "Grace Hopper"
    assert row.after["partner_signed_by_id"] == user.id and row.after["partner_signed_at"]
    shown = page(client.get(f"/mous/{mou.id}"))
    assert "signed in the registry on" in shown and user.email in shown


def test_only_that_partners_users_reach_signing_printing_and_the_pdf(
    client, login, make_mou, make_partner
) -> None:
    login("partner")
    foreign = make_mou(partner=make_partner(), status=MOUStatus.SUBMITTED)
    for url in ("sign", "print", "pdf"):
        assert client.get(f"/mous/{foreign.id}/{url}").status_code == 404, url
    post = client.post(f"/mous/{foreign.id}/sign", data={"name": "X", "title": "Y", "confirm": "y"})
    assert post.status_code == 404
    assert not fresh(foreign.id).partner_signed
    switch(client, login, "coordinator")
    assert client.get(f"/mous/{foreign.id}/sign").status_code == 404


def test_an_active_mou_is_not_signed_again(client, login, make_mou) -> None:
    user = login("partner")
    mou = make_mou(partner=user.partner, status=MOUStatus.ACTIVE)
    response = client.post(f"/mous/{mou.id}/sign", data={"name": "X", "title": "Y", "confirm": "y"})
    assert response.status_code == 302
    assert not fresh(mou.id).partner_signed


def test_a_district_recorded_signature_replaces_an_in_app_one(make_mou, make_user) -> None:
    partner_user = make_user("partner")
    mou = make_mou(partner=partner_user.partner)
    mou_services.sign_as_partner(mou, partner_user, "Grace Hopper", "Director")
    mou_services.update_mou(
        mou,
        _details(mou, partner_signer_name="G. Hopper", partner_signed_date=date(2025, 8, 1)),
        mou.version,
    )
    assert mou.partner_signed and mou.partner_signed_at is None
    assert mou.partner_signed_by_id is None


# ---- printable page and PDF ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "partner"])
def test_the_printable_page_and_the_pdf(client, login, make_mou, reading, lincoln, role) -> None:
    user = login(role)
    partner = user.partner or reading.partner
    service = reading if partner == reading.partner else None
    lines = [(service, lincoln, 20)] if service else []
    mou = make_mou(partner=partner, schools=[lincoln], commitments=lines)
    printable = client.get(f"/mous/{mou.id}/print")
    assert printable.status_code == 200
    html = page(printable)
    assert "mou-print.css" in html and partner.name in html and "Not signed yet" in html
    sheet = client.get("/static/mou-print.css")  # its print rules live in a stylesheet (CSP)
    assert sheet.status_code == 200 and b"@media print" in sheet.data
    sheet.close()
    if service:
        assert "After-school reading" in html
    pdf = client.get(f"/mous/{mou.id}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment")


def test_the_pdf_survives_names_outside_latin_1(client, login, make_mou, make_partner) -> None:
    login("coordinator")
    mou = make_mou(partner=make_partner(name="Ação — 学习 Partners"), notes="“Quoted” … →")
    assert client.get(f"/mous/{mou.id}/pdf").data.startswith(b"%PDF")


# ---- the service's direct student contact --------------------------------------------------


def test_the_service_form_records_direct_student_contact(client, login, reading) -> None:
    login("coordinator")
    assert "Its staff work directly with students" in page(
        client.get(f"/services/{reading.id}/edit")
    )
    data = {
        "partner_id": str(reading.partner_id),
        "name": reading.name,
        "category": "academic_support",
        "grades": ["K"],
        "languages": ["English"],
        "setting": "school_day",
        "unit": "seats",
        "capacity": "100",
        "cost": "0",
        "active": "y",
        "version": str(reading.version),
    }
    assert client.post(f"/services/{reading.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert reading.direct_student_contact is False
    data["direct_student_contact"] = "y"
    data["version"] = str(reading.version)
    assert client.post(f"/services/{reading.id}/edit", data=data).status_code == 302
    db.session.expire_all()
    assert reading.direct_student_contact is True


def test_versions_are_kept_once_per_number(make_mou) -> None:
    mou = make_mou(status=MOUStatus.ACTIVE)
    assert versions.record(mou, None) is versions.record(mou, None)
    count = select(func.count(MOUVersion.id)).where(MOUVersion.mou_id == mou.id)
    assert db.session.scalar(count) == 1


def test_changing_the_terms_after_the_partner_signed_clears_its_signature(
    client, login, make_mou, make_user, reading, lincoln
) -> None:
    partner_user = make_user("partner", partner=reading.partner)
    mou = make_mou(partner=reading.partner, schools=[lincoln])
    mou_services.sign_as_partner(mou, partner_user, "Grace Hopper", "Director")
    db.session.commit()
    login("coordinator")
    response = client.post(
        f"/mous/{mou.id}/commitments",
        data={"service_id": str(reading.id), "school_id": str(lincoln.id), "amount": "5"},
        follow_redirects=True,
    )
    assert "its signature was cleared" in page(response)
    mou = fresh(mou.id)
    assert not mou.partner_signed and mou.partner_signed_by_id is None
    # A notes-only edit keeps a signature; a new end date does not.
    mou_services.sign_as_partner(mou, partner_user, "Grace Hopper", "Director")
    mou_services.update_mou(mou, _details(mou, notes="Typo fixed"), mou.version)
    assert mou.partner_signed
    mou_services.update_mou(mou, _details(mou, end_date=date(2026, 5, 1)), mou.version)
    assert not mou.partner_signed


def test_the_amend_button_drafts_one_amendment(client, login, make_mou) -> None:
    login("coordinator")
    mou = make_mou(status=MOUStatus.ACTIVE)
    assert f"/mous/{mou.id}/amend" in page(client.get(f"/mous/{mou.id}"))
    first = client.post(f"/mous/{mou.id}/amend")
    assert first.status_code == 302
    amendment = db.session.scalars(select(MOU).where(MOU.amends_id == mou.id)).one()
    assert first.headers["Location"].endswith(f"/mous/{amendment.id}")
    shown = page(client.get(f"/mous/{amendment.id}"))
    assert "Amendment to the MOU" in shown and "What is missing before activation" in shown
    again = client.post(f"/mous/{mou.id}/amend", follow_redirects=True)
    assert "already has an amendment in progress" in page(again)
    count = select(func.count(MOU.id)).where(MOU.amends_id == mou.id)
    assert db.session.scalar(count) == 1
    assert "An amendment of this MOU is in progress" in page(client.get(f"/mous/{mou.id}"))
