"""The notification list (/notifications): each user sees and marks only their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from registry.extensions import db
from registry.ids import is_id
from registry.listing import paginate
from registry.models.notification import Notification
from registry.notifications import services
from registry.reminders import wording

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@dataclass(frozen=True)
class Shown:
    """A notification as the list shows it, in the reader's language."""

    notification: Notification
    text: str
    link: str | None


def _shown(notification: Notification) -> Shown:
    text = wording.headline(notification.kind, notification.title, notification.due_date)
    link = wording.item_path(
        notification.kind, notification.item_id, notification.partner_id or 0, external=False
    )
    return Shown(notification, text, link if notification.partner_id else None)


def _own_or_404(notification_id: int) -> Notification:
    notification = db.session.get(Notification, notification_id) if is_id(notification_id) else None
    if notification is None or notification.user_id != current_user.id:
        abort(404)  # someone else's notification does not exist for this reader
    return notification


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    pagination = paginate(services.for_user(current_user))
    shown = [_shown(n) for n in pagination.items]
    return render_template(
        "notifications/index.html",
        pagination=pagination,
        shown=shown,
        unread=services.unread_count(current_user.id),
    )


def _back() -> ResponseReturnValue:
    page = request.args.get("page", type=int)
    return redirect(url_for("notifications.index", page=page if page and page > 1 else None))


@bp.post("/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> ResponseReturnValue:
    services.mark_read(_own_or_404(notification_id))
    flash(_("Notification marked as read."), "success")
    return _back()


@bp.post("/read-all")
@login_required
def mark_all_read() -> ResponseReturnValue:
    count = services.mark_all_read(current_user)
    flash(
        ngettext(
            "%(num)d notification marked as read.", "%(num)d notifications marked as read.", count
        ),
        "success",
    )
    return _back()


@bp.app_context_processor
def unread_counter() -> dict[str, Any]:
    """`unread_notification_count()` for the header: counted only when a page asks."""

    def unread_notification_count() -> int:
        if not current_user.is_authenticated:
            return 0
        return services.unread_count(current_user.id)

    return {"unread_notification_count": unread_notification_count}
