"""The app factory, configuration, health check, sign-in and CSRF."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import FileSystemLoader

import registry
from registry import create_app
from registry.config import ConfigError, Settings, build_config
from tests.conftest import PASSWORD, ScratchDatabase, make_app

ROOT = Path(__file__).resolve().parent.parent


def test_refuses_to_start_without_secret_key_outside_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_reads_database_url_and_secret_key_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite3")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.sqlite3")


@pytest.mark.parametrize(
    "value, roles",
    [("", ()), ("admin", ("admin",)), (" admin , coordinator ", ("admin", "coordinator"))],
)
def test_mfa_required_roles_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, roles: tuple[str, ...]
) -> None:
    monkeypatch.setenv("MFA_REQUIRED_ROLES", value)
    settings = Settings.from_environ()
    assert build_config("/tmp", settings, {"TESTING": True})["MFA_REQUIRED_ROLES"] == roles


def test_healthz_answers_after_a_real_query(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path) -> None:
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/nothing.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


def test_anonymous_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_wrong_password_is_refused_with_a_message(client: FlaskClient, make_user) -> None:
    user = make_user("coordinator")
    response = client.post("/login", data={"email": user.email, "password": "wrong"})
    assert response.status_code == 400
    assert "do not match" in response.get_data(as_text=True)


def test_inactive_account_cannot_sign_in(client: FlaskClient, make_user) -> None:
    user = make_user("coordinator", active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400


def test_login_ignores_an_offsite_next(client: FlaskClient, make_user) -> None:
    user = make_user("coordinator")
    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": PASSWORD}
    )
    assert response.headers["Location"].endswith("/")
    assert "evil" not in response.headers["Location"]


def test_passwords_are_stored_as_argon2_hashes(make_user) -> None:
    user = make_user("admin")
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash


def test_post_without_csrf_token_is_refused(
    test_database: ScratchDatabase, app: Flask, make_user
) -> None:
    csrf_app = make_app(test_database.url, WTF_CSRF_ENABLED=True)
    user = make_user("coordinator")
    client = csrf_app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    with csrf_app.app_context():  # the CSRF failure is a security event, stored: close its pool
        from registry.extensions import db

        db.engine.dispose()


def _setuptools_config() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        config: dict[str, Any] = tomllib.load(fh)["tool"]["setuptools"]
    return config


def _folders_of(app: Flask) -> tuple[str, str]:
    assert isinstance(app.jinja_loader, FileSystemLoader)
    return app.jinja_loader.searchpath[0], app.extensions["migrate"].directory


@pytest.mark.nodb
def test_a_regular_install_ships_every_package_template_and_migration() -> None:
    config = _setuptools_config()
    packages = [
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("registry", "allocation")
        for init in (ROOT / top).rglob("__init__.py")
    ]
    assert set(packages) <= set(config["packages"]), "a package is missing from pyproject.toml"

    # registry/__init__.py's bundled_folder looks for registry/templates and registry/migrations.
    mapped = {"registry.templates": "templates", "registry.migrations": "migrations"}
    assert config["package-dir"] == mapped
    for package, folder in mapped.items():
        source = ROOT / folder
        patterns = config["package-data"][package]
        shipped = {path for pattern in patterns for path in source.glob(pattern)}
        files = [
            path
            for path in source.rglob("*")
            if path.is_file()
            and "__pycache__" not in path.parts
            and not (path.suffix == ".py" and path.parent == source)  # modules: always shipped
        ]
        assert len(files) > 3, folder
        missing = [path.relative_to(ROOT).as_posix() for path in files if path not in shipped]
        assert not missing, f"pyproject.toml's package-data leaves out {missing}"


@pytest.mark.nodb
def test_the_app_uses_the_templates_and_migrations_inside_an_installed_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed = tmp_path / "site-packages" / "registry"
    (installed / "templates").mkdir(parents=True)
    (installed / "migrations").mkdir()
    monkeypatch.setattr(registry, "PACKAGE", installed)
    app = make_app("sqlite://")
    assert _folders_of(app) == (str(installed / "templates"), str(installed / "migrations"))


@pytest.mark.nodb
def test_a_source_checkout_uses_its_top_level_templates_and_migrations() -> None:
    app = make_app("sqlite://")
    assert _folders_of(app) == (str(ROOT / "templates"), str(ROOT / "migrations"))
