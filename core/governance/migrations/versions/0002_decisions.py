"""Rollback decisions and their applications, model cards, incident notes.

Revision ID: 0002_decisions
Revises: 0001_initial
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

revision = "0002_decisions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollbacks",
        *record_columns(),
        sa.Column("model", NAME, nullable=False),
        sa.Column("from_version", NAME, nullable=False),
        sa.Column("to_version", NAME, nullable=False),
        sa.Column("reason_class", sa.String(32), nullable=False),
        sa.Column("incident_ref", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("evidence_digest", HASH, nullable=False),
    )
    op.create_table(
        "rollback_applications",
        *record_columns(),
        sa.Column("rollback_id", ID, sa.ForeignKey("rollbacks.id"), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "model_cards",
        *record_columns(),
        sa.Column("model", NAME, nullable=False),
        sa.Column("model_version", NAME, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("base_revision", sa.Integer, nullable=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_digest", HASH, nullable=False),
        sa.UniqueConstraint("model", "model_version", "revision", name="uq_model_cards_revision"),
    )
    op.create_table(
        "incident_notes",
        *record_columns(),
        sa.Column("model", NAME, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("links", sa.Text, nullable=False),
    )


def downgrade() -> None:
    tables = ["incident_notes", "model_cards", "rollback_applications", "rollbacks"]
    refuse_if_rows(tables, revision)
    for table in tables:
        op.drop_table(table)
