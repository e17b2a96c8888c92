"""Hostile inputs end in a sensible result or a clear DriftError, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.telemetry.windows import WindowError, parse_window


def _ts(n: int, start: str = "2026-01-01", freq: str = "min") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq=freq, tz="UTC")


def _frames(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    cur = pd.DataFrame({"ts": _ts(n), "x": rng.normal(size=n), "c": rng.choice(["a", "b"], n)})
    return ref, cur


def _json_ok(result) -> dict:
    text = result.to_json()
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


def test_all_nan_column() -> None:
    ref, cur = _frames()
    ref["x"] = np.nan
    cur["x"] = np.nan
    r = analyze_drift(ref, cur, window=parse_window("1d"))
    _json_ok(r)
    assert {w.decision for w in r.feature("x").windows} <= {"ok", "insufficient"}
    # values appearing where the reference had none: the missing bin shifts → drift
    cur2 = cur.assign(x=np.random.default_rng(1).normal(size=len(cur)))
    r2 = analyze_drift(ref, cur2, window=parse_window(None))
    assert r2.feature("x").windows[0].decision == "drift"
    assert r2.feature("x").windows[0].missing_rate_change == pytest.approx(-1.0)


def test_constant_column() -> None:
    ref, cur = _frames()
    ref["x"] = 3.0
    cur["x"] = 3.0
    r = analyze_drift(ref, cur, window=parse_window("1d"))
    w = r.feature("x").windows[0]
    assert w.decision == "ok" and w.psi == pytest.approx(0.0) and w.ks == 0.0
    assert w.wasserstein == 0.0 and w.wasserstein_normalized is None  # spread 0
    _json_ok(r)
    r2 = analyze_drift(ref, cur.assign(x=4.0), window=parse_window(None))
    assert r2.feature("x").windows[0].decision == "drift"


def test_single_row_current_and_reference() -> None:
    ref, cur = _frames()
    r = analyze_drift(ref, cur.head(1), window=parse_window(None))
    assert r.windows[0].rows == 1
    assert all(w.decision == "insufficient" for f in r.features for w in f.windows)
    _json_ok(r)
    r = analyze_drift(ref.head(1), cur, window=parse_window(None))
    assert all(w.decision == "insufficient" for f in r.features for w in f.windows)
    _json_ok(r)


def test_empty_windows_and_empty_current() -> None:
    ref, cur = _frames()
    gap = cur[(cur.ts < "2026-01-02") | (cur.ts >= "2026-01-03")]
    gap = pd.concat([gap.iloc[:100], gap.iloc[-100:].assign(ts=_ts(100, "2026-01-03"))])
    r = analyze_drift(ref, gap, window=parse_window("1d"))
    assert [w.rows for w in r.windows] == [100, 0, 100]
    mid = r.feature("x").windows[1]
    assert mid.decision == "insufficient" and mid.psi is None and mid.p_value is None
    doc = _json_ok(r)
    assert doc["features"][0]["windows"][1]["psi"] is None
    empty = cur.iloc[:0]
    r = analyze_drift(ref, empty, window=parse_window(None))
    assert r.windows[0].rows == 0
    _json_ok(r)
    with pytest.raises(WindowError, match="timestamp"):
        analyze_drift(ref, empty, window=parse_window("1d"))
    r = analyze_drift(ref, empty, window=parse_window("1d"), start="2026-01-01", end="2026-01-03")
    assert [w.rows for w in r.windows] == [0, 0]


def test_infinities_are_values_in_the_outer_bins() -> None:
    ref, cur = _frames()
    ref.loc[:10, "x"] = np.inf
    cur.loc[:2000, "x"] = -np.inf
    r = analyze_drift(ref, cur, window=parse_window(None))
    w = r.feature("x").windows[0]
    assert w.decision == "drift" and np.isfinite(w.ks) and np.isfinite(w.wasserstein)
    assert w.missing_rate == 0.0
    _json_ok(r)


def test_hundred_thousand_categories() -> None:
    n = 100_000
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"m": [f"m{i}" for i in rng.integers(0, n, n)]})
    cur = pd.DataFrame({"m": [f"m{i}" for i in rng.integers(0, n, n)]})
    r = analyze_drift(ref, cur, multivariate=False, window=parse_window(None))
    f = r.feature("m")
    assert f.high_cardinality and f.cardinality > 50_000
    assert f.windows[0].unseen_rate is None  # vocabulary too large to tell unseen apart
    assert f.windows[0].decision in ("ok", "watch")
    _json_ok(r)


def test_categories_only_in_current() -> None:
    ref, cur = _frames()
    cur["c"] = np.where(np.arange(len(cur)) % 2 == 0, "zz", "yy")
    r = analyze_drift(ref, cur, window=parse_window(None))
    w = r.feature("c").windows[0]
    assert w.unseen_rate == 1.0 and w.decision == "drift" and np.isfinite(w.psi)


def test_reference_with_fewer_rows_than_bins() -> None:
    ref, cur = _frames()
    r = analyze_drift(ref.head(3), cur, settings=None, window=parse_window(None))
    f = r.feature("x")
    assert len(f.labels) == 2 * 3 + 2  # one bin per value and per gap, plus missing
    assert all(w.decision == "insufficient" for w in f.windows)
    _json_ok(r)


def test_bad_input_is_a_watchkeeper_error() -> None:
    ref, cur = _frames()
    with pytest.raises(WatchkeeperError, match="no column 'nope'"):
        analyze_drift(ref, cur, features=["nope"], window=parse_window(None))
    with pytest.raises(WatchkeeperError, match="current: no column 'x'"):
        analyze_drift(ref, cur.drop(columns=["x"]), window=parse_window(None))
    with pytest.raises(WatchkeeperError, match="window"):
        analyze_drift(ref, cur, window=parse_window("fortnight"))
    with pytest.raises(WatchkeeperError, match="timestamp column 'when'"):
        analyze_drift(ref, cur, timestamp="when", window=parse_window("1d"))
    with pytest.raises(WatchkeeperError, match="not numerical"):
        analyze_drift(ref, cur, numerical=["c"], window=parse_window(None))
    with pytest.raises(WatchkeeperError, match="empty"):
        analyze_drift(ref, cur, start="2026-01-02", end="2026-01-01", window=parse_window(None))
    with pytest.raises(WatchkeeperError):
        analyze_drift("not a table", cur, window=parse_window(None))
    with pytest.raises(WatchkeeperError, match="no feature"):
        analyze_drift(pd.DataFrame({"ts": _ts(3)}), cur, window=parse_window(None))
    with pytest.raises(WatchkeeperError, match=r"mixed|cannot"):
        analyze_drift({"x": [1, "a", None]}, cur, window=parse_window(None))
