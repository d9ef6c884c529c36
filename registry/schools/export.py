"""The schools list as a download, in the columns the schools import reads back.

Read as the file is sent, in two queries whatever the list's length: the latest indicators
of the schools the list selects, then the schools with their active partners counted, a
batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import aliased

from registry.exports import Column, Kind, batched
from registry.extensions import db
from registry.models import INDICATORS, School, SchoolIndicators
from registry.schools.services import active_partner_count
from registry.vocabulary import percent_label


@dataclass(frozen=True)
class SchoolRow:
    """A school as exported: its latest indicators and its active partners this year."""

    school: School
    latest: SchoolIndicators | None
    active_partners: int


def _fraction(row: SchoolRow, name: str) -> Decimal | None:
    # Stored as percentage points (59.4); a spreadsheet's percentage is a fraction (0.594).
    value = getattr(row.latest, name) if row.latest else None
    return None if value is None else Decimal(value) / 100


def _indicator(name: str) -> Column[SchoolRow]:
    # Two places of a percentage: the precision the registry stores.
    return Column(percent_label(name), lambda r: _fraction(r, name), Kind.PCT, places=2)


# Keyed by the field the import fills from the column; "active_partners" is not imported.
COLUMNS: dict[str, Column[SchoolRow]] = {
    "dese_code": Column(_l("DESE code"), lambda r: r.school.dese_code),
    "name": Column(_l("Name"), lambda r: r.school.name),
    "grades": Column(_l("Grades"), lambda r: " ".join(r.school.grades or [])),
    "enrollment": Column(_l("Enrollment"), lambda r: r.school.enrollment, Kind.INT),
    "address": Column(_l("Address"), lambda r: r.school.address),
    "zip": Column(_l("Zip code"), lambda r: r.school.zip),
    "school_year": Column(_l("School year"), lambda r: r.latest.school_year if r.latest else None),
    **{name: _indicator(name) for name in INDICATORS},
    "active_partners": Column(_l("Active partners"), lambda r: r.active_partners, Kind.INT),
}


def latest_indicators(school_ids: Select[Any]) -> dict[int, SchoolIndicators]:
    """Each school's indicators of its latest school year (one query)."""
    newer = aliased(SchoolIndicators)
    found = db.session.scalars(
        select(SchoolIndicators).where(
            SchoolIndicators.school_id.in_(school_ids),
            ~exists().where(
                newer.school_id == SchoolIndicators.school_id,
                newer.school_year > SchoolIndicators.school_year,
            ),
        )
    )
    return {indicators.school_id: indicators for indicators in found}


def rows(stmt: Select[Any], school_year: str) -> Iterator[SchoolRow]:
    """The schools `stmt` selects (without eager loading), in its order, as export rows with
    their active partners in `school_year`."""
    latest = latest_indicators(stmt.with_only_columns(School.id).order_by(None))
    counted = stmt.add_columns(active_partner_count(school_year))
    for school, partners in batched(counted):
        yield SchoolRow(school, latest.get(school.id), partners)
