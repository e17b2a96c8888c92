"""Performance per window, estimated performance (CBPE) and the health rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.evaluation.data import open_spec_source, read_events, ts_micros
from watchkeeper.core.evaluation.estimation import (
    estimate_metrics,
    estimated_over_time,
    fit_calibrator,
)
from watchkeeper.core.evaluation.health import assess_health, performance_moved, worst_decision
from watchkeeper.core.evaluation.intervals import Estimate
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.performance import performance_over_time
from watchkeeper.core.spec import load_spec

DAY_US = 86_400_000_000
START_US = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000


def test_windows_follow_the_drift_engine_and_late_labels_are_coverage() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    ts = START_US + rng.uniform(0, 3 * DAY_US, n)
    y = (rng.random(n) < 0.3).astype(float)
    s = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    label_ts = ts + DAY_US * (1 + rng.random(n))  # labels 1-2 days late
    as_of = dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    perf = performance_over_time(
        ts, y, s, window="1d", label_ts_us=label_ts, as_of=as_of, min_labeled=50, n_boot=20
    )
    assert [w.start.day for w in perf.windows] == [1, 2, 3]
    assert sum(w.events for w in perf.windows) == n
    shares = [w.coverage.share for w in perf.windows]
    assert shares[0] > 0.4 and shares[2] == 0.0  # day 3: nothing arrived yet
    assert perf.windows[2].status == "insufficient" and perf.windows[2].metrics == {}
    assert 24 <= perf.windows[0].coverage.lag_hours["p50"] <= 48
    one = performance_over_time(ts, y, s, min_labeled=50, n_boot=20)
    assert len(one.windows) == 1 and one.windows[0].coverage.labeled == n
    assert perf.series("roc_auc").shape == (3, 3)
    rows = performance_over_time(ts, y, s, window="1000rows", n_boot=20)
    assert [w.events for w in rows.windows] == [1000, 1000, 1000]


def test_cbpe_is_unbiased_for_calibrated_scores_and_its_interval_covers() -> None:
    """With a known calibrated model the realized value falls in the interval ~95 % of runs."""
    rng = np.random.default_rng(5)
    s_ref = rng.beta(1, 6, 20_000)
    cal = fit_calibrator((rng.random(s_ref.size) < s_ref).astype(float), s_ref, n_boot=20)
    hits, runs = {"roc_auc": 0, "precision": 0, "brier": 0}, 100
    for r in range(runs):
        s = rng.beta(1.3, 6, 2000)  # covariate shift: scores move, the concept does not
        y = (rng.random(s.size) < s).astype(float)
        est = estimate_metrics(s, cal, threshold=0.3, metrics=tuple(hits), n_sim=100, seed=r)
        from watchkeeper.core.evaluation.metrics import Prepared, evaluate

        real = Prepared(y, s, 0.3)
        for m in hits:
            hits[m] += est[m].contains(evaluate(m, real))
    # 100 runs: a 95 % interval covers 88-100 times unless something is wrong (binomial)
    assert all(h >= 88 for h in hits.values()), hits


def test_health_rule() -> None:
    drift = ["ok", "drift", "drift", "drift", "watch", "insufficient", "drift"]
    moved = [False, False, True, True, True, None, None]
    h = assess_health(drift, moved, persistence=2)
    assert h.states == ("ok", "watch", "watch", "alert", "watch", "insufficient", "watch")
    assert assess_health(drift, moved).states[2] == "alert"
    assert worst_decision(["ok", "watch", "insufficient"]) == "watch"
    with pytest.raises(EvaluationError, match="2 drift decisions but 1"):
        assess_health(["ok", "ok"], [True])
    values = [Estimate(0.80, 0.78, 0.82), Estimate(0.70, 0.56, 0.84), None]
    assert performance_moved(values, 0.85, 0.02, "roc_auc") == (True, True, None)
    assert performance_moved(values, 0.85, 0.02, "roc_auc", use_interval=True) == (
        True,
        False,
        None,
    )
    assert performance_moved([0.03], 0.02, 0.005, "brier") == (True,)


def test_estimated_and_realized_agree_before_the_concept_change(fraud_spec_path: Path) -> None:
    spec = load_spec(fraud_spec_path)
    day = lambda d: dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=d)  # noqa: E731
    with open_spec_source(spec) as src:
        ref = read_events(
            src,
            model=spec.model.name,
            versions=["1"],
            start=day(0),
            end=day(30),
            columns=["score", "label"],
        )
        cur = read_events(
            src,
            model=spec.model.name,
            versions=["1"],
            start=day(31),
            end=day(115),
            columns=["ts", "score", "label", "label_ts"],
        )
    metrics = ("roc_auc", "precision", "brier")
    cal = fit_calibrator(ref.column("label"), ref.column("score"))
    ts = ts_micros(cur.column("ts"))
    common = {"window": "7d", "start": day(31), "end": day(115), "threshold": 0.2}
    real = performance_over_time(
        ts, cur.column("label"), cur.column("score"), metrics=metrics, n_boot=100, **common
    )
    est = estimated_over_time(ts, cur.column("score"), cal, metrics=metrics, n_sim=150, **common)
    inside = overlap = cells = 0
    after_outside = 0
    for r, e in zip(real.windows, est, strict=True):
        if r.status != "ok" or r.coverage.share < 0.9:
            continue
        for m in metrics:
            rv, ev = r.metrics[m], e.metrics[m]
            if r.end <= day(80):
                cells += 1
                inside += ev.contains(rv.value)
                overlap += rv.lower <= ev.upper and ev.lower <= rv.upper
            elif r.start >= day(80) and m == "roc_auc":
                after_outside += not ev.contains(rv.value)
    assert cells >= 18
    assert overlap == cells  # every realized interval meets its estimate's interval
    assert inside / cells >= 0.85, (inside, cells)  # 95 % prediction intervals
    # after day 80 the concept changed on web: the estimate, blind to it, stops holding
    assert after_outside >= 2
    # estimating only some windows gives exactly their full-run estimates, nothing elsewhere
    picked = [1, 4, len(est) - 1]
    some = estimated_over_time(
        ts, cur.column("score"), cal, metrics=metrics, n_sim=150, only=picked, **common
    )
    assert [w.index for w in some] == [w.index for w in est]
    for full, part in zip(est, some, strict=True):
        if full.index in picked:
            assert dict(part.metrics) == dict(full.metrics) and part.metrics
        else:
            assert dict(part.metrics) == {} and part.events == full.events


def test_a_calibrator_located_once_reads_the_same_bits_as_np_interp() -> None:
    """``Calibrator.at`` (the grid searched once for many replicates) against ``np.interp``:
    scores below, at and above the grid, on its knots, between them, NaN."""
    from watchkeeper.core.evaluation.estimation import fit_calibrator
    from watchkeeper.core.evaluation.multiclass_estimation import MulticlassCalibrator

    rng = np.random.default_rng(3)
    s = rng.random(5_000)
    y = (rng.random(5_000) < s).astype(np.float64)
    calibrator = fit_calibrator(y, s, knots=200, n_boot=7)
    scores = np.r_[rng.random(3_000) * 1.4 - 0.2, calibrator.x, calibrator.x[-1], np.nan]
    located = calibrator.at(scores)
    for replicate in (None, 0, 3, 6, 11):  # 11 wraps round the 7 replicates
        np.testing.assert_array_equal(located(replicate), calibrator(scores, replicate))
    one = fit_calibrator(y, s, knots=1, n_boot=2)  # two knots: one segment
    np.testing.assert_array_equal(one.at(scores)(1), one(scores, 1))
    pair = MulticlassCalibrator(("a", "b"), (calibrator, one))
    p = np.column_stack([scores, 1 - scores])[:-1]
    np.testing.assert_array_equal(pair.at(p)(4), pair(p, 4))
