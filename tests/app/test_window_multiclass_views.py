"""The real window on the demo's multiclass model ``risk-tier`` (classes low/medium/high, a
concept change and a class-prior shift planted; see manifest.json): Overview, Drift,
Performance and Governance each show a real answer for it, and none an error banner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from watchkeeper.app.main_window import MainWindow
from watchkeeper.core.times import parse_time

SHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
MODEL = "risk-tier"


def column(table, c: int) -> list[str]:
    return [table.item(r, c).text() for r in range(table.rowCount())]


@pytest.fixture
def window(qtbot, demo_workspace: Path, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(demo_workspace, settings=settings)
    qtbot.addWidget(window)
    window.resize(1500, 950)
    window.show()
    # the health sweep picks the model needing attention; select after it, not before
    qtbot.waitUntil(lambda: MODEL in window.portfolio.state.health, timeout=90_000)
    qtbot.waitUntil(lambda: "health" not in window.runner.active(), timeout=90_000)
    return window


def test_overview_drift_performance_governance_on_the_multiclass_model(
    qtbot, window: MainWindow, demo_workspace: Path
) -> None:
    window.portfolio.select(MODEL, "1")
    health = window.portfolio.state.health[MODEL]
    assert health.error is None and health.state in {"watch", "alert"}, health

    # Overview: its health light and the reasons, in the models and alerts tables
    window.tabs.setCurrentWidget(window.overview)
    models = list(zip(column(window.models_table, 0), column(window.models_table, 5), strict=True))
    assert (MODEL, health.state) in models
    alerts = window.overview.alerts_table
    (row,) = [r for r in range(alerts.rowCount()) if alerts.item(r, 0).text() == MODEL]
    assert alerts.item(row, 1).text() == health.state
    assert alerts.item(row, 3).text() == "; ".join(health.reasons)
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "overview-multiclass.png"))

    # Drift: the class probabilities, the predicted class and the label, drawn. The small
    # fixture (300 rows a day) says plainly its daily windows are too small (info, not an
    # error); a week, as the hint suggests, shows the prior shift from day 85.
    drift = window.drift
    window.tabs.setCurrentWidget(drift)
    qtbot.waitUntil(lambda: drift.state.status in ("ready", "failed"), timeout=60_000)
    assert drift.state.status == "ready", drift.state.error
    assert drift.banner.level == "info" and "min_rows" in drift.banner.text()
    drift._apply_window("7d")
    qtbot.waitUntil(lambda: drift.state.status in ("ready", "failed"), timeout=60_000)
    assert drift.state.status == "ready", drift.state.error
    assert (drift.state.model, drift.state.version) == (MODEL, "1")
    qtbot.waitUntil(lambda: not drift.drawing(), timeout=10_000)  # staged after the list
    result = drift.state.result
    rows = drift.heatmap.rows
    assert {"p_low", "p_medium", "p_high", "prediction", "label"} <= set(rows)
    assert rows.index("label") < len(rows) - 1  # drawn, before the multivariate row
    decisions = result.decisions()
    manifest = json.loads((demo_workspace / "manifest.json").read_text())
    (event,) = [e for e in manifest["events"] if e["id"] == f"{MODEL}-prior-shift"]
    onset = parse_time(event["start"])
    before = [i for i, w in enumerate(result.windows) if w.end <= onset]
    after = [i for i, w in enumerate(result.windows) if w.start >= onset]
    for name in ("p_high", "prediction", "label"):
        assert "drift" in [decisions[name][i] for i in after], name
        assert "drift" not in [decisions[name][i] for i in before], name
        assert len(drift.heatmap.row(name).values) == len(result.windows)
    assert not drift.banner.isVisible()
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "drift-multiclass.png"))

    # Performance: macro-F1 with its band, each class, and the confusion matrix
    perf = window.performance
    window.tabs.setCurrentWidget(perf)
    qtbot.waitUntil(lambda: perf.state.status in ("ready", "failed"), timeout=60_000)
    assert perf.state.status == "ready", perf.state.error
    view = perf.state.result
    assert view.metric == "macro_f1" and (perf.state.model, perf.state.version) == (MODEL, "1")
    assert perf.per_class.isVisible() and perf.per_class.matrix.image.image.shape == (3, 3)
    for name in ("low", "medium", "high"):
        assert name in perf.per_class.table.text()
    assert perf.banner.level != "error" or not perf.banner.isVisible()

    # Governance: its version and roles from the registry, and plainly no records yet
    gov = window.governance
    window.tabs.setCurrentWidget(gov)
    loaded = lambda: gov.state.view is not None or gov.state.status == "failed"  # noqa: E731
    qtbot.waitUntil(loaded, timeout=30_000)
    assert gov.state.status != "failed", gov.state.error
    heading = gov.heading.text()
    assert f"<b>{MODEL}</b> version 1" in heading and "champion v1" in heading
    assert "challenger none" in heading
    assert not gov.approve_button.isEnabled()  # no challenger to decide on
    records = (*gov.state.view.approvals, *gov.state.view.rollbacks)
    assert gov.records.decisions_model.rowCount() == len(records)
    if not records:
        text = gov.records.decision_detail.placeholderText()
        assert f"No decisions recorded for {MODEL} yet" in text
    assert not gov.banner.isVisible()
    qtbot.wait(50)
    window.grab().save(str(SHOTS / "governance-multiclass.png"))
