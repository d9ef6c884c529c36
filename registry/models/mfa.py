"""Two-step sign-in (ASVS 6.3.3): a user's TOTP credential and single-use recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.models.columns import UTCDateTime, utcnow


class MfaCredential(Model):
    """A user's authenticator-app secret; in use once `confirmed_at` is set.

    The `secret` column is deferred (never loaded with the row) and the audit trail skips
    it (registry.audit._SKIPPED), so it never lands in an audit row. It is read and
    written with Core statements in registry/mfa/services.py only, and stored encrypted:
    a Fernet token of the base32 secret (registry.mfa.secret_box; about 140 characters).
    `reset_at` is set when an administrator reset the user's two-step sign-in: the row is
    then unconfirmed, and the user must set it up again before doing anything else.
    `last_timestep` is the 30-second step of the last code accepted: a code is accepted
    only for a later step, so a code seen over someone's shoulder cannot be used again.
    """

    __tablename__ = "mfa_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), unique=True
    )
    secret: Mapped[str] = mapped_column(String(255), deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_timestep: Mapped[int | None] = mapped_column(BigInteger)
    reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<MfaCredential user={self.user_id} confirmed={self.confirmed_at is not None}>"


class MfaRecoveryCode(Model):
    """One single-use recovery code, kept only as the SHA-256 of the (80-bit random) code."""

    __tablename__ = "mfa_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<MfaRecoveryCode {self.id} used={self.used_at is not None}>"
