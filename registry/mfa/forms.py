"""Forms of two-step sign-in."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from registry.fields import RegistryForm

_CODE = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}


class StartForm(RegistryForm):
    """Only a CSRF token: starts the set-up (a new secret)."""


class CodeForm(RegistryForm):
    """A code from the authenticator app (or, where accepted, a recovery code)."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)], render_kw=_CODE)
    submit = SubmitField(_l("Continue"))


class ConfirmForm(RegistryForm):
    code = StringField(
        _l("Code from your app"),
        validators=[DataRequired(), Length(max=10)],
        render_kw={**_CODE, "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Turn on two-step sign-in"))


class DisableForm(RegistryForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Code from your app, or a recovery code"),
        validators=[DataRequired(), Length(max=40)],
        render_kw=_CODE,
    )
    submit = SubmitField(_l("Turn off two-step sign-in"))


class AdminResetForm(RegistryForm):
    """An administrator resets someone's two-step sign-in: a box to tick, then the button.

    Made with prefix "mfa_reset" on the account's admin page, whose own form has a
    `confirm` field (the password's).
    """

    confirm = BooleanField(
        _l(
            "I have checked who is asking (in person, or by phone at a number we already "
            "had): the account's owner lost their phone and recovery codes."
        ),
        validators=[DataRequired(message=_l("Tick the box to confirm you checked who asked."))],
    )
