"""Champion vs challenger scores: a density image for many pairs, points for few."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.evaluation.metrics import float_array
from watchkeeper.core.workbench.challenger import score_density
from watchkeeper.widgets.score_scatter import ScoreScatterWidget


@pytest.fixture(scope="module")
def scores(demo_workspace: Path) -> tuple[np.ndarray, np.ndarray]:
    """fraud-detector's champion (v1) and challenger (v2) scores on the same requests."""
    from watchkeeper.core.evaluation.compare import join_shadow
    from watchkeeper.core.evaluation.data import open_spec_source, read_events
    from watchkeeper.core.spec import load_spec

    spec = load_spec(demo_workspace / "specs" / "fraud-detector.toml")
    with open_spec_source(spec) as src:
        table = read_events(
            src,
            model="fraud-detector",
            versions=["1", "2"],
            start=None,
            end=None,
            columns=["request_id", "model_version", "score", "label"],
        )
    pairs = join_shadow(table, "1", "2")
    return float_array(pairs.column("score_a")), float_array(pairs.column("score_b"))


def test_many_pairs_are_one_density_image(qtbot, scores) -> None:
    a, b = scores
    assert a.size > 50_000  # 30 days of shadow traffic
    counts, extent = score_density(a, b, bins=80)
    assert counts.shape == (80, 80) and counts.sum() == a.size
    widget = ScoreScatterWidget()
    qtbot.addWidget(widget)
    widget.set_data(a, b, density=counts, extent=extent, threshold=0.2)
    assert widget.mode == "density"
    image = widget.image_item.image
    assert image.shape == (80, 80) and image.dtype == np.float32
    # rows are challenger bins (y), columns champion bins (x): the transposed counts, logged
    np.testing.assert_allclose(image, np.log1p(counts.T), rtol=1e-6)
    rect = widget.image_item.mapRectToParent(widget.image_item.boundingRect())
    assert (rect.left(), rect.right()) == pytest.approx((extent[0], extent[1]))
    assert len(widget.points.data) == 0
    assert widget.threshold_x.value() == widget.threshold_y.value() == 0.2


def test_few_pairs_are_points_on_the_same_items(qtbot, scores) -> None:
    a, b = scores[0][:300], scores[1][:300]
    widget = ScoreScatterWidget()
    qtbot.addWidget(widget)
    image, points = widget.image_item, widget.points
    widget.set_data(a, b, threshold=None)
    assert widget.mode == "points" and not widget.image_item.isVisible()
    assert (widget.image_item, widget.points) == (image, points)
    x, y = widget.points.getData()
    np.testing.assert_allclose(x, a) and np.testing.assert_allclose(y, b)
    assert not widget.threshold_x.isVisible()
    widget.set_data(None, None)
    assert widget.mode == "empty" and len(widget.points.data) == 0


def test_hover_reads_the_density_cell_and_the_nearest_point(qtbot, scores, check_export) -> None:
    a, b = scores
    counts, extent = score_density(a, b, bins=80)
    widget = ScoreScatterWidget()
    widget.set_data(a, b, density=counts, extent=extent, threshold=0.2)
    x0, x1, y0, y1 = extent
    i, j = np.unravel_index(int(np.argmax(counts)), counts.shape)
    wx, wy = (x1 - x0) / 80, (y1 - y0) / 80
    tip = widget.describe_at(x0 + (i + 0.5) * wx, y0 + (j + 0.5) * wy)
    assert f"{int(counts[i, j]):,} requests" in tip
    assert f"champion score {x0 + i * wx:.4f} – {x0 + (i + 1) * wx:.4f}" in tip
    assert widget.describe_at(x1 + 1.0, y0) == ""
    check_export(widget, texts=("champion score", "challenger score"), paths=2, image=True)
    few_a, few_b = a[:50], b[:50]
    widget.set_data(few_a, few_b, labels=np.array([1.0] + [0.0] * 48 + [np.nan]))
    tip = widget.describe_at(float(few_a[0]), float(few_b[0]), reach=(1e-9, 1e-9))
    assert tip == f"champion score {few_a[0]:.4f}\nchallenger score {few_b[0]:.4f}\nlabel 1"
    assert "not known yet" in widget.describe_at(float(few_a[49]), float(few_b[49]))
