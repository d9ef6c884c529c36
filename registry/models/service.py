"""Services a partner delivers."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import enum_column
from registry.vocabulary import Category, Setting, Unit, grade_span

if TYPE_CHECKING:
    from registry.models.partner import Partner


class Service(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(enum_column(Category), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    grades: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    setting: Mapped[Setting] = mapped_column(enum_column(Setting))
    unit: Mapped[Unit] = mapped_column(enum_column(Unit))
    capacity: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    partner: Mapped[Partner] = relationship(back_populates="services")

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
