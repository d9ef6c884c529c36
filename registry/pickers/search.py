"""Server-side search for the pickers: a few matches at a time, never the whole registry.

Every query is confined to what the signed-in user may see (a partner user: its own
partner, its own services, the schools its own MOUs name), so a picker cannot list a
record its pages would answer 404 for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, case, false, func, or_, select

from registry.extensions import db
from registry.models import MOU, Partner, School, Service, User, mou_school
from registry.vocabulary import Category, PartnerStatus, Role

# Matches shown at once: enough to choose from, few enough for any page.
LIMIT = 20
MAX_QUERY = 200


class Kind(StrEnum):
    SCHOOLS = "schools"
    PARTNERS = "partners"
    SERVICES = "services"


@dataclass(frozen=True)
class Option:
    """One record as a picker shows it."""

    id: int
    label: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "detail": self.detail}


@dataclass(frozen=True)
class Scope:
    """What a search may return: whose records, and for services which ones."""

    # A partner user's partner: its lists only. None: district staff, every record.
    partner_id: int | None = None
    # Nothing at all (a partner account without a partner link).
    nothing: bool = False
    # Services: only active services of approved partners (what a scenario may use).
    usable_only: bool = False


@dataclass(frozen=True)
class Found:
    """Up to `LIMIT` matches, and whether there were more."""

    options: list[Option]
    more: bool


def scope_for(user: User, **filters: Any) -> Scope:
    """The scope of a signed-in user's searches (district staff see every record)."""
    if user.role == Role.PARTNER:
        if user.partner_id is None:
            return Scope(nothing=True, **filters)
        return Scope(partner_id=int(user.partner_id), **filters)
    return Scope(**filters)


def _pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matching(text: str, *columns: Any) -> ColumnElement[bool]:
    pattern = _pattern(text)
    return or_(*(func.lower(c).like(pattern, escape="\\") for c in columns))


def _starting(text: str, column: Any) -> Any:
    """0 for a name that starts with the text, 1 otherwise: those come first."""
    prefix = _pattern(text)[1:]
    return case((func.lower(column).like(prefix, escape="\\"), 0), else_=1)


def _schools(scope: Scope) -> Select[Any]:
    stmt: Select[*tuple[Any, ...]] = select(School.id, School.name, School.dese_code)
    if scope.partner_id is not None:
        own = select(mou_school.c.school_id).join(MOU, MOU.id == mou_school.c.mou_id)
        stmt = stmt.where(School.id.in_(own.where(MOU.partner_id == scope.partner_id)))
    return stmt


def _partners(scope: Scope) -> Select[Any]:
    stmt: Select[*tuple[Any, ...]] = select(Partner.id, Partner.name, Partner.status)
    if scope.partner_id is not None:
        stmt = stmt.where(Partner.id == scope.partner_id)
    return stmt


def _services(scope: Scope) -> Select[Any]:
    stmt: Select[*tuple[Any, ...]] = select(
        Service.id, Service.name, Partner.name, Service.category
    ).join(Partner, Partner.id == Service.partner_id)
    if scope.partner_id is not None:
        stmt = stmt.where(Service.partner_id == scope.partner_id)
    if scope.usable_only:
        stmt = stmt.where(Service.active.is_(True), Partner.status == PartnerStatus.APPROVED)
    return stmt


def _option(kind: Kind, row: Any) -> Option:
    if kind == Kind.SCHOOLS:
        return Option(row[0], row[1], row[2] or "")
    if kind == Kind.PARTNERS:
        status = row[2]
        return Option(row[0], row[1], "" if status == PartnerStatus.APPROVED else status.label)
    return Option(row[0], row[1], f"{row[2]} · {row[3].label}")


def _base(kind: Kind, scope: Scope) -> tuple[Select[Any], Any, tuple[Any, ...]]:
    """The query, the name column it is ordered by, and the columns a search looks in."""
    if kind == Kind.SCHOOLS:
        return _schools(scope), School.name, (School.name, School.dese_code, School.local_code)
    if kind == Kind.PARTNERS:
        return _partners(scope), Partner.name, (Partner.name,)
    return _services(scope), Service.name, (Service.name, Partner.name)


def find(
    kind: Kind,
    text: str,
    scope: Scope,
    *,
    limit: int = LIMIT,
    exclude: Iterable[int] = (),
    category: Category | None = None,
    partner_id: int | None = None,
) -> Found:
    """The first matches of a typed text (names first that start with it), by name.

    Services narrow further by category and partner.
    """
    stmt, name, columns = _base(kind, scope)
    if kind == Kind.SERVICES and category is not None:
        stmt = stmt.where(Service.category == category)
    if kind == Kind.SERVICES and partner_id is not None:
        stmt = stmt.where(Service.partner_id == partner_id)
    if scope.nothing:
        stmt = stmt.where(false())
    text = text.strip()[:MAX_QUERY]
    order: list[Any] = []
    if text:
        stmt = stmt.where(_matching(text, *columns))
        order.append(_starting(text, name))
    if kind == Kind.SERVICES:
        order.append(func.lower(Partner.name))
    excluded = [i for i in exclude if i]
    if excluded:
        id_column = {Kind.SCHOOLS: School.id, Kind.PARTNERS: Partner.id}.get(kind, Service.id)
        stmt = stmt.where(id_column.not_in(excluded))
    rows = db.session.execute(stmt.order_by(*order, func.lower(name), name).limit(limit + 1))
    options = [_option(kind, row) for row in rows]
    return Found(options[:limit], more=len(options) > limit)


def labels(kind: Kind, ids: Iterable[int], scope: Scope) -> dict[int, Option]:
    """The records among these ids that the scope may use, by id (others are left out)."""
    wanted = sorted({i for i in ids if i})
    if not wanted or scope.nothing:
        return {}
    stmt, _name, _columns = _base(kind, scope)
    id_column = {Kind.SCHOOLS: School.id, Kind.PARTNERS: Partner.id}.get(kind, Service.id)
    rows = db.session.execute(stmt.where(id_column.in_(wanted)))
    return {row[0]: _option(kind, row) for row in rows}
