"""A SQLite telemetry file another program holds exclusively: "busy", not "cannot connect"."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry import sql
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source


def test_an_exclusively_locked_sqlite_source_says_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "SQLITE_BUSY_TIMEOUT_S", 0.5)
    path = tmp_path / "telemetry.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE predictions (request_id TEXT, ts TEXT, model_version TEXT)")
        conn.execute("INSERT INTO predictions VALUES ('r1', '2026-01-01T00:00:00Z', '1')")
    conn.close()
    location = f"sqlite:///{path}#predictions"
    mapping = ColumnMapping(model=None, score=None, prediction=None, label=None, label_ts=None)
    opened = open_source(location, mapping)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a writer mid-transaction keeps readers out
    messages = []
    try:
        started = time.monotonic()
        for attempt in (lambda: open_source(location, mapping), opened.count):
            with pytest.raises(TelemetryError) as caught:
                attempt()
            messages.append(str(caught.value))
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for message in messages:
        assert "busy: another program is writing to it (waited 0.5 s); try again" in message
        assert "cannot connect" not in message and str(path) in message
    assert waited < 5
    assert opened.count() == 1  # released: readable again
