"""TOTP secrets encrypted at rest (ASVS 11.7.1 / 14.2): Fernet (AES-128-CBC + HMAC-SHA256).

The key is config `MFA_ENCRYPTION_KEY` (a Fernet key: 32 random bytes, URL-safe base64;
make one with `python -c 'from cryptography.fernet import Fernet;
print(Fernet.generate_key().decode())'`). Unset, it is derived from `SECRET_KEY` with
HKDF-SHA256, so a deployment is encrypted without a new setting, and a database copied
without the app's configuration does not give the secrets away.

Rotation: put the new key in `MFA_ENCRYPTION_KEY` and the old ones in
`MFA_ENCRYPTION_OLD_KEYS` (a list; in the environment, comma-separated). Secrets under an
old key are still read; `flask mfa-rotate-key` re-encrypts every one under the new key,
after which the old keys can go. An old entry may also be a former SECRET_KEY (the key
that was derived from it is tried).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

# HKDF's "info": binds the derived key to this one use of SECRET_KEY.
_INFO = b"partnership-registry mfa totp secret encryption v1"


class UnreadableSecret(RuntimeError):
    """A stored secret no configured key opens (the key changed without the old one kept)."""


def derived_key(secret_key: str) -> bytes:
    """The Fernet key derived from a SECRET_KEY (HKDF-SHA256, 32 bytes, URL-safe base64)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def _as_fernet_key(value: str) -> bytes | None:
    """`value` if it is a well-formed Fernet key, else None."""
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return value.encode("ascii") if len(raw) == 32 else None


def _keys(config: Mapping[str, Any]) -> list[bytes]:
    configured = config.get("MFA_ENCRYPTION_KEY")
    if configured:
        current = _as_fernet_key(str(configured))
        if current is None:
            raise ValueError(
                "MFA_ENCRYPTION_KEY is not a Fernet key (32 bytes, URL-safe base64: make one "
                "with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            )
    else:
        current = derived_key(str(config["SECRET_KEY"]))
    keys = [current]
    old: Iterable[str] = config.get("MFA_ENCRYPTION_OLD_KEYS") or ()
    for entry in old:
        as_key = _as_fernet_key(str(entry))
        for key in (as_key, derived_key(str(entry))):
            if key is not None and key not in keys:
                keys.append(key)
    return keys


def box(config: Mapping[str, Any] | None = None) -> MultiFernet:
    """The keys of a configuration (default: the app's), the current one first."""
    return MultiFernet([Fernet(key) for key in _keys(config or current_app.config)])


def encrypt(secret: str, config: Mapping[str, Any] | None = None) -> str:
    """A secret as stored: a Fernet token under the current key."""
    return box(config).encrypt(secret.encode("ascii")).decode("ascii")


def decrypt(token: str, config: Mapping[str, Any] | None = None) -> str:
    """The secret in a stored token, under the current key or an old one."""
    try:
        return box(config).decrypt(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError) as err:
        raise UnreadableSecret(
            "A two-step sign-in secret cannot be decrypted: MFA_ENCRYPTION_KEY (or SECRET_KEY) "
            "changed without the old key in MFA_ENCRYPTION_OLD_KEYS."
        ) from err


def rotate(token: str, config: Mapping[str, Any] | None = None) -> str:
    """The same secret, encrypted under the current key (read under any configured key)."""
    try:
        return box(config).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as err:
        raise UnreadableSecret("A two-step sign-in secret cannot be decrypted.") from err
