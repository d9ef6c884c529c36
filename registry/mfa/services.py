"""TOTP enrolment, verification (with replay protection) and single-use recovery codes.

Codes are RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps: what every authenticator app
reads from the QR code). A code is accepted for the current step and one step either side
(clock drift), and only for a step later than the last one accepted for that user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Table, insert, or_, select, update

from registry.extensions import db
from registry.mfa import secret_box
from registry.models import MfaCredential, MfaRecoveryCode, User
from registry.models.columns import utcnow
from registry.refusals import Refused

ISSUER = "Partnership Registry"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
DEFAULT_REQUIRED_ROLES = ("admin", "coordinator", "leader")
_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: no 0/O or 1/I to confuse


def now() -> datetime:
    """The current time (UTC); tests replace this to move the clock without sleeping."""
    return utcnow()


def _table() -> Table:
    table = MfaCredential.__table__
    assert isinstance(table, Table)
    return table


def required_roles() -> tuple[str, ...]:
    """The roles that must use a second factor: config `MFA_REQUIRED_ROLES`.

    The default names admin, coordinator and leader; () turns the requirement off (the
    test suite's setting, so that its many sign-ins need no code).
    """
    roles = current_app.config.get("MFA_REQUIRED_ROLES", DEFAULT_REQUIRED_ROLES)
    return tuple(str(r) for r in roles)


def is_required(user: User) -> bool:
    return user.role.value in required_roles()


def credential(user: User) -> MfaCredential | None:
    return db.session.scalar(select(MfaCredential).where(MfaCredential.user_id == user.id))


def is_enrolled(user: User) -> bool:
    found = credential(user)
    return found is not None and found.confirmed_at is not None


def enrolment_owed(user: User) -> bool:
    """Must this user set up two-step sign-in before anything else?

    Yes when their role requires it and it is not on, or when an administrator reset it
    (whatever the role: someone who had it keeps needing it).
    """
    if is_required(user):
        return not is_enrolled(user)
    found = credential(user)
    return found is not None and found.confirmed_at is None and found.reset_at is not None


def _secret(found: MfaCredential) -> str:
    """The credential's secret, decrypted (it is stored as a Fernet token)."""
    token = db.session.scalar(select(_table().c.secret).where(_table().c.id == found.id))
    return secret_box.decrypt(str(token))


# ---- enrolment -------------------------------------------------------------------------


def start_enrolment(user: User) -> None:
    """A new, unconfirmed secret for a user not yet enrolled (replacing an unconfirmed one)."""
    found = credential(user)
    if found is not None and found.confirmed_at is not None:
        raise Refused(_("Two-step sign-in is already on for your account."))
    secret = secret_box.encrypt(pyotp.random_base32())  # 160 bits, encrypted at rest
    if found is None:
        db.session.execute(
            insert(_table()).values(user_id=user.id, secret=secret, created_at=now())
        )
    else:
        db.session.execute(
            update(_table())
            .where(_table().c.id == found.id)
            .values(secret=secret, created_at=now(), last_timestep=None)
        )
    db.session.flush()


def pending_secret(user: User) -> str | None:
    """The secret of the user's unconfirmed enrolment (shown on the set-up page), or None."""
    found = credential(user)
    if found is None or found.confirmed_at is not None:
        return None
    return _secret(found)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The QR code of an otpauth:// URI as a PNG data URI, drawn here (no outside service)."""
    return str(segno.make(uri, error="m").png_data_uri(scale=5, border=4))


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turn two-step sign-in on with a first code from the app; the new recovery codes."""
    found = credential(user)
    if found is None or found.confirmed_at is not None:
        raise Refused(_("Start the set-up again: there is no set-up waiting for a code."))
    if not _accept_totp(found, code):
        raise Refused(_("That code is not right. Enter the 6 digits your app shows now."), "code")
    found.confirmed_at = now()
    found.reset_at = None
    codes = _new_recovery_codes(user)
    db.session.flush()
    return codes


def disable(user: User, *, password: str, code: str) -> None:
    """Turn two-step sign-in off: the password and a current code (or a recovery code)."""
    found = credential(user)
    if found is None or found.confirmed_at is None:
        raise Refused(_("Two-step sign-in is not on for your account."))
    if not user.check_password(password):
        raise Refused(_("That is not your current password."), "password")
    if not (_accept_totp(found, code) or _use_recovery_code(user, code)):
        raise Refused(_("That code is not right."), "code")
    _drop_recovery_codes(user)
    db.session.delete(found)
    db.session.flush()


def reset(user: User) -> bool:
    """An administrator's reset (lost phone and codes): the user must set it up again.

    The old secret and recovery codes stop working at once. The credential stays, as an
    unconfirmed set-up with a new secret (never shown to the administrator) and `reset_at`
    set, so that the user is sent to the set-up page at their next sign-in whatever their
    role. False when there was nothing to reset (no set-up, or one merely started).
    """
    found = credential(user)
    if found is None:
        return False
    _drop_recovery_codes(user)
    if found.confirmed_at is None and found.reset_at is None:
        db.session.delete(found)  # a set-up started, never finished: nothing to enforce
        db.session.flush()
        return False
    db.session.execute(
        update(_table())
        .where(_table().c.id == found.id)
        .values(secret=secret_box.encrypt(pyotp.random_base32()))
    )
    # Through the ORM, so that the audit trail records the reset (the secret is skipped).
    found.confirmed_at = None
    found.last_timestep = None
    found.reset_at = now()
    db.session.flush()
    return True


def rotate_secrets() -> int:
    """Re-encrypt every stored secret under the current key; how many there are."""
    table = _table()
    rows = db.session.execute(select(table.c.id, table.c.secret)).all()
    for row_id, token in rows:
        db.session.execute(
            update(table).where(table.c.id == row_id).values(secret=secret_box.rotate(str(token)))
        )
    db.session.flush()
    return len(rows)


# ---- codes -----------------------------------------------------------------------------


def _digits(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace())


def _accept_totp(found: MfaCredential, code: str) -> bool:
    """Is this the code of a step near now, later than the last accepted? Then record it.

    The step is recorded with a conditional UPDATE, so two requests racing with one code
    cannot both succeed.
    """
    code = _digits(code)
    if len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(_secret(found))
    current = int(now().timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            if found.last_timestep is not None and step <= found.last_timestep:
                return False  # replayed, or older than a code already used
            table = _table()
            claimed = db.session.execute(
                update(table)
                .where(
                    table.c.id == found.id,
                    or_(table.c.last_timestep.is_(None), table.c.last_timestep < step),
                )
                .values(last_timestep=step)
            )
            db.session.expire(found, ["last_timestep"])
            return bool(claimed.rowcount)  # type: ignore[attr-defined]
    return False


def _hash(code: str) -> str:
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode("ascii", "ignore")).hexdigest()


def _drop_recovery_codes(user: User) -> None:
    for old in db.session.scalars(
        select(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id)
    ):
        db.session.delete(old)


def _new_recovery_codes(user: User) -> list[str]:
    """Ten new codes (any older ones stop working); only their SHA-256 is kept."""
    _drop_recovery_codes(user)
    codes = []
    for _n in range(RECOVERY_CODES):
        # 80 random bits: too many to guess back from the plain hash.
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _c in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    db.session.add_all(MfaRecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    return codes


def _use_recovery_code(user: User, code: str) -> bool:
    if len(code) > 40:
        return False
    found = db.session.scalar(
        select(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == _hash(code),
            MfaRecoveryCode.used_at.is_(None),
        )
    )
    if found is None:
        return False
    claimed = db.session.execute(
        update(MfaRecoveryCode)
        .where(MfaRecoveryCode.id == found.id, MfaRecoveryCode.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    db.session.expire(found)
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def verify(user: User, code: str) -> str | None:
    """Check a sign-in's second step: "totp", "recovery" (a recovery code was used), or None."""
    found = credential(user)
    if found is None or found.confirmed_at is None:
        return None
    if _accept_totp(found, code):
        db.session.flush()
        return "totp"
    if _use_recovery_code(user, code):
        db.session.flush()
        return "recovery"
    return None


def recovery_codes_left(user: User) -> int:
    return len(
        db.session.scalars(
            select(MfaRecoveryCode.id).where(
                MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None)
            )
        ).all()
    )


def new_recovery_codes(user: User, *, code: str) -> list[str]:
    """Replace the recovery codes (after a current TOTP code): the old ones stop working."""
    found = credential(user)
    if found is None or found.confirmed_at is None:
        raise Refused(_("Two-step sign-in is not on for your account."))
    if not _accept_totp(found, code):
        raise Refused(_("That code is not right. Enter the 6 digits your app shows now."), "code")
    codes = _new_recovery_codes(user)
    db.session.flush()
    return codes
