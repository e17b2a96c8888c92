"""The metric-drop decomposition against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.evaluation.explain import CellChange, decompose_change, ratio_cells


def test_one_cell_losing_precision_carries_the_drop() -> None:
    # web: 100 flagged, precision 0.5 -> 0.2; app: 100 flagged, 0.5 both periods.
    cells = [CellChange("web", 100, 50, 100, 20), CellChange("app", 100, 50, 100, 50)]
    change, parts = decompose_change(cells)
    assert change == pytest.approx(0.35 - 0.5)
    by = {c.name: c for c in parts}
    assert by["web"].total == pytest.approx(-0.15) and by["web"].performance == pytest.approx(-0.15)
    assert by["app"].total == pytest.approx(0.0)
    assert parts[0].name == "web"


def test_a_mix_shift_alone_is_a_mix_effect() -> None:
    # Same precision per cell, but traffic moves to the worse cell.
    cells = [CellChange("good", 80, 64, 20, 16), CellChange("bad", 20, 4, 80, 16)]
    change, parts = decompose_change(cells)
    assert change == pytest.approx(0.32 - 0.68)
    assert all(c.performance == pytest.approx(0.0) for c in parts)
    assert sum(c.total for c in parts) == pytest.approx(change)
    by = {c.name: c for c in parts}
    # both hurt: the worse cell grew and the better one shrank (mix centred on the average)
    assert by["bad"].total == pytest.approx(0.6 * (0.2 - 0.5))
    assert by["good"].total == pytest.approx(-0.6 * (0.8 - 0.5))


def test_contributions_sum_to_the_change_and_match_the_metric_from_rows() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    cell = rng.choice(["a", "b", "c", "d"], n)
    after = rng.random(n) < 0.5
    y = rng.random(n) < np.where((cell == "b") & after, 0.1, 0.4)
    p = rng.random(n) < 0.3

    def value(metric: str, rows: np.ndarray) -> float:
        if metric == "precision":
            return float((y & p)[rows].sum() / p[rows].sum())
        if metric == "recall":
            return float((y & p)[rows].sum() / y[rows].sum())
        return float((y == p)[rows].mean())

    for metric in ("precision", "recall", "accuracy"):
        change, parts = decompose_change(ratio_cells(metric, cell, y, p, after))
        assert change == pytest.approx(value(metric, after) - value(metric, ~after), abs=1e-12)
        assert sum(c.total for c in parts) == pytest.approx(change, abs=1e-12)
    change, parts = decompose_change(ratio_cells("precision", cell, y, p, after))
    assert parts[0].name == "b"  # the planted change


def test_a_cell_empty_before_contributes_through_the_mix() -> None:
    cells = [CellChange("old", 100, 50, 50, 25), CellChange("new", 0, 0, 50, 10)]
    change, parts = decompose_change(cells)
    assert sum(c.total for c in parts) == pytest.approx(change)
    assert {c.name: c.metric_before for c in parts}["new"] is None


def test_expected_counts_decompose_the_cbpe_estimate() -> None:
    """Given calibrated probabilities instead of labels, the cells sum to CBPE's estimate
    (checked against the estimator itself), and the slice whose scores moved to low
    calibrated precision carries the estimated drop."""
    from watchkeeper.core.evaluation.estimation import estimate_metrics, fit_calibrator

    rng = np.random.default_rng(11)
    n = 40_000
    ref_s = rng.random(n)
    ref_y = rng.random(n) < ref_s  # calibrated reference: P(y=1 | s) = s
    calibrator = fit_calibrator(ref_y, ref_s, n_boot=2)
    ref_cell = np.where(rng.random(n) < 0.5, "web", "app")
    # after: the "web" slice's scores crowd just above the threshold
    cell = np.where(rng.random(n) < 0.5, "web", "app")
    s = np.where(cell == "web", 0.5 + 0.1 * rng.random(n), rng.random(n))
    p = calibrator(s)
    threshold = 0.5
    for metric in ("precision", "recall", "accuracy"):
        labels = np.concatenate([ref_y.astype(float), p])
        predicted = np.concatenate([ref_s, s]) >= threshold
        period = np.r_[np.zeros(n, bool), np.ones(n, bool)]
        cells = np.concatenate([ref_cell, cell])
        change, parts = decompose_change(ratio_cells(metric, cells, labels, predicted, period))
        before = float(
            {"precision": (ref_y & (ref_s >= threshold)).sum() / (ref_s >= threshold).sum(),
             "recall": (ref_y & (ref_s >= threshold)).sum() / ref_y.sum(),
             "accuracy": (ref_y == (ref_s >= threshold)).mean()}[metric]
        )  # fmt: skip
        estimate = estimate_metrics(s, calibrator, threshold=threshold, metrics=[metric])
        assert before + change == pytest.approx(estimate[metric].value, abs=1e-9)
        assert sum(c.total for c in parts) == pytest.approx(change, abs=1e-12)
    change, parts = decompose_change(
        ratio_cells("precision", cells, labels, np.concatenate([ref_s, s]) >= threshold, period)
    )
    assert change < -0.1 and parts[0].name == "web"
