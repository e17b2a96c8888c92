"""Slices evaluated where the data lives: Arrow / numpy transfer and per-score-bin counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from watchkeeper.core.evaluation.binned import (
    binned_auc,
    binned_metrics,
    score_bins,
    score_bins_sql,
    score_grid,
    slice_metrics_sql,
)
from watchkeeper.core.evaluation.metrics import EvaluationError, binary_metrics
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import read_slice_sql, slice_metrics
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 1, 1)
WEB = SlicePredicate("web", (Condition("channel", "eq", "web"),))
BIG = SlicePredicate("big", (Condition("amount", "range", (100.0, None)),))


def _table(n: int = 6000) -> pa.Table:
    rng = np.random.default_rng(7)
    channel = rng.choice(["web", "app", "pos"], n)
    amount = rng.lognormal(4, 1, n)
    y = (rng.random(n) < 0.1).astype(float)
    # a fraud-like score: crowded near 0, higher for positives, worse on web
    signal = np.where(channel == "web", 0.6, 1.6)
    score = 1 / (1 + np.exp(-(rng.normal(-3, 1, n) + signal * y)))
    label = np.where(rng.random(n) < 0.3, np.nan, y)  # 30 % not labeled yet
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": [T0 + dt.timedelta(minutes=i) for i in range(n)],
            "model": ["m"] * n,
            "model_version": rng.choice(["1", "2"], n),
            "channel": channel,
            "amount": amount,
            "score": score,
            "label": pa.array(label, from_pandas=True),
        }
    )


def _write(url: str, table: pa.Table) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    t = sa.Table(
        "events",
        meta,
        sa.Column("request_id", sa.String),
        sa.Column("ts", sa.DateTime),
        sa.Column("model", sa.String),
        sa.Column("model_version", sa.String),
        sa.Column("channel", sa.String),
        sa.Column("amount", sa.Double),
        sa.Column("score", sa.Double),
        sa.Column("label", sa.Double),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), table.to_pylist())
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "duckdb"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    table = _table()
    path = tmp_path_factory.mktemp("pushdown") / f"t.{request.param}"
    url = f"{request.param}:///{path}"
    _write(url, table)
    src = open_source(f"{url}#events", ColumnMapping())
    yield src, table
    src.close()


def _selected(table: pa.Table, predicate: SlicePredicate | None) -> pa.Table:
    mask = np.asarray(table.column("model_version").to_numpy(zero_copy_only=False)) == "1"
    if predicate is not None:
        mask &= predicate.mask(table)
    return table.filter(pa.array(mask))


def test_slice_rows_come_back_as_numbers(source) -> None:
    src, table = source
    for predicate in (WEB, BIG, None):
        got = read_slice_sql(src, predicate, model="m", versions=["1"])
        want = _selected(table, predicate)
        assert got["score"].dtype == np.float64
        order = np.argsort(got["score"])
        expected = np.asarray(want.column("score").to_numpy(zero_copy_only=False))
        np.testing.assert_array_equal(got["score"][order], np.sort(expected))
        labels = want.column("label").to_numpy(zero_copy_only=False)
        assert np.isnan(got["label"]).sum() == np.isnan(labels).sum() > 0  # NULL → NaN
    window = read_slice_sql(
        src, WEB, model="m", versions=["1"], start=T0, end=T0 + dt.timedelta(hours=10)
    )
    assert 0 < window["score"].size < 600


def test_score_bins_counted_in_sql_equal_numpy(source) -> None:
    src, table = source
    want = _selected(table, WEB)
    grid = score_grid(0.0, 1.0, 0.2, bins=500)
    sql = score_bins_sql(src, WEB, grid, model="m", versions=["1"])
    mem = score_bins(want.column("label"), want.column("score"), grid)
    for name in ("events", "labeled", "positives"):
        np.testing.assert_array_equal(getattr(sql, name), getattr(mem, name), err_msg=name)
    np.testing.assert_allclose(sql.sq, mem.sq, rtol=1e-9, atol=1e-12)


def test_binned_metrics_are_exact_at_the_threshold_and_auc_within_its_bound(source) -> None:
    src, table = source
    result = slice_metrics_sql(
        src,
        [WEB, BIG],
        model="m",
        versions=["1"],
        threshold=0.2,
        metrics=("roc_auc", "precision", "recall", "accuracy", "brier"),
    )
    exact = slice_metrics(
        _selected(table, None),
        [WEB, BIG],
        metrics=("roc_auc", "precision", "recall", "accuracy", "brier"),
        threshold=0.2,
        n_boot=20,
    )
    assert result.events == exact.events and result.labeled == exact.labeled
    for got, want in [(result.overall, exact.overall)] + [
        (a.metrics, b.metrics) for a, b in zip(result.rows, exact.rows, strict=True)
    ]:
        for m in ("precision", "recall", "accuracy", "brier"):
            assert got[m].value == pytest.approx(want[m].value, rel=1e-9), m
        auc = got["roc_auc"]
        assert auc.method == "delong-binned"
        assert abs(auc.value - want["roc_auc"].value) < 0.002
        assert auc.lower <= want["roc_auc"].value <= auc.upper
    assert [r.support for r in result.rows] == [r.support for r in exact.rows]


def test_binned_auc_bound_holds_and_the_threshold_must_be_an_edge() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(20_000) < 0.2).astype(float)
    s = 1 / (1 + np.exp(-(rng.normal(size=y.size) + 1.2 * y)))
    exact = binary_metrics(y, s, metrics=("roc_auc",), n_boot=10).metrics["roc_auc"].value
    for bins in (5, 20, 200):
        a = binned_auc(score_bins(y, s, score_grid(0.0, 1.0, 0.5, bins)))
        assert abs(a.value - exact) <= a.error_bound + 1e-12, bins
    coarse = binned_auc(score_bins(y, s, score_grid(0.0, 1.0, 0.5, 5)))
    fine = binned_auc(score_bins(y, s, score_grid(0.0, 1.0, 0.5, 2000)))
    assert fine.error_bound < 0.01 < coarse.error_bound
    with pytest.raises(EvaluationError, match=r"anchored at 0\.5"):
        binned_metrics(score_bins(y, s, score_grid(0.0, 1.0, 0.5)), threshold=0.3)
    with pytest.raises(EvaluationError, match="pr_auc cannot be computed"):
        binned_metrics(
            score_bins(y, s, score_grid(0.0, 1.0, 0.5)), threshold=0.5, metrics=["pr_auc"]
        )


def test_a_file_source_is_not_sql(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_table(10), tmp_path / "t.parquet")
    with (
        open_source(str(tmp_path / "t.parquet")) as src,
        pytest.raises(EvaluationError, match="not a SQL source"),
    ):
        read_slice_sql(src, WEB)
