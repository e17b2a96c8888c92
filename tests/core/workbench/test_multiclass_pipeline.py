"""A multiclass model through the one pipeline: performance per window, drift, health.

The world is ``tests/multiclass_world.py``: a class-prior shift from day 42 and a concept
change in class ``medium`` from day 56.
"""

from __future__ import annotations

import numpy as np
import pytest
from multiclass_world import CONCEPT_DAY, PRIOR_SHIFT_DAY, START, events, write_workspace
from sklearn import metrics as sk

from watchkeeper.core.workbench.analyses import run_performance
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec


@pytest.fixture(scope="module")
def entry(tmp_path_factory: pytest.TempPathFactory) -> ModelEntry:
    spec = write_workspace(tmp_path_factory.mktemp("multiclass"))
    return portfolio_of_spec(spec).models[0]


def test_performance_per_window_is_the_multiclass_metric(entry: ModelEntry) -> None:
    view = run_performance(entry, "1", None)
    assert view.metric == "macro_f1"
    windows = view.realized.windows
    assert len(windows) == 11  # 70 days in Monday-aligned weeks
    # a window's value is scikit-learn's macro-F1 on its labeled events
    table = events().to_pandas()
    w1 = windows[1]
    rows = table[(table.ts >= w1.start) & (table.ts < w1.end) & table.true_tier.notna()]
    expected = sk.f1_score(rows.true_tier, rows.predicted_tier, average="macro")
    assert w1.value("macro_f1") == pytest.approx(expected)
    assert windows[0].confusion is not None
    assert windows[0].confusion.classes == ("low", "medium", "high")
    assert set(windows[0].per_class) == {"low", "medium", "high"}
    base = view.baseline.value
    days = [((w.start - START).days, (w.end - START).days) for w in windows]
    values = [w.value("macro_f1") for w in windows]
    before = [v for v, (_, end) in zip(values, days, strict=True) if end <= PRIOR_SHIFT_DAY]
    after = [v for v, (start, _) in zip(values, days, strict=True) if start >= CONCEPT_DAY and v]
    assert all(v is not None and abs(v - base) < 0.06 for v in before), (base, before)
    assert after and all(v is not None and v < base - 0.1 for v in after), (base, after)
    series = view.realized.series("macro_f1")
    assert np.isfinite(series[np.isfinite(series[:, 0]), 1:]).all()  # every value has a band


def test_unlabeled_windows_are_estimated_and_health_sees_the_concept_change(
    entry: ModelEntry,
) -> None:
    from watchkeeper.core.workbench.health import judge_model

    view = run_performance(entry, "1", None)
    last = view.realized.windows[-1]
    assert last.coverage.share is not None and last.coverage.share < 0.95
    estimate = view.estimated[-1].metrics["macro_f1"]
    assert estimate.method == "cbpe" and estimate.lower is not None
    health, drift, _ = judge_model(entry, "1")
    # the newest window is estimated, which cannot show a concept change: watch, naming the
    # realized drop of the concept-change windows
    assert health.verdict in ("watch", "alert"), health.reasons
    said = " ".join(health.reasons)
    assert "macro_f1" in said and "realized" in said, health.reasons
    assert health.metric == "macro_f1"
    drifted = {f.name for f in drift.features if any(w.decision == "drift" for w in f.windows)}
    assert {"x2", "p_low", "p_high", "prediction"} <= drifted  # inputs and prediction drift
    assert "channel" not in drifted
