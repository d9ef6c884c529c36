"""Who hears of each reminder, in which language; writing the mail, logging it, notifying.

Services flush, never commit: the `send-reminders` command commits after each
message, so every message handed to the SMTP server is logged as sent and a
failure leaves nothing behind to stop the next run from trying again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, tuple_

from registry import mail
from registry.extensions import db
from registry.models import Partner, User
from registry.models.notification import Notification, ReminderKind, ReminderSent
from registry.reminders import wording
from registry.reminders.finder import Reminder, due_reminders
from registry.vocabulary import Role


@dataclass(frozen=True)
class Recipient:
    """An address to write to, in its reader's language; `user_id` None for a bare contact."""

    email: str  # lower case
    locale: str
    name: str = ""
    user_id: int | None = None
    partner_name: str | None = None  # set for a partner's contact, None for the district's staff


@dataclass(frozen=True)
class Delivery:
    """One reminder for one recipient: one message, one row of the sent-log."""

    reminder: Reminder
    recipient: Recipient

    @property
    def key(self) -> tuple[ReminderKind, int, date, int, str]:
        return (*self.reminder.key, self.recipient.email)


@dataclass
class Plan:
    """What a run has to do: the reminders due, and the messages not sent yet."""

    reminders: list[Reminder]
    recipients: dict[tuple[ReminderKind, int, date, int], list[Recipient]]
    deliveries: list[Delivery] = field(default_factory=list)
    already_sent: int = 0


def recipient_locale(user: User | None) -> str:
    """The language a user reads mail in: their choice, else the district's default."""
    if user is not None and user.locale in current_app.config["LANGUAGES"]:
        return user.locale
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def _user_recipient(user: User, partner_name: str | None = None) -> Recipient:
    return Recipient(user.email.lower(), recipient_locale(user), user.name, user.id, partner_name)


def coordinators() -> list[Recipient]:
    """The district's coordinators (active accounts), who hear of every reminder."""
    stmt = (
        select(User)
        .where(User.role == Role.COORDINATOR, User.active.is_(True))
        .order_by(User.email)
    )
    return [_user_recipient(user) for user in db.session.scalars(stmt)]


def partner_contacts(partner_ids: Iterable[int]) -> dict[int, list[Recipient]]:
    """Each partner's contacts: its active partner accounts, and its email if no account has it.

    The partner's email, when it belongs to no account, is written to in the default language.
    """
    ids = sorted(set(partner_ids))
    if not ids:
        return {}
    contacts: dict[int, list[Recipient]] = {pid: [] for pid in ids}
    partners = db.session.execute(
        select(Partner.id, Partner.name, Partner.email).where(Partner.id.in_(ids))
    ).all()
    names = {pid: name for pid, name, _email in partners}
    users = select(User).where(
        User.partner_id.in_(ids), User.role == Role.PARTNER, User.active.is_(True)
    )
    for user in db.session.scalars(users.order_by(User.email)):
        assert user.partner_id is not None  # the query asked for one
        contacts[user.partner_id].append(_user_recipient(user, names.get(user.partner_id)))
    default = str(current_app.config["BABEL_DEFAULT_LOCALE"])
    for pid, name, email in partners:
        address = (email or "").strip().lower()
        if address and all(c.email != address for c in contacts[pid]):
            contacts[pid].append(Recipient(address, default, partner_name=name))
    return contacts


def _recipients(
    reminder: Reminder, staff: list[Recipient], contacts: dict[int, list[Recipient]]
) -> list[Recipient]:
    chosen: dict[str, Recipient] = {}
    everyone = [*(contacts.get(reminder.partner_id, []) if reminder.for_partner else []), *staff]
    for recipient in everyone:
        chosen.setdefault(recipient.email, recipient)  # one message per address
    return list(chosen.values())


def _sent_keys(reminders: Sequence[Reminder]) -> set[tuple[ReminderKind, int, date, int, str]]:
    if not reminders:
        return set()
    items = {(r.kind, r.item_id) for r in reminders}
    stmt = select(
        ReminderSent.kind,
        ReminderSent.item_id,
        ReminderSent.due_date,
        ReminderSent.lead_days,
        ReminderSent.recipient,
    ).where(tuple_(ReminderSent.kind, ReminderSent.item_id).in_(sorted(items)))
    return {(k, i, d, lead, r) for k, i, d, lead, r in db.session.execute(stmt)}


def plan(today: date, leads: Sequence[int] | None = None) -> Plan:
    """The reminders due on `today`, who hears of each, and which messages are still to send."""
    reminders = due_reminders(today, leads)
    staff = coordinators()
    contacts = partner_contacts(r.partner_id for r in reminders if r.for_partner)
    result = Plan(reminders, {r.key: _recipients(r, staff, contacts) for r in reminders})
    sent = _sent_keys(reminders)
    for reminder in reminders:
        for recipient in result.recipients[reminder.key]:
            delivery = Delivery(reminder, recipient)
            if delivery.key in sent:
                result.already_sent += 1
            else:
                result.deliveries.append(delivery)
    return result


def notify(found: Plan) -> int:
    """Add the in-app notification of each reminder for each user who hears of it; how many new."""
    if not found.reminders:
        return 0
    items = sorted({(r.kind, r.item_id) for r in found.reminders})
    existing = {
        tuple(row)
        for row in db.session.execute(
            select(
                Notification.user_id,
                Notification.kind,
                Notification.item_id,
                Notification.due_date,
                Notification.lead_days,
            ).where(tuple_(Notification.kind, Notification.item_id).in_(items))
        )
    }
    added = 0
    for reminder in found.reminders:
        for recipient in found.recipients[reminder.key]:
            if recipient.user_id is None or (recipient.user_id, *reminder.key) in existing:
                continue
            db.session.add(
                Notification(
                    user_id=recipient.user_id,
                    kind=reminder.kind,
                    item_id=reminder.item_id,
                    partner_id=reminder.partner_id,
                    title=reminder.title[:300],
                    due_date=reminder.due_date,
                    lead_days=reminder.lead_days,
                )
            )
            existing.add((recipient.user_id, *reminder.key))
            added += 1
    db.session.flush()
    return added


def compose(delivery: Delivery, today: date) -> EmailMessage:
    """The reminder's message to one recipient, written in their language."""
    reminder, recipient = delivery.reminder, delivery.recipient
    with force_locale(recipient.locale):
        subject = _("Reminder: %(what)s", what=wording.headline(*_what(reminder)))
        greeting = _("Hello %(name)s,", name=recipient.name) if recipient.name else _("Hello,")
        # The headline is also the subject and the notification: here it ends a sentence.
        sentence = _("%(headline)s.", headline=wording.headline(*_what(reminder)))
        countdown = wording.countdown(reminder.kind, reminder.due_date, today)
        paragraphs = [greeting, f"{sentence} {countdown}" if countdown else sentence]
        paragraphs.append(wording.what_to_do(reminder.kind))
        link = wording.item_path(
            reminder.kind, reminder.item_id, reminder.partner_id, external=True
        )
        if link:
            paragraphs.append(_("Open it in the registry: %(url)s", url=link))
        if recipient.partner_name is not None:
            why = _(
                "You receive this reminder as a contact of %(partner)s.",
                partner=recipient.partner_name,
            )
        else:
            why = _("You receive this reminder as a coordinator of the partnership registry.")
        listing = wording.notifications_url()
        if listing and recipient.user_id is not None:
            why += " " + _("Your notifications: %(url)s", url=listing)
        paragraphs.append(why)
    return mail.message([recipient.email], subject, "\n\n".join(paragraphs) + "\n")


def _what(reminder: Reminder) -> tuple[ReminderKind, str, date]:
    return reminder.kind, reminder.title, reminder.due_date


def deliver(
    delivery: Delivery,
    today: date,
    send: Callable[[Iterable[EmailMessage]], int] = mail.send,
) -> None:
    """Log one message as sent and hand it to the SMTP server; raises MailError if it fails.

    The log row is flushed first: a second run at the same moment waits on it (or
    meets the unique key) instead of sending the same message. The caller commits
    after a success and rolls back after a failure, so a failed message stays unsent.
    """
    reminder = delivery.reminder
    db.session.add(
        ReminderSent(
            kind=reminder.kind,
            item_id=reminder.item_id,
            due_date=reminder.due_date,
            lead_days=reminder.lead_days,
            recipient=delivery.recipient.email,
        )
    )
    db.session.flush()
    send([compose(delivery, today)])
