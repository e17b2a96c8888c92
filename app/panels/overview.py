"""The Overview: what the workspace holds and which models need attention, at a glance.

It reads the portfolio panel's state (models, versions, roles, events, health) and draws
three tables: the models with their health, the alerts with why, and — for the demo — the
planted events, so a newcomer can check what the views find against what was planted.
No analysis of its own: the health comes from the portfolio's sweep. On an offline bundle
the third table lists what the bundle holds (range, sampling, registry snapshot, records,
outbox) instead of the demo's planted events.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.portfolio import HEALTH_COLOURS, health_icon
from watchkeeper.app.panels.state import PortfolioState

__all__ = ["OverviewPanel"]


class OverviewPanel(QWidget):
    """Models, health, alerts and label coverage; the demo's planted events."""

    def __init__(
        self, portfolio: PortfolioState, workspace: Path | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.portfolio = portfolio
        self.workspace = workspace
        self.heading = QLabel()
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.models_table = _table(["Model", "Version", "Role", "Events", "Task", "Health"])
        self.alerts_table = _table(
            ["Model", "Health", "Latest window", "Why", "Labeled (last 7 windows)"]
        )
        # the reasons are sentences: the Why column takes the width that is left and wraps,
        # so a long reason never pushes the coverage column out of view
        header = self.alerts_table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.alerts_table.setWordWrap(True)
        header.sectionResized.connect(self._on_alerts_section_resized)
        self.events_table = _table(["Model", "Planted event", "From", "Detail"])
        self.models_title = QLabel("<b>Models in this workspace</b>")
        self.events_title = QLabel("<b>Planted events (demo truth)</b>")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("overview_splitter")
        self.splitter.addWidget(_titled("Health and alerts", self.alerts_table))
        self.splitter.addWidget(_titled(self.models_title, self.models_table))
        # the demo's planted events (or a bundle's contents): hidden on any other workspace
        self.events_box = _titled(self.events_title, self.events_table)
        self.splitter.addWidget(self.events_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.splitter, 1)
        portfolio.subscribe(self._on_portfolio_changed)
        self._fill()

    def _on_alerts_section_resized(self, *_args: object) -> None:
        self.alerts_table.resizeRowsToContents()  # the wrapped reasons follow the width

    def set_workspace(self, workspace: Path | None) -> None:
        """Show another source (a workspace folder or a bundle file) once it is read."""
        self.workspace = workspace
        self._fill()

    def _on_portfolio_changed(self, changed: frozenset[str]) -> None:
        if changed & {"portfolio", "health", "status"}:
            self._fill()

    def _fill(self) -> None:
        ws = self.workspace
        state = self.portfolio
        self.events_box.setVisible(False)  # until there is something to list
        if ws is None:
            self.heading.setText(
                "<h2>No workspace open</h2>Start with <tt>watchkeeper demo</tt>, or open a "
                "folder with <tt>watchkeeper --workspace DIR</tt>."
            )
            return
        p = state.portfolio
        if p is None:
            text = "reading…" if state.status == "running" else (state.error or "")
            what = "Bundle" if ws.is_file() else "Workspace"
            self.heading.setText(f"<h2>{what} {escape(ws.name)}</h2>{escape(text)}")
            if not ws.is_file():
                self.models_title.setText("<b>Models in this workspace</b>")
            return
        bundle = p.kind == "bundle"
        self.models_title.setText(
            "<b>Models in this bundle</b>" if bundle else "<b>Models in this workspace</b>"
        )
        self.events_title.setText(
            "<b>What the bundle holds</b>" if bundle else "<b>Planted events (demo truth)</b>"
        )
        self.events_table.setHorizontalHeaderLabels(
            ["Part", "What", "Range", "Detail"]
            if bundle
            else ["Model", "Planted event", "From", "Detail"]
        )
        manifest = p.manifest
        if bundle:
            m = manifest or {}
            r = m.get("range", {})
            self.heading.setText(
                f"<h2>Frozen bundle {escape(ws.name)}</h2>"
                f"{escape(str(m.get('model', '')))} · telemetry from {_when(r.get('start'))} "
                f"to {_when(r.get('end'))} · as of {_when(m.get('as_of'))} · "
                f"roles from the {p.aliases_from}"
            )
        elif manifest is None:
            count = f"{len(p.models)} model{'s' if len(p.models) != 1 else ''}"
            self.heading.setText(
                f"<h2>Workspace {escape(ws.name)}</h2>{count} from <tt>specs/*.toml</tt> · "
                + escape(ROLES_FROM.get(p.aliases_from, f"roles from the {p.aliases_from}"))
            )
        else:
            self.heading.setText(
                f"<h2>Workspace {ws.name}</h2>"
                f"{len(p.models)} models · telemetry from {manifest.get('start', '?')} "
                f"to {manifest.get('as_of', '?')} · recipe {manifest.get('recipe_version')} · "
                f"roles from the {p.aliases_from}"
            )
        rows = []
        for m in p.models:
            h = state.health.get(m.name)
            for v in m.versions:
                health = ""
                if h is not None and h.version == v.version:
                    health = "error" if h.error is not None else h.state
                rows.append((m.name, v.version, v.role, v.rows or "", m.task, health))
        _set_rows(self.models_table, rows)
        for r, row in enumerate(rows):
            if row[5]:
                self.models_table.item(r, 5).setIcon(health_icon(row[5]))
        alerts = []
        for m in p.models:
            h = state.health.get(m.name)
            if h is None and m.spec_error:
                alerts.append((m.name, "error", "", m.spec_error, ""))
                continue
            if h is None:
                alerts.append((m.name, "unknown", "", "not judged yet", ""))
                continue
            if h.error is not None:
                alerts.append((m.name, "error", "", h.error, ""))
                continue
            cov = "" if h.label_coverage is None else f"{h.label_coverage:.0%}"
            when = f"{h.window_start:%Y-%m-%d}" if h.window_start else ""
            alerts.append((m.name, h.state, when, "; ".join(h.reasons) or "nothing to report", cov))
        order = {"error": 0, "alert": 1, "watch": 2, "unknown": 3, "insufficient": 4, "ok": 5}
        alerts.sort(key=lambda a: order.get(a[1], 5))
        _set_rows(self.alerts_table, alerts)
        self.alerts_table.resizeRowsToContents()
        for r, row in enumerate(alerts):
            item = self.alerts_table.item(r, 1)
            item.setIcon(health_icon(row[1]))
            self.alerts_table.item(r, 3).setToolTip(row[3])
            if row[1] in ("alert", "watch"):
                item.setForeground(QBrush(QColor(HEALTH_COLOURS[row[1]]).darker(130)))
        if bundle:
            events = bundle_contents(manifest or {})
        else:
            events = [
                (
                    e.get("model", ""),
                    str(e.get("kind", "")).replace("_", " "),
                    _day_label(e),
                    e.get("description", ""),
                )
                for e in (manifest or {}).get("events", [])
            ]
        _set_rows(self.events_table, events)
        self.events_box.setVisible(bundle or bool(events))


#: How the heading names where a workspace's versions and roles come from.
ROLES_FROM = {
    "registry": "versions and roles from the MLflow registry",
    "telemetry": "no registry: versions from the telemetry, champion and challenger taken "
    "from the data (a registry would name them)",
    "none": "no registry and no versions in the telemetry",
}


def bundle_contents(manifest: dict) -> list[tuple[str, str, str, str]]:
    """What a bundle's manifest says it holds, one row per part."""
    r = manifest.get("range", {})
    span = f"{_when(r.get('start'))} to {_when(r.get('end'))}"
    t = manifest.get("telemetry", {})
    sampling = t.get("sampling", {})
    how = "all events in range"
    if sampling.get("method") not in (None, "all"):
        how = (
            f"stratified sample of {sampling.get('rows_in_range', 0):,} "
            f"(seed {sampling.get('seed')})"
        )
    versions = ", ".join(manifest.get("versions", []))
    rows = [("telemetry", f"{t.get('rows', 0):,} events", span, f"versions {versions}; {how}")]
    for p in manifest.get("profiles", []):
        rows.append(("reference profile", f"version {p.get('version')}", "", p.get("source", "")))
    for note in manifest.get("profile_notes", []):
        rows.append(("reference profile", "not bundled", "", note))
    reg = manifest.get("registry", {})
    rows.append(
        (
            "registry snapshot",
            "included" if reg.get("included") else "not included",
            "",
            manifest.get("registry_reason") or (reg.get("uri") or ""),
        )
    )
    gov = manifest.get("governance", {})
    rows.append(
        (
            "governance records",
            "included" if not gov.get("reason") else "not included",
            "",
            gov.get("reason") or (gov.get("database") or ""),
        )
    )
    ex = manifest.get("exporter", {})
    rows.append(
        (
            "signature",
            "valid",
            f"as of {_when(manifest.get('as_of'))}",
            f"exported by {ex.get('identity')}, key {str(ex.get('key_id'))[:23]}…",
        )
    )
    return rows


def _when(value: str | None) -> str:
    """An ISO time from a manifest as a short UTC label ('2026-03-28 00:00 UTC')."""
    if not value:
        return "the open end"
    text = str(value).replace("T", " ").replace("Z", "")
    return f"{text[:16]} UTC"


def _day_label(event: dict) -> str:
    start = str(event.get("start") or "")[:10]
    day = event.get("start_day")
    return f"{start} (day {day})" if day is not None else start


def _table(headers: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _titled(title: str | QLabel, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(title if isinstance(title, QLabel) else QLabel(f"<b>{title}</b>"))
    layout.addWidget(widget)
    return box


def _set_rows(table: QTableWidget, rows: Sequence[tuple]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = f"{value:,}" if isinstance(value, int) else str(value)
            item = QTableWidgetItem(text)
            if isinstance(value, int):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
