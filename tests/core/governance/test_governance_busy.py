"""A SQLite governance database another program holds: a prompt, stated "busy" instead of a
minute's wait ending in "cannot connect", and nothing half-written (issue 17, finding 11)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.app import cli
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance import GovernanceStore, db, schema
from watchkeeper.core.governance.verify import verify_audit

TIMEOUT = 1.0

_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute(sys.argv[2])
print("held", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@contextmanager
def held(path: Path, begin: str) -> Iterator[None]:
    """Another process holding the file in a transaction started with ``begin``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), begin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)


def _counts(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            approvals = conn.execute(sa.select(sa.func.count()).select_from(schema.approvals))
            entries = conn.execute(sa.select(sa.func.count()).select_from(schema.audit_log))
            return approvals.scalar_one(), entries.scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", TIMEOUT)
    url = f"sqlite:///{tmp_path / 'governance.db'}"
    with GovernanceStore.open(url, create=True) as store:
        store.record_approval("m", "1", evidence={})
    return url


def test_a_write_blocked_by_another_writer_says_busy_and_loses_nothing(sqlite_url: str) -> None:
    path = Path(sa.make_url(sqlite_url).database or "")
    before = _counts(sqlite_url)
    with GovernanceStore.open(sqlite_url) as store:
        with held(path, "BEGIN IMMEDIATE"):
            started = time.monotonic()
            with pytest.raises(WatchkeeperError) as caught:
                store.record_approval("m", "2", evidence={"why": "blocked"})
            waited = time.monotonic() - started
        message = str(caught.value)
        assert "the governance database is busy: another program is writing to it" in message
        assert f"waited {TIMEOUT:g} s to record an approval of m version 2" in message
        assert "try again" in message and "cannot connect" not in message
        assert TIMEOUT <= waited < TIMEOUT + 5
        assert _counts(sqlite_url) == before  # no record without its entry, nor the reverse
        store.record_approval("m", "2", evidence={"why": "retried"})  # the lock is gone
    assert _counts(sqlite_url) == (before[0] + 1, before[1] + 1)
    assert verify_audit(sqlite_url).ok


def test_an_exclusive_lock_on_open_says_busy_through_the_cli(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(sa.make_url(sqlite_url).database or "")
    with held(path, "BEGIN EXCLUSIVE"):  # keeps readers out too
        with pytest.raises(WatchkeeperError, match="governance database is busy"):
            GovernanceStore.open(sqlite_url)
        code = cli.main(["audit", "verify", "--db", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1, err
    assert "busy: another program is writing to it" in err[0] and "cannot connect" not in err[0]
    assert cli.main(["audit", "verify", "--db", str(path)]) == 0
