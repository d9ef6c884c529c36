"""Documents sent with an application: a minimal PDF check, and the file kept under its SHA-256.

The same layout as the documents area (registry.documents): files outside the web
root in `DOCUMENTS_DIR` (instance/documents by default), named by their SHA-256,
so the district verifies an applicant's certificate like any other document.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from registry.refusals import Refused

MAX_BYTES = 10 * 1024 * 1024
PDF_MAGIC = b"%PDF-"


def check_pdf(content: bytes, field: str, limit: int = MAX_BYTES) -> None:
    """Refuse a file that is empty, too large, not a PDF, encrypted or unreadable."""
    if not content:
        raise Refused(_("The file is empty. Choose the PDF again."), field=field)
    if len(content) > limit:
        raise Refused(
            _("The file is larger than %(limit)s MB.", limit=limit // (1024 * 1024)), field=field
        )
    if not content.startswith(PDF_MAGIC):
        raise Refused(_("The file is not a PDF. Save the document as a PDF first."), field=field)
    try:
        reader = PdfReader(io.BytesIO(content))
        encrypted = reader.is_encrypted
        if not encrypted and len(reader.pages) == 0:
            raise PyPdfError("no pages")
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as err:
        raise Refused(
            _("The PDF could not be read: it is damaged or incomplete."), field=field
        ) from err
    if encrypted:
        raise Refused(
            _("The PDF is protected with a password; send a copy without one."), field=field
        )


def documents_dir() -> Path:
    configured = current_app.config.get("DOCUMENTS_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "documents"


def store(content: bytes) -> str:
    """Keep the file under its SHA-256 (written whole, then renamed into place); the hash."""
    sha256 = hashlib.sha256(content).hexdigest()
    target = documents_dir() / f"{sha256}.pdf"
    if target.is_file() and target.stat().st_size == len(content):
        return sha256
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return sha256
