"""After a failed submit, the error summary links every error to a field that is on the page."""

from __future__ import annotations

import re

import pytest


def summary_links(page: str) -> dict[str, str]:
    """Each summary link's text and the id it points at."""
    summary = page.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return {text: target for target, text in re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)}


@pytest.mark.parametrize(
    "url, group, first_box",
    [
        ("/mous/new", "Schools", "school_ids"),  # a picker: its search box
        ("/schools/new", "Grades offered", "grades-0"),
        ("/services/new", "Grades served", "grades-0"),
    ],
)
def test_every_summary_link_reaches_a_field_checkbox_groups_their_first_box(
    client, login, make_school, make_partner, url, group, first_box
):
    make_school()
    make_partner()
    login("coordinator")
    response = client.post(url, data={})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    links = summary_links(page)
    assert links[group] == first_box
    for target in links.values():
        assert f'id="{target}"' in page.split('class="error-summary"', 1)[1], target
    # The summary is where focus starts (app.js focuses it; it can take focus).
    assert 'class="error-summary" role="alert" tabindex="-1"' in page


def test_the_login_form_has_the_same_summary(client):
    response = client.post("/login", data={"email": "nobody@example.org", "password": "x"})
    assert response.status_code == 400
    links = summary_links(response.get_data(as_text=True))
    assert links == {"Password": "password"}


def test_the_scenario_form_links_categories_to_their_first_box(client, login, definition):
    login("leader")
    response = client.post("/scenarios/new", data={"name": "", "categories": ["nonsense"]})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    links = summary_links(page)
    assert links["Categories"] == "categories-0"
    for target in links.values():
        assert f'id="{target}"' in page.split('class="error-summary"', 1)[1], target


@pytest.mark.parametrize(
    "url, role",
    [
        ("/mous/new", "coordinator"),
        ("/schools/new", "coordinator"),
        ("/services/new", "coordinator"),
        ("/partners/new", "coordinator"),
        ("/account/password", "coordinator"),
        ("/scenarios/new", "leader"),
    ],
)
def test_the_summary_lists_errors_in_the_order_of_the_fields_on_the_page(
    client, login, make_school, make_partner, definition, url, role
):
    make_school()
    make_partner()
    login(role)
    response = client.post(url, data={})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    targets = list(summary_links(page).values())
    assert len(targets) >= 2, targets  # an order to check
    form = page.split('class="error-summary"', 1)[1]
    positions = [form.index(f'id="{target}"') for target in targets]
    assert positions == sorted(positions), targets
