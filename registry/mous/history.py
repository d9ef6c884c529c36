"""How an MOU's audit rows read on its page: field names and values in the reader's words.

The audit stores codes (`dpa_status`, `signed`, `2026-06-30`); the page shows the
labels and local dates, so a Spanish reader sees no English field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from registry import formats
from registry.models import AuditEntry
from registry.vocabulary import DPAStatus, DPAType, LabelledEnum, MOUStatus

FIELD_LABELS: dict[str, object] = {
    "school_year": _l("School year"),
    "start_date": _l("Start date"),
    "end_date": _l("End date"),
    "status": _l("Status"),
    "signed_date": _l("Signed on"),
    "signatories": _l("Signatories"),
    "notes": _l("Notes"),
    "shares_student_data": _l("The partner receives student data"),
    "dpa_type": _l("Data-privacy agreement type"),
    "dpa_status": _l("Data-privacy agreement status"),
    "dpa_expiry": _l("Data-privacy agreement expires"),
    "partner_id": _l("Partner"),
    "renewed_from_id": _l("Renewal of"),
}
DATES = {"start_date", "end_date", "signed_date", "dpa_expiry"}
CODES: dict[str, type[LabelledEnum]] = {
    "status": MOUStatus,
    "dpa_type": DPAType,
    "dpa_status": DPAStatus,
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def action_label(entry: AuditEntry) -> str:
    """What the row did, in words."""
    return {
        "create": _("Created"),
        "update": _("Changed"),
        "status": _("Status changed"),
        "delete": _("Deleted"),
    }.get(entry.action, entry.action)


def who(entry: AuditEntry) -> str:
    """Who made the change: an email, or the registry itself for system work."""
    if entry.user_email in ("", "system"):
        return _("The registry (no signed-in user)")
    return entry.user_email


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
    return str(value)
