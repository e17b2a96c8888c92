"""The Drift view: a ranked list of what needs attention (feature, decision, since when,
magnitude, sparkline), below it a features × windows heat map and, below that, the selected
feature's distributions in the selected window (its onset when picked from the list) and now
(or, when the selected window is the latest, at its onset).

The panel owns a :class:`~watchkeeper.app.panels.state.DriftState`; the heat map and the
distribution view only draw it and report clicks. Changing the selection, the window or
pressing Refresh starts :func:`~watchkeeper.core.workbench.analyses.run_drift` on the TaskRunner
(key ``"drift"``); a result already computed for the same model, version and window (by the
health sweep, or earlier) is reused from the window's result cache. The window field takes a
listed choice or a typed window (``12h``, ``2d``, ``5000rows``); its edits are debounced (the
analysis starts once the field rests, Enter starts it at once), so typing or spinning through
the choices starts one analysis, not one per keystroke.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import ChildWork, suits_child
from watchkeeper.app.panels.common import (
    BusyLine,
    Debouncer,
    MessageBanner,
    PanelTask,
    StagedDraws,
)
from watchkeeper.app.panels.state import DRIFT_ROW_KINDS, DriftState
from watchkeeper.app.theme import mute
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.telemetry.windows import parse_window
from watchkeeper.core.workbench.analyses import run_drift, window_for
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.core.workbench.reference_file import describe_reference
from watchkeeper.widgets.distribution_view import DistributionView
from watchkeeper.widgets.drift_heatmap import MULTIVARIATE, DriftHeatmapWidget, heatmap_rows
from watchkeeper.widgets.drift_summary import DriftSummaryWidget, ranked_rows

__all__ = ["WINDOW_CHOICES", "DriftPanel"]

#: Windows offered besides the spec's own (None); "" is one window over everything.
WINDOW_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("6 hours", "6h"),
    ("1 day", "1d"),
    ("7 days", "7d"),
    ("whole period", ""),
)
_SORTS = (("most severe first", "severity"), ("by name", "name"), ("spec order", "spec"))


class DriftPanel(QWidget):
    """Drift of the selected model version, per feature and window."""

    result_ready = Signal(object)  # DriftResult, after it is drawn

    def __init__(
        self,
        runner: TaskRunner,
        cache: dict[tuple[str, ...], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = DriftState()
        self.cache = cache if cache is not None else {}
        self._entry: ModelEntry | None = None
        self._runner = runner

        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.window_combo = QComboBox()
        self.window_combo.addItem("spec window", None)
        for label, value in WINDOW_CHOICES:
            self.window_combo.addItem(label, value)
        self.window_combo.setEditable(True)
        self.window_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.window_combo.setCompleter(None)  # what is typed is what is analysed
        self.window_combo.setMinimumContentsLength(12)
        self.window_combo.lineEdit().setPlaceholderText("e.g. 12h, 2d, 5000rows")
        self.window_combo.setToolTip(
            "A listed window, or type one: 30m, 12h, 2d, 1w or 5000rows (Enter to apply)"
        )
        self.window_input = Debouncer(self._apply_window, parent=self)
        self.sort_combo = QComboBox()
        for label, value in _SORTS:
            self.sort_combo.addItem(label, value)
        self.kind_buttons: dict[str, QToolButton] = {}
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Run the drift analysis again (F5)")
        # The heading has its own line: a long model name must not widen the window.
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        bar.addStretch(1)
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Rows"))
        bar.addWidget(self.sort_combo)
        for kind in DRIFT_ROW_KINDS:
            button = QToolButton()
            button.setText(kind)
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Show {kind} rows")
            button.toggled.connect(self._on_kind_toggled)
            self.kind_buttons[kind] = button
            bar.addWidget(button)
        bar.addSpacing(8)
        self.rule_button = QPushButton("Alert rule…")
        self.rule_button.setToolTip("Edit the [drift]/[health] rule and backtest it before saving")
        self.rule_button.clicked.connect(self.open_alert_rule)
        bar.addWidget(self.rule_button)
        bar.addWidget(self.refresh_button)

        self.busy = BusyLine()
        self.banner = MessageBanner()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        mute(self.notes)
        self.summary = DriftSummaryWidget()
        self.heatmap = DriftHeatmapWidget()
        self.distribution = DistributionView()
        # the same feature now (its last judged window), beside the selected window
        self.now_view = DistributionView()
        self.now_view.clear("The selected feature's latest window appears here.")
        pair = QSplitter(Qt.Orientation.Horizontal)
        pair.addWidget(self.distribution)
        pair.addWidget(self.now_view)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("drift_splitter")
        self.splitter.addWidget(self.summary)
        self.splitter.addWidget(self.heatmap)
        self.splitter.addWidget(pair)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([260, 360, 300])  # the list shows ~9 features at first
        _add_what_matters(self, runner)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.notes)

        self.draws = StagedDraws(self)
        self.task = PanelTask(runner, "drift", self.state, self.busy)
        self.state.subscribe(self._on_state_changed)
        self.heatmap.cell_selected.connect(self._on_heatmap_cell_selected)
        self.summary.feature_selected.connect(self._on_heatmap_cell_selected)
        self.window_combo.currentIndexChanged.connect(self._on_window_changed)
        self.window_combo.lineEdit().textEdited.connect(self._on_window_edited)
        self.window_combo.lineEdit().returnPressed.connect(self._on_window_committed)
        self.sort_combo.currentIndexChanged.connect(self._on_sort_changed)
        self.refresh_button.clicked.connect(lambda: self.analyse(force=True))
        self._show_empty("Select a model in the portfolio to see its drift.")

    # -- intent ------------------------------------------------------------------------

    def open_alert_rule(self) -> None:
        """The alert rule editor of the selected model, its backtest started."""
        from watchkeeper.app.dialogs.alert_rule import AlertRuleDialog

        entry = self._entry
        if entry is None or entry.spec is None or entry.spec_path is None:
            self.banner.show_message("Select a model with a spec file to edit its alert rule.")
            return
        dialog = AlertRuleDialog(self._runner, entry, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        dialog.run_backtest()

    def set_selection(self, entry: ModelEntry | None, version: str | None) -> None:
        """Follow the portfolio's selection: analyse ``version`` of ``entry``."""
        self._entry = entry
        if entry is None or version is None:
            self.task.cancel()
            self.state.set(model=None, version=None, result=None, cell=None, status="idle")
            return
        if (entry.name, version) != (self.state.model, self.state.version):
            self.state.set(model=entry.name, version=version, result=None, cell=None)
        self.analyse()

    def analyse(self, force: bool = False) -> None:
        """Show the cached result for the current choice, or start the analysis."""
        entry, version = self._entry, self.state.version
        if entry is None or version is None:
            return
        window = self.state.window
        key = ("drift", entry.name, version, window_for(entry, window))
        if not force and key in self.cache:
            self._on_result(key, self.cache[key])
            return
        n = len(entry.spec.telemetry.columns.features) if entry.spec is not None else 0
        label = f"Drift of {entry.name} v{version}" + (f": analysing {n:,} features" if n else "")

        def work(progress, cancelled, partial):
            def ranked_first(result: Any) -> None:
                _prepare_views(result)
                partial(result)

            result = run_drift(entry, version, window, progress, cancelled, partial=ranked_first)
            _prepare_views(result)
            return result

        if suits_child(entry):
            # analysed in a child process: its GIL is not the window's (analysis_process.py)
            work = ChildWork(run_drift, (entry, version, window), after=_prepare_views)

        # the features ranked from their counts first, then the exact statistics fill in
        self.task.start(
            work,
            label,
            lambda result: self._on_result(key, result),
            on_partial=self._on_partial,
        )

    # -- results -----------------------------------------------------------------------

    def _on_partial(self, result: Any) -> None:
        """The counts' result while the exact statistics run: drawn, not cached."""
        cell = self.state.cell
        if cell is None or cell[1] >= len(result.windows):
            cell = _default_cell(result, self.state.sort, self.state.kinds)
        self.state.set(result=result, cell=cell)

    def _on_result(self, key: tuple[str, ...], result: Any) -> None:
        self.cache[key] = result
        cell = self.state.cell
        if cell is None or cell[1] >= len(result.windows):
            cell = _default_cell(result, self.state.sort, self.state.kinds)
        self.state.set(result=result, status="ready", error=None, cell=cell)
        self.result_ready.emit(result)
        self.what_matters.show_for(self._entry, self.state.version, result)

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if "sort" in changed:
            self.heatmap.set_sort(s.sort)
        if "kinds" in changed:
            self.heatmap.set_kinds(s.kinds)
        if "result" in changed:
            self.summary.set_result(s.result)
            self._show_notes()
            if s.result is None:
                self.draws.cancel()
                self.heatmap.set_result(None)
                self._draw_cell()
            else:  # the ranked list now; the heat map and the distributions in turns of their own
                self.draws.schedule("heatmap", self._draw_heatmap)
                self.draws.schedule("cell", self._draw_cell)
        elif "cell" in changed:
            if self.draws.pending():  # after the heat map of the newer result
                self.draws.schedule("cell", self._draw_cell)
            else:
                self._draw_cell()
        if changed & {"status", "model", "version"} and s.result is None:
            self.distribution.clear(self._placeholder())
            self.now_view.clear("")
        if changed & {"status", "error", "model", "version", "result"}:
            self._show_heading()
            if s.status == "failed":
                self.banner.show_message(
                    f"<b>The drift analysis failed.</b> {s.error}<br>"
                    "Check the monitor spec and the telemetry source, then press Refresh."
                )
            elif s.status == "cancelled" and s.result is None:
                self.banner.show_message(
                    "The drift analysis was cancelled. Press Refresh to run it again.", "info"
                )
            elif s.result is not None and (hint := _too_few_rows_hint(s.result)):
                self.banner.show_message(hint, "info")
            else:
                self.banner.clear_message()

    def _draw_heatmap(self) -> None:
        self.heatmap.set_result(self.state.result)

    def _draw_cell(self) -> None:
        s = self.state
        self.heatmap.select_cell(*(s.cell or (None, None)))
        if s.result is not None and s.cell is not None:
            self.distribution.show_cell(s.result, *s.cell, caption="selected")
            self._show_now(s.result, *s.cell)
        elif s.result is None:
            self.distribution.clear(self._placeholder())
            self.now_view.clear("")

    def drawing(self) -> bool:
        """Whether the shown result's heat map or distributions are still to be drawn."""
        return self.draws.pending()

    def _placeholder(self) -> str:
        """What the view is doing while it has no result: never a stale "select a model"."""
        s = self.state
        if s.model is None:
            return "Select a model in the portfolio to see its drift."
        what = f"{s.model} version {s.version}"
        if s.status == "running":
            n = len(self._entry.spec.telemetry.columns.features) if self._spec_ok() else 0
            return f"Analysing the drift of {what}" + (f" ({n:,} features)…" if n else "…")
        if s.status == "failed":
            return f"No drift result for {what}: the analysis failed (the reason is above)."
        if s.status == "cancelled":
            return f"The drift analysis of {what} was cancelled; press Refresh to run it."
        return f"The drift of {what} appears here once analysed (Refresh starts it)."

    def _spec_ok(self) -> bool:
        return self._entry is not None and self._entry.spec is not None

    def _show_heading(self) -> None:
        s = self.state
        if s.model is None:
            self.heading.setText("<b>Drift</b>")
            return
        text = f"<b>{s.model}</b> version {s.version}"
        r = s.result
        if r is not None:
            spec = r.window_spec.text or "whole period"
            text += f" · {len(r.windows)} windows ({spec}) · reference"
            where = describe_reference(self._entry.spec if self._entry else None, s.version)
            text += f" {html.escape(where)}," if where else ""
            text += f" {r.reference_rows:,} rows"
            if s.status == "running":  # a partial result: ranked from the counts
                text += " · <i>ranked from the counts; exact statistics still running…</i>"
        self.heading.setText(text)

    def _show_now(self, result: Any, feature: str, selected: int) -> None:
        """Beside the selected window, the feature's last window with enough rows ("now");
        when that is the selected one, the window its drift began in ("at onset") rather
        than the same distributions twice."""
        if feature == MULTIVARIATE:
            self.now_view.clear("")
            return
        f = result.feature(feature)
        judged = [i for i, d in enumerate(f.decisions()) if d != "insufficient"]
        if not judged:
            self.now_view.clear(f"No window of {feature} has enough rows to judge.")
            return
        if judged[-1] != selected:
            self.now_view.show_cell(result, feature, judged[-1], caption="now")
        elif f.onset is not None and f.onset.start != selected:
            self.now_view.show_cell(result, feature, f.onset.start, caption="at onset")
        else:
            self.now_view.clear(
                f"The selected window is {feature}'s latest (now); click an earlier cell to "
                "compare."
            )

    def _show_notes(self) -> None:
        r = self.state.result
        # a partial result's "still running" is in the heading already; shown here too, the
        # line appeared and went, and laid the panel out again each time (20 ms at width)
        notes = [n for n in (r.notes if r is not None else ()) if not n.startswith("still running")]
        text = "; ".join(notes)
        if text != self.notes.text():
            self.notes.setText(text)
        if self.notes.isVisibleTo(self) != bool(text):
            self.notes.setVisible(bool(text))

    def _show_empty(self, message: str) -> None:
        self.heading.setText("<b>Drift</b>")
        self.distribution.clear(message)
        self.notes.setVisible(False)

    # -- handlers ----------------------------------------------------------------------

    def _on_heatmap_cell_selected(self, feature: str, window: int) -> None:
        self.state.set(cell=(feature, window))

    def _on_window_changed(self, index: int) -> None:
        # a wheel step or arrow key over the field: wait for it to rest
        self.window_input.push(self.window_combo.itemData(index))

    def _on_window_edited(self, text: str) -> None:
        self.window_input.push(self._typed_window(text))

    def _on_window_committed(self) -> None:
        self.window_input.push(self._typed_window(self.window_combo.currentText()))
        self.window_input.flush()

    def _typed_window(self, text: str) -> str | None:
        """What the field says: a listed choice by its label, else the typed window."""
        index = self.window_combo.findText(text.strip(), Qt.MatchFlag.MatchFixedString)
        if index >= 0:
            return self.window_combo.itemData(index)
        return text.strip() or None

    def _apply_window(self, window: str | None) -> None:
        """The window field rested (or Enter): analyse with ``window`` if it is one."""
        from watchkeeper.core.errors import WatchkeeperError

        if window:
            try:
                window = parse_window(window).text or ""
            except WatchkeeperError as exc:
                self.banner.show_message(f"<b>Not a window:</b> {exc}", "warning")
                return
        if window != self.state.window:
            self.state.set(window=window, result=None, cell=None)
            self.analyse()
        elif self.banner.level == "warning" and self.banner.text().startswith("<b>Not a window"):
            self.banner.clear_message()

    def _on_sort_changed(self, _index: int) -> None:
        self.state.set(sort=self.sort_combo.currentData())

    def _on_kind_toggled(self, _checked: bool) -> None:
        kinds = frozenset(k for k, b in self.kind_buttons.items() if b.isChecked())
        self.state.set(kinds=kinds)


def _prepare_views(result: Any) -> None:
    """Rank the list's and the heat map's rows on the worker (the widgets remember them by
    the result): on the GUI thread 500 features took hundreds of ms while workers ran."""
    ranked_rows(result)
    heatmap_rows(result)


def _too_few_rows_hint(result: Any) -> str | None:
    """Say why a heat map is mostly grey, and what to do, when most windows are too small."""
    n = len(result.windows)
    small = sum(w.rows < result.settings.min_rows for w in result.windows)
    if n == 0 or small <= n / 2:
        return None
    return (
        f"{small} of {n} windows ({result.window_spec.text or 'whole period'}) have fewer than "
        f"{result.settings.min_rows:,} rows, the spec's <tt>min_rows</tt>: too few to judge, "
        "so they are grey. Choose a longer window above (e.g. 7 days)."
    )


def _default_cell(result: Any, sort: str, kinds: frozenset[str]) -> tuple[str, int] | None:
    """The cell to open first: the most severe row's largest effect (a reason to look)."""
    rows = heatmap_rows(result, "severity", kinds)
    if not rows or rows[0].values.size == 0:
        return None
    top = rows[0]
    return top.name, int(top.values.argmax())


# -- importance and skew (issue 16): a pane of its own, added in one place -------------------


def _add_what_matters(panel: DriftPanel, runner: TaskRunner) -> None:
    """The drift × importance quadrant and the skew table, as a third pane of the splitter;
    a click on a feature shows its distributions in the window where its PSI is largest."""
    from watchkeeper.app.panels.what_matters import WhatMattersPane

    panel.what_matters = WhatMattersPane(runner)
    panel.splitter.addWidget(panel.what_matters)
    panel.splitter.setStretchFactor(panel.splitter.count() - 1, 2)
    # it is empty until asked for: a fourth pane sized by Qt took half the height and left
    # the heat map and the distributions too short to read (ticks printed over each other)
    panel.splitter.setSizes([200, 300, 280, 150])

    def show_feature(name: str) -> None:
        result = panel.state.result
        if result is None:
            return
        psi = result.feature(name).windows.column("psi")
        best = int(np.argmax(np.where(np.isfinite(psi), psi, 0.0))) if len(psi) else 0
        panel.state.set(cell=(name, best))

    panel.what_matters.feature_clicked.connect(show_feature)
    # importance, once computed, feeds the ranked list's column and order
    panel.what_matters.importance_ready.connect(
        lambda shares: panel.summary.set_result(panel.state.result, shares)
    )
