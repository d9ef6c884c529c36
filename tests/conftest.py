"""Fixtures: an app and a fresh database per test, on SQLite or (TEST_DATABASE_URL) PostgreSQL.

With TEST_DATABASE_URL set, the suite runs in a schema of its own that it creates
and drops, so it never touches data left by anything else; an unreachable
server is an error, never a skip.
"""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

from registry import create_app
from registry.extensions import db
from registry.models import (
    MOU,
    Commitment,
    NeedIndexDefinition,
    Offering,
    Partner,
    School,
    SchoolIndicators,
    Service,
    User,
)
from registry.models.need import MissingPolicy, Normalisation
from registry.scenarios import runner as scenario_runner
from registry.vocabulary import (
    Category,
    MOUStatus,
    PartnerStatus,
    PartnerType,
    Role,
    Setting,
    Unit,
)

PASSWORD = "correct horse battery staple"
HERE = os.path.dirname(__file__)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The pure allocation engine never touches a database: mark its tests so."""
    engine_tests = os.path.join(HERE, "allocation")
    for item in items:
        if str(item.path).startswith(engine_tests):
            item.add_marker(pytest.mark.nodb)


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


class ScratchDatabase:
    """Where the suite's tables live, and how to make a fresh, empty place for a test."""

    def __init__(self, base_url: str | None, tmp_dir: str) -> None:
        self.base_url = base_url
        self.tmp_dir = tmp_dir
        self._schemas: list[str] = []
        self.url = self.new_url()

    @property
    def is_postgres(self) -> bool:
        return bool(self.base_url and self.base_url.startswith("postgresql"))

    def new_url(self) -> str:
        """A URL to an empty database of its own (a new schema, or a new SQLite file)."""
        name = "t_" + uuid.uuid4().hex[:12]
        if not self.base_url:
            return f"sqlite:///{self.tmp_dir}/{name}.sqlite3"
        engine = sa.create_engine(self.base_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        except sa.exc.OperationalError as err:
            pytest.exit(f"TEST_DATABASE_URL is set but the database is unreachable: {err}", 3)
        finally:
            engine.dispose()
        self._schemas.append(name)
        return _with_search_path(self.base_url, name)

    def drop_all(self) -> None:
        if not self._schemas:
            return
        engine = sa.create_engine(self.base_url)  # type: ignore[arg-type]
        with engine.begin() as conn:
            for name in self._schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Still argon2, with the cost turned down: hundreds of test sign-ins need not take minutes."""
    from argon2 import PasswordHasher

    import registry.models.user as user_module

    production = user_module._hasher
    user_module._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    user_module._hasher = production


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabase]:
    database = ScratchDatabase(
        os.environ.get("TEST_DATABASE_URL") or None, str(tmp_path_factory.mktemp("db"))
    )
    yield database
    database.drop_all()


@pytest.fixture(scope="session", autouse=True)
def sqlite_without_fsync() -> Iterator[None]:
    """Scratch SQLite files are thrown away: no test needs them to survive a power cut,
    and waiting for the disk on every commit was a third of the suite's time."""

    def unsynced(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("PRAGMA synchronous = OFF")

    sa.event.listen(sa.engine.Engine, "connect", unsynced)
    yield
    sa.event.remove(sa.engine.Engine, "connect", unsynced)


@pytest.fixture(scope="session", autouse=True)
def url_builders_compiled_once() -> Iterator[None]:
    """Each test builds its own app, and Werkzeug compiles every URL rule's builder from a
    syntax tree for each (four fifths of `create_app`: 0.11 of 0.135 s a test, some four
    minutes of CI). A builder is a function of the rule's text, parsed parts, defaults and
    converter types only, bound to its rule afterwards: compiled once, it serves every app."""
    from werkzeug.routing import Rule

    compile_builder = Rule._compile_builder
    built: dict[tuple[Any, ...], Any] = {}

    def once(self: Rule, append_unknown: bool = True) -> Any:
        key = (
            self.rule,
            tuple(self._trace),
            repr(sorted((self.defaults or {}).items())),
            tuple(sorted((name, type(c)) for name, c in self._converters.items())),
            append_unknown,
        )
        if key not in built:
            built[key] = compile_builder(self, append_unknown)
        return built[key]

    Rule._compile_builder = once  # type: ignore[method-assign]
    yield
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory across the suite's apps (one per test), so each
    template is compiled once, not once per test; a changed source is compiled again."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_compiled_templates = _CompiledTemplates()
_tables_created: set[str] = set()
_scratch_documents: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def documents_in_a_scratch_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Uploaded files (the demo's placeholder documents among them) go to a scratch folder
    for the session, never into the checkout's instance folder."""
    _scratch_documents.append(str(tmp_path_factory.mktemp("documents")))
    yield
    _scratch_documents.clear()


def make_app(url: str, **overrides: Any) -> Flask:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "registry.test",
        # No forced two-step sign-in (tests/test_mfa.py turns it on where it tests it).
        "MFA_REQUIRED_ROLES": (),
    }
    if _scratch_documents:
        config["DOCUMENTS_DIR"] = _scratch_documents[0]
    config.update(overrides)
    app = create_app(config)
    app.jinja_env.bytecode_cache = _compiled_templates
    return app


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Per-test configuration overrides (a test module may override this fixture)."""
    return {}


@pytest.fixture
def app(test_database: ScratchDatabase, app_config: dict[str, Any]) -> Iterator[Flask]:
    """An app over an empty database: tables exist, no rows (emptied again afterwards)."""
    app = make_app(test_database.url, **app_config)
    with app.app_context():
        if test_database.url not in _tables_created:
            db.create_all()
            _tables_created.add(test_database.url)
        yield app
        # A scenario run still solving in its background thread (its page gave up waiting,
        # as on a busy machine) holds a connection: let it finish before the pool goes.
        for thread in list(scenario_runner._threads.values()):
            thread.join(120)
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            tables = list(reversed(db.metadata.sorted_tables))
            if conn.dialect.name == "postgresql":
                # One round trip for every table (psycopg takes several statements at once
                # when they carry no parameters): 31 DELETEs were 50 ms a test.
                conn.exec_driver_sql("; ".join(f'DELETE FROM "{t.name}"' for t in tables))
            else:
                for table in tables:
                    conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ---- factories: sensible defaults, every field overridable -----------------------------

_seq = itertools.count(1)


@pytest.fixture
def make_school(app: Flask) -> Callable[..., School]:
    def make(
        indicators: dict[str, Any] | None = None, year: str = "2025-26", **overrides: Any
    ) -> School:
        n = next(_seq)
        values: dict[str, Any] = {
            "dese_code": f"{n:08d}",
            "name": f"School {n} Elementary",
            "grades": ["K", "1", "2", "3", "4", "5"],
            "enrollment": 400,
            "address": f"{n} Main Street",
            "zip": "01602",
        }
        values.update(overrides)
        school = School(**values)
        if indicators is not None:
            school.indicators.append(SchoolIndicators(school_year=year, **indicators))
        db.session.add(school)
        db.session.commit()
        return school

    return make


@pytest.fixture
def make_partner(app: Flask) -> Callable[..., Partner]:
    def make(**overrides: Any) -> Partner:
        n = next(_seq)
        values: dict[str, Any] = {
            "name": f"Partner Org {n}",
            "partner_type": PartnerType.NONPROFIT,
            "email": f"contact{n}@partner.example",
            "status": PartnerStatus.APPROVED,
            "district_wide": True,
            "background_check_policy": True,
            "background_check_verified": date(2025, 8, 1),
            "insurance_expiry": date(2099, 6, 30),
            "insurance_liability": Decimal("1000000"),
        }
        values.update(overrides)
        partner = Partner(**values)
        db.session.add(partner)
        db.session.commit()
        return partner

    return make


@pytest.fixture
def make_service(app: Flask, make_partner: Callable[..., Partner]) -> Callable[..., Service]:
    def make(**overrides: Any) -> Service:
        n = next(_seq)
        if "partner" not in overrides and "partner_id" not in overrides:
            overrides["partner"] = make_partner()
        values: dict[str, Any] = {
            "name": f"Service {n}",
            "category": Category.ACADEMIC_SUPPORT,
            "grades": ["K", "1", "2", "3", "4", "5"],
            "setting": Setting.AFTER_SCHOOL,
            "unit": Unit.SEATS,
            "capacity": Decimal(100),
            "cost": Decimal(0),
            "active": True,
        }
        values.update(overrides)
        service = Service(**values)
        db.session.add(service)
        db.session.commit()
        return service

    return make


class SMTPInbox:
    """What a real SMTP server on loopback received (aiosmtpd), for tests to assert on."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = False  # when True, the server answers every message with a 451

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 Requested action aborted: try again later"
        parsed = BytesParser(policy=email_policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SMTPInbox]:
    """A real SMTP server on 127.0.0.1 for the test; the app's SMTP_URL points at it."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = SMTPInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    app.config["MAIL_FROM"] = "registry@district.example"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def make_offering(
    app: Flask, make_service: Callable[..., Service], make_school: Callable[..., School]
) -> Callable[..., Offering]:
    """An offering: a service at one named school (site capacity 20 unless told)."""

    def make(**overrides: Any) -> Offering:
        if "service" not in overrides and "service_id" not in overrides:
            overrides["service"] = make_service()
        if "school" not in overrides and "school_id" not in overrides:
            overrides["school"] = make_school()
        values: dict[str, Any] = {"capacity": Decimal(20)}
        values.update(overrides)
        offering = Offering(**values)
        db.session.add(offering)
        db.session.commit()
        return offering

    return make


@pytest.fixture
def make_mou(
    app: Flask, make_partner: Callable[..., Partner], make_school: Callable[..., School]
) -> Callable[..., MOU]:
    def make(commitments: list[tuple[Service, School, Any]] | None = None, **overrides: Any) -> MOU:
        if "partner" not in overrides and "partner_id" not in overrides:
            overrides["partner"] = make_partner()
        if "schools" not in overrides:
            overrides["schools"] = [make_school()]
        values: dict[str, Any] = {
            "school_year": "2025-26",
            "start_date": date(2025, 9, 1),
            "end_date": date(2026, 6, 30),
            "status": MOUStatus.DRAFT,
        }
        values.update(overrides)
        mou = MOU(**values)
        for service, school, amount in commitments or []:
            mou.commitments.append(
                Commitment(service=service, school=school, amount=Decimal(str(amount)))
            )
        db.session.add(mou)
        db.session.commit()
        return mou

    return make


@pytest.fixture
def make_user(app: Flask, make_partner: Callable[..., Partner]) -> Callable[..., User]:
    def make(role: str | Role = Role.COORDINATOR, **overrides: Any) -> User:
        role = Role(role)
        n = next(_seq)
        password = overrides.pop("password", PASSWORD)
        if role == Role.PARTNER and "partner" not in overrides and "partner_id" not in overrides:
            overrides["partner"] = make_partner()
        user = User(email=f"{role.value}{n}@district.example", name=f"{role.value} {n}", role=role)
        for key, value in overrides.items():
            setattr(user, key, value)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client: FlaskClient, make_user: Callable[..., User]) -> Callable[..., User]:
    """Sign in through the real login form as a new user of a role (or a given user)."""

    def do_login(
        role: str | Role = Role.COORDINATOR, user: User | None = None, **overrides: Any
    ) -> User:
        user = user or make_user(role, **overrides)
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return do_login


@pytest.fixture
def definition(app: Flask) -> NeedIndexDefinition:
    """A need index of one indicator, min–max: a school at 90% high needs gets need
    0.99, one at 10% gets 0.01."""
    found = NeedIndexDefinition(
        name="High needs only",
        weights={"pct_high_needs": 1.0},
        normalisation=Normalisation.MINMAX,
        missing_policy=MissingPolicy.EXCLUDE,
    )
    db.session.add(found)
    db.session.commit()
    return found


@pytest.fixture
def default_need_index(app: Flask) -> NeedIndexDefinition:
    """The default need index, as the migration (or seed-demo) makes it: pages never do."""
    from registry.equity.need_index import default_definition

    found = default_definition()
    db.session.commit()
    return found
