"""Where document files live: outside the web root, one file per SHA-256, written atomically.

The same content uploaded twice is stored once. A file is never changed after it is
written (its name is its hash) and never deleted here: another document may share it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from flask import current_app


def documents_dir() -> Path:
    """The folder the files are kept in (config DOCUMENTS_DIR; instance/documents by default)."""
    return Path(current_app.config["DOCUMENTS_DIR"])


def sha256_of(content: bytes) -> str:
    """The hex SHA-256 a file is stored under."""
    return hashlib.sha256(content).hexdigest()


def path_for(sha256: str) -> Path:
    """Where the file with this hash is (or would be) stored."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    return documents_dir() / f"{sha256}.pdf"


def store(content: bytes) -> str:
    """Keep a file under its SHA-256 (once: a file already there is kept); return the hash.

    Written to a temporary file in the same folder and renamed into place, so a reader
    never sees half a file, even if the process dies while writing.
    """
    sha256 = sha256_of(content)
    target = path_for(sha256)
    if target.is_file() and target.stat().st_size == len(content):
        return sha256
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return sha256


def read(sha256: str) -> bytes:
    """A stored file's content (FileNotFoundError when it is missing)."""
    return path_for(sha256).read_bytes()
