"""Invitations: coordinators invite a contact to create an account tied to a partner.

The link carries a random token; only its SHA-256 is stored, so the database
never holds a usable link. A link is valid for 7 days and used once: accepting
marks it used in the same statement that checks it is unused, so two clients
racing on one link make one account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update

from registry.extensions import db
from registry.models import Invitation, Partner, User
from registry.refusals import Refused
from registry.users import services as user_services
from registry.vocabulary import Role

VALID_FOR = timedelta(days=7)


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def invite(partner: Partner, email: str, actor: User, now: datetime) -> tuple[Invitation, str]:
    """A new invitation and its token (the token is never stored: mail it, then forget it)."""
    if actor.role not in (Role.ADMIN, Role.COORDINATOR):
        raise Refused(_("Only the district invites partner contacts."))
    email = (email or "").strip().lower()
    if user_services.find_by_email(email) is not None:
        raise Refused(
            _("An account with the email %(email)s already exists.", email=email), field="email"
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        partner=partner,
        email=email,
        token_hash=token_hash(token),
        invited_by_id=actor.id,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    db.session.add(invitation)
    db.session.flush()
    return invitation, token


def find(token: str) -> Invitation | None:
    """The invitation a token belongs to, used or not."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.token_hash == token_hash(token)))


def _used() -> str:
    return _(
        "This invitation was already used. Sign in, or ask the partnership office for a new one."
    )


def problem(invitation: Invitation, now: datetime) -> str | None:
    """Why an invitation cannot be accepted now, in words; None when it can."""
    if invitation.accepted_at is not None:
        return _used()
    if invitation.expires_at <= now:
        return _("This invitation has expired. Ask the partnership office for a new one.")
    return None


def accept(invitation: Invitation, name: str, password: str, now: datetime) -> User:
    """Create the partner account the invitation offers, and use the invitation up."""
    reason = problem(invitation, now)
    if reason:
        raise Refused(reason)
    claimed = db.session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Refused(_used())
    user = user_services.create_user(
        email=invitation.email,
        role=Role.PARTNER,
        partner_id=invitation.partner_id,
        name=name,
        password=password,
    )
    invitation.user_id = user.id
    db.session.flush()
    return user


def pending_of(partner_id: int, now: datetime) -> list[Invitation]:
    """A partner's invitations not yet used nor expired, newest first."""
    stmt = (
        select(Invitation)
        .where(
            Invitation.partner_id == partner_id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(db.session.scalars(stmt))
