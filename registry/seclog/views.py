"""/security-events: the security log for admins (filter, page, CSV export)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from registry import security_log
from registry.access import roles_required
from registry.downloads import as_download
from registry.listing import paginate
from registry.seclog import services, signals
from registry.seclog.services import EventFilter
from registry.vocabulary import Role

bp = Blueprint("seclog", __name__)
bp.teardown_app_request(security_log.store_pending)  # each request's events, once it has ended
signals.connect()


def _day(name: str, errors: dict[str, str]) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("Enter a date as YYYY-MM-DD.")
        return None


def _filter() -> tuple[EventFilter, dict[str, str]]:
    errors: dict[str, str] = {}
    kind = request.args.get("kind", "")
    chosen = EventFilter(
        kind=kind if kind in services.KINDS else "",
        email=(request.args.get("email") or "")[:254],
        first=_day("first", errors),
        last=_day("last", errors),
    )
    return chosen, errors


@bp.get("/security-events")
@roles_required(Role.ADMIN)
def index() -> ResponseReturnValue:
    chosen, errors = _filter()
    if request.args.get("format") == "csv" and not errors:
        security_log.record("export", list="security-events", format="csv")
        response = Response(
            stream_with_context(services.csv_lines(chosen)), mimetype="text/csv; charset=utf-8"
        )
        return as_download(response, "security-events", ".csv")
    pagination = paginate(services.filtered(chosen))
    return render_template(
        "seclog/events.html",
        pagination=pagination,
        kinds=services.KINDS,
        errors=errors,
    ), 400 if errors else 200
