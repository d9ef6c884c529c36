"""What axe-core cannot see: keyboard-only passes with a visible focus, and reflow at 320 px.

The keyboard passes press only Tab, Shift+Tab, Enter and Space to move and act
(and type into the focused field); after every move the focused element must be
in the viewport with a focus indicator of at least 3:1 against what surrounds it
(WCAG 2.1 2.4.7 and 1.4.11). At 320 CSS px nothing but a data table in its
`.table-scroll` region may scroll sideways (1.4.10).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry import district_time
from registry.schoolyear import school_year_of, year_bounds
from tests.browser.conftest import DEMO_PASSWORD
from tests.browser.test_pages_in_chromium import (
    COORDINATOR_PAGES,
    LEADER_PAGES,
    PARTNER_PAGES,
    _violations,
)

SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")


def _script(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


NARROW = {"width": 320, "height": 640}
MISSING = "/no-such-page"  # the error page

# The focused element, whether it shows in the viewport, and the best contrast of its
# focus indicator (outline or box-shadow ring) against the background around it.
FOCUS_JS = _script("focus.js")

# How far the page reaches past the viewport, and the widest culprits outside a
# horizontally scrolling table region.
REFLOW_JS = _script("reflow.js")


def _focus_is_visible(page: object) -> dict[str, object]:
    focus: dict[str, object] = page.evaluate(FOCUS_JS)  # type: ignore[attr-defined]
    assert focus["inView"], f"focused element off screen: {focus}"
    assert float(focus["contrast"]) >= 3, f"focus indicator below 3:1: {focus}"  # type: ignore[arg-type]
    return focus


def _tab_to(
    page: object, selector: str, text: str = "", *, backwards: bool = False, limit: int = 200
) -> None:
    """Press Tab (or Shift+Tab) until `selector` has focus, checking the focus at every stop."""
    key = "Shift+Tab" if backwards else "Tab"
    seen = []
    for _ in range(limit):
        page.keyboard.press(key)  # type: ignore[attr-defined]
        seen.append(_focus_is_visible(page)["what"])
        if _focused(page, selector, text):
            return
    raise AssertionError(f"{selector} never took focus; focus went through {seen}")


def _tab_through(page: object, limit: int = 300) -> list[str]:
    """Tab from the top to the end of the page, checking the focus at every stop."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")  # type: ignore[attr-defined]
        if page.evaluate("() => document.activeElement === document.body"):  # type: ignore[attr-defined]
            return stops
        where = "main " if _focused(page, "main *") else ""
        if _focused(page, "th *"):
            where += "th "
        stops.append(where + str(_focus_is_visible(page)["what"]))
    raise AssertionError(f"Tab never left the page: {stops}")


def _focused(page: object, selector: str, text: str = "") -> bool:
    return bool(
        page.evaluate(  # type: ignore[attr-defined]
            "([s, text]) => document.activeElement.matches(s)"
            " && document.activeElement.textContent.includes(text)",
            [selector, text],
        )
    )


@pytest.fixture
def new_page(browser: object) -> Iterator[Callable[..., object]]:
    contexts = []

    def make(**options: object) -> object:
        context = browser.new_context(bypass_csp=True, **options)  # type: ignore[attr-defined]
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _sign_in_by_keyboard(page: object, live_server: str, account: str, password: str) -> None:
    page.goto(f"{live_server}/login")  # type: ignore[attr-defined]
    _tab_to(page, ".skip-link")
    _tab_to(page, "input[name=email]")
    page.keyboard.type(account)  # type: ignore[attr-defined]
    _tab_to(page, "input[name=password]")
    page.keyboard.type(password)  # type: ignore[attr-defined]
    _tab_to(page, "main button[type=submit]")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]


def test_signing_in_by_keyboard_with_one_mistake(
    new_page: Callable[..., object], live_server: str
) -> None:
    page = new_page()
    _sign_in_by_keyboard(page, live_server, "coordinator@demo.example", "not the password")
    # The failed submit starts at the summary, whose link leads to the field to correct.
    assert _focused(page, ".error-summary")
    _focus_is_visible(page)
    _tab_to(page, ".error-summary a")
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert _focused(page, "input[name=password]")
    _focus_is_visible(page)
    assert page.get_attribute("main input[name=email]", "autocomplete") == "username"  # type: ignore[attr-defined]
    assert page.get_attribute("main input[name=password]", "autocomplete") == "current-password"  # type: ignore[attr-defined]
    assert _violations(page) == []
    page.keyboard.type(DEMO_PASSWORD)  # type: ignore[attr-defined]
    _tab_to(page, "main button[type=submit]")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert page.url.rstrip("/") == live_server  # type: ignore[attr-defined]
    # Shift+Tab walks back through the header with the focus in sight.
    _tab_to(page, "a[href='/mous/']")
    _tab_to(page, ".brand", backwards=True)
    # A whole list page: filters, the checkbox, sort links, the table's scroll region, the pager.
    page.goto(f"{live_server}/mous/")  # type: ignore[attr-defined]
    stops = _tab_through(page)
    for kind in ("main select", "main input#expiring", "main th a", "main div.table-scroll"):
        assert any(stop.startswith(kind) for stop in stops), (kind, stops)


def test_a_new_mou_with_one_commitment_by_keyboard(
    new_page: Callable[..., object], live_server: str
) -> None:
    page = new_page()
    _sign_in_by_keyboard(page, live_server, "coordinator@demo.example", DEMO_PASSWORD)
    _tab_to(page, "a[href='/mous/']")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    _tab_to(page, "main a[href='/mous/new']")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]

    # Sent without a partner or school first: the summary's links reach their pickers, where
    # Down lists the first matches (by name, as the menus listed them), Down and Enter choose.
    _tab_to(page, "main button[type=submit]")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert _focused(page, ".error-summary")
    _focus_is_visible(page)
    for picker in ("partner_id", "school_ids"):
        # Back up to the summary for the second link (Shift+Tab).
        _tab_to(page, f".error-summary a[href='#{picker}']", backwards=picker != "partner_id")
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
        assert _focused(page, f"#{picker}")
        _focus_is_visible(page)
        page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
        page.locator(f"#{picker}-listbox [role=option]").first.wait_for()  # type: ignore[attr-defined]
        page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
        chosen = page.locator(f"[data-name={picker}] input[type=hidden][name={picker}]")  # type: ignore[attr-defined]
        assert chosen.first.input_value()
    # A term in the school year the form proposes: this one, in the district.
    first, last = year_bounds(school_year_of(district_time.today()))
    for name, value in (("start_date", f"0901{first.year}"), ("end_date", f"0630{last.year}")):
        _tab_to(page, f"input[name={name}]")
        page.keyboard.type(value)  # type: ignore[attr-defined]
    _tab_to(page, "main button[type=submit]")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert "/mous/" in page.url and page.locator(".error-summary").count() == 0, (  # type: ignore[attr-defined]
        page.locator(".error-summary").all_inner_texts()  # type: ignore[attr-defined]
    )

    # One commitment on the new draft: service and school keep their first choices.
    _tab_to(page, "input[name=amount]")
    page.keyboard.type("5")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url("**/mous/*#commitments")  # type: ignore[attr-defined]
    assert "Commitment added." in page.inner_text(".flashes")  # type: ignore[attr-defined]
    assert page.locator("#commitments table tbody tr").count() == 1  # type: ignore[attr-defined]


def test_a_scenario_run_to_its_results_by_keyboard(
    new_page: Callable[..., object], live_server: str
) -> None:
    page = new_page()
    _sign_in_by_keyboard(page, live_server, "leader@demo.example", DEMO_PASSWORD)
    _tab_to(page, "a[href='/scenarios/']")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    _tab_to(page, "main a[href='/scenarios/new']")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    _tab_to(page, "input[name=name]")
    page.keyboard.type("Keyboard share by need")  # type: ignore[attr-defined]
    _tab_to(page, "main form button[type=submit]")
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    _tab_to(page, "main form button", "Run now")
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    # The results show on the run page (however it reaches them), and the keyboard reaches them.
    page.wait_for_url("**/scenarios/runs/*")  # type: ignore[attr-defined]
    page.wait_for_selector("main table", timeout=120_000)  # type: ignore[attr-defined]
    stops = _tab_through(page)
    assert any(stop.startswith("main ") for stop in stops), stops
    assert _violations(page) == []
    # The run page and its scenario's page reflow at 320 px too.
    run_page = page.url.removeprefix(live_server)  # type: ignore[attr-defined]
    scenario_page = page.get_attribute("main a[href^='/scenarios/']:not([href*='runs'])", "href")  # type: ignore[attr-defined]
    compare_page = page.get_attribute("main a[href$='/compare']", "href")  # type: ignore[attr-defined]
    page.set_viewport_size(NARROW)  # type: ignore[attr-defined]
    assert _reflow_problems(page, live_server, [run_page, scenario_page, compare_page]) == []


def test_switching_language_after_a_failed_submit_keeps_what_was_typed_since(
    signed_in_page: Callable[[str], object], live_server: str
) -> None:
    page = signed_in_page("coordinator@demo.example")
    page.goto(f"{live_server}/partners/new")  # type: ignore[attr-defined]
    page.fill("main input[name=name]", "Typed Before Org")  # type: ignore[attr-defined]
    page.fill("main input[name=email]", "not-an-email")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("main form button[type=submit]")  # type: ignore[attr-defined]
    page.fill("main input[name=email]", "fixed@example.org")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click(".langs button[lang=es]")  # type: ignore[attr-defined]
    assert page.get_attribute("html", "lang") == "es"  # type: ignore[attr-defined]
    assert page.input_value("main input[name=email]") == "fixed@example.org"  # type: ignore[attr-defined]
    assert page.input_value("main input[name=name]") == "Typed Before Org"  # type: ignore[attr-defined]
    assert page.locator(".error-summary").count() == 0  # type: ignore[attr-defined]
    # A valid form sent only to switch language is shown again, not saved.
    page.goto(f"{live_server}/partners/?q=Typed+Before&lang=en")  # type: ignore[attr-defined]
    assert "Typed Before Org" not in page.inner_text("main")  # type: ignore[attr-defined]


def _reflow_problems(page: object, live_server: str, paths: list[str]) -> list[str]:
    problems = []
    for path in paths:
        response = page.goto(f"{live_server}{path}")  # type: ignore[attr-defined]
        assert response is not None and response.status == (404 if path == MISSING else 200), path
        if SCREENSHOTS:
            name = "320_" + (path.strip("/").replace("/", "_") or "dashboard")
            page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)  # type: ignore[attr-defined]
        reflow = page.evaluate(REFLOW_JS)  # type: ignore[attr-defined]
        if reflow["overflow"] > 0:
            problems.append(f"{path}: {reflow['overflow']}px too wide, {reflow['culprits']}")
    return problems


def _record_links(page: object, live_server: str) -> list[str]:
    paths = []
    for listing in ("/partners/", "/schools/", "/services/", "/mous/"):
        page.goto(f"{live_server}{listing}")  # type: ignore[attr-defined]
        hrefs = page.eval_on_selector_all(  # type: ignore[attr-defined]
            f"main table tbody a[href^='{listing}']",
            "links => links.map(a => a.getAttribute('href'))",
        )
        paths.append(next(h for h in hrefs if h[len(listing) :].split("?")[0].isdigit()))
    return paths


@pytest.mark.parametrize(
    "account, paths",
    [
        (
            "coordinator@demo.example",
            [*COORDINATOR_PAGES, "/mous/?status=active", "/schools/import"],
        ),
        ("leader@demo.example", [*LEADER_PAGES, "/equity/need?year=2024-25"]),
        ("partner@demo.example", PARTNER_PAGES),
        ("admin@demo.example", ["/users/", "/users/new", MISSING]),
    ],
)
def test_every_page_type_reflows_at_320_px(
    new_page: Callable[..., object], live_server: str, account: str, paths: list[str]
) -> None:
    page = new_page(viewport=NARROW)
    page.goto(f"{live_server}/login")  # type: ignore[attr-defined]
    problems = _reflow_problems(page, live_server, ["/login"])
    page.fill("input[name=email]", account)  # type: ignore[attr-defined]
    page.fill("input[name=password]", DEMO_PASSWORD)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("main button[type=submit]")  # type: ignore[attr-defined]
    if account == "coordinator@demo.example":
        paths = paths + _record_links(page, live_server)
    problems += _reflow_problems(page, live_server, paths)
    assert not problems, "\n".join(problems)


def test_a_table_that_scrolls_sideways_says_so_while_it_does(
    new_page: Callable[..., object], live_server: str
) -> None:
    page = new_page(viewport=NARROW)
    page.goto(f"{live_server}/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", "leader@demo.example")  # type: ignore[attr-defined]
    page.fill("input[name=password]", DEMO_PASSWORD)  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("main button[type=submit]")  # type: ignore[attr-defined]
    page.goto(f"{live_server}/partners/?lang=es")  # type: ignore[attr-defined]
    hint = page.locator("main .scroll-hint")  # type: ignore[attr-defined]
    assert hint.count() == 1
    assert hint.inner_text() == "Desplácese hacia los lados para ver todas las columnas."
    assert hint.get_attribute("aria-hidden") == "true"
    # Just above the table's region, and gone once the table fits the window.
    assert page.evaluate(  # type: ignore[attr-defined]
        "() => document.querySelector('main .scroll-hint').nextElementSibling"
        ".classList.contains('table-scroll')"
    )
    page.set_viewport_size({"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.wait_for_function("() => !document.querySelector('main .scroll-hint')")  # type: ignore[attr-defined]
    page.set_viewport_size(NARROW)  # type: ignore[attr-defined]
    page.wait_for_function("() => document.querySelector('main .scroll-hint')")  # type: ignore[attr-defined]
