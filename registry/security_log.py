"""Security events (ASVS V16): one call, `record`, wherever something security-relevant happens.

Each event is written as one line of JSON on stderr (logger ``registry.security``) and
stored as a row of the ``security_event`` table, which admins filter and export at
/security-events. Kinds are short dotted names: ``login.success``, ``login.failure``,
``login.locked``, ``logout``, ``mfa.enrolled``, ``mfa.used``, ``password.changed``,
``password.reset``, ``access.refused``, ``csrf.failure``, ``user.role_changed``,
``user.partner_changed``, ``export``, ``document.download``.

Why the row is not written in the request's transaction: many events happen in requests
that roll back (a failed sign-in, a refused access, a CSRF failure), and their rows must
survive that. So the row is written through a connection and transaction of its own
(``db.engine.begin()``), never through the request's session:

- inside a request, events are kept on ``g`` and written when the request is torn down,
  after its unit of work has committed or rolled back. Written earlier, on SQLite, the
  separate connection would wait for the write lock the request's own session holds
  (a deadlock with itself); on PostgreSQL it would work but gains nothing;
- outside a request (a CLI command), the row is written at once.

This is the one deliberate exception to "a GET never writes": a refused GET is an event.
A failure to store the row is logged and never breaks the request; the line on stderr is
written first either way.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import Table, insert

from registry.models.columns import utcnow

logger = logging.getLogger("registry.security")

_PENDING = "security_events_pending"


def _client() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {"ip": request.remote_addr, "path": request.path, "method": request.method}


def _signed_in() -> tuple[int | None, str]:
    """The signed-in user inside a request, else nobody."""
    if not has_request_context():
        return None, ""
    from flask_login import current_user

    try:
        if current_user.is_authenticated:
            return current_user.id, current_user.email
    except Exception:  # loading the user failed (the database is down): log the event anyway
        logger.exception("security event: could not tell who is signed in")
    return None, ""


def record(kind: str, *, user_id: int | None = None, email: str = "", **details: Any) -> None:
    """Log one security event as a line of JSON, and store it (see the module's docstring).

    Without `user_id` and `email`, the event names the signed-in user, if any.
    """
    if user_id is None and not email:
        user_id, email = _signed_in()
    at = utcnow()
    client = _client()
    event = {
        "at": at.isoformat(timespec="milliseconds"),
        "kind": kind,
        "user_id": user_id,
        "email": email,
        **client,
        "details": details,
    }
    # json.dumps with default=str cannot fail on odd values; logging handles its own errors.
    logger.warning(json.dumps(event, default=str, ensure_ascii=False))
    row = {
        "at": at,
        "kind": kind[:40],
        "user_id": user_id,
        "email": (email or "")[:254],
        "ip": (client.get("ip") or "")[:45],
        "path": (client.get("path") or "")[:500],
        "details": json.loads(json.dumps(details, default=str)),
    }
    if has_request_context():
        g.setdefault(_PENDING, []).append(row)
    elif has_app_context():
        store([row])


def store(rows: list[dict[str, Any]]) -> None:
    """Insert event rows, chained, in a transaction of their own; a failure is only logged."""
    if not rows:
        return
    from registry.extensions import db
    from registry.models import SecurityEvent
    from registry.seclog import chain

    table = SecurityEvent.__table__
    assert isinstance(table, Table)
    try:
        with db.engine.begin() as conn:
            for row in rows:
                row["chain_hash"] = chain.link(conn, table, row)
            conn.execute(insert(table), rows)
    except Exception:
        logger.exception("security events could not be stored: %s", [r["kind"] for r in rows])


def store_pending(exc: BaseException | None = None) -> None:
    """Store the events this request recorded (its unit of work has ended by now)."""
    store(g.pop(_PENDING, []))
