"""A one-page PDF of plain text lines: the demo's stand-in for scanned paperwork.

Written with fpdf2, as the MOU's own PDF is (`registry.mous.pdf`), with a fixed creation
date, so the same lines always give the same bytes (the file is kept under its hash), and
it passes the same check as any upload (`registry.documents.services.check_pdf`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

from registry.mous.pdf import latin1

CREATED = datetime(2026, 1, 1, tzinfo=UTC)  # the same bytes on every run


def placeholder_pdf(lines: list[str]) -> bytes:
    """A valid, unencrypted one-page PDF showing `lines` (in Latin-1, as the MOU's PDF)."""
    pdf = FPDF(format="letter")
    pdf.set_creation_date(CREATED)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in lines:
        pdf.cell(0, 6, latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
