"""Reference vs current distributions of one cell, and its statistics table."""

from __future__ import annotations

import numpy as np

from watchkeeper.widgets.distribution_view import MAX_CATEGORIES, DistributionView
from watchkeeper.widgets.drift_heatmap import MULTIVARIATE


def table(view: DistributionView) -> dict[str, list[str]]:
    frame = view.stats_model.frame
    return {r["statistic"]: [r["value"], r["threshold / note"]] for _, r in frame.iterrows()}


def test_numerical_bins_are_shares_of_each_side(qtbot, drift_result) -> None:
    view = DistributionView()
    qtbot.addWidget(view)
    view.show_cell(drift_result, "amount", 119)
    f = drift_result.feature("amount")
    ref = view.reference_bars.opts["height"]
    cur = view.current_bars.opts["height"]
    np.testing.assert_allclose(ref, f.reference_counts / f.reference_counts.sum())
    np.testing.assert_allclose(cur, f.counts[119] / f.counts[119].sum())
    assert view.labels == list(f.labels)
    # the planted drift moves amount up: the top bins hold more than the reference's
    assert cur[-3:-1].sum() > ref[-3:-1].sum()
    stats = table(view)
    assert stats["PSI"][0] == f"{f.windows[119].psi:.4g}"
    assert "drift ≥ 0.2" in stats["PSI"][1]
    assert stats["decision"][0] == f.windows[119].decision == "drift"
    assert "amount" in view.title.text()


def test_categories_are_horizontal_bars_with_unseen(qtbot, drift_result) -> None:
    view = DistributionView()
    qtbot.addWidget(view)
    view.show_cell(drift_result, "device_type", 119)
    assert view.reference_bars.opts["x"] is None  # horizontal: widths are the shares
    widths = dict(zip(view.labels, view.current_bars.opts["width"], strict=True))
    # the pipeline incident: 'mobile' arrives as 'Mobile', unseen in the reference
    assert widths["unseen"] > 0.3 and widths["mobile"] < 0.05
    assert float(table(view)["unseen categories"][0].rstrip("%")) > 30
    view.show_cell(drift_result, "merchant_id", 119)
    assert len(view.labels) <= MAX_CATEGORIES + 1
    assert view.labels[-1].endswith("more)")
    total = float(np.sum(view.current_bars.opts["width"]))
    assert abs(total - 1.0) < 1e-9


def test_multivariate_row_and_clear(qtbot, drift_result) -> None:
    view = DistributionView()
    qtbot.addWidget(view)
    view.show_cell(drift_result, MULTIVARIATE, 119)
    assert "reconstruction error" in table(view)
    assert len(view.current_bars.opts["x"]) == 0
    view.clear("nothing picked")
    assert view.stats_model.rowCount() == 0
    assert "nothing picked" in view.title.text()


def test_hover_gives_both_shares_and_export(qtbot, drift_result, check_export) -> None:
    view = DistributionView()
    view.show_cell(drift_result, "amount", 119)
    f = drift_result.feature("amount")
    ref = f.reference_counts / f.reference_counts.sum()
    cur = f.counts[119] / f.counts[119].sum()
    tip = view.describe_at(2.1, 0.01)
    assert tip == (
        f"{f.labels[2]}\nreference {ref[2]:.2%} of rows\ncurrent window {cur[2]:.2%} of rows"
    )
    assert view.describe_at(-3.0, 0.01) == ""
    check_export(view, texts=("share of rows",), paths=3)
    view.show_cell(drift_result, "device_type", 119)  # horizontal bars: the y picks the row
    assert view.describe_at(0.1, 0.0).startswith(view.labels[0] + "\nreference")
