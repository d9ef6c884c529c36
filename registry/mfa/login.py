"""The sign-in's second step: who typed a correct password and still owes a code.

Between the two steps nobody is signed in: the session holds only the user's id, the
page to go to afterwards, and until when the code may be given (config
`MFA_PENDING_MINUTES`, default 5).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, redirect, session, url_for
from werkzeug.wrappers import Response

from registry.extensions import db
from registry.mfa import services
from registry.models import User

_KEY = "mfa_pending"


def second_step_needed(user: User) -> bool:
    """Must this user (whose password was right) give a code before being signed in?"""
    return services.is_enrolled(user)


def begin(user: User, next_page: str | None) -> Response:
    """Remember the user as half signed in, and send them to the code page."""
    minutes = int(current_app.config.get("MFA_PENDING_MINUTES", 5))
    until = services.now() + timedelta(minutes=minutes)
    session[_KEY] = {"user": user.id, "until": until.timestamp(), "next": next_page or ""}
    return redirect(url_for("mfa.verify"))


def pending() -> tuple[User, str | None] | None:
    """The half-signed-in active user and the page to go to, unless expired or absent."""
    value = session.get(_KEY)
    if not isinstance(value, dict):
        return None
    if float(value.get("until", 0)) <= services.now().timestamp():
        session.pop(_KEY, None)
        return None
    user = db.session.get(User, int(value.get("user", 0)))
    if user is None or not user.active:
        return None
    return user, value.get("next") or None


def finish() -> None:
    session.pop(_KEY, None)
