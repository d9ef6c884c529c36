"""Security events (ASVS V16): each hooked kind is stored, survives a rolled-back request,
and admins (only) filter, page and export them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import refresh
from sqlalchemy import select

from registry.extensions import db
from registry.models import Partner, SecurityEvent, User
from registry.security_log import record, store
from registry.vocabulary import Role
from tests.test_documents import make_document, make_pdf  # noqa: F401  (a fixture, and its PDF)


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    return {"DOCUMENTS_DIR": str(tmp_path / "documents")}


def events(kind: str | None = None) -> list[SecurityEvent]:
    db.session.rollback()  # see what other connections committed
    stmt = select(SecurityEvent).order_by(SecurityEvent.id)
    if kind is not None:
        stmt = stmt.where(SecurityEvent.kind == kind)
    return list(db.session.scalars(stmt))


# ---- stored, in a transaction of its own -------------------------------------------------


def test_an_event_of_a_rolled_back_request_is_kept(
    app: Flask, client: FlaskClient, make_partner: Callable[..., Partner]
) -> None:
    partner = make_partner(name="Before")

    @app.post("/test-failing-sign-in")
    def failing_sign_in() -> tuple[str, int]:
        # As a failed sign-in does: the request wrote something, then fails and rolls back.
        db.session.get(Partner, partner.id).name = "Changed"  # type: ignore[union-attr]
        db.session.flush()
        record("login.failure", email="someone@district.example", reason="bad password")
        return "no", 400

    assert client.post("/test-failing-sign-in").status_code == 400
    db.session.rollback()
    assert db.session.get(Partner, partner.id).name == "Before"  # type: ignore[union-attr]
    (event,) = events("login.failure")
    assert event.email == "someone@district.example"
    assert event.details == {"reason": "bad password"}
    assert event.path == "/test-failing-sign-in"
    assert event.ip == "127.0.0.1"
    assert event.chain_hash and len(event.chain_hash) == 64


def test_outside_a_request_an_event_is_stored_at_once(app: Flask) -> None:
    record("password.reset", user_id=7, email="a@district.example")
    (event,) = events("password.reset")
    assert (event.user_id, event.email, event.path) == (7, "a@district.example", "")


def test_a_database_failure_is_logged_and_never_raised(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Any:
        raise RuntimeError("database is down")

    monkeypatch.setattr(db.engine, "begin", broken)
    store([{"kind": "export"}])
    assert "could not be stored" in caplog.text


# ---- the hooked kinds ---------------------------------------------------------------------


def test_sign_in_and_sign_out_are_recorded(client: FlaskClient, login: Callable[..., User]) -> None:
    user = login("leader")
    assert client.post("/logout").status_code == 302
    seen = [(e.kind, e.user_id, e.email) for e in events()]
    assert [e for e in seen if e[0] in ("login.success", "logout")] == [
        ("login.success", user.id, user.email),
        ("logout", user.id, user.email),
    ]
    # The server-side session's own life is recorded beside them.
    assert [e[0] for e in seen if e[0].startswith("session.")] == ["session.begun", "session.ended"]


def test_another_partners_record_is_a_refused_access(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    other = make_partner()
    user = login("partner")
    assert client.get(f"/partners/{other.id}").status_code == 404
    assert client.get("/partners/99999").status_code == 404  # no such record: not an event
    (event,) = events("access.refused")
    assert (event.user_id, event.path) == (user.id, f"/partners/{other.id}")
    assert event.details == {"entity": "Partner", "entity_id": other.id, "check": "can_view"}


def test_a_page_outside_ones_role_is_a_refused_access(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    user = login("leader")
    assert client.get("/users/").status_code == 404
    (event,) = events("access.refused")
    assert event.user_id == user.id
    assert event.details == {"endpoint": "users.index", "role": "leader"}


def test_a_403_is_a_refused_access(app: Flask, client: FlaskClient) -> None:
    from flask import abort

    @app.get("/test-forbidden")
    def forbidden() -> str:
        abort(403)

    assert client.get("/test-forbidden").status_code == 403
    (event,) = events("access.refused")
    assert event.details == {"status": 403, "endpoint": "forbidden"}


def test_a_csrf_failure_is_recorded(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    user = login("coordinator")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/logout").status_code == 400
    (event,) = events("csrf.failure")
    assert (event.user_id, event.path) == (user.id, "/logout")
    assert "CSRF" in event.details["reason"]


def test_role_and_partner_link_changes_are_recorded(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
) -> None:
    user = make_user("leader")
    partner = make_partner()
    admin = login("admin")
    data = {
        "name": user.name,
        "role": "partner",
        "partner_id": str(partner.id),
        "active": "y",
        "version": str(user.version),
    }
    assert client.post(f"/users/{user.id}/edit", data=data).status_code == 302
    role, link = events("user.role_changed"), events("user.partner_changed")
    assert [(e.user_id, e.details) for e in role] == [
        (admin.id, {"account": user.email, "before": "leader", "after": "partner"})
    ]
    assert [(e.user_id, e.details) for e in link] == [
        (admin.id, {"account": user.email, "before": None, "after": partner.id})
    ]


def test_an_export_is_recorded_with_its_list_and_row_count(
    client: FlaskClient, login: Callable[..., User], make_partner: Callable[..., Partner]
) -> None:
    make_partner()
    make_partner()
    user = login("coordinator")
    assert client.get("/partners/?format=csv").status_code == 200
    assert client.get("/partners/?format=xlsx").status_code == 200
    assert [(e.user_id, e.details) for e in events("export")] == [
        (user.id, {"list": "partners", "format": "csv", "rows": 2}),
        (user.id, {"list": "partners", "format": "xlsx", "rows": 2}),
    ]


def test_a_document_download_is_recorded(
    client: FlaskClient,
    login: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_document: Callable[..., Any],  # noqa: F811
) -> None:
    partner = make_partner()
    document = make_document(partner)
    leader = login("leader")
    with client.post(f"/documents/{document.id}/download") as response:
        assert response.status_code == 200
    (event,) = events("document.download")
    assert event.user_id == leader.id
    assert event.details == {"document_id": document.id, "partner_id": partner.id}


# ---- the admin page -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "leader", "partner"])
def test_only_admins_see_the_security_events(
    client: FlaskClient, login: Callable[..., User], role: str
) -> None:
    login(role)
    assert client.get("/security-events").status_code == 404
    assert client.get("/security-events?format=csv").status_code == 404


def _seed(app: Flask) -> None:
    rows = [
        ("login.failure", "ann@district.example", datetime(2026, 3, 1, 15, tzinfo=UTC)),
        ("login.failure", "bob@district.example", datetime(2026, 3, 2, 15, tzinfo=UTC)),
        ("export", "ann@district.example", datetime(2026, 3, 3, 15, tzinfo=UTC)),
        # 11 PM in Boston on March 3rd is already the 4th in UTC: it belongs to the 3rd.
        ("logout", "=cmd@district.example", datetime(2026, 3, 4, 4, tzinfo=UTC)),
    ]
    store(
        [
            {"at": at, "kind": kind, "user_id": None, "email": email, "ip": "", "path": "/x"}
            | {"details": {"n": i}}
            for i, (kind, email, at) in enumerate(rows)
        ]
    )


def test_the_admin_filters_by_kind_email_and_district_days(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    _seed(app)
    login("admin")  # its own sign-in is an event too (today)
    page = client.get("/security-events")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'class="table-scroll"' in text and "Mar 1, 2026" in text
    assert text.index("=cmd@") < text.index("bob@") < text.rindex("ann@")  # newest first

    def shown(query: str) -> list[str]:
        text = client.get(f"/security-events?{query}").get_data(as_text=True)
        return [n for n in ("ann@", "bob@", "=cmd@") if n in text]

    assert shown("kind=login.failure") == ["ann@", "bob@"]
    assert shown("email=ANN") == ["ann@"]
    assert shown("first=2026-03-02&last=2026-03-03") == ["ann@", "bob@", "=cmd@"]
    assert shown("first=2026-03-03&last=2026-03-03&kind=logout") == ["=cmd@"]
    assert shown("last=2026-03-01") == ["ann@"]
    bad = client.get("/security-events?first=March")
    assert bad.status_code == 400
    assert "error-summary" in bad.get_data(as_text=True)


def test_the_admin_page_is_paged(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    app.config["PER_PAGE"] = 2
    _seed(app)
    login("admin")
    text = client.get("/security-events?page=3").get_data(as_text=True)
    assert "Page 3 of 3" in text and "ann@district.example" in text


def test_the_admin_exports_the_filtered_events_as_csv(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    _seed(app)
    admin = login("admin")
    response = client.get("/security-events?format=csv&first=2026-03-02&last=2026-03-31")
    streamed = response.is_streamed
    body = response.get_data(as_text=True)  # read whole before asserting: the stream closes
    assert response.status_code == 200
    assert streamed
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"security-events.csv\"; filename*=UTF-8''security-events.csv"
    )
    assert response.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "at_utc", "kind"]
    assert [(r[2], r[4]) for r in rows[1:]] == [
        ("logout", "'=cmd@district.example"),  # never a formula in a spreadsheet
        ("export", "ann@district.example"),
        ("login.failure", "bob@district.example"),
    ]
    (export,) = events("export")[1:]
    assert export.user_id == admin.id and export.details["list"] == "security-events"


def test_the_nav_links_the_security_events_for_admins_only(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User]
) -> None:
    login("coordinator")
    assert "/security-events" not in client.get("/").get_data(as_text=True)
    client.post("/logout")
    login("admin")
    assert "/security-events" in client.get("/").get_data(as_text=True)


def test_dates_follow_the_readers_locale(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    _seed(app)
    login(Role.ADMIN)
    refresh()  # the sign-in request's locale is cached on the test's shared `g`
    text = client.get("/security-events?lang=es&kind=export").get_data(as_text=True)
    assert "3 mar 2026" in text
    assert datetime.now(UTC) - timedelta(days=1) < events()[-1].at
