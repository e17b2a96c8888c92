"""Alembic environment: runs on the connection handed over by ``watchkeeper.core.governance.db``.

There is no alembic.ini: :func:`watchkeeper.core.governance.db.alembic_config` builds the
Config with ``script_location`` pointing here and puts an open connection into
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from watchkeeper.core.governance.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic command line
    raise RuntimeError(
        "run governance migrations through `watchkeeper db upgrade --db URL`, "
        "not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
