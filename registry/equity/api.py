"""/api/v1/kpis: the equity dashboard's figures as JSON, for reporting tools.

Answered like the rest of /api/v1 (`registry.api.views`): to a bearer token of a
leader, coordinator or admin (the same token rules, rate limit, ETag and JSON
errors; the shape is `registry.api.schemas.KpisOut`, in the OpenAPI document).
A request without an `Authorization` header from a signed-in reader is answered
too, as it always was, so the link on the dashboard works in a browser.
Errors are JSON: 401 without a usable token or session, 404 for other roles (what
a user may not see does not exist) and for a need index definition that does not
exist, 400 for a bad query parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from registry import district_time
from registry.access import READERS
from registry.api.schemas import KpisOut
from registry.api.views import BadRequest, error, json_response, token_required
from registry.equity import services as equity_services
from registry.extensions import db
from registry.ids import to_id
from registry.models.need import NeedIndexDefinition
from registry.schoolyear import is_school_year
from registry.vocabulary import Category, Unit

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def api_readers(view: Callable[..., Response]) -> Callable[..., Response]:
    """A reader's bearer token, or, with no `Authorization` header, a reader's session."""
    by_token = token_required(*READERS)(view)

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        if "Authorization" in request.headers or not current_user.is_authenticated:
            return by_token(*args, **kwargs)
        if current_user.role not in READERS:
            return error(404, _("Not found."))
        try:
            response = view(*args, **kwargs)
        except BadRequest as err:
            return error(400, str(err))
        response.vary.add("Cookie")
        return response

    return wrapped


def _selection() -> equity_services.Selection:
    args = request.args
    year = args.get("year") or equity_services.default_year(district_time.today())
    if not is_school_year(year):
        raise BadRequest(_("year must be a school year like 2025-26."))
    category = args.get("category") or None
    if category is not None and category not in {c.value for c in Category}:
        raise BadRequest(_("Unknown category."))
    unit = args.get("unit") or Unit.SEATS.value
    if unit not in {u.value for u in Unit}:
        raise BadRequest(_("Unknown unit."))
    return equity_services.Selection(
        year=year, category=Category(category) if category else None, unit=Unit(unit)
    )


@bp.get("/kpis")
@api_readers
def kpis() -> Response:
    selection = _selection()
    raw_definition = request.args.get("definition")
    if raw_definition is None:
        definition = equity_services.opening_definition()
        if definition is None:
            body = equity_services.kpi_31_only_json(selection)
            return json_response(KpisOut.model_validate(body))
    else:
        definition_id = to_id(raw_definition)
        if definition_id is None:
            raise BadRequest(_("definition must be a record id."))
        definition = db.session.get(NeedIndexDefinition, definition_id)
        if definition is None:  # a well-formed id of nothing: not found, as everywhere
            return error(404, _("Unknown need index definition."))
    report = equity_services.equity_report(selection, definition, with_matrix=False)
    return json_response(KpisOut.model_validate(equity_services.report_json(report)))
