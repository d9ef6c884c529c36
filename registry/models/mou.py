"""MOUs: agreements binding one partner to schools for a school year, with commitments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model, db
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.vocabulary import DPAStatus, DPAType, MOUStatus

if TYPE_CHECKING:
    from registry.models.partner import Partner
    from registry.models.school import School
    from registry.models.service import Service
    from registry.models.user import User

mou_school = Table(
    "mou_school",
    db.metadata,
    Column("mou_id", ForeignKey("mou.id", ondelete="CASCADE"), primary_key=True),
    # The primary key (mou_id, school_id) serves lookups by MOU; this one, by school.
    Column("school_id", ForeignKey("school.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class MOU(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    school_year: Mapped[str] = mapped_column(String(7), index=True)
    start_date: Mapped[date]
    end_date: Mapped[date] = mapped_column(index=True)  # "ending within 60 days"
    status: Mapped[MOUStatus] = mapped_column(
        enum_column(MOUStatus), default=MOUStatus.DRAFT, index=True
    )
    signed_date: Mapped[date | None]
    signatories: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # Student data sharing needs a current data-privacy agreement before activation.
    shares_student_data: Mapped[bool] = mapped_column(default=False)
    dpa_type: Mapped[DPAType | None] = mapped_column(enum_column(DPAType))
    dpa_status: Mapped[DPAStatus | None] = mapped_column(enum_column(DPAStatus))
    dpa_expiry: Mapped[date | None]
    # The partner's side of the signature: typed in the app by a partner user (then
    # partner_signed_at and partner_signed_by_id say when and by which account), or
    # recorded by the district from a paper signature (those two stay empty).
    partner_signer_name: Mapped[str] = mapped_column(String(200), default="")
    partner_signer_title: Mapped[str] = mapped_column(String(200), default="")
    partner_signed_date: Mapped[date | None]
    partner_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partner_signed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # Two-person approval: neither of these may activate the MOU.
    drafted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    last_edited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # Unique: an MOU is renewed once, and has one amendment in progress at a time,
    # even when two people ask at once (NULLs are distinct on SQLite and PostgreSQL).
    renewed_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("mou.id", ondelete="SET NULL"), unique=True
    )
    # An amendment is a draft MOU row amending an active one; on activation its terms
    # and commitments become the amended MOU's next version and the draft row goes.
    amends_id: Mapped[int | None] = mapped_column(
        ForeignKey("mou.id", ondelete="CASCADE"), unique=True
    )
    # The number of the agreement's current version (1, then one more per amendment).
    terms_version: Mapped[int] = mapped_column(default=1)
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship(back_populates="mous")
    schools: Mapped[list[School]] = relationship(
        secondary=mou_school, back_populates="mous", order_by="School.name"
    )
    commitments: Mapped[list[Commitment]] = relationship(
        back_populates="mou", cascade="all, delete-orphan", order_by="Commitment.id"
    )
    renewed_from: Mapped[MOU | None] = relationship(
        remote_side="MOU.id", foreign_keys=[renewed_from_id]
    )
    amends: Mapped[MOU | None] = relationship(remote_side="MOU.id", foreign_keys=[amends_id])
    partner_signed_by: Mapped[User | None] = relationship(foreign_keys=[partner_signed_by_id])
    drafted_by: Mapped[User | None] = relationship(foreign_keys=[drafted_by_id])
    last_edited_by: Mapped[User | None] = relationship(foreign_keys=[last_edited_by_id])
    versions: Mapped[list[MOUVersion]] = relationship(
        back_populates="mou", cascade="all, delete-orphan", order_by="MOUVersion.number"
    )

    __table_args__ = (CheckConstraint("end_date >= start_date", name="dates_ordered"),)
    __mapper_args__ = {"version_id_col": version}

    def dpa_current(self, today: date) -> bool:
        """Whether a signed data-privacy agreement covers the day given."""
        return (
            self.dpa_status == DPAStatus.SIGNED
            and self.dpa_expiry is not None
            and self.dpa_expiry >= today
        )

    def in_force_between(self, first: date, last: date) -> bool:
        """Whether the MOU's term overlaps [first, last] (status aside)."""
        return self.start_date <= last and self.end_date >= first

    @property
    def district_signed(self) -> bool:
        return self.signed_date is not None and bool(self.signatories.strip())

    @property
    def partner_signed(self) -> bool:
        return self.partner_signed_date is not None and bool(self.partner_signer_name.strip())

    @property
    def title(self) -> str:
        return f"{self.partner.name} · {self.school_year}"

    def __repr__(self) -> str:
        return f"<MOU {self.id} {self.school_year} {self.status.value}>"


class Commitment(Model):
    """What an MOU actually promises: an amount of one service at one school."""

    id: Mapped[int] = mapped_column(primary_key=True)
    mou_id: Mapped[int] = mapped_column(ForeignKey("mou.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    mou: Mapped[MOU] = relationship(back_populates="commitments")
    service: Mapped[Service] = relationship()
    school: Mapped[School] = relationship()

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("mou_id", "service_id", "school_id"),
    )


class MOUVersion(Model):
    """One version of an MOU's agreed terms and commitments, as it was when it took effect.

    Version 1 is the MOU as first activated; each activated amendment adds the next.
    The snapshot keeps names as well as ids, so a version reads the same after a
    service or school is renamed or removed.
    """

    __tablename__ = "mou_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    mou_id: Mapped[int] = mapped_column(ForeignKey("mou.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    created_by_email: Mapped[str] = mapped_column(String(254), default="")

    mou: Mapped[MOU] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("mou_id", "number"),)

    @property
    def title(self) -> str:
        return f"v{self.number}"
