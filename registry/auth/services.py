"""Authentication: who a set of credentials belongs to; changing and resetting passwords."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from registry.extensions import db
from registry.models import PasswordResetToken, User
from registry.models.columns import utcnow
from registry.refusals import Refused
from registry.users.services import check_password_policy, find_by_email

RESET_MINUTES = 30
RESEND_AFTER = timedelta(minutes=1)

# Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY = User(email="", password_hash="")
_DUMMY.set_password("not-a-real-password")


def authenticate(email: str, password: str) -> User | None:
    """The active user these credentials belong to, or None."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        _DUMMY.check_password(password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def now() -> datetime:
    """The current time (UTC); tests replace this to let a reset link expire without waiting."""
    return utcnow()


def reset_minutes() -> int:
    """How long a reset link works (config `PASSWORD_RESET_MINUTES`, default 30)."""
    return int(current_app.config.get("PASSWORD_RESET_MINUTES", RESET_MINUTES))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _set_new_password(user: User, new: str) -> None:
    check_password_policy(new, email=user.email, name=user.name)
    user.set_password(new)
    user.must_change_password = False


def change_password(user: User, *, current: str, new: str) -> None:
    """A user's own change: the current password first, then a new one the policy accepts."""
    if not user.check_password(current):
        raise Refused(_("That is not your current password."), field="current")
    if current == new:
        raise Refused(_("The new password must differ from the current one."), field="password")
    _set_new_password(user, new)
    db.session.flush()


def start_reset(email: str) -> tuple[User, str] | None:
    """A one-time reset token for the active account with this email (None if there is none).

    The token is returned (for the link in the email) and stored only as its SHA-256. Earlier
    unused links of the account stop working: only the newest email's link does.
    """
    user = find_by_email(email)
    if user is None or not user.active:
        return None
    at = now()
    recent = db.session.scalar(
        select(func.count(PasswordResetToken.id)).where(
            PasswordResetToken.user_id == user.id,
            PasswordResetToken.created_at > at - RESEND_AFTER,
        )
    )
    if recent:
        return None  # one email a minute at most: the form must not be a way to flood a mailbox
    _expire_tokens(user, at)
    token = secrets.token_urlsafe(32)
    minutes = reset_minutes()
    db.session.add(
        PasswordResetToken(
            user=user,
            token_hash=_token_hash(token),
            created_at=at,
            expires_at=at + timedelta(minutes=minutes),
        )
    )
    db.session.flush()
    return user, token


def _expire_tokens(user: User, at: datetime) -> None:
    for old in db.session.scalars(
        select(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None)
        )
    ):
        old.used_at = at


def reset_token(token: str) -> PasswordResetToken | None:
    """The unused, unexpired reset token this link carries, or None."""
    found = db.session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == _token_hash(token))
    )
    if found is None or found.used_at is not None or found.expires_at <= now():
        return None
    if not found.user.active:
        return None
    return found


def reset_password(token: str, new: str) -> User:
    """Set a new password through a reset link; the link (and any other) then stops working."""
    found = reset_token(token)
    if found is None:
        raise Refused(_("This link has expired or was already used. Ask for a new one."))
    user = found.user
    _set_new_password(user, new)
    _expire_tokens(user, now())
    db.session.flush()
    return user
