"""Pieces the revisions share. Frozen like the revisions: change by adding, never editing."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

ID = sa.String(36)
HASH = sa.String(71)
NAME = sa.String(200)


def record_columns() -> list[sa.Column]:
    """The identity, hash and signature columns every record table starts with."""
    return [
        sa.Column("id", ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("actor_verified", sa.Boolean, nullable=False),
        sa.Column("key_id", HASH, nullable=False),
        sa.Column("record_hash", HASH, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
    ]


def refuse_if_rows(tables: list[str], revision: str) -> None:
    """Downgrading past ``revision`` drops ``tables``: refuse while they hold records."""
    bind = op.get_bind()
    for table in tables:
        count: int = bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
        if count:
            raise RuntimeError(
                f"downgrade below revision {revision} would destroy {count} record(s) in "
                f"{table}; governance records are never deleted by a migration"
            )
