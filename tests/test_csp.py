"""The content security policy allows no inline style, and no page needs one (ASVS 3.4.3).

The pages are walked as a browser would: from the dashboard (as an admin, then as a
partner) and from the public pages, following every link on the demo district, a few
pages of each kind. Every HTML page must carry the policy without 'unsafe-inline', and no
`style=` attribute or `<style>` element, which such a policy would make the browser ignore.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from registry import CONTENT_SECURITY_POLICY
from registry.audit import Actor, acting_as
from registry.demo import seed_demo
from registry.extensions import db

PASSWORD = "demo pass for the csp walk"
PER_KIND = 2  # pages of each endpoint: the template is what matters, not every record
# Pages that must be among those walked: where inline styles used to be, and more.
MUST_SEE = {
    "admin": {
        "equity.need",  # need bars (widths)
        "equity.dashboard",  # chart legends (swatches)
        "mous.printable",  # the print stylesheet
        "mous.detail",
        "users.edit",
        "mfa.setup",
        "main.dashboard",
    },
    "partner": {"partners.mine", "mous.printable"},
    None: {"applications.apply", "directory.index", "directory.service", "auth.login"},
}


class InlineStyles(HTMLParser):
    """Every `<style>` element and `style=` attribute of a page, by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    handle_startendtag = handle_starttag


def inline_styles(html: str) -> tuple[list[str], list[str]]:
    parser = InlineStyles()
    parser.feed(html)
    return parser.found, parser.links


def walk(app: Flask, client: FlaskClient, start: list[str]) -> Iterator[tuple[str, str, str]]:
    """(path, endpoint, HTML) of the pages reachable from `start`, PER_KIND of each endpoint."""
    adapter = app.url_map.bind("registry.test")
    seen: set[str] = set()
    per_endpoint: Counter[str] = Counter()
    queue = list(start)
    while queue:
        url = urldefrag(queue.pop(0)).url
        parts = urlsplit(url)
        if parts.netloc not in ("", "registry.test") or parts.scheme not in ("", "http"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path in seen or not parts.path.startswith("/") or parts.path.startswith("/static/"):
            continue
        seen.add(path)
        try:
            endpoint, _args = adapter.match(parts.path, method="GET")
        except HTTPException:
            continue
        if per_endpoint[endpoint] >= PER_KIND:
            continue
        per_endpoint[endpoint] += 1
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "unsafe-inline" not in csp, path
        if response.mimetype != "text/html":
            continue
        assert csp == CONTENT_SECURITY_POLICY, path
        html = response.get_data(as_text=True)
        _found, links = inline_styles(html)
        queue.extend(links)
        yield path, endpoint, html


@pytest.fixture
def demo(app: Flask) -> None:
    with acting_as(Actor(None, "cli")):
        seed_demo(password=PASSWORD)  # today: the directory lists MOUs in force now
        db.session.commit()


def test_the_policy_allows_no_inline_style_or_script() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CONTENT_SECURITY_POLICY.split("; ")
    )
    assert directives["style-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_the_inline_style_finder_finds_them() -> None:
    found, links = inline_styles(
        '<p style="color:red">x</p><style>p{}</style><svg><rect style="fill:red"/></svg>'
        '<a href="/x">x</a><span class="w-50"></span>'
    )
    assert found == ['<p style="color:red">', "<style>", '<rect style="fill:red">']
    assert links == ["/x"]


@pytest.mark.parametrize("who", ["admin", "partner", None])
def test_no_page_has_an_inline_style(
    app: Flask, client: FlaskClient, demo: None, who: str | None
) -> None:
    if who is None:
        start = [
            "/directory/",
            "/directory/schools/",
            "/apply",
            "/login",
            "/login/forgot",
            "/partners/999999",
        ]
    else:
        email = f"{who}@demo.example"
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302
        start = ["/", "/account/mfa", "/partners/999999"]
    offenders: dict[str, list[str]] = {}
    endpoints: set[str] = set()
    for path, endpoint, html in walk(app, client, start):
        endpoints.add(endpoint)
        found, _links = inline_styles(html)
        if found:
            offenders[path] = found
    assert offenders == {}
    assert MUST_SEE[who] <= endpoints, MUST_SEE[who] - endpoints


def test_need_bars_and_chart_keys_are_drawn_with_classes(client: FlaskClient, demo: None) -> None:
    client.post("/login", data={"email": "admin@demo.example", "password": PASSWORD})
    need = client.get("/equity/need").get_data(as_text=True)
    assert 'class="seg seg-1 w-' in need
    dashboard = client.get("/equity/").get_data(as_text=True)
    assert 'class="swatch swatch-1"' in dashboard
