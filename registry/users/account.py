"""A signed-in user's own settings: the language of their mail and notifications."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required

from registry.refusals import Refused, show_refusal
from registry.users import services
from registry.users.forms import LanguageForm

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/language", methods=["GET", "POST"])
@login_required
def language() -> ResponseReturnValue:
    form = LanguageForm()
    if request.method == "GET":
        form.locale.data = current_user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]
    if form.validate_on_submit():
        try:
            services.set_locale(current_user, form.locale.data or "")
        except Refused as err:
            show_refusal(err, form)
        else:
            session["lang"] = current_user.locale  # the pages follow the choice too
            refresh()
            flash(_("Your language is saved."), "success")
            return redirect(url_for("account.language"))
    status = 400 if request.method == "POST" else 200
    return render_template("users/language.html", form=form), status
