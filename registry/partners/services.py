"""Partner records: creating and changing them, and finding them for the list.

Who may change what: coordinators and admins change every field. A partner
user edits its own organisation's profile (name, type, description, contacts,
languages, service area, insurance certificate), but never its status nor the
background-check attestation and its verification date: those record what the
district has checked. A partner user's edits reach the live listing only when a
coordinator approves them (registry.partners.changes), except its contact phone
and email, which apply at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, SQLColumnExpression, String, cast, func, or_, select
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from registry.concurrency import check_version
from registry.extensions import db
from registry.models import MOU, Partner, Service, User
from registry.refusals import Refused
from registry.vocabulary import PartnerStatus, PartnerType, Role

# Fields only the district (coordinators, admins) sets.
DISTRICT_ONLY_FIELDS: frozenset[str] = frozenset(
    {"status", "background_check_policy", "background_check_verified"}
)
PROFILE_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "partner_type",
        "description",
        "website",
        "contact_name",
        "email",
        "phone",
        "address",
        "zip",
        "languages",
        "district_wide",
        "service_zips",
        "insurance_expiry",
        "insurance_liability",
    }
)
COMPLIANCE_PROBLEMS: tuple[str, ...] = (
    "any_problem",
    "insurance_missing",
    "insurance_expired",
    "background_check",
)


@dataclass(frozen=True)
class PartnerFilters:
    text: str | None = None
    partner_type: PartnerType | None = None
    status: PartnerStatus | None = None
    language: str | None = None
    compliance: str | None = None


def service_count_column() -> ColumnElement[int]:
    """How many services a partner offers, as a correlated subquery usable in ORDER BY."""
    return (
        select(func.count(Service.id))
        .where(Service.partner_id == Partner.id)
        .correlate(Partner)
        .scalar_subquery()
    )


PARTNER_SORTS: dict[str, SQLColumnExpression[Any]] = {
    "name": func.lower(Partner.name),
    "type": Partner.partner_type,
    "status": Partner.status,
    "insurance": Partner.insurance_expiry,
    "services": service_count_column(),
}


def json_list_contains(column: Any, value: str) -> ColumnElement[bool]:
    """A JSON list column holds a string, on SQLite and PostgreSQL alike.

    The lists are stored as JSON text, so the quoted value is matched; quoting
    keeps "1" from matching "12".
    """
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, String).like(f'%"{escaped}"%', escape="\\")


def compliance_condition(problem: str, today: date) -> ColumnElement[bool]:
    """Partners with one compliance problem (or any, for "any_problem") on a day."""
    insurance_missing = Partner.insurance_expiry.is_(None)
    insurance_expired = Partner.insurance_expiry < today
    background_missing = or_(
        Partner.background_check_policy.is_(False), Partner.background_check_verified.is_(None)
    )
    conditions = {
        "insurance_missing": insurance_missing,
        "insurance_expired": insurance_expired,
        "background_check": background_missing,
        "any_problem": or_(insurance_missing, insurance_expired, background_missing),
    }
    return conditions[problem]


def partner_query(
    filters: PartnerFilters, today: date, *, with_services: bool = True
) -> Select[Any]:
    """Partners matching the filters (not yet searched by text, sorted or paged), with their
    services loaded unless `with_services` is false."""
    stmt = select(Partner)
    if with_services:
        stmt = stmt.options(selectinload(Partner.services))
    if filters.partner_type is not None:
        stmt = stmt.where(Partner.partner_type == filters.partner_type)
    if filters.status is not None:
        stmt = stmt.where(Partner.status == filters.status)
    if filters.language:
        stmt = stmt.where(json_list_contains(Partner.languages, filters.language))
    if filters.compliance in COMPLIANCE_PROBLEMS:
        stmt = stmt.where(compliance_condition(filters.compliance, today))
    return stmt


SEARCHED_COLUMNS = (Partner.name, Partner.description, Partner.contact_name, Partner.email)


def name_taken(name: str, other_than: int | None) -> bool:
    stmt = select(Partner.id).where(func.lower(Partner.name) == name.strip().lower())
    if other_than is not None:
        stmt = stmt.where(Partner.id != other_than)
    return db.session.scalar(stmt.limit(1)) is not None


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(values)
    for key in ("name", "website", "contact_name", "email", "phone", "address", "zip"):
        if key in cleaned:
            cleaned[key] = (cleaned[key] or "").strip()
    if "description" in cleaned:
        cleaned["description"] = (cleaned["description"] or "").strip()
    if "partner_type" in cleaned:
        cleaned["partner_type"] = PartnerType(cleaned["partner_type"])
    if "status" in cleaned:
        cleaned["status"] = PartnerStatus(cleaned["status"])
    if "insurance_liability" in cleaned:
        cleaned["insurance_liability"] = _money(cleaned["insurance_liability"])
    if "languages" in cleaned:
        cleaned["languages"] = list(dict.fromkeys(cleaned["languages"] or []))
    if cleaned.get("district_wide"):
        # A district-wide partner serves every zip; a stale list would only mislead.
        cleaned["service_zips"] = []
    return cleaned


def _allowed_fields(actor: User) -> frozenset[str]:
    if actor.role in (Role.ADMIN, Role.COORDINATOR):
        return PROFILE_FIELDS | DISTRICT_ONLY_FIELDS
    if actor.role == Role.PARTNER:
        return PROFILE_FIELDS
    return frozenset()


def apply_values(partner: Partner, values: Mapping[str, Any], actor: User) -> None:
    unknown = set(values) - PROFILE_FIELDS - DISTRICT_ONLY_FIELDS
    if unknown:
        raise ValueError(f"not partner fields: {sorted(unknown)}")
    refused = set(values) - _allowed_fields(actor)
    if refused:
        raise Refused(
            _("Only the district may change a partner's status and background-check record."),
            field=sorted(refused)[0],
        )
    cleaned = clean_values(values)
    if "name" in cleaned and name_taken(cleaned["name"], partner.id):
        raise Refused(_("Another partner already has this name."), field="name")
    for key, value in cleaned.items():
        if getattr(partner, key) != value:
            setattr(partner, key, value)


def create_partner(values: Mapping[str, Any], actor: User) -> Partner:
    """Record a new partner (coordinators and admins only); refuses a duplicate name."""
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Only the district may add partners."))
    partner = Partner(
        languages=[],
        service_zips=[],
        district_wide=True,
        status=PartnerStatus.APPLICANT,
        background_check_policy=False,
    )
    apply_values(partner, values, actor)
    db.session.add(partner)
    db.session.flush()
    return partner


def update_partner(
    partner: Partner,
    values: Mapping[str, Any],
    version: int | str | None,
    actor: User,
    translations: Mapping[str, str] | None = None,
) -> Partner:
    """Change a partner directly (district staff): partner users' edits go to review instead.

    Refused unless the form saw the current version; `translations` ({locale: text},
    "" removes one) set the description's translations.
    """
    check_version(partner, version)
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Your changes go to the partnership office for review."))
    apply_values(partner, values, actor)
    if translations is not None:
        set_translations(partner, translations)
    db.session.flush()
    return partner


def set_translations(partner: Partner, translations: Mapping[str, str]) -> None:
    """Set the description's translations by locale; an empty text removes one."""
    current = dict(partner.description_translations or {})
    wanted = dict(current)
    for locale, text in translations.items():
        text = (text or "").strip()
        if text:
            wanted[locale] = text
        else:
            wanted.pop(locale, None)
    if wanted != current:
        partner.description_translations = wanted  # a new dict: JSON columns track assignment


def load_for_page(partner: Partner) -> Partner:
    """The partner with what its page shows loaded in a fixed number of statements.

    Its services, and its MOUs with each one's schools: one statement a collection, however
    many MOUs and schools there are (loaded one MOU at a time otherwise).
    """
    db.session.execute(
        select(Partner)
        .where(Partner.id == partner.id)
        .options(
            selectinload(Partner.services),
            selectinload(Partner.mous).selectinload(MOU.schools),
        )
    ).unique().all()
    return partner
