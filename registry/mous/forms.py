"""MOU forms: the agreement itself, a commitment line, and the list's filters."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from registry import district_time
from registry.extensions import db
from registry.fields import RegistryForm, options
from registry.models import MOU, Service
from registry.mous.services import MOUDetails, school_year_problem, term_problems
from registry.pickers.fields import PickField, PickManyField
from registry.pickers.search import Kind
from registry.schoolyear import school_year_of
from registry.vocabulary import DPAStatus, DPAType


def _blank(choices: list[tuple[str, object]]) -> list[tuple[str, object]]:
    return [("", str(_l("— not set —"))), *choices]


class MOUForm(RegistryForm):
    """Edit an MOU (its partner is fixed once it exists)."""

    school_ids = PickManyField(
        _l("Schools"),
        kind=Kind.SCHOOLS,
        validators=[DataRequired(_l("Choose at least one school."))],
    )
    school_year = StringField(
        _l("School year"),
        validators=[DataRequired(), Length(max=7)],
        # This school year in the district, read when the form is made (not at import).
        default=lambda: school_year_of(district_time.today()),
    )
    start_date = DateField(_l("Start date"), validators=[InputRequired()])
    end_date = DateField(_l("End date"), validators=[InputRequired()])
    signed_date = DateField(_l("District signed on"), validators=[Optional()])
    signatories = StringField(_l("District signatories"), validators=[Length(max=500)])
    partner_signer_name = StringField(_l("Partner signatory"), validators=[Length(max=200)])
    partner_signer_title = StringField(
        _l("Partner signatory's title"), validators=[Length(max=200)]
    )
    partner_signed_date = DateField(_l("Partner signed on"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=5000)])
    shares_student_data = BooleanField(_l("The partner receives student data"))
    dpa_type = SelectField(_l("Data-privacy agreement type"), validators=[Optional()])
    dpa_status = SelectField(_l("Data-privacy agreement status"), validators=[Optional()])
    dpa_expiry = DateField(_l("Data-privacy agreement expires"), validators=[Optional()])
    version = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dpa_type.choices = options(_blank(DPAType.choices()))
        self.dpa_status.choices = options(_blank(DPAStatus.choices()))

    def fill_from(self, mou: MOU) -> None:
        """Show an MOU's current values (on GET)."""
        self.school_ids.data = [s.id for s in mou.schools]
        self.dpa_type.data = mou.dpa_type.value if mou.dpa_type else ""
        self.dpa_status.data = mou.dpa_status.value if mou.dpa_status else ""
        self.version.data = str(mou.version)

    def validate_school_year(self, field: StringField) -> None:
        problem = school_year_problem((field.data or "").strip())
        if problem:
            raise ValidationError(problem)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.start_date.data and self.end_date.data and not self.school_year.errors:
            for name, message in term_problems(
                (self.school_year.data or "").strip(), self.start_date.data, self.end_date.data
            ).items():
                self[name].errors = [*self[name].errors, message]
                valid = False
        return valid

    def details(self) -> MOUDetails:
        """The validated values, as the MOU services take them."""
        return MOUDetails(
            school_ids=list(self.school_ids.data or []),
            school_year=(self.school_year.data or "").strip(),
            start_date=self.start_date.data,
            end_date=self.end_date.data,
            signed_date=self.signed_date.data,
            signatories=self.signatories.data or "",
            notes=self.notes.data or "",
            shares_student_data=bool(self.shares_student_data.data),
            dpa_type=DPAType(self.dpa_type.data) if self.dpa_type.data else None,
            dpa_status=DPAStatus(self.dpa_status.data) if self.dpa_status.data else None,
            dpa_expiry=self.dpa_expiry.data,
            partner_signer_name=self.partner_signer_name.data or "",
            partner_signer_title=self.partner_signer_title.data or "",
            partner_signed_date=self.partner_signed_date.data,
        )


class NewMOUForm(MOUForm):
    """Start an MOU: the same fields, plus the partner (shown first)."""

    shown_first = ("partner_id",)

    partner_id = PickField(
        _l("Partner"), kind=Kind.PARTNERS, validators=[InputRequired(_l("Choose a partner."))]
    )


class CommitmentForm(RegistryForm):
    """Add a commitment line: one of the partner's active services at one of the MOU's schools."""

    service_id = SelectField(_l("Service"), coerce=int, validators=[InputRequired()])
    school_id = SelectField(_l("School"), coerce=int, validators=[InputRequired()])
    amount = DecimalField(
        _l("Amount"),
        places=None,
        validators=[InputRequired()],
        description=_l("In the service's unit: seats, hours or dollars."),
    )

    def __init__(self, mou: MOU, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        services = db.session.scalars(
            select(Service)
            .where(Service.partner_id == mou.partner_id, Service.active.is_(True))
            .order_by(Service.name)
        )
        self.service_id.choices = [(s.id, f"{s.name} ({s.unit.label.lower()})") for s in services]
        self.school_id.choices = [(s.id, s.name) for s in mou.schools]


class ListPickers(RegistryForm):
    """The MOU list's school and partner filters, chosen by searching (query string)."""

    class Meta:
        csrf = False

    school = PickField(_l("School"), kind=Kind.SCHOOLS)
    partner = PickField(_l("Partner"), kind=Kind.PARTNERS)


class SignForm(RegistryForm):
    """The partner's sign-off: who signs, as what (the date, time and account are recorded)."""

    name = StringField(
        _l("Your full name"),
        validators=[DataRequired(_l("Type your full name to sign.")), Length(max=200)],
    )
    title = StringField(
        _l("Your title"), validators=[DataRequired(_l("Type your title.")), Length(max=200)]
    )
    confirm = BooleanField(
        _l("I am authorised to sign this MOU for my organisation, and I agree to its terms."),
        validators=[DataRequired(_l("Confirm that you may sign for your organisation."))],
    )
