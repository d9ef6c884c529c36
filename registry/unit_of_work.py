"""One unit of work per request: commit when a state-changing request ends well, else roll back.

Views and services never commit. `RegistryFlask.dispatch_request` ends every
request here, inside Flask's error handling, so a failed commit (a stale edit,
a constraint) reaches the error handlers like any other exception. A request
that is safe (GET, HEAD, OPTIONS) runs read-only: a flush during one raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, g, has_request_context, request
from flask.typing import ResponseReturnValue
from sqlalchemy import event
from sqlalchemy.orm import Session

from registry.extensions import db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteDuringSafeRequest(RuntimeError):
    """Something tried to write to the database while serving a GET, HEAD or OPTIONS."""


def roll_back() -> None:
    """Discard this request's changes now, and commit nothing when it ends."""
    db.session.rollback()
    if has_request_context():
        g.unit_of_work_refused = True


def after_commit(action: Callable[[], None]) -> None:
    """Do something once this request's changes are committed (never, if they are not).

    For work that others must see committed first, e.g. handing a new run to a worker.
    """
    g.setdefault("unit_of_work_after_commit", []).append(action)


def _forget() -> tuple[bool, list[Callable[[], None]]]:
    # `g` lives as long as the app context, which may outlast the request (a test's, a
    # CLI's): this request's verdict and pending work must not reach the next one.
    return g.pop("unit_of_work_refused", False), g.pop("unit_of_work_after_commit", [])


def finish(status_code: int) -> None:
    """End the request's unit of work: commit a state-changing request that ended well."""
    refused, after = _forget()
    if request.method not in SAFE_METHODS and status_code < 400 and not refused:
        db.session.commit()
        for action in after:
            action()
    else:
        db.session.rollback()


def _refuse_writes_during_safe_requests(session: Session, *_: Any) -> None:
    if has_request_context() and request.method in SAFE_METHODS:
        raise WriteDuringSafeRequest(
            f"{request.method} {request.path} tried to write to the database; "
            "a safe request is read-only"
        )


class RegistryFlask(Flask):
    """Flask, with every view's unit of work ended in one place."""

    def dispatch_request(self) -> ResponseReturnValue:
        try:
            response = self.make_response(super().dispatch_request())
            finish(response.status_code)
        except BaseException:
            # An abort, a failed commit or a bug: nothing of this request is kept.
            _forget()
            db.session.rollback()
            raise
        return response


def _begin() -> None:
    _forget()  # nothing left from an earlier request that ended outside `finish`


def init_app(app: Flask) -> None:
    """Make safe requests read-only (checked at every flush, whichever session flushes)."""
    app.before_request(_begin)
    if not getattr(init_app, "_listening", False):
        event.listen(Session, "before_flush", _refuse_writes_during_safe_requests)
        init_app._listening = True  # type: ignore[attr-defined]
