"""Applying to be a partner: the form, abuse resistance, the review queue and its emails."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from registry import audit
from registry.applications import services as application_services
from registry.extensions import db
from registry.models import (
    Application,
    ApplicationAttempt,
    ApplicationStatus,
    AuditEntry,
    Document,
    DocumentStatus,
    DocumentType,
    Invitation,
    Partner,
    Service,
)
from registry.vocabulary import PartnerStatus
from tests.conftest import SMTPInbox


@pytest.fixture(autouse=True)
def _changes_start_unattributed():
    audit.set_actor(audit.SYSTEM)


def application_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid application with two services."""
    data: dict[str, Any] = {
        "name": "Harbor Youth Collaborative",
        "partner_type": "nonprofit",
        "description": "After-school tutoring and family nights",
        "website": "https://harbor.example",
        "address": "1 Harbor Way",
        "zip": "01602",
        "languages": ["English", "Portuguese"],
        "district_wide": "y",
        "service_zips": "",
        "applicant_name": "Ana Lima",
        "applicant_email": "Ana@Harbor.example",
        "contact_name": "",
        "email": "",
        "phone": "508-555-0100",
        "service_1_name": "Homework Club",
        "service_1_category": "academic_support",
        "service_1_setting": "after_school",
        "service_1_grade_from": "3",
        "service_1_grade_to": "5",
        "service_1_description": "Two afternoons a week",
        "service_2_name": "Family Nights",
        "service_2_category": "family_engagement",
        "service_2_setting": "family",
        "service_2_grade_from": "PK",
        "service_2_grade_to": "12",
        "service_2_description": "",
        "service_3_name": "",
        "service_3_category": "mentoring",
        "service_3_setting": "school_day",
        "service_3_grade_from": "PK",
        "service_3_grade_to": "12",
    }
    data.update(overrides)
    return data


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_the_form_works_without_signing_in(client):
    html = client.get("/apply").get_data(as_text=True)
    assert 'name="service_3_name"' in html  # repeated rows: no script needed
    assert 'name="fax_number"' in html and 'aria-hidden="true"' in html


def test_an_application_becomes_an_applicant_partner_with_inactive_services(client):
    response = client.post("/apply", data=application_data())
    assert response.status_code == 302 and response.location.endswith("/apply/thanks")
    partner = db.session.scalars(select(Partner)).one()
    assert partner.status == PartnerStatus.APPLICANT
    assert partner.email == "ana@harbor.example"  # the applicant's, when no public one is given
    assert partner.contact_name == "Ana Lima"
    assert partner.languages == ["English", "Portuguese"]
    services = {s.name: s for s in partner.services}
    assert set(services) == {"Homework Club", "Family Nights"}
    assert services["Homework Club"].grades == ["3", "4", "5"]
    assert not any(s.active for s in partner.services)
    application = db.session.scalars(select(Application)).one()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.applicant_email == "ana@harbor.example"
    created = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "partner", AuditEntry.action == "create")
    ).one()
    assert created.user_email == "applicant ana@harbor.example"


def test_an_application_needs_a_service_and_ordered_grades(client):
    response = client.post("/apply", data=application_data(service_1_name="", service_2_name=""))
    assert response.status_code == 400
    assert "Name at least one service you offer." in response.get_data(as_text=True)
    response = client.post(
        "/apply", data=application_data(service_1_grade_from="5", service_1_grade_to="K")
    )
    assert response.status_code == 400
    assert "The last grade comes before the first." in response.get_data(as_text=True)
    assert count(Partner) == 0


def test_a_taken_name_is_refused_in_words(client, make_partner):
    make_partner(name="Harbor Youth Collaborative")
    response = client.post("/apply", data=application_data())
    assert response.status_code == 400
    assert "already registered" in response.get_data(as_text=True)
    assert count(Application) == 0


def test_a_filled_honeypot_looks_accepted_and_stores_nothing(client):
    response = client.post("/apply", data=application_data(fax_number="555-0199"))
    assert response.status_code == 302 and response.location.endswith("/apply/thanks")
    assert count(Partner) == 0
    assert count(Application) == 0
    assert count(ApplicationAttempt) == 0


def test_the_form_needs_its_csrf_token(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/apply", data=application_data())
    assert response.status_code == 400
    assert count(Partner) == 0


def test_five_applications_an_hour_per_address(client):
    for n in range(5):
        data = application_data(name=f"Org {n}")
        assert client.post("/apply", data=data).status_code == 302
    response = client.post("/apply", data=application_data(name="Org 6"))
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert re.search(r"try again in (\d+ minutes|1 hour)", response.get_data(as_text=True))
    assert count(Partner) == 5
    # Another address is not held back by this one.
    other = client.post(
        "/apply",
        data=application_data(name="Org 7"),
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert other.status_code == 302


def test_the_limit_counts_only_the_last_hour(app):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    ip = "203.0.113.9"
    for minutes_ago in (70, 50, 40, 30, 20):
        db.session.add(ApplicationAttempt(client_ip=ip, at=now - timedelta(minutes=minutes_ago)))
    db.session.commit()
    assert application_services.retry_after(ip, now) is None  # 4 in the hour
    db.session.add(ApplicationAttempt(client_ip=ip, at=now - timedelta(minutes=10)))
    db.session.commit()
    # 5 in the hour: the oldest of them (50 minutes ago) leaves the window in 10 minutes.
    assert application_services.retry_after(ip, now) == timedelta(minutes=10)
    assert application_services.retry_after("203.0.113.10", now) is None
    later = now + timedelta(minutes=11)
    assert application_services.retry_after(ip, later) is None


# ---- review ---------------------------------------------------------------------------------


def _applied(client) -> Application:
    assert client.post("/apply", data=application_data()).status_code == 302
    return db.session.scalars(select(Application)).one()


def test_only_the_district_sees_the_queue(client, login):
    application = _applied(client)
    assert client.get("/applications/").status_code == 302  # to sign in
    login("partner")
    assert client.get("/applications/").status_code == 404
    assert client.get(f"/applications/{application.id}").status_code == 404
    assert client.post(f"/applications/{application.id}/approve").status_code == 404


def test_approval_publishes_the_partner_and_emails_an_invitation(
    client, login, smtp_server: SMTPInbox
):
    application = _applied(client)
    coordinator = login("coordinator")
    queue = client.get("/applications/").get_data(as_text=True)
    assert "Harbor Youth Collaborative" in queue
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Homework Club" in page and "Family Nights" in page

    response = client.post(f"/applications/{application.id}/approve")
    assert response.status_code == 302
    db.session.expire_all()
    partner = db.session.get(Partner, application.partner_id)
    assert partner.status == PartnerStatus.APPROVED
    assert all(s.active for s in partner.services)
    assert db.session.get(Application, application.id).status == ApplicationStatus.APPROVED

    [mail] = smtp_server.to("ana@harbor.example")
    assert "approved" in mail["Subject"]
    assert mail["Reply-To"] == coordinator.email
    body = mail.get_content()
    link = re.search(r"http://registry\.test/invitations/(\S+)", body)
    assert link, body
    invitation = db.session.scalars(select(Invitation)).one()
    assert invitation.email == "ana@harbor.example" and invitation.partner_id == partner.id
    assert link.group(1) not in invitation.token_hash  # only the hash is kept

    # The invitation in the email works: the applicant creates their account.
    client.post("/logout")
    accepted = client.post(
        f"/invitations/{link.group(1)}",
        data={"name": "Ana Lima", "password": "a long passphrase", "confirm": "a long passphrase"},
    )
    assert accepted.status_code == 302 and accepted.location.endswith("/partners/mine")


def test_returning_emails_the_comments(client, login, smtp_server: SMTPInbox):
    application = _applied(client)
    login("coordinator")
    refused = client.post(f"/applications/{application.id}/return", data={"comment": " "})
    assert refused.status_code == 400
    assert smtp_server.messages == []
    response = client.post(
        f"/applications/{application.id}/return",
        data={"comment": "Please name the schools you already work with."},
    )
    assert response.status_code == 302
    db.session.expire_all()
    returned = db.session.get(Application, application.id)
    assert returned.status == ApplicationStatus.RETURNED
    assert db.session.get(Partner, application.partner_id).status == PartnerStatus.APPLICANT
    [mail] = smtp_server.to("ana@harbor.example")
    assert "Please name the schools you already work with." in mail.get_content()
    # Returned applications stay in the queue and may still be approved.
    assert "Harbor Youth Collaborative" in client.get("/applications/").get_data(as_text=True)
    assert client.post(f"/applications/{application.id}/approve").status_code == 302
    assert len(smtp_server.to("ana@harbor.example")) == 2


def test_without_mail_the_decision_stands_and_the_page_says_so(app, client, login):
    app.config["SMTP_URL"] = None
    application = _applied(client)
    login("coordinator")
    response = client.post(f"/applications/{application.id}/approve", follow_redirects=True)
    assert response.status_code == 200
    assert "could not be sent" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Partner, application.partner_id).status == PartnerStatus.APPROVED


def test_an_approved_application_cannot_be_decided_again(client, login, smtp_server):
    application = _applied(client)
    login("coordinator")
    client.post(f"/applications/{application.id}/approve")
    again = client.post(f"/applications/{application.id}/approve", follow_redirects=True)
    assert "already approved" in again.get_data(as_text=True)
    assert len(smtp_server.messages) == 1


def test_an_existing_account_is_not_invited_again(client, login, make_user, smtp_server):
    application = _applied(client)
    make_user("coordinator", email="ana@harbor.example")
    login("coordinator")
    client.post(f"/applications/{application.id}/approve")
    [mail] = smtp_server.to("ana@harbor.example")
    assert "/invitations/" not in mail.get_content()
    assert "/login" in mail.get_content()
    assert count(Invitation) == 0


def test_services_rows_are_stored_as_services(client):
    _applied(client)
    names = db.session.scalars(select(Service.name).order_by(Service.name)).all()
    assert names == ["Family Nights", "Homework Club"]


# ---- documents sent with an application -----------------------------------------------------


def _pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdfs_sent_with_an_application_are_kept_pending(app, client, tmp_path, login):
    app.config["DOCUMENTS_DIR"] = str(tmp_path)
    content = _pdf()
    data = application_data(insurance_certificate=(io.BytesIO(content), "certificate.pdf"))
    response = client.post("/apply", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    document = db.session.scalars(select(Document)).one()
    assert document.doc_type == DocumentType.INSURANCE_CERTIFICATE
    assert document.status == DocumentStatus.PENDING
    assert document.filename == "certificate.pdf" and document.size == len(content)
    assert (tmp_path / f"{hashlib.sha256(content).hexdigest()}.pdf").read_bytes() == content
    login("coordinator")
    application = db.session.scalars(select(Application)).one()
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "certificate.pdf" in page


def test_a_file_that_is_not_a_pdf_is_refused(app, client, tmp_path):
    app.config["DOCUMENTS_DIR"] = str(tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    data = application_data(background_check=(io.BytesIO(png), "policy.pdf"))
    response = client.post("/apply", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "The file is not a PDF" in response.get_data(as_text=True)
    assert count(Partner) == 0 and count(Document) == 0
    assert list(tmp_path.iterdir()) == []


def test_the_applicants_language_is_remembered(client):
    assert client.post("/apply?lang=es", data=application_data()).status_code == 302
    assert db.session.scalars(select(Application)).one().locale == "es"


def test_two_documents_larger_than_other_uploads_may_be_sent(app, client, tmp_path):
    # Every other upload is bounded by MAX_CONTENT_LENGTH (5 MB); an application may
    # carry two PDFs of up to a document's size each.
    app.config["DOCUMENTS_DIR"] = str(tmp_path)
    app.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024
    padded = _pdf() + b"%" + b" " * (6 * 1024 * 1024) + b"\n"  # a comment after %%EOF
    data = application_data(
        insurance_certificate=FileStorage(io.BytesIO(padded), "certificate.pdf"),
        background_check=FileStorage(io.BytesIO(padded), "policy.pdf"),
    )
    # Encoded in memory: the test client spools a large body to a file it never closes.
    boundary, body = encode_multipart(data)
    response = client.post(
        "/apply", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert len(db.session.scalars(select(Document)).all()) == 2
