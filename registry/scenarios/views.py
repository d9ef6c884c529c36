"""Pages for allocation scenarios (to be built)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from registry.access import READERS, roles_required

bp = Blueprint("scenarios", __name__, url_prefix="/scenarios")


@bp.get("/")
@roles_required(*READERS)
def index() -> ResponseReturnValue:
    return render_template("main/dashboard.html")
