"""Failed sign-ins, counted per account (by the email typed) and per client address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.models.columns import UTCDateTime


class LoginThrottle(Model):
    """One counter of consecutive failed sign-ins, and until when the next attempt waits.

    `key` is ``account:<email, lower case>`` (whether or not the account exists, so a
    refusal looks the same either way) or ``ip:<client address>``. Written outside the
    request's unit of work (registry/auth/throttle.py): a failed sign-in ends in a 400,
    which commits nothing, yet the failure must count.
    """

    __tablename__ = "login_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No attempt is checked before this moment (the slowdown, or the 15-minute lock).
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
