"""HTTP caching for the directory: short public lifetimes, and ETags known before rendering.

The ETag is a hash of what a page depends on: the listing's fingerprint (one
query of counts and version sums), the district's date, the page language, the
address with its query, and the code that renders it. A visitor who sends it
back gets a 304 without the page being built; any other visitor asking for the
same page gets the body rendered for the first (kept in the process, by ETag).
The fingerprint itself is reused for a few seconds (`DIRECTORY_FRESH_S`,
default 2): a change shows within that, then within the visitors' max-age.

The language is chosen from `?lang=`, else the session cookie, else
Accept-Language, so responses vary on Cookie and Accept-Language. A response
that sets a cookie (a visitor's language remembered, a signed-in user's
session refreshed) is private: a shared cache must never hand it to another.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import cache, wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, make_response, request, session
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from werkzeug.wrappers import Response

from registry import district_time
from registry.directory.listing import fingerprint

MAX_AGE_S = 300
FRESH_S = 2.0
PAGES_KEPT = 512
P = ParamSpec("P")
T = TypeVar("T")


class RenderedPages:
    """The most recently asked-for pages' bodies, by ETag (thread-safe, bounded)."""

    def __init__(self, size: int = PAGES_KEPT) -> None:
        self.size = size
        self._pages: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._fingerprint: tuple[float, tuple[str, ...]] | None = None
        self._derived: dict[str, tuple[tuple[str, ...], object]] = {}

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._pages.get(etag)
            if body is not None:
                self._pages.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        with self._lock:
            self._pages[etag] = body
            self._pages.move_to_end(etag)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def fingerprint(self, fresh_s: float) -> tuple[str, ...]:
        """The listing's fingerprint, asked of the database at most once per `fresh_s`."""
        now = time.monotonic()
        kept = self._fingerprint
        if kept is not None and now < kept[0]:
            return kept[1]
        value = tuple(str(part) for part in fingerprint(district_time.today()))
        self._fingerprint = (now + fresh_s, value)
        return value

    def derived(self, name: str, compute: Callable[[], T]) -> T:
        """A figure drawn from the listing (the languages served), computed once per fingerprint."""
        current = self._fingerprint[1] if self._fingerprint else None
        kept = self._derived.get(name)
        if kept is not None and current is not None and kept[0] == current:
            return kept[1]  # type: ignore[return-value]
        value = compute()
        if current is not None:
            self._derived[name] = (current, value)
        return value


def _pages(app: Flask) -> RenderedPages:
    return app.extensions.setdefault("directory_pages", RenderedPages())


@cache
def _code_version(*folders: str) -> str:
    """A hash of the templates, styles and catalogs the pages are built from (once a process)."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and path.suffix in {".html", ".css", ".mo", ".py"}:
                digest.update(str(path.name).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _sources() -> tuple[str, ...]:
    package = Path(__file__).resolve().parent
    templates = Path(current_app.jinja_loader.searchpath[0]) / "directory"  # type: ignore[union-attr]
    return (str(package), str(templates), str(package.parent / "translations"))


def code_version(app: Flask) -> str:
    """The hash of the directory's code, kept on the app (resolving its folders costs syscalls)."""
    kept = app.extensions.get("directory_code_version")
    if kept is None:
        kept = app.extensions["directory_code_version"] = _code_version(*_sources())
    return str(kept)


def page_etag() -> str:
    """The ETag of the page this request asks for (without the W/ prefix or quotes)."""
    parts = (
        code_version(current_app),
        str(get_locale() or "en"),
        request.path,
        request.query_string.decode("latin-1"),
        *_pages(current_app).fingerprint(current_app.config.get("DIRECTORY_FRESH_S", FRESH_S)),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _sets_a_cookie() -> bool:
    interface = current_app.session_interface
    return bool(session.modified or interface.should_set_cookie(current_app, session))


def _headers(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    response.vary.update(("Accept-Language", "Cookie"))
    response.cache_control.max_age = MAX_AGE_S
    response.cache_control.public = True
    return response


def finish_caching(response: Response) -> Response:
    """After the request (the session is settled): a response setting a cookie stays private."""
    if response.cache_control.public and _sets_a_cookie():
        response.cache_control.public = False
        response.cache_control.private = True
    return response


def cached_page(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Answer If-None-Match with a 304 before building the page; mark the page cacheable."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        etag = page_etag()
        if request.if_none_match.contains_weak(etag):
            return _headers(Response(status=304), etag)
        pages = _pages(current_app)
        body = pages.get(etag)
        if body is not None:
            return _headers(Response(body, mimetype="text/html"), etag)
        response = make_response(view(*args, **kwargs))
        if response.status_code != 200:
            return response
        pages.put(etag, response.get_data())
        return _headers(response, etag)

    return wrapped


def derived(name: str, compute: Callable[[], T]) -> T:
    """`compute()`, or its value kept since the listing last changed (call after the ETag)."""
    return _pages(current_app).derived(name, compute)


DIRECTORY_TEMPLATES = ("base", "_macros", "index", "service", "schools", "school")


def warm(app: Flask) -> None:
    """Do now, at start-up, what the first visitors' requests would otherwise wait for.

    Each gunicorn worker builds its own app, so each would compile the directory's
    templates, hash its sources (the ETag's code version) and load each language's
    catalogue on first use: tens of milliseconds of CPU apiece, in the middle of a rush.
    """
    from flask_babel import force_locale, get_translations

    for name in DIRECTORY_TEMPLATES:
        app.jinja_env.get_template(f"directory/{name}.html")
    with app.test_request_context("/directory/"):
        code_version(app)
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()
