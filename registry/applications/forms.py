"""The application form (/apply, no sign-in) and the reviewer's forms."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, Field, SelectField, StringField, TextAreaField
from wtforms.validators import URL, DataRequired, Email, Length, Optional, ValidationError

from registry.fields import MultiCheckboxField, RegistryForm, options, strip_text
from registry.partners.forms import LANGUAGE_CHOICES, ZipListField, web_address, zip_code
from registry.vocabulary import GRADES, Category, PartnerType, Setting

# Rows for services offered: enough for most applicants, and no script needed to add one.
SERVICE_ROWS = 3
SERVICE_PARTS = ("name", "category", "setting", "grade_from", "grade_to", "description")
HONEYPOT = "fax_number"


def service_field(row: int, part: str) -> str:
    return f"service_{row}_{part}"


class ApplicationForm(RegistryForm):
    """An organisation's details, its contacts and the services it offers."""

    name = StringField(
        _l("Organisation name"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    partner_type = SelectField(_l("Type of organisation"), choices=options(PartnerType.choices()))
    description = TextAreaField(
        _l("What your organisation does"), validators=[DataRequired(), Length(max=5000)]
    )
    website = StringField(
        _l("Website"),
        validators=[
            Optional(),
            web_address,
            URL(message=_l("Enter a full web address.")),
            Length(max=300),
        ],
        filters=[strip_text],
    )
    address = StringField(_l("Address"), validators=[Length(max=300)], filters=[strip_text])
    zip = StringField(_l("Zip code"), validators=[Length(max=10), zip_code], filters=[strip_text])
    languages = MultiCheckboxField(_l("Languages served"), choices=options(LANGUAGE_CHOICES))
    district_wide = BooleanField(_l("Serves the whole district"), default=True)
    service_zips = ZipListField(_l("Zip codes served"))

    applicant_name = StringField(
        _l("Your name"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    applicant_email = EmailField(
        _l("Your email"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid email address.")),
            Length(max=254),
        ],
        filters=[strip_text],
    )
    contact_name = StringField(
        _l("Contact person for schools and families"),
        validators=[Length(max=200)],
        filters=[strip_text],
    )
    email = EmailField(
        _l("Public contact email"),
        validators=[Optional(), Email(message=_l("Enter a valid email address.")), Length(max=254)],
        filters=[strip_text],
    )
    phone = StringField(_l("Public contact phone"), validators=[Length(max=40)])
    insurance_certificate = FileField(_l("Insurance certificate (PDF)"))
    background_check = FileField(_l("Background-check (CORI/SORI) policy or attestation (PDF)"))
    # The honeypot: hidden from people, filled in by form-filling robots.
    fax_number = StringField(_l("Leave this field empty"))

    def validate_service_zips(self, field: ZipListField) -> None:
        if not self.district_wide.data and not field.data:
            raise ValidationError(
                _l("List the zip codes served, or tick “Serves the whole district”.")
            )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        rows = self.service_rows()
        if not rows:
            self[service_field(1, "name")].errors = [
                *self[service_field(1, "name")].errors,
                str(_l("Name at least one service you offer.")),
            ]
            return False
        for row in range(1, SERVICE_ROWS + 1):
            if not self[service_field(row, "name")].data:
                continue
            start = GRADES.index(self[service_field(row, "grade_from")].data)
            end = GRADES.index(self[service_field(row, "grade_to")].data)
            if end < start:
                field = self[service_field(row, "grade_to")]
                field.errors = [*field.errors, str(_l("The last grade comes before the first."))]
                valid = False
        return valid

    def service_rows(self) -> list[dict[str, Any]]:
        """The service rows filled in (a row counts when it has a name)."""
        rows = []
        for row in range(1, SERVICE_ROWS + 1):
            values = {part: self[service_field(row, part)].data for part in SERVICE_PARTS}
            if values["name"]:
                rows.append(values)
        return rows

    def service_row_fields(self) -> list[list[Field]]:
        """The service fields, row by row, for the template."""
        return [
            [self[service_field(row, part)] for part in SERVICE_PARTS]
            for row in range(1, SERVICE_ROWS + 1)
        ]


GRADE_OPTIONS = options([(g, g) for g in GRADES])
for _row in range(1, SERVICE_ROWS + 1):
    setattr(
        ApplicationForm,
        service_field(_row, "name"),
        StringField(
            _l("Service %(n)s: name", n=_row), validators=[Length(max=200)], filters=[strip_text]
        ),
    )
    setattr(
        ApplicationForm,
        service_field(_row, "category"),
        SelectField(_l("Service %(n)s: category", n=_row), choices=options(Category.choices())),
    )
    setattr(
        ApplicationForm,
        service_field(_row, "setting"),
        SelectField(_l("Service %(n)s: when", n=_row), choices=options(Setting.choices())),
    )
    setattr(
        ApplicationForm,
        service_field(_row, "grade_from"),
        SelectField(
            _l("Service %(n)s: first grade", n=_row), choices=GRADE_OPTIONS, default=GRADES[0]
        ),
    )
    setattr(
        ApplicationForm,
        service_field(_row, "grade_to"),
        SelectField(
            _l("Service %(n)s: last grade", n=_row), choices=GRADE_OPTIONS, default=GRADES[-1]
        ),
    )
    setattr(
        ApplicationForm,
        service_field(_row, "description"),
        TextAreaField(_l("Service %(n)s: description", n=_row), validators=[Length(max=5000)]),
    )
