"""The Slices view driven through the TaskRunner on the demo workspace: table and chart from
one result, the builder, the worst-slice list, the Excel export and its failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from workbench_results import fraud_entry

from watchkeeper.app.panels.slices import SlicesPanel, make_slices_panel
from watchkeeper.app.panels.slices_state import SliceDraft
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry


def done(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> ModelEntry:
    return fraud_entry(demo_workspace)


@pytest.fixture(scope="module")
def cache() -> dict:
    """The window's result cache, shared by this module's panels (one analysis per run)."""
    return {}


@pytest.fixture
def ready(qtbot, fraud: ModelEntry, cache: dict) -> tuple[SlicesPanel, TaskRunner]:
    """A Slices panel showing fraud-detector v1 (analysed off the GUI thread once)."""
    runner = TaskRunner()
    panel = make_slices_panel(runner, cache)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    if cache:
        panel.set_selection(fraud, "1")  # the cached result, drawn at once
    else:
        with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("slices")):
            panel.set_selection(fraud, "1")
            assert panel.state.status == "running" and panel.busy.isVisible()
    assert panel.state.status == "ready", panel.state.error
    return panel, runner


def test_the_table_and_the_chart_show_the_spec_slices(ready) -> None:
    panel, _ = ready
    view = panel.state.result
    frame = panel.slice_model.frame
    assert list(frame["slice"]) == ["overall", "web", "app", "pos", "high-amount", "night"]
    assert list(frame.columns[:5]) == ["slice", "condition", "critical", "events", "labeled"]
    assert frame.loc[frame["slice"] == "pos", "critical"].item()
    # the chart draws the same numbers as the table (roc_auc, the spec's primary metric)
    np.testing.assert_allclose(panel.chart.bars.opts["width"], frame["roc_auc"].iloc[1:])
    lo = frame["low"].iloc[1:].to_numpy()
    np.testing.assert_allclose(
        panel.chart.error_bars.opts["left"], frame["roc_auc"].iloc[1:].to_numpy() - lo
    )
    assert panel.chart.overall_line.value() == pytest.approx(frame["roc_auc"].iloc[0])
    # sorting is the model's permutation: the worst slice comes first
    panel.slice_table.sortByColumn(frame.columns.get_loc("roc_auc"), Qt.SortOrder.AscendingOrder)
    lowest = frame["slice"].iloc[1 + int(np.argmin(frame["roc_auc"].iloc[1:]))]
    assert panel.slice_model.row_values(0)["slice"] == lowest
    # another metric: the chart and the table follow the state
    panel.metric_combo.setCurrentIndex(panel.metric_combo.findData("precision"))
    assert "precision" in panel.slice_model.frame.columns
    assert panel.chart.plot.getAxis("bottom").labelText == "precision"
    # worst slices with their q-values, significant ones first
    worst = panel.worst_model.frame
    assert len(worst) > 0 and {"q", "p", "significant"} <= set(worst.columns)
    assert worst["significant"].iloc[0] and worst["q"].iloc[0] <= view.worst.fdr
    assert "tested" in panel.worst_title.text()


def test_the_builder_adds_a_predicate_and_the_table_gains_a_row(qtbot, ready) -> None:
    panel, runner = ready
    rows = panel.slice_model.rowCount()
    panel.column_combo.setCurrentText("channel")
    assert panel.op_combo.currentData() == "eq"  # a categorical column starts with =
    panel.value_combo.setEditText("web")
    assert panel.add_condition()
    panel.column_combo.setCurrentText("amount")
    assert panel.op_combo.currentData() == "range" and panel.low_edit.isVisible()
    panel.low_edit.setText("200")
    assert panel.add_condition()
    assert "channel=web" in panel.draft_label.text() and "AND" in panel.draft_label.text()
    with qtbot.waitSignal(runner.task_finished, timeout=20_000, check_params_cb=done("slices")):
        assert panel.add_slice()
    assert panel.slice_model.rowCount() == rows + 1
    added = panel.slice_model.frame.iloc[-1]
    assert added["slice"] == "channel=web & amount>=200"
    predicate = panel.state.custom[0]
    mask = predicate.mask(panel.state.result.table)
    assert added["events"] == mask.sum()
    assert len(panel.chart.bars.opts["width"]) == rows  # 5 spec slices + 1 (overall apart)
    # a wrong value is a banner, not an exception
    panel.column_combo.setCurrentText("account_age_days")
    panel.low_edit.setText("old")
    assert not panel.add_condition()
    assert panel.banner.isVisible() and "whole numbers" in panel.banner.text()


def test_the_draft_checks_what_was_typed() -> None:
    from watchkeeper.core.workbench.slices import ColumnInfo

    hour = ColumnInfo("hour_of_day", "categorical", integer=True, levels=(1, 2))
    c = SliceDraft.condition(hour, "in", "1, 2, 2")
    assert c.op == "in" and c.value == (1, 2)
    amount = ColumnInfo("amount", "numerical", low=0.0, high=9.0)
    assert SliceDraft.condition(amount, "range", low="", high="5").value == (None, 5.0)
    with pytest.raises(ValueError, match="above the minimum"):
        SliceDraft.condition(amount, "range", low="5", high="1")
    with pytest.raises(ValueError, match="not numeric"):
        SliceDraft.condition(ColumnInfo("channel", "categorical"), "range", low="1")
    with pytest.raises(ValueError, match="one condition per column"):
        SliceDraft.predicate((c, c))


def test_export_writes_a_workbook_openpyxl_reads(
    qtbot, demo_workspace: Path, tmp_path: Path
) -> None:
    """The export runs core's slice_report(...).write in the TaskRunner (churn-model: small,
    no challenger, so the test stays quick; fraud-detector's workbook is core's test)."""
    import openpyxl

    from watchkeeper.core.workbench.portfolio import load_portfolio

    churn = load_portfolio(demo_workspace).model("churn-model")
    runner = TaskRunner()
    panel = make_slices_panel(runner, {})
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("slices")):
        panel.set_selection(churn, "3")
    assert panel.export_button.isEnabled()
    target = tmp_path / "slices.xlsx"
    with qtbot.waitSignal(panel.export_finished, timeout=30_000) as finished:
        panel.export(target)
        assert panel.export_banner.isVisible() and "Writing" in panel.export_banner.text()
    assert finished.args[0] is True, finished.args[1]
    assert panel.export_banner.level == "info" and str(target) in panel.export_banner.text()
    book = openpyxl.load_workbook(target, read_only=True)
    assert len(book.sheetnames) >= 2
    text = " ".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )
    assert "plan=premium" in text


def test_a_failed_export_is_reported_in_the_panel(qtbot, ready, tmp_path) -> None:
    """A workbook that cannot be written (its folder is a file): a real failure, in the
    analysis process where the demo's export runs, reported in the panel."""
    panel, _ = ready
    (tmp_path / "reports").write_text("a file, not a folder")
    with qtbot.waitSignal(panel.export_finished, timeout=30_000) as finished:
        panel.export(tmp_path / "reports" / "x.xlsx")
    ok, message = finished.args
    assert not ok and "x.xlsx" in message and "internal error" not in message, message
    assert panel.export_banner.level == "error" and message in panel.export_banner.text()


def test_a_hidden_view_waits_until_it_is_shown(qtbot, fraud: ModelEntry, cache: dict) -> None:
    runner = TaskRunner()
    panel = make_slices_panel(runner, cache)
    qtbot.addWidget(panel)
    panel.set_selection(fraud, "1")  # a tab not on screen: nothing runs yet
    assert runner.active() == [] and panel.state.status == "idle"
    assert panel.state.model == "fraud-detector"
    with qtbot.waitSignal(panel.result_ready, timeout=30_000):
        panel.show()
    assert panel.state.status == "ready" and panel.slice_model.rowCount() == 6


def test_the_tables_scroll_sideways_instead_of_squashing_columns(qtbot, ready) -> None:
    """In a 1400 px window every column keeps its contents' width (up to a cap, with the
    whole text in the tool tip) and a table wider than its viewport scrolls by pixels."""
    from PySide6.QtWidgets import QAbstractItemView

    from watchkeeper.app.panels.slices import MAX_COLUMN_PX

    panel, _ = ready
    assert panel.width() == 1400
    qtbot.wait(50)  # let the layout settle
    for table in (panel.slice_table, panel.worst_table):
        header = table.horizontalHeader()
        assert table.model().columnCount() > 0
        assert table.horizontalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerPixel
        for column in range(header.count() - 1):  # the last one may stretch
            wanted = max(table.sizeHintForColumn(column), header.sectionSizeHint(column))
            assert header.sectionSize(column) >= min(wanted, MAX_COLUMN_PX), column
        total = header.length()
        viewport = table.viewport().width()
        bar = table.horizontalScrollBar()
        assert bar.maximum() == max(0, total - viewport)
    # the worst-slice list has more columns than fit: it scrolls, nothing is squeezed
    assert panel.worst_table.horizontalScrollBar().maximum() > 0


def test_the_export_takes_the_champion_views_gate_and_writes_the_same_workbook(
    qtbot, ready, fraud: ModelEntry, cache: dict, tmp_path: Path
) -> None:
    """With the Champion vs challenger view's result in the window's cache, the export
    hands its gate to core, which takes it for the same pairs: the workbook is the one
    core writes computing the comparison itself (the generation time aside)."""
    import openpyxl

    from watchkeeper.app.panels.compare import ChallengerPanel
    from watchkeeper.core.evaluation.gate import comparison_key, read_shadow_pairs
    from watchkeeper.core.workbench.analyses import open_source_of
    from watchkeeper.core.workbench.slices import export_slice_report

    panel, runner = ready
    view = panel.state.result
    compared = ChallengerPanel(runner, cache)
    qtbot.addWidget(compared)
    compared.show()
    with qtbot.waitSignal(runner.task_finished, timeout=60_000, check_params_cb=done("challenger")):
        compared.set_selection(fraud, "1")
    known = cache[("challenger", fraud.name, view.version, view.challenger)].known_gate
    assert known is not None
    # the workbook's own pairs (its window) are the ones the view's gate rests on
    with open_source_of(fraud) as src:
        pairs = read_shadow_pairs(
            fraud.spec,
            champion=view.version,
            challenger=view.challenger,
            start=view.start,
            end=view.end,
            source=src,
        )
    assert comparison_key(fraud.spec, pairs) == known.key
    target = tmp_path / "taken.xlsx"
    with qtbot.waitSignal(panel.export_finished, timeout=60_000) as finished:
        panel.export(target)
    assert finished.args[0] is True, finished.args[1]
    own = export_slice_report(fraud, view, tmp_path / "own.xlsx")

    def values(path: Path) -> list:
        book = openpyxl.load_workbook(path, read_only=True)
        return [
            (ws.title, row)
            for ws in book.worksheets
            for row in ws.iter_rows(values_only=True)
            if row and row[0] != "generated at"
        ]

    assert values(target) == values(own)
