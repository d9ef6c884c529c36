"""Sign-ins and sign-outs, from Flask-Login's signals (the auth views stay as they are)."""

from __future__ import annotations

from typing import Any

from flask_login import user_logged_in, user_logged_out

from registry.security_log import record


def _logged_in(sender: Any, user: Any, **extra: Any) -> None:
    record("login.success", user_id=user.id, email=user.email)


def _logged_out(sender: Any, user: Any, **extra: Any) -> None:
    if user is not None and getattr(user, "is_authenticated", False):
        record("logout", user_id=user.id, email=user.email)


def connect() -> None:
    """Listen to the signals (once per process; any app sends them)."""
    user_logged_in.connect(_logged_in)
    user_logged_out.connect(_logged_out)
