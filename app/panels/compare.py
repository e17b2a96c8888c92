"""The Champion-vs-challenger view: the gate checklist, the metric deltas with intervals,
ROC curves overlaid, the score scatter (a density for many requests) and the requests the
two versions decide differently.

The pair is the selected model's champion and challenger (the spec's aliases), whatever
version of it is selected. Runs
:func:`~watchkeeper.core.workbench.challenger.run_challenger` on the TaskRunner (key
``"challenger"``); the widgets only draw the :class:`ChallengerView` it returns.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.analysis_process import ChildWork, suits_child
from watchkeeper.app.panels.common import (
    BusyLine,
    DeferredPanel,
    MessageBanner,
    PanelTask,
    StagedDraws,
    missing_part,
)
from watchkeeper.app.panels.slices import FrameTableModel, _table_view, _titled
from watchkeeper.app.panels.slices_state import ChallengerState
from watchkeeper.app.theme import badge, tint
from watchkeeper.app.workers import PartialResults, TaskRunner
from watchkeeper.core.workbench.challenger import (
    DISAGREEMENT_ROWS,
    ChallengerView,
    challenger_of,
    run_challenger,
)
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.widgets.dataframe_model import fit_columns_to_text
from watchkeeper.widgets.roc_overlay import CHALLENGER, CHAMPION, RocOverlayWidget
from watchkeeper.widgets.score_scatter import ScoreScatterWidget

__all__ = ["ChallengerPanel", "GateTableModel", "make_challenger_panel"]


def make_challenger_panel(
    runner: TaskRunner, cache: dict[tuple[str, ...], Any] | None = None
) -> ChallengerPanel:
    """The Champion-vs-challenger tab for the main window (shares its runner and cache)."""
    return ChallengerPanel(runner, cache)


class GateTableModel(FrameTableModel):
    """The gate checklist: the ``result`` column green PASS / red FAIL, rows tinted."""

    _passed: list[bool] | None = None  # per frame row; None: no result column

    def set_frame(self, frame: pd.DataFrame) -> None:
        self._passed = (
            [v == "PASS" for v in frame["result"].tolist()] if "result" in frame.columns else None
        )
        super().set_frame(frame)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            if self._passed is None:
                return None
            passed = self._passed[self.source_row(index.row())]
            # The row's tint and text follow the theme (asked per paint, so a switch shows);
            # the palette's own text colour would vanish on a light tint in the dark theme.
            t = tint("ok" if passed else "error")
            back = role == Qt.ItemDataRole.BackgroundRole
            return _brush(t.background if back else t.text)
        if role == Qt.ItemDataRole.FontRole:
            return None
        return super().data(index, role)

    def outcome(self, criterion_id: str) -> str | None:
        """``PASS``/``FAIL`` of the criterion ``type:target`` as the table shows it."""
        f = self.frame
        for view_row in range(self.rowCount()):
            row = f.iloc[self.source_row(view_row)]
            if f"{row['type']}:{row['target']}" == criterion_id:
                return str(row["result"])
        return None


@functools.cache
def _brush(colour: str) -> QBrush:
    """One brush per colour, made once (a table asks for every cell's at every paint)."""
    return QBrush(QColor(colour))


class ChallengerPanel(DeferredPanel):
    """The selected model's challenger against its champion, and the gate's verdict."""

    result_ready = Signal(object)  # ChallengerView, after it is drawn

    def __init__(
        self,
        runner: TaskRunner,
        cache: dict[tuple[str, ...], Any] | None = None,
        parent: QWidget | None = None,
        *,
        n_boot: int = 500,
    ) -> None:
        super().__init__(parent)
        self.state = ChallengerState()
        self.cache = cache if cache is not None else {}
        self.n_boot = n_boot
        self._entry: ModelEntry | None = None

        self.heading = QLabel("<b>Champion vs challenger</b>")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.verdict = QLabel()
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Run the comparison and the gate again")
        bar = QHBoxLayout()
        bar.addWidget(self.verdict)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        self.busy = BusyLine()
        # its line kept while hidden: showing it at every analysis's start and hiding it at
        # its end would lay the plots and tables out (and draw them) twice more each time
        keep = self.busy.sizePolicy()
        keep.setRetainSizeWhenHidden(True)
        self.busy.setSizePolicy(keep)
        self.banner = MessageBanner()

        self.gate_model = GateTableModel()
        self.gate_table = _table_view(self.gate_model)
        self.deltas_model = FrameTableModel()
        self.deltas_table = _table_view(self.deltas_model)
        self.disagree_model = FrameTableModel()
        self.disagree_table = _table_view(self.disagree_model)
        self.roc = RocOverlayWidget()
        self.scatter = ScoreScatterWidget()
        gate_box, self.gate_title = _titled("<b>Gate checklist</b>", self.gate_table)
        deltas_box, self.deltas_title = _titled("<b>Metric differences</b>", self.deltas_table)
        disagree_box, self.disagree_title = _titled(
            "<b>Requests they decide differently</b>", self.disagree_table
        )
        roc_box, self.roc_title = _titled("<b>ROC curves</b>", self.roc)
        scatter_box, self.scatter_title = _titled(
            "<b>Scores of the same requests</b>", self.scatter
        )
        self.left = QSplitter(Qt.Orientation.Vertical)
        self.left.setObjectName("challenger_left_splitter")
        for w in (gate_box, deltas_box, disagree_box):
            self.left.addWidget(w)
        self.left.setSizes([170, 170, 480])
        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.setObjectName("challenger_right_splitter")
        self.right.addWidget(roc_box)
        self.right.addWidget(scatter_box)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("challenger_splitter")
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.right)
        self.splitter.setSizes([720, 560])
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(bar)
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.summary)
        # takes the room when there is nothing to compare (the plots and tables hidden)
        layout.addStretch(0)
        self._layout = layout

        self.task = PanelTask(runner, "challenger", self.state, self.busy)
        self.partial = PartialResults(self._on_partial, self)
        self._drawn: ChallengerView | None = None
        self.draws = StagedDraws(self)  # the plots, a turn of the loop after the tables
        self.state.subscribe(self._on_state_changed)
        self.refresh_button.clicked.connect(lambda: self.analyse(force=True))
        self._on_state_changed(frozenset({"result", "status"}))

    # -- intent ----------------------------------------------------------------------------

    def set_selection(self, entry: ModelEntry | None, version: str | None) -> None:
        """Follow the portfolio's selection: compare that model's challenger and champion."""
        self._entry = entry
        champion = entry.champion if entry is not None else None
        if entry is None or version is None or champion is None:
            self.partial.drop()
            self.task.cancel()
            self.state.set(model=None, champion=None, challenger=None, result=None, status="idle")
            return
        challenger = challenger_of(entry, champion)
        pair = (entry.name, champion, challenger)
        if pair != (self.state.model, self.state.champion, self.state.challenger):
            self.state.set(model=entry.name, champion=champion, challenger=challenger, result=None)
        if challenger is None:
            self.partial.drop()
            self.task.cancel()
            self.state.set(status="idle", error=None)
            return
        self.run_when_shown(self.analyse)

    def analyse(self, force: bool = False) -> None:
        entry, s = self._entry, self.state
        if entry is None or s.champion is None or s.challenger is None:
            return
        champion, challenger = s.champion, s.challenger
        key = ("challenger", entry.name, champion, challenger)
        if not force and key in self.cache:
            self._on_result(key, self.cache[key])
            return
        n_boot = self.n_boot
        send = self.partial.new_request()

        def work(progress, cancelled):
            return run_challenger(
                entry, champion, challenger, progress, cancelled, n_boot=n_boot, on_partial=send
            )

        label = f"Gate of {entry.name} v{challenger} vs v{champion}"
        if suits_child(entry):
            # the gate's primary metric comes back first through the runner, which drops it
            # once a newer request replaced this one
            self.partial.drop()
            child = ChildWork(
                run_challenger,
                (entry, champion, challenger),
                {"n_boot": n_boot},
                partial_keyword="on_partial",
            )
            self.task.start(
                child, label, lambda result: self._on_result(key, result), self._on_partial
            )
            return
        self.task.start(work, label, lambda result: self._on_result(key, result))

    def _on_result(self, key: tuple[str, ...], view: ChallengerView) -> None:
        self.partial.drop()
        self.cache[key] = view
        self.state.set(result=view, status="ready", error=None)
        self.result_ready.emit(view)

    def _on_partial(self, view: ChallengerView) -> None:
        """The gate on its primary metric, drawn while the other metrics' intervals run."""
        s = self.state
        if (view.model, view.champion, view.challenger) == (s.model, s.champion, s.challenger):
            self.state.set(result=view)

    # -- drawing ---------------------------------------------------------------------------

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if "result" in changed:
            self._draw(s.result)
        if changed & {"status", "error", "model", "champion", "challenger", "result"}:
            self._show_heading()
            # empty checklists and plots of nothing (a diagonal, a legend of two curves not
            # drawn) under "has no challenger" said nothing: shown once there is a result
            # or one is being made
            shown = s.result is not None or (
                s.status == "running" and s.model is not None and s.challenger is not None
            )
            self.splitter.setVisible(shown)
            self._layout.setStretch(self._layout.count() - 1, 0 if shown else 1)
            if s.status == "failed" and missing_part(s.error):
                self.banner.show_message(f"<b>No comparison to show.</b> {s.error}", "info")
            elif s.status == "failed":
                self.banner.show_message(
                    f"<b>The comparison failed.</b> {s.error}<br>"
                    "Check that the challenger scored requests in shadow (same request ids "
                    "as the champion), then press Refresh."
                )
            elif s.status == "cancelled" and s.result is None:
                self.banner.show_message(
                    "The comparison was cancelled. Press Refresh to run it again.", "info"
                )
            elif s.model is None:
                self.banner.show_message(
                    "Select a model in the portfolio to compare its challenger with its champion.",
                    "info",
                )
            elif s.challenger is None:
                self.banner.show_message(self._no_challenger_text(), "info")
            else:
                self.banner.clear_message()

    def _no_challenger_text(self) -> str:
        """Why there is no challenger, in the terms of where the roles come from."""
        s = self.state
        spec = self._entry.spec if self._entry is not None else None
        if spec is not None and spec.model.registry_uri is None:
            # the roles were taken from the telemetry (portfolio.load_portfolio)
            return (
                f"<b>{s.model}</b> has no challenger: without a registry, the challenger is "
                f"a version newer than the champion (v{s.champion}) that scored the same "
                "requests after it, and the telemetry has none. Let a new version score in "
                "shadow, or name a registry in the spec ([model] registry_uri) and give a "
                "version the challenger alias; its comparison appears here."
            )
        return (
            f"<b>{s.model}</b> has no challenger: no version carries the challenger alias. "
            "Register a version, give it the alias and let it score in shadow; its "
            "comparison appears here."
        )

    def _show_heading(self) -> None:
        s, v = self.state, self.state.result
        if s.model is None:
            self.heading.setText("<b>Champion vs challenger</b>")
            self.verdict.setText("")
            return
        text = f"<b>{s.model}</b> · champion v{s.champion}"
        if s.challenger is not None:
            text += f" vs challenger v{s.challenger}"
        if v is not None:
            start, end = v.gate.window
            c = v.comparison
            text += (
                f" · shadow {start:%Y-%m-%d} to {end:%Y-%m-%d} · {c.pairs:,} paired requests, "
                f"{c.labeled:,} labeled"
            )
        self.heading.setText(text)
        if v is None:
            self.verdict.setText("")
            return
        failed = len(v.gate.failed)
        if v.gate.passed:
            verdict = f"{badge('<b>Gate: PASS</b>', 'ok')} all {len(v.gate.criteria)} criteria met"
        else:
            verdict = (
                f"{badge('<b>Gate: FAIL</b>', 'error')} {failed} of {len(v.gate.criteria)} "
                "criteria not met: " + ", ".join(c.id for c in v.gate.failed)
            )
        self.verdict.setText(verdict)

    def _draw(self, v: ChallengerView | None) -> None:
        if v is None:
            self._drawn = None
            self.draws.cancel()
            for model in (self.gate_model, self.deltas_model, self.disagree_model):
                model.set_frame(pd.DataFrame())
            self.roc.set_curves(None, None)
            self.scatter.set_data(None, None)
            self.summary.setText("")
            return
        # The complete view after the first answer shares its plots' data: redraw the tables
        before, self._drawn = self._drawn, v
        # (equal, not only the same object: from the analysis process each answer arrives
        # as its own copy, and redrawing the plots and disagreements took ~100 ms)
        same_plots = before is not None and (
            before.score_a is v.score_a
            or (
                (before.model, before.champion, before.challenger)
                == (v.model, v.champion, v.challenger)
                and np.array_equal(before.score_a, v.score_a, equal_nan=True)
            )
        )
        self.gate_model.set_frame(v.gate_frame())
        self.deltas_model.set_frame(v.deltas_frame())
        tables = [self.gate_table, self.deltas_table]
        if not same_plots:
            self.disagree_model.set_frame(v.disagreements)
            tables.append(self.disagree_table)
        for table in tables:
            fit_columns_to_text(table, DISAGREEMENT_ROWS)
        c = v.comparison
        conf = f"{c.confidence:.0%}"
        how = "paired bootstrap" if v.classes else "DeLong for ROC AUC, paired bootstrap otherwise"
        self.deltas_title.setText(
            f"<b>Metric differences</b> (challenger − champion, {conf} intervals; {how})"
            + ("" if v.complete else " · <i>the other metrics: computing their intervals…</i>")
        )
        if same_plots:
            return  # an early answer's plots still to come draw the newest answer's
        # the plots in a turn of the event loop of their own: tables, plots and their first
        # paints in one went over 100 ms on a busy machine (the stall probe)
        self.draws.schedule("plots", self._draw_shown_plots)

    def _draw_shown_plots(self) -> None:
        if self._drawn is not None:
            self._draw_plots(self._drawn)

    def drawing(self) -> bool:
        """Whether the plots of the answer shown are still to be drawn (tests wait on it)."""
        return self.draws.pending()

    def _draw_plots(self, v: ChallengerView) -> None:
        c = v.comparison
        share = f"{v.disagreeing:,} of {v.pairs:,} ({v.disagreeing / max(v.pairs, 1):.1%})"
        shown_rows = min(DISAGREEMENT_ROWS, v.disagreeing)
        if v.classes:
            self.disagree_title.setText(
                f"<b>Requests they predict a different class for</b>: {share}; the "
                f"{shown_rows} where both are surest of their own class"
            )
        else:
            self.disagree_title.setText(
                f"<b>Requests they decide differently</b> at threshold {c.threshold:g}: "
                f"{share}; the {shown_rows} with the largest score difference"
            )
        if v.classes:  # the legend gives the drawn curves' area, micro-averaged
            label_a, label_b = (_micro_auc(a) for a in v.curve_auc)
        else:
            label_a, label_b = _auc(c.champion.get("roc_auc")), _auc(c.challenger.get("roc_auc"))
        self.roc.set_curves(
            v.roc_champion,
            v.roc_challenger,
            champion_label=f"champion v{v.champion}" + label_a,
            challenger_label=f"challenger v{v.challenger}" + label_b,
        )
        curves = "ROC curves, one-vs-rest (micro-averaged)" if v.classes else "ROC curves"
        self.roc_title.setText(
            f"<b>{curves}</b> on {c.labeled:,} labeled requests · "
            f"<span style='color:rgb{CHAMPION}'>champion</span> · "
            f"<span style='color:rgb{CHALLENGER}'>challenger</span> · dashed: chance"
        )
        what = "probability of the true class" if v.classes else "score"
        for side, text in (("bottom", f"champion {what}"), ("left", f"challenger {what}")):
            axis = self.scatter.plot.getAxis(side)
            if axis.labelText != text:  # a label set again lays its axis out again
                axis.setLabel(text)
        self.scatter.set_data(
            v.score_a,
            v.score_b,
            density=v.density,
            extent=v.extent,
            threshold=None if v.classes else c.threshold,
        )
        shown = "density of pairs (log scale)" if v.density is not None else "one dot per request"
        if v.classes:
            self.scatter_title.setText(
                f"<b>Probability of the true class</b> · {shown} · labeled requests · above "
                "the diagonal: the challenger is surer of the right class"
            )
        else:
            self.scatter_title.setText(
                f"<b>Scores of the same requests</b> · {shown} · dotted: threshold "
                f"{c.threshold:g} · off-diagonal quadrants: decided differently"
            )
        parts = []
        if c.agreement is not None:
            agree = "Predicted classes agree" if v.classes else "Decisions agree"
            parts.append(f"{agree} on {c.agreement:.1%} of requests")
        if c.pearson is not None and c.spearman is not None:
            parts.append(f"score correlation Pearson {c.pearson:.3f}, Spearman {c.spearman:.3f}")
        m = c.mcnemar
        if m.p_value is not None:
            parts.append(
                f"McNemar{' on correctness' if v.classes else ''}: only the champion right on "
                f"{m.champion_only:,}, only the "
                f"challenger on {m.challenger_only:,} ({p_text(m.p_value)})"
            )
        self.summary.setText("; ".join(parts) + ".")


def p_text(p: float) -> str:
    """``p = 0.0123``; an exact p-value below what a double holds (thousands of discordant
    pairs, all one way) underflows to 0, which is not what it is."""
    return f"p = {p:.3g}" if p > 0 else "p < 1e-300"


def _auc(est: Any) -> str:
    return "" if est is None or est.value is None else f" (AUC {est.value:.3f})"


def _micro_auc(value: float | None) -> str:
    return "" if value is None else f" (micro AUC {value:.3f})"
