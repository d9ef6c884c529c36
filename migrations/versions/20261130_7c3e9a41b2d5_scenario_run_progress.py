"""scenario run progress: stage reached and categories done of all

Revision ID: 7c3e9a41b2d5
Revises: 32038f3a1664
Create Date: 2026-11-30 11:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c3e9a41b2d5'
down_revision = '32038f3a1664'
branch_labels = None
depends_on = None


def upgrade():
    # Runs stored before this have finished (or never will): they count as finished,
    # with no categories counted.
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stage', sa.Enum('waiting', 'solving', 'finished', name='runstage', native_enum=False, length=40), nullable=False, server_default='finished'))
        batch_op.add_column(sa.Column('categories_done', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('categories_total', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.alter_column('stage', server_default=None)
        batch_op.alter_column('categories_done', server_default=None)
        batch_op.alter_column('categories_total', server_default=None)


def downgrade():
    with op.batch_alter_table('scenario_run', schema=None) as batch_op:
        batch_op.drop_column('categories_total')
        batch_op.drop_column('categories_done')
        batch_op.drop_column('stage')
