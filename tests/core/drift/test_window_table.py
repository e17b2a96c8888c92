"""A feature's windows held as columns (:class:`WindowTable`): the same windows, values and
JSON as window objects, and no object per window in a result."""

from __future__ import annotations

import dataclasses
import gc
import math
import pickle

import numpy as np
import pandas as pd
import pytest

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.result import FLOAT_FIELDS, FeatureWindow, WindowTable
from watchkeeper.core.telemetry.windows import parse_window


def _frames(features: int, days: int, per_day: int, seed: int = 3) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)

    def block(n: int, shift: float) -> dict:
        cols = {f"x{i:03d}": rng.normal(shift if i == 0 else 0.0, 1.0, n) for i in range(features)}
        cols["x001"][rng.random(n) < 0.2] = np.nan  # missing values: a missing-rate change
        cols["x002"][: n // 50] = np.inf  # hostile values in the data
        cols["cat"] = rng.choice(["a", "b", "c"] if shift == 0 else ["a", "b", "zz"], n)
        return cols

    ref = pd.DataFrame(block(4_000, 0.0))
    parts = []
    for d in range(days):
        frame = pd.DataFrame(block(per_day, 1.0 if d >= days // 2 else 0.0))
        frame["ts"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=d, hours=1)
        parts.append(frame)
    return ref, pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def result():
    ref, cur = _frames(6, 12, 600)
    return analyze_drift(ref, cur, window=parse_window("1d"), prediction=None, order_by=None)


def test_windows_read_as_the_objects_they_replace(result) -> None:
    for f in result.features:
        objects = list(f.windows)
        assert len(objects) == len(f.windows) == len(result.windows)
        assert all(isinstance(w, FeatureWindow) for w in objects)
        # objects → table → objects is the identity, and both compare equal
        again = WindowTable.of(objects)
        assert list(again) == objects and again == f.windows
        assert f.windows[-1] == objects[-1] and f.windows[1:3] == tuple(objects[1:3])
        with pytest.raises(IndexError):
            f.windows[len(objects)]
        for name in FLOAT_FIELDS:
            column = f.windows.column(name)
            for w, v in zip(objects, column.tolist(), strict=True):
                got = getattr(w, name)
                assert (got is None) == (not math.isfinite(v))
                assert got is None or got == v
        for w in objects:
            assert (w.dof is None) == (w.chi2 is None)
    # the data really has the cases: missing chi-square, exact values, a drifting window
    x0 = result.feature("x000")
    assert "drift" in x0.decisions() and x0.windows[-1].ks is not None
    assert x0.windows[-1].exact_rows is not None and x0.windows[-1].exact in ("all", "sample")


def test_json_windows_are_the_objects_fields(result) -> None:
    for f in result.features:
        for w, doc in zip(f.windows, f.windows.dicts(), strict=True):
            expected = dataclasses.asdict(w)
            expected["exact_rows"] = list(w.exact_rows) if w.exact_rows else None
            assert doc == expected
    doc = result.to_dict()
    assert doc["features"][0]["windows"] == result.features[0].windows.dicts()
    assert result.to_json()  # no NaN anywhere (allow_nan=False)


def test_taking_windows_keeps_their_indices_and_series(result) -> None:
    f = result.feature("x000")
    cut = f.only_windows([1, 4, 7])
    assert [w.index for w in cut.windows] == [1, 4, 7]
    assert cut.windows[0] == f.windows[1] and cut.windows[2] == f.windows[7]
    assert cut.decisions() == tuple(f.decisions()[i] for i in (1, 4, 7))
    np.testing.assert_array_equal(cut.judged_psi(), f.judged_psi()[[1, 4, 7]])
    assert len(cut.counts) == 3


def test_a_table_pickles(result) -> None:
    f = result.feature("cat")
    back = pickle.loads(pickle.dumps(f))
    assert back.windows == f.windows and back.decisions() == f.decisions()


def test_a_wide_long_result_holds_no_object_per_window() -> None:
    # 60 features × 200 windows: 12,000 windows, which were 12,000+ objects
    ref, cur = _frames(60, 200, 20)
    gc.collect()
    before = len(gc.get_objects())
    result = analyze_drift(
        ref,
        cur,
        window=parse_window("1d"),
        prediction=None,
        order_by=None,
        exact=False,
        multivariate=False,
    )
    gc.collect()
    held = len(gc.get_objects()) - before
    assert len(result.features) == 61 and len(result.windows) == 200
    assert held < 61 * 30, held
