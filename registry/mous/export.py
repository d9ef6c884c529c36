"""The MOU list as a download: one row per MOU, with its schools and its commitments' totals.

Read as the file is sent, in four queries whatever the list's length: the schools' names
and the totals of the MOUs the list selects (two narrow queries, kept by MOU id), then the
MOUs' exported columns and their partner's name, a batch at a time (plain rows, not
objects: building 15,000 MOU objects took a third of a state-sized file's time).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Row, Select, func, select

from registry.exports import Column, Kind, batched
from registry.extensions import db
from registry.models import MOU, Commitment, Partner, School, Service, mou_school
from registry.vocabulary import Unit

# What the file shows of the MOU itself, read as plain columns.
FIELDS = (
    MOU.id,
    Partner.name.label("partner_name"),
    MOU.school_year,
    MOU.start_date,
    MOU.end_date,
    MOU.status,
    MOU.signed_date,
    MOU.signatories,
    MOU.shares_student_data,
    MOU.dpa_type,
    MOU.dpa_status,
    MOU.dpa_expiry,
)


@dataclass(frozen=True)
class MOURow:
    """An MOU as exported: its FIELDS (a row), its schools, its commitment lines."""

    mou: Row[*tuple[Any, ...]]
    schools: str  # the schools' names in name order, "; " between
    lines: int
    totals: Mapping[Unit, Decimal]  # the amounts committed, by unit (a unit with none: absent)


def _committed(row: MOURow, unit: Unit) -> Decimal | None:
    """The MOU's commitments in one unit, summed; None when it has none in that unit."""
    return row.totals.get(unit)


COLUMNS: list[Column[MOURow]] = [
    Column(_l("ID"), lambda r: r.mou.id, Kind.INT),
    Column(_l("Partner"), lambda r: r.mou.partner_name),
    Column(_l("School year"), lambda r: r.mou.school_year),
    Column(_l("Start"), lambda r: r.mou.start_date, Kind.DATE),
    Column(_l("End"), lambda r: r.mou.end_date, Kind.DATE),
    Column(_l("Status"), lambda r: r.mou.status, Kind.LABEL),
    Column(_l("Schools"), lambda r: r.schools),
    Column(_l("Signed on"), lambda r: r.mou.signed_date, Kind.DATE),
    Column(_l("Signatories"), lambda r: r.mou.signatories),
    Column(_l("Shares student data"), lambda r: r.mou.shares_student_data, Kind.YES_NO),
    Column(_l("DPA type"), lambda r: r.mou.dpa_type, Kind.LABEL),
    Column(_l("DPA status"), lambda r: r.mou.dpa_status, Kind.LABEL),
    Column(_l("DPA expires"), lambda r: r.mou.dpa_expiry, Kind.DATE),
    Column(_l("Commitment lines"), lambda r: r.lines, Kind.INT),
    Column(_l("Total committed (seats)"), lambda r: _committed(r, Unit.SEATS), Kind.AMOUNT),
    Column(_l("Total committed (hours)"), lambda r: _committed(r, Unit.HOURS), Kind.AMOUNT),
    Column(_l("Total committed (dollars)"), lambda r: _committed(r, Unit.DOLLARS), Kind.AMOUNT),
]


def school_names(mou_ids: Select[Any]) -> dict[int, str]:
    """The names of each MOU's schools, in name order, "; " between (one query)."""
    rows = db.session.execute(
        select(mou_school.c.mou_id, School.name)
        .join(School, School.id == mou_school.c.school_id)
        .where(mou_school.c.mou_id.in_(mou_ids))
        .order_by(mou_school.c.mou_id, School.name)
    )
    names: dict[int, list[str]] = {}
    for mou_id, name in rows:
        names.setdefault(mou_id, []).append(name)
    return {mou_id: "; ".join(listed) for mou_id, listed in names.items()}


def totals_by_unit(mou_ids: Select[Any]) -> dict[int, tuple[int, dict[Unit, Decimal]]]:
    """Each MOU's commitment lines and its amounts summed by unit (one GROUP BY query)."""
    rows = db.session.execute(
        select(Commitment.mou_id, Service.unit, func.count(), func.sum(Commitment.amount))
        .join(Service, Service.id == Commitment.service_id)
        .where(Commitment.mou_id.in_(mou_ids))
        .group_by(Commitment.mou_id, Service.unit)
    )
    totals: dict[int, tuple[int, dict[Unit, Decimal]]] = {}
    for mou_id, unit, lines, amount in rows:
        counted, by_unit = totals.get(mou_id, (0, {}))
        by_unit[unit] = Decimal(amount)
        totals[mou_id] = (counted + lines, by_unit)
    return totals


def rows(stmt: Select[Any]) -> Iterator[MOURow]:
    """The MOUs `stmt` selects (partner joined, as `mous.services.filtered` makes it), in its
    order, as export rows."""
    mou_ids = stmt.with_only_columns(MOU.id).order_by(None)
    names = school_names(mou_ids)
    totals = totals_by_unit(mou_ids)
    for mou in batched(stmt.with_only_columns(*FIELDS)):
        lines, by_unit = totals.get(mou.id, (0, {}))
        yield MOURow(mou, names.get(mou.id, ""), lines, by_unit)
