"""School forms: the create/edit form and the CSV import upload."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    DecimalField,
    Field,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from registry.fields import MultiCheckboxField, RegistryForm, strip_text
from registry.models import INDICATORS
from registry.schools.import_plan import CLEARABLE, FIELD_LABELS
from registry.schools.importer import MAPPABLE
from registry.schools.services import SchoolData
from registry.schoolyear import is_school_year
from registry.vocabulary import GRADES, percent_label

# What the mapping step calls each field a column may fill.
IMPORT_HUMAN_LABELS: dict[str, object] = {
    "dese_code": _l("DESE code"),
    "school_year": _l("School year"),
    **FIELD_LABELS,
    "org_type": _l("Organisation type (only school rows are read)"),
    "student_group": _l("Student group (only all students are read)"),
}

# Far above any real school, far below what an integer column holds.
MAX_ENROLLMENT = 100_000


def _at_least_one(form: RegistryForm, field: Field) -> None:
    if not field.data:
        raise ValidationError(_l("Choose at least one grade."))


def _a_school_year(form: RegistryForm, field: Field) -> None:
    if not is_school_year(field.data or ""):
        raise ValidationError(
            _l("Enter a school year like 2025-26 (the second year follows the first).")
        )


def _a_percentage(form: RegistryForm, field: Field) -> None:
    # NaN and infinities parse as decimals but compare badly: refuse them first.
    value = field.data
    if value is None:
        return
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
        raise ValidationError(_l("Enter a percentage from 0 to 100, or leave it blank if unknown."))


def form_key(name: str) -> str:
    """A field as a form names it ("econ-disadvantaged"): pages never show attribute names."""
    return name.removeprefix("pct_").replace("_", "-")


def _percentage_field(name: str) -> DecimalField:
    return DecimalField(
        percent_label(name),
        name=form_key(name),
        places=2,
        validators=[Optional(), _a_percentage],
        filters=[strip_text],
    )


class SchoolForm(RegistryForm):
    dese_code = StringField(
        _l("DESE code"),
        validators=[
            DataRequired(),
            Regexp(r"^\d{8}\Z", message=_l("Enter the DESE code: exactly 8 digits.")),
        ],
        filters=[strip_text],
    )
    name = StringField(
        _l("Name"), validators=[DataRequired(), Length(max=200)], filters=[strip_text]
    )
    grades = MultiCheckboxField(
        _l("Grades offered"),
        choices=[SelectChoice(g, g) for g in GRADES],
        validators=[_at_least_one],
    )
    enrollment = IntegerField(
        _l("Enrollment"),
        validators=[
            InputRequired(message=_l("Enter the enrollment (a whole number, 0 or more).")),
            NumberRange(min=0, max=MAX_ENROLLMENT),
        ],
    )
    local_code = StringField(
        _l("Local school code"),
        validators=[Optional(), Length(max=20)],
        filters=[strip_text],
    )
    address = StringField(_l("Address"), validators=[Length(max=300)], filters=[strip_text])
    zip = StringField(
        _l("Zip code"),
        validators=[
            Optional(),
            Regexp(r"^\d{5}(-\d{4})?\Z", message=_l("Enter a zip code like 01608.")),
        ],
        filters=[strip_text],
    )
    school_year = StringField(
        _l("School year of the indicators"),
        validators=[DataRequired(), _a_school_year],
        filters=[strip_text],
    )
    pct_econ_disadvantaged = _percentage_field("pct_econ_disadvantaged")
    pct_english_learners = _percentage_field("pct_english_learners")
    pct_disabilities = _percentage_field("pct_disabilities")
    pct_high_needs = _percentage_field("pct_high_needs")
    pct_chronically_absent = _percentage_field("pct_chronically_absent")
    version = HiddenField()

    def indicator_fields(self) -> list[Field]:
        return [self[name] for name in INDICATORS]

    def to_data(self) -> SchoolData:
        """The validated form as the service takes it."""
        return SchoolData(
            dese_code=self.dese_code.data or "",
            name=self.name.data or "",
            grades=list(self.grades.data or []),
            enrollment=int(self.enrollment.data or 0),
            address=self.address.data or "",
            zip=self.zip.data or "",
            local_code=self.local_code.data or "",
            school_year=self.school_year.data,
            indicators={name: self[name].data for name in INDICATORS},
        )


def _optional_school_year(form: RegistryForm, field: Field) -> None:
    if field.data and not is_school_year(field.data):
        raise ValidationError(
            _l("Enter a school year like 2025-26 (the second year follows the first).")
        )


def _school_year_field(label: object) -> StringField:
    return StringField(label, validators=[_optional_school_year], filters=[strip_text])


def _district_field() -> StringField:
    return StringField(
        _l("District (4-digit DESE code)"),
        validators=[
            Optional(),
            Regexp(
                r"^\d{1,4}\Z", message=_l("Enter the district's DESE code: 4 digits, like 0035.")
            ),
        ],
        filters=[strip_text],
    )


class ImportForm(RegistryForm):
    file = FileField(
        _l("CSV or XLSX file"),
        validators=[
            FileRequired(message=_l("Choose a CSV or XLSX file.")),
            FileAllowed(["csv", "xlsx"], message=_l("Only .csv and .xlsx files can be imported.")),
        ],
    )
    school_year = _school_year_field(_l("School year of the file"))
    district = _district_field()


def field_of(key: str) -> str:
    """The field a form's option value stands for ("" when none)."""
    return next((n for n in (*MAPPABLE, *CLEARABLE) if form_key(n) == key), "")


class ReviewForm(RegistryForm):
    """The preview's form: the kept upload, what was said about it, what to clear."""

    def fields_to_clear(self) -> list[str]:
        return [field_of(key) for key in self.clear.data or []]

    token = HiddenField(validators=[DataRequired()])
    school_year = HiddenField(validators=[_optional_school_year])
    district = HiddenField(validators=[Optional(), Regexp(r"^\d{1,4}\Z")])
    clear = MultiCheckboxField(
        _l("Clear the values this file leaves empty"),
        choices=[SelectChoice(form_key(name), FIELD_LABELS[name]) for name in CLEARABLE],
        validate_choice=True,
    )


def mapping_form(unknown: list[str]) -> type[ReviewForm]:
    """A form asking what each unknown column is: a field, or "ignore" (the default)."""
    choices = [
        SelectChoice("", _l("Ignore this column")),
        *(SelectChoice(form_key(name), IMPORT_HUMAN_LABELS[name]) for name in MAPPABLE),
    ]

    class MappingForm(ReviewForm):
        pass

    for index, header in enumerate(unknown):
        setattr(
            MappingForm,
            f"column_{index}",
            SelectField(header, choices=choices, default="", validate_choice=True),
        )
    return MappingForm
