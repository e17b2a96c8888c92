"""A lock table only writers can lock, instead of a public advisory lock.

PostgreSQL writers used to serialise on ``pg_advisory_xact_lock``: any role able to connect
(a viewer, or a role in no group) could hold that key and hang every writer. Writers now
take ``LOCK TABLE audit_chain_lock IN SHARE ROW EXCLUSIVE MODE``. PostgreSQL lets a role
take that mode only with UPDATE, DELETE or TRUNCATE on the table (INSERT allows no more than
ROW EXCLUSIVE), so the approver group gets UPDATE on this empty table — and on no table that
holds records — and a viewer's SELECT-only grants cannot block anyone. The table never holds
a row: its only use is its lock.

SQLite writers serialise with ``BEGIN IMMEDIATE``; the table exists there too so both
engines have one schema.

Revision ID: 0004_writer_lock
Revises: 0003_guards
Create Date: 2026-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_writer_lock"
down_revision = "0003_guards"
branch_labels = None
depends_on = None

# Databases whose roles were set up before this revision get the grant here; new ones get
# it from ``roles.init_roles``.
PG_GRANT = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'watchkeeper_approver') THEN
        GRANT UPDATE ON audit_chain_lock TO watchkeeper_approver;
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.create_table(
        "audit_chain_lock", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("REVOKE ALL ON audit_chain_lock FROM PUBLIC")
        op.execute(PG_GRANT)


def downgrade() -> None:
    # Safe: the table never holds a row.
    op.drop_table("audit_chain_lock")
