"""Accounts: the rules for creating and changing who may sign in, and as what."""

from __future__ import annotations

import re
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from sqlalchemy import func, select

from registry.auth import passwords
from registry.concurrency import check_version
from registry.extensions import db
from registry.models import Partner, User
from registry.refusals import Refused
from registry.security_log import record
from registry.vocabulary import Role

MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
MAX_PASSWORD_LENGTH = passwords.MAX_LENGTH
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _(text: str, **variables: Any) -> str:
    # The app's locale selector reads the request, so gettext fails in CLI commands
    # (create-user); outside a request the message stays in English.
    if has_request_context():
        return gettext(text, **variables)
    return text % variables if variables else text


def _email(email: str) -> str:
    email = (email or "").strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise Refused(_("'%(email)s' is not an email address.", email=email), field="email")
    return email


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise Refused(
            _("Unknown role '%(role)s' (choose one of %(choices)s).", role=role, choices=choices),
            field="role",
        ) from None


def _partner_id(role: Role, partner_id: int | None) -> int | None:
    if role == Role.PARTNER:
        if partner_id is None:
            raise Refused(_("A partner account needs a partner organisation."), field="partner_id")
        if db.session.get(Partner, partner_id) is None:
            raise Refused(
                _("There is no partner with id %(id)s.", id=partner_id), field="partner_id"
            )
        return partner_id
    if partner_id is not None:
        raise Refused(
            _("Only partner accounts are linked to a partner organisation."), field="partner_id"
        )
    return None


def check_password_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Refuse a password that is too short or long, common, or made of our or the user's words."""
    found = passwords.problem(password or "", email=email, name=name)
    if found is None:
        return
    messages = {
        "short": _("The password needs at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
        "long": _("The password may have at most %(n)s characters.", n=MAX_PASSWORD_LENGTH),
        "context": _(
            "The password is made of words anyone would guess first (your name or email, "
            "the district's or this product's name): add a few unrelated words."
        ),
        "repeats": _(
            "The password is a repeat or a sequence (like aaaa or 1234), which is guessed "
            "quickly: use a phrase of several unrelated words."
        ),
        "common": _(
            "The password is too common or too easy to guess: use a phrase of several "
            "unrelated words."
        ),
    }
    raise Refused(messages[found], field="password")


def find_by_email(email: str) -> User | None:
    """The account with an email, ignoring case."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    *,
    email: str,
    role: Role | str,
    partner_id: int | None = None,
    name: str = "",
    password: str,
    must_change_password: bool = False,
) -> User:
    """Create an active account (email unique ignoring case; partner link only for partners).

    `must_change_password`: someone else chose the password (an admin, on the account form),
    so the user must choose their own at first sign-in.
    """
    email = _email(email)
    if find_by_email(email) is not None:
        raise Refused(
            _("An account with the email %(email)s already exists.", email=email), field="email"
        )
    checked_role = _role(role)
    checked_partner = _partner_id(checked_role, partner_id)
    check_password_policy(password, email=email, name=name)
    user = User(
        email=email,
        name=(name or "").strip(),
        role=checked_role,
        partner_id=checked_partner,
        active=True,
        must_change_password=must_change_password,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def _other_active_admins(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count(User.id)).where(
                User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
            )
        )
        or 0
    )


def update_user(
    user: User,
    *,
    name: str,
    role: Role | str,
    partner_id: int | None,
    active: bool,
    password: str | None = None,
    acting: User | None = None,
    version: int | str | None = None,
    check: bool = False,
) -> User:
    """Change an account; an admin may not lock themself (or the district) out of admin.

    With `check` (the admin's edit form), `version` must be the account's current version:
    an edit made on a form opened before someone else's save is refused (StaleEdit, a 409).
    """
    if check:
        check_version(user, version)
    checked_role = _role(role)
    checked_partner = _partner_id(checked_role, partner_id)
    losing_admin = (
        user.role == Role.ADMIN and user.active and (checked_role != Role.ADMIN or not active)
    )
    if losing_admin and acting is not None and acting.id == user.id:
        field = "active" if not active else "role"
        raise Refused(
            _("You cannot deactivate your own account or remove your own admin role."), field
        )
    if losing_admin and _other_active_admins(user) == 0:
        raise Refused(_("This is the last active admin account; make another admin first."), "role")
    if password:
        check_password_policy(password, email=user.email, name=name or user.name)
    if user.role != checked_role:
        record(
            "user.role_changed",
            account=user.email,
            before=user.role.value,
            after=checked_role.value,
        )
    if user.partner_id != checked_partner:
        record(
            "user.partner_changed",
            account=user.email,
            before=user.partner_id,
            after=checked_partner,
        )
    # Only differing values are set: an unchanged save leaves no audit row.
    for attr, value in (
        ("name", (name or "").strip()),
        ("role", checked_role),
        ("partner_id", checked_partner),
        ("active", bool(active)),
    ):
        if getattr(user, attr) != value:
            setattr(user, attr, value)
    if password:
        user.set_password(password)
        # An admin chose it: the user must choose their own at next sign-in (not the admin's own).
        user.must_change_password = acting is None or acting.id != user.id
    db.session.flush()
    return user


def set_locale(user: User, locale: str) -> User:
    """Set the language a user's mail and notifications are written in ("" = the default)."""
    from flask import current_app

    if locale and locale not in current_app.config["LANGUAGES"]:
        choices = ", ".join(current_app.config["LANGUAGES"])
        raise Refused(
            _(
                "Unknown language '%(code)s' (choose one of %(choices)s).",
                code=locale,
                choices=choices,
            ),
            field="locale",
        )
    if user.locale != locale:
        user.locale = locale  # audited with the account, like every change
        db.session.flush()
    return user
