"""Security events (ASVS V16): one call, `record`, wherever something security-relevant happens.

Each event is written as one line of JSON on stderr (logger ``registry.security``).
Kinds are short dotted names: ``login.success``, ``login.failure``, ``login.locked``,
``logout``, ``mfa.enrolled``, ``mfa.used``, ``password.changed``, ``password.reset``,
``access.refused``, ``csrf.failure``, ``user.role_changed``, ``user.partner_changed``,
``export``, ``document.download``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context, request

logger = logging.getLogger("registry.security")


def _client() -> dict[str, Any]:
    if not has_request_context():
        return {}
    return {"ip": request.remote_addr, "path": request.path, "method": request.method}


def record(kind: str, *, user_id: int | None = None, email: str = "", **details: Any) -> None:
    """Log one security event as a line of JSON."""
    event = {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "kind": kind,
        "user_id": user_id,
        "email": email,
        **_client(),
        "details": details,
    }
    # json.dumps with default=str cannot fail on odd values; logging handles its own errors.
    logger.warning(json.dumps(event, default=str, ensure_ascii=False))
