"""Issue 12, inputs, headers and limits: download names, security headers, partner accounts
without a partner, and the version check on account edits."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.downloads import ascii_fallback, content_disposition
from registry.extensions import db
from registry.models import NeedIndexDefinition, User
from registry.vocabulary import Role
from tests.conftest import ScratchDatabase

HOSTILE_NAMES = [
    'report.html"; x="',
    "Chỉ số nhu cầu Việt Nam",
    "Need 📈 index",
    "two\r\nSet-Cookie: a=b",
    "tab\there\x00nul",
    "../../etc/passwd",
    "",
]


def _parts(header: str) -> tuple[str, str]:
    """The plain filename and the decoded filename* of a Content-Disposition header."""
    assert header.startswith('attachment; filename="')
    plain, _sep, star = header.partition("; filename*=UTF-8''")
    return plain.removeprefix('attachment; filename="').removesuffix('"'), unquote(star)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_download_name_can_neither_break_the_header_nor_change_the_extension(name: str) -> None:
    header = content_disposition(name, ".csv")
    assert header.isascii()
    assert "\r" not in header and "\n" not in header and "\x00" not in header
    plain, exact = _parts(header)
    # The plain name holds no quote, semicolon or slash: it can't end the parameter.
    assert '"' not in plain and ";" not in plain and "/" not in plain and "\\" not in plain
    assert plain.endswith(".csv") and exact.endswith(".csv")
    assert ";" not in header.partition("filename*=")[2]  # the exact name is %-encoded
    assert not any(ord(c) < 32 for c in exact)


def test_the_exact_name_survives_in_filename_star() -> None:
    _plain, exact = _parts(content_disposition("Chỉ số 📈", ".xlsx"))
    assert exact == "Chỉ số 📈.xlsx"
    assert ascii_fallback("Zoë's list", ".csv") == "Zoe_s list.csv"
    assert ascii_fallback("📈", ".csv") == "download.csv"


@pytest.mark.parametrize("name", HOSTILE_NAMES[:4])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_need_export_is_named_safely_from_the_index_name(
    client: FlaskClient,
    login: Callable[..., User],
    definition: NeedIndexDefinition,
    name: str,
    fmt: str,
) -> None:
    definition.name = name
    db.session.commit()
    login(Role.COORDINATOR)
    response = client.get(f"/equity/need?definition={definition.id}&format={fmt}")
    assert response.status_code == 200
    header = response.headers["Content-Disposition"]
    assert header.isascii() and "\n" not in header
    plain, exact = _parts(header)
    assert plain.startswith("need-") and plain.endswith(f".{fmt}") and '"' not in plain
    assert exact.endswith(f".{fmt}")
    if name.isprintable():
        assert name in exact
    assert "no-store" in response.headers["Cache-Control"]


def test_every_content_disposition_goes_through_registry_downloads() -> None:
    import registry

    root = Path(registry.__file__).parent
    writers = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "Content-Disposition" in path.read_text(encoding="utf-8")
        or "download_name=" in path.read_text(encoding="utf-8")
    ]
    assert sorted(writers) in (["documents/views.py", "downloads.py"], ["downloads.py"])


def test_documents_use_the_shared_header(app: Flask) -> None:
    from registry.documents import services as document_services

    header = document_services.content_disposition('cert"; x=".pdf')
    assert header == content_disposition('cert"; x=".pdf')


# ---- headers ---------------------------------------------------------------------------------


def test_the_policy_forbids_plugins_and_base_changes(client: FlaskClient) -> None:
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "object-src 'none'" in policy and "base-uri 'none'" in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP: no HSTS


def _fresh_app(test_database: ScratchDatabase, **config: object) -> Flask:
    from tests.conftest import make_app

    app = make_app(test_database.url, **config)

    @app.get("/_whoami")
    def whoami() -> dict[str, object]:
        from flask import request

        return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}

    return app


def test_hsts_is_sent_when_cookies_are_secure(test_database: ScratchDatabase) -> None:
    app = _fresh_app(test_database, SESSION_COOKIE_SECURE=True)
    response = app.test_client().get("/_whoami")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "registry.district.example",
}


def test_forwarded_headers_are_ignored_without_trusted_proxies(
    test_database: ScratchDatabase,
) -> None:
    app = _fresh_app(test_database)
    seen = app.test_client().get("/_whoami", headers=FORWARDED).get_json()
    assert seen["addr"] != "203.0.113.7" and seen["scheme"] == "http"


def test_one_trusted_proxy_is_believed(test_database: ScratchDatabase) -> None:
    app = _fresh_app(test_database, TRUSTED_PROXIES=1)
    seen = app.test_client().get("/_whoami", headers=FORWARDED).get_json()
    assert seen == {"addr": "203.0.113.7", "scheme": "https", "host": "registry.district.example"}


def test_trusted_proxies_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.config import ConfigError, Settings

    monkeypatch.setenv("TRUSTED_PROXIES", "2")
    assert Settings.from_environ().trusted_proxies == 2
    monkeypatch.setenv("TRUSTED_PROXIES", "many")
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        Settings.from_environ()


def test_exports_are_never_cached(client: FlaskClient, login: Callable[..., User]) -> None:
    login(Role.COORDINATOR)
    response = client.get("/partners/?format=csv")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


# ---- partner accounts without a partner --------------------------------------------------------


def _unlinked_partner_user(make_user: Callable[..., User]) -> User:
    """A partner account whose partner link is gone (as when its partner was deleted)."""
    from sqlalchemy import update

    user = make_user(Role.PARTNER)
    db.session.execute(update(User).where(User.id == user.id).values(partner_id=None))
    db.session.commit()
    db.session.expire_all()
    assert user.partner_id is None
    return user


def test_a_partner_account_without_a_partner_sees_nothing(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    make_mou: Callable[..., object],
    make_service: Callable[..., object],
) -> None:
    mou = make_mou()
    service = make_service()
    login(user=_unlinked_partner_user(make_user))
    mous = client.get("/mous/")
    assert mous.status_code == 404
    assert mou.title not in mous.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/mous/?format=csv").status_code == 404
    assert client.get(f"/mous/{mou.id}").status_code == 404  # type: ignore[attr-defined]
    assert client.get("/services/").status_code == 404
    assert client.get(f"/services/{service.id}").status_code == 404  # type: ignore[attr-defined]
    assert client.get("/partners/mine").status_code == 404
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 404


def test_a_linked_partner_still_lists_its_own_mous(
    client: FlaskClient, login: Callable[..., User], make_mou: Callable[..., object]
) -> None:
    own = make_mou()
    other = make_mou()
    login(Role.PARTNER, partner=own.partner)  # type: ignore[attr-defined]
    page = client.get("/mous/").get_data(as_text=True)
    assert f'href="/mous/{own.id}"' in page  # type: ignore[attr-defined]
    assert f'href="/mous/{other.id}"' not in page  # type: ignore[attr-defined]


def test_the_services_refuse_a_partner_role_without_a_link(
    app: Flask, make_user: Callable[..., User]
) -> None:
    from registry.refusals import Refused
    from registry.users import services as user_services

    with pytest.raises(Refused, match="partner organisation") as refused:
        user_services.create_user(
            email="nolink@partner.example",
            role=Role.PARTNER,
            partner_id=None,
            password="a long unusual phrase of words 91",
        )
    assert refused.value.field == "partner_id"
    db.session.rollback()
    leader = make_user(Role.LEADER)
    with pytest.raises(Refused, match="partner organisation"):
        user_services.update_user(leader, name="x", role=Role.PARTNER, partner_id=None, active=True)
    db.session.rollback()


def test_the_model_refuses_to_save_a_partner_role_without_a_link(
    app: Flask, make_user: Callable[..., User]
) -> None:
    from registry.models.user import PartnerLinkMissing

    db.session.add(User(email="raw@partner.example", role=Role.PARTNER, password_hash="x"))
    with pytest.raises(PartnerLinkMissing):
        db.session.flush()
    db.session.rollback()
    linked = make_user(Role.PARTNER)
    linked.partner = None
    with pytest.raises(PartnerLinkMissing):
        db.session.flush()
    db.session.rollback()
    leader = make_user(Role.LEADER)
    leader.role = Role.PARTNER
    with pytest.raises(PartnerLinkMissing):
        db.session.flush()
    db.session.rollback()


def test_an_unlinked_partner_account_can_still_be_saved_unchanged_otherwise(
    app: Flask, make_user: Callable[..., User]
) -> None:
    user = _unlinked_partner_user(make_user)
    user.name = "Renamed"  # neither role nor link: the guard does not stand in the way
    db.session.commit()
    assert db.session.get(User, user.id).name == "Renamed"  # type: ignore[union-attr]


# ---- version check on account edits -------------------------------------------------------------


def _account_form(user: User, **overrides: str) -> dict[str, str]:
    data = {
        "name": user.name,
        "role": user.role.value,
        "partner_id": str(user.partner_id or ""),
        "active": "y" if user.active else "",
        "password": "",
        "confirm": "",
        "version": str(user.version),
    }
    data.update(overrides)
    return data


def test_the_edit_form_carries_the_version(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User]
) -> None:
    user = make_user(Role.LEADER)
    login(Role.ADMIN)
    page = client.get(f"/users/{user.id}/edit").get_data(as_text=True)
    assert f'name="version" type="hidden" value="{user.version}"' in page


def test_a_stale_account_edit_is_refused_with_409(
    client: FlaskClient, login: Callable[..., User], make_user: Callable[..., User]
) -> None:
    user = make_user(Role.LEADER, name="Lee")
    login(Role.ADMIN)
    opened = _account_form(user)  # two admins open the form at the same version
    first = client.post(f"/users/{user.id}/edit", data={**opened, "name": "Lee One"})
    assert first.status_code == 302
    stale = client.post(f"/users/{user.id}/edit", data={**opened, "name": "Lee Two"})
    assert stale.status_code == 409
    db.session.expire_all()
    assert db.session.get(User, user.id).name == "Lee One"  # type: ignore[union-attr]
    missing = {k: v for k, v in _account_form(user, name="Lee Three").items() if k != "version"}
    assert client.post(f"/users/{user.id}/edit", data=missing).status_code == 409
    fresh = client.post(f"/users/{user.id}/edit", data=_account_form(user, name="Lee Four"))
    assert fresh.status_code == 302


# ---- dependencies -------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
INSTALL = (
    ".venv/bin/pip install -r requirements.lock && .venv/bin/pip install --no-deps -e '.[dev]'"
)


@pytest.mark.nodb
def test_every_locked_dependency_is_pinned_with_a_hash() -> None:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    requirements = re.split(r"(?m)^(?=[A-Za-z0-9])", text)[1:]
    assert len(requirements) > 20
    for requirement in requirements:
        assert re.match(r"^[A-Za-z0-9._\-\[\],]+==[^\s;]+", requirement), requirement
        assert "--hash=sha256:" in requirement, requirement
    names = {r.split("==")[0].split("[")[0].lower() for r in requirements}
    assert {"flask", "sqlalchemy", "pytest", "ruff"} <= names


@pytest.mark.nodb
def test_ci_and_the_readme_install_from_the_lock() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/pip install -q -r requirements.lock &&" in ci
    assert ".venv/bin/pip install -q --no-deps -e '.[dev]'" in ci
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", setup, re.S)
    assert len(commands) == 2
    assert commands[1] == f"python3 -m venv .venv && {INSTALL} && .venv/bin/python -m pytest"
    assert "pip-compile --generate-hashes" in setup
