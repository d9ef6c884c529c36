"""Personal API tokens: create (the secret shown once), revoke, authenticate, count use.

A token is `prk_` followed by 32 random bytes (URL-safe base64); only its SHA-256
is stored. Using a token records its last use and counts it against the rate
limit in one atomic UPDATE on a connection of its own, committed at once: API
requests are GETs, whose unit of work is read-only, and a refused or failed
request still counts.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import case, select, update

from registry.extensions import db
from registry.models import ApiToken, User
from registry.refusals import Refused

PREFIX = "prk_"
# How many characters of a token its owner sees in the list (the prefix and a few more).
SHOWN = len(PREFIX) + 6
LIFETIMES = (30, 90, 365)  # days a new token may live
MAX_PER_USER = 20  # live tokens


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def tokens_of(user: User) -> list[ApiToken]:
    """A user's tokens, newest first."""
    stmt = select(ApiToken).where(ApiToken.user_id == user.id)
    return list(db.session.scalars(stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def create(user: User, name: str, days: int, now: datetime) -> tuple[ApiToken, str]:
    """A new token for the user: the row and the secret, which is never available again."""
    name = name.strip()
    if not name:
        raise Refused(_("Give the token a name."), "name")
    if days not in LIFETIMES:
        raise Refused(_("Choose how long the token lasts."), "days")
    live = [t for t in tokens_of(user) if t.usable(now)]
    if len(live) >= MAX_PER_USER:
        raise Refused(_("You have too many tokens: revoke one first."))
    secret = new_secret()
    token = ApiToken(
        user=user,
        name=name[:100],
        prefix=secret[:SHOWN],
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def revoke(user: User, token_id: int, now: datetime) -> ApiToken | None:
    """Revoke one of the user's own tokens (None: no such token of theirs)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        return None
    if token.revoked_at is None:
        token.revoked_at = now
        db.session.flush()
    return token


@dataclass(frozen=True)
class Authentication:
    token: ApiToken | None
    problem: str  # "" when the token is good; else missing, malformed, unknown, expired, revoked


def authenticate(header: str | None, now: datetime) -> Authentication:
    """The token an `Authorization: Bearer ...` header names, if it may be used now."""
    if not header:
        return Authentication(None, "missing")
    scheme, _sep, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(PREFIX) or len(secret) > 200:
        return Authentication(None, "malformed")
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None:
        return Authentication(None, "unknown")
    if token.revoked_at is not None:
        return Authentication(None, "revoked")
    if now >= token.expires_at:
        return Authentication(None, "expired")
    if not token.user.active:
        return Authentication(None, "inactive")
    return Authentication(token, "")


@dataclass(frozen=True)
class Use:
    allowed: bool
    retry_after: int  # seconds until the window opens again (0 when allowed)
    remaining: int


def count_use(token_id: int, now: datetime, limit: int, window: timedelta) -> Use:
    """Record a request with a token: its last use, and one more in its rate window."""
    fresh = ApiToken.window_start.is_(None) | (ApiToken.window_start <= now - window)
    stmt = (
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .values(
            last_used_at=now,
            window_start=case((fresh, now), else_=ApiToken.window_start),
            window_count=case((fresh, 1), else_=ApiToken.window_count + 1),
        )
        .returning(ApiToken.window_start, ApiToken.window_count)
    )
    with db.engine.begin() as conn:
        row = conn.execute(stmt).one()
    started: datetime = row[0] or now
    count: int = row[1]
    if count <= limit:
        return Use(True, 0, limit - count)
    retry = max(1, math.ceil((started + window - now).total_seconds()))
    return Use(False, retry, 0)
