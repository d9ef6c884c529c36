"""two-step sign-in: secrets encrypted at rest, and an administrator's reset

- `mfa_credential.secret`: a Fernet token of the base32 secret (registry.mfa.secret_box),
  so 255 characters; existing secrets are encrypted under the app's current key
  (MFA_ENCRYPTION_KEY, else the key derived from SECRET_KEY), and decrypted again on the
  way down.
- `mfa_credential.reset_at`: when an administrator reset it; the user must set it up again.
  Down: a reset credential becomes nothing (as the former `flask mfa-reset` left it).

Revision ID: 3b6d752af99f
Revises: d7c7e569c66e
Create Date: 2026-11-30 19:55:00.000000

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from registry.mfa import secret_box


# revision identifiers, used by Alembic.
revision = '3b6d752af99f'
down_revision = 'd7c7e569c66e'
branch_labels = None
depends_on = None

credential = sa.table(
    'mfa_credential',
    sa.column('id', sa.Integer()),
    sa.column('secret', sa.String()),
    sa.column('confirmed_at', sa.DateTime(timezone=True)),
    sa.column('reset_at', sa.DateTime(timezone=True)),
)


def _rewrite(change):
    conn = op.get_bind()
    rows = conn.execute(sa.select(credential.c.id, credential.c.secret)).all()
    for row_id, secret in rows:
        conn.execute(
            credential.update()
            .where(credential.c.id == row_id)
            .values(secret=change(secret, current_app.config))
        )


def upgrade():
    with op.batch_alter_table('mfa_credential', schema=None) as batch_op:
        batch_op.alter_column(
            'secret', existing_type=sa.String(length=64), type_=sa.String(length=255),
            existing_nullable=False,
        )
        batch_op.add_column(sa.Column('reset_at', sa.DateTime(timezone=True), nullable=True))
    _rewrite(secret_box.encrypt)


def downgrade():
    op.execute(
        credential.delete().where(
            credential.c.reset_at.is_not(None), credential.c.confirmed_at.is_(None)
        )
    )
    _rewrite(secret_box.decrypt)
    with op.batch_alter_table('mfa_credential', schema=None) as batch_op:
        batch_op.drop_column('reset_at')
        batch_op.alter_column(
            'secret', existing_type=sa.String(length=255), type_=sa.String(length=64),
            existing_nullable=False,
        )
