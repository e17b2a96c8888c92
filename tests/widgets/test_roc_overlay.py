"""ROC curves of champion and challenger, overlaid, from the demo's shadow pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from watchkeeper.core.workbench.challenger import roc_points
from watchkeeper.widgets.roc_overlay import RocOverlayWidget


def shadow_pairs(workspace: Path) -> Any:
    """fraud-detector's champion (v1) and challenger (v2) scores on the same requests."""
    from watchkeeper.core.evaluation.compare import join_shadow
    from watchkeeper.core.evaluation.data import open_spec_source, read_events
    from watchkeeper.core.spec import load_spec

    spec = load_spec(workspace / "specs" / "fraud-detector.toml")
    with open_spec_source(spec) as src:
        table = read_events(
            src,
            model="fraud-detector",
            versions=["1", "2"],
            start=None,
            end=None,
            columns=["request_id", "model_version", "score", "label"],
        )
    return join_shadow(table, "1", "2")


@pytest.fixture(scope="module")
def pairs(demo_workspace: Path) -> Any:
    return shadow_pairs(demo_workspace)


def _arrays(pairs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from watchkeeper.core.evaluation.metrics import float_array

    return (
        float_array(pairs.column("label")),
        float_array(pairs.column("score_a")),
        float_array(pairs.column("score_b")),
    )


def test_roc_points_run_from_corner_to_corner_and_integrate_to_the_auc(pairs) -> None:
    from watchkeeper.core.evaluation.metrics import Prepared

    y, a, _ = _arrays(pairs)
    fpr, tpr = roc_points(y, a, max_points=100_000)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    labeled = ~np.isnan(y)
    auc = Prepared(y[labeled], a[labeled]).roc_auc()
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-9)
    thin_fpr, thin_tpr = roc_points(y, a, max_points=200)
    assert thin_fpr.size <= 200
    assert (thin_fpr[-1], thin_tpr[-1]) == (1.0, 1.0)


def test_both_curves_and_the_diagonal_are_drawn(qtbot, pairs) -> None:
    y, a, b = _arrays(pairs)
    widget = RocOverlayWidget()
    qtbot.addWidget(widget)
    curves = (widget.champion_curve, widget.challenger_curve)
    widget.set_curves(
        roc_points(y, a), roc_points(y, b), champion_label="v1", challenger_label="v2"
    )
    assert (widget.champion_curve, widget.challenger_curve) == curves  # updated in place
    for curve, scores in ((widget.champion_curve, a), (widget.challenger_curve, b)):
        x, t = curve.getData()
        assert (x[0], t[0]) == (0.0, 0.0) and (x[-1], t[-1]) == (1.0, 1.0)
        np.testing.assert_allclose(x, roc_points(y, scores)[0])
    dx, dy = widget.diagonal.getData()
    np.testing.assert_allclose(dx, [0, 1]) and np.testing.assert_allclose(dy, [0, 1])
    assert widget.legend.getLabel(widget.challenger_curve).text == "v2"
    widget.set_curves(None, None)
    assert (
        widget.champion_curve.getData()[0] is None or len(widget.champion_curve.getData()[0]) == 0
    )


def test_hover_names_the_nearest_point_and_export(qtbot, pairs, check_export) -> None:
    y, a, b = _arrays(pairs)
    widget = RocOverlayWidget()
    widget.set_curves(
        roc_points(y, a), roc_points(y, b), champion_label="v1", challenger_label="v2"
    )
    fx, ty = widget.champion_curve.getData()
    k = len(fx) // 3
    tip = widget.describe_at(float(fx[k]), float(ty[k]), reach=(0.01, 0.01))
    assert tip.startswith("v1\n")
    assert f"false-positive rate {fx[k]:.4f}\ntrue-positive rate {ty[k]:.4f}" in tip
    assert widget.describe_at(0.9, 0.05, reach=(0.02, 0.02)) == ""  # far below both curves
    assert widget.describe_at(0.0, 0.0).count("false-positive rate 0.0000") == 2
    check_export(widget, texts=("false-positive rate", "true-positive rate", "v2"))
