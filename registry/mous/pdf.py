"""An MOU as a PDF (fpdf2, pure Python): the same content as its printable page.

fpdf2's built-in Helvetica covers Latin-1 only; other characters are replaced by their
nearest Latin-1 spelling, or "?" (names in Latin scripts with accents print as typed).
"""

from __future__ import annotations

from flask_babel import gettext as _
from fpdf import FPDF

from registry import formats
from registry.models import MOU

_SPELLINGS = {"—": "-", "–": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "→": "->"}


def latin1(text: str) -> str:
    for char, spelled in _SPELLINGS.items():
        text = text.replace(char, spelled)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    def heading(self, text: str, size: int = 12) -> None:
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def line_of(self, label: str, value: str) -> None:
        if label:
            self.set_font("Helvetica", "B", 10)
            self.multi_cell(0, 6, latin1(label), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 10)
        self.multi_cell(0, 6, latin1(value or "-"), new_x="LMARGIN", new_y="NEXT")
        self.ln(1)


def _signature(mou: MOU) -> str:
    if not mou.partner_signed:
        return _("Not signed yet")
    who = ", ".join(x for x in (mou.partner_signer_name, mou.partner_signer_title) if x)
    if mou.partner_signed_at is not None:
        account = mou.partner_signed_by.email if mou.partner_signed_by else _("a removed account")
        return _(
            "%(who)s, signed in the registry on %(when)s (account %(account)s)",
            who=who,
            when=formats.datetime(mou.partner_signed_at),
            account=account,
        )
    return _(
        "%(who)s, signed on %(day)s (recorded by the district)",
        who=who,
        day=formats.date(mou.partner_signed_date),
    )


def render(mou: MOU) -> bytes:
    """The MOU as PDF bytes."""
    doc = _Document(format="Letter")
    doc.set_title(latin1(mou.title))
    doc.set_creator("Partnership Registry")
    doc.add_page()
    doc.heading(
        _(
            "Memorandum of understanding: %(partner)s, %(year)s",
            partner=mou.partner.name,
            year=mou.school_year,
        ),
        14,
    )
    doc.line_of(_("Status"), mou.status.label)
    doc.line_of(_("Version"), str(mou.terms_version))
    doc.line_of(
        _("Term"),
        _(
            "%(start)s to %(end)s",
            start=formats.date(mou.start_date),
            end=formats.date(mou.end_date),
        ),
    )
    doc.line_of(_("Schools"), "; ".join(s.name for s in mou.schools) or _("None"))
    doc.line_of(
        _("Student data"),
        _("The partner receives student data.")
        if mou.shares_student_data
        else _("This MOU does not share student data."),
    )
    doc.heading(_("Commitments"))
    if not mou.commitments:
        doc.line_of("", _("No commitments yet."))
    for c in mou.commitments:
        doc.line_of(
            c.service.name,
            _(
                "%(amount)s %(unit)s at %(school)s",
                amount=formats.amount(c.amount),
                unit=c.service.unit.label.lower(),
                school=c.school.name,
            ),
        )
    if mou.notes:
        doc.heading(_("Notes"))
        doc.line_of("", mou.notes)
    doc.heading(_("Signatures"))
    district = (
        _(
            "%(who)s, signed on %(day)s",
            who=mou.signatories,
            day=formats.date(mou.signed_date),
        )
        if mou.district_signed
        else _("Not signed yet")
    )
    doc.line_of(_("For the district"), district)
    doc.line_of(_("For %(partner)s", partner=mou.partner.name), _signature(mou))
    return bytes(doc.output())
