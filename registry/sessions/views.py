"""Pages for sessions: one's own list (end one, end all others); an admin ends a user's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, logout_user

from registry import security_log
from registry.access import roles_required
from registry.extensions import db
from registry.fields import RegistryForm
from registry.models import User, UserSession
from registry.sessions import services
from registry.vocabulary import Role

bp = Blueprint("sessions", __name__)


class EndSessionsForm(RegistryForm):
    """A button: the form is only its CSRF token (checked for every POST by CSRFProtect, so
    an invalid submit here is a language switch: the page is shown again)."""


def _ended_message(count: int) -> str:
    return ngettext("%(num)d session ended.", "%(num)d sessions ended.", count)


@bp.get("/account/sessions")
@login_required
def own() -> ResponseReturnValue:
    return render_template(
        "sessions/own.html",
        records=services.open_sessions(current_user.id),
        current_id=services.current_session_id(),
        form=EndSessionsForm(),
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_own(session_id: int) -> ResponseReturnValue:
    record = db.get_or_404(UserSession, session_id)
    if record.user_id != current_user.id:
        abort(404)
    if not EndSessionsForm().validate_on_submit():
        return redirect(url_for("sessions.own"))
    if record.id == services.current_session_id():
        logout_user()  # ends this record, like the sign-out button
        flash(_("You are signed out."), "info")
        return redirect(url_for("auth.login"))
    services.end_one(record, "by_user")
    security_log.record(
        "session.ended_by_user",
        user_id=current_user.id,
        email=current_user.email,
        session=record.id,
    )
    flash(_ended_message(1), "success")
    return redirect(url_for("sessions.own"))


@bp.post("/account/sessions/end-others")
@login_required
def end_others() -> ResponseReturnValue:
    if not EndSessionsForm().validate_on_submit():
        return redirect(url_for("sessions.own"))
    count = services.end_all(current_user, "by_user", keep_current=True)
    security_log.record(
        "session.ended_by_user", user_id=current_user.id, email=current_user.email, count=count
    )
    flash(_ended_message(count), "success")
    return redirect(url_for("sessions.own"))


@bp.post("/users/<int:user_id>/sessions/end")
@roles_required(Role.ADMIN)
def end_for_user(user_id: int) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id)
    if not EndSessionsForm().validate_on_submit():
        return redirect(url_for("users.edit", user_id=user.id))
    # An admin ending their own sessions here keeps the one they are using.
    count = services.end_all(user, "by_admin", keep_current=user.id == current_user.id)
    security_log.record(
        "session.ended_by_admin",
        user_id=user.id,
        email=user.email,
        admin_id=current_user.id,
        count=count,
    )
    flash(_ended_message(count), "success")
    return redirect(url_for("users.edit", user_id=user.id))
