"""Applying to be a partner (/apply, no sign-in) and the coordinators' review queue."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, format_timedelta, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from registry.access import EDITORS, roles_required
from registry.applications import services as application_services
from registry.applications.forms import HONEYPOT, ApplicationForm
from registry.applications.mailing import send_after_commit
from registry.documents.services import max_bytes
from registry.documents.views import FORM_ROOM
from registry.extensions import db
from registry.ids import is_id
from registry.invitations.views import invitation_mail
from registry.mail import message
from registry.models import Application, ApplicationStatus, Document, DocumentType, Invitation
from registry.models.columns import utcnow
from registry.partners.forms import ApproveForm, ReturnForm
from registry.refusals import Refused, show_refusal

bp = Blueprint("applications", __name__)


def client_ip() -> str:
    """The client's address (behind a proxy, the deployment sets ProxyFix to trust it)."""
    return request.remote_addr or "unknown"


def _wait_in_words(wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    return format_timedelta(
        timedelta(minutes=minutes), granularity="minute", threshold=2, add_direction=True
    )


@bp.url_value_preprocessor
def allow_two_documents(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before the form is read: an application may carry two PDFs of a document's size
    # (MAX_CONTENT_LENGTH bounds every other upload).
    if endpoint == "applications.apply":
        request.max_content_length = 2 * max_bytes() + FORM_ROOM


@bp.route("/apply", methods=["GET", "POST"])
def apply() -> ResponseReturnValue:
    form = ApplicationForm()
    if request.method == "POST":
        limit = int(
            current_app.config.get("APPLICATION_RATE_LIMIT", application_services.RATE_LIMIT)
        )
        wait = application_services.retry_after(client_ip(), utcnow(), limit=limit)
        if wait is not None:
            page = render_template("applications/too_many.html", wait=_wait_in_words(wait))
            return page, 429, {"Retry-After": str(math.ceil(wait.total_seconds()))}
        if request.form.get(HONEYPOT):
            # A robot filled the hidden field: it sees the usual thanks, and nothing is kept.
            return redirect(url_for("applications.thanks"))
    if form.validate_on_submit():
        try:
            application_services.submit(
                {name: form[name].data for name in application_services.APPLICANT_FIELDS},
                form.service_rows(),
                form.applicant_name.data or "",
                form.applicant_email.data or "",
                client_ip(),
                utcnow(),
                locale=str(get_locale() or ""),
                documents=_documents(form),
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            return redirect(url_for("applications.thanks"))
    status = 400 if request.method == "POST" else 200
    return render_template("applications/apply.html", form=form), status


def _documents(form: ApplicationForm) -> list[tuple[DocumentType, str, bytes]]:
    """The PDFs sent with the form: (type, file name, content), skipping empty fields."""
    found = []
    for doc_type, name in application_services.DOCUMENT_FIELDS.items():
        upload = form[name].data
        if isinstance(upload, FileStorage) and upload.filename:
            found.append((doc_type, upload.filename, upload.read()))
    return found


@bp.get("/apply/thanks")
def thanks() -> ResponseReturnValue:
    return render_template("applications/thanks.html")


# ---- review ---------------------------------------------------------------------------------


def _application_or_404(application_id: int) -> Application:
    found = db.session.get(Application, application_id) if is_id(application_id) else None
    if found is None:
        abort(404)
    return found


@bp.get("/applications/")
@roles_required(*EDITORS)
def index() -> ResponseReturnValue:
    wanted = request.args.get("status")
    status = ApplicationStatus(wanted) if wanted in set(ApplicationStatus) else None
    applications = db.session.scalars(application_services.queue_query(status)).all()
    return render_template("applications/index.html", applications=applications, status=status)


def _detail_page(application: Application, return_form: ReturnForm | None = None) -> str:
    return render_template(
        "applications/detail.html",
        application=application,
        documents=db.session.scalars(
            select(Document).where(Document.partner_id == application.partner_id)
        ).all(),
        approve_form=ApproveForm(),
        return_form=return_form or ReturnForm(),
    )


@bp.get("/applications/<int:application_id>")
@roles_required(*EDITORS)
def detail(application_id: int) -> ResponseReturnValue:
    return _detail_page(_application_or_404(application_id))


def _in_applicants_language(application: Application) -> Any:
    """Write the applicant's email in the language they applied in."""
    return force_locale(application.locale or current_app.config["BABEL_DEFAULT_LOCALE"])


def _approval_mail(application: Application, invited: tuple[Invitation, str] | None) -> None:
    with _in_applicants_language(application):
        subject, body = _approval_text(application, invited)
    send_after_commit(
        [message([application.applicant_email], subject, body, reply_to=current_user.email)],
        _not_sent(application),
    )


def _not_sent(application: Application) -> str:
    return _(
        "The decision is saved, but the email to %(email)s could not be sent: "
        "tell the applicant yourself.",
        email=application.applicant_email,
    )


def _approval_text(
    application: Application, invited: tuple[Invitation, str] | None
) -> tuple[str, str]:
    name = application.partner.name
    subject = _("%(partner)s is approved as a district partner", partner=name)
    if invited is not None:
        _subject, invitation_text = invitation_mail(*invited)
        next_step = invitation_text
    else:
        next_step = _(
            "Sign in with your account to keep your listing up to date: %(link)s",
            link=url_for("auth.login", _external=True),
        )
    body = _(
        "Hello %(applicant)s,\n\nThe district's partnership office approved the application "
        "of %(partner)s. Your services are now listed.\n\n%(next)s\n",
        applicant=application.applicant_name,
        partner=name,
        next=next_step,
    )
    return subject, body


@bp.post("/applications/<int:application_id>/approve")
@roles_required(*EDITORS)
def approve(application_id: int) -> ResponseReturnValue:
    application = _application_or_404(application_id)
    form = ApproveForm()
    if form.validate_on_submit():
        try:
            invited = application_services.approve(application, current_user, utcnow())
        except Refused as err:
            show_refusal(err)
        else:
            _approval_mail(application, invited)
            flash(_("%(name)s is approved.", name=application.partner.name), "success")
            return redirect(url_for("applications.index"))
    return redirect(url_for("applications.detail", application_id=application.id))


@bp.post("/applications/<int:application_id>/return")
@roles_required(*EDITORS)
def return_(application_id: int) -> ResponseReturnValue:
    application = _application_or_404(application_id)
    form = ReturnForm()
    if form.validate_on_submit():
        try:
            application_services.return_application(
                application, form.comment.data or "", current_user, utcnow()
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            with _in_applicants_language(application):
                subject, body = _return_text(application)
            send_after_commit(
                [
                    message(
                        [application.applicant_email], subject, body, reply_to=current_user.email
                    )
                ],
                _not_sent(application),
            )
            flash(_("Returned to the applicant with your comments."), "success")
            return redirect(url_for("applications.index"))
    return _detail_page(application, form), 400


def _return_text(application: Application) -> tuple[str, str]:
    subject = _(
        "Your application for %(partner)s: changes needed", partner=application.partner.name
    )
    body = _(
        "Hello %(applicant)s,\n\nThe district's partnership office reviewed the "
        "application of %(partner)s and returns it with these comments:\n\n%(comment)s\n\n"
        "Reply to this email with the changes or documents asked for.\n",
        applicant=application.applicant_name,
        partner=application.partner.name,
        comment=application.comment,
    )
    return subject, body
