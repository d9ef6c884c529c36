"""The searchable pickers in Chromium: a combobox used from the keyboard alone, clean in axe-core.

WAI-ARIA 1.2 combobox: typing lists matches in a listbox, Down and Up move through them
(aria-activedescendant), Enter chooses, Escape closes; a live region says how many
matched and what was chosen; a chosen school is removed with its button.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from registry import district_time
from registry.extensions import db
from registry.models import MOU, Partner, School, Service
from registry.schoolyear import school_year_of, year_bounds
from registry.vocabulary import PartnerStatus
from tests.browser.test_keyboard_and_reflow import _focus_is_visible, _tab_to
from tests.browser.test_pages_in_chromium import _violations


def _names(live_app: Flask) -> tuple[str, list[str]]:
    with live_app.app_context():
        partner = db.session.scalars(select(Partner.name).order_by(Partner.name)).first()
        schools = db.session.scalars(select(School.name).order_by(School.name).limit(2)).all()
        db.session.remove()
    assert partner and len(schools) == 2
    return partner, list(schools)


def _status(page: object, widget: str) -> str:
    return str(page.locator(f"{widget} [role=status]").text_content() or "")  # type: ignore[attr-defined]


def test_choosing_a_partner_and_schools_from_the_keyboard(
    signed_in_page: Callable[[str], object], live_server: str, live_app: Flask
) -> None:
    partner, (first_school, second_school) = _names(live_app)
    page = signed_in_page("coordinator@demo.example")
    page.goto(f"{live_server}/mous/new")  # type: ignore[attr-defined]
    combo = page.locator("#partner_id")  # type: ignore[attr-defined]
    assert combo.get_attribute("role") == "combobox"
    assert combo.get_attribute("aria-expanded") == "false"
    assert page.locator("[data-picker] .picker-go").first.is_hidden()  # type: ignore[attr-defined]

    combo.focus()
    _focus_is_visible(page)
    combo.type(partner[:6])
    listbox = page.locator("#partner_id-listbox")  # type: ignore[attr-defined]
    listbox.wait_for(state="visible")
    assert combo.get_attribute("aria-expanded") == "true"
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.querySelector('[data-name=partner_id] [role=status]').textContent !== ''"
    )
    assert "match" in _status(page, "[data-name=partner_id]")
    # axe with the listbox open: the combobox, its listbox and options are well formed.
    assert _violations(page) == []

    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    active = combo.get_attribute("aria-activedescendant")
    assert active and page.locator(f"#{active}").get_attribute("aria-selected") == "true"  # type: ignore[attr-defined]
    chosen_label = page.locator(f"#{active}").evaluate("el => el.firstChild.textContent")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert listbox.is_hidden()
    assert combo.get_attribute("aria-expanded") == "false"
    assert page.url.endswith("/mous/new")  # type: ignore[attr-defined]  # Enter chose, sent nothing
    hidden = page.locator("[data-name=partner_id] input[type=hidden][name=partner_id]")  # type: ignore[attr-defined]
    assert hidden.input_value()
    assert chosen_label in page.locator("[data-name=partner_id] .picker-current").inner_text()  # type: ignore[attr-defined]
    said = "document.querySelector('[data-name=partner_id] [role=status]').textContent"
    page.wait_for_function(f"() => {said}.includes('chosen')")  # type: ignore[attr-defined]

    # Schools: two added one at a time; Escape closes the list; one removed by its button.
    schools = page.locator("#school_ids")  # type: ignore[attr-defined]
    for name in (first_school, second_school):
        schools.focus()
        schools.fill("")
        schools.type(name)
        page.locator("#school_ids-listbox").wait_for(state="visible")  # type: ignore[attr-defined]
        page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
    chosen = page.locator("[data-name=school_ids] .picker-list li")  # type: ignore[attr-defined]
    assert chosen.count() == 2
    schools.type(first_school[:3])
    page.locator("#school_ids-listbox").wait_for(state="visible")  # type: ignore[attr-defined]
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert page.locator("#school_ids-listbox").is_hidden()  # type: ignore[attr-defined]
    assert schools.get_attribute("aria-expanded") == "false"
    assert _violations(page) == []

    remove = chosen.nth(1).locator("button")
    remove.focus()
    _focus_is_visible(page)
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert chosen.count() == 1
    assert page.evaluate("() => document.activeElement.id") == "school_ids"  # type: ignore[attr-defined]

    # The form's own button saves what was chosen.
    # A term in the school year the form proposes: this one, in the district.
    first, last = year_bounds(school_year_of(district_time.today()))
    page.fill("#start_date", f"{first.year}-09-01")  # type: ignore[attr-defined]
    page.fill("#end_date", f"{last.year}-06-30")  # type: ignore[attr-defined]
    page.click("main form button.button[type=submit]:not([name])")  # type: ignore[attr-defined]
    page.wait_for_url("**/mous/*")  # type: ignore[attr-defined]
    mou_id = int(page.url.rstrip("/").rsplit("/", 1)[1])  # type: ignore[attr-defined]
    with live_app.app_context():
        mou = db.session.get(MOU, mou_id)
        assert mou is not None
        assert mou.partner.name == chosen_label.strip()
        assert [s.name for s in mou.schools] == [first_school]
        db.session.remove()


def test_the_scenario_service_picker_passes_axe(
    signed_in_page: Callable[[str], object], live_server: str, live_app: Flask
) -> None:
    with live_app.app_context():
        count = func.count(Service.id)
        partner, services = db.session.execute(
            select(Partner.name, count)
            .join(Service, Service.partner_id == Partner.id)
            .where(Service.active.is_(True), Partner.status == PartnerStatus.APPROVED)
            .group_by(Partner.name)
            .having(count.between(3, 20))
            .order_by(Partner.name)
        ).first()
        db.session.remove()
    page = signed_in_page("leader@demo.example")
    page.goto(f"{live_server}/scenarios/new")  # type: ignore[attr-defined]
    page.click("summary")  # type: ignore[attr-defined]
    page.select_option("#service_ids-category", "academic_support")  # type: ignore[attr-defined]
    combo = page.locator("#service_ids")  # type: ignore[attr-defined]
    combo.focus()
    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]  # lists the first matches
    page.locator("#service_ids-listbox").wait_for(state="visible")  # type: ignore[attr-defined]
    assert _violations(page) == []
    page.keyboard.press("ArrowDown")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    chosen = page.locator("[data-name=service_ids] .picker-list li")  # type: ignore[attr-defined]
    assert chosen.count() == 1

    # A partner's services, found by its name, all added with one button.
    page.select_option("#service_ids-category", "")  # type: ignore[attr-defined]
    combo.focus()
    combo.type(partner)
    add_all = page.locator("[data-name=service_ids] .picker-add-all")  # type: ignore[attr-defined]
    add_all.wait_for(state="visible")
    _tab_to(page, ".picker-add-all")  # past the category menu; the focus shows at each stop
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert chosen.count() >= services  # the one chosen first may be one of them
    assert add_all.is_hidden()
    assert _violations(page) == []
