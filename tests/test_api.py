"""The JSON API v1: tokens, access, paging, filters, ETags, the rate limit, the contract."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from registry import district_time
from registry.extensions import db
from registry.models import ApiToken, Partner, Scenario, ScenarioRun, User
from registry.models.scenario import RunStatus
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Role
from tests.api_support import Clock, Contract, bearer, token_for

SECRET = re.compile(r"prk_[A-Za-z0-9_-]{43}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app_config(clock: Clock) -> dict[str, Any]:
    return {"API_CLOCK": clock}


@pytest.fixture
def contract(client: FlaskClient) -> Contract:
    return Contract(client)


@pytest.fixture
def api(client: FlaskClient, contract: Contract) -> Callable[..., tuple[int, Any]]:
    """GET an API path with a token; the response checked against the OpenAPI document."""

    def get(url: str, secret: str | None, template: str | None = None, **headers: str) -> Any:
        sent = {**(bearer(secret) if secret else {}), **headers}
        response = client.get(url, headers=sent)
        path = template or url.split("?")[0].removeprefix("/api/v1")
        return response, contract.check(response, path)

    return get


# ---- tokens ------------------------------------------------------------------------------


def test_a_token_is_shown_once_stored_hashed_listed_with_its_last_use(
    client: FlaskClient, login: Callable[..., User], api: Any
) -> None:
    user = login(Role.COORDINATOR)
    assert client.get("/account/tokens/").status_code == 200

    created = client.post("/account/tokens/", data={"name": "Dashboard", "days": "30"})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(created.get_data(as_text=True)).group(0)  # type: ignore[union-attr]

    token = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = json.dumps([str(getattr(token, c.key)) for c in ApiToken.__table__.columns])
    assert secret not in stored
    assert (token.expires_at - token.created_at) == timedelta(days=30)

    listing = client.get("/account/tokens/").get_data(as_text=True)
    assert secret not in listing  # never shown again
    assert "Dashboard" in listing and token.prefix in listing and "Never used" in listing

    response, _ = api("/api/v1/partners", secret)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at is not None  # type: ignore[union-attr]
    assert "Never used" not in client.get("/account/tokens/").get_data(as_text=True)


def test_the_token_form_refuses_a_missing_name_or_lifetime(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    login(Role.LEADER)
    response = client.post("/account/tokens/", data={"name": " ", "days": "7"})
    assert response.status_code == 422
    assert db.session.scalar(select(ApiToken)) is None
    assert client.get("/account/tokens/").status_code == 200


def test_an_expired_token_is_refused(
    make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    secret = token_for(make_user(Role.LEADER), clock, days=30)
    assert api("/api/v1/partners", secret)[0].status_code == 200
    clock.advance(days=30)
    response, body = api("/api/v1/partners", secret)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert body["error"]


def test_a_revoked_token_is_refused_and_only_its_owner_may_revoke_it(
    client: FlaskClient,
    login: Callable[..., User],
    make_user: Callable[..., User],
    clock: Clock,
    api: Any,
) -> None:
    owner = login(Role.COORDINATOR)
    mine = token_for(owner, clock)
    theirs = token_for(make_user(Role.LEADER), clock)
    ids = {t.user_id: t.id for t in db.session.scalars(select(ApiToken))}
    other_id = next(i for uid, i in ids.items() if uid != owner.id)

    assert client.post(f"/account/tokens/{other_id}/revoke").status_code == 404
    assert api("/api/v1/partners", theirs)[0].status_code == 200

    revoked = client.post(f"/account/tokens/{ids[owner.id]}/revoke")
    assert revoked.status_code == 302
    assert api("/api/v1/partners", mine)[0].status_code == 401
    assert "Revoked" in client.get("/account/tokens/").get_data(as_text=True)


@pytest.mark.parametrize(
    "header",
    [None, "Basic abc", "Bearer ", "Bearer prk_not-a-real-token", "Bearer x" * 40],
)
def test_no_valid_token_is_a_401_with_a_challenge(
    api: Any, client: FlaskClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response, body = api("/api/v1/mous", None, **headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body == {"error": body["error"]}


def test_the_session_cookie_is_not_an_api_credential(login: Callable[..., User], api: Any) -> None:
    login(Role.ADMIN)
    assert api("/api/v1/partners", None)[0].status_code == 401


# ---- what a token may see ----------------------------------------------------------------


def test_a_partner_token_sees_only_its_own_partner_services_and_mous(
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Any],
    make_mou: Callable[..., Any],
    clock: Clock,
    api: Any,
) -> None:
    ours, theirs = make_partner(), make_partner()
    own_service, _other_service = make_service(partner=ours), make_service(partner=theirs)
    own_mou, other_mou = make_mou(partner=ours), make_mou(partner=theirs)
    secret = token_for(make_user(Role.PARTNER, partner=ours), clock)

    assert [p["id"] for p in api("/api/v1/partners", secret)[1]["data"]] == [ours.id]
    assert [s["id"] for s in api("/api/v1/services", secret)[1]["data"]] == [own_service.id]
    assert [m["id"] for m in api("/api/v1/mous", secret)[1]["data"]] == [own_mou.id]
    _, other = api(f"/api/v1/mous?partner_id={theirs.id}", secret)
    assert other_mou.id not in [m["id"] for m in other["data"]] and other["data"] == []
    _, filtered = api(f"/api/v1/services?partner_id={theirs.id}", secret)
    assert filtered["data"] == []
    assert api("/api/v1/schools", secret)[0].status_code == 404  # staff only, as the pages


def test_staff_tokens_see_every_partner(
    make_user: Callable[..., User], make_partner: Callable[..., Partner], clock: Clock, api: Any
) -> None:
    a, b = make_partner(), make_partner(status=PartnerStatus.SUSPENDED)
    for role in (Role.LEADER, Role.COORDINATOR, Role.ADMIN):
        secret = token_for(make_user(role), clock)
        assert {p["id"] for p in api("/api/v1/partners", secret)[1]["data"]} >= {a.id, b.id}


def test_a_scenario_run_gives_its_stored_result_to_staff_only(
    make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    scenario = Scenario(name="Tutoring 2025-26", school_year="2025-26")
    result = {"status": "optimal", "allocations": [{"school": 1, "service": 2, "amount": 10}]}
    run = ScenarioRun(scenario=scenario, status=RunStatus.DONE, result_json=json.dumps(result))
    db.session.add(run)
    db.session.commit()
    path = f"/api/v1/scenarios/{scenario.id}/runs/{run.id}"
    template = "/scenarios/{scenario_id}/runs/{run_id}"

    response, body = api(path, token_for(make_user(Role.LEADER), clock), template)
    assert response.status_code == 200
    assert body["result"] == result and body["scenario_name"] == "Tutoring 2025-26"
    staff = token_for(make_user(Role.ADMIN), clock)
    wrong = f"/api/v1/scenarios/{scenario.id + 1}/runs/{run.id}"
    assert api(wrong, staff, template)[0].status_code == 404
    partner = token_for(make_user(Role.PARTNER), clock)
    assert api(path, partner, template)[0].status_code == 404


# ---- paging, filters, ETags --------------------------------------------------------------


def test_cursor_pages_walk_every_record_once_in_id_order(
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
    clock: Clock,
    api: Any,
    client: FlaskClient,
) -> None:
    ids = [make_partner().id for _ in range(5)]
    secret = token_for(make_user(Role.LEADER), clock)
    seen: list[int] = []
    url: str | None = "/api/v1/partners?limit=2"
    pages = 0
    while url:
        response, body = api(url.replace("http://registry.test", ""), secret)
        assert response.status_code == 200
        seen += [p["id"] for p in body["data"]]
        url = body["next"]
        pages += 1
    assert seen == sorted(ids) and pages == 3

    for bad in ("limit=0", "limit=201", "limit=abc", "cursor=!!", "cursor=eA"):
        assert api(f"/api/v1/partners?{bad}", secret)[0].status_code == 400, bad


def test_filters_match_the_list_pages(
    make_user: Callable[..., User],
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Any],
    make_school: Callable[..., Any],
    make_mou: Callable[..., Any],
    clock: Clock,
    api: Any,
) -> None:
    approved = make_partner(name="Harbor Tutors")
    suspended = make_partner(name="Quiet Arts", status=PartnerStatus.SUSPENDED)
    tutoring = make_service(partner=approved, category=Category.ACADEMIC_SUPPORT)
    make_service(partner=suspended, category=Category.ARTS_ENRICHMENT)
    north = make_school(name="North Elementary", zip="01605")
    make_school(name="South Elementary", zip="01603")
    active = make_mou(partner=approved, status=MOUStatus.ACTIVE, school_year="2025-26")
    make_mou(
        partner=suspended,
        status=MOUStatus.DRAFT,
        school_year="2024-25",
        start_date=date(2024, 9, 1),
        end_date=date(2025, 6, 30),
    )
    secret = token_for(make_user(Role.COORDINATOR), clock)

    def ids(url: str) -> list[int]:
        response, body = api(url, secret)
        assert response.status_code == 200, body
        return [row["id"] for row in body["data"]]

    assert ids("/api/v1/partners?status=suspended") == [suspended.id]
    assert ids("/api/v1/partners?q=harbor") == [approved.id]
    assert ids("/api/v1/services?category=academic_support") == [tutoring.id]
    assert ids(f"/api/v1/services?partner_id={approved.id}") == [tutoring.id]
    assert ids("/api/v1/schools?zip=01605") == [north.id]
    assert ids("/api/v1/schools?q=north") == [north.id]
    assert ids("/api/v1/mous?year=2025-26&status=active") == [active.id]
    assert ids(f"/api/v1/mous?partner_id={suspended.id}&status=active") == []
    assert api("/api/v1/mous?year=2025", secret)[0].status_code == 400
    assert api("/api/v1/partners?status=nope", secret)[0].status_code == 400


def test_etag_and_if_none_match(
    make_user: Callable[..., User], make_partner: Callable[..., Partner], clock: Clock, api: Any
) -> None:
    partner = make_partner()
    secret = token_for(make_user(Role.LEADER), clock)
    first, _ = api("/api/v1/partners", secret)
    etag = first.headers["ETag"]
    again, _ = api("/api/v1/partners", secret, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""

    partner.name = "Renamed Partner"
    db.session.commit()
    changed, _ = api("/api/v1/partners", secret, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_the_rate_limit_answers_429_until_the_window_passes(
    app: Flask, make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    app.config["API_RATE_LIMIT"] = 5  # in a 10-minute window
    secret = token_for(make_user(Role.LEADER), clock)
    other = token_for(make_user(Role.LEADER), clock)
    for _ in range(5):
        assert api("/api/v1/partners", secret)[0].status_code == 200
    clock.advance(minutes=4)
    limited, _body = api("/api/v1/partners", secret)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == str(6 * 60)
    assert api("/api/v1/partners", other)[0].status_code == 200  # per token
    clock.advance(minutes=6)
    assert api("/api/v1/partners", secret)[0].status_code == 200


# ---- the public directory ------------------------------------------------------------------


def test_the_directory_is_public_and_lists_what_families_see(
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Any],
    make_mou: Callable[..., Any],
    api: Any,
) -> None:
    today = district_time.today()
    term = {"start_date": today - timedelta(days=30), "end_date": today + timedelta(days=30)}
    listed_partner = make_partner()
    listed = make_service(partner=listed_partner)
    make_service(partner=listed_partner, active=False)
    make_mou(partner=listed_partner, status=MOUStatus.ACTIVE, **term)
    suspended = make_partner(status=PartnerStatus.SUSPENDED)
    make_service(partner=suspended)
    make_mou(partner=suspended, status=MOUStatus.ACTIVE, **term)
    lapsed = make_partner()
    make_service(partner=lapsed)
    make_mou(
        partner=lapsed,
        status=MOUStatus.ACTIVE,
        start_date=today - timedelta(days=90),
        end_date=today - timedelta(days=1),
    )
    drafted = make_partner()
    make_service(partner=drafted)
    make_mou(partner=drafted, status=MOUStatus.DRAFT, **term)

    response, body = api("/api/v1/directory", None)
    assert response.status_code == 200
    assert [e["service_id"] for e in body["data"]] == [listed.id]
    assert body["data"][0]["partner_name"] == listed_partner.name


def test_the_openapi_document_is_3_1_and_describes_every_endpoint(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/partners",
        "/services",
        "/schools",
        "/mous",
        "/scenarios/{scenario_id}/runs/{run_id}",
        "/directory",
        "/kpis",
    }
    schemas = document["components"]["schemas"]
    assert {"PartnerPage", "PartnerOut", "MOUOut", "RunOut", "Error"} <= set(schemas)


# ---- /kpis: tokens as everywhere in /api/v1, and the signed-in session as before ----------


@pytest.mark.parametrize(
    "role, status",
    [(Role.ADMIN, 200), (Role.COORDINATOR, 200), (Role.LEADER, 200), (Role.PARTNER, 404)],
)
def test_the_kpis_answer_a_readers_token_as_documented(
    make_user: Callable[..., User],
    make_school: Callable[..., Any],
    default_need_index: Any,
    clock: Clock,
    api: Any,
    role: Role,
    status: int,
) -> None:
    make_school(indicators={"pct_econ_disadvantaged": 40, "pct_english_learners": 10}, name="Ash")
    secret = token_for(make_user(role), clock)
    response, body = api("/api/v1/kpis?year=2025-26&unit=hours", secret)
    assert response.status_code == status
    if status == 200:
        assert body["year"] == "2025-26" and body["unit"] == "hours"
        assert body["mous_by_year"] == {"2025-26": 0}
        assert body["need_definition"]["version"] == 1
        assert body["schools_without_partner"] == [
            {"id": body["schools_without_partner"][0]["id"], "name": "Ash"}
        ]
        assert response.headers["ETag"] and "X-RateLimit-Remaining" in response.headers
        again, _ = api(
            "/api/v1/kpis?year=2025-26&unit=hours", secret, If_None_Match=response.headers["ETag"]
        )
        assert again.status_code == 304


def test_the_kpis_without_a_need_index_are_null_not_zero_for_a_token(
    make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    secret = token_for(make_user(Role.LEADER), clock)
    response, body = api("/api/v1/kpis?year=2025-26", secret)
    assert response.status_code == 200
    assert body["need_definition"] is None and body["quartiles"] is None
    assert body["concentration_index"] is None and "No need index" in body["note"]


@pytest.mark.parametrize("header", [None, "Bearer prk_not-a-real-token", "Basic abc"])
def test_the_kpis_without_a_usable_token_or_session_are_a_401(api: Any, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response, body = api("/api/v1/kpis?year=2025-26", None, **headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer") and body["error"]


@pytest.mark.parametrize(
    "query",
    ["year=2025-27", "category=pottery", "unit=litres", "definition=abc", "definition=0"],
)
def test_bad_kpi_parameters_are_a_documented_400(
    make_user: Callable[..., User], clock: Clock, api: Any, query: str
) -> None:
    secret = token_for(make_user(Role.COORDINATOR), clock)
    response, body = api(f"/api/v1/kpis?{query}", secret)
    assert response.status_code == 400 and body["error"]


def test_an_unknown_need_index_definition_is_not_found(
    make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    secret = token_for(make_user(Role.COORDINATOR), clock)
    response, body = api("/api/v1/kpis?definition=424242", secret)
    assert response.status_code == 404 and body["error"] == "Unknown need index definition."


def test_the_kpis_count_against_the_tokens_rate_limit(
    app: Flask, make_user: Callable[..., User], clock: Clock, api: Any
) -> None:
    app.config["API_RATE_LIMIT"] = 2
    secret = token_for(make_user(Role.LEADER), clock)
    assert [api("/api/v1/kpis", secret)[0].status_code for _ in range(3)] == [200, 200, 429]


def test_a_token_header_is_never_overridden_by_the_session(
    client: FlaskClient, login: Callable[..., User], api: Any
) -> None:
    login(Role.LEADER)
    assert client.get("/api/v1/kpis?year=2025-26").status_code == 200  # the session, as before
    response, _ = api("/api/v1/kpis?year=2025-26", None, Authorization="Bearer prk_revoked")
    assert response.status_code == 401


def test_token_events_reach_the_security_log(
    client: FlaskClient,
    login: Callable[..., User],
    api: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    login(Role.LEADER)
    with caplog.at_level("WARNING", logger="registry.security"):
        client.post("/account/tokens/", data={"name": "Nightly", "days": "365"})
        token = db.session.scalars(select(ApiToken)).one()
        client.post(f"/account/tokens/{token.id}/revoke")
        api("/api/v1/partners", "prk_" + "x" * 43)
    kinds = [json.loads(r.getMessage())["kind"] for r in caplog.records]
    kinds = [k for k in kinds if k.startswith("api.")]  # sign-in has its own events
    assert kinds == ["api.token_created", "api.token_revoked", "api.token_refused"]
    assert all("prk_" not in r.getMessage() for r in caplog.records)  # no secret logged
