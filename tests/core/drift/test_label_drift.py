"""Label drift: the true class's distribution, on labelled rows only, honest with late labels."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import chi2_contingency

from watchkeeper.core.drift.label import LABEL_KIND, known_labels, label_drift, with_label_drift
from watchkeeper.core.telemetry.windows import parse_window

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CLASSES = np.array(["low", "medium", "high"])


def _table(rng: np.random.Generator, days: int, per_day: int, priors, delay_days=1.0):
    n = days * per_day
    ts = [START + dt.timedelta(days=int(i // per_day), seconds=int(i % per_day)) for i in range(n)]
    codes = np.searchsorted(np.cumsum(priors), rng.random(n), side="right").clip(0, 2)
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "label": CLASSES[codes].tolist(),
            "label_ts": pa.array(
                [t + dt.timedelta(days=delay_days) for t in ts], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def test_the_label_window_statistic_is_scipys_chi_square_on_the_class_counts() -> None:
    rng = np.random.default_rng(5)
    reference = known_labels(_table(rng, 7, 600, [0.5, 0.3, 0.2]))
    current = known_labels(_table(rng, 7, 600, [0.35, 0.3, 0.35]))
    result = label_drift(reference, current, window=parse_window(None))  # one window
    (label,) = result.features
    (window,) = label.windows
    ref_counts = [reference.column("label").to_pylist().count(c) for c in CLASSES]
    cur_counts = [current.column("label").to_pylist().count(c) for c in CLASSES]
    want = chi2_contingency(np.array([ref_counts, cur_counts]), correction=False)
    assert window.chi2 == pytest.approx(want.statistic, rel=1e-9)
    assert window.dof == want.dof == 2
    assert window.p_value == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300)
    assert window.decision == "drift" and window.rows == sum(cur_counts)


def test_no_drift_raises_no_alarm() -> None:
    rng = np.random.default_rng(11)
    priors = [0.5, 0.3, 0.2]
    reference = known_labels(_table(rng, 31, 300, priors))
    current = known_labels(_table(rng, 84, 300, priors))
    (label,) = label_drift(reference, current, window=parse_window("7d")).features
    decisions = [w.decision for w in label.windows]
    assert len(decisions) >= 12 and "drift" not in decisions
    assert decisions.count("watch") <= 1, decisions


def test_late_labels_are_left_out_and_their_windows_say_so() -> None:
    rng = np.random.default_rng(3)
    reference = known_labels(_table(rng, 31, 300, [0.5, 0.3, 0.2]))
    # labels arrive 10 days late: as of day 28, the last 10 days have none
    raw = _table(rng, 28, 300, [0.5, 0.3, 0.2], delay_days=10.0)
    as_of = START + dt.timedelta(days=28)
    current = known_labels(raw, as_of)
    assert current.num_rows == 18 * 300
    result = label_drift(reference, current, window=parse_window("7d"), end=as_of)
    (label,) = result.features
    by_rows = {w.index: (w.rows, w.decision) for w in label.windows}
    assert all(d == "insufficient" for rows, d in by_rows.values() if rows < 500)
    assert any(d == "ok" for rows, d in by_rows.values() if rows >= 500)
    # joined to a feature drift with more windows: those get an insufficient, empty cell
    everything = label_drift(reference, known_labels(raw), window=parse_window("7d"))
    joined = with_label_drift(everything, result)
    entry = joined.features[-1]
    assert entry.kind == LABEL_KIND and len(entry.windows) == len(everything.windows)
    assert [w.rows for w in entry.windows][-1] == 0
    assert entry.windows[-1].decision == "insufficient"
    # cut without an end, the labels have fewer windows than the drift they join: what the
    # views draw (the series) has the joined windows' length, not the label's own
    short = label_drift(reference, current, window=parse_window("7d"))
    assert len(short.windows) < len(everything.windows)
    entry = with_label_drift(everything, short).features[-1]
    assert len(entry.judged_psi()) == len(entry.decisions()) == len(everything.windows)
    assert entry.decisions()[-1] == "insufficient" and np.isnan(entry.judged_psi()[-1])
