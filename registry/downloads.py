"""Download names: the one place a Content-Disposition header is written.

A name can come from anyone (an uploaded file's name, a need index's name): quotes, a line
break, a semicolon, Vietnamese or an emoji. The header carries a plain-ASCII stand-in in
`filename="..."` for old clients and the exact name, %-encoded, in `filename*=UTF-8''...`
(RFC 6266 with RFC 5987), so no name can end the header, add a parameter, or change the
saved file's extension.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TypeVar
from urllib.parse import quote

from werkzeug.wrappers import Response

R = TypeVar("R", bound=Response)

# RFC 5987 attr-char: what may appear in filename* unencoded; the rest is %-encoded.
ATTR_CHARS = "!#$&+-.^_`|~"
MAX_NAME = 200  # characters of the name itself, before its extension


def _plain(text: str) -> str:
    """Text without control characters (line breaks, NULs, bidi marks become spaces)."""
    return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)


def ascii_fallback(stem: str, extension: str = "", default: str = "download") -> str:
    """A plain-ASCII stand-in for `stem` + `extension`: letters, digits, `._ -` only.

    Accents are dropped (Zoë → Zoe), anything else becomes `_`; `extension` (".csv") is
    added unless the stem already ends in it.
    """
    decomposed = unicodedata.normalize("NFKD", _plain(stem)).encode("ascii", "ignore")
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", decomposed.decode("ascii"))
    safe = re.sub(r"\s+", " ", safe).strip(" ._")[:MAX_NAME].strip(" ._")
    if extension and safe.lower().endswith(extension.lower()):
        return safe
    return (safe or default) + extension


def exact_name(stem: str, extension: str = "") -> str:
    """The name as the user would recognise it: control characters gone, the extension kept."""
    name = re.sub(r"\s+", " ", _plain(stem)).strip()[:MAX_NAME].strip() or "download"
    if extension and not name.lower().endswith(extension.lower()):
        name += extension
    return name


def disposition(name: str, fallback: str) -> str:
    """An attachment header offering `name`, and `fallback` to clients without RFC 5987."""
    exact = quote(exact_name(name), safe=ATTR_CHARS)
    return f"attachment; filename=\"{ascii_fallback(fallback)}\"; filename*=UTF-8''{exact}"


def content_disposition(stem: str, extension: str = "") -> str:
    """An attachment header for the file `stem` + `extension` (RFC 6266, RFC 5987)."""
    return disposition(exact_name(stem, extension), ascii_fallback(stem, extension))


def as_download(response: R, stem: str, extension: str = "") -> R:
    """The response, saved by the browser as `stem` + `extension`, never cached."""
    response.headers["Content-Disposition"] = content_disposition(stem, extension)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
