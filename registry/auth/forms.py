"""Sign-in, password change and password reset forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from registry.auth.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from registry.fields import RegistryForm


class LoginForm(RegistryForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Email(), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Sign in"))


_NEW = {"autocomplete": "new-password"}


class _NewPassword(RegistryForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw=_NEW,
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
        render_kw=_NEW,
    )


class ChangePasswordForm(_NewPassword):
    shown_first = ("current",)
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Change password"))


class ForgotPasswordForm(RegistryForm):
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Email(), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    submit = SubmitField(_l("Email me a link"))


class ResetPasswordForm(_NewPassword):
    submit = SubmitField(_l("Set password"))
