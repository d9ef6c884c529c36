"""Server-side records of signed-in sessions (ASVS V7): the cookie carries only a nonce."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, utcnow
from registry.models.user import User


class UserSession(Model):
    """One sign-in: valid while not ended, not idle too long and not too old.

    The signed session cookie holds a random nonce; only its SHA-256 is stored here, so
    reading this table does not let anyone take a session over. `last_seen_at` is written
    on its own connection at most once a minute (registry/sessions/services.py).
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it ended: logout, idle, absolute, password, deactivated, reactivated, by_user, by_admin.
    ended_reason: Mapped[str] = mapped_column(String(40), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()
