"""Error pages: 404, 409 (someone else changed the record), CSRF refusals and 500."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from registry.concurrency import StaleEdit
from registry.extensions import db


def conflict_page(obj: object | None = None) -> tuple[str, int]:
    """The page that says someone else changed the record; nothing was saved."""
    db.session.rollback()
    return render_template("errors/conflict.html", obj=obj), 409


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StaleEdit)
    def stale_edit(err: StaleEdit) -> tuple[str, int]:
        return conflict_page(err.obj)

    @app.errorhandler(StaleDataError)
    def stale_flush(err: StaleDataError) -> tuple[str, int]:
        return conflict_page(None)

    @app.errorhandler(CSRFError)
    def csrf_refused(err: CSRFError) -> tuple[str, int]:
        reason = _(
            "The form had expired or did not come from this registry, so nothing was saved. "
            "Go back, reload the page and send the form again."
        )
        return render_template("errors/error.html", code=400, reason=reason), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int]:
        code = err.code or 500
        reason = _own_description(err)
        return render_template("errors/error.html", code=code, reason=reason), code


def _own_description(err: HTTPException) -> str | None:
    """The reason the app gave (translated where it refused); None for Werkzeug's English one."""
    default = type(err).description
    return err.description if err.description and err.description != default else None
