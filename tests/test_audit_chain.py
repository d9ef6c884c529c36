"""Tamper evidence: the audit and security-event rows are hash-chained, `verify-audit` checks
the chains, and on PostgreSQL a trigger keeps both tables append-only."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from registry.extensions import db
from registry.models import AuditEntry, Partner, SecurityEvent
from registry.models.columns import utcnow
from registry.seclog import chain
from registry.security_log import record
from registry.vocabulary import PartnerType
from tests.conftest import ScratchDatabase, make_app


def verify_audit(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    return result.exit_code, result.output  # stdout and stderr


def _table(model: type) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


def _history(make_partner: Callable[..., Partner]) -> Partner:
    partner = make_partner()
    partner.name = "Renamed"
    db.session.commit()
    record("export", list="partners", rows=1)
    record("logout", user_id=1, email="a@district.example")
    return partner


def test_every_row_is_chained_and_verify_audit_says_ok(
    app: Flask, make_partner: Callable[..., Partner]
) -> None:
    _history(make_partner)
    rows = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert len(rows) == 2 and all(r.chain_hash for r in rows)
    assert rows[1].chain_hash == chain.chain_hash(
        rows[0].chain_hash,
        "audit_entry",
        {c: getattr(rows[1], c) for c in chain.CONTENT_COLUMNS["audit_entry"]},
    )
    assert verify_audit(app) == (
        0,
        "audit_entry: ok, 2 rows chained\nsecurity_event: ok, 2 rows chained\n",
    )


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("audit_entry", "UPDATE audit_entry SET summary = 'nothing to see' WHERE id = :id"),
        ("audit_entry", "DELETE FROM audit_entry WHERE id = :id"),
        ("security_event", "UPDATE security_event SET email = 'x@example.com' WHERE id = :id"),
        ("security_event", "DELETE FROM security_event WHERE id = :id"),
    ],
)
def test_verify_audit_finds_the_first_tampered_row(
    app: Flask, make_partner: Callable[..., Partner], table: str, change: str
) -> None:
    # The suite's tables are made by create_all, without the PostgreSQL trigger, so a raw
    # change goes through on both backends, as it would on SQLite in production.
    _history(make_partner)
    record("logout", user_id=2, email="b@district.example")
    with db.engine.begin() as conn:
        first = conn.execute(sa.text(f"SELECT min(id) FROM {table}")).scalar_one()
        conn.execute(sa.text(change), {"id": first})
    code, output = verify_audit(app)
    assert code == 1
    # An edited row fails itself; a deleted one breaks the row after it.
    broken = first + 1 if change.startswith("DELETE") else first
    assert f"{table}: BROKEN at id {broken}" in output


def test_rows_a_service_adds_itself_are_chained_even_several_in_one_flush(app: Flask) -> None:
    for n in range(3):
        db.session.add(
            AuditEntry(action="download", entity="document", entity_id=n, before=None, after={})
        )
    db.session.add(
        Partner(name="Also audited", email="p@x.example", partner_type=PartnerType.NONPROFIT)
    )
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 4
    assert chain.verify(db.session.connection(), _table(AuditEntry)).ok


def test_rows_from_before_the_chain_are_counted_and_a_missing_hash_later_is_a_break(
    app: Flask, make_partner: Callable[..., Partner]
) -> None:
    table = _table(SecurityEvent)
    legacy = {"kind": "logout", "email": "", "ip": "", "path": "", "details": {}}
    with db.engine.begin() as conn:
        conn.execute(sa.insert(table), [legacy | {"at": utcnow()}] * 2)
    record("logout", user_id=1)
    code, output = verify_audit(app)
    assert (
        code == 0 and "security_event: ok, 1 rows chained, 2 from before the chain began" in output
    )
    with db.engine.begin() as conn:
        conn.execute(sa.insert(table), legacy | {"at": utcnow()})
        last = conn.execute(sa.select(sa.func.max(table.c.id))).scalar_one()
    code, output = verify_audit(app)
    assert code == 1 and f"security_event: BROKEN at id {last} (no hash)" in output


# ---- PostgreSQL: the trigger, and concurrent inserts ----------------------------------------


def _postgres_only(test_database: ScratchDatabase) -> None:
    if not test_database.is_postgres:
        pytest.skip("PostgreSQL only: SQLite has no trigger here (and a single writer)")


def test_the_migration_makes_both_tables_append_only_on_postgresql(
    test_database: ScratchDatabase,
) -> None:
    _postgres_only(test_database)
    app = make_app(test_database.new_url())
    with app.app_context():
        upgrade()
        record("logout", user_id=1, email="a@district.example")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_entry (at, user_email, action, entity, summary) "
                    "VALUES (now(), '', 'create', 'partner', '')"
                )
            )
        for table in ("audit_entry", "security_event"):
            for statement in (
                f"UPDATE {table} SET at = now()",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                refused = pytest.raises(sa.exc.ProgrammingError, match="append-only")
                with refused, db.engine.begin() as conn:
                    conn.execute(sa.text(statement))
            with db.engine.connect() as conn:
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
        db.engine.dispose()


def test_concurrent_inserts_keep_one_chain_on_postgresql(
    app: Flask, test_database: ScratchDatabase
) -> None:
    _postgres_only(test_database)
    rounds = 15
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(rounds):
                    db.session.add(
                        Partner(
                            name=f"P{n}-{i}",
                            email="p@x.example",
                            partner_type=PartnerType.NONPROFIT,
                        )
                    )
                    db.session.commit()  # one audit row each, chained in its own transaction
                    record("export", list=f"thread-{n}", rows=i)
                db.session.remove()
        except BaseException as err:  # reported below, in the test's thread
            failures.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert verify_audit(app) == (
        0,
        f"audit_entry: ok, {2 * rounds} rows chained\n"
        f"security_event: ok, {2 * rounds} rows chained\n",
    )
