"""The read-only JSON API, /api/v1: every answer serialised by a model of registry.api.schemas.

A token (`Authorization: Bearer prk_...`) stands for its owner: the same role and
partner rules as the pages (registry.access), read only. The session cookie is never
consulted. What the owner may not see does not exist (404). Lists are cursor-paged
in id order; every 200 carries an ETag, and a matching If-None-Match answers 304.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from pydantic import BaseModel
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from registry import district_time, security_log
from registry.access import READERS
from registry.api import tokens
from registry.api.schemas import (
    DirectoryEntry,
    DirectoryPage,
    Error,
    MOUOut,
    MOUPage,
    PartnerOut,
    PartnerPage,
    RunOut,
    SchoolOut,
    SchoolPage,
    ServiceOut,
    ServicePage,
)
from registry.extensions import db
from registry.ids import to_id
from registry.listing import search
from registry.models import MOU, Partner, ScenarioRun, School, Service, User
from registry.models.columns import utcnow
from registry.mous import services as mou_services
from registry.partners import services as partner_services
from registry.schools import services as school_services
from registry.schoolyear import is_school_year
from registry.services import services as service_services
from registry.vocabulary import Category, MOUStatus, PartnerStatus, PartnerType, Role

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
RATE_LIMIT = 600  # requests per token per window
RATE_WINDOW = timedelta(minutes=10)

E = TypeVar("E", bound=enum.Enum)


class BadRequest(Exception):
    """A query parameter the API cannot read: a 400 with the message."""


def clock() -> datetime:
    """Now (tests set API_CLOCK to a callable to move time)."""
    now: Callable[[], datetime] = current_app.config.get("API_CLOCK", utcnow)
    return now()


def json_response(body: BaseModel, status: int = 200) -> Response:
    response = Response(body.model_dump_json(), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Authorization")
    if status == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


def error(status: int, message: str, **headers: str) -> Response:
    response = json_response(Error(error=message), status)
    response.headers.update(headers)
    return response


def api_user() -> User:
    user: User = g.api_user
    return user


def token_required(*roles: Role) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A usable token whose owner has one of the roles; counted against its rate limit."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Response:
            now = clock()
            found = tokens.authenticate(request.headers.get("Authorization"), now)
            if found.token is None:
                if found.problem != "missing":
                    security_log.record("api.token_refused", reason=found.problem)
                challenge = 'Bearer realm="registry"'
                if found.problem != "missing":
                    challenge += ', error="invalid_token"'
                return error(
                    401, _("A valid API token is required."), **{"WWW-Authenticate": challenge}
                )
            token = found.token
            limit = int(current_app.config.get("API_RATE_LIMIT", RATE_LIMIT))
            window = current_app.config.get("API_RATE_WINDOW", RATE_WINDOW)
            use = tokens.count_use(token.id, now, limit, window)
            if not use.allowed:
                security_log.record(
                    "api.rate_limited",
                    user_id=token.user_id,
                    email=token.user.email,
                    token_id=token.id,
                )
                return error(
                    429,
                    _("Too many requests: try again later."),
                    **{"Retry-After": str(use.retry_after)},
                )
            user = token.user
            if user.role not in roles or (user.role == Role.PARTNER and user.partner_id is None):
                return error(404, _("Not found."))
            g.api_user = user
            try:
                response = view(*args, **kwargs)
            except BadRequest as err:
                return error(400, str(err))
            response.headers["X-RateLimit-Remaining"] = str(use.remaining)
            return response

        return wrapped

    return decorator


def public(view: Callable[..., Response]) -> Callable[..., Response]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except BadRequest as err:
            return error(400, str(err))

    return wrapped


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException) -> Response:
    """The app's refusals (a NUL in the query, ...) in JSON here, not as an HTML page."""
    code = err.code or 500
    default = type(err).description
    own = err.description if err.description and err.description != default else None
    return error(code, own or _("Not found.") if code == 404 else own or err.name)


# ---- query parameters -------------------------------------------------------------------


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found = to_id(text)
    if found is None:
        raise BadRequest(_("The cursor is not one this API gave."))
    return found


def limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    raise BadRequest(_("limit must be a whole number from 1 to %(max)d.", max=MAX_LIMIT))


def choice_arg(name: str, choices: type[E]) -> E | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return choices(raw)
    except ValueError:
        raise BadRequest(_("Unknown value for %(name)s.", name=name)) from None


def id_param(name: str) -> int | None:
    raw = request.args.get(name)
    if not raw:
        return None
    found = to_id(raw)
    if found is None:
        raise BadRequest(_("%(name)s must be a record id.", name=name))
    return found


def text_arg(name: str) -> str | None:
    raw = request.args.get(name, "")
    if len(raw) > 200:
        raise BadRequest(_("%(name)s is too long.", name=name))
    return raw.strip() or None


def page_of(stmt: Select[Any], id_column: Any) -> tuple[Sequence[Any], str | None]:
    """One page in id order after the cursor, and the URL of the next (None on the last)."""
    limit = limit_arg()
    cursor = request.args.get("cursor")
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = db.session.scalars(stmt.order_by(None).order_by(id_column).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    args = {**request.args.to_dict(), "cursor": encode_cursor(rows[-1].id), "limit": str(limit)}
    return rows, url_for(str(request.endpoint), **request.view_args or {}, **args, _external=True)


# ---- endpoints --------------------------------------------------------------------------


@bp.get("/partners")
@token_required(*READERS, Role.PARTNER)
def partners() -> Response:
    user = api_user()
    filters = partner_services.PartnerFilters(
        text=text_arg("q"),
        partner_type=choice_arg("partner_type", PartnerType),
        status=choice_arg("status", PartnerStatus),
    )
    stmt = partner_services.partner_query(filters, district_time.today())
    stmt = search(stmt, filters.text, *partner_services.SEARCHED_COLUMNS)
    if user.role == Role.PARTNER:
        stmt = stmt.where(Partner.id == user.partner_id)  # a partner sees its own record only
    rows, next_url = page_of(stmt, Partner.id)
    return json_response(PartnerPage(data=[PartnerOut.of(p) for p in rows], next=next_url))


@bp.get("/services")
@token_required(*READERS, Role.PARTNER)
def services() -> Response:
    user = api_user()
    active = request.args.get("active")
    if active not in (None, "", "true", "false"):
        raise BadRequest(_("active must be true or false."))
    filters = service_services.ServiceFilters(
        text=text_arg("q"),
        category=choice_arg("category", Category),
        partner_id=id_param("partner_id"),
        active={"true": True, "false": False}.get(active or ""),
    )
    own = user.partner_id if user.role == Role.PARTNER else None
    stmt = service_services.service_query(filters, only_partner_id=own)
    stmt = search(stmt, filters.text, *service_services.SEARCHED_COLUMNS)
    rows, next_url = page_of(stmt, Service.id)
    return json_response(ServicePage(data=[ServiceOut.of(s) for s in rows], next=next_url))


@bp.get("/schools")
@token_required(*READERS)
def schools() -> Response:
    stmt = school_services.filtered_schools(
        text=text_arg("q"),
        level=None,
        zip_code=text_arg("zip"),
        no_partner=False,
        school_year=school_services.current_school_year(),
    )
    rows, next_url = page_of(stmt, School.id)
    return json_response(SchoolPage(data=[SchoolOut.of(s) for s in rows], next=next_url))


@bp.get("/mous")
@token_required(*READERS, Role.PARTNER)
def mous() -> Response:
    user = api_user()
    year = text_arg("year")
    if year is not None and not is_school_year(year):
        raise BadRequest(_("year must be a school year like 2025-26."))
    partner_id = id_param("partner_id")
    if user.role == Role.PARTNER:
        if partner_id not in (None, user.partner_id):
            return json_response(MOUPage(data=[], next=None))  # another partner's: none to see
        partner_id = user.partner_id
    filters = mou_services.MOUFilters(
        status=choice_arg("status", MOUStatus), school_year=year, partner_id=partner_id
    )
    stmt = mou_services.filtered(filters, district_time.today())
    if q := text_arg("q"):
        stmt = stmt.where(MOU.id.in_(mou_services.matching_text(q)))
    stmt = stmt.options(selectinload(MOU.schools), selectinload(MOU.commitments))
    rows, next_url = page_of(stmt, MOU.id)
    return json_response(MOUPage(data=[MOUOut.of(m) for m in rows], next=next_url))


@bp.get("/scenarios/<int:scenario_id>/runs/<int:run_id>")
@token_required(*READERS)
def scenario_run(scenario_id: int, run_id: int) -> Response:
    found = db.session.get(ScenarioRun, run_id)
    if found is None or found.scenario_id != scenario_id:
        return error(404, _("Not found."))
    return json_response(RunOut.of(found))


def directory_query(today: Any) -> Select[Any]:
    """The family directory's rule: active services of approved partners with an active MOU
    in force today (the API's own query; the HTML directory keeps the same rule)."""
    in_force = exists().where(
        MOU.partner_id == Partner.id,
        MOU.status == MOUStatus.ACTIVE,
        MOU.start_date <= today,
        MOU.end_date >= today,
    )
    return (
        select(Service)
        .join(Service.partner)
        .options(selectinload(Service.partner))
        .where(Service.active.is_(True), Partner.status == PartnerStatus.APPROVED, in_force)
    )


@bp.get("/directory")
@public
def directory() -> Response:
    stmt = directory_query(district_time.today())
    if (category := choice_arg("category", Category)) is not None:
        stmt = stmt.where(Service.category == category)
    stmt = search(stmt, text_arg("q"), Service.name, Service.description, Partner.name)
    rows, next_url = page_of(stmt, Service.id)
    return json_response(DirectoryPage(data=[DirectoryEntry.of(s) for s in rows], next=next_url))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    from registry.api.openapi import document

    response = Response(json.dumps(document()), mimetype="application/json")
    response.add_etag()
    return response.make_conditional(request)
