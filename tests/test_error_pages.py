"""Error pages speak the registry's own words in the reader's language, never Werkzeug's English."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, request
from flask_babel import gettext
from werkzeug import exceptions

from registry.extensions import db
from tests.conftest import ScratchDatabase, make_app

# Each status the registry produces, a request that produces it, and our title for it.
CASES = [
    (400, "bad", "That request could not be accepted", exceptions.BadRequest),
    (403, "forbidden", "Not allowed", exceptions.Forbidden),
    (404, "missing", "Page not found", exceptions.NotFound),
    (405, "wrong-method", "That action is not available here", exceptions.MethodNotAllowed),
    (409, "conflict", "That change could not be made", exceptions.Conflict),
    (413, "too-large", "The file is too large", exceptions.RequestEntityTooLarge),
    (500, "broken", "Something went wrong", exceptions.InternalServerError),
]


@pytest.fixture
def failing_app(test_database: ScratchDatabase) -> Iterator[Flask]:
    """The app with one route per status, and errors handled as in production."""
    app = make_app(test_database.url, PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=1000)

    def fail(code: int) -> None:
        if code == 500:
            raise RuntimeError("an unexpected bug")
        exceptions.abort(code)

    app.add_url_rule("/fail/<int:code>", "fail", fail, methods=["GET"])
    app.add_url_rule("/upload", "upload", lambda: str(len(request.form)), methods=["POST"])
    yield app
    with app.app_context():  # a refusal is a security event, stored: close its connection
        db.engine.dispose()


def _request(client, code: int):
    if code == 405:
        return client.post("/fail/405")
    if code == 413:
        return client.post("/upload", data={"file": "x" * 5000})
    if code == 404:
        return client.get("/no/such/page")
    return client.get(f"/fail/{code}")


@pytest.mark.parametrize("lang", ["en", "es", "pt"])
@pytest.mark.parametrize("code, _name, title, werkzeug_error", CASES)
def test_each_error_page_has_our_title_and_explanation(
    failing_app, code, _name, title, werkzeug_error, lang
):
    client = failing_app.test_client()
    client.get(f"/login?lang={lang}")  # remembered in the session
    response = _request(client, code)
    page = response.get_data(as_text=True)
    assert response.status_code == code
    assert f'<html lang="{lang}">' in page
    with failing_app.test_request_context(f"/?lang={lang}"):
        assert f"<h1>{gettext(title)}</h1>" in page
    # Werkzeug's English description never reaches the page.
    assert werkzeug_error.description.split(".")[0] not in page


def test_a_reason_the_registry_gave_is_shown(failing_app):
    failing_app.add_url_rule(
        "/refuse",
        "refuse",
        lambda: exceptions.abort(400, description="That school year does not exist."),
    )
    page = failing_app.test_client().get("/refuse").get_data(as_text=True)
    assert "That school year does not exist." in page


def test_a_refused_csrf_token_is_explained_in_words(test_database):
    app = make_app(test_database.url, WTF_CSRF_ENABLED=True)
    page = app.test_client().post("/login", data={"email": "a@b.example"}).get_data(as_text=True)
    assert "The form had expired or did not come from this registry" in page
    assert "CSRF token" not in page
    with app.app_context():  # the CSRF failure is a security event, stored: close its connection
        db.engine.dispose()
