"""Schools: the rules for recording a school, and the questions pages ask about schools.

Writing: `create_school` / `update_school` validate, change only the fields
whose value differs (so an unchanged save writes no audit row and keeps the
version) and flush. Reading: level filters, the latest indicators and the
count of active partners, as SQL expressions the list can sort by.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Text, and_, cast, exists, func, or_, select
from sqlalchemy.orm import selectinload

from registry import district_time
from registry.concurrency import check_version
from registry.extensions import db
from registry.listing import search
from registry.models import INDICATORS, MOU, Commitment, School, SchoolIndicators, mou_school
from registry.refusals import Refused
from registry.schoolyear import is_school_year, school_year_of
from registry.vocabulary import GRADES, MOUStatus, sort_grades

# Percentages are stored as Numeric(5, 2): compare and store them at that precision.
HUNDREDTH = Decimal("0.01")


class Level(enum.StrEnum):
    """The school levels the district speaks of, each a band of grades."""

    ELEMENTARY = "elementary"
    MIDDLE = "middle"
    HIGH = "high"

    @property
    def label(self) -> str:
        return str(LEVEL_LABELS[self])


ELEMENTARY_GRADES = GRADES[: GRADES.index("5") + 1]
MIDDLE_GRADES = ("7", "8")
HIGH_GRADES = ("9", "10", "11", "12")
LEVEL_LABELS: dict[Level, Any] = {
    Level.ELEMENTARY: _l("Elementary"),
    Level.MIDDLE: _l("Middle"),
    Level.HIGH: _l("High"),
}


def levels_of(grades: Iterable[str]) -> list[Level]:
    """The levels a list of grades spans (a K–8 school is elementary and middle).

    Grade 6 is middle school only where grade 5 is not taught: a K–6 school is
    elementary, a 6–8 school is middle.
    """
    offered = set(grades)
    levels = {
        Level.ELEMENTARY: bool(offered & set(ELEMENTARY_GRADES)),
        Level.MIDDLE: bool(offered & set(MIDDLE_GRADES)) or ("6" in offered and "5" not in offered),
        Level.HIGH: bool(offered & set(HIGH_GRADES)),
    }
    return [level for level, applies in levels.items() if applies]


@dataclass
class SchoolData:
    """A school's facts and (optionally) one school year's indicators, already validated."""

    dese_code: str
    name: str
    grades: list[str]
    enrollment: int
    address: str = ""
    zip: str = ""
    # The district's own code for the school (PartnerBPS' "RC"): "" = none, None = leave it.
    local_code: str | None = None
    school_year: str | None = None
    # None: leave the indicators alone; a dict: the year's values (None = missing).
    indicators: dict[str, Decimal | None] | None = field(default=None)


def current_school_year(today: date | None = None) -> str:
    """The school year a day falls in (today by default)."""
    return school_year_of(today or district_time.today())


def percentage(value: Decimal | None) -> Decimal | None:
    """A percentage at stored precision; None stays None (missing, never 0)."""
    return None if value is None else value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def find_by_code(dese_code: str) -> School | None:
    return db.session.scalar(select(School).where(School.dese_code == dese_code))


def _check_code_free(dese_code: str, school: School | None) -> None:
    holder = find_by_code(dese_code)
    if holder is not None and holder is not school:
        raise Refused(
            _("This DESE code is already used by %(school)s.", school=holder.name),
            field="dese_code",
        )


def _check_local_code_free(local_code: str | None, school: School | None) -> None:
    if not local_code:
        return
    holder = db.session.scalar(select(School).where(School.local_code == local_code))
    if holder is not None and holder is not school:
        raise Refused(
            _(
                "The local school code %(code)s is already used by %(school)s.",
                code=local_code,
                school=holder.name,
            ),
            field="local_code",
        )


def _set_if_changed(obj: Any, name: str, value: Any) -> bool:
    # Setting an equal value is skipped, so a no-op save writes no audit row and no version bump.
    if getattr(obj, name) == value:
        return False
    setattr(obj, name, value)
    return True


def apply_school_data(school: School, data: SchoolData) -> bool:
    """Copy the data onto a school, touching only fields whose value differs; True if any did."""
    changed = False
    for name in ("dese_code", "name", "enrollment", "address", "zip"):
        changed |= _set_if_changed(school, name, getattr(data, name))
    changed |= _set_if_changed(school, "grades", sort_grades(data.grades))
    if data.local_code is not None:
        changed |= _set_if_changed(school, "local_code", data.local_code.strip() or None)
    if data.indicators is not None and data.school_year:
        changed |= _apply_indicators(school, data.school_year, data.indicators)
    return changed


def _apply_indicators(school: School, school_year: str, values: dict[str, Decimal | None]) -> bool:
    values = {name: percentage(values.get(name)) for name in INDICATORS}
    row = school.indicators_for(school_year)
    if row is None:
        if all(v is None for v in values.values()):
            return False  # nothing known for that year: no empty row
        school.indicators.append(SchoolIndicators(school_year=school_year, **values))
        return True
    changed = False
    for name, value in values.items():
        changed |= _set_if_changed(row, name, value)
    return changed


def _check_data(data: SchoolData) -> None:
    # The form checks these too; the rules live here so any caller is held to them.
    if not (len(data.dese_code) == 8 and data.dese_code.isascii() and data.dese_code.isdigit()):
        raise Refused(_("Enter the DESE code: exactly 8 digits."), field="dese_code")
    if data.enrollment < 0:
        raise Refused(_("Enrollment cannot be negative."), field="enrollment")
    if data.indicators is not None:
        validate_school_year(data.school_year or "")
        for name, value in data.indicators.items():
            if value is not None and not (value.is_finite() and 0 <= value <= 100):
                raise Refused(_("Enter a percentage from 0 to 100."), field=name)


def create_school(data: SchoolData) -> School:
    """Record a new school; a DESE code already in use is refused."""
    _check_data(data)
    _check_code_free(data.dese_code, None)
    _check_local_code_free(data.local_code, None)
    school = School(dese_code=data.dese_code, name=data.name, grades=[], enrollment=0)
    apply_school_data(school, data)
    db.session.add(school)
    db.session.flush()
    return school


def update_school(school: School, data: SchoolData, version: int | str | None) -> School:
    """Change a school opened at `version` (stale: StaleEdit, nothing changed)."""
    check_version(school, version)
    _check_data(data)
    _check_code_free(data.dese_code, school)
    _check_local_code_free(data.local_code, school)
    apply_school_data(school, data)
    db.session.flush()
    return school


def validate_school_year(text: str) -> str:
    """A school year like "2025-26" (second part = first + 1), or Refused."""
    text = (text or "").strip()
    if not is_school_year(text):
        raise Refused(
            _("'%(text)s' is not a school year like 2025-26.", text=text), field="school_year"
        )
    return text


# ---- questions the list and detail pages ask --------------------------------------------


def _latest_indicator(name: str) -> Any:
    """The school's value of an indicator in its latest school year with a row (SQL)."""
    column = getattr(SchoolIndicators, name)
    return (
        select(column)
        .where(SchoolIndicators.school_id == School.id)
        .order_by(SchoolIndicators.school_year.desc())
        .limit(1)
        .correlate(School)
        .scalar_subquery()
    )


def active_partner_count(school_year: str) -> Any:
    """How many partners have an active MOU covering the school in a school year (SQL)."""
    return (
        select(func.count(func.distinct(MOU.partner_id)))
        .select_from(mou_school.join(MOU, MOU.id == mou_school.c.mou_id))
        .where(
            mou_school.c.school_id == School.id,
            MOU.status == MOUStatus.ACTIVE,
            MOU.school_year == school_year,
        )
        .correlate(School)
        .scalar_subquery()
    )


def covered_by_active_mou(school_year: str) -> Any:
    """SQL: an active MOU of the school year covers the school (an EXISTS, so "no partner"
    is one anti-join on mou_school's school_id index, not a count per school)."""
    return (
        exists()
        .where(
            mou_school.c.school_id == School.id,
            MOU.id == mou_school.c.mou_id,
            MOU.status == MOUStatus.ACTIVE,
            MOU.school_year == school_year,
        )
        .correlate(School)
    )


def sort_columns(school_year: str) -> dict[str, Any]:
    """What the school list may be sorted by."""
    return {
        "name": School.name,
        "code": School.dese_code,
        "enrollment": School.enrollment,
        "econ": _latest_indicator("pct_econ_disadvantaged"),
        "el": _latest_indicator("pct_english_learners"),
        "partners": active_partner_count(school_year),
    }


def offers_level(level: Level) -> ColumnElement[bool]:
    """Schools offering any grade of a level (SQL).

    Grades are a JSON list; its text holds each grade quoted ("6"), which reads
    the same on SQLite and PostgreSQL and never confuses "1" with "10".
    """
    as_text = cast(School.grades, Text)

    def offers(grade: str) -> ColumnElement[bool]:
        return as_text.like(f'%"{grade}"%')

    if level == Level.ELEMENTARY:
        return or_(*(offers(g) for g in ELEMENTARY_GRADES))
    if level == Level.MIDDLE:  # the same rule as levels_of
        return or_(*(offers(g) for g in MIDDLE_GRADES), and_(offers("6"), ~offers("5")))
    return or_(*(offers(g) for g in HIGH_GRADES))


def filtered_schools(
    *,
    text: str | None,
    level: str | None,
    zip_code: str | None,
    no_partner: bool,
    school_year: str,
    with_indicators: bool = True,
) -> Any:
    """The select for the school list: search, then the filters (unknown values ignored);
    the schools' indicators loaded with them unless `with_indicators` is false."""
    stmt = select(School)
    if with_indicators:
        stmt = stmt.options(selectinload(School.indicators))
    stmt = search(stmt, text, School.name, School.dese_code, School.zip)
    if level in {member.value for member in Level}:
        stmt = stmt.where(offers_level(Level(level)))
    if zip_code:
        stmt = stmt.where(School.zip == zip_code.strip())
    if no_partner:
        stmt = stmt.where(~covered_by_active_mou(school_year))
    return stmt


def partner_counts(schools: Sequence[School], school_year: str) -> dict[int, int]:
    """Active partners per school (ids given) in a school year."""
    ids = [s.id for s in schools]
    if not ids:
        return {}
    rows = db.session.execute(
        select(mou_school.c.school_id, func.count(func.distinct(MOU.partner_id)))
        .join(MOU, MOU.id == mou_school.c.mou_id)
        .where(
            mou_school.c.school_id.in_(ids),
            MOU.status == MOUStatus.ACTIVE,
            MOU.school_year == school_year,
        )
        .group_by(mou_school.c.school_id)
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({school_id: n for school_id, n in rows})
    return counts


def zips_in_use() -> list[str]:
    """The zip codes schools are in, for the filter."""
    return [z for z in db.session.scalars(select(School.zip).distinct().order_by(School.zip)) if z]


def school_mous(school: School) -> list[MOU]:
    """The MOUs naming a school, latest school year first."""
    return list(
        db.session.scalars(
            select(MOU)
            .join(mou_school, mou_school.c.mou_id == MOU.id)
            .where(mou_school.c.school_id == school.id)
            .options(selectinload(MOU.partner))
            .order_by(MOU.school_year.desc(), MOU.id)
        )
    )


def school_commitments(school: School) -> list[Commitment]:
    """What MOUs commit at a school, latest school year first."""
    return list(
        db.session.scalars(
            select(Commitment)
            .join(MOU, MOU.id == Commitment.mou_id)
            .where(Commitment.school_id == school.id)
            .options(
                selectinload(Commitment.service),
                selectinload(Commitment.mou).selectinload(MOU.partner),
            )
            .order_by(MOU.school_year.desc(), Commitment.id)
        )
    )


def has_active_partner(school: School, school_year: str) -> bool:
    return partner_counts([school], school_year)[school.id] > 0
