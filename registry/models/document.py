"""Documents kept for a partner or an MOU: insurance certificates, attestations, agreements."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.vocabulary import LabelledEnum, add_labels

if TYPE_CHECKING:
    from registry.models.mou import MOU
    from registry.models.partner import Partner
    from registry.models.user import User


class DocumentType(LabelledEnum):
    INSURANCE_CERTIFICATE = "insurance_certificate"
    BACKGROUND_CHECK = "background_check"  # policy or attestation
    SIGNED_MOU = "signed_mou"
    DATA_PRIVACY_AGREEMENT = "data_privacy_agreement"
    OTHER = "other"


class DocumentStatus(LabelledEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


add_labels(
    (
        (DocumentType.INSURANCE_CERTIFICATE, _l("Insurance certificate")),
        (DocumentType.BACKGROUND_CHECK, _l("Background-check policy or attestation")),
        (DocumentType.SIGNED_MOU, _l("Signed MOU")),
        (DocumentType.DATA_PRIVACY_AGREEMENT, _l("Data-privacy agreement")),
        (DocumentType.OTHER, _l("Other document")),
        (DocumentStatus.PENDING, _l("Pending verification")),
        (DocumentStatus.VERIFIED, _l("Verified")),
        (DocumentStatus.REJECTED, _l("Rejected")),
    )
)


class Document(Model):
    """One uploaded PDF, kept outside the web root under its SHA-256.

    It belongs to a partner, and to one of its MOUs when it concerns that MOU.
    Only a verified document satisfies an activation gate.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    mou_id: Mapped[int | None] = mapped_column(ForeignKey("mou.id", ondelete="CASCADE"), index=True)
    doc_type: Mapped[DocumentType] = mapped_column(enum_column(DocumentType), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded, shown and sent back
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    effective_date: Mapped[date | None]
    expiry_date: Mapped[date | None]
    status: Mapped[DocumentStatus] = mapped_column(
        enum_column(DocumentStatus), default=DocumentStatus.PENDING, index=True
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str] = mapped_column(Text, default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship()
    mou: Mapped[MOU | None] = relationship()
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    uploaded_by: Mapped[User | None] = relationship(foreign_keys=[uploaded_by_id])

    __table_args__ = (
        CheckConstraint("size >= 0", name="size_nonnegative"),
        CheckConstraint(
            "expiry_date IS NULL OR effective_date IS NULL OR expiry_date >= effective_date",
            name="dates_ordered",
        ),
    )
    __mapper_args__ = {"version_id_col": version}

    @property
    def title(self) -> str:
        return self.filename

    def covers(self, first: date, last: date) -> bool:
        """Whether the document is in force on every day of [first, last]."""
        starts_ok = self.effective_date is None or self.effective_date <= first
        return starts_ok and self.expiry_date is not None and self.expiry_date >= last

    def __repr__(self) -> str:
        return f"<Document {self.id} {self.doc_type.value} {self.status.value}>"
