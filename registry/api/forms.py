"""The form that creates a personal API token (revoking is a bare CSRF-protected POST)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from registry.api.tokens import LIFETIMES
from registry.fields import RegistryForm, options, strip_text


class TokenForm(RegistryForm):
    name = StringField(
        _l("Name"),
        filters=[strip_text],
        validators=[DataRequired(message=_l("Give the token a name.")), Length(max=100)],
    )
    days = RadioField(
        _l("Expires after"),
        choices=options((str(d), _l("%(days)d days", days=d)) for d in LIFETIMES),
        default=str(LIFETIMES[1]),
        validators=[InputRequired(message=_l("Choose how long the token lasts."))],
    )


class RevokeForm(RegistryForm):
    """Only the CSRF token."""
