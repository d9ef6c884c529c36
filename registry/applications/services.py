"""Applications: an organisation applies (no sign-in); a coordinator approves or returns it.

An application becomes a partner with status applicant, with its services
inactive; approving makes the partner approved and its services active.
Abuse resistance: CSRF (the form), a honeypot field (the view), and at most
`APPLICATION_RATE_LIMIT` applications per client address per hour, counted in
the database so every worker process sees the same count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, select

from registry.audit import Actor, acting_as
from registry.documents.services import check_pdf, max_bytes
from registry.documents.storage import store
from registry.extensions import db
from registry.invitations import services as invitation_services
from registry.models import (
    Application,
    ApplicationAttempt,
    ApplicationStatus,
    Document,
    DocumentStatus,
    DocumentType,
    Invitation,
    Partner,
    Service,
    User,
)
from registry.partners import services as partner_services
from registry.refusals import Refused
from registry.users.services import find_by_email
from registry.vocabulary import GRADES, Category, PartnerStatus, Role, Setting, Unit

# The form field each kind of document sent with an application comes in.
DOCUMENT_FIELDS: dict[DocumentType, str] = {
    DocumentType.INSURANCE_CERTIFICATE: "insurance_certificate",
    DocumentType.BACKGROUND_CHECK: "background_check",
}
RATE_LIMIT = 5
RATE_WINDOW = timedelta(hours=1)
APPLICANT_FIELDS = (
    "name",
    "partner_type",
    "description",
    "website",
    "address",
    "zip",
    "languages",
    "district_wide",
    "service_zips",
    "contact_name",
    "email",
    "phone",
)


def retry_after(
    client_ip: str, now: datetime, limit: int = RATE_LIMIT, window: timedelta = RATE_WINDOW
) -> timedelta | None:
    """How long this address must wait before applying again; None when it may apply now."""
    since = now - window
    in_window = (ApplicationAttempt.client_ip == client_ip, ApplicationAttempt.at > since)
    count = db.session.scalar(select(func.count(ApplicationAttempt.id)).where(*in_window)) or 0
    if count < limit:
        return None
    # The wait ends when enough of the attempts in the window have aged out of it.
    times = db.session.scalars(
        select(ApplicationAttempt.at).where(*in_window).order_by(ApplicationAttempt.at)
    ).all()
    freed_at = times[count - limit] + window
    return max(freed_at - now, timedelta(seconds=1))


def record_attempt(client_ip: str, now: datetime, window: timedelta = RATE_WINDOW) -> None:
    """Count an application from an address (and forget attempts too old to count)."""
    db.session.execute(delete(ApplicationAttempt).where(ApplicationAttempt.at <= now - window))
    db.session.add(ApplicationAttempt(client_ip=client_ip[:64], at=now))


def _grades(first: str, last: str) -> list[str]:
    return list(GRADES[GRADES.index(first) : GRADES.index(last) + 1])


def submit(
    values: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]],
    applicant_name: str,
    applicant_email: str,
    client_ip: str,
    now: datetime,
    locale: str = "",
    documents: Sequence[tuple[DocumentType, str, bytes]] = (),
) -> Application:
    """Record an application: a partner with status applicant, its services inactive.

    `documents` are (type, file name, content) of PDFs sent with it, kept pending
    verification like any partner document.
    """
    for doc_type, _filename, content in documents:
        check_pdf(content, max_bytes(), field=DOCUMENT_FIELDS[doc_type])
    cleaned = partner_services.clean_values({k: values[k] for k in APPLICANT_FIELDS if k in values})
    if partner_services.name_taken(cleaned["name"], None):
        raise Refused(
            _(
                "An organisation with this name is already registered. "
                "Contact the partnership office if it is yours."
            ),
            field="name",
        )
    applicant_email = applicant_email.strip().lower()
    cleaned["email"] = cleaned.get("email") or applicant_email
    cleaned["contact_name"] = cleaned.get("contact_name") or applicant_name.strip()
    with acting_as(Actor(None, f"applicant {applicant_email}"[:254])):
        partner = Partner(
            **cleaned,
            status=PartnerStatus.APPLICANT,
            background_check_policy=False,
        )
        for row in services:
            partner.services.append(
                Service(
                    name=str(row["name"]).strip()[:200],
                    category=Category(row["category"]),
                    setting=Setting(row["setting"]),
                    unit=Unit.SEATS,
                    capacity=None,
                    grades=_grades(row["grade_from"], row["grade_to"]),
                    description=(row.get("description") or "").strip(),
                    active=False,  # until the application is approved
                )
            )
        application = Application(
            partner=partner,
            applicant_name=applicant_name.strip()[:200],
            applicant_email=applicant_email,
            locale=locale[:10],
            status=ApplicationStatus.SUBMITTED,
            submitted_at=now,
        )
        db.session.add(application)
        for doc_type, filename, content in documents:
            db.session.add(
                Document(
                    partner=partner,
                    doc_type=doc_type,
                    filename=clean_filename(filename),
                    sha256=store(content),
                    size=len(content),
                    status=DocumentStatus.PENDING,
                    uploaded_at=now,
                )
            )
        record_attempt(client_ip, now)
        db.session.flush()
    return application


def _review(application: Application, actor: User, now: datetime) -> None:
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Only the district reviews applications."))
    if application.status == ApplicationStatus.APPROVED:
        raise Refused(_("This application is already approved."))
    application.reviewed_by_id = actor.id
    application.reviewed_at = now


def approve(application: Application, actor: User, now: datetime) -> tuple[Invitation, str] | None:
    """Approve: the partner becomes approved and its services active.

    The applicant is invited to create an account unless one exists with their email:
    returns the invitation and its token (for the email), else None.
    """
    _review(application, actor, now)
    application.status = ApplicationStatus.APPROVED
    partner = application.partner
    partner.status = PartnerStatus.APPROVED
    for service in partner.services:
        if not service.active:
            service.active = True
    invited = None
    if find_by_email(application.applicant_email) is None:
        invited = invitation_services.invite(partner, application.applicant_email, actor, now)
    db.session.flush()
    return invited


def return_application(application: Application, comment: str, actor: User, now: datetime) -> None:
    """Return the application to the applicant with comments (it stays in the queue)."""
    comment = (comment or "").strip()
    if not comment:
        raise Refused(_("Say what the applicant should change or send."), field="comment")
    _review(application, actor, now)
    application.status = ApplicationStatus.RETURNED
    application.comment = comment
    db.session.flush()


def queue_query(status: ApplicationStatus | None) -> Select[Any]:
    """Applications in a status (None: those awaiting a decision), oldest first."""
    stmt = select(Application).order_by(Application.submitted_at, Application.id)
    if status is None:
        return stmt.where(Application.status != ApplicationStatus.APPROVED)
    return stmt.where(Application.status == status)


def clean_filename(name: str) -> str:
    """The name a file is shown under: no folders, no control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if c.isprintable()).strip(" .")
    return base[-255:] or "document.pdf"
