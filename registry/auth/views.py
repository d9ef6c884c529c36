"""Sign in and out."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required, login_user, logout_user

from registry import security_log
from registry.auth import services, throttle
from registry.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
)
from registry.auth.services import authenticate
from registry.mail import MailError, message, send
from registry.mfa import login as mfa_login
from registry.models import User
from registry.refusals import Refused, show_refusal
from registry.unit_of_work import after_commit

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
        elif mfa_login.second_step_needed(user):
            # Not signed in yet: a code from the authenticator app comes first (and only a
            # right code clears the account's throttle counter).
            return mfa_login.begin(user, _safe_next(request.args.get("next")))
        else:
            throttle.record_success(email)
            login_user(user)
            flash(_("Signed in as %(email)s.", email=user.email), "success")
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next(request.args.get("next")) or url_for("main.dashboard"))
    signed_out = request.method == "GET" and request.args.get("signed_out") == "1"
    return render_template("auth/login.html", form=form, signed_out=signed_out), (
        200 if not form.errors else 400
    )


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
    logout_user()  # ends the session's record too (registry.sessions)
    # The browser drops this site's cookies and storage, and a flash with them (it is
    # kept in the session cookie): the sign-in page says "signed out" from its address.
    response = redirect(url_for("auth.login", signed_out=1))
    response.headers["Clear-Site-Data"] = '"cookies", "storage"'
    return response


@bp.get("/logout")
def logout_page() -> ResponseReturnValue:
    """A GET shows a confirm button: signing out is a POST, so a link on another site can't."""
    return render_template("auth/logout.html")


# ---- passwords: one's own change, the forced change, the emailed reset ---------------------

# Pages a user who must change their password may still open.
_OPEN_DURING_FORCED_CHANGE = {"auth.change_password", "auth.logout", "auth.logout_page", "static"}


@bp.before_app_request
def _force_password_change() -> ResponseReturnValue | None:
    """After an admin chose a user's password, the user sees nothing until they choose their own."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in _OPEN_DURING_FORCED_CHANGE
    ):
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        # Guessing the current password from a borrowed session is throttled like signing in.
        verdict = throttle.check(current_user.email, request.remote_addr)
        if not verdict.allowed:
            form.form_errors.append(_retry_message(verdict))
            return render_template("auth/change_password.html", form=form, forced=False), 429
        try:
            services.change_password(
                current_user, current=form.current.data or "", new=form.password.data or ""
            )
        except Refused as err:
            if err.field == "current":
                throttle.record_failure(current_user.email, request.remote_addr)
                security_log.record(
                    "password.change_failure", user_id=current_user.id, email=current_user.email
                )
            show_refusal(err, form)
        else:
            throttle.record_success(current_user.email)
            security_log.record(
                "password.changed", user_id=current_user.id, email=current_user.email
            )
            flash(_("Your password is changed."), "success")
            return redirect(url_for("main.dashboard"))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "auth/change_password.html", form=form, forced=current_user.must_change_password
    ), status


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        started = services.start_reset(form.email.data or "")
        if started is not None:
            user, token = started
            _mail_reset_link(user, token)
            security_log.record("password.reset_requested", user_id=user.id, email=user.email)
        # The same answer whether or not the account exists.
        flash(
            _(
                "If %(email)s belongs to an active account, a link to choose a new password "
                "is on its way. It works once, within %(minutes)s minutes.",
                email=form.email.data,
                minutes=services.reset_minutes(),
            ),
            "info",
        )
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "auth/forgot_password.html", form=form, minutes=services.reset_minutes()
    ), status


def _mail_reset_link(user: User, token: str) -> None:
    link = url_for("auth.reset_password", token=token, _external=True)
    msg = message(
        [user.email],
        _("Choose a new password for the partnership registry"),
        _(
            "Someone (we hope you) asked to reset the password of %(email)s in the "
            "partnership registry.\n\n"
            "Open this link within %(minutes)s minutes to choose a new password "
            "(it works once):\n%(link)s\n\n"
            "If you did not ask, ignore this email: your password stays as it is.\n",
            email=user.email,
            minutes=services.reset_minutes(),
            link=link,
        ),
    )

    def deliver() -> None:
        try:
            send([msg])
        except MailError as err:
            # The page must not tell whether the account exists, so the failure is only logged.
            current_app.logger.error("password reset mail to %s not sent: %s", user.email, err)

    after_commit(deliver)


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    if services.reset_token(token) is None:
        return render_template("auth/reset_password.html", form=None), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(token, form.password.data or "")
        except Refused as err:
            show_refusal(err, form)
        else:
            throttle.record_success(user.email)  # a locked-out user may sign in with it now
            security_log.record("password.reset", user_id=user.id, email=user.email)
            flash(_("Your new password is set. Sign in with it."), "success")
            return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/reset_password.html", form=form), status
