"""How a reminder reads, in the current locale: the same words in mail and in the app."""

from __future__ import annotations

from datetime import date

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


def _can_name_host() -> bool:
    return has_request_context() or bool(current_app.config.get("SERVER_NAME"))


def item_path(kind: ReminderKind, item_id: int, partner_id: int, *, external: bool) -> str | None:
    """Where the item is seen in the registry (None when no address can be built here)."""
    if external and not _can_name_host():
        return None  # a command outside a request knows no host to name
    if kind in MOU_KINDS:
        return url_for("mous.detail", mou_id=item_id, _external=external)
    return url_for("partners.detail", partner_id=partner_id, _external=external)


def notifications_url() -> str | None:
    """The address of the notification list, for a mail's footer (None without SERVER_NAME)."""
    if not _can_name_host():
        return None
    return url_for("notifications.index", _external=True)
