"""Services partners deliver: creating and changing them and their offerings, finding them,
and what is committed.

Coordinators and admins add and change any partner's services. A partner user
adds and changes only its own organisation's services: the partner of a
service it creates is always its own, whatever the request says, and it can
never move a service to another partner. Whoever may change a service may
add, change and remove its offerings (`registry.access.can_edit`).

Where a service is offered (`offered_at`): a service with offerings is offered
at those named schools only; a service without offerings keeps the older rule,
eligible wherever its grades overlap the school's and (when asked) the
partner's service area covers the school's zip.

Capacity, at two levels (the rule itself is `registry.mous.services.capacity_problem`):
a service's overall capacity is a pool across all schools, optional (None: no
pool); an offering's site capacity bounds one school, optional too (None: no
limit there). Whichever is set is enforced; with neither, the service has no
capacity limit, and the pages say so. A capacity, at either level, cannot be
set below what this school year's MOUs already commit at that level.

An offering's school is chosen when it is added and does not change: its
commitments are at that school. An offering whose school has commitments in
MOUs of this school year or later (terminated ones aside) is not removed;
those commitments go first, as on an MOU. Removing a service's last offering
makes it a service without offerings again.
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
from registry.models import MOU, Commitment, Offering, Partner, School, Service, User
from registry.mous.services import (
    committed_amount,
    counted_for_capacity,
    has_offerings,
    lock_capacity,
    offering_at,
    remaining_at_site,
    remaining_capacity,
)
from registry.partners.services import json_list_contains
from registry.refusals import Refused
from registry.schoolyear import school_year_of
from registry.vocabulary import Category, Role, Setting, Unit, sort_grades

OFFERING_FIELDS: frozenset[str] = frozenset(
    {"school_id", "capacity", "grades", "days", "time", "weekly_dosage", "student_fees"}
)
OFFERING_TEXTS = ("days", "time", "weekly_dosage", "student_fees")

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
        "direct_student_contact",
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
        if key in cleaned and cleaned[key] is not None:
            cleaned[key] = _money(cleaned[key])
    if cleaned.get("cost", 0) is None:
        raise Refused(_("Enter the cost, or 0."), field="cost")
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
    """Record a new service for a partner (a partner user's own, whatever was submitted).

    A partner user's new service starts inactive: the district activates it after
    review, so nothing reaches the family directory unreviewed.
    """
    cleaned = _clean(values)
    cleaned["partner_id"] = _owning_partner(cleaned, actor, None)
    if actor.role == Role.PARTNER:
        cleaned["active"] = False
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
    if "capacity" in cleaned and cleaned["capacity"] is not None:
        lock_capacity(service)
        year = school_year_of(today)
        left = remaining_capacity(service, year, capacity=cleaned["capacity"])
        if left is not None and left < 0:
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


# ---- offerings: a service at named schools ---------------------------------------------


def offered_at(service: Service, school: School, require_service_area: bool = True) -> bool:
    """Whether a service is offered at a school (see the module's docstring)."""
    if has_offerings(service):
        return offering_at(service, school) is not None
    if not set(school.grades or []) & set(service.grades or []):
        return False
    return not require_service_area or service.partner.serves_zip(school.zip)


@dataclass(frozen=True)
class OfferingLine:
    """An offering with what a school year's MOUs commit at its school (left None: no limit)."""

    offering: Offering
    committed: Decimal
    left: Decimal | None


def offering_lines(service: Service, school_year: str) -> list[OfferingLine]:
    """The service's offerings by school name, each with the year's commitments there."""
    committed: dict[int, Any] = {
        school_id: amount
        for school_id, amount in db.session.execute(
            select(Commitment.school_id, func.sum(Commitment.amount))
            .join(MOU, Commitment.mou_id == MOU.id)
            .where(
                Commitment.service_id == service.id,
                MOU.school_year == school_year,
                counted_for_capacity(),
            )
            .group_by(Commitment.school_id)
        )
    }
    offerings = db.session.scalars(
        select(Offering)
        .join(Offering.school)
        .where(Offering.service_id == service.id)
        .options(contains_eager(Offering.school))
        .order_by(func.lower(School.name), Offering.id)
    )
    lines = []
    for offering in offerings:
        used = Decimal(str(committed.get(offering.school_id) or 0))
        left = None if offering.capacity is None else Decimal(offering.capacity) - used
        lines.append(OfferingLine(offering, used, left))
    return lines


def schools_committed_unoffered(service: Service, school_year: str) -> list[str]:
    """Schools where the year's MOUs commit a service that has offerings, but none there.

    Commitments made before the offerings were recorded: kept, and shown so.
    """
    offered = select(Offering.school_id).where(Offering.service_id == service.id)
    return list(
        db.session.scalars(
            select(School.name)
            .join(Commitment, Commitment.school_id == School.id)
            .join(MOU, Commitment.mou_id == MOU.id)
            .where(
                Commitment.service_id == service.id,
                MOU.school_year == school_year,
                counted_for_capacity(),
                Commitment.school_id.not_in(offered),
                select(Offering.id).where(Offering.service_id == service.id).exists(),
            )
            .distinct()
            .order_by(School.name)
        )
    )


def _clean_offering(service: Service, values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - OFFERING_FIELDS
    if unknown:
        raise ValueError(f"not offering fields: {sorted(unknown)}")
    cleaned = dict(values)
    for key in OFFERING_TEXTS:
        if key in cleaned:
            cleaned[key] = (cleaned[key] or "").strip()
    if cleaned.get("capacity") is not None:
        cleaned["capacity"] = _money(cleaned["capacity"])
    if "grades" in cleaned:
        grades = sort_grades(cleaned["grades"] or [])
        outside = [g for g in grades if g not in (service.grades or [])]
        if outside:
            raise Refused(
                _(
                    "%(service)s does not serve grade %(grades)s.",
                    service=service.name,
                    grades=", ".join(outside),
                ),
                field="grades",
            )
        cleaned["grades"] = grades
    return cleaned


def _check_site_capacity(
    service: Service, school: School, capacity: Decimal | None, today: date
) -> None:
    """Refuse a site capacity below what this school year's MOUs commit at the school."""
    if capacity is None:
        return
    year = school_year_of(today)
    left = remaining_at_site(service, school, year, capacity=capacity)
    if left is not None and left < 0:
        raise Refused(
            _(
                "MOUs for %(year)s already commit %(amount)s %(unit)s of %(service)s at "
                "%(school)s; the site capacity cannot be lower.",
                year=year,
                amount=formats.amount(committed_amount(service, year, school=school)),
                unit=service.unit.label.lower(),
                service=service.name,
                school=school.name,
            ),
            field="capacity",
        )


def create_offering(service: Service, values: Mapping[str, Any], today: date) -> Offering:
    """Offer a service at one more school, with an optional site capacity and schedule."""
    cleaned = _clean_offering(service, values)
    school = db.session.get(School, cleaned.pop("school_id", None) or 0)
    if school is None:
        raise Refused(_("Choose a school."), field="school_id")
    lock_capacity(service)
    if offering_at(service, school) is not None:
        raise Refused(
            _(
                "%(service)s is already offered at %(school)s.",
                service=service.name,
                school=school.name,
            ),
            field="school_id",
        )
    _check_site_capacity(service, school, cleaned.get("capacity"), today)
    offering = Offering(service=service, school=school, **cleaned)
    db.session.add(offering)
    db.session.flush()
    return offering


def update_offering(
    offering: Offering, values: Mapping[str, Any], version: int | str | None, today: date
) -> Offering:
    """Change an offering's site capacity or schedule if the form saw its current version."""
    cleaned = _clean_offering(offering.service, values)
    cleaned.pop("school_id", None)  # an offering stays at its school
    lock_capacity(offering.service)
    db.session.refresh(offering)  # as it is now that its service is held
    check_version(offering, version)
    if "capacity" in cleaned:
        _check_site_capacity(offering.service, offering.school, cleaned["capacity"], today)
    for key, value in cleaned.items():
        if getattr(offering, key) != value:
            setattr(offering, key, value)
    db.session.flush()
    return offering


def delete_offering(offering: Offering, today: date) -> None:
    """Stop offering a service at a school that no current or later MOU commits it at."""
    service, school = offering.service, offering.school
    lock_capacity(service)
    years = list(
        db.session.scalars(
            select(MOU.school_year)
            .join(Commitment, Commitment.mou_id == MOU.id)
            .where(
                Commitment.service_id == service.id,
                Commitment.school_id == school.id,
                counted_for_capacity(),
                MOU.school_year >= school_year_of(today),
            )
            .distinct()
            .order_by(MOU.school_year)
        )
    )
    if years:
        raise Refused(
            _(
                "MOUs for %(years)s commit %(service)s at %(school)s; remove those "
                "commitments before the offering.",
                years=", ".join(years),
                service=service.name,
                school=school.name,
            )
        )
    db.session.delete(offering)
    db.session.flush()
