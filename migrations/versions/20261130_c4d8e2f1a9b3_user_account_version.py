"""user account edits carry a version (optimistic locking, like every other record)

- `user_account.version`: 1 for existing accounts.

Revision ID: c4d8e2f1a9b3
Revises: a7e3c1d2b4f6
Create Date: 2026-11-30 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d8e2f1a9b3'
down_revision = 'a7e3c1d2b4f6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('version')
