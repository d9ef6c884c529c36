"""Document pages: upload, a document's page, its dates, verification, and the download.

A download is a POST: it writes an audit row, and in this app a GET never writes
(registry.unit_of_work makes safe requests read-only). A button in a form, with its
CSRF token, also means each audited download is a person's deliberate request, never a
link prefetcher's or a mail scanner's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from registry import district_time
from registry.access import EDITORS, READERS, can_edit, roles_required, viewable_or_404
from registry.access import editable_or_404 as editable_record_or_404
from registry.documents import services, storage
from registry.documents.forms import PARTNER_WIDE, DatesForm, RejectForm, ReviewForm, UploadForm
from registry.extensions import db
from registry.models import MOU, Partner
from registry.models.document import Document, DocumentStatus, DocumentType
from registry.refusals import Refused, show_refusal
from registry.security_log import record
from registry.vocabulary import Role

bp = Blueprint("documents", __name__)

# Room in an upload's request for the form's other fields and the multipart framing, and
# for a file a little over the limit to reach the form and be refused there, in words.
FORM_ROOM = 2 * 1024 * 1024


@bp.url_value_preprocessor
def allow_document_sized_uploads(endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Before every before_request function (one reads the form): only the upload's own
    # request may be larger than MAX_CONTENT_LENGTH, which bounds every other upload.
    if endpoint == "documents.upload":
        request.max_content_length = services.max_bytes() + FORM_ROOM


@bp.errorhandler(RequestEntityTooLarge)
def too_large(err: RequestEntityTooLarge) -> ResponseReturnValue:
    reason = _(
        "A document may be up to %(limit)s MB. Upload a smaller PDF "
        "(for example, scanned at a lower resolution, or split into parts).",
        limit=services.megabytes(services.max_bytes()),
    )
    return render_template("errors/error.html", code=413, reason=reason), 413


def _viewable(document_id: int) -> Document:
    """A document of a partner the signed-in user may see, or 404."""
    document = db.get_or_404(Document, document_id)
    viewable_or_404(Partner, document.partner_id)
    return document


def _editable(document_id: int) -> Document:
    """A document of a partner the signed-in user may change, or 404."""
    document = db.get_or_404(Document, document_id)
    editable_record_or_404(Partner, document.partner_id)
    return document


def _owner_url(document: Document) -> str:
    if document.mou_id is not None:
        return url_for("mous.detail", mou_id=document.mou_id, _anchor="documents")
    return url_for("partners.detail", partner_id=document.partner_id, _anchor="documents")


def _back(document: Document, where: str | None) -> str:
    if where == "owner":
        return _owner_url(document)
    if where == "partner":
        return url_for("partners.detail", partner_id=document.partner_id, _anchor="documents")
    return url_for("documents.detail", document_id=document.id)


@dataclass(frozen=True)
class Panel:
    """What a documents panel shows, and what the reader may do there."""

    partner: Partner
    mou: MOU | None
    documents: list[Document]
    today: date
    may_upload: bool
    may_review: bool


def document_panel(partner: Partner, mou: MOU | None = None) -> Panel:
    """The documents panel of a partner's page, or of one of its MOUs' pages."""
    found = services.mou_documents(mou) if mou else services.partner_documents(partner)
    return Panel(
        partner=partner,
        mou=mou,
        documents=found,
        today=district_time.today(),
        may_upload=can_edit(current_user, partner),
        may_review=services.may_review(current_user),
    )


@bp.app_context_processor
def panel_helper() -> dict[str, Any]:
    return {"document_panel": document_panel}


@bp.route("/partners/<int:partner_id>/documents/new", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def upload(partner_id: int) -> ResponseReturnValue:
    partner = editable_record_or_404(Partner, partner_id)
    form = UploadForm(partner)
    if request.method == "GET":
        wanted = request.args.get("mou", PARTNER_WIDE)
        if any(choice.value == wanted for choice in form.mou_id.choices):
            form.mou_id.data = wanted
    if form.validate_on_submit():
        chosen = form.mou_id.data or PARTNER_WIDE
        mou = db.session.get(MOU, int(chosen)) if chosen != PARTNER_WIDE else None
        file = form.file.data
        limit = services.max_bytes()
        try:
            document = services.upload(
                partner,
                doc_type=DocumentType(form.doc_type.data),
                dates=services.DocumentDates(form.effective_date.data, form.expiry_date.data),
                filename=file.filename,
                content=file.stream.read(limit + 1),  # one byte over is enough to refuse
                by=current_user,
                mou=mou,
                limit=limit,
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            flash(
                _(
                    "%(name)s uploaded. A district coordinator will verify it.",
                    name=document.filename,
                ),
                "success",
            )
            return redirect(_owner_url(document))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "documents/upload.html",
        form=form,
        partner=partner,
        limit=services.megabytes(services.max_bytes()),
    ), status


def _detail_page(document: Document, reject_form: RejectForm | None = None) -> str:
    reviewer = services.may_review(current_user)
    if reviewer and reject_form is None:
        reject_form = RejectForm(formdata=None)
        reject_form.version.data = str(document.version)
    return render_template(
        "documents/detail.html",
        document=document,
        reject_form=reject_form if reviewer else None,
        may_review=reviewer,
        may_edit=can_edit(current_user, document.partner),
        today=district_time.today(),
        # District staff see every handling, downloads included; a partner sees the review.
        trail=services.document_trail(document) if current_user.role in READERS else None,
    )


@bp.get("/documents/<int:document_id>")
@roles_required(*READERS, Role.PARTNER)
def detail(document_id: int) -> ResponseReturnValue:
    return _detail_page(_viewable(document_id))


@bp.post("/documents/<int:document_id>/download")
@roles_required(*READERS, Role.PARTNER)
def download(document_id: int) -> ResponseReturnValue:
    document = _viewable(document_id)
    path = storage.path_for(document.sha256)
    if not path.is_file():
        current_app.logger.error("document %s: file %s is missing", document.id, path)
        abort(
            404,
            description=_(
                "The file of this document is missing from the registry's storage. "
                "Tell the district's registry team."
            ),
        )
    services.record_download(document, current_user)
    record("document.download", document_id=document.id, partner_id=document.partner_id)
    response = send_file(
        path,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=services.ascii_filename(document.filename),
        conditional=False,
        etag=False,
        max_age=None,
    )
    response.headers["Content-Disposition"] = services.content_disposition(
        services.download_name(document)
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/documents/<int:document_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS, Role.PARTNER)
def edit(document_id: int) -> ResponseReturnValue:
    document = _editable(document_id)
    form = DatesForm(obj=document if request.method == "GET" else None)
    if request.method == "GET":
        form.version.data = str(document.version)
    if form.validate_on_submit():
        was_reviewed = document.status != DocumentStatus.PENDING
        try:
            changed = services.change_dates(
                document,
                services.DocumentDates(form.effective_date.data, form.expiry_date.data),
                form.version.data,
                by=current_user,
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            if changed and was_reviewed:
                flash(_("Dates saved. The document is pending verification again."), "success")
            elif changed:
                flash(_("Dates saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("documents.detail", document_id=document.id))
    status = 400 if request.method == "POST" else 200
    return render_template("documents/edit.html", form=form, document=document), status


@bp.post("/documents/<int:document_id>/verify")
@roles_required(*EDITORS)
def verify(document_id: int) -> ResponseReturnValue:
    document = _viewable(document_id)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            services.verify(document, form.version.data, current_user)
        except Refused as err:
            show_refusal(err)
        else:
            flash(_("%(name)s verified.", name=document.filename), "success")
    return redirect(_back(document, form.back.data))


@bp.post("/documents/<int:document_id>/reject")
@roles_required(*EDITORS)
def reject(document_id: int) -> ResponseReturnValue:
    document = _viewable(document_id)
    if document.status == DocumentStatus.REJECTED:  # the page shows no form to answer on
        flash(_("This document is already rejected."), "error")
        return redirect(url_for("documents.detail", document_id=document.id))
    form = RejectForm()
    if form.validate_on_submit():
        try:
            services.reject(document, form.reason.data, form.version.data, current_user)
        except Refused as err:
            if err.field is None:  # said above the page, which may no longer show the form
                show_refusal(err)
                return redirect(url_for("documents.detail", document_id=document.id))
            show_refusal(err, form)
        else:
            flash(_("%(name)s rejected.", name=document.filename), "success")
            return redirect(url_for("documents.detail", document_id=document.id))
    return _detail_page(document, form), 400
