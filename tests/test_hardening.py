"""Issue 12, inputs, headers and limits: download names, security headers, partner accounts
without a partner, and the version check on account edits."""

from __future__ import annotations

from collections.abc import Callable
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
    from pathlib import Path

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
