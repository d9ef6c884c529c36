"""Error pages: 400 (bad input), 404, 409 (someone else changed the record), CSRF refusals, 500.

Input the database cannot take is refused here, clearly, before it reaches a
query: a NUL character in any field (PostgreSQL cannot store one in text) is a
400 with a message; ids out of range are bounded in `registry.ids`. A value
that still slips past (a DataError) is a 400 too, never a 500.
"""

from __future__ import annotations

from flask import Flask, abort, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from registry.concurrency import StaleEdit
from registry.security_log import record
from registry.unit_of_work import SAFE_METHODS


def conflict_page(obj: object | None = None) -> tuple[str, int]:
    """The page that says someone else changed the record; nothing was saved."""
    return render_template("errors/conflict.html", obj=obj), 409


def _holds_nul(pairs: list[tuple[str, str]]) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def refuse_nul_bytes() -> None:
    """A NUL character in a query or form field is a 400 that says so."""
    pairs = list(request.args.items(multi=True))
    if request.method not in SAFE_METHODS:  # a safe request has no form to read
        pairs += list(request.form.items(multi=True))
    if _holds_nul(pairs):
        abort(
            400,
            description=_(
                "A field holds a NUL character (\\0), which the registry cannot store. "
                "Remove it and try again."
            ),
        )


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_nul_bytes)

    @app.errorhandler(StaleEdit)
    def stale_edit(err: StaleEdit) -> tuple[str, int]:
        return conflict_page(err.obj)

    @app.errorhandler(StaleDataError)
    def stale_flush(err: StaleDataError) -> tuple[str, int]:
        return conflict_page(None)

    @app.errorhandler(DataError)
    def value_out_of_range(err: DataError) -> tuple[str, int]:
        reason = _("A value in the request is outside what the registry can store.")
        return render_template("errors/error.html", code=400, reason=reason), 400

    @app.errorhandler(CSRFError)
    def csrf_refused(err: CSRFError) -> tuple[str, int]:
        record("csrf.failure", reason=err.description)
        reason = _(
            "The form had expired or did not come from this registry, so nothing was saved. "
            "Go back, reload the page and send the form again."
        )
        return render_template("errors/error.html", code=400, reason=reason), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int]:
        code = err.code or 500
        if code == 403:
            record("access.refused", status=403, endpoint=request.endpoint)
        reason = _own_description(err)
        return render_template("errors/error.html", code=code, reason=reason), code


def _own_description(err: HTTPException) -> str | None:
    """The reason the app gave (translated where it refused); None for Werkzeug's English one."""
    default = type(err).description
    return err.description if err.description and err.description != default else None
