"""Real pages in headless Chromium: they render, work, and pass axe-core's WCAG 2.1 AA rules."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import DEMO_PASSWORD

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")

COORDINATOR_PAGES = [
    "/",
    "/partners/",
    "/partners/new",
    "/schools/",
    "/schools/new",
    "/services/",
    "/services/new",
    "/mous/",
    "/mous/new",
    "/equity/",
    "/scenarios/",
    "/pick/schools?q=el",  # the pickers' search as a page (no script)
]
PARTNER_PAGES = ["/partners/mine", "/services/"]
LEADER_PAGES = [
    "/equity/need",
    "/equity/need/compare",
    "/equity/need/definitions",
    "/equity/need/definitions/new",
    "/scenarios/new",
]


def _violations(page: object) -> list[str]:
    results = Axe().run(page, options=WCAG_21_AA)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"]
    ]


def _check(page: object, live_server: str, path: str) -> None:
    response = page.goto(f"{live_server}{path}")  # type: ignore[attr-defined]
    assert response is not None and response.status == 200, (
        f"{path}: {response and response.status}"
    )
    assert page.locator("h1").count() == 1, f"{path} should have exactly one h1"  # type: ignore[attr-defined]
    if SCREENSHOTS:
        name = path.strip("/").replace("/", "_") or "dashboard"
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)  # type: ignore[attr-defined]
    assert _violations(page) == [], path


@pytest.mark.parametrize("path", COORDINATOR_PAGES)
def test_coordinator_pages_pass_axe(
    signed_in_page: Callable[[str], object], live_server: str, path: str
) -> None:
    page = signed_in_page("coordinator@demo.example")
    _check(page, live_server, path)


def test_detail_pages_pass_axe(signed_in_page: Callable[[str], object], live_server: str) -> None:
    page = signed_in_page("coordinator@demo.example")
    for listing, link_prefix in [
        ("/partners/", "/partners/"),
        ("/schools/", "/schools/"),
        ("/services/", "/services/"),
        ("/mous/", "/mous/"),
    ]:
        page.goto(f"{live_server}{listing}")  # type: ignore[attr-defined]
        links = page.locator(f"main table tbody a[href^='{link_prefix}']")  # type: ignore[attr-defined]
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        href = next((h for h in hrefs if h and h[len(link_prefix) :].split("?")[0].isdigit()), None)
        assert href, f"no record link on {listing}"
        _check(page, live_server, href)


@pytest.mark.parametrize("path", PARTNER_PAGES)
def test_partner_pages_pass_axe(
    signed_in_page: Callable[[str], object], live_server: str, path: str
) -> None:
    page = signed_in_page("partner@demo.example")
    _check(page, live_server, path)


@pytest.mark.parametrize("path", LEADER_PAGES)
def test_leader_pages_pass_axe(
    signed_in_page: Callable[[str], object], live_server: str, path: str
) -> None:
    page = signed_in_page("leader@demo.example")
    _check(page, live_server, path)


def test_admin_user_pages_pass_axe(
    signed_in_page: Callable[[str], object], live_server: str
) -> None:
    page = signed_in_page("admin@demo.example")
    for path in ("/users/", "/users/new"):
        _check(page, live_server, path)


def test_a_leader_runs_a_scenario_and_reads_its_results(
    signed_in_page: Callable[[str], object], live_server: str
) -> None:
    page = signed_in_page("leader@demo.example")
    page.goto(f"{live_server}/scenarios/new")  # type: ignore[attr-defined]
    page.fill("input[name=name]", "Share mentoring by need")  # type: ignore[attr-defined]
    page.click("main form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    page.click("main form button:has-text('Run now')")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    # The request only queues the run; the page polls its status and shows the results.
    page.wait_for_selector("main table", timeout=60_000)  # type: ignore[attr-defined]
    assert "/scenarios/runs/" in page.url  # type: ignore[attr-defined]
    _check(page, live_server, page.url.removeprefix(live_server))  # type: ignore[attr-defined]
    # The demo district's long tables wait behind disclosures; each opens from the keyboard,
    # and the page passes axe with all of them open.
    closed = page.locator("main details.data-table:not([open])")  # type: ignore[attr-defined]
    assert closed.count() >= 3
    while closed.count():
        closed.first.locator("summary").focus()
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert page.locator("#schools-head ~ details table").is_visible()  # type: ignore[attr-defined]
    assert _violations(page) == []


def test_login_page_passes_axe(browser: object, live_server: str) -> None:
    context = browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    _check(page, live_server, "/login")
    context.close()


def test_a_bad_partner_form_shows_errors_in_place(
    signed_in_page: Callable[[str], object], live_server: str
) -> None:
    page = signed_in_page("coordinator@demo.example")
    page.goto(f"{live_server}/partners/new")  # type: ignore[attr-defined]
    page.fill("input[name=email]", "not-an-email")  # type: ignore[attr-defined]
    page.click("main form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    errors = page.locator(".error")  # type: ignore[attr-defined]
    assert errors.count() >= 1
    assert page.locator("[aria-invalid=true]").count() >= 1  # type: ignore[attr-defined]
    assert _violations(page) == []


def test_signing_out_says_so_after_the_browser_drops_its_cookies(
    browser: object, live_server: str
) -> None:
    """Chromium honours Clear-Site-Data on sign-out: the message comes from the address."""
    context = browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("main input[name=email]", "coordinator@demo.example")
    page.fill("main input[name=password]", DEMO_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server}/logout")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/login?signed_out=1")
    assert page.locator("main [role=status]").inner_text() == "You are signed out."
    assert _violations(page) == []
    page.goto(f"{live_server}/partners/")
    assert "/login" in page.url  # signed out indeed
    context.close()


def test_a_refused_import_takes_focus_at_what_went_wrong(
    signed_in_page: Callable[[str], object], live_server: str, tmp_path: Path
) -> None:
    """A PDF named .csv is refused with one line, and focus starts there (read first)."""
    upload = tmp_path / "schools.csv"
    upload.write_bytes(b"%PDF-1.7\n\x00\x01\x02 not a spreadsheet")
    page = signed_in_page("coordinator@demo.example")
    page.goto(f"{live_server}/schools/import")  # type: ignore[attr-defined]
    page.set_input_files("main input[type=file]", str(upload))  # type: ignore[attr-defined]
    page.click("main form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    focused = page.evaluate("document.activeElement.getAttribute('aria-labelledby')")  # type: ignore[attr-defined]
    assert focused == "problems-heading"
    assert "the file is neither a CSV nor an XLSX file" in page.inner_text("main [role=alert]")  # type: ignore[attr-defined]
    assert _violations(page) == []
