"""Invitation pages: a coordinator invites a partner's contact; the contact accepts."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user

from registry.access import EDITORS, editable_or_404, roles_required
from registry.applications.mailing import send_after_commit
from registry.ids import id_arg
from registry.invitations import services as invitation_services
from registry.invitations.forms import AcceptForm, InviteForm
from registry.mail import message
from registry.models import Invitation, Partner
from registry.models.columns import utcnow
from registry.refusals import Refused, show_refusal

bp = Blueprint("invitations", __name__, url_prefix="/invitations")


def invitation_mail(invitation: Invitation, token: str) -> tuple[str, str]:
    """The subject and body of an invitation (in the sender's page language)."""
    link = url_for("invitations.accept", token=token, _external=True)
    subject = _("Your account for %(partner)s", partner=invitation.partner.name)
    body = _(
        "The district's partnership office invites you to create an account for "
        "%(partner)s in the partnership registry.\n\n"
        "Open this link within 7 days to choose your name and password (it works once):\n"
        "%(link)s\n",
        partner=invitation.partner.name,
        link=link,
    )
    return subject, body


def mail_invitation(invitation: Invitation, token: str) -> None:
    """Send the invitation once committed; if mail fails, the page says so and gives the link."""
    subject, body = invitation_mail(invitation, token)
    link = url_for("invitations.accept", token=token, _external=True)
    send_after_commit(
        [message([invitation.email], subject, body)],
        _(
            "The invitation is saved but the email could not be sent. "
            "Give %(email)s this link yourself: %(link)s",
            email=invitation.email,
            link=link,
        ),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*EDITORS)
def new() -> ResponseReturnValue:
    partner_id = id_arg("partner_id")
    if partner_id is None:
        abort(404)
    partner = editable_or_404(Partner, partner_id)
    form = InviteForm()
    if request.method == "GET":
        form.email.data = partner.email
    if form.validate_on_submit():
        try:
            invitation, token = invitation_services.invite(
                partner, form.email.data or "", current_user, utcnow()
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            mail_invitation(invitation, token)
            flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return redirect(url_for("partners.detail", partner_id=partner.id))
    status = 400 if request.method == "POST" else 200
    pending = invitation_services.pending_of(partner.id, utcnow())
    return (
        render_template("invitations/new.html", form=form, partner=partner, pending=pending),
        status,
    )


@bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    invitation = invitation_services.find(token)
    if invitation is None:
        abort(404)
    reason = invitation_services.problem(invitation, utcnow())
    if reason:
        return render_template("invitations/unusable.html", reason=reason), 410
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            user = invitation_services.accept(
                invitation, form.name.data or "", form.password.data or "", utcnow()
            )
        except Refused as err:
            show_refusal(err, form)
        else:
            login_user(user)
            flash(_("Welcome, %(name)s: your account is ready.", name=user.name), "success")
            return redirect(url_for("partners.mine"))
    status = 400 if request.method == "POST" else 200
    return render_template("invitations/accept.html", form=form, invitation=invitation), status
