"""Two-step sign-in: the code page of sign-in, one's own set-up page, an admin's reset."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from registry import security_log, unit_of_work
from registry.access import roles_required
from registry.auth import throttle
from registry.auth.views import _retry_message, _seconds
from registry.extensions import db
from registry.mfa import login as pending_login
from registry.mfa import services
from registry.mfa.forms import AdminResetForm, CodeForm, ConfirmForm, DisableForm, StartForm
from registry.models import User
from registry.refusals import Refused, show_refusal
from registry.sessions.services import end_all
from registry.vocabulary import Role

bp = Blueprint("mfa", __name__)

# Pages a user who must set up two-step sign-in may still open.
_OPEN_BEFORE_ENROLMENT = {
    "mfa.setup",
    "mfa.start",
    "mfa.confirm",
    "auth.change_password",
    "auth.logout",
    "auth.logout_page",
    "static",
}


@bp.before_app_request
def _force_enrolment() -> ResponseReturnValue | None:
    """A user whose role requires a second factor sees nothing else until it is set up."""
    if (
        current_user.is_authenticated
        and request.endpoint not in _OPEN_BEFORE_ENROLMENT
        and services.enrolment_owed(current_user)
    ):
        return redirect(url_for("mfa.setup"))
    return None


@bp.route("/login/code", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    found = pending_login.pending()
    if found is None:
        flash(_("Sign in again: the time to give the code ran out."), "info")
        return redirect(url_for("auth.login"))
    user, next_page = found
    form = CodeForm()
    if form.validate_on_submit():
        verdict = throttle.check(user.email, request.remote_addr)
        if not verdict.allowed:
            form.form_errors.append(_retry_message(verdict))
            security_log.record(
                "login.throttled", user_id=user.id, email=user.email, wait_seconds=_seconds(verdict)
            )
            return render_template("mfa/verify.html", form=form), 429
        used = services.verify(user, form.code.data or "")
        if used is None:
            unit_of_work.roll_back()  # nothing to keep; SQLite's write lock must be free
            verdict = throttle.record_failure(user.email, request.remote_addr)
            security_log.record("mfa.failure", user_id=user.id, email=user.email)
            message = _("That code is not right, or was already used.")
            if not verdict.allowed:
                message += " " + _retry_message(verdict)
            form.code.errors.append(message)
        else:
            throttle.record_success(user.email)
            pending_login.finish()
            login_user(user)
            kind = "mfa.recovery_used" if used == "recovery" else "mfa.used"
            security_log.record(kind, user_id=user.id, email=user.email)
            flash(_("Signed in as %(email)s.", email=user.email), "success")
            if used == "recovery":
                flash(
                    _(
                        "You used a recovery code; %(count)s are left. "
                        "Make new ones on your two-step sign-in page if you are running low.",
                        count=services.recovery_codes_left(user),
                    ),
                    "info",
                )
            if user.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(next_page or url_for("main.dashboard"))
    status = 400 if request.method == "POST" else 200
    return render_template("mfa/verify.html", form=form), status


@bp.get("/account/mfa")
@login_required
def setup() -> ResponseReturnValue:
    """On: the status and the way to turn it off. Off: the set-up (QR code) if started."""
    if services.is_enrolled(current_user):
        return render_template(
            "mfa/status.html",
            form=DisableForm(),
            codes_form=CodeForm(),
            left=services.recovery_codes_left(current_user),
            required=services.is_required(current_user),
        )
    return _setup_page(ConfirmForm(), 200)


def _setup_page(form: ConfirmForm, status: int) -> ResponseReturnValue:
    secret = services.pending_secret(current_user)
    qr = None
    if secret is not None:
        qr = services.qr_data_uri(services.provisioning_uri(current_user, secret))
    return render_template(
        "mfa/setup.html",
        form=form,
        secret=secret,
        qr=qr,
        required=services.is_required(current_user),
        reset=mfa_admin_state(current_user) == "owed",
    ), status


@bp.post("/account/mfa/start")
@login_required
def start() -> ResponseReturnValue:
    if not StartForm().validate_on_submit():
        return redirect(url_for("mfa.setup"))
    try:
        services.start_enrolment(current_user)
    except Refused as err:
        show_refusal(err)
    return redirect(url_for("mfa.setup"))


@bp.post("/account/mfa/confirm")
@login_required
def confirm() -> ResponseReturnValue:
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            codes = services.confirm_enrolment(current_user, form.code.data or "")
        except Refused as err:
            security_log.record("mfa.failure", user_id=current_user.id, email=current_user.email)
            show_refusal(err, form)
        else:
            security_log.record("mfa.enrolled", user_id=current_user.id, email=current_user.email)
            flash(_("Two-step sign-in is on."), "success")
            # Shown once, in the answer to this POST: they are stored only as hashes.
            return render_template("mfa/recovery_codes.html", codes=codes)
    return _setup_page(form, 400)


@bp.post("/account/mfa/recovery-codes")
@login_required
def recovery_codes() -> ResponseReturnValue:
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = services.new_recovery_codes(current_user, code=form.code.data or "")
        except Refused as err:
            security_log.record("mfa.failure", user_id=current_user.id, email=current_user.email)
            show_refusal(err)
        else:
            security_log.record(
                "mfa.recovery_codes_replaced", user_id=current_user.id, email=current_user.email
            )
            return render_template("mfa/recovery_codes.html", codes=codes)
    return redirect(url_for("mfa.setup"))


@bp.post("/account/mfa/disable")
@login_required
def disable() -> ResponseReturnValue:
    form = DisableForm()
    if form.validate_on_submit():
        try:
            services.disable(
                current_user, password=form.password.data or "", code=form.code.data or ""
            )
        except Refused as err:
            show_refusal(err, form)
            if err.field in ("password", "code"):
                throttle.record_failure(current_user.email, request.remote_addr)
            security_log.record("mfa.failure", user_id=current_user.id, email=current_user.email)
        else:
            security_log.record("mfa.disabled", user_id=current_user.id, email=current_user.email)
            flash(_("Two-step sign-in is off."), "info")
            return redirect(url_for("mfa.setup"))
    return render_template(
        "mfa/status.html",
        form=form,
        codes_form=CodeForm(),
        left=services.recovery_codes_left(current_user),
        required=services.is_required(current_user),
    ), 400


# ---- an administrator's reset (lost phone and recovery codes) -----------------------


def _reset_form() -> AdminResetForm:
    return AdminResetForm(prefix="mfa_reset")


@bp.app_template_global()
def mfa_admin_state(user: User) -> str:
    """For an account's admin page: "on", "owed" (reset, not set up again), "off"."""
    found = services.credential(user)
    if found is None:
        return "off"
    if found.confirmed_at is not None:
        return "on"
    return "owed" if found.reset_at is not None else "off"


@bp.app_template_global()
def mfa_reset_form() -> AdminResetForm:
    return _reset_form()


@bp.route("/users/<int:user_id>/mfa/reset", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def admin_reset(user_id: int) -> ResponseReturnValue:
    """Reset a user's two-step sign-in: they set it up again at their next sign-in."""
    user = db.get_or_404(User, user_id)
    if mfa_admin_state(user) != "on":
        flash(
            _("Two-step sign-in of %(email)s is not on: nothing to reset.", email=user.email),
            "info",
        )
        return redirect(url_for("users.edit", user_id=user.id))
    form = _reset_form()
    if form.validate_on_submit():
        services.reset(user)
        # A session opened with the lost phone must not outlive the reset.
        ended = end_all(user, "mfa_reset", keep_current=user.id == current_user.id)
        security_log.record(
            "mfa.reset",
            user_id=user.id,
            email=user.email,
            admin_id=current_user.id,
            by="admin",
            sessions_ended=ended,
        )
        flash(
            _(
                "Two-step sign-in of %(email)s is reset: they set it up again when they "
                "next sign in.",
                email=user.email,
            ),
            "success",
        )
        return redirect(url_for("users.edit", user_id=user.id) + "#mfa")
    status = 400 if request.method == "POST" else 200
    return render_template(
        "mfa/admin_reset.html", user=user, form=form, state=mfa_admin_state(user)
    ), status
