"""The schools list as a download, in the columns the schools import reads back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from registry.exports import Column, Kind
from registry.models import INDICATORS, School, SchoolIndicators
from registry.vocabulary import percent_label


@dataclass(frozen=True)
class SchoolRow:
    """A school as exported: its latest indicators and its active partners this year."""

    school: School
    active_partners: int

    @property
    def latest(self) -> SchoolIndicators | None:
        return self.school.latest_indicators


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
