"""Hypothesis fuzzes every HTML form: random text, 10k strings, NUL, RTL marks, emoji, markup.

For each form-handling route (every POST rule in `app.url_map`, minus the few listed in
`NOT_FUZZED` with their reason) the test signs in as a role that may use the form, GETs the page
the form is on, reads its fields from the HTML, and posts hypothesis-drawn values. It expects:
never a 5xx; a marker `<script>` never comes back unescaped (on the answer or on the page a
redirect leads to); a form sent back (200) or refused (4xx) says why.

Bounded and deterministic: a few examples per route, derandomised.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from registry.extensions import db
from registry.language import LANGUAGE_ONLY
from registry.models import MOU, Partner, School, Service, User
from registry.models.document import Document, DocumentType
from registry.models.scenario import Scenario
from registry.models.selfservice import Application, ChangeRequest
from registry.models.service import Offering, ProgramAreaMapping
from registry.vocabulary import Category, MOUStatus, PartnerStatus, Role

MARKER = "<script>alert(1)</script>"
PASSPHRASE = "correct horse battery staple 42"
RAW_MARKER = b"<script>alert(1)"

# ---- what is fuzzed, as whom, from which page -------------------------------------------


@dataclass(frozen=True)
class Case:
    endpoint: str
    role: str | None  # None: not signed in
    post: str  # path template over the world's ids
    page: str = ""  # where the form is shown, when not at `post` itself
    # A 200 answer that is not the form sent back with errors (an import's next step).
    next_step_200: bool = False
    # A page whose form holds valid values for these fields (an edit page for a "new" form).
    defaults_from: str = ""
    # Valid values for fields the page leaves empty (#N# becomes a fresh number per example).
    fill: tuple[tuple[str, str], ...] = ()
    marks: tuple[Any, ...] = field(default=())

    @property
    def form_page(self) -> str:
        return self.page or self.post


CASES: list[Case] = [
    Case("account.language", "coordinator", "/account/language"),
    Case("auth.change_password", "coordinator", "/account/password"),
    Case("api_tokens.create", "admin", "/account/tokens/", next_step_200=True),
    Case("applications.apply", None, "/apply"),
    Case(
        "applications.return_",
        "coordinator",
        "/applications/{application}/return",
        page="/applications/{application}",
    ),
    Case("documents.edit", "coordinator", "/documents/{document}/edit"),
    Case(
        "documents.reject",
        "coordinator",
        "/documents/{document}/reject",
        page="/documents/{document}",
    ),
    Case("documents.upload", "coordinator", "/partners/{partner}/documents/new"),
    Case(
        "equity.new_definition",
        "admin",
        "/equity/need/definitions/new",
        defaults_from="/equity/need/definitions/{definition}/edit",
        fill=(("name", "Fuzz index #N#"),),
    ),
    Case("equity.edit_definition", "admin", "/equity/need/definitions/{definition}/edit"),
    Case("equity.reference", "admin", "/equity/need/reference", next_step_200=True),
    Case(
        "invitations.new",
        "coordinator",
        "/invitations/new?partner_id={partner}",
        fill=(("email", "invitee#N#@partner.example"),),
    ),
    Case("auth.login", None, "/login"),
    Case(
        "auth.forgot_password", None, "/login/forgot", fill=(("email", "someone@district.example"),)
    ),
    Case("mous.new", "coordinator", "/mous/new", defaults_from="/mous/{mou}/edit"),
    Case("mous.edit", "coordinator", "/mous/{mou}/edit"),
    Case(
        "mous.add_commitment",
        "coordinator",
        "/mous/{mou}/commitments",
        page="/mous/{mou}",
        fill=(("amount", "5"),),
    ),
    Case(
        "mous.sign",
        "partner",
        "/mous/{submitted_mou}/sign",
        fill=(("name", "Pat Partner"), ("title", "Director"), ("confirm", "y")),
    ),
    Case(
        "partners.new",
        "coordinator",
        "/partners/new",
        defaults_from="/partners/{partner}/edit",
        fill=(("name", "Fuzz partner #N#"),),
    ),
    Case("partners.edit", "coordinator", "/partners/{partner}/edit"),
    Case(
        "partners.return_change",
        "coordinator",
        "/partners/changes/{change}/return",
        page="/partners/changes/{change}",
    ),
    Case("partners.propose_service", "partner", "/partners/services/{own_service}/changes"),
    Case("programs.areas", "coordinator", "/programs/areas", fill=(("area", "Fuzz area #N#"),)),
    Case("programs.edit_area", "coordinator", "/programs/areas/{area}/edit"),
    Case("programs.import_listing", "coordinator", "/programs/import", next_step_200=True),
    Case("scenarios.new", "admin", "/scenarios/new", defaults_from="/scenarios/{scenario}/edit"),
    Case("scenarios.edit", "admin", "/scenarios/{scenario}/edit"),
    Case(
        "schools.new",
        "coordinator",
        "/schools/new",
        defaults_from="/schools/{school}/edit",
        fill=(("dese_code", "9#N#"), ("name", "Fuzz school #N#")),
    ),
    Case("schools.edit", "coordinator", "/schools/{school}/edit"),
    Case("schools.import_csv", "coordinator", "/schools/import", next_step_200=True),
    Case("services.new", "coordinator", "/services/new", defaults_from="/services/{service}/edit"),
    Case("services.edit", "coordinator", "/services/{service}/edit"),
    Case(
        "services.new_offering",
        "coordinator",
        "/services/{service}/offerings/new",
        defaults_from="/services/{service}/offerings/{offering}/edit",
        fill=(("school_id", "{school2}"),),
    ),
    Case("services.edit_offering", "coordinator", "/services/{service}/offerings/{offering}/edit"),
    Case(
        "users.new",
        "admin",
        "/users/new",
        defaults_from="/users/{other_user}/edit",
        fill=(
            ("email", "fuzz#N#@district.example"),
            ("password", PASSPHRASE),
            ("confirm", PASSPHRASE),
        ),
    ),
    Case("users.edit", "admin", "/users/{other_user}/edit"),
]

# POST rules not fuzzed here, and why (the test below fails when a new POST rule is in neither).
NOT_FUZZED: dict[str, str] = {
    "sessions.end_own": "a button: no fields to fuzz",
    "sessions.end_others": "a button: no fields to fuzz",
    "sessions.end_for_user": "a button: no fields to fuzz",
    "mfa.start": "a button: no fields to fuzz",
    "mfa.confirm": "needs an enrolment started in this session (tests/test_mfa.py)",
    "mfa.verify": "needs a password step pending in the session (tests/test_mfa.py)",
    "mfa.disable": "needs an enrolled authenticator (tests/test_mfa.py)",
    "mfa.recovery_codes": "needs an enrolled authenticator (tests/test_mfa.py)",
    "mfa.admin_reset": "needs an enrolled user; one box to tick (tests/test_mfa_admin_reset.py)",
    "auth.logout": "signs out; no fields",
    "api_tokens.revoke": "a button: no fields to fuzz",
    "applications.approve": "a button: no fields to fuzz",
    "documents.download": "a button: no fields to fuzz",
    "documents.verify": "a button: no fields to fuzz",
    "mous.activate": "a button: no fields to fuzz",
    "mous.submit": "a button: no fields to fuzz",
    "mous.expire": "a button: no fields to fuzz",
    "mous.terminate": "a button: no fields to fuzz",
    "mous.amend": "a button: no fields to fuzz",
    "mous.renew": "a button: no fields to fuzz",
    "mous.delete_commitment": "a button: no fields to fuzz",
    "notifications.mark_read": "a button: no fields to fuzz",
    "notifications.mark_all_read": "a button: no fields to fuzz",
    "partners.approve_change": "a button: no fields to fuzz",
    "services.delete_offering": "a button: no fields to fuzz",
    "scenarios.run": "starts the solver in a thread: not a text form (tests/test_scenarios*)",
    "scenarios.adopt": "needs a finished run; a confirm button (tests/test_adoption*)",
    "invitations.accept": "needs a mailed token (tests/test_invitations.py)",
    "auth.reset_password": "needs a mailed token (tests/test_passwords.py)",
    "programs.confirm": "a step of an upload held under a token (tests/test_programs*)",
    "programs.review": "a step of an upload held under a token (tests/test_programs*)",
    "schools.import_columns": "a step of an upload held in the session (tests/test_import*)",
    "schools.import_review": "a step of an upload held in the session (tests/test_import*)",
}

EXAMPLES_PER_ROUTE = 8


# ---- the values -------------------------------------------------------------------------

EMOJI = ["😀", "👩🏽‍🏫", "🏳️‍🌈", "🇺🇸", "🧑‍🤝‍🧑", "\U0001f4a9"]
RTL = ["\u202e", "\u200f", "\u202b", "\u2067"]

any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # with controls
long_text = st.tuples(st.sampled_from(["a", "é", "😀", "<b>", MARKER]), st.integers(0, 9)).map(
    lambda t: (t[0] * 10_000)[: 10_000 - t[1]]
)
with_nul = any_text.map(lambda s: s + "\x00" + s)
with_rtl = st.tuples(st.sampled_from(RTL), any_text).map(lambda t: f"{t[0]}{t[1]}\u200f")
with_emoji = st.lists(st.sampled_from(EMOJI), min_size=1, max_size=8).map("".join)
with_marker = any_text.map(lambda s: f"{s}{MARKER}")
numberish = st.sampled_from(
    ["-1", "0", "1e309", "NaN", "inf", "99999999999999999999", "٣", "1,5", "2026-02-30", " "]
)

nasty = st.one_of(
    any_text,
    long_text,
    with_nul,
    with_rtl,
    with_emoji,
    with_marker,
    numberish,
    st.just(MARKER),
)


# ---- reading the form -------------------------------------------------------------------


@dataclass
class FormField:
    name: str
    kind: str  # text, textarea, select, checkbox, radio, hidden, file, submit
    default: str = ""
    options: list[str] = field(default_factory=list)
    multiple: bool = False
    checked: list[str] = field(default_factory=list)


@dataclass
class ParsedForm:
    action: str
    fields: dict[str, FormField] = field(default_factory=dict)


class FormParser(HTMLParser):
    """Every <form method=post> of a page: its action and its named fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[ParsedForm] = []
        self._form: ParsedForm | None = None
        self._select: FormField | None = None
        self._textarea: FormField | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = ParsedForm(a.get("action", ""))
                self.forms.append(self._form)
            return
        form = self._form
        if form is None or not a.get("name"):
            if tag == "option" and self._select is not None:
                self._add_option(a)
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                found = form.fields.setdefault(name, FormField(name, kind))
                found.options.append(a.get("value", "y"))
                found.multiple = found.multiple or kind == "checkbox"
                if "checked" in a:
                    found.default = a.get("value", "y")
                    found.checked.append(found.default)
            elif kind in ("submit", "image", "button", "reset"):
                if name != LANGUAGE_ONLY:
                    found = form.fields.setdefault(name, FormField(name, "submit"))
                    found.options.append(a.get("value", ""))
            else:
                form.fields.setdefault(name, FormField(name, kind, a.get("value", "")))
        elif tag == "button":
            if name != LANGUAGE_ONLY and a.get("type", "submit") == "submit":
                found = form.fields.setdefault(name, FormField(name, "submit"))
                found.options.append(a.get("value", ""))
        elif tag == "select":
            self._select = form.fields.setdefault(
                name, FormField(name, "select", multiple="multiple" in a)
            )
        elif tag == "textarea":
            self._textarea = form.fields.setdefault(name, FormField(name, "textarea"))

    def _add_option(self, a: dict[str, str]) -> None:
        assert self._select is not None
        value = a.get("value", "")
        self._select.options.append(value)
        if "selected" in a:
            self._select.default = value
            self._select.checked.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.default += data


def form_for(html: str, post_path: str) -> ParsedForm:
    """The page's POST form that is sent to `post_path` (the one with most fields if several)."""
    parser = FormParser()
    parser.feed(html)
    candidates = [
        f
        for f in parser.forms
        if (urlsplit(f.action).path or urlsplit(post_path).path) == urlsplit(post_path).path
        and any(x.name not in ("csrf_token", LANGUAGE_ONLY) for x in f.fields.values())
    ]
    assert candidates, f"no POST form to {post_path} with fields on the page"
    return max(candidates, key=lambda f: len(f.fields))


def kept(f: FormField) -> Any:
    """What a browser would send back untouched (a select's first option when none is chosen)."""
    if f.multiple:
        return list(f.checked)
    if f.kind == "select" and not f.checked:
        return f.options[0] if f.options else ""
    return f.default


def draw_values(data: st.DataObject, form: ParsedForm) -> dict[str, Any]:
    """The page's own values with one field made nasty, or every field drawn afresh."""
    fuzzable = [f for f in form.fields.values() if f.name != "csrf_token" and f.kind != "submit"]
    one_field = data.draw(st.sampled_from([True, True, False]), label="one field only")
    target = data.draw(st.sampled_from([f.name for f in fuzzable]), label="nasty field")
    values: dict[str, Any] = {}
    for f in form.fields.values():
        if f.kind == "submit":
            choice = data.draw(st.sampled_from([None, *f.options]), label=f.name)
            if choice is not None:
                values[f.name] = choice
            continue
        if f.kind == "file":
            content = data.draw(st.binary(max_size=2000), label=f"{f.name} bytes")
            filename = data.draw(st.one_of(st.just("list.csv"), nasty), label=f"{f.name} name")
            values[f.name] = (io.BytesIO(content), filename)
            continue
        if f.name == "csrf_token" or (one_field and f.name != target):
            drawn: Any = kept(f)
        elif f.kind == "hidden":  # a version, an id
            drawn = data.draw(st.one_of(st.just(f.default), numberish, nasty), label=f.name)
        elif f.options and f.multiple:
            drawn = data.draw(
                st.one_of(
                    st.lists(st.sampled_from(f.options), unique=True, max_size=3),
                    st.lists(st.one_of(st.sampled_from(f.options), nasty), max_size=3),
                ),
                label=f.name,
            )
        elif f.options and not one_field:
            drawn = data.draw(st.one_of(st.sampled_from(f.options), nasty), label=f.name)
        else:
            drawn = data.draw(nasty, label=f.name)
        if drawn:
            values[f.name] = drawn
    return values


# ---- the world: one of every record a form's address names ------------------------------


@pytest.fixture
def world(
    make_partner: Callable[..., Partner],
    make_service: Callable[..., Service],
    make_school: Callable[..., School],
    make_mou: Callable[..., MOU],
    make_offering: Callable[..., Offering],
    make_user: Callable[..., User],
    default_need_index: Any,
) -> dict[str, Any]:
    partner, own = make_partner(), make_partner()
    school = make_school(indicators={"pct_econ_disadvantaged": 60}, year="2025-26")
    service = make_service(partner=partner)
    offering = make_offering(service=service, school=school)
    document = Document(
        partner=partner,
        doc_type=DocumentType.OTHER,
        filename="policy.pdf",
        sha256=hashlib.sha256(b"x").hexdigest(),
        size=1,
        effective_date=date(2025, 8, 1),
        expiry_date=date(2026, 8, 1),
    )
    applicant = make_partner(status=PartnerStatus.APPLICANT)
    application = Application(
        partner=applicant, applicant_name="Ana Applicant", applicant_email="ana@applicant.example"
    )
    change = ChangeRequest(partner=own, changes={"description": {"old": "", "new": "We tutor."}})
    school2 = make_school(name="Second Fuzz School")
    area = ProgramAreaMapping(
        area_key="tutoring", area="Tutoring", category=Category.ACADEMIC_SUPPORT
    )
    scenario = Scenario(name="Fuzzed", school_year="2025-26")
    db.session.add_all([document, application, change, area, scenario])
    db.session.commit()
    return {
        "partner": partner.id,
        "own": own,
        "own_service": make_service(partner=own).id,
        "school": school.id,
        "school2": school2.id,
        "service": service.id,
        "offering": offering.id,
        "mou": make_mou(partner=partner, schools=[school]).id,
        "submitted_mou": make_mou(partner=own, schools=[school], status=MOUStatus.SUBMITTED).id,
        "document": document.id,
        "application": application.id,
        "change": change.id,
        "area": area.id,
        "scenario": scenario.id,
        "definition": default_need_index.id,
        "other_user": make_user(Role.LEADER).id,
    }


# ---- the checks -------------------------------------------------------------------------


def body(response: TestResponse) -> bytes:
    return response.get_data()


# The link at the foot of templates/errors/error.html (a refusal before any form: NUL, 404, ...).
ERROR_PAGE = b"Back to the start page"


def says_why(page: bytes) -> bool:
    """A form sent back, or a refusal, names the problem (error summary, field error, alert)."""
    return any(
        mark in page
        for mark in (b'class="error-summary"', b'role="alert"', b'class="error"', b"flash-error")
    )


def check_answer(
    client: FlaskClient, case: Case, response: TestResponse, sent: dict[str, Any]
) -> None:
    status = response.status_code
    page = body(response)
    assert status < 500, f"{case.endpoint} answered {status} to {sent!r:.2000}"
    assert RAW_MARKER not in page, f"{case.endpoint} echoed markup unescaped"
    if status in (301, 302, 303):
        target = urlsplit(response.headers["Location"])
        if target.netloc in ("", "registry.test"):
            following = client.get(target.path, query_string=target.query)
            assert following.status_code < 500, f"{target.path} after {case.endpoint}"
            assert RAW_MARKER not in body(following), f"{target.path} shows markup unescaped"
    elif status == 200:
        # A picker's button (pick=search/add/remove) shows the form again by design.
        if not case.next_step_200 and not sent.get("pick"):
            assert says_why(page), f"{case.endpoint} sent the form back without saying why"
    elif 400 <= status < 500:
        assert says_why(page) or ERROR_PAGE in page, f"{case.endpoint} {status} without a reason"
    # 204 and the like: nothing to show


def fuzz_settings() -> settings:
    return settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c.endpoint, marks=c.marks) for c in CASES])
def test_a_form_never_fails_on_odd_input(
    client: FlaskClient, login: Callable[..., User], world: dict[str, Any], case: Case
) -> None:
    if case.role == "partner":
        login(Role.PARTNER, partner=world["own"])
    elif case.role is not None:
        login(case.role)
    form_page = case.form_page.format(**world)
    post_path = case.post.format(**world)
    shown = client.get(form_page)
    assert shown.status_code == 200, f"{form_page}: {shown.status_code}"
    form = form_for(shown.get_data(as_text=True), post_path)
    if case.defaults_from:
        filled = client.get(case.defaults_from.format(**world))
        assert filled.status_code == 200
        parser = FormParser()
        parser.feed(filled.get_data(as_text=True))
        valid = max(parser.forms, key=lambda f: len(f.fields)).fields
        for name, f in form.fields.items():
            if name in valid and f.kind not in ("submit", "file") and name != "csrf_token":
                f.default, f.checked = valid[name].default, valid[name].checked
    for name, value in case.fill:
        form.fields[name].default = value.format(**world)
        form.fields[name].checked = [form.fields[name].default]
    numbers = itertools.count(1)

    @given(data=st.data())
    @fuzz_settings()
    def fuzz(data: st.DataObject) -> None:
        sent = draw_values(data, form)
        n = str(next(numbers))
        sent = {k: v.replace("#N#", n) if isinstance(v, str) else v for k, v in sent.items()}
        response = client.post(post_path, data=sent)
        check_answer(client, case, response, sent)

    fuzz()


def test_every_post_route_is_fuzzed_or_excused(app: Flask) -> None:
    fuzzed = {c.endpoint for c in CASES}
    posts = {r.endpoint for r in app.url_map.iter_rules() if "POST" in (r.methods or ())}
    assert posts - fuzzed - set(NOT_FUZZED) == set()
    assert fuzzed <= posts
