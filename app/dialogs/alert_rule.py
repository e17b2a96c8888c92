"""The alert rule editor: a model's ``[drift]`` and ``[health]`` thresholds, with the backtest
of the drafted rule beside them, written to the spec file only on Save.

The backtest (:func:`~watchkeeper.core.workbench.backtest.run_backtest`) replays the draft
over the model's whole history in the worker and draws its would-be alerts against the
incidents and rollbacks of the governance database. Save edits only the changed keys of the
spec's text (:func:`~watchkeeper.core.spec_edit.set_table_keys`): comments and layout stay.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from html import escape
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.widgets.plot_theme import PlotTheme, current_theme, follow_theme, style_plot

__all__ = ["BACKTEST_KEY", "AlertRuleDialog"]

BACKTEST_KEY = "alert-rule.backtest"
_ALERT = "#d9534f"
_DRIFT = "#e0a030"
_INCIDENT = (120, 120, 220, 70)


def _spin(value: float, lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setValue(value)
    return box


def _int_spin(value: int, lo: int, hi: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    return box


def _ts(t: dt.datetime) -> float:
    return t.timestamp()


class AlertRuleDialog(QDialog):
    """Edit ``entry``'s alert rule, see its backtest, Save to write the spec."""

    def __init__(self, runner: TaskRunner, entry: ModelEntry, parent: QWidget | None = None):
        super().__init__(parent)
        if entry.spec is None or entry.spec_path is None:
            raise ValueError(f"{entry.name}: no spec file to edit")
        self.runner = runner
        self.entry = entry
        self.result_: tuple[Any, Any, str | None] | None = None
        spec = entry.spec
        d, h = spec.drift, spec.health
        self.setWindowTitle(f"Alert rule of {entry.name}")
        self.setMinimumSize(860, 560)
        heading = QLabel(
            f"The <b>[drift]</b> and <b>[health]</b> rule of <b>{escape(entry.name)}</b>. "
            "Backtest replays the draft over the whole history against the incidents and "
            "rollbacks recorded in governance; Save writes the spec file."
        )
        heading.setWordWrap(True)
        self.thresholds = QComboBox()
        self.thresholds.addItems(["calibrated", "absolute"])
        self.thresholds.setCurrentText(d.thresholds)
        self.margin = _spin(d.calibration_margin, 1.0, 20.0, 0.25, 2)
        self.floor = _spin(d.psi_floor, 0.0, 5.0, 0.01, 3)
        self.psi_drift = _spin(d.psi_drift, 0.0, 5.0, 0.01, 3)
        self.p_value = _spin(d.p_value, 0.0001, 0.5, 0.01, 4)
        self.drift_persistence = _int_spin(d.persistence, 1, 60)
        self.tolerance = _spin(h.tolerance, 0.0, 1.0, 0.005, 3)
        self.health_persistence = _int_spin(h.persistence, 1, 60)
        form = QFormLayout()
        form.addRow(QLabel("<b>[drift]</b>"))
        form.addRow("thresholds", self.thresholds)
        form.addRow("calibration_margin", self.margin)
        form.addRow("psi_floor", self.floor)
        form.addRow("psi_drift (absolute)", self.psi_drift)
        form.addRow("p_value", self.p_value)
        form.addRow("persistence", self.drift_persistence)
        form.addRow(QLabel("<b>[health]</b>"))
        form.addRow("tolerance", self.tolerance)
        form.addRow("persistence", self.health_persistence)
        self.run_button = QPushButton("Backtest")
        form.addRow(self.run_button)
        left = QWidget()
        left.setLayout(form)
        left.setMaximumWidth(300)

        self.plot = pg.PlotWidget(
            axisItems={"bottom": pg.DateAxisItem(orientation="bottom", utcOffset=0)}
        )
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").setTicks([[(1, "health alert"), (0, "drift alert")]])
        self.plot.setYRange(-0.8, 1.8, padding=0)
        self.plot.addLegend(offset=(10, 5))
        self._theme = current_theme()
        follow_theme(self._apply_theme)
        self.summary = QLabel("Backtest running…")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right = QVBoxLayout()
        right.addWidget(self.plot, 1)
        right.addWidget(self.summary)

        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        body = QHBoxLayout()
        body.addWidget(left)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)

        self.run_button.clicked.connect(self.run_backtest)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        runner.task_progressed.connect(self._on_progress)
        runner.task_finished.connect(self._on_finished)

    # -- the draft ---------------------------------------------------------------------

    def drift_values(self) -> dict[str, Any]:
        return {
            "thresholds": self.thresholds.currentText(),
            "calibration_margin": round(self.margin.value(), 4),
            "psi_floor": round(self.floor.value(), 4),
            "psi_drift": round(self.psi_drift.value(), 4),
            "p_value": round(self.p_value.value(), 6),
            "persistence": self.drift_persistence.value(),
        }

    def health_values(self) -> dict[str, Any]:
        return {
            "tolerance": round(self.tolerance.value(), 4),
            "persistence": self.health_persistence.value(),
        }

    def draft_spec(self) -> Any:
        """The entry's spec with the edited values (validated by the spec's own model)."""
        spec = self.entry.spec
        assert spec is not None
        # the edited keys are validated by the sections' own models (window etc. stay as parsed)
        type(spec.drift)(**self.drift_values())
        type(spec.health)(**self.health_values())
        drift = spec.drift.model_copy(update=self.drift_values())
        health = spec.health.model_copy(update=self.health_values())
        return spec.model_copy(update={"drift": drift, "health": health})

    # -- backtest ----------------------------------------------------------------------

    def run_backtest(self) -> None:
        from watchkeeper.core.workbench.backtest import run_backtest

        try:
            draft = self.draft_spec()
        except ValueError as exc:
            self.banner.show_message(str(exc))
            return
        self.banner.clear_message()
        entry = self.entry

        def work(progress, cancelled):
            return run_backtest(entry, draft, progress=progress, cancelled=cancelled)

        self.busy.start("Replaying the rule over the history…")
        self.summary.setText("Backtest running…")
        self.runner.run(
            BACKTEST_KEY,
            work,
            label=f"Backtest of {entry.name}'s alert rule",
            on_result=self.show_result,
            on_error=self._on_error,
        )

    def _apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.plot.setBackground(pg.mkColor(*theme.background))
        style_plot(self.plot.getPlotItem(), theme, grid=(True, False))

    def show_result(self, result: tuple[Any, Any, str | None]) -> None:
        self.result_ = result
        health, drift, note = result
        self.plot.clear()
        legend = self.plot.plotItem.legend
        if legend is not None:
            legend.clear()
        for i, inc in enumerate(health.incidents):
            end = (
                inc.end
                if inc.end is not None
                else (health.period[1] if health.period else inc.start)
            )
            end = max(end, inc.start + dt.timedelta(hours=12))  # a moment stays visible
            region = pg.LinearRegionItem(
                (_ts(inc.start), _ts(end)), movable=False, brush=pg.mkBrush(*_INCIDENT)
            )
            region.setZValue(-10)
            self.plot.addItem(region)
            # the id only, one line lower each: titles that start days apart overprinted; the
            # whole titles are in the summary below the plot
            label = pg.TextItem(
                inc.title.split(":")[0][:28],
                color=pg.mkColor(*self._theme.foreground),
                anchor=(0, 0),
            )
            label.setPos(_ts(inc.start), 1.75 - 0.22 * (i % 3))
            self.plot.addItem(label)
        for y, bt, color, name in ((1, health, _ALERT, "health"), (0, drift, _DRIFT, "drift")):
            if not bt.alerts:
                continue
            x0 = [_ts(a.start) for a in bt.alerts]
            x1 = [_ts(a.end) for a in bt.alerts]
            bars = pg.BarGraphItem(
                x0=x0, x1=x1, y=[y] * len(x0), height=0.5, brush=color, pen=color
            )
            self.plot.addItem(bars)
            # the legend entry: a marker of the same colour at the first alert
            self.plot.plot(
                [x0[0]], [y], pen=None, symbol="s", symbolBrush=color, name=f"{name} rule alerts"
            )
        if health.period:
            self.plot.setXRange(_ts(health.period[0]), _ts(health.period[1]), padding=0.02)
        lines = [
            f"<b>[health]</b>: {escape(health.summary())}",
            f"<b>[drift]</b>: {escape(drift.summary())}",
        ]
        for bt in (health, drift):
            for hit in bt.hits:
                lead = hit.lead / dt.timedelta(hours=1)
                lines.append(
                    f"&nbsp;&nbsp;[{bt.rule}] hit {escape(hit.incident.title)} (lead {lead:+.1f} h)"
                )
        if note:
            lines.append(f"<i>{escape(note)}</i>")
        self.summary.setText("<br>".join(lines))

    def _on_error(self, message: str) -> None:
        self.summary.setText("")
        self.banner.show_message(f"The backtest failed: {message}")

    def _on_progress(self, key: str, fraction: float, message: str) -> None:
        if key == BACKTEST_KEY:
            self.busy.progress(fraction, message)

    def _on_finished(self, key: str, outcome: str) -> None:
        if key == BACKTEST_KEY and key not in self.runner.active():
            self.busy.stop()

    # -- save --------------------------------------------------------------------------

    def save(self) -> None:
        """Write the changed keys to the spec file; the file is re-read to check it loads."""
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.spec import load_spec
        from watchkeeper.core.spec_edit import set_table_keys

        try:
            draft = self.draft_spec()
        except ValueError as exc:
            self.banner.show_message(str(exc))
            return
        spec = self.entry.spec
        path = self.entry.spec_path
        assert spec is not None and path is not None
        text = path.read_text(encoding="utf-8")
        changed_drift = {
            k: v for k, v in self.drift_values().items() if getattr(spec.drift, k) != v
        }
        changed_health = {
            k: v for k, v in self.health_values().items() if getattr(spec.health, k) != v
        }
        new = text
        if changed_drift:
            new = set_table_keys(new, "drift", changed_drift)
        if changed_health:
            new = set_table_keys(new, "health", changed_health)
        if new != text:
            path.write_text(new, encoding="utf-8")
            try:
                saved = load_spec(path)
            except WatchkeeperError as exc:
                path.write_text(text, encoding="utf-8")  # never leave a spec that fails
                self.banner.show_message(f"Not saved: {exc}")
                return
            self.entry = dataclasses.replace(self.entry, spec=saved)
        del draft
        self.accept()

    def done(self, result: int) -> None:
        self.runner.cancel(BACKTEST_KEY)
        super().done(result)
