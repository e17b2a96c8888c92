"""Ranking drift by importance: a renamed category (PSI ≈ 10) on a feature the model hardly
uses does not outrank a real shift in its most important feature."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.importance import FeatureImportance, ImportanceResult
from watchkeeper.core.telemetry.windows import parse_window
from watchkeeper.core.workbench.model_checks import PSI_CAP, rank_drift


def _importance(shares: dict[str, float]) -> ImportanceResult:
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    feats = tuple(FeatureImportance(n, s, s, i + 1) for i, (n, s) in enumerate(ranked))
    return ImportanceResult("permutation", 1000, feats, "mean |Δscore|")


def test_a_renamed_category_does_not_outrank_an_important_shift() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    devices = np.array(["mobile", "desktop", "tablet"])
    ref = pa.table({
        "device": devices[rng.integers(0, 3, n)],
        "amount": rng.normal(0, 1, n),
        "stable": rng.normal(0, 1, n),
    })  # fmt: skip
    renamed = devices[rng.integers(0, 3, n)]
    cur = pa.table({
        "device": np.where(renamed == "mobile", "Mobile", renamed),  # a logging change
        "amount": rng.normal(0.6, 1, n),  # a real shift
        "stable": rng.normal(0, 1, n),
    })  # fmt: skip
    drift = analyze_drift(
        ref, cur, window=parse_window(None), features=["device", "amount", "stable"],
        categorical=["device"], numerical=["amount", "stable"], timestamp=None,
        prediction=None, multivariate=False, order_by=None,
    )  # fmt: skip
    importance = _importance({"device": 0.03, "amount": 0.5, "stable": 0.47})
    ranked = rank_drift(drift, importance)
    by = {d.name: d for d in ranked}
    assert by["device"].psi > 5 and 0.2 < by["amount"].psi < PSI_CAP  # as planted
    assert by["device"].decision == by["amount"].decision == "drift"
    # uncapped, 0.03 × PSI(device) would beat 0.5 × PSI(amount)
    assert 0.03 * by["device"].psi > 0.5 * by["amount"].psi
    assert [d.name for d in ranked] == ["amount", "device", "stable"]
    assert by["device"].impact == 0.03 * PSI_CAP
    # the stable feature, however important, ranks after everything that drifted
    assert by["stable"].decision == "ok"


def test_the_drift_views_list_ranks_as_check_does() -> None:
    """The ranked list of the Drift view, fed the importance, orders the features as
    ``check --why`` does (decision, then importance × capped PSI)."""
    from watchkeeper.widgets.drift_summary import summary_rows

    rng = np.random.default_rng(8)
    n = 20_000
    cats = np.array(["a", "b", "c"])
    ref = pa.table({
        "cat": cats[rng.integers(0, 3, n)],
        "big": rng.normal(0, 1, n),
        "small": rng.normal(0, 1, n),
        "stable": rng.normal(0, 1, n),
    })  # fmt: skip
    cur_cat = cats[rng.integers(0, 3, n)]
    cur = pa.table({
        "cat": np.where(cur_cat == "a", "A", cur_cat),  # renamed: PSI ≈ 10
        "big": rng.normal(0.5, 1, n),
        "small": rng.normal(0.9, 1, n),  # a larger shift on a feature used less
        "stable": rng.normal(0, 1, n),
    })  # fmt: skip
    drift = analyze_drift(
        ref, cur, window=parse_window(None), features=["cat", "big", "small", "stable"],
        categorical=["cat"], numerical=["big", "small", "stable"], timestamp=None,
        prediction=None, multivariate=False, order_by=None,
    )  # fmt: skip
    shares = {"cat": 0.05, "big": 0.6, "small": 0.1, "stable": 0.25}
    by_check = [d.name for d in rank_drift(drift, _importance(shares))]
    by_view = [r.name for r in summary_rows(drift, shares)]
    assert by_view == by_check == ["big", "small", "cat", "stable"]
    # without importance the view ranks by onset and magnitude: the important shift is not first
    assert summary_rows(drift)[0].name != "big"
