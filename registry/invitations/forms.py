"""Invitation forms: inviting a contact, and accepting an invitation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from registry.fields import RegistryForm, strip_text


class InviteForm(RegistryForm):
    email = EmailField(
        _l("Contact's email"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid email address.")),
            Length(max=254),
        ],
        filters=[strip_text],
    )


class AcceptForm(RegistryForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(), Length(max=200)],
        filters=[strip_text],
        render_kw={"autocomplete": "name"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("The two passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
