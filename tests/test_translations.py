"""The Spanish and Portuguese catalogs: complete, consistent with the code, compiled, served."""

from __future__ import annotations

import fnmatch
import gettext
import io
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient
from flask_babel import refresh

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "registry" / "translations"
LOCALES = ("es", "pt")
# The same keywords as the extraction command in the README (-k _l -k lazy_gettext).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

# %(name)s, %(n).2f, %s, %d … and the escaped %% (Jinja's _() always %-formats).
PERCENT = re.compile(
    r"%(?:\((?P<name>\w+)\))?[-#0 +]?(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>[diouxXeEfFgGcrs%])"
)
BRACES = re.compile(r"\{[\w.\[\]]*(?:![rsa])?(?::[^{}]*)?\}")
SAME_KIND = str.maketrans("iuFGX", "ddfgx")
MARKUP = re.compile(r"<[^>]+>|&\w+;|&#\d+;")

nodb = pytest.mark.nodb


def template_ids() -> set[str]:
    with open(TRANSLATIONS / "messages.pot", "rb") as fh:
        return {_msgid(m.id) for m in read_po(fh) if m.id}


def catalog(locale: str) -> Catalog:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=locale)


def _msgid(msgid: str | tuple[str, ...]) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid


def _strings(message_string: str | tuple[str, ...]) -> tuple[str, ...]:
    return message_string if isinstance(message_string, tuple) else (message_string,)


def _keep_directory(path: str) -> bool:
    # Babel's own default also skips folders starting with "_", which would miss
    # templates/_macros; skip only hidden folders and byte-code caches.
    name = os.path.basename(path)
    return not name.startswith(".") and name != "__pycache__"


@nodb
def test_the_template_holds_every_string_marked_in_the_code() -> None:
    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    extracted = {
        _msgid(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT),
            method_map,
            options_map,
            keywords=KEYWORDS,
            directory_filter=_keep_directory,
        )
    }
    assert len(extracted) > 800, "the extraction found far too few strings"
    assert "Please correct the following" in extracted  # templates/_macros is scanned
    missing = sorted(extracted - template_ids())
    assert not missing, (
        "Strings marked in the code are not in messages.pot; re-extract, `pybabel update`, "
        f"translate and compile (README, Configuration): {missing[:20]}"
    )


@nodb
@pytest.mark.parametrize("locale", LOCALES)
def test_every_string_is_translated(locale: str) -> None:
    messages = {_msgid(m.id): m for m in catalog(locale) if m.id}
    missing = sorted(template_ids() - messages.keys())
    assert not missing, f"{locale}: not in the catalog (run pybabel update): {missing[:20]}"
    empty = sorted(i for i, m in messages.items() if not all(_strings(m.string)))
    assert not empty, f"{locale}: untranslated: {empty[:20]}"
    fuzzy = sorted(i for i, m in messages.items() if m.fuzzy)
    assert not fuzzy, f"{locale}: fuzzy (check, then drop the flag): {fuzzy[:20]}"


@nodb
@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_and_markup_match(locale: str) -> None:
    def signature(text: str) -> tuple[list[str], list[str], list[str]]:
        named = sorted(f"{m['name']}:{m['type']}" for m in PERCENT.finditer(text) if m["name"])
        # Unnamed ones by kind, as Babel compares them (%i and %d are the same).
        rest = sorted(
            m["type"].translate(SAME_KIND) for m in PERCENT.finditer(text) if not m["name"]
        )
        other = sorted(BRACES.findall(text) + MARKUP.findall(text))
        return named, rest, other

    wrong = []
    for message in catalog(locale):
        if not message.id:
            continue
        msgid = _msgid(message.id)
        for translated in _strings(message.string):
            if signature(translated) != signature(msgid):
                wrong.append((msgid, translated))
    assert not wrong, f"{locale}: placeholders or markup differ: {wrong[:10]}"


@nodb
@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_passes_babels_checks_and_the_compiled_file_is_current(locale: str) -> None:
    po = catalog(locale)
    problems = [(m.id, [str(e) for e in errors]) for m, errors in po.check()]
    assert not problems, f"{locale}: {problems[:10]}"

    buffer = io.BytesIO()
    write_mo(buffer, po)  # it compiles
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.is_file(), f"{locale}: run pybabel compile -d registry/translations"
    with open(mo_path, "rb") as fh:
        installed = gettext.GNUTranslations(fh)
    stale = [
        _msgid(m.id)
        for m in po
        if m.id and not isinstance(m.id, tuple) and installed.gettext(m.id) != m.string
    ]
    assert not stale, f"{locale}: messages.mo is older than the .po; recompile: {stale[:10]}"


@nodb
def test_a_regular_install_ships_the_catalogs() -> None:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        patterns = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["registry"]
    package = ROOT / "registry"
    for path in [*TRANSLATIONS.rglob("*.mo"), *TRANSLATIONS.rglob("*.po")]:
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


@pytest.mark.parametrize(
    ("locale", "heading", "button_text"),
    [("es", "Iniciar sesión", "Contraseña"), ("pt", "Entrar", "Senha")],
)
def test_the_login_page_speaks_the_chosen_language(
    client: FlaskClient, locale: str, heading: str, button_text: str
) -> None:
    page = client.get(f"/login?lang={locale}").get_data(as_text=True)
    assert f'<html lang="{locale}">' in page
    assert f"<h1>{heading}</h1>" in page
    assert button_text in page
    assert "Sign in" not in page

    # The choice is remembered for the next page. (Flask-Babel caches the locale on `g`,
    # which the app fixture's context shares between requests: forget it, as a new request
    # on a server would.)
    refresh()
    again = client.get("/login").get_data(as_text=True)
    assert f'<html lang="{locale}">' in again


def test_the_browser_language_is_used_without_a_choice(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "pt-BR,pt;q=0.9"}).get_data(
        as_text=True
    )
    assert '<html lang="pt">' in page
    assert "<h1>Entrar</h1>" in page


def test_english_stays_the_default(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>Sign in</h1>" in page


def test_form_options_from_the_vocabularies_are_translated(
    client: FlaskClient, login: Callable[..., object]
) -> None:
    login("coordinator")
    refresh()  # the sign-in request's locale is cached on the shared `g`
    page = client.get("/partners/?lang=es").get_data(as_text=True)
    assert "Organización sin fines de lucro" in page  # PartnerType.NONPROFIT
    assert ">Nonprofit<" not in page
