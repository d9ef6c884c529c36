"""Sign in and out."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from registry import security_log
from registry.auth import throttle
from registry.auth.forms import LoginForm
from registry.auth.services import authenticate

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        verdict = throttle.check(email, request.remote_addr)
        if not verdict.allowed:
            # Refused before the password is looked at: the same answer for every address.
            form.form_errors.append(_retry_message(verdict))
            security_log.record("login.throttled", email=email, wait_seconds=_seconds(verdict))
            return render_template("auth/login.html", form=form), 429
        user = authenticate(email, form.password.data or "")
        if user is None:
            verdict = throttle.record_failure(email, request.remote_addr)
            security_log.record("login.failure", email=email)
            message = _("That email and password do not match an active account.")
            if verdict.locked:
                security_log.record("login.locked", email=email, wait_seconds=_seconds(verdict))
            if not verdict.allowed:
                message += " " + _retry_message(verdict)
            form.password.errors.append(message)
        else:
            throttle.record_success(email)
            login_user(user)
            security_log.record("login.success", user_id=user.id, email=user.email)
            flash(_("Signed in as %(email)s.", email=user.email), "success")
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")) or url_for("main.dashboard"))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


def _seconds(verdict: throttle.Verdict) -> int:
    return max(1, math.ceil(verdict.wait.total_seconds()))


def _retry_message(verdict: throttle.Verdict) -> str:
    """When the next attempt will be looked at, in whole minutes or seconds."""
    seconds = _seconds(verdict)
    if seconds >= 60:
        minutes = math.ceil(seconds / 60)
        return ngettext(
            "Too many failed sign-ins. Try again in %(num)d minute.",
            "Too many failed sign-ins. Try again in %(num)d minutes.",
            minutes,
        )
    return ngettext(
        "Too many failed sign-ins. Try again in %(num)d second.",
        "Too many failed sign-ins. Try again in %(num)d seconds.",
        seconds,
    )


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/logout")
def logout_page() -> ResponseReturnValue:
    """A GET shows a confirm button: signing out is a POST, so a link on another site can't."""
    return render_template("auth/logout.html")
