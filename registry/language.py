"""Switching the page language without losing the page.

On a page fetched by GET, each language is a link to the same address and query
with `lang` set. A page shown in answer to a POST (a form sent back with its
errors) has no address to fetch again: there each language is a button that
sends the form again with `_lang_only` set. Such a submit is validated, so its
errors show in the new language, but never acted on: `RegistryForm` does not
report it as submitted-and-valid, and nothing it did is committed.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Flask, current_app, has_request_context, request, session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from registry import unit_of_work

LANGUAGE_ONLY = "_lang_only"

# Never written into a page: the CSRF token is issued afresh, and passwords are no
# more echoed by the language buttons than by a form sent back with errors.
_NOT_RESENT = frozenset({"csrf_token", LANGUAGE_ONLY, "confirm"})


def _posted() -> MultiDict[str, str]:
    # A body that cannot be read (too large: 413) has no fields to switch or send again.
    try:
        return request.form
    except HTTPException:
        return MultiDict()


def is_language_switch() -> bool:
    """Whether this request only asks to show the posted form in another language."""
    return has_request_context() and request.method == "POST" and LANGUAGE_ONLY in _posted()


def language_url(code: str) -> str:
    """This page's address and query, with the language set to `code`."""
    query = [(key, value) for key, value in request.args.items(multi=True) if key != "lang"]
    query.append(("lang", code))
    return f"{quote(request.script_root + request.path)}?{urlencode(query)}"


def resent_fields() -> list[tuple[str, str]]:
    """The posted fields that the language buttons send again (a fallback without scripts)."""
    return [
        (name, value)
        for name, value in _posted().items(multi=True)
        if name not in _NOT_RESENT and "password" not in name
    ]


def _commit_nothing() -> None:
    if is_language_switch():
        unit_of_work.roll_back()


def _remember_chosen_language() -> None:
    # Here, not when a page is first translated: a ?lang= choice on an address that
    # redirects (or renders nothing translated) is remembered all the same.
    chosen = request.args.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        session["lang"] = chosen


def init_app(app: Flask) -> None:
    """Language links and buttons for the page header; language-only submits change nothing."""
    app.before_request(_remember_chosen_language)
    app.before_request(_commit_nothing)
    app.jinja_env.globals.update(
        language_url=language_url, resent_fields=resent_fields, LANGUAGE_ONLY=LANGUAGE_ONLY
    )
