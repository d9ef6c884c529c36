"""How an MOU's audit rows read on its page: field names and values in the reader's words.

The audit stores codes (`dpa_status`, `signed`, `2026-06-30`); the page shows the
labels and local dates, so a Spanish reader sees no English field names. Rows about the
MOU's commitments, versions and amendments read as sentences ("Commitment added: 20
seats of After-school reading at Lincoln").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from flask import g, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry import formats
from registry.extensions import db
from registry.models import AuditEntry, Commitment, School, Service, User
from registry.vocabulary import DPAStatus, DPAType, LabelledEnum, MOUStatus

FIELD_LABELS: dict[str, object] = {
    "school_year": _l("School year"),
    "start_date": _l("Start date"),
    "end_date": _l("End date"),
    "status": _l("Status"),
    "signed_date": _l("District signed on"),
    "signatories": _l("District signatories"),
    "partner_signer_name": _l("Partner signatory"),
    "partner_signer_title": _l("Partner signatory's title"),
    "partner_signed_date": _l("Partner signed on"),
    "partner_signed_at": _l("Partner signed in the registry at"),
    "partner_signed_by_id": _l("Partner signed with the account"),
    "drafted_by_id": _l("Drafted by"),
    "last_edited_by_id": _l("Last edited by"),
    "amends_id": _l("Amendment of"),
    "terms_version": _l("Version"),
    "notes": _l("Notes"),
    "shares_student_data": _l("The partner receives student data"),
    "dpa_type": _l("Data-privacy agreement type"),
    "dpa_status": _l("Data-privacy agreement status"),
    "dpa_expiry": _l("Data-privacy agreement expires"),
    "partner_id": _l("Partner"),
    "renewed_from_id": _l("Renewal of"),
}
DATES = {"start_date", "end_date", "signed_date", "dpa_expiry", "partner_signed_date"}
TIMES = {"partner_signed_at"}
USERS = {"partner_signed_by_id", "drafted_by_id", "last_edited_by_id"}
CODES: dict[str, type[LabelledEnum]] = {
    "status": MOUStatus,
    "dpa_type": DPAType,
    "dpa_status": DPAStatus,
}


_Row = Commitment | School | Service | User
_MISSING = "mou_history_missing"


def prime(trail: list[AuditEntry]) -> None:
    """Load every row the trail's sentences and values name, a statement a table.

    The page then reads them from the session (`_get`) instead of one statement a row;
    rows no longer there are remembered as missing for the request.
    """
    wanted: dict[type[_Row], set[int]] = {
        Commitment: set(),
        School: set(),
        Service: set(),
        User: set(),
    }
    for entry in trail:
        for values in (entry.before or {}, entry.after or {}):
            for key, value in values.items():
                if key in USERS and isinstance(value, int):
                    wanted[User].add(value)
            if entry.entity == "commitment":
                for key, named in (("service_id", Service), ("school_id", School)):
                    if isinstance(values.get(key), int):
                        wanted[named].add(values[key])
        if entry.entity == "commitment" and entry.entity_id is not None:
            wanted[Commitment].add(entry.entity_id)
    missing: set[tuple[type[_Row], int]] = set()
    for model, ids in wanted.items():
        if not ids:
            continue
        stmt = select(model).where(model.id.in_(ids))
        if model is Commitment:
            stmt = stmt.options(selectinload(Commitment.service), selectinload(Commitment.school))
        rows = cast(list[_Row], db.session.scalars(stmt).all())
        found = {row.id for row in rows}
        missing |= {(model, i) for i in ids - found}
    if has_app_context():
        setattr(g, _MISSING, missing)


def _get(model: type[_Row], ident: int) -> Any:
    """db.session.get, without a statement for a row `prime` found missing."""
    if has_app_context() and (model, ident) in getattr(g, _MISSING, ()):
        return None
    return db.session.get(model, ident)


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def action_label(entry: AuditEntry) -> str:
    """What the row did, in words."""
    if entry.entity == "commitment":
        return {
            "create": _("Commitment added"),
            "delete": _("Commitment removed"),
        }.get(entry.action, _("Commitment changed"))
    if entry.entity == "mou_version":
        number = (entry.after or {}).get("number")
        return _("Version recorded") if number == 1 else _("Amendment activated")
    if entry.entity == "mou" and entry.action == "create" and (entry.after or {}).get("amends_id"):
        return _("Amendment drafted")
    return {
        "create": _("Created"),
        "update": _("Changed"),
        "status": _("Status changed"),
        "delete": _("Deleted"),
    }.get(entry.action, entry.action)


def who(entry: AuditEntry) -> str:
    """Who made the change: an email, or the registry itself for system work."""
    return formats.actor(entry.user_email)


def changes(entry: AuditEntry) -> list[Change]:
    """Each field an update changed, named and valued as the page shows them."""
    before = entry.before or {}
    return [
        Change(
            str(FIELD_LABELS.get(key, key)),
            shown_value(key, before.get(key)),
            shown_value(key, new),
        )
        for key, new in (entry.after or {}).items()
    ]


def shown_value(key: str, value: Any) -> str:
    """A stored audit value (a code, an ISO date, a boolean) as the page shows it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if key in CODES:
        try:
            return CODES[key](value).label
        except ValueError:
            return str(value)
    if key in DATES:
        try:
            return formats.date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if key in TIMES:
        try:
            return formats.datetime(datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if key in USERS:
        user = _get(User, value) if isinstance(value, int) else None
        return user.email if user else _("a removed account")
    return str(value)


def _line(values: dict[str, Any]) -> str:
    """A commitment as a phrase: "20 seats of After-school reading at Lincoln"."""
    service = _get(Service, values.get("service_id") or 0)
    school = _get(School, values.get("school_id") or 0)
    try:
        amount = formats.amount(Decimal(str(values.get("amount"))))
    except (InvalidOperation, ValueError):
        amount = "—"
    return _(
        "%(amount)s %(unit)s of %(service)s at %(school)s",
        amount=amount,
        unit=service.unit.label.lower() if service else "",
        service=service.name if service else _("a removed service"),
        school=school.name if school else _("a removed school"),
    )


def sentence(entry: AuditEntry) -> str | None:
    """A row about the MOU's commitments, versions or amendments, as a sentence (else None)."""
    before, after = entry.before or {}, entry.after or {}
    if entry.entity == "commitment":
        if entry.action == "create":
            return _("Commitment added: %(line)s", line=_line(after))
        if entry.action == "delete":
            return _("Commitment removed: %(line)s", line=_line(before))
        if "amount" in after:
            line = _get(Commitment, entry.entity_id or 0)
            service = line.service if line else None
            school = line.school if line else None
            return _(
                "Commitment changed: %(service)s at %(school)s, from %(old)s to %(new)s %(unit)s",
                service=service.name if service else _("a removed service"),
                school=school.name if school else _("a removed school"),
                old=shown_amount(before.get("amount")),
                new=shown_amount(after.get("amount")),
                unit=service.unit.label.lower() if service else "",
            )
        return _("Commitment changed")
    if entry.entity == "mou_version" and entry.action == "create":
        number = after.get("number")
        if number == 1:
            return _("Version 1 recorded: the agreement as it took effect")
        return _("Amendment activated: version %(n)s of the agreement took effect", n=number or "—")
    if entry.entity == "mou" and after.get("amends_id") and entry.action == "create":
        return _("Amendment drafted (MOU %(id)s)", id=entry.entity_id or "—")
    return None


def shown_amount(value: Any) -> str:
    try:
        return formats.amount(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return "—"
