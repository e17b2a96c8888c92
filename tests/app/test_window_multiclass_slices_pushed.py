"""The Slices view drawing a multiclass model's view counted in the database (no events
held): the slices table and chart on macro-F1 from confusion counts, the worst slices, ROC AUC
from rank sums, and the builder's live count."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from multiclass_shadow import write_shadow_workspace

from watchkeeper.app.panels.slices import make_slices_panel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench import analyses, slices_pushed
from watchkeeper.core.workbench.portfolio import portfolio_of_spec

SHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


def done(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


def test_the_panel_draws_a_multiclass_view_counted_in_the_database(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_shadow_workspace(tmp_path)
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.sql(f"CREATE TABLE events AS SELECT * FROM '{tmp_path / 'telemetry.parquet'}'")
    text = spec.read_text().replace('"../telemetry.parquet"', f'"duckdb:///{db}#events"')
    spec.write_text(text)
    (entry,) = [m for m in portfolio_of_spec(spec).models if m.name == "triage"]
    # the settings patched here are this process's: the analysis stays on its threads
    monkeypatch.setenv("WATCHKEEPER_CHILD", "0")
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    runner = TaskRunner()
    panel = make_slices_panel(runner, {})
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=60_000, check_params_cb=done("slices")):
        panel.set_selection(entry, "1")
    assert panel.state.status == "ready", panel.state.error
    view = panel.state.result
    assert view.table is None and view.multiclass
    assert slices_pushed.MULTICLASS_NOTE in view.notes
    frame = panel.slice_model.frame
    assert list(frame["slice"]) == ["overall", "branch", "web"]
    assert frame["macro_f1"].notna().all() and len(panel.worst_model.frame) > 0
    assert "predicted right" in panel.worst_model.frame.columns
    offered = [panel.metric_combo.itemData(i) for i in range(panel.metric_combo.count())]
    panel.metric_combo.setCurrentIndex(offered.index("roc_auc"))  # counted: shown
    shown = panel.slice_model.frame
    assert "roc_auc" in shown.columns and shown["roc_auc"].notna().all()
    panel.metric_combo.setCurrentIndex(0)
    panel.column_combo.setCurrentText("channel")
    panel.value_combo.setEditText("web")
    with qtbot.waitSignal(
        runner.task_finished, timeout=30_000, check_params_cb=done("slices-preview")
    ):
        panel.preview_condition()
    web = frame.loc[frame["slice"] == "web"].iloc[0]
    share = web["events"] / frame.loc[frame["slice"] == "overall"].iloc[0]["events"]
    assert panel.preview_label.text() == f"{int(web['events']):,} events ({share:.1%})"
    qtbot.wait(50)
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SHOTS / "slices-multiclass-counted-in-database.png"))
