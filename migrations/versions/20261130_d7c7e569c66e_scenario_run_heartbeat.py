"""scenario runs keep a heartbeat and count their attempts (a dead worker's run is retried)

- `scenario_run.heartbeat_at`: when the worker running it last said it was alive.
- `scenario_run.attempts`: how many times a worker took it (0 for existing runs).

Revision ID: d7c7e569c66e
Revises: d71f3b0c2a58
Create Date: 2026-11-30 19:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7c7e569c66e'
down_revision = 'd71f3b0c2a58'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
