"""Pages for the need index and the equity dashboard (to be built)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from registry.access import READERS, roles_required

bp = Blueprint("equity", __name__, url_prefix="/equity")


@bp.get("/")
@roles_required(*READERS)
def dashboard() -> ResponseReturnValue:
    return render_template("main/dashboard.html")
