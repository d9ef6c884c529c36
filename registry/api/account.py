"""A signed-in user's personal API tokens: list (created, expires, last used), create, revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from registry import security_log
from registry.api import tokens
from registry.api.forms import RevokeForm, TokenForm
from registry.api.views import clock
from registry.refusals import Refused, show_refusal

bp = Blueprint("api_tokens", __name__, url_prefix="/account/tokens")


def _page(form: TokenForm, secret: str | None = None, status: int = 200) -> ResponseReturnValue:
    response = render_template(
        "api/tokens.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=tokens.tokens_of(current_user),
        now=clock(),
        secret=secret,
    )
    # The page may show a secret once: never cache it.
    return response, status, {"Cache-Control": "no-store"}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    return _page(TokenForm())


@bp.post("/")
@login_required
def create() -> ResponseReturnValue:
    form = TokenForm()
    if form.validate_on_submit():
        try:
            days = int(form.days.data)
            token, secret = tokens.create(current_user, form.name.data, days, clock())
        except Refused as err:
            show_refusal(err, form)
        else:
            security_log.record(
                "api.token_created",
                user_id=current_user.id,
                email=current_user.email,
                token_id=token.id,
                expires_at=token.expires_at.isoformat(),
            )
            # Shown here once, on the answer to the POST; never stored, never shown again.
            return _page(TokenForm(formdata=None), secret=secret)
    return _page(form, status=422)


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id: int) -> ResponseReturnValue:
    if not RevokeForm().validate_on_submit():
        abort(400)
    token = tokens.revoke(current_user, token_id, clock())
    if token is None:
        abort(404)
    security_log.record(
        "api.token_revoked", user_id=current_user.id, email=current_user.email, token_id=token.id
    )
    flash(_("Token “%(name)s” revoked.", name=token.name), "success")
    return redirect(url_for("api_tokens.index"))
