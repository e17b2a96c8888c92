"""The metric timeline: realized with interval, estimated where labels are missing, coverage."""

from __future__ import annotations

import numpy as np

from watchkeeper.app.panels.analyses import ESTIMATE_BELOW_COVERAGE
from watchkeeper.app.panels.performance import timeline_data
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget


def test_curves_bands_coverage_and_lines(qtbot, performance_view) -> None:
    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    data = timeline_data(performance_view)
    w.set_data(data)
    _x, y = w.realized_curve.getData()
    real = performance_view.realized.series("roc_auc")
    np.testing.assert_allclose(y, real[:, 0])
    assert np.isfinite(y[:60]).all()  # months of labeled history
    _, lo = w.realized_lower.getData()
    _, hi = w.realized_upper.getData()
    ok = np.isfinite(y)
    assert (lo[ok] <= y[ok]).all() and (y[ok] <= hi[ok]).all()
    _, est = w.estimated_curve.getData()
    coverage = performance_view.coverage()
    assert np.isfinite(est).any(), "the newest windows lack labels: an estimate is drawn"
    assert not np.isfinite(est[coverage >= ESTIMATE_BELOW_COVERAGE]).any()
    np.testing.assert_allclose(w.coverage_bars.opts["height"], np.nan_to_num(coverage))
    assert coverage[0] > 0.99 and coverage[-1] < 0.2  # labels arrive days late
    assert w.baseline_line.value() == performance_view.baseline.value
    assert abs(w.alert_line.value() - (performance_view.baseline.value - 0.05)) < 1e-12
    assert w.metric_plot.getAxis("left").labelString().find("x0.001") < 0
    # linked time axes
    assert w.coverage_plot.getViewBox().linkedView(0) is w.metric_plot.getViewBox()


def test_updates_in_place(qtbot, performance_view) -> None:
    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    items_before = list(w.metric_plot.items)
    w.set_data(timeline_data(performance_view))
    w.set_data(timeline_data(performance_view))
    assert w.metric_plot.items == items_before
    w.set_data(None)
    assert len(w.realized_curve.getData()[0] or []) == 0
    assert not w.baseline_line.isVisible()
