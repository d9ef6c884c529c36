"""The family directory in headless Chromium: every page type in every language passes
axe-core's WCAG 2.1 AA rules, reflows at 320 px without sideways scrolling, keeps the focus
visible, works without JavaScript, and prints without its controls."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from tests.browser.test_keyboard_and_reflow import FOCUS_JS, NARROW, REFLOW_JS
from tests.browser.test_pages_in_chromium import _violations

LANGUAGES = ("en", "es", "pt")


@pytest.fixture
def visitor(browser: object) -> Iterator[Callable[..., object]]:
    """A page for an anonymous visitor whose browser asks for a language.

    The pages have no scripts; `scripts=False` turns them off in the browser too (axe-core
    and the focus checks are scripts of the test, and need them on).
    """
    contexts = []

    def make(lang: str, scripts: bool = True, **options: object) -> object:
        context = browser.new_context(  # type: ignore[attr-defined]
            bypass_csp=True, locale=lang, java_script_enabled=scripts, **options
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _first_link(page: object, live_server: str, path: str, prefix: str) -> str:
    page.goto(f"{live_server}{path}")  # type: ignore[attr-defined]
    hrefs = page.eval_on_selector_all(  # type: ignore[attr-defined]
        f"main a[href^='{prefix}']", "links => links.map(a => a.getAttribute('href'))"
    )
    found = next((h for h in hrefs if re.fullmatch(rf"{re.escape(prefix)}\d+", h)), None)
    assert found, f"no link to {prefix} on {path}"
    return str(found)


def _directory_pages(page: object, live_server: str) -> list[str]:
    """A page of every type: search (plain, filtered, refused, empty), service, schools, school."""
    school = _first_link(page, live_server, "/directory/schools/", "/directory/schools/")
    service = _first_link(page, live_server, school, "/directory/services/")
    return [
        "/directory/",
        "/directory/?grade=3&language=Spanish&category=academic_support",
        "/directory/?zip=12",
        "/directory/?q=no+such+program+anywhere",
        "/directory/?page=2",
        service,
        "/directory/schools/",
        "/directory/schools/?q=no+such+school",
        school,
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_directory_page_passes_axe_in_each_language(
    visitor: Callable[..., object], live_server: str, lang: str
) -> None:
    page = visitor(lang)
    for path in _directory_pages(page, live_server):
        response = page.goto(f"{live_server}{path}")  # type: ignore[attr-defined]
        assert response is not None and response.status == 200, path
        assert page.get_attribute("html", "lang") == lang, path  # type: ignore[attr-defined]
        assert page.locator("h1").count() == 1, path  # type: ignore[attr-defined]
        assert _violations(page) == [], (lang, path)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_directory_page_reflows_at_320_px(
    visitor: Callable[..., object], live_server: str, lang: str
) -> None:
    page = visitor(lang, viewport=NARROW)
    problems = []
    for path in _directory_pages(page, live_server):
        page.goto(f"{live_server}{path}")  # type: ignore[attr-defined]
        reflow = page.evaluate(REFLOW_JS)  # type: ignore[attr-defined]
        if reflow["overflow"] > 0:
            problems.append(f"{path}: {reflow['overflow']}px too wide, {reflow['culprits']}")
    assert problems == []


def test_searching_and_switching_language_without_javascript(
    visitor: Callable[..., object], live_server: str
) -> None:
    page = visitor("en", scripts=False, viewport=NARROW)
    page.goto(f"{live_server}/directory/")  # type: ignore[attr-defined]
    page.select_option("select#grade", "3")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("main form button[type=submit]")  # type: ignore[attr-defined]
    assert "grade=3" in page.url  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("nav.langs a[hreflang=pt]")  # type: ignore[attr-defined]
    assert page.get_attribute("html", "lang") == "pt"  # type: ignore[attr-defined]
    assert "grade=3" in page.url  # the same search, in Portuguese  # type: ignore[attr-defined]
    assert page.input_value("select#grade") == "3"  # type: ignore[attr-defined]
    # The language stays chosen on the next page.
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("nav.sections a[href='/directory/schools/']")  # type: ignore[attr-defined]
    assert page.get_attribute("html", "lang") == "pt"  # type: ignore[attr-defined]


def test_the_keyboard_reaches_the_search_with_the_focus_in_sight(
    visitor: Callable[..., object], live_server: str
) -> None:
    page = visitor("es", viewport=NARROW)
    page.goto(f"{live_server}/directory/")  # type: ignore[attr-defined]
    for _ in range(40):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        focus = page.evaluate(FOCUS_JS)  # type: ignore[attr-defined]
        assert focus["inView"] and float(focus["contrast"]) >= 3, focus
        if page.evaluate("() => document.activeElement.id === 'q'"):  # type: ignore[attr-defined]
            break
    else:
        raise AssertionError("the search field never took the focus")


def test_a_directory_page_prints_without_its_controls(
    visitor: Callable[..., object], live_server: str
) -> None:
    page = visitor("en", scripts=False)
    page.goto(f"{live_server}/directory/")  # type: ignore[attr-defined]
    page.emulate_media(media="print")  # type: ignore[attr-defined]
    for hidden in ("form.search", "nav.langs", "nav.sections"):
        assert not page.is_visible(hidden), hidden  # type: ignore[attr-defined]
    assert page.is_visible("main h1")  # type: ignore[attr-defined]
