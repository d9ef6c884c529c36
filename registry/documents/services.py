"""Documents: what a file must be to be kept, who verifies it, and which one satisfies a gate.

Services change objects and flush; they never commit. The audit hook records every
upload, date edit, verification and rejection (an insert or an update of a Document);
a download changes nothing, so `record_download` writes its audit row itself.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from registry import downloads
from registry.access import EDITORS
from registry.concurrency import check_version
from registry.documents import storage
from registry.extensions import db
from registry.models import MOU, Partner, User
from registry.models.audit import AuditEntry
from registry.models.columns import utcnow
from registry.models.document import Document, DocumentStatus, DocumentType
from registry.refusals import Refused

PDF_MAGIC = b"%PDF-"

# Documents that a gate checks against an MOU's term: without an expiry date none can
# ever cover a term (Document.covers), so one is required when they are uploaded.
EXPIRING_TYPES = frozenset(
    {
        DocumentType.INSURANCE_CERTIFICATE,
        DocumentType.BACKGROUND_CHECK,
        DocumentType.DATA_PRIVACY_AGREEMENT,
    }
)

# What malformed input can make pypdf raise besides its own errors, while it reads a file.
_PARSE_ERRORS = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RecursionError,
    OSError,
)


def megabytes(size: int) -> str:
    """A byte count as whole megabytes for messages: 10485760 → '10'."""
    return f"{size / (1024 * 1024):g}"


def max_bytes() -> int:
    """The largest document accepted (config DOCUMENT_MAX_BYTES)."""
    return int(current_app.config["DOCUMENT_MAX_BYTES"])


def check_pdf(content: bytes, limit: int, field: str = "file") -> None:
    """Refuse a file that is too large, not a PDF, encrypted, or corrupt (on the form's `field`)."""
    if len(content) > limit:
        raise Refused(
            _(
                "The file is larger than %(limit)s MB. Upload a smaller PDF "
                "(for example, scanned at a lower resolution, or split into parts).",
                limit=megabytes(limit),
            ),
            field=field,
        )
    if not content:
        raise Refused(_("The file is empty. Choose the PDF again."), field=field)
    if not content.startswith(PDF_MAGIC):
        raise Refused(
            _(
                "The file is not a PDF. Only PDF documents can be uploaded: "
                "save or print the document as a PDF, then upload that."
            ),
            field=field,
        )
    corrupt = Refused(
        _(
            "The PDF could not be read: it is damaged or incomplete. "
            "Save or scan it again, then upload the new file."
        ),
        field=field,
    )
    try:
        reader = PdfReader(io.BytesIO(content), strict=True)
        if reader.is_encrypted:
            raise Refused(
                _(
                    "The PDF is protected with a password, so the district cannot read it. "
                    "Save a copy without a password, then upload that."
                ),
                field=field,
            )
        pages = reader.pages
        if len(pages) == 0:
            raise corrupt
        for page in pages:  # reading each page's content finds damage the cross-reference hides
            page.get_contents()
    except _PARSE_ERRORS as err:
        raise corrupt from err


def clean_filename(name: str | None) -> str:
    """The name an upload is shown and sent back under: no folders, no control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip(" .")
    if len(base) > 255:
        base = base[:251] + ".pdf"
    return base or "document.pdf"


def ascii_filename(name: str) -> str:
    """A plain-ASCII stand-in for a file name, for clients that do not read RFC 5987."""
    return downloads.ascii_fallback(name, ".pdf", default="document")


def download_name(document: Document) -> str:
    """The file name a download is offered under: the uploaded name, ending in .pdf."""
    name = document.filename
    return name if name.lower().endswith(".pdf") else f"{name}.pdf"


@dataclass(frozen=True)
class DocumentDates:
    effective: date | None
    expiry: date | None


def _check_dates(doc_type: DocumentType, dates: DocumentDates) -> None:
    if dates.expiry is None and doc_type in EXPIRING_TYPES:
        raise Refused(
            _("Enter the date this document expires: without one it cannot count for an MOU."),
            field="expiry_date",
        )
    if dates.effective and dates.expiry and dates.expiry < dates.effective:
        raise Refused(
            _("The expiry date must be on or after the date the document takes effect."),
            field="expiry_date",
        )


def upload(
    partner: Partner,
    *,
    doc_type: DocumentType,
    dates: DocumentDates,
    filename: str | None,
    content: bytes,
    by: User | None,
    mou: MOU | None = None,
    limit: int | None = None,
) -> Document:
    """Check a PDF, keep its file, and record it as a pending document of the partner (or MOU).

    `by` is None for an upload nobody signed in made (an organisation's application).
    """
    if mou is not None and mou.partner_id != partner.id:
        raise Refused(_("Choose one of this partner's MOUs."), field="mou_id")
    if doc_type == DocumentType.SIGNED_MOU and mou is None:
        raise Refused(_("A signed MOU belongs to an MOU: choose which one."), field="mou_id")
    _check_dates(doc_type, dates)
    check_pdf(content, max_bytes() if limit is None else limit)
    sha256 = storage.store(content)
    document = Document(
        partner=partner,
        mou=mou,
        doc_type=doc_type,
        filename=clean_filename(filename),
        sha256=sha256,
        size=len(content),
        effective_date=dates.effective,
        expiry_date=dates.expiry,
        status=DocumentStatus.PENDING,
        uploaded_by=by,
    )
    db.session.add(document)
    db.session.flush()
    return document


def change_dates(
    document: Document, dates: DocumentDates, version: int | str | None, by: User
) -> bool:
    """Correct a document's dates; a reviewed document goes back to pending. False if unchanged.

    What was verified was the document with its dates: new dates need a new check,
    whoever makes the change.
    """
    check_version(document, version)
    _check_dates(document.doc_type, dates)
    if (document.effective_date, document.expiry_date) == (dates.effective, dates.expiry):
        return False
    document.effective_date = dates.effective
    document.expiry_date = dates.expiry
    if document.status != DocumentStatus.PENDING:
        _back_to_pending(document)
    db.session.flush()
    return True


def _back_to_pending(document: Document) -> None:
    document.status = DocumentStatus.PENDING
    document.reviewed_by = None
    document.reviewed_at = None
    document.rejection_reason = ""


def may_review(user: User) -> bool:
    """Whether a user verifies and rejects documents (coordinators and admins)."""
    return bool(user.is_authenticated and user.role in EDITORS)


def verify(document: Document, version: int | str | None, by: User) -> None:
    """Mark a document verified by a coordinator, now."""
    if not may_review(by):
        raise Refused(_("Only district coordinators verify documents."))
    check_version(document, version)
    if document.status == DocumentStatus.VERIFIED:
        raise Refused(_("This document is already verified."))
    document.status = DocumentStatus.VERIFIED
    document.reviewed_by = by
    document.reviewed_at = utcnow()
    document.rejection_reason = ""
    db.session.flush()


def reject(document: Document, reason: str, version: int | str | None, by: User) -> None:
    """Mark a document rejected by a coordinator, with the reason the partner will read."""
    if not may_review(by):
        raise Refused(_("Only district coordinators reject documents."))
    check_version(document, version)
    reason = reason.strip()
    if not reason:
        raise Refused(_("Say why the document is rejected."), field="reason")
    if document.status == DocumentStatus.REJECTED:
        raise Refused(_("This document is already rejected."))
    document.status = DocumentStatus.REJECTED
    document.reviewed_by = by
    document.reviewed_at = utcnow()
    document.rejection_reason = reason
    db.session.flush()


def record_download(document: Document, by: User) -> None:
    """Write the audit row for a download (nothing else changes, so the hook writes none)."""
    db.session.add(
        AuditEntry(
            user_id=by.id,
            user_email=by.email,
            action="download",
            entity="document",
            entity_id=document.id,
            summary=f"download document {document.filename}"[:300],
            before=None,
            after={"filename": document.filename, "sha256": document.sha256},
        )
    )
    db.session.flush()


def partner_documents(partner: Partner) -> list[Document]:
    """A partner's documents, its MOUs' included: newest first."""
    stmt = (
        select(Document)
        .where(Document.partner_id == partner.id)
        .order_by(Document.uploaded_at.desc(), Document.id.desc())
        .options(selectinload(Document.reviewed_by))  # a statement, not one a reviewer
    )
    return list(db.session.scalars(stmt))


def mou_documents(mou: MOU) -> list[Document]:
    """The documents uploaded for one MOU: newest first."""
    stmt = (
        select(Document)
        .where(Document.mou_id == mou.id)
        .order_by(Document.uploaded_at.desc(), Document.id.desc())
        .options(selectinload(Document.reviewed_by))  # a statement, not one a reviewer
    )
    return list(db.session.scalars(stmt))


def verified_document(
    partner: Partner, doc_type: DocumentType, first: date, last: date, mou: MOU | None = None
) -> Document | None:
    """A verified document of that type in force on every day of [first, last], or None.

    Without `mou`, only the partner's own documents count (not those filed on one of its
    MOUs); with it, the partner's own and that MOU's, never another MOU's. Of several,
    the one that runs longest.
    """
    stmt = select(Document).where(
        Document.partner_id == partner.id,
        Document.doc_type == doc_type,
        Document.status == DocumentStatus.VERIFIED,
        or_(Document.effective_date.is_(None), Document.effective_date <= first),
        Document.expiry_date.is_not(None),
        Document.expiry_date >= last,
    )
    if mou is None:
        stmt = stmt.where(Document.mou_id.is_(None))
    else:
        stmt = stmt.where(or_(Document.mou_id.is_(None), Document.mou_id == mou.id))
    stmt = stmt.order_by(Document.expiry_date.desc(), Document.id.desc()).limit(1)
    return db.session.scalars(stmt).first()


def content_disposition(name: str) -> str:
    """An attachment header for a file name, per RFC 6266 with an RFC 5987 UTF-8 form."""
    return downloads.disposition(name, ascii_filename(name))


@dataclass(frozen=True)
class TrailEntry:
    """One line of a document's history, in words."""

    entry: AuditEntry
    what: str


def _what(entry: AuditEntry) -> str:
    after = entry.after or {}
    if entry.action == "create":
        return _("Uploaded")
    if entry.action == "download":
        return _("Downloaded")
    if entry.action == "delete":
        return _("Deleted")
    if entry.action == "status":
        status = after.get("status")
        if status == DocumentStatus.VERIFIED.value:
            return _("Verified")
        if status == DocumentStatus.REJECTED.value:
            return _("Rejected: %(reason)s", reason=after.get("rejection_reason") or "")
        return _("Dates changed; pending verification again")
    return _("Dates changed")


def document_trail(document: Document) -> list[TrailEntry]:
    """A document's audit rows, newest first: uploaded, dates changed, reviewed, downloaded."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == "document", AuditEntry.entity_id == document.id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return [TrailEntry(entry, _what(entry)) for entry in db.session.scalars(stmt)]
