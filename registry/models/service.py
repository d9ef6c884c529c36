"""Services a partner delivers."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import enum_column
from registry.vocabulary import Category, Setting, Unit, grade_span

if TYPE_CHECKING:
    from registry.models.partner import Partner
    from registry.models.school import School


class Service(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(enum_column(Category), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Reviewed translations of the description, by locale ("es", "pt", ...).
    description_translations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    grades: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    setting: Mapped[Setting] = mapped_column(enum_column(Setting))
    unit: Mapped[Unit] = mapped_column(enum_column(Unit))
    # The overall pool across schools; None = no overall limit (offerings may
    # still bound each school). Whichever level is set is enforced.
    # No Python default: the ORM would put it in place of an explicit None.
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    active: Mapped[bool] = mapped_column(default=True)
    # Whether its staff work directly with students (then background checks gate its MOUs).
    direct_student_contact: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship(back_populates="services")
    offerings: Mapped[list[Offering]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="Offering.id"
    )

    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("cost >= 0", name="cost_nonnegative"),
    )
    __mapper_args__ = {"version_id_col": version}

    @property
    def grade_span(self) -> str:
        return grade_span(self.grades or [])

    def __repr__(self) -> str:
        return f"<Service {self.id} {self.name!r}>"


class Offering(Model):
    """A service offered at one named school, with its own site capacity and schedule.

    A service with offerings is offered at those schools only; one without keeps
    the grade-band and service-area rule.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)
    # The site capacity, in the service's unit; None = no limit at this school.
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    grades: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = the service's
    days: Mapped[str] = mapped_column(String(200), default="")
    time: Mapped[str] = mapped_column(String(200), default="")
    weekly_dosage: Mapped[str] = mapped_column(String(200), default="")
    student_fees: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[int] = mapped_column(default=1)

    service: Mapped[Service] = relationship(back_populates="offerings")
    school: Mapped[School] = relationship()

    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        UniqueConstraint("service_id", "school_id"),
    )
    __mapper_args__ = {"version_id_col": version}

    @property
    def title(self) -> str:
        """ "Service · School" when both are loaded (the audit names rows by this), else its id."""
        unloaded = inspect(self).unloaded
        if "service" in unloaded or "school" in unloaded or not (self.service and self.school):
            return f"#{self.id}"
        return f"{self.service.name} · {self.school.name}"

    def __repr__(self) -> str:
        return f"<Offering {self.service_id}@{self.school_id}>"


class ProgramAreaMapping(Model):
    """Which category a partner listing's "Program Areas" value becomes (editable)."""

    __tablename__ = "program_area_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_key: Mapped[str] = mapped_column(String(200), unique=True)  # normalised
    area: Mapped[str] = mapped_column(String(200))  # as first seen
    category: Mapped[Category] = mapped_column(enum_column(Category))
