"""user account edits carry a version (optimistic locking, like every other record)

- `user_account.version`: 1 for existing accounts.

Revision ID: d71f3b0c2a58
Revises: 5ec10a9c4d21
Create Date: 2026-11-30 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd71f3b0c2a58'
down_revision = '5ec10a9c4d21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('version')
