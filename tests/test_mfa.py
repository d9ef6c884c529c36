"""Two-step sign-in (ASVS 6.3.3): TOTP enrolment, the sign-in's second step, recovery codes."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from registry.auth import throttle
from registry.extensions import db
from registry.mfa import services
from registry.models import AuditEntry, MfaCredential, MfaRecoveryCode, User
from registry.vocabulary import Role
from tests.conftest import PASSWORD

START = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"MFA_REQUIRED_ROLES": ("admin", "coordinator", "leader")}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(services, "now", c)
    monkeypatch.setattr(throttle, "now", c)
    return c


def _secret(user: User) -> str:
    db.session.expire_all()
    secret = services.pending_secret(user)
    if secret is None:  # enrolled: read it the way the service does
        found = services.credential(user)
        assert found is not None
        secret = services._secret(found)
    return secret


def _code(user: User, clock: Clock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(_secret(user)).at(clock().timestamp() + 30 * offset_steps)


def _enrol(client, user: User, clock: Clock) -> list[str]:
    """Start and confirm the set-up as a signed-in user; the recovery codes shown."""
    assert client.post("/account/mfa/start").status_code == 302
    page = client.get("/account/mfa")
    assert page.status_code == 200
    response = client.post("/account/mfa/confirm", data={"code": _code(user, clock)})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    codes = re.findall(
        r"<code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code>",
        response.get_data(as_text=True),
    )
    assert len(codes) == 10
    clock.advance(30)  # the next code is a later step
    return codes


def _password_step(client, user: User):
    return client.post("/login", data={"email": user.email, "password": PASSWORD})


def _signed_in(client) -> bool:
    response = client.get("/account/mfa")
    return response.status_code == 200


def _events(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "registry.security"]


def test_setup_page_shows_a_qr_code_and_the_key(client, login, clock):
    user = login(Role.PARTNER)
    page = client.get("/account/mfa")
    assert page.status_code == 200
    assert b"data:image/png;base64," not in page.data  # a GET writes nothing: no key yet
    assert db.session.scalar(select(MfaCredential)) is None
    client.post("/account/mfa/start")
    page = client.get("/account/mfa").get_data(as_text=True)
    assert 'src="data:image/png;base64,' in page
    secret = _secret(user)
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in page
    uri = services.provisioning_uri(user, secret)
    assert uri.startswith("otpauth://totp/") and "secret=" + secret in uri


def test_enrolment_with_a_valid_code(client, login, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login(Role.PARTNER)
    codes = _enrol(client, user, clock)
    db.session.expire_all()
    assert services.is_enrolled(user)
    assert len(set(codes)) == 10
    stored = db.session.scalars(select(MfaRecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not any(code in h or code.replace("-", "") in h for code in codes for h in stored)
    assert any('"kind": "mfa.enrolled"' in e for e in _events(caplog))
    # The audit trail records the enrolment, and never the secret.
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "mfa_credential"))
    trail = [(r.action, r.before, r.after) for r in rows]
    assert any(a == "update" and after and after.get("confirmed_at") for a, _, after in trail)
    assert _secret(user) not in str(trail)
    # Now on, the page shows the status and not the set-up.
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "10 unused recovery codes" in page


def test_a_wrong_code_does_not_turn_it_on(client, login, clock):
    user = login(Role.PARTNER)
    client.post("/account/mfa/start")
    good = _code(user, clock)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = client.post("/account/mfa/confirm", data={"code": wrong})
    assert response.status_code == 400
    assert "That code is not right" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not services.is_enrolled(user)
    # A code of long ago is wrong too.
    old = pyotp.TOTP(_secret(user)).at(clock().timestamp() - 300)
    assert client.post("/account/mfa/confirm", data={"code": old}).status_code == 400
    assert db.session.scalar(select(MfaRecoveryCode)) is None


def test_sign_in_requires_the_code_after_the_password(client, login, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login(Role.ADMIN)
    _enrol(client, user, clock)
    client.post("/logout")

    response = _password_step(client, user)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert not _signed_in(client)  # a correct password alone signs no one in
    assert client.get("/login/code").status_code == 200

    response = client.post("/login/code", data={"code": _code(user, clock)})
    assert response.status_code == 302
    assert _signed_in(client)
    assert any('"kind": "mfa.used"' in e for e in _events(caplog))
    client.post("/logout")

    # The page asked for before signing in is where the second step ends.
    clock.advance(30)
    client.post("/login?next=/partners/", data={"email": user.email, "password": PASSWORD})
    response = client.post("/login/code", data={"code": _code(user, clock)})
    assert response.headers["Location"].endswith("/partners/")


def test_a_wrong_code_counts_against_the_throttle(client, login, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login(Role.PARTNER)
    _enrol(client, user, clock)
    client.post("/logout")
    _password_step(client, user)
    for _n in range(3):
        response = client.post("/login/code", data={"code": "000000"})
        assert response.status_code == 400
    assert not _signed_in(client)
    assert any('"kind": "mfa.failure"' in e for e in _events(caplog))
    # The third failure makes the next attempt wait, even with the right code.
    response = client.post("/login/code", data={"code": _code(user, clock)})
    assert response.status_code == 429
    clock.advance(2)
    response = client.post("/login/code", data={"code": _code(user, clock)})
    assert response.status_code == 302
    assert _signed_in(client)


def test_a_code_cannot_be_used_twice(client, login, clock):
    user = login(Role.PARTNER)
    _enrol(client, user, clock)
    client.post("/logout")
    code = _code(user, clock)
    _password_step(client, user)
    assert client.post("/login/code", data={"code": code}).status_code == 302
    client.post("/logout")

    clock.advance(10)  # same 30-second step, and still within the drift window after it
    _password_step(client, user)
    assert client.post("/login/code", data={"code": code}).status_code == 400
    assert not _signed_in(client)
    # The previous step's code is older than the one used: refused as well.
    clock.advance(30)
    assert client.post("/login/code", data={"code": code}).status_code == 400
    assert client.post("/login/code", data={"code": _code(user, clock)}).status_code == 302


def test_a_recovery_code_works_once(client, login, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login(Role.PARTNER)
    codes = _enrol(client, user, clock)
    client.post("/logout")

    _password_step(client, user)
    response = client.post("/login/code", data={"code": codes[3].lower()})
    assert response.status_code == 302
    assert _signed_in(client)
    assert any('"kind": "mfa.recovery_used"' in e for e in _events(caplog))
    assert "9 unused recovery codes" in client.get("/account/mfa").get_data(as_text=True)
    client.post("/logout")

    clock.advance(5)  # past the throttle's first free failures is not needed: one failure
    _password_step(client, user)
    assert client.post("/login/code", data={"code": codes[3]}).status_code == 400
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 302


def test_the_second_step_expires(client, login, clock):
    user = login(Role.PARTNER)
    _enrol(client, user, clock)
    client.post("/logout")
    _password_step(client, user)
    clock.advance(6 * 60)
    response = client.post("/login/code", data={"code": _code(user, clock)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert not _signed_in(client)
    assert client.get("/login/code").status_code == 302  # nobody is half signed in


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COORDINATOR, Role.LEADER])
def test_required_roles_must_enrol_before_anything_else(client, login, clock, role):
    user = login(role)
    for path in ("/", "/partners/", "/account/password"):
        response = client.get(path)
        if path == "/account/password":
            assert response.status_code == 200  # a forced password change comes first
        else:
            assert response.status_code == 302, path
            assert response.headers["Location"].endswith("/account/mfa")
    assert "requires two-step sign-in" in client.get("/account/mfa").get_data(as_text=True)
    _enrol(client, user, clock)
    assert client.get("/").status_code == 200


def test_the_required_roles_come_from_config(app, client, login, clock):
    app.config["MFA_REQUIRED_ROLES"] = ("admin",)
    login(Role.COORDINATOR)
    assert client.get("/").status_code == 200
    client.post("/logout")
    login(Role.ADMIN)
    assert client.get("/").status_code == 302


def test_partner_users_may_opt_in(client, login, clock):
    user = login(Role.PARTNER)
    assert "/account/mfa" not in client.get("/").headers.get("Location", "")  # not required
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "Two-step sign-in is off" in page
    _enrol(client, user, clock)
    client.post("/logout")
    response = _password_step(client, user)
    assert response.headers["Location"].endswith("/login/code")


def test_turning_it_off_needs_the_password_and_a_code(client, login, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login(Role.PARTNER)
    _enrol(client, user, clock)

    response = client.post(
        "/account/mfa/disable", data={"password": "wrong password!", "code": _code(user, clock)}
    )
    assert response.status_code == 400
    response = client.post("/account/mfa/disable", data={"password": PASSWORD, "code": "123456"})
    assert response.status_code == 400
    db.session.expire_all()
    assert services.is_enrolled(user)

    clock.advance(30)
    response = client.post(
        "/account/mfa/disable", data={"password": PASSWORD, "code": _code(user, clock)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert not services.is_enrolled(user)
    assert db.session.scalar(select(MfaRecoveryCode)) is None
    deleted = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity == "mfa_credential", AuditEntry.action == "delete"
        )
    ).all()
    assert len(deleted) == 1
    client.post("/logout")
    assert _password_step(client, user).headers["Location"].endswith("/")


def test_new_recovery_codes_replace_the_old(client, login, clock):
    user = login(Role.PARTNER)
    old = _enrol(client, user, clock)
    response = client.post("/account/mfa/recovery-codes", data={"code": _code(user, clock)})
    assert response.status_code == 200
    new = re.findall(r"<code>([A-Z2-7-]{19})</code>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/logout")
    _password_step(client, user)
    assert client.post("/login/code", data={"code": old[0]}).status_code == 400
    assert client.post("/login/code", data={"code": new[0]}).status_code == 302


def test_an_admin_resets_a_lost_second_factor_from_the_command_line(app, client, login, clock):
    user = login(Role.PARTNER)
    _enrol(client, user, clock)
    client.post("/logout")
    result = app.test_cli_runner().invoke(args=["mfa-reset", user.email.upper()])
    assert result.exit_code == 0, result.output
    assert "is reset" in result.output
    db.session.expire_all()
    assert not services.is_enrolled(user)
    assert db.session.scalar(select(MfaRecoveryCode)) is None
    response = _password_step(client, user)
    assert "/login/code" not in response.headers["Location"]
    # Opted in as a partner, reset: set it up again before anything else.
    assert client.get("/").headers["Location"].endswith("/account/mfa")
    result = app.test_cli_runner().invoke(args=["mfa-reset", "nobody@district.example"])
    assert result.exit_code != 0
