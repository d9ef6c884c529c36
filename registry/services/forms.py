"""Service forms: the listing's filters and the create/edit form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from registry.fields import RegistryForm
from registry.partners.forms import LANGUAGE_CHOICES, Amount, MultiCheckboxField, options
from registry.pickers.fields import PickField
from registry.pickers.search import Kind
from registry.vocabulary import GRADES, Category, Setting, Unit

# The largest amount a Numeric(12, 2) column holds, less a margin for rounding.
MAX_AMOUNT = Decimal("9999999999")
GRADE_CHOICES: list[tuple[str, str]] = [(g, g) for g in GRADES]


def at_least_one(form: Any, field: Field) -> None:
    if not field.data:
        raise ValidationError(_l("Choose at least one grade."))


class ServiceForm(RegistryForm):
    """A service; views drop the partner choice for partner users (theirs is fixed)."""

    partner_id = PickField(
        _l("Partner"), kind=Kind.PARTNERS, validators=[DataRequired(_l("Choose a partner."))]
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category = SelectField(_l("Category"), choices=options(Category.choices()))
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    grades = MultiCheckboxField(
        _l("Grades served"), choices=options(GRADE_CHOICES), validators=[at_least_one]
    )
    languages = MultiCheckboxField(_l("Languages"), choices=options(LANGUAGE_CHOICES))
    setting = SelectField(_l("Setting"), choices=options(Setting.choices()))
    unit = SelectField(_l("Unit"), choices=options(Unit.choices()))
    capacity = DecimalField(
        _l("Overall capacity"),
        places=2,
        validators=[Optional(), Amount(Decimal(0), MAX_AMOUNT)],
    )
    cost = DecimalField(
        _l("Cost to the district (USD)"),
        places=2,
        default=Decimal(0),
        validators=[InputRequired(_l("Enter the cost, or 0.")), Amount(Decimal(0), MAX_AMOUNT)],
    )
    active = BooleanField(_l("Active (offered this year)"))
    direct_student_contact = BooleanField(
        _l("Its staff work directly with students"),
        default=True,
        description=_l("Then an MOU committing it needs verified background checks."),
    )
    version = HiddenField()


class OfferingForm(RegistryForm):
    """A service at one school; views set the choices (schools, the service's grades)."""

    school_id = PickField(
        _l("School"), kind=Kind.SCHOOLS, validators=[DataRequired(_l("Choose a school."))]
    )
    capacity = DecimalField(
        _l("Site capacity"),
        places=2,
        validators=[Optional(), Amount(Decimal(0), MAX_AMOUNT)],
    )
    grades = MultiCheckboxField(_l("Grades at this school"))
    days = StringField(_l("Days"), validators=[Length(max=200)])
    time = StringField(_l("Time"), validators=[Length(max=200)])
    weekly_dosage = StringField(_l("Weekly dosage"), validators=[Length(max=200)])
    student_fees = StringField(_l("Student fees"), validators=[Length(max=200)])
    version = HiddenField()


class ServiceFilterForm(RegistryForm):
    """The service list's filters, read from the query string."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    category = SelectField(
        _l("Category"), choices=options([("", _l("Any category")), *Category.choices()])
    )
    setting = SelectField(
        _l("Setting"), choices=options([("", _l("Any setting")), *Setting.choices()])
    )
    unit = SelectField(_l("Unit"), choices=options([("", _l("Any unit")), *Unit.choices()]))
    partner = PickField(_l("Partner"), kind=Kind.PARTNERS)
    grade = SelectField(_l("Grade"), choices=options([("", _l("Any grade")), *GRADE_CHOICES]))
    language = SelectField(
        _l("Language"), choices=options([("", _l("Any language")), *LANGUAGE_CHOICES])
    )
    active = SelectField(
        _l("Active"),
        choices=options(
            [("", _l("Active or not")), ("yes", _l("Active")), ("no", _l("Not active"))]
        ),
    )
