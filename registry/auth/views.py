"""Sign in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

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
        user = authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            form.password.errors.append(
                _("That email and password do not match an active account.")
            )
        else:
            login_user(user)
            flash(_("Signed in as %(email)s.", email=user.email), "success")
            return redirect(_safe_next(request.args.get("next")) or url_for("main.dashboard"))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/logout")
def logout_page() -> ResponseReturnValue:
    """A GET shows a confirm button: signing out is a POST, so a link on another site can't."""
    return render_template("auth/logout.html")
