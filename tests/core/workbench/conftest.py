"""Fixtures of the workbench tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def source_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The columns of every ``TelemetrySource.read`` the test makes, in order (the reads
    themselves run as before)."""
    from watchkeeper.core.telemetry.source import TelemetrySource

    reads: list[tuple[str, ...]] = []
    real = TelemetrySource.read

    def read(self, query=None, columns=None, cancelled=None):  # type: ignore[no-untyped-def]
        reads.append(tuple(columns or ()))
        return real(self, *(() if query is None else (query,)), columns, cancelled)

    monkeypatch.setattr(TelemetrySource, "read", read)
    return reads
