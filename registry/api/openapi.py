"""The OpenAPI 3.1 document of /api/v1, built from the pydantic models that serialise answers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from registry.api import views
from registry.api.schemas import (
    RESPONSE_MODELS,
    DirectoryPage,
    KpisOut,
    MOUPage,
    PartnerPage,
    RunOut,
    Schema,
    SchoolPage,
    ServicePage,
)
from registry.ids import MAX_ID
from registry.vocabulary import Category, MOUStatus, PartnerStatus, PartnerType, Unit

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    where: str = "query"


@dataclass(frozen=True)
class Operation:
    path: str
    operation_id: str
    summary: str
    model: type[Schema]
    params: tuple[Param, ...] = ()
    public: bool = False
    listing: bool = True


def _enum(values: type[Any]) -> dict[str, Any]:
    return {"type": "string", "enum": [m.value for m in values]}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
PAGING = (
    Param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": views.MAX_LIMIT, "default": 50},
        "How many records per page.",
    ),
    Param(
        "cursor",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$"},
        "Where the page starts: the cursor in the previous page's `next` link.",
    ),
)
# No NUL characters: the app refuses them in any field (registry.errors), with a 400.
NO_NUL = "^[^\\x00]*$"
TEXT = {"type": "string", "maxLength": 200, "pattern": NO_NUL}

OPERATIONS = (
    Operation(
        "/partners",
        "listPartners",
        "Partners (a partner's token: its own record only)",
        PartnerPage,
        (
            Param("q", TEXT, "Text in the name, description, contact or email."),
            Param("status", _enum(PartnerStatus), "Status."),
            Param("partner_type", _enum(PartnerType), "Type of organisation."),
        ),
    ),
    Operation(
        "/services",
        "listServices",
        "Services (a partner's token: its own only)",
        ServicePage,
        (
            Param("q", TEXT, "Text in the service's name or description, or partner's name."),
            Param("category", _enum(Category), "Category."),
            Param("partner_id", ID, "The partner's id."),
            Param("active", {"type": "string", "enum": ["true", "false"]}, "Active or not."),
        ),
    ),
    Operation(
        "/schools",
        "listSchools",
        "Schools (district staff only)",
        SchoolPage,
        (
            Param("q", TEXT, "Text in the name, DESE code or zip code."),
            Param("zip", {"type": "string", "maxLength": 10, "pattern": NO_NUL}, "Zip code."),
        ),
    ),
    Operation(
        "/mous",
        "listMous",
        "MOUs (a partner's token: its own only)",
        MOUPage,
        (
            Param("q", TEXT, "Text in the partner's or a school's name, or the signatories."),
            Param("year", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "School year."),
            Param("status", _enum(MOUStatus), "Status."),
            Param("partner_id", ID, "The partner's id."),
        ),
    ),
    Operation(
        "/scenarios/{scenario_id}/runs/{run_id}",
        "getScenarioRun",
        "One run of an allocation scenario, with its stored result (district staff only)",
        RunOut,
        (
            Param("scenario_id", ID, "The scenario's id.", "path"),
            Param("run_id", ID, "The run's id.", "path"),
        ),
        listing=False,
    ),
    Operation(
        "/kpis",
        "getKpis",
        "The equity KPIs of a school year: MOUs in force, pairs, units by need (district staff)",
        KpisOut,
        (
            Param(
                "year",
                {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "School year (default: this one if the registry has data for it, else the latest).",
            ),
            Param("category", _enum(Category), "Only commitments of services of this category."),
            Param("unit", _enum(Unit), "What units are summed (default: seats)."),
            Param("definition", ID, "The need index definition (default: the default one)."),
        ),
        listing=False,
    ),
    Operation(
        "/directory",
        "listDirectory",
        "The family directory: active services of approved partners with an MOU in force",
        DirectoryPage,
        (
            Param("q", TEXT, "Text in the service's name or description, or partner's name."),
            Param("category", _enum(Category), "Category."),
        ),
        public=True,
    ),
)


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _operation(op: Operation) -> dict[str, Any]:
    params = [*op.params, *(PAGING if op.listing else ())]
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.model.__name__)}}
            },
        },
        "304": {"description": "Not modified (If-None-Match matched the ETag)."},
        "400": _error("A query parameter the API cannot read."),
    }
    if not op.public:
        responses["401"] = _error(
            "No valid token: missing, unknown, expired or revoked.",
            {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
        )
        responses["404"] = _error("Not found, or not visible to the token's owner.")
        responses["429"] = _error(
            "Rate limit reached.",
            {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
        )
    answer: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "parameters": [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "description": p.description,
                "schema": p.schema,
            }
            for p in params
        ],
        "responses": responses,
    }
    answer["security"] = [] if op.public else [{"token": []}]
    return answer


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (JSON Schema 2020-12 schemas, from the models)."""
    _, top = models_json_schema(
        [(model, "serialization") for model in RESPONSE_MODELS], ref_template=REF
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Partnership registry API",
            "version": "1.0.0",
            "description": (
                "Read-only. Authenticate with a personal token from /account/tokens: "
                "`Authorization: Bearer prk_...`. Lists are cursor-paged in id order."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
        "paths": {op.path: {"get": _operation(op)} for op in OPERATIONS},
    }
