"""The locust workload of bench/web.py: district staff, families and partner contacts at once.

Not run by itself: `bench/web.py` writes the plan (accounts, API tokens, record ids
sampled from the database, search words) to a JSON file and starts locust on this
module with ``BENCH_WEB_PLAN`` naming that file and ``BENCH_WEB_SAMPLES`` the file
every request's timing is written to when locust quits (bench/web.py computes the
percentiles from them, per endpoint group and overall).

Three kinds of visitor, in the proportions of their weights (6 : 3 : 1):

- ``Staff`` (coordinators, leaders, admins, signed in once through the login form):
  the dashboard and the equity page, the lists of schools, partners, MOUs and services
  with filters, search and paging, detail pages, the KPI API and the token API;
- ``Family`` (anonymous): the family directory with school, category, language and
  grade filters, its school and service pages;
- ``PartnerContact`` (a partner account, one per partner): its own listing and MOUs,
  and now and then an edit of its listing (GET the form, POST it back with the CSRF
  token: a reviewed change request, registry/partners/changes.py).

Each request is named ``"group | endpoint"``; the groups are what RESULTS-web.md reports.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]  # (no stubs; locust runs on it)
from locust import HttpUser, between, events, task
from locust.env import Environment

from bench.web_forms import (
    DASHBOARD,
    DETAILS,
    DIRECTORY,
    KPI_API,
    LISTS,
    LOGIN,
    PARTNER_EDIT,
    PARTNER_PAGES,
    PLAN_ENV,
    SAMPLES_ENV,
    SEPARATOR,
    STEADY_ENV,
    TOKEN_API,
    form_with,
)

CATEGORIES = (
    "academic_support",
    "mentoring",
    "mental_health",
    "physical_health",
    "family_engagement",
    "arts_enrichment",
    "athletics",
    "college_career",
    "basic_needs",
    "out_of_school_time",
    "english_learner_support",
    "special_education_support",
)
GRADES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")
PARTNER_TYPES = ("nonprofit", "higher_education", "health_care", "business", "faith_based")
PARTNER_STATUSES = ("approved", "applicant", "suspended")
MOU_STATUSES = ("active", "draft", "submitted", "expired")
LEVELS = ("elementary", "middle", "high")
SERVICE_LANGUAGES = ("Spanish", "Portuguese", "Haitian Creole", "Vietnamese", "Chinese")

EDIT_MARK = re.compile(r"\s*\[bench edit \d+\]$")


def load_plan() -> dict[str, Any]:
    """The plan bench/web.py wrote; an empty one when run without it (imports, smoke test)."""
    path = os.environ.get(PLAN_ENV)
    if not path:
        return {"staff": [], "partners": [], "ids": {}, "words": {}, "years": [], "languages": []}
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


PLAN = load_plan()
THINK = PLAN.get("think_s", [1.0, 5.0])
_staff_accounts = itertools.cycle(PLAN["staff"] or [{}])
_partner_accounts = itertools.cycle(PLAN["partners"] or [{}])
SAMPLES: list[tuple[str, float, float, int, int, bool]] = []


@events.request.add_listener
def _record(
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    start_time: float = 0.0,
    response: Any = None,
    **_kwargs: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    SAMPLES.append(
        (name, start_time, response_time, status, response_length or 0, exception is None)
    )


class Ramp:
    """Visitors that finished starting (signing in): the steady load begins when all have."""

    started = 0
    spawned = False


@events.spawning_complete.add_listener
def _all_spawned(**_kwargs: Any) -> None:
    Ramp.spawned = True


@events.init.add_listener
def _watch_steady_load(environment: Environment, **_kwargs: Any) -> None:
    seconds = float(os.environ.get(STEADY_ENV) or 0)
    if seconds > 0:
        gevent.spawn(_quit_after_steady_load, environment, seconds)


def _quit_after_steady_load(environment: Environment, seconds: float) -> None:
    """Quit `seconds` after every visitor has started: the ramp-up's length does not count."""
    steady_from: float | None = None
    while True:
        gevent.sleep(0.25)
        runner = environment.runner
        if runner is None:
            continue
        if steady_from is None:
            if Ramp.spawned and Ramp.started >= runner.user_count:
                steady_from = time.monotonic()
        elif time.monotonic() - steady_from >= seconds:
            runner.quit()  # as --run-time does: the quitting event writes the samples
            return


@events.quitting.add_listener
def _write_samples(**_kwargs: Any) -> None:
    path = os.environ.get(SAMPLES_ENV)
    if path:
        Path(path).write_text(json.dumps(SAMPLES), encoding="utf-8")


# ---- visitors -----------------------------------------------------------------------------


def pick(rng: random.Random, values: list[Any], default: Any = "") -> Any:
    return rng.choice(values) if values else default


class SignedIn(HttpUser):
    """A district or partner user: signs in once through the login form."""

    abstract = True
    wait_time = between(THINK[0], THINK[1])
    account: dict[str, Any]

    def sign_in(self) -> None:
        self.rng = random.Random()
        page = self.client.get("/login", name=f"{LOGIN}{SEPARATOR}GET /login")
        fields = dict(form_with(page.text, "password"))
        fields.update(email=self.account["email"], password=self.account["password"])
        with self.client.post(
            "/login",
            data=fields,
            name=f"{LOGIN}{SEPARATOR}POST /login",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"sign-in answered {answer.status_code}")

    def get(self, group: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        return self.client.get(path, name=f"{group}{SEPARATOR}{endpoint}", **kwargs)


class Staff(SignedIn):
    """A coordinator, leader or admin reading the registry."""

    weight = 6

    def on_start(self) -> None:
        self.account = next(_staff_accounts)
        try:
            self.sign_in()
        finally:
            Ramp.started += 1

    @property
    def ids(self) -> dict[str, list[int]]:
        ids: dict[str, list[int]] = PLAN["ids"]
        return ids

    def word(self, kind: str) -> str:
        return str(pick(self.rng, PLAN["words"].get(kind, []), "a"))

    @task(2)
    def dashboard(self) -> None:
        self.get(DASHBOARD, "/", "/")

    @task(1)
    def equity(self) -> None:
        self.get(DASHBOARD, "/equity/", "/equity/")

    @task(8)
    def a_list(self) -> None:
        rng = self.rng
        page = rng.choice(["", "", "", "&page=2", "&page=3"])
        kind = rng.choice(["schools", "partners", "mous", "services"])
        if kind == "schools":
            how, query = rng.choice(
                [
                    ("plain", ""),
                    ("search", f"q={self.word('schools')}"),
                    ("level", f"level={rng.choice(LEVELS)}"),
                    ("no partner", "no_partner=1"),
                ]
            )
        elif kind == "partners":
            how, query = rng.choice(
                [
                    ("plain", ""),
                    ("search", f"q={self.word('partners')}"),
                    ("type", f"partner_type={rng.choice(PARTNER_TYPES)}"),
                    ("status", f"status={rng.choice(PARTNER_STATUSES)}"),
                    ("language", f"language={rng.choice(SERVICE_LANGUAGES)}"),
                    ("compliance", "compliance=any_problem"),
                ]
            )
        elif kind == "mous":
            how, query = rng.choice(
                [
                    ("plain", ""),
                    ("search", f"q={self.word('partners')}"),
                    ("status", f"status={rng.choice(MOU_STATUSES)}"),
                    ("year", f"school_year={pick(rng, PLAN['years'], '2025-26')}"),
                    ("school", f"school={pick(rng, self.ids.get('school', []), 1)}"),
                    ("partner", f"partner={pick(rng, self.ids.get('partner', []), 1)}"),
                    ("expiring", "expiring=1"),
                ]
            )
        else:
            how, query = rng.choice(
                [
                    ("plain", ""),
                    ("search", f"q={self.word('services')}"),
                    ("category", f"category={rng.choice(CATEGORIES)}"),
                    ("grade", f"grade={rng.choice(GRADES)}"),
                    ("language", f"language={rng.choice(SERVICE_LANGUAGES)}"),
                    ("active", "active=yes"),
                ]
            )
        self.get(LISTS, f"/{kind}/?{query}{page}", f"/{kind}/ {how}")

    @task(8)
    def a_detail(self) -> None:
        kinds = [k for k in ("school", "partner", "mou", "service") if self.ids.get(k)]
        kind = self.rng.choice(kinds)
        ident = self.rng.choice(self.ids[kind])
        self.get(DETAILS, f"/{kind}s/{ident}", f"/{kind}s/<id>")

    @task(2)
    def kpis(self) -> None:
        rng = self.rng
        query = rng.choice(
            [
                "",
                f"year={pick(rng, PLAN['years'], '2025-26')}",
                f"category={rng.choice(CATEGORIES)}",
            ]
        )
        # The bearer token too: /api/v1/kpis may take either (bench/web.py says which it took).
        self.get(
            KPI_API,
            f"/api/v1/kpis?{query}",
            "/api/v1/kpis",
            headers={"Authorization": f"Bearer {self.account.get('token', '')}"},
        )

    @task(1)
    def token_api(self) -> None:
        rng = self.rng
        path = rng.choice(
            [
                f"/api/v1/schools?q={self.word('schools')}",
                f"/api/v1/partners?q={self.word('partners')}",
                f"/api/v1/services?category={rng.choice(CATEGORIES)}",
                f"/api/v1/mous?school_year={pick(rng, PLAN['years'], '2025-26')}",
            ]
        )
        # The token API reads the bearer token only (the session cookie goes along, unread).
        headers = {"Authorization": f"Bearer {self.account.get('token', '')}"}
        self.client.get(path, name=f"{TOKEN_API}{SEPARATOR}{path.split('?')[0]}", headers=headers)


class Family(HttpUser):
    """A parent finding services in the family directory, signed out."""

    weight = 3
    wait_time = between(THINK[0], THINK[1])

    def on_start(self) -> None:
        self.rng = random.Random()
        self.lang = self.rng.choice(["en", "en", "es", "pt"])
        Ramp.started += 1

    def get(self, path: str, endpoint: str) -> None:
        self.client.get(
            path, name=f"{DIRECTORY}{SEPARATOR}{endpoint}", headers={"Accept-Language": self.lang}
        )

    @task(6)
    def search(self) -> None:
        rng = self.rng
        how, query = rng.choice(
            [
                ("plain", ""),
                ("school", f"school={pick(rng, PLAN['words'].get('directory_schools', []))}"),
                ("category", f"category={rng.choice(CATEGORIES)}"),
                ("language", f"language={pick(rng, PLAN['languages'], 'Spanish')}"),
                ("grade", f"grade={rng.choice(GRADES)}"),
                (
                    "school+category+language",
                    f"school={pick(rng, PLAN['words'].get('directory_schools', []))}"
                    f"&category={rng.choice(CATEGORIES)}"
                    f"&language={pick(rng, PLAN['languages'], 'Spanish')}",
                ),
            ]
        )
        page = rng.choice(["", "", "", "&page=2"])
        self.get(f"/directory/?{query}{page}", f"/directory/ {how}")

    @task(2)
    def school(self) -> None:
        ident = pick(self.rng, PLAN["ids"].get("school", []), 1)
        self.get(f"/directory/schools/{ident}", "/directory/schools/<id>")

    @task(2)
    def service(self) -> None:
        ident = pick(self.rng, PLAN["ids"].get("directory_service", []), 1)
        self.get(f"/directory/services/{ident}", "/directory/services/<id>")

    @task(1)
    def schools(self) -> None:
        word = pick(self.rng, PLAN["words"].get("schools", []), "")
        self.get(f"/directory/schools/?q={word}", "/directory/schools/ search")


class PartnerContact(SignedIn):
    """A partner organisation's contact: reads its own records, edits its listing now and then."""

    weight = 1
    edits = itertools.count(1)

    def on_start(self) -> None:
        # One account per visitor, each for a partner of its own: two visitors editing the
        # same listing would meet the optimistic lock (a 409 the benchmark would count).
        self.account = next(_partner_accounts)
        try:
            self.sign_in()
        finally:
            Ramp.started += 1

    @task(3)
    def listing(self) -> None:
        self.get(PARTNER_PAGES, "/partners/mine", "/partners/mine")

    @task(2)
    def mous(self) -> None:
        self.get(PARTNER_PAGES, "/mous/", "/mous/ (own)")

    @task(1)
    def edit(self) -> None:
        path = f"/partners/{self.account['partner_id']}/edit"
        page = self.get(PARTNER_EDIT, path, "GET /partners/<id>/edit")
        if page.status_code != 200:
            return
        fields = form_with(page.text, "description")
        mark = f" [bench edit {next(self.edits)}]"
        fields = [
            (name, EDIT_MARK.sub("", value) + mark if name == "description" else value)
            for name, value in fields
        ]
        with self.client.post(
            path,
            data=fields,
            name=f"{PARTNER_EDIT}{SEPARATOR}POST /partners/<id>/edit",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            if answer.status_code != 302:
                answer.failure(f"the edit answered {answer.status_code}")


def tasks_of(user: type[HttpUser]) -> list[Any]:
    """The tasks a visitor class runs (the smoke test checks that there are some)."""
    return list(user.tasks)
