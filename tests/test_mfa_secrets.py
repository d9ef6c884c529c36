"""TOTP secrets are encrypted at rest (ASVS 11.7.1): written encrypted, read decrypted, the
key from config or derived from SECRET_KEY, rotated with old keys, and migrated both ways."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from flask import Flask, current_app
from flask_migrate import downgrade, upgrade

from registry.extensions import db
from registry.mfa import secret_box, services
from registry.models import MfaCredential, User
from tests.conftest import PASSWORD, ScratchDatabase, make_app

REVISION = "3b6d752af99f"  # the migration that encrypts the secrets


def stored(user: User) -> str:
    """The secret column as it is in the database."""
    table = MfaCredential.__table__
    return str(db.session.scalar(sa.select(table.c.secret).where(table.c.user_id == user.id)))


def enrol(user: User) -> str:
    services.start_enrolment(user)
    secret = services.pending_secret(user)
    assert secret is not None
    services.confirm_enrolment(user, pyotp.TOTP(secret).now())
    db.session.commit()
    return secret


def test_a_secret_is_stored_encrypted_and_read_decrypted(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    secret = enrol(user)
    token = stored(user)
    assert secret not in token and len(token) > 100
    assert Fernet(secret_box.derived_key(app.config["SECRET_KEY"])).decrypt(token.encode())
    assert services._secret(services.credential(user)) == secret  # type: ignore[arg-type]
    assert len(token) <= MfaCredential.__table__.c.secret.type.length  # type: ignore[attr-defined]


def test_the_key_comes_from_config_when_set(app: Flask, make_user: Callable[..., User]) -> None:
    key = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_KEY"] = key
    user = make_user("partner")
    secret = enrol(user)
    assert Fernet(key.encode()).decrypt(stored(user).encode()).decode() == secret


def test_a_malformed_key_is_refused(app: Flask) -> None:
    app.config["MFA_ENCRYPTION_KEY"] = "not a key"
    with pytest.raises(ValueError, match="MFA_ENCRYPTION_KEY"):
        secret_box.encrypt("ABC")


def test_the_derived_key_depends_on_the_secret_key() -> None:
    assert secret_box.derived_key("one") != secret_box.derived_key("two")
    assert secret_box.derived_key("one") == secret_box.derived_key("one")


def test_a_changed_key_without_the_old_one_is_a_clear_error(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = make_user("partner")
    enrol(user)
    app.config["MFA_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    with pytest.raises(secret_box.UnreadableSecret, match="MFA_ENCRYPTION_OLD_KEYS"):
        services._secret(services.credential(user))  # type: ignore[arg-type]


def test_rotation_reads_old_keys_and_reencrypts_under_the_new(
    app: Flask, make_user: Callable[..., User], client: Any
) -> None:
    user = make_user("partner")
    secret = enrol(user)  # under the key derived from SECRET_KEY
    new_key = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_KEY"] = new_key
    app.config["MFA_ENCRYPTION_OLD_KEYS"] = (app.config["SECRET_KEY"],)  # a former SECRET_KEY
    assert services._secret(services.credential(user)) == secret  # type: ignore[arg-type]

    result = app.test_cli_runner().invoke(args=["mfa-rotate-key"])
    assert result.exit_code == 0, result.output
    assert "1 two-step sign-in secrets" in result.output
    db.session.expire_all()
    assert Fernet(new_key.encode()).decrypt(stored(user).encode()).decode() == secret

    app.config["MFA_ENCRYPTION_OLD_KEYS"] = ()  # the old key can go now
    assert services._secret(services.credential(user)) == secret  # type: ignore[arg-type]
    # And signing in with a code works under the new key.
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    code = pyotp.TOTP(secret).at(datetime.now(UTC).timestamp() + 30)
    assert client.post("/login/code", data={"code": code}).status_code == 302


def test_an_old_fernet_key_is_accepted_too(app: Flask, make_user: Callable[..., User]) -> None:
    old_key = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_KEY"] = old_key
    user = make_user("partner")
    secret = enrol(user)
    app.config["MFA_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    app.config["MFA_ENCRYPTION_OLD_KEYS"] = (old_key,)
    assert services._secret(services.credential(user)) == secret  # type: ignore[arg-type]


def _previous_revision() -> str:
    config = current_app.extensions["migrate"].migrate.get_config()
    down = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


def _insert_user(conn: sa.Connection) -> int:
    """An account row in the schema as it is before the migration (whatever came before)."""
    table = sa.Table("user_account", sa.MetaData(), autoload_with=conn)
    values: dict[str, Any] = {"email": "mfa@district.example", "role": "partner"}
    for column in table.columns:
        if column.name in values or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        python_type = column.type.python_type
        values[column.name] = {str: "", int: 1, bool: False, datetime: datetime.now(UTC)}[
            python_type
        ]
    key = conn.execute(sa.insert(table).values(values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def test_the_migration_encrypts_existing_secrets_and_its_downgrade_decrypts_them(
    test_database: ScratchDatabase,
) -> None:
    app = make_app(test_database.new_url())
    with app.app_context():
        previous = _previous_revision()
        upgrade(revision=previous)
        secret = pyotp.random_base32()
        now = datetime.now(UTC)
        with db.engine.begin() as conn:
            user_id = _insert_user(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO mfa_credential (user_id, secret, created_at, confirmed_at) "
                    "VALUES (:u, :s, :t, :t)"
                ),
                {"u": user_id, "s": secret, "t": now},
            )

        upgrade(revision=REVISION)
        with db.engine.connect() as conn:
            token = conn.execute(sa.text("SELECT secret FROM mfa_credential")).scalar_one()
        assert token != secret and secret_box.decrypt(token) == secret

        downgrade(revision=previous)
        with db.engine.connect() as conn:
            plain = conn.execute(sa.text("SELECT secret FROM mfa_credential")).scalar_one()
        assert plain == secret
        downgrade(revision="base")
        db.engine.dispose()
