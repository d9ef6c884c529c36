"""Sessions (ASVS V7): server-checked records, sign-out, timeouts, revocation, cookies, caching."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.audit import SYSTEM, set_actor
from registry.auth import services as auth_services
from registry.extensions import db
from registry.models import AuditEntry, User, UserSession
from registry.sessions import services as session_services
from registry.sessions.services import user_agent_summary
from tests.conftest import PASSWORD

GOOD = "velvet otter maps the quiet harbour"
HOST = "registry.test"
ENDED = "Your session ended"


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    set_actor(SYSTEM)


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def app_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test configuration: a test parametrizes it (indirect) to change the app's."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(session_services, "now", clock)
    return clock


@pytest.fixture
def sign_in(app: Flask) -> Callable[[User], FlaskClient]:
    """Another browser: a new client signed in as this user through the form."""

    def do(user: User) -> FlaskClient:
        other = app.test_client()
        response = other.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return other

    return do


def signed_in(client: FlaskClient) -> bool:
    """Does a signed-in page open (rather than send the browser to sign in)?"""
    return client.get("/account/sessions").status_code == 200


def sent_to_sign_in(client: FlaskClient) -> bool:
    response = client.get("/account/sessions")
    if response.status_code != 302 or "/login" not in response.headers["Location"]:
        return False
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return ENDED in page


def records(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)))


# ---- the record and sign-out (7.4.1) -----------------------------------------------------


def test_signing_in_records_a_session_whose_nonce_is_stored_hashed(client, login):
    user = login("leader")
    (record,) = records(user)
    with client.session_transaction() as cookie:
        nonce = cookie["session_nonce"]
    assert record.nonce_hash == session_services.nonce_hash(nonce) != nonce
    assert record.ended_at is None and record.ip == "127.0.0.1"
    assert record.created_at == record.last_seen_at


def test_a_cookie_saved_before_sign_out_is_refused_afterwards(client, login):
    user = login("coordinator")
    saved = client.get_cookie("session", domain=HOST)
    assert saved is not None and signed_in(client)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"cookies", "storage"'
    (record,) = records(user)
    assert record.ended_at is not None and record.ended_reason == "logout"
    # The attacker's copy of the cookie, replayed.
    replay = client.application.test_client()
    replay.set_cookie("session", saved.value, domain=HOST)
    assert sent_to_sign_in(replay)


def test_signing_out_says_so_though_the_browser_drops_the_cookies(app, client, login):
    """Clear-Site-Data drops the session cookie, which held a flash: the sign-in page says
    "signed out" from its address instead, to a browser that kept no cookie at all."""
    login("coordinator")
    response = client.post("/logout")
    location = response.headers["Location"]
    assert location.endswith("/login?signed_out=1")
    cleared = app.test_client()  # what the browser has left: nothing
    page = cleared.get(location).get_data(as_text=True)
    assert (
        '<div class="flashes" role="status"><p class="flash flash-info">You are signed out.' in page
    )
    assert "You are signed out." not in cleared.get("/login").get_data(as_text=True)


def test_a_cookie_without_a_session_record_signs_nobody_in(app, make_user):
    user = make_user("admin")
    forged = app.test_client()
    with forged.session_transaction() as cookie:
        cookie["_user_id"] = str(user.id)  # a signed cookie from before sessions were recorded
        cookie["_fresh"] = True
    assert sent_to_sign_in(forged)


# ---- timeouts (7.3.1, 7.3.2) ----------------------------------------------------------------


def test_thirty_idle_minutes_end_a_session(client, login, clock):
    user = login("leader")
    clock.advance(minutes=29)
    assert signed_in(client)  # activity: last seen moves on
    clock.advance(minutes=29)
    assert signed_in(client)
    clock.advance(minutes=31)
    assert sent_to_sign_in(client)
    (record,) = records(user)
    assert record.ended_reason == "idle"


def test_the_absolute_limit_ends_even_a_busy_session(app, client, login, clock):
    app.config.update(SESSION_ABSOLUTE_HOURS=1, SESSION_IDLE_MINUTES=15)
    user = login("leader")
    for _ in range(6):
        clock.advance(minutes=10)
        assert signed_in(client)
    clock.advance(minutes=1)  # 61 minutes after signing in, busy all along
    assert sent_to_sign_in(client)
    assert records(user)[0].ended_reason == "absolute"


def test_the_default_absolute_limit_is_twelve_hours(client, login, clock):
    login("leader")
    for _ in range(24):  # every 29 minutes for 11 h 36 min
        clock.advance(minutes=29)
        assert signed_in(client)
    clock.advance(minutes=25)
    assert sent_to_sign_in(client)


def test_last_seen_is_written_at_most_once_a_minute(client, login, clock):
    user = login("leader")
    began = records(user)[0].last_seen_at
    clock.advance(seconds=30)
    assert signed_in(client)
    assert records(user)[0].last_seen_at == began
    clock.advance(seconds=45)
    assert signed_in(client)
    assert records(user)[0].last_seen_at == clock.at


# ---- revocation (7.4.3, 7.4.5) ------------------------------------------------------------


def test_a_password_change_ends_every_other_session(client, login, sign_in):
    user = login("leader")
    elsewhere = sign_in(user)
    response = client.post(
        "/account/password", data={"current": PASSWORD, "password": GOOD, "confirm": GOOD}
    )
    assert response.status_code == 302
    assert signed_in(client)  # where the change was made
    assert sent_to_sign_in(elsewhere)
    assert sorted(r.ended_reason for r in records(user)) == ["", "password"]


def test_a_reset_ends_every_session(app, make_user, sign_in):
    user = make_user("leader")
    elsewhere = sign_in(user)
    started = auth_services.start_reset(user.email)
    assert started is not None
    db.session.commit()
    browser = app.test_client()
    response = browser.post(f"/login/reset/{started[1]}", data={"password": GOOD, "confirm": GOOD})
    assert response.status_code == 302
    assert sent_to_sign_in(elsewhere)


def test_an_admin_setting_a_password_ends_the_users_sessions(make_user, sign_in):
    user = make_user("leader")
    elsewhere = sign_in(user)
    user.set_password(GOOD)
    db.session.commit()
    assert sent_to_sign_in(elsewhere)


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(make_user, sign_in):
    user = make_user("coordinator")
    elsewhere = sign_in(user)
    saved = elsewhere.get_cookie("session", domain=HOST)
    assert saved is not None
    user.active = False
    db.session.commit()
    user.active = True
    db.session.commit()
    assert sent_to_sign_in(elsewhere)
    assert records(user)[0].ended_reason == "deactivated"
    # And the account itself works again, with a new sign-in.
    assert signed_in(sign_in(user))


def test_an_inactive_accounts_session_is_refused_even_if_its_record_is_open(make_user, sign_in):
    user = make_user("coordinator")
    elsewhere = sign_in(user)
    # Changed behind the ORM's back (no flush hook): the check still looks at the account.
    db.session.execute(User.__table__.update().where(User.id == user.id).values(active=False))
    db.session.commit()
    assert sent_to_sign_in(elsewhere)


# ---- admins end a user's sessions ------------------------------------------------------------


def test_an_admin_ends_a_users_sessions_from_their_page(client, login, make_user, sign_in):
    login("admin")
    user = make_user("leader")
    first, second = sign_in(user), sign_in(user)
    page = client.get(f"/users/{user.id}/edit").get_data(as_text=True)
    assert "2 open sessions." in page and f"/users/{user.id}/sessions/end" in page
    response = client.post(f"/users/{user.id}/sessions/end")
    assert response.status_code == 302
    assert sent_to_sign_in(first) and sent_to_sign_in(second)
    assert [r.ended_reason for r in records(user)] == ["by_admin", "by_admin"]
    audited = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "user_session")
    ).all()
    assert any(a.after and a.after.get("ended_reason") == "by_admin" for a in audited)


def test_only_admins_may_end_a_users_sessions(client, login, make_user, sign_in):
    login("coordinator")
    user = make_user("leader")
    elsewhere = sign_in(user)
    assert client.post(f"/users/{user.id}/sessions/end").status_code == 404
    assert signed_in(elsewhere)


# ---- one's own sessions ----------------------------------------------------------------


def test_users_see_their_sessions_and_end_one(client, login, sign_in, make_user):
    user = login("partner")
    phone = sign_in(user)
    page = client.get("/account/sessions").get_data(as_text=True)
    assert page.count("<tr>") == 3 and page.count("This session") == 1
    assert "127.0.0.1" in page
    _current, other = sorted(records(user), key=lambda r: r.id)
    assert client.post(f"/account/sessions/{other.id}/end").status_code == 302
    assert sent_to_sign_in(phone) and signed_in(client)
    # Someone else's session: not found.
    stranger = make_user("leader")
    theirs = sign_in(stranger)
    (their_record,) = records(stranger)
    assert client.post(f"/account/sessions/{their_record.id}/end").status_code == 404
    assert signed_in(theirs)


def test_users_end_all_their_other_sessions(client, login, sign_in):
    user = login("leader")
    others = [sign_in(user), sign_in(user)]
    assert client.post("/account/sessions/end-others").status_code == 302
    assert signed_in(client)
    assert all(sent_to_sign_in(other) for other in others)


def test_ending_ones_current_session_signs_out(client, login):
    user = login("leader")
    (record,) = records(user)
    response = client.post(f"/account/sessions/{record.id}/end")
    assert "/login" in response.headers["Location"]
    assert client.get("/account/sessions").status_code == 302


# ---- CSRF token, cookies, caching -----------------------------------------------------------


def test_the_csrf_token_is_renewed_at_sign_in(app, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make_user("leader")
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    with browser.session_transaction() as cookie:
        before = cookie["csrf_token"]
    response = browser.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code == 302
    with browser.session_transaction() as cookie:
        assert "csrf_token" not in cookie
    browser.get("/account/sessions")
    with browser.session_transaction() as cookie:
        assert cookie["csrf_token"] != before
    # The token from before signing in no longer passes.
    refused = browser.post("/account/sessions/end-others", data={"csrf_token": token.group(1)})
    assert refused.status_code == 400


@pytest.mark.parametrize("app_config", [{"SESSION_COOKIE_SECURE": True}], indirect=True)
def test_secure_cookies_are_host_prefixed(client, make_user):
    user = make_user("leader")
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, base_url=f"https://{HOST}"
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_plain_http_keeps_the_plain_cookie_name(client, login):
    login("leader")
    assert client.get_cookie("session", domain=HOST) is not None


def test_signed_in_pages_are_not_stored(client, login):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    login("leader")
    assert client.get("/account/sessions").headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Cache-Control"] == "no-store"
    static = client.get("/static/style.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox, Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari, macOS",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
    ],
)
def test_the_user_agent_is_summarised(agent: str, summary: str) -> None:
    assert user_agent_summary(agent) == summary
