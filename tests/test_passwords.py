"""Passwords: the policy, changing one's own, the emailed reset link, the forced change."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from registry.audit import SYSTEM, set_actor
from registry.auth import services as auth_services
from registry.auth.passwords import problem
from registry.extensions import db
from registry.models import AuditEntry, PasswordResetToken, User
from registry.refusals import Refused
from registry.users.services import create_user, update_user
from tests.conftest import PASSWORD

GOOD = "velvet otter maps the quiet harbour"


@pytest.fixture(autouse=True)
def _changes_start_unattributed() -> None:
    set_actor(SYSTEM)


# ---- the policy (6.2.4, 6.2.11, 6.2.12) ---------------------------------------------------


@pytest.mark.parametrize(
    "password, message",
    [
        ("123456789012", "a repeat or a sequence"),
        ("passwordpassword", "words anyone would guess first"),
        ("aaaaaaaaaaaa", "a repeat or a sequence"),
        ("demo-district-2026", "words anyone would guess first"),
        ("Partnership Registry 2026", "words anyone would guess first"),
        ("iloveyou1234", "too common"),
        ("short", "at least 12"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(app, password, message):
    with pytest.raises(Refused, match=message) as refused:
        create_user(email="new@district.example", role="leader", password=password)
    assert refused.value.field == "password"


def test_the_users_own_name_and_email_are_refused(app):
    with pytest.raises(Refused, match="words anyone would guess first"):
        create_user(
            email="rosalind.okafor@district.example",
            name="Rosalind Okafor",
            role="leader",
            password="Rosalind.Okafor!2026",
        )
    assert problem("okafor rosalind 99", email="rosalind.okafor@district.example") == "context"


@pytest.mark.parametrize(
    "password", [GOOD, "correct horse battery staple", "a much longer passphrase"]
)
def test_strong_passwords_pass(app, password):
    assert problem(password, email="x@district.example", name="X Y") is None


def test_the_admin_form_shows_the_refusal_under_the_password(client, login, make_user):
    login("admin")
    response = client.post(
        "/users/new",
        data={
            "email": "weak@district.example",
            "role": "leader",
            "partner_id": "",
            "password": "demo-district-2026",
            "confirm": "demo-district-2026",
        },
    )
    assert response.status_code == 400
    assert "words anyone would guess first" in response.get_data(as_text=True)


def test_an_admin_reset_follows_the_policy(app, make_user):
    user = make_user("leader")
    with pytest.raises(Refused, match="a repeat or a sequence"):
        update_user(
            user,
            name=user.name,
            role="leader",
            partner_id=None,
            active=True,
            password="aaaaaaaaaaaa",
        )
    db.session.rollback()
    assert user.check_password(PASSWORD)


def test_create_user_command_follows_the_policy(app):
    result = app.test_cli_runner().invoke(
        args=[
            "create-user",
            "cli@district.example",
            "--role",
            "leader",
            "--password",
            "passwordpassword",
        ]
    )
    assert result.exit_code != 0
    assert "words anyone would guess first" in result.output


# ---- one's own change (6.2.2, 6.2.3) ---------------------------------------------------------


def _change(client, current: str = PASSWORD, new: str = GOOD, confirm: str | None = None):
    return client.post(
        "/account/password",
        data={"current": current, "password": new, "confirm": new if confirm is None else confirm},
    )


def test_the_page_asks_for_the_current_password_and_the_new_one_twice(client, login):
    login("partner")
    page = client.get("/account/password").get_data(as_text=True)
    for name in ('name="current"', 'name="password"', 'name="confirm"'):
        assert name in page
    assert 'autocomplete="current-password"' in page and 'autocomplete="new-password"' in page


def test_a_user_changes_their_own_password(client, login, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = login("leader")
    response = _change(client)
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password(GOOD) and not user.check_password(PASSWORD)
    assert any('"kind": "password.changed"' in r.getMessage() for r in caplog.records)
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == user.id, AuditEntry.action == "update")
    ).all()
    assert entries, "the change is audited"
    assert all(GOOD not in repr((e.before, e.after)) for e in entries)


@pytest.mark.parametrize(
    "current, new, confirm, message",
    [
        ("wrong current password", GOOD, None, "not your current password"),
        (PASSWORD, GOOD, "something else", "The passwords differ."),
        (PASSWORD, "demo-district-2026", None, "words anyone would guess first"),
        (PASSWORD, PASSWORD, None, "must differ from the current one"),
    ],
)
def test_a_change_is_refused_with_a_reason(client, login, current, new, confirm, message):
    user = login("leader")
    response = _change(client, current, new, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_guessing_the_current_password_is_throttled(client, login, monkeypatch):
    from registry.auth import throttle

    monkeypatch.setattr(throttle, "now", lambda: datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    login("leader")
    for _ in range(3):
        assert _change(client, "guess " * 3).status_code == 400
    response = _change(client)  # even the right one waits
    assert response.status_code == 429
    assert "Try again in 1 second." in response.get_data(as_text=True)


def test_signed_out_users_are_sent_to_sign_in(client):
    assert client.get("/account/password").status_code == 302


# ---- the emailed reset link -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(auth_services, "now", clock)
    return clock


def _ask(client, email: str):
    return client.post("/login/forgot", data={"email": email}, follow_redirects=True)


def _link(inbox) -> str:
    body = inbox.messages[-1].get_content()
    found = re.search(r"https?://\S+/login/reset/(\S+)", body)
    assert found, body
    return "/login/reset/" + found.group(1)


def test_the_sign_in_page_offers_a_reset(client):
    assert "/login/forgot" in client.get("/login").get_data(as_text=True)


def test_a_reset_link_is_emailed_and_works_once(client, make_user, smtp_server, clock, caplog):
    caplog.set_level(logging.WARNING, logger="registry.security")
    user = make_user("leader")
    _ask(client, user.email)
    assert [m["To"] for m in smtp_server.messages] == [user.email]
    link = _link(smtp_server)
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(select(PasswordResetToken))
    assert stored is not None and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert client.get(link).status_code == 200
    response = client.post(link, data={"password": GOOD, "confirm": GOOD})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password(GOOD)
    assert any('"kind": "password.reset"' in r.getMessage() for r in caplog.records)
    # Once only.
    assert client.get(link).status_code == 404
    again = client.post(link, data={"password": GOOD + " two", "confirm": GOOD + " two"})
    assert again.status_code == 404
    assert client.post("/login", data={"email": user.email, "password": GOOD}).status_code == 302


def test_a_reset_link_expires_after_30_minutes(client, make_user, smtp_server, clock):
    user = make_user("leader")
    _ask(client, user.email)
    link = _link(smtp_server)
    clock.at += timedelta(minutes=29, seconds=59)
    assert client.get(link).status_code == 200
    clock.at += timedelta(seconds=1)
    assert client.get(link).status_code == 404
    response = client.post(link, data={"password": GOOD, "confirm": GOOD})
    assert response.status_code == 404
    db.session.refresh(user)
    assert user.check_password(PASSWORD)


def test_the_answer_is_the_same_for_an_unknown_account(client, make_user, smtp_server, clock):
    user = make_user("leader")
    known = _ask(client, user.email)
    unknown = _ask(client, "nobody@district.example")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace(user.email, "E") == unknown.get_data(
        as_text=True
    ).replace("nobody@district.example", "E")
    assert len(smtp_server.messages) == 1


def test_a_reset_follows_the_policy(client, make_user, smtp_server, clock):
    user = make_user("leader")
    _ask(client, user.email)
    link = _link(smtp_server)
    response = client.post(link, data={"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert response.status_code == 400
    assert "a repeat or a sequence" in response.get_data(as_text=True)
    assert client.get(link).status_code == 200  # still usable


def test_a_new_link_replaces_the_old_one(client, make_user, smtp_server, clock):
    user = make_user("leader")
    _ask(client, user.email)
    first = _link(smtp_server)
    clock.at += timedelta(minutes=1, seconds=1)
    _ask(client, user.email)
    second = _link(smtp_server)
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200


def test_at_most_one_email_a_minute(client, make_user, smtp_server, clock):
    user = make_user("leader")
    for _ in range(5):
        assert "is on its way" in _ask(client, user.email).get_data(as_text=True)
    assert len(smtp_server.messages) == 1
    clock.at += timedelta(minutes=1, seconds=1)
    _ask(client, user.email)
    assert len(smtp_server.messages) == 2


def test_a_failed_mail_answers_the_same(client, make_user, smtp_server, clock):
    user = make_user("leader")
    smtp_server.refuse = True
    response = _ask(client, user.email)
    assert response.status_code == 200
    assert "is on its way" in response.get_data(as_text=True)


# ---- an admin's choice of password forces a change (6.2.3) ---------------------------------


def test_an_admin_reset_forces_a_change_at_next_sign_in(app, client, login, make_user):
    admin = make_user("admin")
    user = make_user("leader")
    update_user(
        user,
        name=user.name,
        role="leader",
        partner_id=None,
        active=True,
        password="chosen by the admin 4 you",
        acting=admin,
    )
    db.session.commit()
    assert user.must_change_password
    response = client.post(
        "/login", data={"email": user.email, "password": "chosen by the admin 4 you"}
    )
    assert response.headers["Location"].endswith("/account/password")
    assert client.get("/").headers["Location"].endswith("/account/password")
    page = client.get("/account/password").get_data(as_text=True)
    assert "An administrator chose your password" in page
    assert _change(client, "chosen by the admin 4 you", GOOD).status_code == 302
    db.session.refresh(user)
    assert not user.must_change_password
    assert client.get("/").status_code == 200


def test_an_account_made_on_the_admin_form_must_change_its_password(client, login):
    login("admin")
    client.post(
        "/users/new",
        data={
            "email": "fresh@district.example",
            "role": "leader",
            "partner_id": "",
            "password": GOOD,
            "confirm": GOOD,
        },
    )
    user = db.session.scalar(select(User).where(User.email == "fresh@district.example"))
    assert user is not None and user.must_change_password


def test_an_admin_changing_their_own_password_is_not_forced(app, make_user):
    admin = make_user("admin")
    update_user(
        admin,
        name=admin.name,
        role="admin",
        partner_id=None,
        active=True,
        password=GOOD,
        acting=admin,
    )
    assert not admin.must_change_password
