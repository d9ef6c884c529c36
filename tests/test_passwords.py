"""Passwords: the policy, changing one's own, the emailed reset link, the forced change."""

from __future__ import annotations

import pytest

from registry.audit import SYSTEM, set_actor
from registry.auth.passwords import problem
from registry.extensions import db
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
