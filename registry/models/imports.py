"""What imports remember: a column mapping per header set."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.extensions import Model
from registry.models.columns import UTCDateTime, utcnow


class ImportMapping(Model):
    """A coordinator's column → field choices for one set of headers, reused next time."""

    __tablename__ = "import_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # "schools", "partner_programs"
    header_key: Mapped[str] = mapped_column(String(64))  # sha256 of the normalised headers
    # normalised header → field name, or "" for "ignore"
    mapping: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (UniqueConstraint("kind", "header_key"),)
