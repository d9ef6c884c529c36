"""The migrations build exactly the models' schema, and undo it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from registry.extensions import db
from tests.conftest import ScratchDatabase, make_app


def _schema_differences() -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_migrations_produce_the_models_schema_and_downgrade_to_nothing(
    test_database: ScratchDatabase,
) -> None:
    app = make_app(test_database.new_url())
    with app.app_context():
        upgrade()
        assert _schema_differences() == []
        assert {t.name for t in db.metadata.sorted_tables} <= _tables()

        downgrade(revision="base")
        assert _tables() <= {"alembic_version"}

        upgrade()  # and the way back up still works after a full downgrade
        assert _schema_differences() == []
        db.engine.dispose()


def test_every_constraint_follows_the_naming_convention(test_database: ScratchDatabase) -> None:
    app = make_app(test_database.new_url())
    with app.app_context():
        upgrade()
        inspector = sa.inspect(db.engine)
        for table in db.metadata.sorted_tables:
            for fk in inspector.get_foreign_keys(table.name):
                assert fk["name"] and fk["name"].startswith(f"fk_{table.name}_"), fk
            for unique in inspector.get_unique_constraints(table.name):
                assert unique["name"] and unique["name"].startswith(f"uq_{table.name}_"), unique
        db.engine.dispose()


def _definitions() -> list[tuple[str, int, bool]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, version, is_default FROM need_index_definition ORDER BY id")
        )
        return [(name, version, bool(default)) for name, version, default in rows]


def test_the_default_need_index_is_made_by_a_migration_with_a_real_downgrade(
    test_database: ScratchDatabase,
) -> None:
    app = make_app(test_database.new_url())
    with app.app_context():
        upgrade()
        # Version 1 (every indicator required) stays for the scenarios run with it;
        # version 2 (scored on the indicators a school has) is the default.
        assert _definitions() == [
            ("District need index", 1, False),
            ("District need index", 2, True),
        ]

        downgrade(revision="f3d18cfe602f")
        assert _definitions() == [("District need index", 1, True)]  # the flag is back

        downgrade(revision="7c3e9a41b2d5")
        assert _definitions() == []

        # A database that already has a default (someone saved one) keeps it as it is.
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO need_index_definition (name, version, description, weights, "
                    "normalisation, missing_policy, is_default, created_at) VALUES ('Ours', 1, "
                    "'', '{}', 'minmax', 'median', :yes, CURRENT_TIMESTAMP)"
                ),
                {"yes": True},
            )
        upgrade()
        assert _definitions() == [("Ours", 1, True)]
        downgrade(revision="7c3e9a41b2d5")
        assert _definitions() == [("Ours", 1, True)]  # someone's data, never removed
        db.engine.dispose()
