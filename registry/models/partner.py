"""Community partners and their compliance paperwork."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import enum_column
from registry.vocabulary import PartnerStatus, PartnerType

if TYPE_CHECKING:
    from registry.models.mou import MOU
    from registry.models.service import Service


class Partner(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    partner_type: Mapped[PartnerType] = mapped_column(enum_column(PartnerType))
    description: Mapped[str] = mapped_column(Text, default="")
    # Reviewed translations of the description, by locale ("es", "pt", ...).
    description_translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    website: Mapped[str] = mapped_column(String(300), default="")
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    zip: Mapped[str] = mapped_column(String(10), default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    district_wide: Mapped[bool] = mapped_column(default=True)
    service_zips: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[PartnerStatus] = mapped_column(
        enum_column(PartnerStatus), default=PartnerStatus.APPLICANT, index=True
    )
    # Compliance: background checks (CORI/SORI) and insurance.
    background_check_policy: Mapped[bool] = mapped_column(default=False)
    background_check_verified: Mapped[date | None]
    insurance_expiry: Mapped[date | None]
    insurance_liability: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    version: Mapped[int] = mapped_column(default=1)

    services: Mapped[list[Service]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="Service.name"
    )
    mous: Mapped[list[MOU]] = relationship(
        back_populates="partner", cascade="all, delete-orphan", order_by="MOU.start_date.desc()"
    )

    __mapper_args__ = {"version_id_col": version}

    def serves_zip(self, zip_code: str) -> bool:
        """Whether the partner's service area covers a zip code."""
        return self.district_wide or zip_code in (self.service_zips or [])

    def compliance_problems(self, today: date) -> list[str]:
        """Short names of the compliance items missing or expired on a day."""
        problems = []
        if not self.background_check_policy or self.background_check_verified is None:
            problems.append("background_check")
        if self.insurance_expiry is None:
            problems.append("insurance_missing")
        elif self.insurance_expiry < today:
            problems.append("insurance_expired")
        return problems

    def __repr__(self) -> str:
        return f"<Partner {self.id} {self.name!r}>"
