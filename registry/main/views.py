"""The dashboard and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import text

from registry import district_time
from registry.extensions import db
from registry.main import dashboard as figures
from registry.vocabulary import MOUStatus, PartnerStatus, Role

bp = Blueprint("main", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer ok only after a real round trip to the database."""
    try:
        db.session.execute(text("SELECT 1")).scalar_one()
    except Exception:  # any database failure means not healthy (the 503 rolls back)
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/")
@login_required
def dashboard() -> ResponseReturnValue:
    """The registry at a glance for district staff; partners go to their own record."""
    if current_user.role == Role.PARTNER:
        return redirect(url_for("partners.mine"))
    return render_template(
        "main/dashboard.html",
        board=figures.dashboard(district_time.today()),
        window=figures.EXPIRY_WINDOW_DAYS,
        PartnerStatus=PartnerStatus,
        MOUStatus=MOUStatus,
    )
