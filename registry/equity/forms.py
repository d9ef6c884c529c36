"""Forms of the equity pages: need index definitions and the dashboards' selections."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from registry.equity.need_index import INDICATOR_LABELS
from registry.fields import RegistryForm, options
from registry.models.need import MissingPolicy, Normalisation
from registry.vocabulary import Category, Unit

NORMALISATION_CHOICES = [
    (Normalisation.PERCENTILE.value, _l("Percentile rank within the district")),
    (Normalisation.MINMAX.value, _l("Min–max: lowest school 0, highest 1")),
]
MISSING_CHOICES = [
    (
        MissingPolicy.RENORMALISE.value,
        _l(
            "Score it on the indicators it has: its weights are re-scaled over them, "
            "and it is flagged “scored on k of n indicators”"
        ),
    ),
    (MissingPolicy.MEDIAN.value, _l("Fill the missing indicator with the district median")),
    (MissingPolicy.EXCLUDE.value, _l("Exclude the school from the index: it gets no score")),
]


def weight_field_name(indicator: str) -> str:
    return f"weight_{indicator}"


class DefinitionForm(RegistryForm):
    """A need index definition; the weight fields are added below, one per indicator."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    normalisation = RadioField(
        _l("Normalisation"),
        choices=options(NORMALISATION_CHOICES),
        default=Normalisation.PERCENTILE.value,
    )
    missing_policy = RadioField(
        _l("A school missing an indicator"),
        choices=options(MISSING_CHOICES),
        default=MissingPolicy.RENORMALISE.value,
    )
    is_default = BooleanField(_l("Make this the default need index"))

    def weight_fields(self) -> list[Any]:
        return [self[weight_field_name(name)] for name in INDICATOR_LABELS]

    def weights(self) -> dict[str, float]:
        return {name: float(self[weight_field_name(name)].data or 0) for name in INDICATOR_LABELS}

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and not any(w > 0 for w in self.weights().values()):
            first = self[weight_field_name(next(iter(INDICATOR_LABELS)))]
            first.errors = [*first.errors, _l("Give at least one indicator a weight above 0.")]
            valid = False
        return valid


for _indicator, _label in INDICATOR_LABELS.items():
    setattr(
        DefinitionForm,
        weight_field_name(_indicator),
        DecimalField(
            _label,
            places=2,
            default=1,
            validators=[
                InputRequired(),
                NumberRange(min=0, max=100, message=_l("Enter a weight from 0 to 100.")),
            ],
        ),
    )


def year_choices(years: list[str]) -> list[SelectChoice]:
    """School years, newest first."""
    return options((y, y) for y in reversed(years))


class NeedSelectionForm(RegistryForm):
    """Which definition and school year the need ranking shows (a GET form)."""

    class Meta:
        csrf = False

    definition = SelectField(_l("Need index"), coerce=int, validate_choice=True)
    year = SelectField(_l("School year"))


class CompareForm(RegistryForm):
    class Meta:
        csrf = False

    a = SelectField(_l("Definition A"), coerce=int)
    b = SelectField(_l("Definition B"), coerce=int)
    year = SelectField(_l("School year"))
    threshold = DecimalField(
        _l("Need threshold"),
        places=2,
        default=0.56,
        validators=[
            Optional(),
            NumberRange(min=0, max=1, message=_l("Enter a number from 0 to 1.")),
        ],
    )


class DashboardForm(RegistryForm):
    """The equity dashboard's selection (a GET form)."""

    class Meta:
        csrf = False

    year = SelectField(_l("School year"))
    category = SelectField(
        _l("Category"),
        choices=options([("", _l("All categories")), *Category.choices()]),
        default="",
    )
    unit = SelectField(_l("Unit"), choices=options(Unit.choices()), default=Unit.SEATS.value)
    definition = SelectField(_l("Need index"), coerce=int)


class ReferenceForm(RegistryForm):
    """An uploaded reference index (school code, score) and what to set it against."""

    file = FileField(
        _l("CSV or XLSX file of school codes and scores"),
        validators=[
            FileRequired(message=_l("Choose a CSV or XLSX file.")),
            FileAllowed(["csv", "xlsx"], message=_l("Only .csv and .xlsx files can be read.")),
        ],
    )
    label = StringField(_l("Name of the reference index"), validators=[Optional(), Length(max=120)])
    higher_is_less = BooleanField(_l("In this file a higher score means less need"))
    definition = SelectField(_l("Compare with the need index"), coerce=int)
    year = SelectField(_l("School year of the indicators"))
