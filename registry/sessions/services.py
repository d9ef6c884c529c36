"""Server-side session records (ASVS V7): begin at sign-in, check on every request, end.

The signed Flask session cookie carries a random nonce (``session["session_nonce"]``);
the `user_session` table keeps its SHA-256. A request is signed in only while its record
is not ended, has been seen within `SESSION_IDLE_MINUTES` (default 30) and began within
`SESSION_ABSOLUTE_HOURS` (default 12). Saving a cookie and replaying it after sign-out,
a timeout or a revocation therefore gets nothing.

The check and the `last_seen_at` update run on their own connection, committed at once
and at most once a minute per session: a GET must not write through the request's unit of
work (registry/unit_of_work.py), and every gunicorn worker must see the same records.
Beginning and ending sessions are ordinary changes of the request (audited, committed with it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context, request, session
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, scoped_session

from registry.extensions import db
from registry.models import User, UserSession
from registry.models.columns import utcnow

NONCE_KEY = "session_nonce"
SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often


def now() -> datetime:
    """The current time (UTC); tests replace this to move the clock without sleeping."""
    return utcnow()


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls) -> Limits:
        config = current_app.config
        return cls(
            timedelta(minutes=float(config.get("SESSION_IDLE_MINUTES", 30))),
            timedelta(hours=float(config.get("SESSION_ABSOLUTE_HOURS", 12))),
        )


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def user_agent_summary(agent: str) -> str:
    """ "Firefox, Windows" from a User-Agent header; its first words if neither is known."""
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in agent), "")
    if browser or system:
        return ", ".join(part for part in (browser, system) if part)
    return re.sub(r"\s+", " ", agent).strip()[:60]


# ---- beginning, checking and ending ----------------------------------------------------------


def begin(user: User) -> UserSession:
    """Record a new sign-in of this user and put its nonce in the session cookie.

    The CSRF token is renewed: one seen before signing in is worth nothing after.
    """
    nonce = secrets.token_urlsafe(32)
    at = now()
    record = UserSession(
        user_id=user.id,
        nonce_hash=nonce_hash(nonce),
        created_at=at,
        last_seen_at=at,
        ip=(request.remote_addr or "")[:64],
        user_agent=user_agent_summary(request.headers.get("User-Agent", ""))[:200],
    )
    db.session.add(record)
    db.session.flush()
    session[NONCE_KEY] = nonce
    token_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(token_name, None)
    g.pop(token_name, None)
    g.user_session_id = record.id
    g.user_session_user_id = str(user.id)
    return record


@dataclass(frozen=True)
class Verdict:
    """The session record this cookie may use, or why it may not."""

    session_id: int | None
    reason: str = ""


def check(nonce: str | None, user_id: str) -> Verdict:
    """Whether a cookie's nonce still signs this user in; ends a timed-out record on the way.

    Runs on its own connection (see the module's docstring): nothing goes through the
    request's unit of work.
    """
    if not nonce:
        return Verdict(None, "missing")
    at = now()
    limits = Limits.from_config()
    with db.engine.connect() as conn:
        row = conn.execute(
            select(
                UserSession.id,
                UserSession.user_id,
                UserSession.created_at,
                UserSession.last_seen_at,
                UserSession.ended_at,
                User.active,
            )
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.nonce_hash == nonce_hash(nonce))
        ).first()
    if row is None or str(row.user_id) != user_id:
        return Verdict(None, "missing")
    if row.ended_at is not None:
        return Verdict(None, "ended")
    reason = ""
    if not row.active:
        reason = "deactivated"
    elif at - row.created_at > limits.absolute:
        reason = "absolute"
    elif at - row.last_seen_at > limits.idle:
        reason = "idle"
    if reason:
        _write_apart(row.id, ended_at=at, ended_reason=reason)
        return Verdict(None, reason)
    if at - row.last_seen_at >= SEEN_EVERY:
        _write_apart(row.id, last_seen_at=at)
    return Verdict(row.id)


def _write_apart(session_id: int, **values: object) -> None:
    # Its own connection, committed at once: the request may be a GET, which writes nothing.
    # Best effort: if the database is busy (SQLite's single writer), the next request writes
    # it; a timed-out session is refused all the same, as the check is made on every request.
    try:
        with db.engine.begin() as conn:
            conn.execute(
                update(UserSession)
                .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
                .values(**values)
            )
    except OperationalError as err:
        current_app.logger.warning("session %s not updated (%s): %s", session_id, values, err)


def current_session_id() -> int | None:
    """The record of this request's sign-in, once checked (None when signed out)."""
    if not has_request_context():
        return None
    return g.get("user_session_id")


def open_sessions(user_id: int) -> list[UserSession]:
    """A user's sessions still signed in (not ended, not timed out), newest first."""
    at = now()
    limits = Limits.from_config()
    rows = db.session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.ended_at.is_(None),
            UserSession.created_at > at - limits.absolute,
            UserSession.last_seen_at > at - limits.idle,
        )
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())
    )
    return list(rows)


def _end_in(
    db_session: Session | scoped_session[Any], user_id: int, reason: str, keep: int | None
) -> int:
    # Without flushing: also called while a flush is being prepared (the revocation hook).
    stmt = select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    at = now()
    ended = 0
    with db_session.no_autoflush:
        for record in db_session.scalars(stmt):
            record.ended_at = at
            record.ended_reason = reason
            ended += 1
    return ended


def end_all(user: User, reason: str, *, keep_current: bool = False) -> int:
    """End a user's open sessions (all, or all but this request's); how many were open."""
    keep = current_session_id() if keep_current else None
    ended = _end_in(db.session, user.id, reason, keep)
    db.session.flush()
    return ended


def end_one(record: UserSession, reason: str) -> None:
    if record.ended_at is None:
        record.ended_at = now()
        record.ended_reason = reason
        db.session.flush()


def end_current(reason: str) -> None:
    """End this request's own session record (signing out)."""
    session_id = current_session_id()
    if session_id is not None:
        record = db.session.get(UserSession, session_id)
        if record is not None:
            end_one(record, reason)
    g.pop("user_session_id", None)
    g.pop("user_session_user_id", None)
    session.pop(NONCE_KEY, None)
