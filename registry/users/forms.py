"""Account forms: create and edit (admins only); the language a user picks for themself."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional

from registry.fields import RegistryForm, options, strip_text
from registry.pickers.fields import PickField
from registry.pickers.search import Kind
from registry.users.services import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from registry.vocabulary import Role

# Password managers offer to generate and store a password here, never to fill the admin's own.
NEW_PASSWORD = {"autocomplete": "new-password"}


class _AccountFields(RegistryForm):
    name = StringField(
        _l("Name"),
        validators=[Length(max=200)],
        filters=[strip_text],
        render_kw={"autocomplete": "name"},
    )
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(value, label) for value, label in Role.choices()],
        validators=[DataRequired()],
    )
    partner_id = PickField(_l("Partner organisation"), kind=Kind.PARTNERS)

    @property
    def chosen_partner_id(self) -> int | None:
        return self.partner_id.data


class UserCreateForm(_AccountFields):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Email(), Length(max=254)],
        filters=[strip_text],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
        render_kw=NEW_PASSWORD,
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw=NEW_PASSWORD,
    )


class UserEditForm(_AccountFields):
    version = HiddenField()  # the account's version when the form was opened (409 if stale)
    active = BooleanField(_l("Active (may sign in)"))
    password = PasswordField(
        _l("New password"),
        validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
        render_kw=NEW_PASSWORD,
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[EqualTo("password", message=_l("The passwords differ."))],
        render_kw=NEW_PASSWORD,
    )


class LanguageForm(RegistryForm):
    """A user's own choice of language for mail and notifications."""

    locale = RadioField(
        _l("Language of your email and notifications"),
        choices=[],
        validators=[InputRequired(message=_l("Choose a language."))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale.choices = options(current_app.config["LANGUAGES"].items())
