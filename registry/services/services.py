"""Services partners deliver: creating and changing them, finding them, and what is committed.

Coordinators and admins add and change any partner's services. A partner user
adds and changes only its own organisation's services: the partner of a
service it creates is always its own, whatever the request says, and it can
never move a service to another partner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, SQLColumnExpression, func, select
from sqlalchemy.orm import contains_eager, joinedload

from registry import formats
from registry.concurrency import check_version
from registry.extensions import db
from registry.models import MOU, Commitment, Partner, Service, User
from registry.mous.services import committed_amount, remaining_capacity
from registry.partners.services import json_list_contains
from registry.refusals import Refused
from registry.schoolyear import school_year_of
from registry.vocabulary import Category, Role, Setting, Unit, sort_grades

FIELDS: frozenset[str] = frozenset(
    {
        "partner_id",
        "name",
        "category",
        "description",
        "grades",
        "languages",
        "setting",
        "unit",
        "capacity",
        "cost",
        "active",
    }
)

SERVICE_SORTS: dict[str, SQLColumnExpression[Any]] = {
    "name": func.lower(Service.name),
    "partner": func.lower(Partner.name),
    "category": Service.category,
    "capacity": Service.capacity,
    "cost": Service.cost,
}
SEARCHED_COLUMNS = (Service.name, Service.description, Partner.name)


@dataclass(frozen=True)
class ServiceFilters:
    text: str | None = None
    category: Category | None = None
    setting: Setting | None = None
    unit: Unit | None = None
    partner_id: int | None = None
    grade: str | None = None
    language: str | None = None
    active: bool | None = None


def service_query(filters: ServiceFilters, only_partner_id: int | None = None) -> Select[Any]:
    """Services (with partner) matching the filters; `only_partner_id` scopes a partner user."""
    stmt = select(Service).join(Service.partner).options(contains_eager(Service.partner))
    if only_partner_id is not None:
        stmt = stmt.where(Service.partner_id == only_partner_id)
    if filters.partner_id is not None:
        stmt = stmt.where(Service.partner_id == filters.partner_id)
    if filters.category is not None:
        stmt = stmt.where(Service.category == filters.category)
    if filters.setting is not None:
        stmt = stmt.where(Service.setting == filters.setting)
    if filters.unit is not None:
        stmt = stmt.where(Service.unit == filters.unit)
    if filters.grade:
        stmt = stmt.where(json_list_contains(Service.grades, filters.grade))
    if filters.language:
        stmt = stmt.where(json_list_contains(Service.languages, filters.language))
    if filters.active is not None:
        stmt = stmt.where(Service.active.is_(filters.active))
    return stmt


def commitments_of(service: Service) -> list[Commitment]:
    """Every commitment of a service, newest school year first, with MOU and school loaded."""
    return list(
        db.session.scalars(
            select(Commitment)
            .join(Commitment.mou)
            .where(Commitment.service_id == service.id)
            .options(joinedload(Commitment.mou), joinedload(Commitment.school))
            .order_by(MOU.school_year.desc(), Commitment.id)
        )
    )


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - FIELDS
    if unknown:
        raise ValueError(f"not service fields: {sorted(unknown)}")
    cleaned = dict(values)
    for key in ("name", "description"):
        if key in cleaned:
            cleaned[key] = (cleaned[key] or "").strip()
    for key, enum_cls in (("category", Category), ("setting", Setting), ("unit", Unit)):
        if key in cleaned:
            cleaned[key] = enum_cls(cleaned[key])
    for key in ("capacity", "cost"):
        if key in cleaned:
            cleaned[key] = _money(cleaned[key])
    if "grades" in cleaned:
        cleaned["grades"] = sort_grades(cleaned["grades"] or [])
        if not cleaned["grades"]:
            raise Refused(_("Choose at least one grade."), field="grades")
    if "languages" in cleaned:
        cleaned["languages"] = list(dict.fromkeys(cleaned["languages"] or []))
    return cleaned


def _owning_partner(values: dict[str, Any], actor: User, current: int | None) -> int:
    """The partner a service belongs to after the change (a partner user's is always its own)."""
    if actor.role == Role.PARTNER:
        if actor.partner_id is None or (current is not None and current != actor.partner_id):
            raise Refused(_("A partner may change only its own services."))
        return actor.partner_id
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Only the district and the partner may change services."))
    wanted = values.get("partner_id", current)
    if wanted is None or db.session.get(Partner, wanted) is None:
        raise Refused(_("Choose a partner."), field="partner_id")
    return int(wanted)


def create_service(values: Mapping[str, Any], actor: User) -> Service:
    """Record a new service for a partner (a partner user's own, whatever was submitted)."""
    cleaned = _clean(values)
    cleaned["partner_id"] = _owning_partner(cleaned, actor, None)
    service = Service(**cleaned)
    db.session.add(service)
    db.session.flush()
    return service


def update_service(
    service: Service,
    values: Mapping[str, Any],
    version: int | str | None,
    actor: User,
    today: date,
) -> Service:
    """Change a service if the form saw its current version and the rules allow the change."""
    check_version(service, version)
    cleaned = _clean(values)
    partner_id = _owning_partner(cleaned, actor, service.partner_id)
    committed = commitments_of(service)
    if partner_id != service.partner_id and committed:
        # Its commitments sit in the old partner's MOUs; moving it would orphan them.
        raise Refused(
            _("This service is committed in MOUs, so it cannot move to another partner."),
            field="partner_id",
        )
    cleaned["partner_id"] = partner_id
    if "capacity" in cleaned:
        year = school_year_of(today)
        if remaining_capacity(service, year, capacity=cleaned["capacity"]) < 0:
            raise Refused(
                _(
                    "MOUs for %(year)s already commit %(amount)s; capacity cannot be lower.",
                    year=year,
                    amount=formats.amount(committed_amount(service, year)),
                ),
                field="capacity",
            )
    for key, value in cleaned.items():
        if getattr(service, key) != value:
            setattr(service, key, value)
    db.session.flush()
    return service
