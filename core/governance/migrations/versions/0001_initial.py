"""Identities, monitor specs, approvals and the audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watchkeeper.core.governance.migrations._helpers import (
    HASH,
    ID,
    NAME,
    record_columns,
    refuse_if_rows,
)

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identities", *record_columns(), sa.Column("public_key", sa.Text, nullable=False)
    )
    op.create_table(
        "monitor_specs",
        *record_columns(),
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("toml", sa.Text, nullable=False),
        sa.Column("toml_digest", HASH, nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_monitor_specs_model_version"),
    )
    op.create_table(
        "approvals",
        *record_columns(),
        sa.Column("model", NAME, nullable=False),
        sa.Column("model_version", NAME, nullable=False),
        sa.Column("role", NAME, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("evidence_digest", HASH, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("actor_verified", sa.Boolean, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("record_hash", HASH, nullable=False),
        sa.Column("prev_hash", HASH, nullable=False, unique=True),
        sa.Column("entry_hash", HASH, nullable=False, unique=True),
    )


def downgrade() -> None:
    tables = ["audit_log", "approvals", "monitor_specs", "identities"]
    refuse_if_rows(tables, revision)
    for table in tables:
        op.drop_table(table)
