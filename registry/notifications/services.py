"""A user's notifications: listing them, counting the unread, marking them read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select

from registry.extensions import db
from registry.models import User
from registry.models.columns import utcnow
from registry.models.notification import Notification


def for_user(user: User) -> Select[Notification]:
    """The user's own notifications, unread first, newest first."""
    return (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(
            Notification.read_at.is_not(None),
            Notification.created_at.desc(),
            Notification.id.desc(),
        )
    )


def unread_count(user_id: int) -> int:
    """How many of a user's notifications are unread (one COUNT on an index)."""
    stmt = select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return db.session.scalar(stmt) or 0


def mark_read(notification: Notification, at: datetime | None = None) -> None:
    """Mark one notification read (reading it again changes nothing)."""
    if notification.read_at is None:
        notification.read_at = at or utcnow()
        db.session.flush()


def mark_all_read(user: User, at: datetime | None = None) -> int:
    """Mark every unread notification of a user read; how many there were."""
    unread = db.session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).all()
    moment = at or utcnow()
    for notification in unread:
        notification.read_at = moment  # one by one, through the ORM: each change is audited
    db.session.flush()
    return len(unread)
