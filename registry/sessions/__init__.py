"""Sessions (ASVS V7): server-checked records, timeouts, revocation, cookie and cache rules.

`init_app` wires it all: a request hook that checks the cookie's session record before
anything looks at the signed-in user, Flask-Login's sign-in and sign-out signals (so every
`login_user`, wherever it is called, begins a record), a flush hook that ends a user's other
sessions when their password or active flag changes, the `__Host-` cookie name when cookies
are secure, and `Cache-Control: no-store` on signed-in pages.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, flash, g, has_request_context, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, user_logged_in, user_logged_out
from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, Session, UOWTransaction
from werkzeug.wrappers import Response

from registry import security_log
from registry.extensions import db
from registry.models import User
from registry.sessions import services

# Flask-Login's own keys in the session, dropped with an ended session's nonce.
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", services.NONCE_KEY)
# Where an ended session just continues signed out, instead of being sent to sign in.
_NO_REDIRECT = {"static", "auth.login", "auth.logout", "auth.logout_page"}


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: only for a cookie whose session record was checked."""
    if not has_request_context() or g.get("user_session_user_id") != user_id:
        return None
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


def _check_session() -> ResponseReturnValue | None:
    """Before anything reads the signed-in user: is the cookie's session record still good?"""
    # `g` may outlive a request (a test's or a CLI's app context serves several): nothing
    # checked for an earlier request, nor the user Flask-Login loaded for it, may carry over.
    for key in ("user_session_id", "user_session_user_id", "_login_user"):
        g.pop(key, None)
    user_id = session.get("_user_id")
    if user_id is None:
        return None
    verdict = services.check(session.get(services.NONCE_KEY), str(user_id))
    if verdict.session_id is not None:
        g.user_session_id = verdict.session_id
        g.user_session_user_id = str(user_id)
        return None
    for key in _LOGIN_KEYS:
        session.pop(key, None)
    security_log.record("session.refused", user_id=_int(user_id), reason=verdict.reason)
    flash(
        _("Your session ended (signed out, timed out or ended elsewhere). Please sign in again."),
        "info",
    )
    if request.endpoint in _NO_REDIRECT or (request.blueprint or "").startswith("api"):
        return None
    from flask import url_for

    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _signed_in(sender: Flask, user: User, **_: Any) -> None:
    record = services.begin(user)
    security_log.record("session.begun", user_id=user.id, email=user.email, session=record.id)


def _signed_out(sender: Flask, user: User, **_: Any) -> None:
    session_id = services.current_session_id()
    services.end_current("logout")
    if getattr(user, "is_authenticated", False):  # signing out of an ended session: no one
        security_log.record("session.ended", user_id=user.id, email=user.email, session=session_id)


def _revoke_on_account_change(
    db_session: Session, flush_context: UOWTransaction, instances: Any
) -> None:
    """A changed password or active flag ends the user's sessions (but this request's own,
    after a change of one's own password: the user stays signed in where they made it)."""
    for obj in list(db_session.dirty):
        if not isinstance(obj, User):
            continue
        state: InstanceState[User] = inspect(obj)
        reason = ""
        if state.attrs.password_hash.history.has_changes():
            reason = "password"
        if state.attrs.active.history.has_changes():
            reason = "reactivated" if obj.active else "deactivated"
        if not reason:
            continue
        own = has_request_context() and g.get("user_session_user_id") == str(obj.id)
        keep = services.current_session_id() if own and reason == "password" else None
        ended = services._end_in(db_session, obj.id, reason, keep)
        if ended:
            security_log.record(
                "session.revoked", user_id=obj.id, email=obj.email, reason=reason, count=ended
            )


def _no_store(response: Response) -> Response:
    """Signed-in pages are not kept by the browser or a proxy (unless a view chose its caching)."""
    if (
        request.endpoint != "static"
        and "Cache-Control" not in response.headers
        and g.get("user_session_id") is not None
        and current_user.is_authenticated
    ):
        response.headers["Cache-Control"] = "no-store"
    return response


def _host_prefixed_cookie(app: Flask) -> None:
    # __Host- cookies: Secure, path "/", no Domain; browsers refuse them otherwise.
    if app.config.get("SESSION_COOKIE_SECURE") and app.config["SESSION_COOKIE_NAME"] == "session":
        app.config.update(
            SESSION_COOKIE_NAME="__Host-session",
            SESSION_COOKIE_PATH="/",
            SESSION_COOKIE_DOMAIN=None,
        )


def open_session_count(user: User) -> int:
    return len(services.open_sessions(user.id))


def init_app(app: Flask) -> None:
    """Call right after `login_manager.init_app`, before any hook that reads `current_user`."""
    from registry.extensions import login_manager

    _host_prefixed_cookie(app)
    login_manager.user_loader(load_user)
    app.before_request(_check_session)
    app.after_request(_no_store)
    app.jinja_env.globals.update(open_session_count=open_session_count)
    if not getattr(init_app, "_listening", False):
        user_logged_in.connect(_signed_in)
        user_logged_out.connect(_signed_out)
        event.listen(Session, "before_flush", _revoke_on_account_change)
        init_app._listening = True  # type: ignore[attr-defined]
