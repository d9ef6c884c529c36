"""Authentication: who a set of credentials belongs to."""

from __future__ import annotations

from sqlalchemy import func, select

from registry.extensions import db
from registry.models import User

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
