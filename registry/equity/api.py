"""JSON for reporting tools: /api/v1/..., answered to a signed-in leader, coordinator or admin.

Errors are JSON too: 401 when not signed in, 404 for other roles (as everywhere,
what a user may not see does not exist), 400 for a bad query parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from registry import district_time
from registry.access import READERS
from registry.equity import services as equity_services
from registry.extensions import db
from registry.ids import to_id
from registry.models.need import NeedIndexDefinition
from registry.schoolyear import is_school_year
from registry.vocabulary import Category, Unit

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify({"error": message}), status


def api_readers(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Signed-in readers only, answering in JSON rather than with a login page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return _error(401, _("Sign in first."))
        if current_user.role not in READERS:
            return _error(404, _("Not found."))
        return view(*args, **kwargs)

    return wrapped


@bp.get("/kpis")
@api_readers
def kpis() -> ResponseReturnValue:
    args = request.args
    year = args.get("year") or equity_services.default_year(district_time.today())
    if not is_school_year(year):
        return _error(400, _("year must be a school year like 2025-26."))
    category = args.get("category") or None
    if category is not None and category not in {c.value for c in Category}:
        return _error(400, _("Unknown category."))
    unit = args.get("unit") or Unit.SEATS.value
    if unit not in {u.value for u in Unit}:
        return _error(400, _("Unknown unit."))
    selection = equity_services.Selection(
        year=year, category=Category(category) if category else None, unit=Unit(unit)
    )
    raw_definition = args.get("definition")
    if raw_definition is None:
        definition = equity_services.opening_definition()
        if definition is None:
            return jsonify(equity_services.kpi_31_only_json(selection))
    else:
        definition_id = to_id(raw_definition)
        definition = db.session.get(NeedIndexDefinition, definition_id) if definition_id else None
        if definition is None:
            return _error(400, _("Unknown need index definition."))
    report = equity_services.equity_report(selection, definition)
    return jsonify(equity_services.report_json(report))
