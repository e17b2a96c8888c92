"""The metric timeline: realized with interval, estimated where labels are missing, coverage."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from watchkeeper.app.panels.performance import timeline_data
from watchkeeper.core.workbench.analyses import ESTIMATE_BELOW_COVERAGE
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget, TimelineData


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
    line = performance_view.baseline.value - performance_view.tolerance  # [health] tolerance
    assert performance_view.tolerance == 0.02 and abs(w.alert_line.value() - line) < 1e-12
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


def _event(kind: str, start: str, end: str | None = None, label: str = "x", rid: str = "r"):
    import datetime as dt

    from watchkeeper.core.governance.timeline import TimelineEvent

    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    return TimelineEvent(
        kind=kind,
        start=at(start),
        end=None if end is None else at(end),
        label=label,
        actor="sam.reyes",
        actor_verified=False,
        title=f"why {label}",
        record_id=rid,
    )


EVENTS = (
    _event("approval", "2025-11-06 09:00:00", label="v1 approved", rid="early"),  # left of axis
    _event("approval", "2026-03-30 13:45:00", label="v2 approved as champion", rid="a"),
    _event("rollback", "2026-03-30 16:50:00", label="rollback v2 → v1", rid="b"),
    _event("incident", "2026-03-30 14:00:00", "2026-03-30 17:40:00", "INC-1042", "c"),
    _event("incident", "2025-12-20 00:00:00", "2026-01-03 00:00:00", "INC-0999", "d"),  # clipped
    _event("incident", "2026-04-06 00:00:00", None, "INC-1057", "e"),  # open: to the end
    _event("rollback", "2026-07-01 00:00:00", label="later", rid="late"),  # right of axis
)


def test_governance_events_are_lines_and_clipped_regions(qtbot, performance_view) -> None:
    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    w.set_events(EVENTS)  # before the data: nothing to place them on yet
    assert w.shown_events == ()
    w.set_data(timeline_data(performance_view))
    lo, hi = w.data.extent()
    assert [e.record_id for e in w.shown_events] == ["a", "b", "c", "d", "e"]
    lines = [line for line in w.event_lines if line.isVisible()]
    assert [line.value() for line in lines] == [
        EVENTS[1].start.timestamp(),
        EVENTS[2].start.timestamp(),
    ]
    assert [line.label.format for line in lines] == ["v2 approved as champion", "rollback v2 → v1"]
    regions = [r for r in w.event_regions if r.isVisible()]
    spans = [r.getRegion() for r in regions]
    assert spans[0] == (EVENTS[3].start.timestamp(), EVENTS[3].end.timestamp())
    assert spans[1] == (lo, EVENTS[4].end.timestamp())  # clipped to the first window
    assert spans[2] == (EVENTS[5].start.timestamp(), hi)  # open: runs to the last window's end
    labels = [
        t.format
        for t, r in zip(w.event_region_labels, w.event_regions, strict=True)
        if r.isVisible()
    ]
    assert labels == ["INC-1042", "INC-0999", "INC-1057 (open)"]
    # the two lines on the same afternoon get different label heights
    assert lines[0].label.orthoPos != lines[1].label.orthoPos
    # fewer events: the pool hides what it does not use, items stay
    items = list(w.metric_plot.items)
    w.set_events(EVENTS[:2])
    assert sum(line.isVisible() for line in w.event_lines) == 1
    assert not any(r.isVisible() for r in w.event_regions)
    assert w.metric_plot.items == items
    w.set_events(())
    assert not any(line.isVisible() for line in w.event_lines)


def test_hover_gives_exact_values_and_the_events_there(qtbot, performance_view) -> None:
    import datetime as dt

    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    data = timeline_data(performance_view)
    w.set_data(data)
    w.set_events(EVENTS)
    i = 10
    tip = w.describe_at(float(data.x[i]) + 100.0, 0.8)
    value, lower, upper = data.realized[i]
    start = dt.datetime.fromtimestamp(float(data.x[i]) - data.width / 2, tz=dt.UTC)
    assert f"window {start:%Y-%m-%d} UTC" in tip
    assert f"roc_auc realized {value:.4f} [{lower:.4f}, {upper:.4f}]" in tip
    assert f"labeled {data.coverage[i]:.1%}" in tip
    last = w.describe_at(float(data.x[-1]), 0.8)
    assert "estimated" in last and "too few labels" in last  # no realized value, an estimate
    # on the incident's afternoon: the window, the incident, and both lines within reach
    moment = dt.datetime(2026, 3, 30, 15, tzinfo=dt.UTC).timestamp()
    tip = w.describe_at(moment, 0.8, reach=(3 * 3600.0, 0.01))
    assert "INC-1042" in tip and "from 2026-03-30 14:00:00 UTC" in tip
    assert "v2 approved as champion\nat 2026-03-30 13:45:00 UTC\nby sam.reyes" in tip
    assert "rollback v2 → v1" in tip and "why rollback v2 → v1" in tip
    # far from any line, only the window (and the open incident where it runs)
    tip = w.describe_at(float(data.x[5]), 0.8, reach=(3600.0, 0.01))
    assert "approved" not in tip and "INC" not in tip
    assert "INC-1057" in w.describe_at(float(data.x[-1]), 0.8, reach=(3600.0, 0.01))
    assert w.describe_at(float(data.x[0]) - 30 * 86400, 0.8) == ""


def test_exports_both_plots(check_export, performance_view) -> None:
    w = MetricTimelineWidget()
    w.set_data(timeline_data(performance_view))
    w.set_events(EVENTS)
    check_export(w, texts=("roc_auc", "labeled", "realized", "rollback v2 → v1"), paths=20)


@pytest.mark.parametrize("width", [520, 900, 1600])
def test_event_labels_neither_overlap_nor_leave_the_plot(qtbot, performance_view, width) -> None:
    """Labelled to the right of their lines, events late in the period ran past the plot's
    edge ("v2 approved as champ…" beside the explain pane) and a late label on the left
    overlapped an early one; each label is now as wide as its text at the plot's scale, on a
    side and at a height where it fits, also after a resize."""
    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    w.resize(width, 420)
    w.show()
    qtbot.waitExposed(w)
    data = timeline_data(performance_view)
    w.set_data(data)
    lo, hi = data.extent()
    at = [lo + (hi - lo) * f for f in (0.3, 0.74, 0.745, 0.79, 0.97)]
    events = [
        _event("approval", _iso(at[0]), label="v1 approved as champion", rid="p"),
        _event("approval", _iso(at[1]), label="v2 approved as champion", rid="q"),
        _event("incident", _iso(at[1]), _iso(at[2]), "INC-1042", "r"),
        _event("rollback", _iso(at[2]), label="rollback v2 → v1", rid="s"),
        _event("incident", _iso(at[3]), None, "INC-1057", "t"),
    ]
    if width > 600:  # six labels that all overlap one point of a narrow plot need six heights
        events.append(_event("approval", _iso(at[4]), label="v3 approved as champion", rid="u"))
    w.set_events(events)
    for size in (width, width // 2 + 300):
        w.resize(size, 420)
        qtbot.wait(50)
        vb = w.metric_plot.getViewBox()
        plot = vb.sceneBoundingRect()
        labels = [line.label for line in w.event_lines if line.isVisible()]
        labels += [
            t for t, r in zip(w.event_region_labels, w.event_regions, strict=True) if r.isVisible()
        ]
        assert len(labels) == len(events)
        # the text, not its box's padding (the heights are a label's height apart)
        rects = [lb.sceneBoundingRect().adjusted(0, 3, 0, -3) for lb in labels]
        for r in rects:
            assert plot.left() - 1 <= r.left() and r.right() <= plot.right() + 1, (size, r, plot)
        for i, a in enumerate(rects):
            for b in rects[i + 1 :]:
                assert not a.intersects(b), (size, a, b)


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _healthy(weeks: int = 14) -> TimelineData:
    """A weekly log whose metric stays above the alert line: that line is the lowest item,
    its label under it, and the lowest values are the first windows'."""
    rng = np.random.default_rng(3)
    start = 1_756_512_000.0  # 2025-08-30 00:00 UTC: a month's end among the weekly labels
    x = start + 7 * 86400 * (np.arange(weeks) + 0.5)
    value = 0.68 + 0.08 * (np.arange(weeks) > 4) + rng.normal(0, 0.005, weeks)
    realized = np.column_stack([value, value - 0.02, value + 0.02])
    estimated = np.full((weeks, 3), np.nan)
    return TimelineData(
        "roc_auc", x, 7 * 86400.0, realized, estimated, np.ones(weeks), 0.685, 0.665
    )


@pytest.mark.parametrize("size", [(520, 360), (900, 420), (1500, 800)])
def test_the_legend_covers_neither_the_alert_label_nor_a_value(qtbot, size) -> None:
    """The legend sits at the bottom left; a healthy model's alert line is the lowest item
    and its label, under it at the left, was drawn under the legend (a table of another
    team's, looked at on the screen). The y range keeps a band for the legend and that
    label, also after a resize; a plot too short for both hides the legend."""
    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    data = _healthy()
    w.set_data(data)
    for width, height in (size, (size[0] + 200, size[1] - 100)):
        w.resize(width, height)
        qtbot.wait(50)
        vb = w.metric_plot.getViewBox()
        label = w.alert_line.label.sceneBoundingRect()
        assert label.bottom() <= vb.sceneBoundingRect().bottom() + 1, (width, height)
        if height >= 420:
            assert w.legend.isVisible(), (width, height)
        if not w.legend.isVisible():
            continue
        legend = w.legend.sceneBoundingRect()
        assert not legend.intersects(label), (width, height)
        for x, low in zip(data.x, data.realized[:, 1], strict=True):
            point = vb.mapViewToScene(pg.Point(x, low))
            assert not legend.contains(point), (width, height, x, low)


@pytest.mark.parametrize("width", [420, 700, 1200])
def test_no_date_label_touches_another(qtbot, width) -> None:
    """pyqtgraph spaces each level of dates on its own: a day's label sat against the next
    month's ("30Sep"). The axis leaves out a finer label that would come within a few pixels
    of one drawn."""
    from PySide6.QtGui import QPainter, QPixmap

    from watchkeeper.widgets.date_axis import GAP

    w = MetricTimelineWidget()
    qtbot.addWidget(w)
    w.resize(width, 420)
    w.show()
    qtbot.waitExposed(w)
    w.set_data(_healthy())
    qtbot.wait(50)
    axis = w.coverage_plot.getAxis("bottom")
    pixmap = QPixmap(10, 10)
    painter = QPainter(pixmap)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    assert len(texts) >= 3
    rects = [t[0] for t in texts]
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.adjusted(-GAP + 1, 0, GAP - 1, 0).intersects(b), (width, texts)
