"""scenario runs keep a summary: what their pages need of the problem file, computed once

- `scenario_run.summary_json`: computed by the worker when it stores the result
  (registry.scenarios.summary). Existing runs have none: their pages compute it from the
  problem file in memory, as before.

Revision ID: acde0cb4f148
Revises: 6875448df096
Create Date: 2026-11-30 20:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'acde0cb4f148'
down_revision = '6875448df096'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary_json', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.drop_column('summary_json')
