"""School files kept between the import's preview and its confirmation.

A file is stored in the instance's UPLOAD_FOLDER (never under static), named by a
random token and its uploader's id, and read back and parsed again on confirmation:
of what the browser sends back, only the token is trusted, and only by its uploader.
A file left unconfirmed is removed after a day.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from flask import current_app

KEEP_FOR_S = 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}\Z")


def _folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]) / "schools"


def _path(token: str, user_id: int) -> Path | None:
    if not _TOKEN.match(token or ""):
        return None
    return _folder() / f"{int(user_id)}-{token}"


def keep(raw: bytes, user_id: int, now: float | None = None) -> str:
    """Store an upload for its uploader; the token that reads it back."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = (now if now is not None else time.time()) - KEEP_FOR_S
    for old in folder.iterdir():
        if old.is_file() and old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    path = _path(token, user_id)
    assert path is not None  # token_urlsafe(16) is 22 URL-safe characters
    path.write_bytes(raw)
    return token


def load(token: str, user_id: int) -> bytes | None:
    """The upload a token names, if this user stored it and it is still kept."""
    path = _path(token, user_id)
    if path is None or not path.is_file():
        return None
    return path.read_bytes()


def discard(token: str, user_id: int) -> None:
    """Forget an upload (imported, or refused)."""
    path = _path(token, user_id)
    if path is not None:
        path.unlink(missing_ok=True)
