"""A multiclass model's performance view counted in the database equals the one read into
memory: the realized metric per window (exact metrics to 1e-9, the confusion metrics'
bootstrap bounds to Monte Carlo error), the reference baseline and the estimate (CBPE) where
labels are missing — on a DuckDB workspace with the row threshold lowered so the SQL path
runs, and on the real Spark server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from multiclass_world import AS_OF, SPEC, events

from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
from watchkeeper.core.workbench import analyses
from watchkeeper.core.workbench.analyses import run_performance
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec

PUSHED = "counted in the database"
#: The statements reading the table, whatever the windows: whether labels have arrival
#: times (1); realized and baseline each a time range and the counts (2 + 2), for ROC AUC
#: also the rank sums and the bounded sample its interval is drawn from (+ 2 + 2); the
#: estimate the bounded samples (2: the reference's count comes with its sample, and the
#: windows' plan is the realized metrics', its time range not asked again).
STATEMENTS = {"accuracy": 7, "macro_f1": 7, "roc_auc": 11}


def _workspace(root: Path, source: str) -> ModelEntry:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    spec = root / "specs" / "triage.toml"
    spec.write_text(SPEC.replace('source = "../telemetry.parquet"', f'source = "{source}"'))
    return portfolio_of_spec(spec).models[0]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's events in time order (the order a read of the table gives)."""
    folder = tmp_path_factory.mktemp("mcview") / "events"
    folder.mkdir()
    pq.write_table(events().sort_by("ts"), folder / "part-0.parquet")
    return folder


@pytest.fixture(scope="module")
def duck_entry(parquet: Path) -> ModelEntry:
    path = parquet.parent / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.sql(f"CREATE TABLE events AS SELECT * FROM read_parquet('{parquet}/*.parquet')")
    return _workspace(parquet.parent, f"duckdb:///{path}#events")


def _view(entry: Any, monkeypatch: pytest.MonkeyPatch, metric: str, *, pushed: bool):
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0 if pushed else 10**9)
    with recorded_statements() as seen:
        view = run_performance(entry, "1", "7d", metric, as_of=AS_OF)
    return view, seen


def _same(got: Any, want: Any, metric: str, *, exact: bool) -> None:
    assert any(PUSHED in n for n in got.notes) and not any(PUSHED in n for n in want.notes)
    pairs = [(got.baseline, want.baseline)]
    assert len(got.realized.windows) == len(want.realized.windows) == 11
    for a, b in zip(got.realized.windows, want.realized.windows, strict=True):
        assert (a.events, a.coverage.labeled, a.status) == (b.events, b.coverage.labeled, b.status)
        assert a.confusion == b.confusion and a.per_class == b.per_class
        pairs.append((a.metrics.get(metric), b.metrics.get(metric)))
    for x, e in pairs:
        assert (x is None) == (e is None)
        if e is None:
            continue
        assert x.value == pytest.approx(e.value, rel=1e-9), metric
        bounds = pytest.approx(e.lower, rel=1e-9) if exact else pytest.approx(e.lower, abs=0.02)
        assert x.lower == bounds, metric
    estimated = [(x, e) for x, e in zip(got.estimated, want.estimated, strict=True) if e.metrics]
    assert estimated and len(got.estimated) == len(want.estimated)
    for x, e in estimated:
        assert x.metrics == e.metrics  # the same rows in the same order: the same draws


def test_multiclass_view_counted_in_duckdb_equals_in_memory(
    duck_entry: ModelEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for metric, exact in (("accuracy", True), ("roc_auc", True), ("macro_f1", False)):
        want, _ = _view(duck_entry, monkeypatch, metric, pushed=False)
        got, seen = _view(duck_entry, monkeypatch, metric, pushed=True)
        _same(got, want, metric, exact=exact)
        assert len(scans(seen, "events")) == STATEMENTS[metric], scans(seen, "events")


@pytest.mark.spark
def test_multiclass_view_counted_in_spark_equals_in_memory(
    spark, parquet: Path, duck_entry: ModelEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mcview_{os.getpid()}"
    location = spark.table_from_parquet(name, parquet)
    entry = _workspace(parquet.parent / "spark", location)
    for metric, exact in (("roc_auc", True), ("macro_f1", False)):
        want, _ = _view(duck_entry, monkeypatch, metric, pushed=False)
        got, seen = _view(entry, monkeypatch, metric, pushed=True)
        _same(got, want, metric, exact=exact)
        assert len(scans(seen, name)) == STATEMENTS[metric], scans(seen, name)
