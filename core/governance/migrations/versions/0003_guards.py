"""Server-side guards: append-only rows everywhere; on PostgreSQL, server-recorded identity.

PostgreSQL:
- ``watchkeeper_check_identity`` (BEFORE INSERT, every governance table): ``actor`` must be
  ``current_user``, ``actor_verified`` true, and ``created_at`` the server's clock during this
  transaction (between ``now()`` and ``clock_timestamp()``). A client cannot write as someone
  else, nor back- or forward-date a record.
- ``watchkeeper_append_only`` (BEFORE UPDATE/DELETE per row, BEFORE TRUNCATE): refused,
  unless the transaction set ``watchkeeper.allow_changes = on`` *and* the role is a superuser
  or a member of ``watchkeeper_admin`` — an explicit act by the admin, and ``audit verify``
  still reports whatever it changed.

SQLite: triggers refusing UPDATE and DELETE (anyone holding the file can drop them; the
audit chain and signatures are what detect a change there).

Revision ID: 0003_guards
Revises: 0002_decisions
Create Date: 2026-01-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_guards"
down_revision = "0002_decisions"
branch_labels = None
depends_on = None

TABLES = (
    "identities",
    "monitor_specs",
    "approvals",
    "rollbacks",
    "rollback_applications",
    "model_cards",
    "incident_notes",
    "audit_log",
)

PG_CHECK_IDENTITY = """
CREATE OR REPLACE FUNCTION watchkeeper_check_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.actor IS DISTINCT FROM current_user::text THEN
        RAISE EXCEPTION 'watchkeeper: signed in as %, cannot record in % as %',
            current_user, TG_TABLE_NAME, NEW.actor;
    END IF;
    IF NEW.actor_verified IS NOT TRUE THEN
        RAISE EXCEPTION 'watchkeeper: identities on PostgreSQL are verified by the server; '
            'actor_verified must be true';
    END IF;
    IF NEW.created_at IS NULL OR NEW.created_at < now() OR NEW.created_at > clock_timestamp() THEN
        RAISE EXCEPTION 'watchkeeper: created_at % is not the server''s time of this '
            'transaction', NEW.created_at;
    END IF;
    RETURN NEW;
END
$$;
"""

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION watchkeeper_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    allowed boolean := false;
BEGIN
    IF coalesce(current_setting('watchkeeper.allow_changes', true), '') = 'on' THEN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
            allowed := true;
        ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'watchkeeper_admin') THEN
            allowed := pg_has_role(current_user, 'watchkeeper_admin', 'MEMBER');
        END IF;
    END IF;
    IF allowed THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'watchkeeper: % rows are append-only; % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'an admin may allow it for one transaction with '
                     'SET LOCAL watchkeeper.allow_changes = on';
END
$$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_CHECK_IDENTITY)
        op.execute(PG_APPEND_ONLY)
        for t in TABLES:
            op.execute(
                f"CREATE TRIGGER watchkeeper_{t}_identity BEFORE INSERT ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION watchkeeper_check_identity()"
            )
            op.execute(
                f"CREATE TRIGGER watchkeeper_{t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                "FOR EACH ROW EXECUTE FUNCTION watchkeeper_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER watchkeeper_{t}_no_truncate BEFORE TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION watchkeeper_append_only()"
            )
    else:
        for t in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER watchkeeper_{t}_no_{verb.lower()} BEFORE {verb} ON {t} "
                    f"BEGIN SELECT RAISE(ABORT, 'watchkeeper: {t} rows are append-only; "
                    f"{verb} refused'); END"
                )


def downgrade() -> None:
    # Safe: dropping guards loses no record.
    if op.get_bind().dialect.name == "postgresql":
        for t in TABLES:
            for suffix in ("identity", "append_only", "no_truncate"):
                op.execute(f"DROP TRIGGER IF EXISTS watchkeeper_{t}_{suffix} ON {t}")
        op.execute("DROP FUNCTION IF EXISTS watchkeeper_check_identity()")
        op.execute("DROP FUNCTION IF EXISTS watchkeeper_append_only()")
    else:
        for t in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS watchkeeper_{t}_no_{verb}")
