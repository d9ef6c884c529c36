"""Shared by the API tests: a movable clock, tokens, and validation against the OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from registry.api import tokens
from registry.extensions import db
from registry.models import User

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Clock:
    """The API's clock in tests: starts at START, moves only when told."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def token_for(user: User, clock: Clock, days: int = 90, name: str = "reports") -> str:
    """A new token's secret, committed as the token page would."""
    _token, secret = tokens.create(user, name, days, clock())
    db.session.commit()
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class Contract:
    """Checks a response against the app's own OpenAPI document."""

    def __init__(self, client: FlaskClient) -> None:
        self.document: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()

    def check(self, response: TestResponse, path: str) -> Any:
        """Validate status, content type and body against the operation; return the JSON."""
        operation = self.document["paths"][path]["get"]
        status = str(response.status_code)
        assert status in operation["responses"], f"{status} not documented for {path}"
        documented = operation["responses"][status]
        if "content" not in documented:
            assert response.get_data() == b""
            return None
        assert response.mimetype == "application/json"
        for header, spec in documented.get("headers", {}).items():
            if spec.get("required"):
                assert header in response.headers
        body = response.get_json()
        schema = {
            **documented["content"]["application/json"]["schema"],
            "components": self.document["components"],
        }
        jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(body)
        return body
