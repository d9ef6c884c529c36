"""Reminders: what is due at each lead time, who hears of it in which language, sent once,
retried after an SMTP failure, against a real SMTP server on loopback."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from click.testing import Result
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy import insert as sa_insert

from registry.extensions import db
from registry.models import (
    MOU,
    AuditEntry,
    Document,
    DocumentStatus,
    DocumentType,
    Notification,
    Partner,
    ReminderKind,
    ReminderSent,
    User,
)
from registry.reminders.finder import Reminder, due_reminders, lead_for
from registry.vocabulary import MOUStatus, PartnerStatus, Role

TODAY = date(2026, 3, 2)
DISTRICT = ZoneInfo("America/New_York")
_files = itertools.count(1)


def run(app: Flask, today: date = TODAY, *options: str) -> Result:
    db.session.commit()  # nothing of the test's left open while the command writes
    result = app.test_cli_runner().invoke(
        args=["send-reminders", "--today", today.isoformat(), *options]
    )
    db.session.expire_all()
    return result


def found(today: date = TODAY, kind: ReminderKind | None = None) -> list[Reminder]:
    return [r for r in due_reminders(today) if kind is None or r.kind == kind]


@pytest.fixture
def make_document(app: Flask, make_partner: Callable[..., Partner]) -> Callable[..., Document]:
    def make(**overrides: Any) -> Document:
        if "partner" not in overrides and "partner_id" not in overrides:
            overrides["partner"] = make_partner()
        n = next(_files)
        values: dict[str, Any] = {
            "doc_type": DocumentType.INSURANCE_CERTIFICATE,
            "filename": f"certificate-{n}.pdf",
            "sha256": f"{n:064x}",
            "size": 1000,
            "status": DocumentStatus.VERIFIED,
        }
        values.update(overrides)
        document = Document(**values)
        db.session.add(document)
        db.session.commit()
        return document

    return make


# ---- what is due, and at which lead time ------------------------------------------------


@pytest.mark.nodb
@pytest.mark.parametrize(
    "days_left, lead",
    [(-1, None), (0, 7), (7, 7), (8, 30), (30, 30), (31, 60), (60, 60), (61, None)],
)
def test_a_due_date_is_reminded_at_the_smallest_lead_time_it_falls_within(
    days_left: int, lead: int | None
) -> None:
    assert lead_for(days_left, (60, 30, 7)) == lead


@pytest.fixture
def item_due(
    make_mou: Callable[..., MOU],
    make_document: Callable[..., Document],
    make_partner: Callable[..., Partner],
) -> Callable[[str, date], tuple[ReminderKind, int]]:
    """An item of a kind that falls due on a day: (the reminder kind, the item's id)."""

    def make(kind: str, due: date) -> tuple[ReminderKind, int]:
        if kind == "mou":
            mou = make_mou(status=MOUStatus.ACTIVE, start_date=date(2025, 9, 1), end_date=due)
            return ReminderKind.MOU_ENDING, mou.id
        if kind == "insurance_date":
            partner = make_partner(insurance_expiry=due)
            return ReminderKind.INSURANCE_DATE_EXPIRING, partner.id
        doc_type, reminder_kind = {
            "insurance": (DocumentType.INSURANCE_CERTIFICATE, ReminderKind.INSURANCE_EXPIRING),
            "dpa": (DocumentType.DATA_PRIVACY_AGREEMENT, ReminderKind.DPA_EXPIRING),
            "background": (DocumentType.BACKGROUND_CHECK, ReminderKind.BACKGROUND_CHECK_EXPIRING),
        }[kind]
        partner = make_partner(insurance_expiry=None)
        document = make_document(partner=partner, doc_type=doc_type, expiry_date=due)
        return reminder_kind, document.id

    return make


@pytest.mark.parametrize("kind", ["mou", "insurance", "dpa", "background", "insurance_date"])
def test_each_kind_is_found_at_60_30_and_7_days_and_not_otherwise(
    item_due: Callable[[str, date], tuple[ReminderKind, int]], kind: str
) -> None:
    due = date(2026, 6, 30)
    reminder_kind, item_id = item_due(kind, due)
    expected = {61: None, 60: 60, 45: 60, 31: 60, 30: 30, 8: 30, 7: 7, 0: 7, -1: None}
    for days_left, lead in expected.items():
        today = due - timedelta(days=days_left)
        leads = [r.lead_days for r in found(today, reminder_kind) if r.item_id == item_id]
        assert leads == ([] if lead is None else [lead]), days_left
    assert {r.due_date for r in found(due - timedelta(days=7), reminder_kind)} == {due}


def test_the_lead_times_are_configurable(app: Flask, item_due: Any) -> None:
    app.config["REMINDER_LEAD_DAYS"] = (90, 14)
    due = TODAY + timedelta(days=80)
    item_due("mou", due)
    assert [r.lead_days for r in found(TODAY)] == [90]
    assert [r.lead_days for r in found(due - timedelta(days=14))] == [14]
    assert found(due - timedelta(days=91)) == []


def test_only_an_active_mou_that_is_not_yet_renewed_is_reminded_of_its_end(
    make_mou: Callable[..., MOU],
) -> None:
    end = TODAY + timedelta(days=30)
    for status in (MOUStatus.DRAFT, MOUStatus.EXPIRED, MOUStatus.TERMINATED):
        make_mou(status=status, end_date=end)
    renewed = make_mou(status=MOUStatus.ACTIVE, end_date=end)
    make_mou(
        partner=renewed.partner,
        status=MOUStatus.ACTIVE,
        school_year="2026-27",
        start_date=end + timedelta(days=1),
        end_date=date(2027, 6, 30),
        renewed_from_id=renewed.id,
    )
    pending_renewal = make_mou(status=MOUStatus.ACTIVE, end_date=end)
    make_mou(
        partner=pending_renewal.partner,
        status=MOUStatus.DRAFT,
        school_year="2026-27",
        start_date=end + timedelta(days=1),
        end_date=date(2027, 6, 30),
        renewed_from_id=pending_renewal.id,
    )
    assert [r.item_id for r in found(kind=ReminderKind.MOU_ENDING)] == [pending_renewal.id]


def test_only_a_verified_document_that_nothing_newer_replaces_is_reminded_of(
    make_partner: Callable[..., Partner], make_document: Callable[..., Document]
) -> None:
    expiry = TODAY + timedelta(days=7)
    for status in (DocumentStatus.PENDING, DocumentStatus.REJECTED):
        make_document(status=status, expiry_date=expiry, uploaded_at=_uploaded(days_ago=1))
    make_document(doc_type=DocumentType.OTHER, expiry_date=expiry)
    replaced = make_document(expiry_date=expiry)
    make_document(partner=replaced.partner, expiry_date=date(2027, 3, 1))
    kept = make_document(expiry_date=expiry)
    # A newer certificate still pending verification replaces nothing yet.
    make_document(
        partner=kept.partner,
        expiry_date=date(2027, 3, 1),
        status=DocumentStatus.PENDING,
        uploaded_at=_uploaded(days_ago=1),
    )
    inactive = make_partner(status=PartnerStatus.INACTIVE)
    make_document(partner=inactive, expiry_date=expiry)
    assert [r.item_id for r in found(kind=ReminderKind.INSURANCE_EXPIRING)] == [kept.id]


def test_the_partners_insurance_date_counts_only_without_a_verified_certificate(
    make_partner: Callable[..., Partner], make_document: Callable[..., Document]
) -> None:
    expiry = TODAY + timedelta(days=30)
    bare = make_partner(insurance_expiry=expiry)
    certified = make_partner(insurance_expiry=expiry)
    make_document(partner=certified, expiry_date=date(2027, 3, 1))
    reminders = found(kind=ReminderKind.INSURANCE_DATE_EXPIRING)
    assert [(r.item_id, r.title, r.lead_days) for r in reminders] == [(bare.id, bare.name, 30)]


def _uploaded(days_ago: int, at: time = time(12)) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), at, tzinfo=DISTRICT)


def test_a_document_pending_for_more_than_7_days_is_reminded_of(
    make_document: Callable[..., Document],
) -> None:
    pending = {"status": DocumentStatus.PENDING, "expiry_date": date(2027, 1, 1)}
    make_document(uploaded_at=_uploaded(7, time(0, 1)), **pending)  # 7 days: not yet
    waiting = make_document(uploaded_at=_uploaded(8, time(23, 59)), **pending)
    make_document(
        uploaded_at=_uploaded(30), status=DocumentStatus.VERIFIED, expiry_date=date(2027, 1, 1)
    )
    reminders = found(kind=ReminderKind.DOCUMENT_PENDING)
    assert [(r.item_id, r.due_date) for r in reminders] == [(waiting.id, TODAY - timedelta(days=8))]


def test_a_submitted_mou_waits_for_a_second_approver(make_mou: Callable[..., MOU]) -> None:
    submitted = make_mou(status=MOUStatus.SUBMITTED)
    make_mou(status=MOUStatus.DRAFT)
    reminders = found(kind=ReminderKind.APPROVAL_WAITING)
    assert [(r.item_id, r.for_partner) for r in reminders] == [(submitted.id, False)]


# ---- delivery, end to end through SMTP ---------------------------------------------------


@pytest.fixture
def district(
    make_partner: Callable[..., Partner],
    make_user: Callable[..., User],
    make_mou: Callable[..., MOU],
) -> dict[str, Any]:
    """An MOU ending in 30 days, its partner's contacts, and staff who hear or do not."""
    partner = make_partner(name="Reading Friends", email="Office@Reading.example")
    mou = make_mou(partner=partner, status=MOUStatus.ACTIVE, end_date=TODAY + timedelta(days=30))
    return {
        "partner": partner,
        "mou": mou,
        "coordinator": make_user(Role.COORDINATOR),
        "partner_user": make_user(Role.PARTNER, partner=partner),
        "retired": make_user(Role.COORDINATOR, active=False),
        "other_partner_user": make_user(Role.PARTNER),
        "leader": make_user(Role.LEADER),
        "admin": make_user(Role.ADMIN),
    }


def _sent_rows() -> list[tuple[str, int, int, str]]:
    rows = db.session.execute(
        select(
            ReminderSent.kind, ReminderSent.item_id, ReminderSent.lead_days, ReminderSent.recipient
        ).order_by(ReminderSent.recipient)
    )
    return [(kind.value, item, lead, to) for kind, item, lead, to in rows]


def test_a_reminder_goes_once_to_the_partners_contacts_and_the_coordinators(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    mou = district["mou"]
    expected = sorted(
        [
            district["coordinator"].email,
            district["partner_user"].email,
            "office@reading.example",
        ]
    )

    result = run(app)

    assert result.exit_code == 0, result.output
    assert sorted(str(m["To"]) for m in smtp_server.messages) == expected
    assert _sent_rows() == [("mou_ending", mou.id, 30, to) for to in expected]
    for address in expected:
        assert f"-> {address}" in result.output
    message = smtp_server.to(district["coordinator"].email)[0]
    assert message["From"] == "registry@district.example"
    assert "Reading Friends · 2025-26" in str(message["Subject"])
    body = message.get_content()
    assert "Reading Friends · 2025-26 ends on April 1, 2026. That is in 30 days." in body
    assert f"http://registry.test/mous/{mou.id}" in body
    assert "http://registry.test/notifications/" in body
    partner_body = smtp_server.to("office@reading.example")[0].get_content()
    assert "as a contact of Reading Friends" in partner_body
    assert "/notifications/" not in partner_body  # no account: no notification list

    again = run(app)

    assert again.exit_code == 0, again.output
    assert len(smtp_server.messages) == 3  # nothing new
    assert "0 messages sent" in again.output and "3 sent before" in again.output
    assert len(_sent_rows()) == 3
    notified = db.session.scalars(select(Notification.user_id).order_by(Notification.user_id))
    assert list(notified) == sorted([district["coordinator"].id, district["partner_user"].id])


def test_the_next_lead_time_is_sent_once_the_item_is_nearer(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    coordinator = district["coordinator"].email
    end = district["mou"].end_date
    for days_left, total in ((30, 1), (20, 1), (8, 1), (7, 2), (3, 2), (0, 2), (-1, 2)):
        result = run(app, end - timedelta(days=days_left))
        assert result.exit_code == 0, result.output
        assert len(smtp_server.to(coordinator)) == total, days_left
    assert "That is in 7 days." in smtp_server.to(coordinator)[1].get_content()


def test_a_message_the_smtp_server_refuses_is_not_logged_and_is_sent_on_the_next_run(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    smtp_server.refuse = True

    failed = run(app)

    assert failed.exit_code != 0
    assert "3 failed" in failed.output
    assert "FAILED mou_ending" in failed.output
    assert smtp_server.messages == []
    assert _sent_rows() == []
    # The in-app notifications do not depend on the mail.
    assert db.session.scalar(select(func.count(Notification.id))) == 2

    smtp_server.refuse = False
    retried = run(app)

    assert retried.exit_code == 0, retried.output
    assert len(smtp_server.messages) == 3
    assert len(_sent_rows()) == 3
    assert db.session.scalar(select(func.count(Notification.id))) == 2  # not made twice


def test_without_an_smtp_server_nothing_is_logged_as_sent(
    app: Flask, district: dict[str, Any]
) -> None:
    app.config["SMTP_URL"] = None
    result = run(app)
    assert result.exit_code != 0
    assert "mail is not configured" in result.output
    assert _sent_rows() == []


def test_a_dry_run_says_what_it_would_send_and_sends_and_records_nothing(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    result = run(app, TODAY, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count("Would send mou_ending (30 days)") == 3
    assert smtp_server.messages == []
    assert _sent_rows() == []
    assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_a_renewed_insurance_date_is_reminded_of_again(
    app: Flask,
    smtp_server: Any,
    make_partner: Callable[..., Partner],
    make_user: Callable[..., User],
) -> None:
    coordinator = make_user(Role.COORDINATOR)
    partner = make_partner(email="", insurance_expiry=TODAY + timedelta(days=7))
    assert run(app).exit_code == 0
    partner = db.session.get(Partner, partner.id)
    assert partner is not None
    partner.insurance_expiry = date(2027, 3, 8)
    db.session.commit()
    assert run(app, date(2027, 3, 1)).exit_code == 0
    subjects = [str(m["Subject"]) for m in smtp_server.to(coordinator.email)]
    assert len(subjects) == 2
    assert "March 9, 2026" in subjects[0] and "March 8, 2027" in subjects[1]


def test_approvals_are_the_coordinators_business_only(
    app: Flask, smtp_server: Any, make_mou: Callable[..., MOU], make_user: Callable[..., User]
) -> None:
    coordinator = make_user(Role.COORDINATOR)
    partner_user = make_user(Role.PARTNER)
    make_mou(partner=partner_user.partner, status=MOUStatus.SUBMITTED)
    result = run(app)
    assert result.exit_code == 0, result.output
    assert [str(m["To"]) for m in smtp_server.messages] == [coordinator.email]
    assert "waiting for a second approver" in str(smtp_server.messages[0]["Subject"])


def test_each_recipient_reads_the_reminder_in_their_own_language(
    app: Flask,
    smtp_server: Any,
    make_partner: Callable[..., Partner],
    make_user: Callable[..., User],
    make_mou: Callable[..., MOU],
) -> None:
    end = date(2026, 3, 31)
    partner = make_partner(email="team@partner.example")
    make_mou(partner=partner, status=MOUStatus.ACTIVE, end_date=end)
    spanish = make_user(Role.COORDINATOR, locale="es")
    portuguese = make_user(Role.PARTNER, partner=partner, locale="pt")
    english = make_user(Role.COORDINATOR, locale="")

    assert run(app).exit_code == 0

    def subject(address: str) -> str:
        (message,) = smtp_server.to(address)
        return str(message["Subject"])

    assert format_date(end, "long", locale="es") in subject(spanish.email)  # 31 de marzo de 2026
    assert format_date(end, "long", locale="pt") in subject(portuguese.email)
    assert "March 31, 2026" in subject(english.email)
    assert "March 31, 2026" in subject("team@partner.example")  # no account: the default


def test_the_command_is_audited_as_itself(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    assert run(app).exit_code == 0
    actors = db.session.scalars(
        select(AuditEntry.user_email).where(AuditEntry.entity == "reminder_sent").distinct()
    )
    assert list(actors) == ["cli:send-reminders"]


@pytest.mark.parametrize(
    "registry_url, server_name, link",
    [
        (
            "https://partners.district.example/registry",
            None,
            "https://partners.district.example/registry/mous/",
        ),
        (None, "registry.test", "http://registry.test/mous/"),
        (None, None, None),
    ],
)
def test_the_mail_links_to_the_item_where_the_site_is_known(
    app: Flask,
    smtp_server: Any,
    district: dict[str, Any],
    registry_url: str | None,
    server_name: str | None,
    link: str | None,
) -> None:
    app.config.update(REGISTRY_URL=registry_url, SERVER_NAME=server_name)
    assert run(app).exit_code == 0
    body = smtp_server.to(district["coordinator"].email)[0].get_content()
    if link is None:
        assert "http" not in body  # no address to give: the mail still goes
    else:
        assert f"{link}{district['mou'].id}" in body


def test_a_message_another_run_logged_meanwhile_is_not_sent_again(
    app: Flask, smtp_server: Any, district: dict[str, Any]
) -> None:
    from sqlalchemy.exc import IntegrityError

    from registry.reminders import services

    plan = services.plan(TODAY)
    first = plan.deliveries[0]
    db.session.rollback()
    # Another run, in its own transaction, logs (and sends) the same message first.
    with db.engine.begin() as conn:
        conn.execute(
            sa_insert(ReminderSent).values(
                kind=first.reminder.kind,
                item_id=first.reminder.item_id,
                due_date=first.reminder.due_date,
                lead_days=first.reminder.lead_days,
                recipient=first.recipient.email,
                sent_at=datetime.now(DISTRICT),
            )
        )
    with pytest.raises(IntegrityError):
        services.deliver(first, TODAY)  # the log row is written before the message goes
    db.session.rollback()
    assert smtp_server.messages == []
