"""What is due for a reminder on a day: MOUs ending, paperwork expiring, documents
waiting for verification, MOUs waiting for a second approver."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased, joinedload

from registry import district_time
from registry.extensions import db
from registry.models import MOU, Document, DocumentStatus, DocumentType, Partner
from registry.models.notification import ReminderKind
from registry.vocabulary import MOUStatus, PartnerStatus

DEFAULT_LEAD_DAYS = (60, 30, 7)
# A document uploaded more than this many days ago and still not verified is reminded of.
PENDING_AFTER_DAYS = 7

EXPIRING_DOCUMENTS = {
    DocumentType.INSURANCE_CERTIFICATE: ReminderKind.INSURANCE_EXPIRING,
    DocumentType.DATA_PRIVACY_AGREEMENT: ReminderKind.DPA_EXPIRING,
    DocumentType.BACKGROUND_CHECK: ReminderKind.BACKGROUND_CHECK_EXPIRING,
}


@dataclass(frozen=True)
class Reminder:
    """One thing to remind people of, at one lead time.

    `due_date` is the day it is about (an end, an expiry; the upload day of a
    pending document; the start of an MOU waiting for approval); `lead_days` is
    the lead time it is sent at (the smallest one the due date falls within).
    """

    kind: ReminderKind
    item_id: int
    partner_id: int
    partner_name: str
    title: str
    due_date: date
    lead_days: int

    @property
    def key(self) -> tuple[ReminderKind, int, date, int]:
        return (self.kind, self.item_id, self.due_date, self.lead_days)

    @property
    def for_partner(self) -> bool:
        """Whether the partner's contacts hear of it (approving an MOU is the district's)."""
        return self.kind != ReminderKind.APPROVAL_WAITING


def lead_days() -> tuple[int, ...]:
    """The configured lead times (`REMINDER_LEAD_DAYS`), shortest first."""
    configured: Iterable[int] = current_app.config.get("REMINDER_LEAD_DAYS") or DEFAULT_LEAD_DAYS
    leads = sorted({int(days) for days in configured if int(days) >= 0})
    if not leads:
        raise ValueError("REMINDER_LEAD_DAYS names no lead time")
    return tuple(leads)


def lead_for(days_left: int, leads: Sequence[int]) -> int | None:
    """The lead time a due date `days_left` away is reminded at: the smallest one it is within.

    A run that missed a day still finds the item; one that first sees it at 5 days
    sends the 7-day reminder only, not the 60- and 30-day ones too.
    """
    if days_left < 0:
        return None
    return next((lead for lead in sorted(leads) if days_left <= lead), None)


def _mous_ending(today: date, leads: Sequence[int]) -> list[Reminder]:
    renewal = aliased(MOU)
    renewed = exists().where(renewal.renewed_from_id == MOU.id, renewal.status == MOUStatus.ACTIVE)
    stmt = (
        select(MOU)
        .options(joinedload(MOU.partner))
        .where(
            MOU.status == MOUStatus.ACTIVE,
            MOU.end_date >= today,
            MOU.end_date <= today + timedelta(days=max(leads)),
            ~renewed,  # its successor is already in force: nothing to remind of
        )
        .order_by(MOU.end_date, MOU.id)
    )
    found = []
    for mou in db.session.scalars(stmt):
        lead = lead_for((mou.end_date - today).days, leads)
        if lead is not None:
            found.append(
                Reminder(
                    ReminderKind.MOU_ENDING,
                    mou.id,
                    mou.partner_id,
                    mou.partner.name,
                    mou.title,
                    mou.end_date,
                    lead,
                )
            )
    return found


def _document_title(document: Document) -> str:
    return f"{document.partner.name} · {document.filename}"


def _documents_expiring(today: date, leads: Sequence[int]) -> list[Reminder]:
    later = aliased(Document)
    superseded = exists().where(
        later.partner_id == Document.partner_id,
        later.doc_type == Document.doc_type,
        later.status == DocumentStatus.VERIFIED,
        later.expiry_date > Document.expiry_date,
    )
    stmt = (
        select(Document)
        .join(Partner, Partner.id == Document.partner_id)
        .options(joinedload(Document.partner))
        .where(
            Document.status == DocumentStatus.VERIFIED,
            Document.doc_type.in_(list(EXPIRING_DOCUMENTS)),
            Document.expiry_date >= today,
            Document.expiry_date <= today + timedelta(days=max(leads)),
            Partner.status != PartnerStatus.INACTIVE,
            ~superseded,  # a newer verified one runs longer: this one expiring is no news
        )
        .order_by(Document.expiry_date, Document.id)
    )
    found = []
    for document in db.session.scalars(stmt):
        assert document.expiry_date is not None  # the query asked for one
        lead = lead_for((document.expiry_date - today).days, leads)
        if lead is not None:
            found.append(
                Reminder(
                    EXPIRING_DOCUMENTS[document.doc_type],
                    document.id,
                    document.partner_id,
                    document.partner.name,
                    _document_title(document),
                    document.expiry_date,
                    lead,
                )
            )
    return found


def _insurance_dates_expiring(today: date, leads: Sequence[int]) -> list[Reminder]:
    """Partners whose recorded insurance expiry is near and who have no verified certificate."""
    certificate = exists().where(
        Document.partner_id == Partner.id,
        Document.doc_type == DocumentType.INSURANCE_CERTIFICATE,
        Document.status == DocumentStatus.VERIFIED,
    )
    stmt = (
        select(Partner)
        .where(
            Partner.insurance_expiry >= today,
            Partner.insurance_expiry <= today + timedelta(days=max(leads)),
            Partner.status != PartnerStatus.INACTIVE,
            ~certificate,
        )
        .order_by(Partner.insurance_expiry, Partner.id)
    )
    found = []
    for partner in db.session.scalars(stmt):
        assert partner.insurance_expiry is not None  # the query asked for one
        lead = lead_for((partner.insurance_expiry - today).days, leads)
        if lead is not None:
            found.append(
                Reminder(
                    ReminderKind.INSURANCE_DATE_EXPIRING,
                    partner.id,
                    partner.id,
                    partner.name,
                    partner.name,
                    partner.insurance_expiry,
                    lead,
                )
            )
    return found


def _start_of_day(day: date) -> datetime:
    """Midnight at the start of a district day, in UTC (stored times are UTC)."""
    zone = district_time.zone()
    midnight = datetime.combine(day, time.min)
    # Flask-Babel's zones are pytz's, which must localize (a tzinfo= gives them the LMT offset).
    localize = getattr(zone, "localize", None)
    local = localize(midnight) if localize else midnight.replace(tzinfo=zone)
    return local.astimezone(UTC)


def _documents_pending(today: date) -> list[Reminder]:
    """Documents still unverified more than PENDING_AFTER_DAYS whole days after their upload."""
    cutoff = _start_of_day(today - timedelta(days=PENDING_AFTER_DAYS))
    stmt = (
        select(Document)
        .options(joinedload(Document.partner))
        .where(Document.status == DocumentStatus.PENDING, Document.uploaded_at < cutoff)
        .order_by(Document.uploaded_at, Document.id)
    )
    return [
        Reminder(
            ReminderKind.DOCUMENT_PENDING,
            document.id,
            document.partner_id,
            document.partner.name,
            _document_title(document),
            district_time.in_zone(document.uploaded_at).date(),
            PENDING_AFTER_DAYS,
        )
        for document in db.session.scalars(stmt)
    ]


def _approvals_waiting() -> list[Reminder]:
    """MOUs submitted for activation: someone other than their drafter must approve them."""
    stmt = (
        select(MOU)
        .options(joinedload(MOU.partner))
        .where(MOU.status == MOUStatus.SUBMITTED)
        .order_by(MOU.start_date, MOU.id)
    )
    return [
        Reminder(
            ReminderKind.APPROVAL_WAITING,
            mou.id,
            mou.partner_id,
            mou.partner.name,
            mou.title,
            mou.start_date,
            0,
        )
        for mou in db.session.scalars(stmt)
    ]


def due_reminders(today: date, leads: Sequence[int] | None = None) -> list[Reminder]:
    """Every reminder due on `today`, each at the one lead time it falls within."""
    leads = tuple(leads) if leads is not None else lead_days()
    return [
        *_mous_ending(today, leads),
        *_documents_expiring(today, leads),
        *_insurance_dates_expiring(today, leads),
        *_documents_pending(today),
        *_approvals_waiting(),
    ]
