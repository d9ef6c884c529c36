"""Forms of the partner-program import: the upload, the review of school names, the mapping."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import Field, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from registry.fields import RegistryForm, options, strip_text
from registry.pickers.fields import PickField
from registry.pickers.search import Kind, Option
from registry.programs.services import ReviewName
from registry.schoolyear import is_school_year
from registry.vocabulary import Category


def _a_school_year(form: RegistryForm, field: Field) -> None:
    if field.data and not is_school_year(field.data):
        raise ValidationError(
            _l("Enter a school year like 2025-26 (the second year follows the first).")
        )


class ListingUploadForm(RegistryForm):
    file = FileField(
        _l("Listing (CSV or XLSX)"),
        validators=[
            FileRequired(message=_l("Choose a CSV or XLSX file.")),
            FileAllowed(["csv", "xlsx"], message=_l("Only .csv and .xlsx files can be imported.")),
        ],
    )
    school_year = StringField(
        _l("School year (optional)"),
        validators=[Optional(), _a_school_year],
        filters=[strip_text],
    )


class ConfirmForm(RegistryForm):
    """Confirming imports the stored file as previewed (`plan` is the preview's fingerprint)."""

    plan = HiddenField()


class ReviewFormBase(RegistryForm):
    names: list[ReviewName]

    def choice_fields(self) -> list[tuple[ReviewName, Field]]:
        return [(name, self[f"school_{n}"]) for n, name in enumerate(self.names)]

    def chosen(self) -> dict[str, int]:
        """Name key → school id, for each name given a school (the rest stay skipped)."""
        return {name.key: field.data for name, field in self.choice_fields() if field.data}


def review_form(names: list[ReviewName], **kwargs: Any) -> Any:
    """A form with one school choice per unmatched name: its suggestions, or any school found
    by searching (never a menu of every school per name)."""

    class ReviewForm(ReviewFormBase):
        pass

    for n, name in enumerate(names):
        setattr(
            ReviewForm,
            f"school_{n}",
            PickField(_l("School for “%(name)s”", name=name.name), kind=Kind.SCHOOLS),
        )
    form = ReviewForm(**kwargs)
    form.names = names
    for name, field in form.choice_fields():
        field.suggestions = [Option(s.id, s.name, s.dese_code or "") for s in name.suggestions]
    return form


class AreaForm(RegistryForm):
    area = StringField(
        _l("Program area"),
        validators=[DataRequired(), Length(max=200)],
        filters=[strip_text],
    )
    category = SelectField(_l("Category"), choices=options(Category.choices()))


class AreaCategoryForm(RegistryForm):
    category = SelectField(_l("Category"), choices=options(Category.choices()))
