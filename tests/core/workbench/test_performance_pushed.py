"""A performance view counted in the database equals the one read into memory: the realized
metric per window, the reference baseline and the estimate (CBPE) where labels are missing,
on the demo's DuckDB workspace with the row threshold lowered so the SQL path runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
from watchkeeper.core.workbench import analyses
from watchkeeper.core.workbench.analyses import run_performance
from watchkeeper.core.workbench.portfolio import portfolio_of_spec

AS_OF = dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
PUSHED = "counted in the database"


def performance_document(view: Any) -> dict[str, Any]:
    """What a view says, without the label-lag percentiles (not computed in the database)
    and the notes (which say how it was computed)."""
    realized = view.realized.to_dict()
    for w in realized["windows"]:
        w["coverage"].pop("lag_hours")
    return {
        "realized": realized,
        "baseline": None if view.baseline is None else view.baseline.to_dict(),
        "estimated": [None if e is None else e.to_dict() for e in view.estimated],
    }


def assert_close(a: Any, b: Any, path: str = "") -> None:
    """Equal documents, floats to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def _view(entry: Any, monkeypatch: pytest.MonkeyPatch, *, pushed: bool, window: str = "7d"):
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0 if pushed else 2_000_000)
    with recorded_statements() as seen:
        view = run_performance(entry, "1", window, as_of=AS_OF)
    return view, scans(seen, "predictions")


def test_performance_counted_in_duckdb_equals_in_memory(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (entry,) = portfolio_of_spec(demo_workspace / "specs" / "fraud-detector.toml").models
    memory, _ = _view(entry, monkeypatch, pushed=False)
    counted, statements = _view(entry, monkeypatch, pushed=True)
    assert not any(PUSHED in n for n in memory.notes)
    assert any(PUSHED in n for n in counted.notes)
    estimated = [e for e in counted.estimated if e is not None and e.metrics]
    assert estimated and estimated[0].index > 0  # the newest windows, not window 0
    assert counted.baseline is not None and counted.baseline.method == "delong"
    assert_close(performance_document(counted), performance_document(memory))
    # the estimate's windows are the realized metrics' plan, not planned by a second query
    # (on local Spark each of these took 0.4-0.6 s)
    assert len(set(statements)) == len(statements), statements
    # the statements do not multiply with the windows: 17 daily windows cost what 3 weekly do
    daily, per_day = _view(entry, monkeypatch, pushed=True, window="1d")
    assert len(daily.realized.windows) > 5 * len(counted.realized.windows)
    assert len(per_day) == len(statements), per_day
