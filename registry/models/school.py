"""Schools and their yearly indicators."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.vocabulary import grade_span

if TYPE_CHECKING:
    from registry.models.mou import MOU

# The yearly indicators, by attribute name, in the order pages show them.
INDICATORS: tuple[str, ...] = (
    "pct_econ_disadvantaged",
    "pct_english_learners",
    "pct_disabilities",
    "pct_high_needs",
    "pct_chronically_absent",
)


class School(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    dese_code: Mapped[str] = mapped_column(String(8), unique=True)
    # A district's own school code (PartnerBPS' "RC"), unique when set.
    local_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    grades: Mapped[list[str]] = mapped_column(JSON, default=list)
    enrollment: Mapped[int] = mapped_column(default=0)
    address: Mapped[str] = mapped_column(String(300), default="")
    zip: Mapped[str] = mapped_column(String(10), default="", index=True)
    version: Mapped[int] = mapped_column(default=1)

    indicators: Mapped[list[SchoolIndicators]] = relationship(
        back_populates="school",
        cascade="all, delete-orphan",
        order_by="SchoolIndicators.school_year.desc()",
    )
    mous: Mapped[list[MOU]] = relationship(secondary="mou_school", back_populates="schools")

    __table_args__ = (CheckConstraint("enrollment >= 0", name="enrollment_nonnegative"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def grade_span(self) -> str:
        return grade_span(self.grades or [])

    def indicators_for(self, school_year: str) -> SchoolIndicators | None:
        return next((i for i in self.indicators if i.school_year == school_year), None)

    @property
    def latest_indicators(self) -> SchoolIndicators | None:
        return self.indicators[0] if self.indicators else None

    def __repr__(self) -> str:
        return f"<School {self.dese_code} {self.name!r}>"


class SchoolIndicators(Model):
    """One school's need indicators for one school year (percentages, 0–100; None = missing)."""

    __tablename__ = "school_indicators"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"))
    school_year: Mapped[str] = mapped_column(String(7))
    pct_econ_disadvantaged: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_english_learners: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_disabilities: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_high_needs: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    pct_chronically_absent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    school: Mapped[School] = relationship(back_populates="indicators")

    __table_args__ = (UniqueConstraint("school_id", "school_year"),)

    def as_dict(self) -> dict[str, Decimal | None]:
        return {name: getattr(self, name) for name in INDICATORS}


class SchoolAlias(Model):
    """A school name as some file spells it (normalised), matched once by a coordinator.

    Imports look names up here before asking again, so a choice made in a review
    step is remembered for the next import.
    """

    __tablename__ = "school_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id", ondelete="CASCADE"), index=True)

    school: Mapped[School] = relationship()
