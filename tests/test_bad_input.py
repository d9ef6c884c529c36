"""Input the database cannot take is refused clearly, never a 500 (SQLite and PostgreSQL alike):
ids beyond an INTEGER column's range are "no such record", a NUL character is a 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from registry.extensions import db
from registry.ids import MAX_ID, IdConverter, coerce_id, to_id
from registry.models import MOU, Commitment, Partner, Scenario, ScenarioRun, Service, User
from registry.models.scenario import RunStatus

TOO_BIG = 99999999999999  # far beyond 2**31 - 1


def _id_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, url) for every route with an id in its path, each id set TOO_BIG."""
    found = []
    for rule in app.url_map.iter_rules():
        if "int:" not in rule.rule:
            continue
        url = re.sub(r"<int:\w+>", str(TOO_BIG), rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_every_id_in_a_path_is_bounded_by_one_converter(app: Flask) -> None:
    routes = _id_routes(app)
    assert len(routes) > 20  # every area has some
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if f"int:{name}" in rule.rule:
                assert isinstance(converter, IdConverter), rule.rule


def test_an_id_out_of_range_is_404_on_every_route(
    app: Flask, client: FlaskClient, login: Callable[..., User]
) -> None:
    login("admin")  # admins may reach every route, so only the id can make it a 404
    for method, url in _id_routes(app):
        response = client.open(url, method=method)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get(f"/mous/{MAX_ID}").status_code == 404  # in range, just not there


@pytest.mark.parametrize(
    "value, expected",
    [("7", 7), (" 12 ", 12), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("0", None),
     ("-3", None), ("1e3", None), ("", None), (None, None), ("٣", None), (True, None), (5, 5)],
)  # fmt: skip
def test_to_id_takes_only_values_a_row_could_have(value: Any, expected: int | None) -> None:
    assert to_id(value) == expected
    if expected is None:
        with pytest.raises(ValueError):
            coerce_id(value)


def test_id_query_arguments_out_of_range_are_404(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    definition: Any,
) -> None:
    mou = make_mou()
    scenario = Scenario(name="Any", school_year="2025-26", need_definition_id=definition.id)
    run = ScenarioRun(scenario=scenario, status=RunStatus.QUEUED)
    db.session.add(run)
    db.session.commit()
    login("admin")
    for path in (
        f"/mous/?school={TOO_BIG}&partner={mou.partner_id}",
        f"/mous/?school={mou.schools[0].id}&partner={TOO_BIG}",
        f"/mous/new?partner_id={TOO_BIG}",
        f"/services/new?partner_id={TOO_BIG}",
        f"/scenarios/runs/{run.id}/compare?with={TOO_BIG}",
        f"/mous/?school={'9' * 5000}",  # past the 4,300 digits Python's int() will read
        f"/mous/{'9' * 5000}",
    ):
        assert client.get(path).status_code == 404, path
    # In range, or not a number at all (a filter left unset), they answer as before.
    listed = client.get(f"/mous/?school={mou.schools[0].id}&partner=abc")
    assert listed.status_code == 200 and f"/mous/{mou.id}" in listed.get_data(as_text=True)
    assert client.get(f"/mous/?school={MAX_ID}").status_code == 200
    # Not ids of a filter, but lists of them or choices: ignored, or the choice refused.
    assert client.get(f"/scenarios/runs/{run.id}?drafted={TOO_BIG},{mou.id}").status_code == 200
    assert client.get(f"/equity/need?definition={TOO_BIG}").status_code == 400
    assert client.get(f"/api/v1/kpis?definition={TOO_BIG}").status_code == 400
    assert client.get(f"/partners/?page={TOO_BIG}").status_code == 200


def test_ids_posted_out_of_range_are_field_errors_and_save_nothing(
    client: FlaskClient,
    login: Callable[..., User],
    make_mou: Callable[..., MOU],
    make_service: Callable[..., Service],
    definition: Any,
) -> None:
    service = make_service()
    mou = make_mou(partner=service.partner)
    login("admin")
    before = {
        model: db.session.scalar(select(func.count()).select_from(model))
        for model in (MOU, Commitment, Partner, Service, User, Scenario)
    }
    posts = [
        ("/mous/new", {"partner_id": TOO_BIG, "school_ids": [TOO_BIG], "school_year": "2025-26",
                       "start_date": "2025-09-01", "end_date": "2026-06-30"}),
        (f"/mous/{mou.id}/commitments", {"service_id": TOO_BIG, "school_id": TOO_BIG,
                                         "amount": "1"}),
        (f"/mous/{mou.id}/commitments/{TOO_BIG}/delete", {}),
        ("/services/new", {"partner_id": TOO_BIG, "name": "X", "category": "mentoring",
                           "grades": ["K"], "setting": "after_school", "unit": "seats",
                           "capacity": "1", "cost": "0"}),
        ("/users/new", {"email": "new@district.example", "role": "partner",
                        "partner_id": str(TOO_BIG), "password": "a long enough password"}),
        ("/scenarios/new", {"name": "S", "school_year": "2025-26",
                            "need_definition_id": TOO_BIG, "service_ids": [TOO_BIG],
                            "time_limit_s": "10", "limits-0-school_id": TOO_BIG}),
    ]  # fmt: skip
    for path, data in posts:
        response = client.post(path, data=data)
        assert response.status_code in (400, 404), (path, response.status_code)
    db.session.rollback()
    after = {
        model: db.session.scalar(select(func.count()).select_from(model))
        for model in (MOU, Commitment, Partner, Service, User, Scenario)
    }
    assert after == before


@pytest.mark.parametrize(
    "method, path, data",
    [
        ("GET", "/partners/?q=a%00b", None),
        ("GET", "/mous/?school_year=2025%00", None),
        ("GET", "/api/v1/kpis?year=2025-26%00", None),
        ("POST", "/partners/new", {"name": "Nul\x00 Org", "partner_type": "nonprofit"}),
        ("POST", "/schools/new", {"dese_code": "01234567", "name": "A\x00", "grades": ["K"]}),
    ],
)
def test_a_nul_character_is_a_400_that_says_so(
    client: FlaskClient, login: Callable[..., User], method: str, path: str, data: Any
) -> None:
    login("admin")
    partners = db.session.scalar(select(func.count(Partner.id)))
    response = client.open(path, method=method, data=data)
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Partner.id))) == partners
