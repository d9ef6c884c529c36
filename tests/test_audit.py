"""Every change the ORM flushes leaves an audit row: who, when, what, before and after."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select

from registry.audit import Actor, acting_as
from registry.extensions import db
from registry.models import AuditEntry, Partner
from registry.vocabulary import PartnerStatus, PartnerType


def entries(entity: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.entity == entity).order_by(AuditEntry.id)
        )
    )


def test_create_update_status_and_delete_are_each_recorded(app) -> None:
    with acting_as(Actor(None, "tester@district.example")):
        partner = Partner(name="Reading Corps", partner_type=PartnerType.NONPROFIT)
        db.session.add(partner)
        db.session.commit()
        partner.phone = "508-555-0100"
        db.session.commit()
        partner.status = PartnerStatus.APPROVED
        db.session.commit()
        db.session.delete(partner)
        db.session.commit()

    create, update, status, delete = entries("partner")
    assert create.action == "create" and create.after["name"] == "Reading Corps"
    assert create.user_email == "tester@district.example"
    assert create.at.tzinfo is not None and create.at.utcoffset() == UTC.utcoffset(None)
    assert update.action == "update"
    assert update.before == {"phone": ""} and update.after == {"phone": "508-555-0100"}
    assert status.action == "status"
    assert status.before == {"status": "applicant"} and status.after == {"status": "approved"}
    assert delete.action == "delete" and delete.before["name"] == "Reading Corps"


def test_password_changes_are_recorded_without_the_hash(make_user) -> None:
    user = make_user("admin")
    user.set_password("another long password")
    db.session.commit()
    change = entries("user_account")[-1]
    assert change.after == {"password": "(changed)"}
    assert "argon2" not in str(entries("user_account")[0].after)
