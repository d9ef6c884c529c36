"""the default need index: made here, no longer by the first reader of an equity page

Revision ID: 7d0c2a4e9b1f
Revises: 7c3e9a41b2d5
Create Date: 2026-11-30 12:30:00

Until now the first GET of /equity/ or /api/v1/kpis created the default need
index definition in the reader's name (and two first readers at once clashed
on its unique name and version). Pages only read now; the default is made
once, here (and by seed-demo for a database built another way).

The values are copied, not imported, so this migration means the same thing
whatever the app code later becomes (see registry.equity.need_index).
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7d0c2a4e9b1f"
down_revision = "7c3e9a41b2d5"
branch_labels = None
depends_on = None

DEFAULT_NAME = "District need index"
DESCRIPTION = (
    "The five DESE indicators, equally weighted, each as a percentile rank "
    "within the district. Schools missing an indicator are excluded."
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


def upgrade():
    conn = op.get_bind()
    has_default = conn.scalar(
        sa.select(sa.func.count()).select_from(definition).where(definition.c.is_default.is_(True))
    )
    if has_default:
        return  # a database that already has its default keeps it
    latest = conn.scalar(
        sa.select(sa.func.max(definition.c.version)).where(definition.c.name == DEFAULT_NAME)
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
                "missing_policy": "exclude",
                "is_default": True,
                "created_at": datetime.now(timezone.utc),
                "created_by_id": None,
            }
        ],
    )


def downgrade():
    # Back to "made on demand": drop the system-made defaults (nobody's, named as above)
    # that no scenario uses; the earlier code makes one again when a page asks. A default
    # someone saved, or one a scenario was run with, is data and stays.
    used = sa.select(scenario.c.need_definition_id).where(
        scenario.c.need_definition_id.is_not(None)
    )
    op.execute(
        definition.delete().where(
            definition.c.name == DEFAULT_NAME,
            definition.c.created_by_id.is_(None),
            definition.c.description == DESCRIPTION,
            definition.c.id.not_in(used),
        )
    )
