"""Sign-in throttling (ASVS 6.3.1): per account and per client address, in the database.

Each failed sign-in adds one to two counters, ``account:<email typed>`` and
``ip:<client address>``. From the third failure on, the next attempt must wait
1 s, then 2 s, 4 s, ... (doubling); after the tenth, the key is locked for 15 minutes.
A refused attempt is not checked against the password at all and does not count.
The account key is the email as typed, whether or not an account has it, so the
answer is the same for a real and an unknown address. A successful sign-in clears
the account's counter (not the address's: one address guessing many accounts stays slow).

The counters are written on their own connection and committed at once: the failed
sign-in's request ends in a 400 and commits nothing, and every gunicorn worker must
see the same counts. Limits can be changed in config (`LOGIN_*`, see `Limits.from_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from registry.extensions import db
from registry.models.columns import utcnow
from registry.models.login_throttle import LoginThrottle

FORGET_AFTER = timedelta(days=1)


def now() -> datetime:
    """The current time (UTC); tests replace this to move the clock without sleeping."""
    return utcnow()


@dataclass(frozen=True)
class Limits:
    free_failures: int  # failures before the slowdown starts
    lock_after: int  # failures that lock the key
    lock_minutes: int

    @classmethod
    def from_config(cls, kind: str) -> Limits:
        config = current_app.config
        if kind == "ip":
            # Several people share a school's address: more room before it slows everyone down.
            return cls(
                config.get("LOGIN_IP_FREE_FAILURES", 10),
                config.get("LOGIN_IP_LOCK_AFTER", 30),
                config.get("LOGIN_LOCK_MINUTES", 15),
            )
        return cls(
            config.get("LOGIN_FREE_FAILURES", 2),
            config.get("LOGIN_LOCK_AFTER", 10),
            config.get("LOGIN_LOCK_MINUTES", 15),
        )

    def blocked_until(self, failures: int, at: datetime) -> datetime | None:
        """Until when a key with this many consecutive failures must wait."""
        if failures >= self.lock_after:
            return at + timedelta(minutes=self.lock_minutes)
        if failures > self.free_failures:
            return at + timedelta(seconds=2 ** (failures - self.free_failures - 1))
        return None


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked now; if not, how long until it may."""

    wait: timedelta
    locked: bool = False

    @property
    def allowed(self) -> bool:
        return self.wait <= timedelta(0)


def account_key(email: str) -> str:
    return "account:" + (email or "").strip().lower()[:250]


def address_key(address: str | None) -> str:
    return "ip:" + (address or "unknown")[:250]


def _keys(email: str, address: str | None) -> dict[str, str]:
    return {account_key(email): "account", address_key(address): "ip"}


def check(email: str, address: str | None) -> Verdict:
    """May an attempt for this email from this address be checked now?"""
    at = now()
    keys = _keys(email, address)
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(LoginThrottle.key, LoginThrottle.failures, LoginThrottle.blocked_until).where(
                LoginThrottle.key.in_(keys)
            )
        ).all()
    wait = timedelta(0)
    locked = False
    for key, failures, until in rows:
        if until is not None and until > at:
            wait = max(wait, until - at)
            locked = locked or failures >= Limits.from_config(keys[key]).lock_after
    return Verdict(wait, locked)


def _add_failure(conn: Connection, key: str, limits: Limits, at: datetime) -> int:
    # One atomic UPDATE, so two workers counting at once both count.
    failures = conn.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(failures=LoginThrottle.failures + 1, last_failure_at=at)
        .returning(LoginThrottle.failures)
    ).scalar()
    if failures is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(LoginThrottle).values(key=key, failures=1, last_failure_at=at))
            failures = 1
        except IntegrityError:  # another worker inserted it first
            return _add_failure(conn, key, limits, at)
    conn.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == key)
        .values(blocked_until=limits.blocked_until(failures, at))
    )
    return failures


def record_failure(email: str, address: str | None) -> Verdict:
    """Count a failed attempt; the verdict says how long the next one must wait.

    Counters quiet for a day (and not blocked) are forgotten on the way: the table keeps
    only recent trouble, and an old typo does not slow anyone down next month.
    """
    at = now()
    with db.engine.begin() as conn:
        conn.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failure_at < at - FORGET_AFTER,
                or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < at),
            )
        )
        for key, kind in _keys(email, address).items():
            _add_failure(conn, key, Limits.from_config(kind), at)
    return check(email, address)


def record_success(email: str) -> None:
    """Forget the account's failures (a correct password was given, or a reset link used).

    Part of the request's unit of work (it ends well, so it commits): on SQLite a second
    connection could not write while the request holds the write lock.
    """
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key(email)))
