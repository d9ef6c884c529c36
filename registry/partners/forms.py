"""Partner forms: the listing's filters and the create/edit form."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    Form,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Email, Length, Optional, ValidationError

from registry import formats
from registry.fields import MultiCheckboxField, RegistryForm, options
from registry.vocabulary import GRADES, PartnerStatus, PartnerType

F = TypeVar("F", bound=Form)

# Languages families are served in, stored by their English name.
LANGUAGES: tuple[str, ...] = (
    "English",
    "Spanish",
    "Portuguese",
    "Haitian Creole",
    "Vietnamese",
    "Chinese",
    "Cabo Verdean Creole",
    "Arabic",
    "Somali",
    "Russian",
    "French",
    "Other",
)
LANGUAGE_LABELS: dict[str, Any] = {
    "English": _l("English"),
    "Spanish": _l("Spanish"),
    "Portuguese": _l("Portuguese"),
    "Haitian Creole": _l("Haitian Creole"),
    "Vietnamese": _l("Vietnamese"),
    "Chinese": _l("Chinese"),
    "Cabo Verdean Creole": _l("Cabo Verdean Creole"),
    "Arabic": _l("Arabic"),
    "Somali": _l("Somali"),
    "Russian": _l("Russian"),
    "French": _l("French"),
    "Other": _l("Other"),
}


LANGUAGE_CHOICES: list[tuple[str, Any]] = [(name, LANGUAGE_LABELS[name]) for name in LANGUAGES]

ZIP_RE = re.compile(r"^\d{5}(-\d{4})?$")
FIVE_DIGIT_ZIP_RE = re.compile(r"^\d{5}$")
# The largest amount a Numeric(14, 2) column holds, less a margin for rounding.
MAX_LIABILITY = Decimal("999999999999")


def language_options(kept: Iterable[str] = ()) -> list[SelectChoice]:
    """The language checkboxes, plus other languages a record already lists (saving keeps them)."""
    extra = [(name, name) for name in dict.fromkeys(kept) if name not in LANGUAGE_LABELS]
    return options([*LANGUAGE_CHOICES, *extra])


class ZipListField(Field):
    """A list of 5-digit zip codes typed as text, separated by commas or spaces."""

    widget = TextAreaField.widget
    data: list[str]

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return ", ".join(self.data or [])

    def process_formdata(self, valuelist: list[Any]) -> None:
        text = str(valuelist[0]) if valuelist else ""
        seen: list[str] = []
        for token in re.split(r"[\s,;]+", text.strip()):
            if token and token not in seen:
                seen.append(token)
        self.data = seen

    def pre_validate(self, form: Any) -> None:
        bad = [z for z in self.data or [] if not FIVE_DIGIT_ZIP_RE.match(z)]
        if bad:
            raise ValidationError(
                _l("These are not 5-digit zip codes: %(zips)s", zips=", ".join(bad[:5]))
            )
        if len(self.data or []) > 200:
            raise ValidationError(_l("List at most 200 zip codes."))


class Amount:
    """A finite decimal between bounds (NaN and Infinity parse as decimals, so say no to them)."""

    def __init__(self, minimum: Decimal, maximum: Decimal) -> None:
        self.minimum, self.maximum = minimum, maximum

    def __call__(self, form: Any, field: Field) -> None:
        value = field.data
        if value is None:
            return
        if not value.is_finite():
            raise ValidationError(_l("Enter a number."))
        if value < self.minimum:
            raise ValidationError(_l("Must be %(min)s or more.", min=formats.amount(self.minimum)))
        if value > self.maximum:
            raise ValidationError(_l("Must be at most %(max)s.", max=formats.amount(self.maximum)))


def web_address(form: Any, field: Field) -> None:
    """Only http(s) addresses: the page links to them, and other schemes can run scripts."""
    if field.data and not field.data.lower().startswith(("http://", "https://")):
        raise ValidationError(_l("Enter a full web address starting with https://."))


def zip_code(form: Any, field: Field) -> None:
    """A zip code is 5 digits or ZIP+4."""
    if field.data and not ZIP_RE.match(field.data):
        raise ValidationError(_l("Enter a zip code of 5 digits, or ZIP+4 (01602-1234)."))


class PartnerForm(RegistryForm):
    """Everything about a partner; views remove the fields a partner user may not change."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    partner_type = SelectField(_l("Type"), choices=options(PartnerType.choices()))
    status = SelectField(_l("Status"), choices=options(PartnerStatus.choices()))
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    website = StringField(
        _l("Website"),
        validators=[
            Optional(),
            web_address,
            URL(message=_l("Enter a full web address.")),
            Length(max=300),
        ],
    )
    contact_name = StringField(_l("Contact person"), validators=[Length(max=200)])
    email = StringField(
        _l("Email"),
        validators=[Optional(), Email(message=_l("Enter a valid email address.")), Length(max=254)],
    )
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    zip = StringField(_l("Zip code"), validators=[Length(max=10), zip_code])
    languages = MultiCheckboxField(_l("Languages served"), choices=options(LANGUAGE_CHOICES))
    district_wide = BooleanField(_l("Serves the whole district"))
    service_zips = ZipListField(_l("Zip codes served"))
    background_check_policy = BooleanField(_l("Background-check (CORI/SORI) policy on file"))
    background_check_verified = DateField(
        _l("Background-check policy verified on"), validators=[Optional()]
    )
    insurance_expiry = DateField(_l("Insurance certificate expires on"), validators=[Optional()])
    insurance_liability = DecimalField(
        _l("Liability coverage (USD)"),
        places=2,
        validators=[Optional(), Amount(Decimal(0), MAX_LIABILITY)],
    )
    version = HiddenField()

    def validate_service_zips(self, field: ZipListField) -> None:
        if not self.district_wide.data and not field.data:
            raise ValidationError(
                _l("List the zip codes served, or tick “Serves the whole district”.")
            )


class PartnerFilterForm(RegistryForm):
    """The partner list's filters, read from the query string."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=200)])
    partner_type = SelectField(
        _l("Type"),
        choices=options([("", _l("Any type")), *PartnerType.choices()]),
        validators=[Optional()],
    )
    status = SelectField(
        _l("Status"),
        choices=options([("", _l("Any status")), *PartnerStatus.choices()]),
        validators=[Optional()],
    )
    language = SelectField(
        _l("Language"), choices=options([("", _l("Any language")), *LANGUAGE_CHOICES])
    )
    compliance = SelectField(
        _l("Compliance"),
        choices=options(
            [
                ("", _l("Any")),
                ("any_problem", _l("Any problem")),
                ("insurance_missing", _l("Insurance missing")),
                ("insurance_expired", _l("Insurance expired")),
                ("background_check", _l("Background check missing")),
            ]
        ),
    )


def translation_languages() -> dict[str, str]:
    """The languages a description may be translated into: every page language but the default."""
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "en")
    return {code: name for code, name in current_app.config["LANGUAGES"].items() if code != default}


def translation_field_name(locale: str) -> str:
    return f"description_{locale}"


def with_translations(form_class: type[F], languages: Mapping[str, str]) -> type[F]:
    """The form with a description field per translation language (the catalogue may grow)."""
    fields = {
        translation_field_name(code): TextAreaField(
            _l("Description in %(language)s", language=name), validators=[Length(max=5000)]
        )
        for code, name in languages.items()
    }
    return type(form_class.__name__, (form_class,), fields)


def translations_of(form: Form, languages: Mapping[str, str]) -> dict[str, str]:
    """The translations typed into a form, by locale."""
    return {
        code: form[translation_field_name(code)].data or ""
        for code in languages
        if translation_field_name(code) in form
    }


class ServiceChangeForm(RegistryForm):
    """What a partner user may change on a service's published listing (reviewed)."""

    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    grades = MultiCheckboxField(_l("Grades served"), choices=options([(g, g) for g in GRADES]))
    languages = MultiCheckboxField(_l("Languages"), choices=options(LANGUAGE_CHOICES))


class ReturnForm(RegistryForm):
    """A reviewer's comment when returning a request or an application."""

    comment = TextAreaField(
        _l("Comment for the partner"), validators=[DataRequired(), Length(max=5000)]
    )


class ApproveForm(RegistryForm):
    """Approving carries nothing but the CSRF token."""
