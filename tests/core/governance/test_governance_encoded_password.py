"""Percent-encoded passwords in database URLs (issue 17, finding 8), on the real cluster.

A role whose password holds ``@ / : %`` connects through a URL that spells it
percent-encoded — the governance store and a PostgreSQL telemetry table alike (SQLAlchemy's
``make_url`` decodes the user-info) — and a wrong password ends in one line that names the
user and never shows a password, in either spelling.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from watchkeeper.core.errors import TelemetryError, WatchkeeperError
from watchkeeper.core.governance import GovernanceStore
from watchkeeper.core.governance.roles import add_user
from watchkeeper.core.governance.verify import verify_audit
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source

PASSWORD = "p@ss/w:rd%41?#x"
ENCODED = quote(PASSWORD, safe="")
USER = f"enc_{os.getpid()}"
FORMS = (PASSWORD, ENCODED, "p@ss/w")


@pytest.fixture
def encoded_urls(postgres, team, team_db) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(the right URL, a wrong one) for an approver whose password needs encoding."""
    add_user(team_db["owner"], USER, "approver", PASSWORD)
    database = sa.make_url(team_db["owner"]).database
    where = f"127.0.0.1:{postgres.port}/{database}"
    return (
        f"postgresql+psycopg://{USER}:{ENCODED}@{where}",
        f"postgresql+psycopg://{USER}:{quote('p@ss/w', safe='')}@{where}",
    )


def _one_clear_line(message: str) -> None:
    assert "\n" not in message
    assert "password authentication failed" in message and USER in message
    assert all(form not in message for form in FORMS)


def test_governance_connects_with_an_encoded_password(encoded_urls) -> None:
    right, wrong = encoded_urls
    with GovernanceStore.open(right) as store:
        assert store.identity.name == USER  # the server's current_user: we logged in as USER
    assert verify_audit(right).ok
    with pytest.raises(WatchkeeperError) as info:
        GovernanceStore.open(wrong)
    _one_clear_line(str(info.value))


def test_telemetry_connects_with_an_encoded_password(encoded_urls, team_db) -> None:
    right, wrong = encoded_urls
    owner = sa.create_engine(team_db["owner"])
    with owner.begin() as conn:
        conn.execute(sa.text("CREATE TABLE events (request_id text, model_version text, "
                             "ts timestamptz, x double precision)"))  # fmt: skip
        conn.execute(sa.text("INSERT INTO events VALUES ('r1', '1', '2026-01-01T00:00Z', 1.5)"))
        conn.execute(sa.text(f'GRANT SELECT ON events TO "{USER}"'))
    owner.dispose()
    mapping = ColumnMapping(
        model=None, score=None, prediction=None, label=None, label_ts=None, features=("x",)
    )
    with open_source(f"{right}#events", mapping) as src:
        assert src.read().column("x").to_pylist() == [1.5]
        assert all(form not in src.description for form in FORMS)
    with pytest.raises(TelemetryError) as info:
        open_source(f"{wrong}#events", mapping)
    _one_clear_line(str(info.value))
