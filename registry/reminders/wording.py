"""How a reminder reads, in the current locale: the same words in mail and in the app."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from registry import formats
from registry.models.notification import ReminderKind

MOU_KINDS = frozenset({ReminderKind.MOU_ENDING, ReminderKind.APPROVAL_WAITING})


def headline(kind: ReminderKind, title: str, due_date: date) -> str:
    """One line saying what is due: the subject of the mail, the text of the notification."""
    day = formats.date(due_date, "long")
    if kind == ReminderKind.MOU_ENDING:
        return _("The MOU %(item)s ends on %(date)s", item=title, date=day)
    if kind == ReminderKind.INSURANCE_EXPIRING:
        return _("The insurance certificate %(item)s expires on %(date)s", item=title, date=day)
    if kind == ReminderKind.INSURANCE_DATE_EXPIRING:
        return _("The insurance of %(item)s expires on %(date)s", item=title, date=day)
    if kind == ReminderKind.DPA_EXPIRING:
        return _("The data-privacy agreement %(item)s expires on %(date)s", item=title, date=day)
    if kind == ReminderKind.BACKGROUND_CHECK_EXPIRING:
        return _(
            "The background-check verification %(item)s expires on %(date)s", item=title, date=day
        )
    if kind == ReminderKind.DOCUMENT_PENDING:
        return _(
            "The document %(item)s has waited for verification since %(date)s",
            item=title,
            date=day,
        )
    return _(
        "The MOU %(item)s, starting %(date)s, is waiting for a second approver",
        item=title,
        date=day,
    )


def countdown(kind: ReminderKind, due_date: date, today: date) -> str:
    """How far away the due date is, or how long a document has waited ("" when it says nothing)."""
    days = (due_date - today).days
    if kind == ReminderKind.APPROVAL_WAITING:
        return ""
    if kind == ReminderKind.DOCUMENT_PENDING:
        return ngettext("It has waited %(num)d day.", "It has waited %(num)d days.", -days)
    if days == 0:
        return _("That is today.")
    return ngettext("That is in %(num)d day.", "That is in %(num)d days.", days)


def what_to_do(kind: ReminderKind) -> str:
    """The action the reminder asks for."""
    if kind == ReminderKind.MOU_ENDING:
        return _("If the partnership continues, renew the MOU so that it is signed in time.")
    if kind == ReminderKind.DOCUMENT_PENDING:
        return _("A coordinator checks the document and verifies or rejects it.")
    if kind == ReminderKind.APPROVAL_WAITING:
        return _(
            "A coordinator or an admin other than whoever drafted or last edited it activates it."
        )
    return _("Upload the new document in the registry before then; a coordinator verifies it.")


def _address(endpoint: str, external: bool, **values: Any) -> str | None:
    """An endpoint's address; a full one for mail, built from the request, else from
    `REGISTRY_URL` (https://registry.district.example, what a command run by cron
    knows of the site), else from `SERVER_NAME`; None when none of them is there."""
    if not external or has_request_context():
        return url_for(endpoint, _external=external, **values)
    base = current_app.config.get("REGISTRY_URL")
    if base:
        site = urlsplit(str(base))
        adapter = current_app.url_map.bind(
            site.netloc, script_name=site.path or "/", url_scheme=site.scheme or "https"
        )
        return adapter.build(endpoint, values, force_external=True)
    if current_app.config.get("SERVER_NAME"):
        return url_for(endpoint, _external=True, **values)
    return None


def item_path(kind: ReminderKind, item_id: int, partner_id: int, *, external: bool) -> str | None:
    """Where the item is seen in the registry (None when no full address can be built here)."""
    if kind in MOU_KINDS:
        return _address("mous.detail", external, mou_id=item_id)
    return _address("partners.detail", external, partner_id=partner_id)


def notifications_url() -> str | None:
    """The full address of the notification list, for a mail's footer (None if unknown)."""
    return _address("notifications.index", True)
