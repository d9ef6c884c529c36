"""Reminders sent (the log that keeps `send-reminders` from sending one twice) and the
notifications users read in the app."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.extensions import Model
from registry.models.columns import UTCDateTime, enum_column, utcnow
from registry.vocabulary import LabelledEnum, add_labels

if TYPE_CHECKING:
    from registry.models.user import User


class ReminderKind(LabelledEnum):
    """What a reminder is about; the item it names is an MOU, a document or a partner."""

    MOU_ENDING = "mou_ending"  # item: an active MOU
    INSURANCE_EXPIRING = "insurance_expiring"  # item: a verified insurance certificate
    INSURANCE_DATE_EXPIRING = "insurance_date_expiring"  # item: a partner (no certificate)
    DPA_EXPIRING = "dpa_expiring"  # item: a verified data-privacy agreement
    BACKGROUND_CHECK_EXPIRING = "background_check_expiring"  # item: a verified attestation
    DOCUMENT_PENDING = "document_pending"  # item: a document waiting for verification
    APPROVAL_WAITING = "approval_waiting"  # item: a submitted MOU


add_labels(
    (
        (ReminderKind.MOU_ENDING, _l("MOU ending")),
        (ReminderKind.INSURANCE_EXPIRING, _l("Insurance certificate expiring")),
        (ReminderKind.INSURANCE_DATE_EXPIRING, _l("Insurance expiring")),
        (ReminderKind.DPA_EXPIRING, _l("Data-privacy agreement expiring")),
        (ReminderKind.BACKGROUND_CHECK_EXPIRING, _l("Background-check verification expiring")),
        (ReminderKind.DOCUMENT_PENDING, _l("Document waiting for verification")),
        (ReminderKind.APPROVAL_WAITING, _l("MOU waiting for a second approver")),
    )
)


class ReminderSent(Model):
    """One reminder handed to the SMTP server for one recipient: never sent again.

    The key holds the item's due date as well as the lead time, so a renewed
    date (next year's insurance on the same partner) is reminded of afresh.
    """

    __tablename__ = "reminder_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind))
    item_id: Mapped[int]
    due_date: Mapped[date]
    lead_days: Mapped[int]
    recipient: Mapped[str] = mapped_column(String(254))  # the address, lower case
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "item_id", "due_date", "lead_days", "recipient"),)

    def __repr__(self) -> str:
        return (
            f"<ReminderSent {self.kind.value} #{self.item_id} {self.lead_days}d {self.recipient}>"
        )


class Notification(Model):
    """A reminder shown to one user in the app, in the language of whoever reads the page."""

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind))
    item_id: Mapped[int]
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    # The item's name when the reminder was made (an MOU's title, a file's name).
    title: Mapped[str] = mapped_column(String(300))
    due_date: Mapped[date]
    lead_days: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("user_id", "kind", "item_id", "due_date", "lead_days"),
        # The unread count in every page's header reads only this index.
        Index("ix_notification_user_id_read_at", "user_id", "read_at"),
    )

    @property
    def unread(self) -> bool:
        return self.read_at is None

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.kind.value} #{self.item_id} user {self.user_id}>"
