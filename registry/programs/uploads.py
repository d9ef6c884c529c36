"""Listings kept between the preview and the confirmation: files in the instance folder.

An upload is stored under a random token (never under its own name), outside
the static folder, with who uploaded it; only that user can open it again. A
file older than a day is swept away at the next upload.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}\Z")
MAX_AGE_S = 24 * 3600
# A listing of a whole district is a few hundred kilobytes; refuse anything far larger.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoredListing:
    token: str
    raw: bytes
    filename: str
    school_year: str | None


def max_bytes() -> int:
    return int(current_app.config.get("PROGRAM_LISTING_MAX_BYTES", DEFAULT_MAX_BYTES))


def _folder() -> Path:
    base = current_app.config.get("UPLOAD_FOLDER")
    folder = Path(base or Path(current_app.instance_path) / "uploads") / "programs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sweep(folder: Path, now: float) -> None:
    for path in folder.iterdir():
        try:
            if now - path.stat().st_mtime > MAX_AGE_S:
                path.unlink()
        except OSError:
            continue  # another request swept it first


def store(raw: bytes, filename: str, user_id: int, school_year: str | None) -> str:
    """Keep an upload for its preview and confirmation; the token that names it."""
    folder = _folder()
    _sweep(folder, time.time())
    token = secrets.token_urlsafe(24)
    (folder / f"{token}.data").write_bytes(raw)
    meta = {"user_id": user_id, "filename": filename[:200], "school_year": school_year}
    (folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
    return token


def load(token: str, user_id: int) -> StoredListing | None:
    """The upload a token names, if this user made it and it is still kept."""
    if not TOKEN.match(token or ""):
        return None
    folder = _folder()
    try:
        meta = json.loads((folder / f"{token}.json").read_text(encoding="utf-8"))
        raw = (folder / f"{token}.data").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("user_id") != user_id:
        return None
    return StoredListing(token, raw, str(meta.get("filename", "")), meta.get("school_year"))


def discard(token: str) -> None:
    """Forget an upload (once imported)."""
    if not TOKEN.match(token or ""):
        return
    for suffix in (".data", ".json"):
        (_folder() / f"{token}{suffix}").unlink(missing_ok=True)
