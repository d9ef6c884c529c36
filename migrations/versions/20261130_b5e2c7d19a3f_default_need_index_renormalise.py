"""the default need index, version 2: scores schools on the DESE indicators they have

Revision ID: b5e2c7d19a3f
Revises: f3d18cfe602f
Create Date: 2026-11-30 17:10:00

Version 1 of "District need index" required all five indicators, so with the
partial indicators DESE's public reports give it scored no school. Version 2
counts the same indicators but scores a school on those it has (missing rule
"renormalise": weights re-scaled over what it has, the school flagged).
Definitions are immutable, so this adds version 2 and moves the default flag to
it; version 1 stays for the scenarios run with it.

Only the system-made default is replaced: a database whose default someone
chose keeps it. The values are copied, not imported, so this migration means
the same thing whatever the app code later becomes (see
registry.equity.need_index.default_definition).
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b5e2c7d19a3f"
down_revision = "f3d18cfe602f"
branch_labels = None
depends_on = None

DEFAULT_NAME = "District need index"
DESCRIPTION = (
    "The DESE indicators, equally weighted, each as a percentile rank within the district: "
    "low income / economically disadvantaged, English learners and students with "
    "disabilities, which DESE publishes for every school, with high needs and chronic "
    "absence where present. A school missing some is scored on those it has, its weights "
    "re-scaled over them, and flagged."
)
WEIGHTS = {
    "pct_econ_disadvantaged": 1.0,
    "pct_english_learners": 1.0,
    "pct_disabilities": 1.0,
    "pct_high_needs": 1.0,
    "pct_chronically_absent": 1.0,
}

definition = sa.table(
    "need_index_definition",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("version", sa.Integer),
    sa.column("description", sa.Text),
    sa.column("weights", sa.JSON),
    sa.column("normalisation", sa.String),
    sa.column("missing_policy", sa.String),
    sa.column("is_default", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("created_by_id", sa.Integer),
)
scenario = sa.table("scenario", sa.column("need_definition_id", sa.Integer))


def _system_made(name: str = DEFAULT_NAME):
    return sa.and_(definition.c.name == name, definition.c.created_by_id.is_(None))


def upgrade():
    conn = op.get_bind()
    defaults = conn.execute(
        sa.select(definition.c.id, definition.c.name, definition.c.created_by_id).where(
            definition.c.is_default.is_(True)
        )
    ).all()
    if any(name != DEFAULT_NAME or by is not None for _id, name, by in defaults):
        return  # someone chose the default: it stays theirs
    latest = conn.scalar(
        sa.select(sa.func.max(definition.c.version)).where(definition.c.name == DEFAULT_NAME)
    )
    op.execute(
        definition.update().where(definition.c.is_default.is_(True)).values(is_default=False)
    )
    op.bulk_insert(
        definition,
        [
            {
                "name": DEFAULT_NAME,
                "version": (latest or 0) + 1,
                "description": DESCRIPTION,
                "weights": WEIGHTS,
                "normalisation": "percentile",
                "missing_policy": "renormalise",
                "is_default": True,
                "created_at": datetime.now(timezone.utc),
                "created_by_id": None,
            }
        ],
    )


def downgrade():
    # Remove the row added above (system-made, this description, renormalise) unless a
    # scenario was run with it (then it is data and stays, default or not); if it was the
    # default, the flag goes back to the newest remaining system-made version of the name.
    conn = op.get_bind()
    used = sa.select(scenario.c.need_definition_id).where(
        scenario.c.need_definition_id.is_not(None)
    )
    added = sa.and_(
        _system_made(),
        definition.c.description == DESCRIPTION,
        definition.c.missing_policy == "renormalise",
        definition.c.id.not_in(used),
    )
    was_default = conn.scalar(
        sa.select(sa.func.count())
        .select_from(definition)
        .where(added, definition.c.is_default.is_(True))
    )
    op.execute(definition.delete().where(added))
    if not was_default:
        return
    still_default = conn.scalar(
        sa.select(sa.func.count()).select_from(definition).where(definition.c.is_default.is_(True))
    )
    if still_default:
        return
    previous = conn.scalar(
        sa.select(definition.c.id)
        .where(_system_made())
        .order_by(definition.c.version.desc())
        .limit(1)
    )
    if previous is not None:
        op.execute(definition.update().where(definition.c.id == previous).values(is_default=True))
