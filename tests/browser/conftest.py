"""A live server over the demo district, and headless Debian Chromium driven by Playwright.

The browser tests need /usr/bin/chromium (Debian's `chromium` package; `.ci/run`
installs it). Without it they are skipped locally, but never in CI.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from registry.audit import Actor, acting_as
from registry.extensions import db
from tests.conftest import ScratchDatabase, make_app

CHROMIUM = "/usr/bin/chromium"
DEMO_PASSWORD = "demo-password-for-tests"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def live_app(test_database: ScratchDatabase) -> Iterator[Flask]:
    """An app over its own database holding the demo district."""
    from registry.demo import seed_demo

    app = make_app(test_database.new_url(), WTF_CSRF_ENABLED=True, SERVER_NAME=None)
    with app.app_context():
        db.create_all()
        with acting_as(Actor(None, "tests")):
            seed_demo(password=DEMO_PASSWORD)
            db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(live_app: Flask) -> Iterator[str]:
    server: BaseWSGIServer = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    """One Chromium for the whole run (each test opens its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def signed_in_states() -> dict[str, object]:
    """Each account's cookies after signing in once on this module's server."""
    return {}


@pytest.fixture
def signed_in_page(
    browser: object, live_server: str, signed_in_states: dict[str, object]
) -> Iterator[Callable[[str], object]]:
    """A page signed in as one of the demo accounts (through the real login form, once)."""
    contexts = []

    def sign_in(account: str) -> object:
        state = signed_in_states.get(account)
        context = browser.new_context(bypass_csp=True, storage_state=state)  # type: ignore[attr-defined]
        contexts.append(context)
        page = context.new_page()
        if state is None:
            page.goto(f"{live_server}/login")
            page.fill("main input[name=email]", account)
            page.fill("main input[name=password]", DEMO_PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_load_state()
            signed_in_states[account] = context.storage_state()
        return page

    yield sign_in
    for context in contexts:
        context.close()
