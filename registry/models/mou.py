"""MOUs: agreements binding one partner to schools for a school year, with commitments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
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
from registry.models.columns import enum_column
from registry.vocabulary import DPAStatus, DPAType, MOUStatus

if TYPE_CHECKING:
    from registry.models.partner import Partner
    from registry.models.school import School
    from registry.models.service import Service

mou_school = Table(
    "mou_school",
    db.metadata,
    Column("mou_id", ForeignKey("mou.id", ondelete="CASCADE"), primary_key=True),
    Column("school_id", ForeignKey("school.id", ondelete="CASCADE"), primary_key=True),
)


class MOU(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    school_year: Mapped[str] = mapped_column(String(7), index=True)
    start_date: Mapped[date]
    end_date: Mapped[date]
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
    renewed_from_id: Mapped[int | None] = mapped_column(ForeignKey("mou.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship(back_populates="mous")
    schools: Mapped[list[School]] = relationship(
        secondary=mou_school, back_populates="mous", order_by="School.name"
    )
    commitments: Mapped[list[Commitment]] = relationship(
        back_populates="mou", cascade="all, delete-orphan", order_by="Commitment.id"
    )
    renewed_from: Mapped[MOU | None] = relationship(remote_side="MOU.id")

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
