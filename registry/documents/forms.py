"""Document forms: an upload, a correction of its dates, a rejection with its reason."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from registry.extensions import db
from registry.fields import RegistryForm, options, strip_text
from registry.models import MOU, Partner
from registry.models.document import DocumentType

PARTNER_WIDE = ""


class _Dates(RegistryForm):
    effective_date = DateField(_l("In force from"), validators=[Optional()])
    expiry_date = DateField(_l("Expires on"), validators=[Optional()])


class DatesForm(_Dates):
    """A correction of when a document takes effect and when it expires."""

    version = HiddenField()


class UploadForm(_Dates):
    """One PDF, what it is, and what it concerns: the partner as a whole or one of its MOUs."""

    file = FileField(
        _l("PDF file"),
        validators=[FileRequired(_l("Choose the PDF file to upload."))],
        render_kw={"accept": "application/pdf,.pdf"},
    )
    doc_type = SelectField(_l("Type of document"), validators=[InputRequired()])
    mou_id = SelectField(_l("Concerns"), validators=[Optional()])

    def __init__(self, partner: Partner, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.doc_type.choices = options(DocumentType.choices())
        mous = db.session.scalars(
            select(MOU).where(MOU.partner_id == partner.id).order_by(MOU.start_date.desc())
        )
        self.mou_id.choices = options(
            [
                (PARTNER_WIDE, _l("The partner as a whole")),
                *(
                    (
                        str(m.id),
                        _l("MOU %(year)s (%(status)s)", year=m.school_year, status=m.status.label),
                    )
                    for m in mous
                ),
            ]
        )


class RejectForm(RegistryForm):
    """Why a document is rejected: the partner reads this."""

    reason = TextAreaField(
        _l("Reason for rejecting"),
        filters=[strip_text],
        validators=[
            DataRequired(_l("Say why the document is rejected.")),
            Length(max=2000),
        ],
    )
    version = HiddenField()


class ReviewForm(RegistryForm):
    """The verify button: the version the coordinator saw, and the page to go back to."""

    version = HiddenField()
    back = HiddenField()
