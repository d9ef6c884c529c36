"""Security events (ASVS V16): sign-ins, refusals, exports... one row each, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.models.columns import UTCDateTime, utcnow


class SecurityEvent(Model):
    """One security event, written by `registry.security_log.record` in a transaction of its own.

    `user_id` is deliberately not a foreign key: an event outlives the account it names, and a
    cascade would have to update rows that are append-only. `chain_hash` links the row to the
    one before it (registry.seclog.chain).
    """

    __tablename__ = "security_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int | None] = mapped_column(index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    path: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    chain_hash: Mapped[str | None] = mapped_column(String(64))
