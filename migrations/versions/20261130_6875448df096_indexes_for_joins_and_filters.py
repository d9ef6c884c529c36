"""indexes for every foreign key and every column the pages filter on

At state size (1,885 schools, 15,344 MOUs) a join or filter without an index is a full scan
per row: `/schools/?no_partner=1` spent 12-25 s scanning `mou_school` once per school, 0.27 s
with `ix_mou_school_school_id`. tests/test_indexes.py keeps it so.

- `mou_school(school_id)`: the primary key (mou_id, school_id) serves only lookups by MOU.
- `mou(end_date)`: the MOU list's and dashboard's "ending within 60 days".
- every other foreign key without one (accounts that drafted, edited, signed, reviewed,
  uploaded or created something; a user's partner; a scenario's need index): joins, and the
  ON DELETE of the row they point to.

Revision ID: 6875448df096
Revises: 3b6d752af99f
Create Date: 2026-11-30 20:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '6875448df096'
down_revision = '3b6d752af99f'
branch_labels = None
depends_on = None

# (table, column): each gets ix_<table>_<column>, the metadata's naming convention.
INDEXED = (
    ('mou_school', 'school_id'),
    ('mou', 'end_date'),
    ('mou', 'partner_signed_by_id'),
    ('mou', 'drafted_by_id'),
    ('mou', 'last_edited_by_id'),
    ('mou_version', 'created_by_id'),
    ('audit_entry', 'user_id'),
    ('partner_application', 'reviewed_by_id'),
    ('invitation', 'invited_by_id'),
    ('invitation', 'user_id'),
    ('change_request', 'submitted_by_id'),
    ('change_request', 'reviewed_by_id'),
    ('document', 'reviewed_by_id'),
    ('document', 'uploaded_by_id'),
    ('import_mapping', 'created_by_id'),
    ('need_index_definition', 'created_by_id'),
    ('password_reset_token', 'user_id'),
    ('scenario', 'need_definition_id'),
    ('scenario', 'created_by_id'),
    ('scenario_run', 'created_by_id'),
    ('user_account', 'partner_id'),
)


def upgrade():
    for table, column in INDEXED:
        op.create_index(f'ix_{table}_{column}', table, [column], unique=False)


def downgrade():
    for table, column in reversed(INDEXED):
        op.drop_index(f'ix_{table}_{column}', table_name=table)
