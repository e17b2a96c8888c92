"""The Performance view: the primary metric over time, realized and estimated, with label
coverage beneath, the reference line a move is judged against, and the model's governance
events (approvals, rollbacks, incidents) marked on the time axis.

Runs :func:`~watchkeeper.core.workbench.analyses.run_performance` on the TaskRunner (key
``"performance"``) and turns its :class:`~watchkeeper.core.workbench.analyses.PerformanceView`
into the timeline's arrays (:func:`timeline_data`). The events are read beside it (key
``"performance.events"``, only while the view is shown) by
:func:`~watchkeeper.core.governance.timeline.read_timeline_events`
from the governance database the model's spec names (``[governance] database``) unless
:meth:`PerformancePanel.set_governance_database` chose another; a database that is missing
or unreachable is a quiet line under the plot, never an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import ChildWork, suits_child
from watchkeeper.app.panels.common import BusyLine, MessageBanner, PanelTask, missing_part
from watchkeeper.app.panels.drift import WINDOW_CHOICES
from watchkeeper.app.panels.explain_drop import ExplainDropBox
from watchkeeper.app.panels.per_class import MULTICLASS_METRIC_CHOICES, PerClassBox
from watchkeeper.app.panels.state import PerformanceState
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.governance.timeline import (
    TimelineLoad,
    read_timeline_events,
    spec_database_url,
)
from watchkeeper.core.workbench.analyses import (
    ESTIMATE_BELOW_COVERAGE,
    NO_LABEL_TIMES,
    PerformanceView,
    run_performance,
    window_for,
)
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.widgets.metric_timeline import MetricTimelineWidget, TimelineData

__all__ = ["EVENTS_KEY", "METRIC_CHOICES", "PerformancePanel", "events_note", "timeline_data"]

#: The TaskRunner key of the governance-events read.
EVENTS_KEY = "performance.events"
_KIND_NAMES = {
    "approval": ("approval", "approvals"),
    "rejection": ("rejection", "rejections"),
    "rollback": ("rollback", "rollbacks"),
    "incident": ("incident", "incidents"),
}

#: Metrics offered (binary models); the first entry follows the spec's gate.
METRIC_CHOICES = ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier", "log_loss")


def timeline_data(view: PerformanceView) -> TimelineData:
    """The arrays the timeline draws, from a performance result."""
    windows = view.realized.windows
    width = 86400.0
    if windows and windows[0].start is not None and windows[0].end is not None:
        width = (windows[0].end - windows[0].start).total_seconds()
    return TimelineData(
        metric=view.metric,
        x=view.x_seconds(),
        width=width,
        realized=view.realized.series(view.metric),
        estimated=view.estimated_series(),
        coverage=view.coverage(),
        baseline=None if view.baseline is None else view.baseline.value,
        alert=view.alert_line(),
    )


def events_note(load: TimelineLoad, shown: int | None) -> str:
    """The quiet line under the plot: what is marked, what falls outside the plotted period
    (``shown`` of them are inside; None while nothing is plotted), or why nothing is."""
    if load.note:
        return load.note
    if not load.events:
        return "No governance events recorded for this model."
    counts: dict[str, int] = {}
    for e in load.events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    parts = [f"{n} {_KIND_NAMES.get(k, (k, k + 's'))[n != 1]}" for k, n in sorted(counts.items())]
    text = "Governance events: " + ", ".join(parts)
    outside = 0 if shown is None else len(load.events) - shown
    if outside:
        text += f"; {outside} outside the plotted period, not drawn"
    text += ". Hover a line or a shaded period for when, who and why."
    return text


class PerformancePanel(QWidget):
    """Performance over time of the selected model version."""

    result_ready = Signal(object)  # PerformanceView, after it is drawn

    def __init__(
        self,
        runner: TaskRunner,
        cache: dict[tuple[str, ...], Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = PerformanceState()
        self.cache = cache if cache is not None else {}
        self.runner = runner
        self._entry: ModelEntry | None = None
        self._governance_url: str | None = None  # None: the one the spec names
        self._events_for: tuple[str | None, str] | None = None  # (database, model) drawn
        self.events: TimelineLoad | None = None
        self._events_pending = False  # a read asked for while hidden

        self.heading = QLabel("<b>Performance</b>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.window_combo = QComboBox()
        self.window_combo.addItem("spec window", None)
        for label, value in WINDOW_CHOICES:
            if value:  # one window over everything is no timeline
                self.window_combo.addItem(label, value)
        self.metric_combo = QComboBox()
        self._offer_metrics(METRIC_CHOICES)
        self.refresh_button = QPushButton("Refresh")
        # The heading has its own line: a long model name must not widen the window.
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar = QHBoxLayout()
        bar.addStretch(1)
        bar.addWidget(QLabel("Window"))
        bar.addWidget(self.window_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Metric"))
        bar.addWidget(self.metric_combo)
        bar.addSpacing(8)
        bar.addWidget(self.refresh_button)
        self.busy = BusyLine()
        self.banner = MessageBanner()
        self.timeline = MetricTimelineWidget()
        self.events_label = QLabel()  # quiet: muted text, never a banner
        self.events_label.setWordWrap(True)
        self.events_label.setTextFormat(Qt.TextFormat.PlainText)
        self.events_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.events_label.setVisible(False)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        # "Explain this drop" sits beside the plot it explains
        self.explain = ExplainDropBox(runner)
        self.explain.explained.connect(lambda i: self.timeline.mark_window(i))
        plot_row = QSplitter(Qt.Orientation.Horizontal)
        plot_row.addWidget(self.timeline)
        plot_row.addWidget(self.explain)
        plot_row.setStretchFactor(0, 3)
        plot_row.setStretchFactor(1, 2)
        layout.addWidget(plot_row, 1)
        self.per_class = PerClassBox()  # a multiclass model's classes and confusion matrix
        layout.addWidget(self.per_class, 1)
        layout.addWidget(self.events_label)
        layout.addWidget(self.summary)

        self.task = PanelTask(runner, "performance", self.state, self.busy)
        self.state.subscribe(self._on_state_changed)
        self.window_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.metric_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.refresh_button.clicked.connect(lambda: self.analyse(force=True))
        self.summary.setText("Select a model in the portfolio to see its performance.")

    def set_selection(self, entry: ModelEntry | None, version: str | None) -> None:
        """Follow the portfolio's selection."""
        self._entry = entry
        if entry is None or version is None:
            self.task.cancel()
            self.runner.cancel(EVENTS_KEY)
            self._events_for = None
            self._show_events(None)
            self.state.set(model=None, version=None, result=None, status="idle")
            return
        choices = MULTICLASS_METRIC_CHOICES if entry.task == "multiclass" else METRIC_CHOICES
        if choices != self._metrics_offered:
            self._offer_metrics(choices)
            self.state.set(metric=None)
        if (entry.name, version) != (self.state.model, self.state.version):
            self.state.set(model=entry.name, version=version, result=None)
        self.analyse()
        self.load_events()

    def _offer_metrics(self, choices: tuple[str, ...]) -> None:
        """The metric combo's entries for the selected model's task."""
        self._metrics_offered = choices
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItem("spec's primary metric", None)
        for metric in choices:
            self.metric_combo.addItem(metric, metric)
        self.metric_combo.blockSignals(False)

    # -- governance events -----------------------------------------------------------------

    def set_governance_database(self, url: str | None) -> None:
        """Read events from ``url`` (e.g. after File → Connect); None: the spec's database."""
        self._governance_url = url
        self.load_events(force=True)

    def governance_database(self) -> str | None:
        """The database the selected model's events are read from (None: none named)."""
        if self._governance_url is not None:
            return self._governance_url
        spec = self._entry.spec if self._entry is not None else None
        return spec_database_url(spec) if spec is not None else None

    def load_events(self, force: bool = False) -> None:
        """Read the selected model's governance events in the background (once per model
        and database unless ``force``); while the view is hidden, when it is next shown."""
        entry = self._entry
        if entry is None:
            return
        url, model = self.governance_database(), entry.name
        if self.events is not None and self._events_for != (url, model):
            self._show_events(None)  # another model's events must not stay on this one
        if not self.isVisible():
            self._events_pending = True
            if force:
                self._events_for = None  # read again when shown
            return
        self._events_pending = False
        if not force and self._events_for == (url, model):
            return
        self._events_for = (url, model)

        def work(progress, cancelled):
            return read_timeline_events(url, model, progress, cancelled)

        self.runner.run(
            EVENTS_KEY,
            work,
            label=f"Governance events of {model}",
            on_result=self._on_events_loaded,
            on_error=self._on_events_failed,
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._events_pending:
            self.load_events()

    # a late read after the panel closed reaches neither: the runner drops a deleted
    # widget's tasks (workers._owner_of)
    def _on_events_loaded(self, load: TimelineLoad) -> None:
        self._show_events(load)

    def _on_events_failed(self, message: str) -> None:
        self._show_events(TimelineLoad((), None, f"governance events not shown: {message}"))

    def _show_events(self, load: TimelineLoad | None) -> None:
        self.events = load
        self.timeline.set_events(load.events if load is not None else ())
        self._show_events_note()

    def _show_events_note(self) -> None:
        load = self.events
        if load is None:
            self.events_label.setVisible(False)
            return
        shown = len(self.timeline.shown_events) if self.timeline.data is not None else None
        self.events_label.setText(events_note(load, shown))
        self.events_label.setVisible(True)

    def analyse(self, force: bool = False) -> None:
        entry, version = self._entry, self.state.version
        if entry is None or version is None:
            return
        window, metric = self.state.window, self.state.metric
        key = ("performance", entry.name, version, window_for(entry, window), metric or "")
        if not force and key in self.cache:
            self._on_result(key, self.cache[key])
            return

        if force:
            self.load_events(force=True)

        def work(progress, cancelled):
            return run_performance(entry, version, window, metric, progress, cancelled)

        if suits_child(entry):
            work = ChildWork(run_performance, (entry, version, window, metric))
        label = f"Performance of {entry.name} v{version}"
        self.task.start(work, label, lambda result: self._on_result(key, result))

    def _on_result(self, key: tuple[str, ...], view: PerformanceView) -> None:
        self.cache[key] = view
        self.state.set(result=view, status="ready", error=None)
        self.result_ready.emit(view)

    def _on_choice_changed(self, _index: int) -> None:
        window = self.window_combo.currentData()
        metric = self.metric_combo.currentData()
        if (window, metric) != (self.state.window, self.state.metric):
            self.state.set(window=window, metric=metric, result=None)
            self.analyse()

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if "result" in changed:
            self.timeline.set_data(timeline_data(s.result) if s.result is not None else None)
            self.per_class.show_view(s.result)
            self.explain.show_for(self._entry, s.result, s.window)
            # labels without arrival times count from the event on: said on the plot itself,
            # where the coverage bars would otherwise read as labels that came in on time
            at_event = s.result is not None and any(
                n.startswith(NO_LABEL_TIMES) for n in s.result.notes
            )
            self.timeline.metric_plot.setTitle(
                "labels known at event time (the telemetry has no label arrival times)"
                if at_event
                else None,
                size="9pt",
            )
            self._show_summary()
            self._show_events_note()  # which events fall inside depends on the period
        if changed & {"status", "error", "model", "version", "result"}:
            title = "<b>Performance</b>"
            if s.model is not None:
                title = f"<b>{s.model}</b> version {s.version}"
                if s.result is not None:
                    title += f" · {s.result.metric} per {s.result.realized.window or 'period'}"
            self.heading.setText(title)
            if s.status == "failed" and missing_part(s.error):
                # a part the data lacks, not a failure: said as what it would add
                self.banner.show_message(f"<b>No performance to show.</b> {s.error}", "info")
            elif s.status == "failed":
                self.banner.show_message(
                    f"<b>The performance analysis failed.</b> {s.error}<br>"
                    "Check the spec's telemetry columns (score, label, label_ts), then Refresh."
                )
            elif s.status == "cancelled" and s.result is None:
                self.banner.show_message(
                    "The performance analysis was cancelled. Press Refresh to run it again.",
                    "info",
                )
            else:
                self.banner.clear_message()

    def _show_summary(self) -> None:
        v = self.state.result
        if v is None:
            self.summary.setText("")
            return
        cov = v.coverage()
        recent = cov[-7:]
        recent_share = float(np.nanmean(recent)) if np.isfinite(recent).any() else None
        base = v.baseline.value if v.baseline is not None else None
        parts = []
        if base is not None:
            direction = "below" if v.higher_is_better else "above"
            parts.append(
                f"Reference {v.metric} {base:.3f}; a window counts as moved {direction} "
                f"{v.alert_line():.3f} (tolerance {v.tolerance:g})."
            )
        if recent_share is not None:
            parts.append(f"Labeled over the last 7 windows: {recent_share:.0%}.")
        parts.append(
            f"Dashed: CBPE estimate where fewer than {ESTIMATE_BELOW_COVERAGE:.0%} of events "
            "are labeled (valid while the score–label relation holds)."
        )
        # core's notes are lower-case clauses: each its own sentence after the ones above
        parts.extend(n[:1].upper() + n[1:] + ("" if n.endswith(".") else ".") for n in v.notes)
        self.summary.setText(" ".join(parts))
