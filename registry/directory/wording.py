"""Words the directory shows in the visitor's language: descriptions and language names."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from babel import Locale, UnknownLocaleError
from flask import current_app
from flask_babel import get_locale


class Described(Protocol):
    description: str
    description_translations: dict[str, str]


@dataclass(frozen=True)
class Description:
    """A description to show: the visitor's translation, or the original with a note."""

    text: str
    translated: bool
    in_original: bool  # shown as the partner wrote it, not in the visitor's language


def _reader() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def describe(record: Described) -> Description:
    """The record's description in the visitor's language when there is one, else the original."""
    locale = _reader()
    translated = str((record.description_translations or {}).get(locale) or "").strip()
    if translated:
        return Description(translated, True, False)
    original = record.description or ""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    return Description(original, False, bool(original.strip()) and locale != default)


@cache
def _codes_by_english_name() -> dict[str, str]:
    return {name.casefold(): code for code, name in Locale("en").languages.items()}


@cache
def _names_in(locale: str) -> dict[str, str]:
    try:
        return dict(Locale.parse(locale).languages)
    except (UnknownLocaleError, ValueError):
        return {}


def language_name(name: str) -> str:
    """A language as partners record it ("Spanish") in the visitor's words ("Español")."""
    code = _codes_by_english_name().get(name.strip().casefold())
    shown = _names_in(_reader()).get(code) if code else None
    return shown[:1].upper() + shown[1:] if shown else name
