"""Who may open what, across the whole app: one table, every role (the rules of issue 2 and 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask.testing import FlaskClient

from registry.extensions import db
from registry.mfa import services
from registry.models import MOU, Partner, School, Service, User

ROLES = ("admin", "coordinator", "leader", "partner")

# path template → expected status per role (admin, coordinator, leader, partner).
# {own_partner}/{own_service}/{own_mou} belong to the signed-in partner user; {other_*} do not.
MATRIX: list[tuple[str, tuple[int, int, int, int]]] = [
    ("/", (200, 200, 200, 302)),
    ("/partners/", (200, 200, 200, 302)),
    ("/partners/new", (200, 200, 404, 404)),
    ("/partners/mine", (404, 404, 404, 200)),
    ("/partners/{own_partner}", (200, 200, 200, 200)),
    ("/partners/{own_partner}/edit", (200, 200, 404, 200)),
    ("/partners/{other_partner}", (200, 200, 200, 404)),
    ("/partners/{other_partner}/edit", (200, 200, 404, 404)),
    ("/services/", (200, 200, 200, 200)),
    ("/services/new", (200, 200, 404, 200)),
    ("/services/{own_service}", (200, 200, 200, 200)),
    ("/services/{own_service}/edit", (200, 200, 404, 302)),  # a partner's edit goes to review
    ("/services/{other_service}", (200, 200, 200, 404)),
    ("/services/{other_service}/edit", (200, 200, 404, 404)),
    ("/schools/", (200, 200, 200, 404)),
    ("/schools/new", (200, 200, 404, 404)),
    ("/schools/{school}", (200, 200, 200, 404)),
    ("/schools/{school}/edit", (200, 200, 404, 404)),
    ("/mous/", (200, 200, 200, 200)),
    ("/mous/new", (200, 200, 404, 404)),
    ("/mous/{own_mou}", (200, 200, 200, 200)),
    ("/mous/{own_mou}/edit", (200, 200, 404, 404)),
    ("/mous/{other_mou}", (200, 200, 200, 404)),
    ("/users/", (200, 404, 404, 404)),
    ("/users/new", (200, 404, 404, 404)),
    ("/users/{mfa_user}/edit", (200, 404, 404, 404)),
    ("/users/{mfa_user}/mfa/reset", (200, 404, 404, 404)),  # the reset's confirmation page
    ("/equity/", (200, 200, 200, 404)),
    ("/equity/need", (200, 200, 200, 404)),
    ("/equity/schools", (200, 200, 200, 404)),
    ("/equity/schools?table=mous", (200, 200, 200, 404)),
    ("/equity/need/definitions/new", (200, 404, 200, 404)),
    ("/equity/need/reference", (200, 200, 200, 404)),
    ("/programs/import", (200, 200, 404, 404)),
    ("/schools/import", (200, 200, 404, 404)),
    ("/programs/areas", (200, 200, 404, 404)),
    ("/api/v1/kpis?year=2025-26", (200, 200, 200, 404)),
    ("/scenarios/", (200, 200, 200, 404)),
    ("/scenarios/new", (200, 404, 200, 404)),
    # The pickers' search: every signed-in role, each confined to what it may see.
    ("/pick/schools?q=school", (200, 200, 200, 200)),
    ("/pick/partners?q=partner", (200, 200, 200, 200)),
    ("/pick/services?q=service", (200, 200, 200, 200)),
    ("/pick/services?partner={other_partner}", (200, 200, 200, 200)),
    ("/pick/people?q=a", (404, 404, 404, 404)),
    ("/partners/999999", (404, 404, 404, 404)),
    ("/mous/999999", (404, 404, 404, 404)),
]


@pytest.fixture
def world(
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
    make_user: Callable[..., User],
    default_need_index: Any,
) -> dict[str, Any]:
    own, other = make_partner(), make_partner()
    school = make_school(
        indicators={"pct_econ_disadvantaged": 60, "pct_english_learners": 30}, year="2025-26"
    )
    own_service, other_service = make_service(partner=own), make_service(partner=other)
    return {
        "own": own,
        "own_partner": own.id,
        "other_partner": other.id,
        "own_service": own_service.id,
        "other_service": other_service.id,
        "school": school.id,
        "own_mou": make_mou(partner=own, schools=[school]).id,
        "other_mou": make_mou(partner=other, schools=[school]).id,
        "mfa_user": _enrolled(make_user("leader")).id,
    }


def _enrolled(user: User) -> User:
    """A user whose two-step sign-in is on (an admin may reset it)."""
    services.start_enrolment(user)
    secret = services.pending_secret(user)
    assert secret is not None
    services.confirm_enrolment(user, pyotp.TOTP(secret).now())
    db.session.commit()
    return user


@pytest.mark.parametrize("path, statuses", MATRIX, ids=[path for path, _ in MATRIX])
@pytest.mark.parametrize("role_index, role", list(enumerate(ROLES)))
def test_role_page_matrix(
    client: FlaskClient,
    login: Callable[..., User],
    world: dict[str, Any],
    path: str,
    statuses: tuple[int, ...],
    role_index: int,
    role: str,
) -> None:
    if role == "partner":
        login(role, partner=world["own"])
    else:
        login(role)
    response = client.get(path.format(**world))
    assert response.status_code == statuses[role_index]


@pytest.mark.parametrize(
    "path",
    ["/", "/partners/", "/schools/", "/mous/", "/equity/", "/scenarios/", "/pick/schools?q=a"],
)
def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
