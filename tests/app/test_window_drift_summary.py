"""The Drift view at width: which feature drifted, and since when, in at most two steps."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt

from watchkeeper.app.panels.drift import DriftPanel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.workbench.analyses import window_for
from watchkeeper.core.workbench.portfolio import load_portfolio
from watchkeeper.widgets.drift_heatmap import MIN_ROW_PX, QUIET
from watchkeeper.widgets.drift_summary import SINCE


def _panel(qtbot, wide_workspace: Path, wide_drift: Any) -> DriftPanel:
    (entry,) = load_portfolio(wide_workspace).models
    # the result the health sweep would have cached: the test is about reading it
    cache = {("drift", entry.name, "1", window_for(entry, None)): wide_drift}
    panel = DriftPanel(TaskRunner(), cache=cache)
    qtbot.addWidget(panel)
    panel.resize(1400, 1000)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_selection(entry, "1")
    assert panel.state.status == "ready"
    # the heat map and the distributions are drawn in turns of the event loop of their own
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    return panel


def test_each_drifted_feature_and_its_onset_in_two_interactions(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    panel = _panel(qtbot, wide_workspace, wide_drift)
    events = json.loads((wide_workspace / "manifest.json").read_text("utf-8"))["events"]
    planted = {e["features"][0]: e for e in events}
    summary = panel.summary
    # no interaction: the list opens with the drifting features first, each with its onset
    top = summary.visible_rows()[: len(planted)]
    assert {r.name for r in top} == set(planted)
    assert "5 drifting now" in summary.count.text()
    for name, e in planted.items():
        summary.search.clear()
        qtbot.keyClicks(summary.search, name)  # 1: type its name
        qtbot.keyClick(summary.search, Qt.Key.Key_Return)  # 2: open the first match
        (row,) = summary.visible_rows()
        shown = summary.proxy.index(0, SINCE).data()
        onset = dt.date.fromisoformat(shown)
        planted_day = dt.date.fromisoformat(e["onset"])
        assert -2 <= (onset - planted_day).days <= e["ramp_days"] // 3 + 1, name
        # the distributions at the onset and now are open for that feature
        assert panel.state.cell == (name, row.onset)
        assert f"<b>{name}</b>" in panel.distribution.title.text()
        assert shown in panel.distribution.title.text()
        last = wide_drift.windows[-1].start.date().isoformat()
        assert last in panel.now_view.title.text() and "drift" in panel.now_view.title.text()


def test_the_list_filters_sorts_and_navigates_by_keyboard(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    panel = _panel(qtbot, wide_workspace, wide_drift)
    summary = panel.summary
    summary.kind_combo.setCurrentIndex(summary.kind_combo.findData("categorical"))
    rows = summary.visible_rows()
    assert len(rows) == 24 and all(r.kind == "categorical" for r in rows)
    summary.decision_combo.setCurrentIndex(summary.decision_combo.findData("drift"))
    assert [r.name for r in summary.visible_rows()] == ["cat_003", "cat_012"]
    summary.kind_combo.setCurrentIndex(0)
    summary.decision_combo.setCurrentIndex(0)
    # the largest PSI first when sorted by magnitude, as numbers (not as text)
    summary.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    magnitudes = [r.magnitude for r in summary.visible_rows()]
    assert magnitudes == sorted(magnitudes, reverse=True)
    psi_max = max(np.nanmax([w.psi or 0 for w in f.windows]) for f in wide_drift.features)
    assert magnitudes[0] == psi_max
    # arrow keys walk the list, and each step opens that feature
    summary.table.setFocus()
    summary.select_first()
    first = panel.state.cell[0]
    qtbot.keyClick(summary.table, Qt.Key.Key_Down)
    assert panel.state.cell[0] == summary.visible_rows()[1].name != first
    # importance is not known here: the column says so rather than guess
    assert summary.proxy.index(0, 5).data() == "—"


def test_the_heat_map_at_width_folds_quiet_rows_keeps_rows_readable_and_dates_when_zoomed(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    panel = _panel(qtbot, wide_workspace, wide_drift)
    hm = panel.heatmap
    qtbot.wait(50)
    # the five drifting features, then one row for the 115 quiet ones, then the extras
    assert hm.rows[5] == QUIET and hm.folded == 115
    assert "115 stable features" in [t for _, t in hm.plot.getAxis("left")._tickLevels[0]]
    vb = hm.plot.getViewBox()

    def row_px() -> float:
        return vb.mapViewToScene(QPointF(0, 1)).y() - vb.mapViewToScene(QPointF(0, 0)).y()

    assert row_px() >= MIN_ROW_PX
    # the folded row cannot be picked (it is many features); a drifting one can
    assert hm.cell_at(hm.cell_center(QUIET, 100)) is None
    # unfolded, 122 rows do not fit: they keep their height and the view scrolls
    hm.fold = False
    hm.set_result(wide_drift)
    qtbot.wait(50)
    assert len(hm.rows) == 122 and row_px() >= MIN_ROW_PX - 0.5
    lo, hi = vb.viewRange()[1]
    assert hi - lo < 122
    vb.translateBy(y=40)
    assert vb.viewRange()[1][0] > lo  # scrolled down
    # zoomed into ten days, the visible windows are still labelled with dates
    vb.setXRange(60, 70, padding=0)
    labels = [t for _, t in hm.plot.getAxis("bottom")._tickLevels[0] if t]
    assert labels and any(month in " ".join(labels) for month in ("Mar", "Feb"))


def test_the_view_says_what_it_is_doing_and_never_keeps_a_stale_line(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    runner = TaskRunner()
    panel = DriftPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    assert "Select a model" in panel.distribution.title.text()
    (entry,) = load_portfolio(wide_workspace).models
    panel.set_selection(entry, "1")  # no cached result: the analysis runs
    assert panel.state.status == "running"
    title = panel.distribution.title.text()
    assert "Analysing the drift of wide-model version 1 (120 features)" in title
    assert "Select a model" not in title
    assert "analysing 120 features" in panel.busy.label.text()
    with qtbot.waitSignal(runner.task_finished, timeout=5000):
        runner.cancel("drift")
    assert "was cancelled; press Refresh" in panel.distribution.title.text()
    # a model with a result, then one whose analysis fails: nothing of the first stays
    panel.cache[("drift", entry.name, "1", window_for(entry, None))] = wide_drift
    panel.set_selection(entry, "1")
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    assert panel.summary.model.rowCount() == 120 and panel.heatmap.rows
    text = entry.spec_path.read_text().replace("../telemetry.duckdb", "../missing.duckdb")
    spec = parse_spec(text, base_dir=entry.spec_path.parent, origin="broken.toml")
    broken = dataclasses.replace(entry, name="broken-model", spec=spec)
    with qtbot.waitSignal(runner.task_finished, timeout=20_000) as finished:
        panel.set_selection(broken, "1")
    assert finished.args == ["drift", "failed"]
    assert "analysis failed" in panel.distribution.title.text()
    assert "broken-model" in panel.distribution.title.text()
    assert panel.summary.model.rowCount() == 0 and panel.heatmap.rows == []
    assert panel.heatmap.image_item.image is None
    assert panel.banner.isVisible() and "missing.duckdb" in panel.banner.text()


def test_the_window_says_a_missing_workspace_folder_is_missing(qtbot, tmp_path: Path) -> None:
    from watchkeeper.app.panels.portfolio import PortfolioPanel

    runner = TaskRunner()
    panel = PortfolioPanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=10_000) as finished:
        panel.load(tmp_path / "gone", health=False)
    assert finished.args == ["portfolio", "failed"]
    assert panel.banner.isVisible() and "does not exist" in panel.banner.text()
    assert "watchkeeper init" in panel.banner.text()


def test_computed_importance_feeds_the_ranked_list(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    """Once importance is computed (here from the score: the wide world has no registry), the
    list shows it and ranks as ``check --why`` does."""
    from watchkeeper.core.workbench.model_checks import rank_drift

    panel = _panel(qtbot, wide_workspace, wide_drift)
    assert all(r.importance is None for r in panel.summary.model.rows)
    runner = panel.what_matters.runner
    panel.what_matters.compute()
    qtbot.waitUntil(lambda: runner.active() == [], timeout=120_000)
    rows = panel.summary.model.rows
    assert all(r.importance is not None for r in rows)
    importance = next(iter(panel.what_matters.cache.values()))[0]
    assert importance.method == "mutual_information"
    ranked = rank_drift(wide_drift, importance)
    assert [r.name for r in rows] == [d.name for d in ranked]


def test_the_ranked_list_arrives_before_the_exact_statistics(qtbot, wide_workspace: Path) -> None:
    """Without a cached result the list is drawn from the counts while the exact statistics
    run (the heading says so), then the whole result replaces it, with the same ranking
    decisions and the exact statistics filled in."""
    (entry,) = load_portfolio(wide_workspace).models
    panel = DriftPanel(TaskRunner())
    qtbot.addWidget(panel)
    panel.resize(1400, 1000)
    panel.show()
    seen: list[tuple[str, bool, str, int]] = []

    def on_change(changed: frozenset[str]) -> None:
        r = panel.state.result
        if "result" in changed and r is not None:
            exact = any(w.ks is not None for f in r.features for w in f.windows)
            seen.append(
                (panel.state.status, exact, panel.heading.text(), len(panel.summary.visible_rows()))
            )

    panel.state.subscribe(on_change)
    panel.set_selection(entry, "1")
    qtbot.waitUntil(lambda: panel.state.status == "ready", timeout=120_000)
    assert len(seen) == 2, seen
    (status0, exact0, heading0, rows0), (status1, exact1, heading1, rows1) = seen
    assert status0 == "running" and not exact0 and "ranked from the counts" in heading0
    assert rows0 == rows1 == len(entry.spec.telemetry.columns.features)
    assert status1 == "ready" and exact1 and "ranked from the counts" not in heading1


def test_the_latest_window_is_shown_beside_its_onset_not_twice(
    qtbot, wide_workspace: Path, wide_drift: Any
) -> None:
    """Clicking a drifting feature's latest window showed the same distributions in both
    panes; the second pane then shows the window its drift began in, and says which is
    which. A feature with no onset says the selected window is already the latest."""
    panel = _panel(qtbot, wide_workspace, wide_drift)
    drifting = next(f for f in wide_drift.features if f.onset is not None)
    last = max(i for i, d in enumerate(drifting.decisions()) if d != "insufficient")
    assert drifting.onset.start != last
    panel.state.set(cell=(drifting.name, last))
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    onset_day = wide_drift.windows[drifting.onset.start].start.date().isoformat()
    last_day = wide_drift.windows[last].start.date().isoformat()
    assert last_day in panel.distribution.title.text()
    assert "(selected)" in panel.distribution.title.text()
    assert onset_day in panel.now_view.title.text()
    assert "(at onset)" in panel.now_view.title.text()
    # an earlier window: the second pane is "now" again
    panel.state.set(cell=(drifting.name, drifting.onset.start))
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    assert last_day in panel.now_view.title.text() and "(now)" in panel.now_view.title.text()
    quiet = next(
        f for f in wide_drift.features if f.onset is None and f.decisions()[-1] != "insufficient"
    )
    panel.state.set(cell=(quiet.name, len(wide_drift.windows) - 1))
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    assert "latest (now)" in panel.now_view.title.text()
