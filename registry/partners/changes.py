"""Partners' edits under review: a partner user's change to its published listing waits here.

A partner user's edit to its listing (description, languages, service area,
insurance, description translations, its services' descriptions, grades and
languages) becomes a change request; the live listing changes only when a
coordinator approves it. Contact phone and email apply at once. Coordinators'
and admins' own edits keep applying directly (registry.partners.services).

One request per partner listing, and one per service, is pending at a time: a
partner saving again replaces its pending changes (or withdraws the request when
nothing differs from the live listing any more).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from registry import formats
from registry.audit import plain
from registry.concurrency import check_version
from registry.extensions import db
from registry.models import ChangeRequest, ChangeStatus, Offering, Partner, Service, User
from registry.partners import services as partner_services
from registry.refusals import Refused
from registry.vocabulary import PartnerType, Role, grade_span

# A partner user's changes to these apply at once; everything else it may edit is reviewed.
IMMEDIATE_FIELDS: frozenset[str] = frozenset({"phone", "email"})
REVIEWED_PARTNER_FIELDS: frozenset[str] = partner_services.PROFILE_FIELDS - IMMEDIATE_FIELDS
REVIEWED_SERVICE_FIELDS: tuple[str, ...] = ("description", "grades", "languages")
TRANSLATION_PREFIX = "description_translations."
# An offering's published texts (where and when families find the service), reviewed too.
OFFERING_PREFIX = "offering."
REVIEWED_OFFERING_FIELDS: tuple[str, ...] = ("days", "time", "weekly_dosage", "student_fees")
OFFERING_LABELS: dict[str, Any] = {
    "days": _l("Days"),
    "time": _l("Time"),
    "weekly_dosage": _l("Weekly dosage"),
    "student_fees": _l("Student fees"),
}

FIELD_LABELS: dict[str, Any] = {
    "name": _l("Name"),
    "partner_type": _l("Type"),
    "description": _l("Description"),
    "website": _l("Website"),
    "contact_name": _l("Contact person"),
    "address": _l("Address"),
    "zip": _l("Zip code"),
    "languages": _l("Languages served"),
    "district_wide": _l("Serves the whole district"),
    "service_zips": _l("Zip codes served"),
    "insurance_expiry": _l("Insurance certificate expires on"),
    "insurance_liability": _l("Liability coverage (USD)"),
    "grades": _l("Grades served"),
}


def translation_key(locale: str) -> str:
    return f"{TRANSLATION_PREFIX}{locale}"


def offering_key(offering_id: int, part: str) -> str:
    return f"{OFFERING_PREFIX}{offering_id}.{part}"


def _offering_part(key: str) -> tuple[int, str] | None:
    """(offering id, field) of an offering's change key, else None."""
    if not key.startswith(OFFERING_PREFIX):
        return None
    ident, _dot, part = key.removeprefix(OFFERING_PREFIX).partition(".")
    return (int(ident), part) if ident.isdigit() and part in REVIEWED_OFFERING_FIELDS else None


def _offering(target: Partner | Service, offering_id: int) -> Offering | None:
    if not isinstance(target, Service):
        return None
    return next((o for o in target.offerings if o.id == offering_id), None)


def field_label(
    key: str, languages: Mapping[str, str], target: Partner | Service | None = None
) -> str:
    """A change's field in the reader's words ("Description in Español"), never its code."""
    if (found := _offering_part(key)) is not None:
        offering = _offering(target, found[0]) if target is not None else None
        school = offering.school.name if offering is not None else _("a school no longer listed")
        return _("%(field)s at %(school)s", field=OFFERING_LABELS[found[1]], school=school)
    if key.startswith(TRANSLATION_PREFIX):
        code = key.removeprefix(TRANSLATION_PREFIX)
        return _("Description in %(language)s", language=languages.get(code, code))
    return str(FIELD_LABELS.get(key, key))


def shown_value(key: str, value: Any) -> str:
    """A stored (JSON) value as the reader reads it; an empty value is a dash."""
    from registry.partners.forms import LANGUAGE_LABELS

    if value is None or value == "" or value == []:
        return "—"
    if key == "languages":
        return ", ".join(str(LANGUAGE_LABELS.get(n, n)) for n in value)
    if key == "grades":
        return grade_span(list(value))
    if key == "service_zips":
        return ", ".join(value)
    if key == "district_wide":
        return _("Yes") if value else _("No")
    if key == "insurance_expiry":
        return formats.date(date.fromisoformat(value))
    if key == "insurance_liability":
        return formats.dollars(Decimal(value))
    if key == "partner_type":
        return PartnerType(value).label
    return str(value)


def from_json(key: str, value: Any) -> Any:
    """A stored value back as the model holds it."""
    if value is None:
        return None
    if key == "insurance_expiry":
        return date.fromisoformat(value)
    if key == "insurance_liability":
        return Decimal(value)
    return value


@dataclass(frozen=True)
class DiffLine:
    key: str
    label: str
    old: str
    new: str
    current: str  # the live value now (differs from `old` if the listing changed since)


def diff(request: ChangeRequest, languages: Mapping[str, str]) -> list[DiffLine]:
    """The request's changes field by field, labelled and formatted, in a stable order."""
    target: Partner | Service = request.service or request.partner
    lines = []
    for key, change in request.changes.items():
        lines.append(
            DiffLine(
                key=key,
                label=field_label(key, languages, target),
                old=shown_value(key, change.get("old")),
                new=shown_value(key, change.get("new")),
                current=shown_value(key, _live(target, key)),
            )
        )
    order = [*FIELD_LABELS]
    return sorted(
        lines, key=lambda line: (order.index(line.key) if line.key in order else 99, line.key)
    )


def _live(target: Partner | Service, key: str) -> Any:
    if (found := _offering_part(key)) is not None:
        offering = _offering(target, found[0])
        return getattr(offering, found[1]) if offering is not None else None
    if key.startswith(TRANSLATION_PREFIX):
        return (target.description_translations or {}).get(key.removeprefix(TRANSLATION_PREFIX))
    return plain(getattr(target, key))


def pending_for(partner_id: int, service_id: int | None) -> ChangeRequest | None:
    """The pending request for a partner's listing (service_id None) or for one service."""
    stmt = select(ChangeRequest).where(
        ChangeRequest.partner_id == partner_id, ChangeRequest.status == ChangeStatus.PENDING
    )
    if service_id is None:
        stmt = stmt.where(ChangeRequest.service_id.is_(None))
    else:
        stmt = stmt.where(ChangeRequest.service_id == service_id)
    return db.session.scalar(stmt.limit(1))


def proposed_values(request: ChangeRequest | None) -> dict[str, Any]:
    """What a pending request would set, as the model holds it (to prefill the next edit)."""
    if request is None:
        return {}
    return {key: from_json(key, change.get("new")) for key, change in request.changes.items()}


def _changes(
    target: Partner | Service,
    values: Mapping[str, Any],
    translations: Mapping[str, str],
    offerings: Mapping[int, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for offering_id, texts in (offerings or {}).items():
        offering = _offering(target, offering_id)
        if offering is None:
            raise Refused(_("That school is no longer listed for this service."))
        for part in REVIEWED_OFFERING_FIELDS:
            if part not in texts:
                continue
            old, new = getattr(offering, part) or "", (texts[part] or "").strip()[:200]
            if new != old:
                changes[offering_key(offering_id, part)] = {"old": old or None, "new": new or None}
    for key, new in values.items():
        old = plain(getattr(target, key))
        if plain(new) != old:
            changes[key] = {"old": old, "new": plain(new)}
    current = target.description_translations or {}
    for locale, text in translations.items():
        old_text, new_text = current.get(locale, ""), (text or "").strip()
        if new_text != old_text:
            changes[translation_key(locale)] = {"old": old_text or None, "new": new_text or None}
    return changes


def _file(
    partner: Partner,
    service: Service | None,
    changes: dict[str, Any],
    actor: User,
    now: datetime,
) -> ChangeRequest | None:
    pending = pending_for(partner.id, service.id if service else None)
    if pending is not None:
        if changes:
            pending.changes = changes
            pending.submitted_by_id = actor.id
            pending.submitted_at = now
        else:
            pending.status = ChangeStatus.WITHDRAWN
        db.session.flush()
        return pending if changes else None
    if not changes:
        return None
    request = ChangeRequest(
        partner=partner,
        service=service,
        changes=changes,
        status=ChangeStatus.PENDING,
        submitted_by_id=actor.id,
        submitted_at=now,
    )
    db.session.add(request)
    db.session.flush()
    return request


def _own(actor: User, partner_id: int) -> None:
    if actor.role != Role.PARTNER or actor.partner_id != partner_id:
        raise Refused(_("A partner may change only its own record."))


def submit_partner_edit(
    partner: Partner,
    values: Mapping[str, Any],
    translations: Mapping[str, str],
    version: int | str | None,
    actor: User,
    now: datetime,
) -> ChangeRequest | None:
    """A partner user's edit: phone and email apply now, the rest waits for review.

    Returns the pending request (None when nothing needs review).
    """
    _own(actor, partner.id)
    check_version(partner, version)
    unknown = set(values) - partner_services.PROFILE_FIELDS
    if unknown:
        raise Refused(
            _("Only the district may change a partner's status and background-check record."),
            field=sorted(unknown)[0],
        )
    immediate = {k: v for k, v in values.items() if k in IMMEDIATE_FIELDS}
    partner_services.apply_values(partner, immediate, actor)
    reviewed = partner_services.clean_values(
        {k: v for k, v in values.items() if k in REVIEWED_PARTNER_FIELDS}
    )
    if "name" in reviewed and partner_services.name_taken(reviewed["name"], partner.id):
        raise Refused(_("Another partner already has this name."), field="name")
    request = _file(partner, None, _changes(partner, reviewed, translations), actor, now)
    db.session.flush()
    return request


def clean_service_values(values: Mapping[str, Any]) -> dict[str, Any]:
    from registry.vocabulary import sort_grades

    cleaned = {k: values[k] for k in REVIEWED_SERVICE_FIELDS if k in values}
    if "description" in cleaned:
        cleaned["description"] = (cleaned["description"] or "").strip()
    if "grades" in cleaned:
        cleaned["grades"] = sort_grades(cleaned["grades"] or [])
    if "languages" in cleaned:
        cleaned["languages"] = list(dict.fromkeys(cleaned["languages"] or []))
    return cleaned


def submit_service_edit(
    service: Service,
    values: Mapping[str, Any],
    translations: Mapping[str, str],
    actor: User,
    now: datetime,
    offerings: Mapping[int, Mapping[str, str]] | None = None,
) -> ChangeRequest | None:
    """A partner user's edit to one of its services' published fields, for review.

    `offerings` maps an offering's id to its texts (days, time, weekly dosage, fees).
    """
    _own(actor, service.partner_id)
    cleaned = clean_service_values(values)
    if "grades" in cleaned and not cleaned["grades"]:
        raise Refused(_("Choose at least one grade."), field="grades")
    changes = _changes(service, cleaned, translations, offerings)
    return _file(service.partner, service, changes, actor, now)


def _review(request: ChangeRequest, actor: User, now: datetime) -> None:
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Only the district reviews partners' changes."))
    if request.status != ChangeStatus.PENDING:
        raise Refused(
            _("This request was already reviewed (%(status)s).", status=request.status.label)
        )
    request.reviewed_by_id = actor.id
    request.reviewed_at = now


def _set_translation(target: Partner | Service, locale: str, text: str | None) -> None:
    translations = dict(target.description_translations or {})
    if text:
        translations[locale] = text
    else:
        translations.pop(locale, None)
    if translations != (target.description_translations or {}):
        target.description_translations = translations  # a new dict: JSON is not mutable


def approve(request: ChangeRequest, actor: User, now: datetime) -> None:
    """Apply the request to the live listing (audited like any change) and close it."""
    _review(request, actor, now)
    target: Partner | Service = request.service or request.partner
    plain_values: dict[str, Any] = {}
    for key, change in request.changes.items():
        new = from_json(key, change.get("new"))
        if (found := _offering_part(key)) is not None:
            offering = _offering(target, found[0])
            if offering is not None and (getattr(offering, found[1]) or "") != (new or ""):
                setattr(offering, found[1], new or "")
        elif key.startswith(TRANSLATION_PREFIX):
            _set_translation(target, key.removeprefix(TRANSLATION_PREFIX), new)
        else:
            plain_values[key] = new
    if isinstance(target, Partner):
        partner_services.apply_values(target, plain_values, actor)
    else:
        for key, value in clean_service_values(plain_values).items():
            if getattr(target, key) != value:
                setattr(target, key, value)
    request.status = ChangeStatus.APPROVED
    db.session.flush()


def return_request(request: ChangeRequest, comment: str, actor: User, now: datetime) -> None:
    """Send the request back to the partner with a comment; the live listing stays."""
    comment = (comment or "").strip()
    if not comment:
        raise Refused(_("Say what the partner should change."), field="comment")
    _review(request, actor, now)
    request.comment = comment
    request.status = ChangeStatus.RETURNED
    db.session.flush()


def queue_query(status: ChangeStatus | None = ChangeStatus.PENDING) -> Select[Any]:
    """Requests for coordinators to review, oldest first."""
    stmt = select(ChangeRequest).order_by(ChangeRequest.submitted_at, ChangeRequest.id)
    if status is not None:
        stmt = stmt.where(ChangeRequest.status == status)
    return stmt


def requests_of(partner_id: int) -> list[ChangeRequest]:
    """A partner's requests, newest first (what the partner sees of their status)."""
    stmt = (
        select(ChangeRequest)
        .where(ChangeRequest.partner_id == partner_id)
        .order_by(ChangeRequest.submitted_at.desc(), ChangeRequest.id.desc())
    )
    return list(db.session.scalars(stmt))
