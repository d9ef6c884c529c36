"""An administrator resets a user's two-step sign-in from the user's admin page (ASVS 6.4.x).

The lost-phone case: the old authenticator and recovery codes stop working, every session
of the user ends, the reset is audited and logged, and the user must set two-step sign-in
up again at their next sign-in, whatever their role.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry.extensions import db
from registry.mfa import services
from registry.models import AuditEntry, MfaCredential, MfaRecoveryCode, User, UserSession
from registry.models.security_event import SecurityEvent
from tests.conftest import PASSWORD

CONFIRM = {"mfa_reset-confirm": "y"}


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"MFA_REQUIRED_ROLES": ("admin",)}  # partners opt in; admins must use it


def enrol(user: User) -> None:
    """Two-step sign-in on for a user, as if they had scanned the code (service level)."""
    services.start_enrolment(user)
    secret = services.pending_secret(user)
    assert secret is not None
    services.confirm_enrolment(user, pyotp.TOTP(secret).now())
    db.session.commit()


@pytest.fixture
def admin_client(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    """A client signed in as an admin (two-step sign-in not required of admins here)."""
    app.config["MFA_REQUIRED_ROLES"] = ()
    client = app.test_client()
    admin = make_user("admin")
    assert (
        client.post("/login", data={"email": admin.email, "password": PASSWORD}).status_code == 302
    )
    return client


def signed_in_elsewhere(app: Flask, user: User) -> FlaskClient:
    other = app.test_client()
    response = other.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return other


def test_the_admin_page_shows_the_state_and_the_reset_form(
    admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    off, on = make_user("partner"), make_user("partner")
    enrol(on)
    page = admin_client.get(f"/users/{off.id}/edit").get_data(as_text=True)
    assert "Two-step sign-in" in page and f"/users/{off.id}/mfa/reset" not in page
    page = admin_client.get(f"/users/{on.id}/edit").get_data(as_text=True)
    assert f'action="/users/{on.id}/mfa/reset"' in page
    assert 'name="mfa_reset-confirm"' in page and 'id="mfa_reset-confirm"' in page
    assert 'name="confirm"' in page  # the account form's own field is still there


def test_a_reset_needs_the_box_ticked(
    admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    enrol(user)
    response = admin_client.post(f"/users/{user.id}/mfa/reset", data={})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'class="error-summary"' in page and 'href="#mfa_reset-confirm"' in page
    assert "Tick the box" in page
    db.session.expire_all()
    assert services.is_enrolled(user)


def test_a_reset_ends_the_users_sessions_and_forces_a_new_setup(
    app: Flask, admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    elsewhere = signed_in_elsewhere(app, user)  # before the set-up: no code step to pass
    enrol(user)
    old_secret = services._secret(services.credential(user))  # type: ignore[arg-type]
    assert elsewhere.get("/account/sessions").status_code == 200

    response = admin_client.post(f"/users/{user.id}/mfa/reset", data=CONFIRM)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/users/{user.id}/edit#mfa")

    db.session.expire_all()
    found = services.credential(user)
    assert found is not None and found.confirmed_at is None and found.reset_at is not None
    assert services._secret(found) != old_secret  # the lost phone's codes no longer work
    assert db.session.scalars(select(MfaRecoveryCode)).all() == []
    open_sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    ).all()
    assert open_sessions == []
    assert elsewhere.get("/account/sessions").status_code == 302  # signed out

    (event,) = db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == "mfa.reset"))
    assert event.user_id == user.id and event.details["by"] == "admin"
    assert event.details["admin_id"] is not None
    audited = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "mfa_credential", AuditEntry.action == "update"
        )
    ).all()
    assert any(a.after and "reset_at" in a.after for a in audited)
    assert all("secret" not in (a.after or {}) for a in audited)

    # The next sign-in: the password alone, then the set-up page before anything else.
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and "/login/code" not in response.headers["Location"]
    response = client.get("/")
    assert response.headers["Location"].endswith("/account/mfa")
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "An administrator reset your two-step sign-in" in page
    secret = services.pending_secret(user)
    assert secret is not None
    response = client.post("/account/mfa/confirm", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert client.get("/").status_code == 302  # a partner's dashboard is their own page
    assert not client.get("/").headers["Location"].endswith("/account/mfa")
    db.session.expire_all()
    assert services.is_enrolled(user)
    assert services.credential(user).reset_at is None  # type: ignore[union-attr]


def test_a_user_without_two_step_sign_in_has_nothing_to_reset(
    admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    for method in (admin_client.get, admin_client.post):
        response = method(f"/users/{user.id}/mfa/reset", data=CONFIRM)
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/users/{user.id}/edit")
    assert db.session.scalar(select(MfaCredential)) is None


def test_the_confirmation_page_is_the_form_again(
    admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("coordinator")
    enrol(user)
    page = admin_client.get(f"/users/{user.id}/mfa/reset")
    assert page.status_code == 200
    assert f'action="/users/{user.id}/mfa/reset"' in page.get_data(as_text=True)
    db.session.expire_all()
    assert services.is_enrolled(user)  # a GET resets nothing


@pytest.mark.parametrize("role", ["coordinator", "leader", "partner"])
def test_only_admins_may_reset(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User], role: str
) -> None:
    user = make_user("leader")
    enrol(user)
    login(role)
    assert client.get(f"/users/{user.id}/mfa/reset").status_code == 404
    assert client.post(f"/users/{user.id}/mfa/reset", data=CONFIRM).status_code == 404
    db.session.expire_all()
    assert services.is_enrolled(user)


def test_anonymous_visitors_are_sent_to_sign_in(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("leader")
    enrol(user)
    response = client.post(f"/users/{user.id}/mfa/reset", data=CONFIRM)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    db.session.expire_all()
    assert services.is_enrolled(user)


def test_a_reset_without_the_csrf_token_is_refused(
    app: Flask, admin_client: FlaskClient, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    enrol(user)
    app.config["WTF_CSRF_ENABLED"] = True
    assert admin_client.post(f"/users/{user.id}/mfa/reset", data=CONFIRM).status_code == 400
    db.session.expire_all()
    assert services.is_enrolled(user)
    page = admin_client.get(f"/users/{user.id}/edit").get_data(as_text=True)
    token = re.search(
        r'action="/users/\d+/mfa/reset"[^>]*>\s*<input[^>]*name="(mfa_reset-csrf_token)"'
        r'[^>]*value="([^"]+)"',
        page,
    )
    assert token, page
    data = {**CONFIRM, token.group(1): token.group(2)}
    assert admin_client.post(f"/users/{user.id}/mfa/reset", data=data).status_code == 302
    db.session.expire_all()
    assert not services.is_enrolled(user)
