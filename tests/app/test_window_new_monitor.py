"""File > New monitor…: the wizard on tables nobody on the team wrote, driven offscreen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QWizard

from watchkeeper.app.dialogs.new_monitor import ColumnsTableModel, NewMonitorWizard
from watchkeeper.app.main_window import MainWindow
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.spec import load_spec
from watchkeeper.widgets.reference_picker import epoch_seconds

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 1)


def scored_log(n: int = 16_000, days: int = 40, seed: int = 7) -> pa.Table:
    """A binary model's log with odd names: no version, no label time; income drifts late."""
    rng = np.random.default_rng(seed)
    secs = np.sort(rng.integers(0, days * 86400, n))
    income = rng.lognormal(10, 0.5, n) * np.where(secs > (days - 12) * 86400, 1.8, 1.0)
    score = 1 / (1 + np.exp(-(np.log(income) - 10) * 2))
    return pa.table(
        {
            "When (UTC)": pa.array(
                [T0 + dt.timedelta(seconds=int(s)) for s in secs], pa.timestamp("us")
            ),
            "Income €": income,
            "Seg-ment": rng.choice(["a", "b", "c"], n),
            "n items": rng.integers(0, 40, n),
            "pScore": score,
            "Actual_Outcome": (rng.random(n) < score).astype(np.int64),
        }
    )


@pytest.fixture(scope="module")
def parquet_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("new-monitor") / "scored log.parquet"
    pq.write_table(scored_log(), path)
    return path


@pytest.fixture(scope="module")
def duckdb_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A DuckDB file with the log (plus an id and a 'deploy_tag' nobody would call a
    version), the log as it is (no id, no version: "Plain Events") and an empty table."""
    import duckdb

    path = tmp_path_factory.mktemp("new-monitor-db") / "scores.duckdb"
    t = scored_log(seed=8)
    t = t.append_column("TxnID", pa.array([f"t{i:06d}" for i in range(t.num_rows)]))
    t = t.append_column("deploy_tag", pa.array(["2025.06"] * t.num_rows))
    with duckdb.connect(str(path)) as conn:
        conn.register("t", t)
        conn.execute('CREATE TABLE "Scored Events" AS SELECT * FROM t')
        conn.execute('CREATE TABLE "empty" AS SELECT * FROM t LIMIT 0')
        conn.execute('CREATE TABLE "Plain Events" AS SELECT * EXCLUDE (TxnID, deploy_tag) FROM t')
    return f"duckdb:///{path}", "Scored Events"


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def open_wizard(qtbot: Any, runner: TaskRunner, workspace: Path | None = None) -> NewMonitorWizard:
    wizard = NewMonitorWizard(runner, workspace)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def read(qtbot: Any, wizard: NewMonitorWizard, location: str, table: str = "") -> None:
    """Type the source, press Next, wait until the columns are guessed and planned."""
    wizard.source_page.location.setText(location)
    wizard.source_page.table.setText(table)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.columns_page, timeout=60_000)
    qtbot.waitUntil(lambda: not wizard.columns_page.running, timeout=60_000)


def roles(wizard: NewMonitorWizard) -> dict[str, str]:
    model = wizard.columns_page.model
    return {
        model.index(r, 0).data(): model.index(r, ColumnsTableModel.ROLE).data()
        for r in range(model.rowCount())
    }


def edit_role(qtbot: Any, wizard: NewMonitorWizard, column: str, role: str) -> None:
    """Set a role through the table's model, as the combo delegate does, and wait."""
    model = wizard.columns_page.model
    row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == column)
    assert model.setData(model.index(row, ColumnsTableModel.ROLE), role)
    qtbot.waitUntil(lambda: not wizard.columns_page.running, timeout=60_000)


def finish(qtbot: Any, wizard: NewMonitorWizard, name: str, folder: Path) -> Any:
    page = wizard.preview_page
    qtbot.waitUntil(lambda: page.result is not None or page.banner.isVisible(), timeout=60_000)
    assert page.result is not None, page.banner.text()
    page.name.setText(name)
    page.folder.setText(str(folder))
    page.folder_given = True
    wizard.button(QWizard.WizardButton.FinishButton).click()
    qtbot.waitUntil(lambda: wizard.written is not None or page.banner.isVisible(), timeout=60_000)
    assert wizard.written is not None, page.banner.text()
    return wizard.written


def test_parquet_guesses_edits_reference_and_save(
    qtbot: Any, parquet_log: Path, tmp_path: Path
) -> None:
    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    read(qtbot, wizard, str(parquet_log))
    shown = roles(wizard)
    assert shown == {
        "When (UTC)": "ts",
        "Income €": "feature",
        "Seg-ment": "feature",
        "n items": "feature",
        "pScore": "score",
        "Actual_Outcome": "label",
    }
    page = wizard.columns_page
    assert "binary" in page.task_label.text()
    # the guesses' doubts are shown: no version, no id, no label time
    assert "no label arrival time" in page.warnings.text()
    assert wizard.plan is not None and page.isComplete()
    # a role changed in the table: the column becomes an extra, and says why
    edit_role(qtbot, wizard, "n items", "extra")
    assert roles(wizard)["n items"] == "extra"
    assert "in the wizard" in page.model.index(3, 5).data()
    page.set_kind("Income €", "categorical")
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)
    page.set_kind("Income €", "numerical")
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)

    wizard.next()
    ref = wizard.reference_page
    assert wizard.currentPage() is ref
    picker = ref.picker
    assert len(picker.counts) == 40 and picker.counts.sum() == 16_000
    start, end = picker.region_seconds()
    assert end == epoch_seconds(wizard.plan.proposal.reference_end)
    assert start == dt.datetime(2025, 6, 1, tzinfo=UTC).timestamp()  # the proposal
    # moving the region (what the end of a drag emits) re-plans the reference, in days
    picker.region.setRegion(
        (
            dt.datetime(2025, 6, 4, 9, tzinfo=UTC).timestamp(),
            dt.datetime(2025, 6, 13, 20, tzinfo=UTC).timestamp(),
        )
    )
    p = wizard.plan.proposal
    assert (p.reference_start, p.reference_end) == (dt.date(2025, 6, 4), dt.date(2025, 6, 14))
    assert picker.region_seconds()[1] == dt.datetime(2025, 6, 14, tzinfo=UTC).timestamp()
    assert "2025-06-04 to 2025-06-14" in ref.reference_label.text()
    assert "Drift window" in ref.window_label.text()

    wizard.next()
    written = finish(qtbot, wizard, "scored-log", tmp_path / "ws")
    assert "Income €" in wizard.preview_page.summary.text()  # drift in the latest windows
    spec = load_spec(written.spec)
    assert spec.model.name == "scored-log"
    assert "n items" in spec.telemetry.columns.extras
    assert "n items" not in spec.telemetry.columns.features
    assert (spec.reference.start, spec.reference.end) == (dt.date(2025, 6, 4), dt.date(2025, 6, 14))
    # no id and no version column: the file itself, as one version (no view in between)
    assert spec.telemetry.version == "1" and spec.telemetry.source.endswith("scored log.parquet")
    assert not wizard.isVisible()


def test_duckdb_table_without_version_or_id_saves(
    qtbot: Any, duckdb_log: tuple[str, str], tmp_path: Path
) -> None:
    """Issue 14's headline case: a table with no version (and no id) column is planned,
    previewed and saved as one version, the spec naming the table itself."""
    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    url, _ = duckdb_log
    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    read(qtbot, wizard, url, "Plain Events")
    shown = roles(wizard)
    assert shown["When (UTC)"] == "ts" and "model_version" not in shown.values()
    page = wizard.columns_page
    assert not page.banner.isVisible() and wizard.plan is not None and page.isComplete()
    assert wizard.plan.proposal.reference_version == "1"
    wizard.next()
    wizard.next()
    written = finish(qtbot, wizard, "plain", tmp_path / "ws")
    spec = load_spec(written.spec)
    assert spec.telemetry.source == f"{url}#Plain Events" and spec.telemetry.version == "1"
    assert sorted(p.name for p in written.workspace.iterdir()) == ["governance.db", "specs"]
    with open_spec_source(spec) as src:
        assert src.count(TelemetryQuery(versions=("1",))) == scored_log(seed=8).num_rows


def test_duckdb_table_with_a_version_named_in_the_table_saves(
    qtbot: Any, duckdb_log: tuple[str, str], tmp_path: Path
) -> None:
    url, table = duckdb_log
    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    read(qtbot, wizard, url, table)
    shown = roles(wizard)
    assert shown["TxnID"] == "request_id" and shown["When (UTC)"] == "ts"
    assert shown["deploy_tag"] != "model_version"
    page = wizard.columns_page
    assert wizard.plan is not None and page.isComplete()  # one version, "1"
    # naming a version column in the table plans the monitor on it
    edit_role(qtbot, wizard, "deploy_tag", "model_version")
    assert not page.banner.isVisible() and wizard.plan is not None and page.isComplete()
    assert wizard.plan.proposal.reference_version == "2025.06"
    wizard.next()
    wizard.next()
    written = finish(qtbot, wizard, "Scored Events", tmp_path / "ws")
    spec = load_spec(written.spec)
    assert spec.telemetry.columns.model_version == "deploy_tag"
    assert spec.telemetry.version is None
    assert spec.telemetry.source.endswith("#Scored Events")


@pytest.mark.parametrize(
    ("location", "table", "says"),
    [
        ("{tmp}/missing.parquet", "", "missing.parquet"),
        ("{db}", "empty", "no rows"),
        ("{db}", "nope", "nope"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "t", "127.0.0.1"),
    ],
)
def test_a_bad_source_is_explained_in_the_page(
    qtbot: Any,
    duckdb_log: tuple[str, str],
    tmp_path: Path,
    location: str,
    table: str,
    says: str,
) -> None:
    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    page = wizard.source_page
    page.location.setText(location.format(tmp=tmp_path, db=duckdb_log[0]))
    page.table.setText(table)
    wizard.next()
    qtbot.waitUntil(lambda: not page.running, timeout=60_000)
    assert page.banner.isVisible() and says in page.banner.text(), page.banner.text()
    assert "internal error" not in page.banner.text()
    assert wizard.isVisible() and wizard.currentPage() is page and page.isComplete()


def test_reading_the_sample_leaves_the_gui_thread_free(qtbot: Any, tmp_path: Path) -> None:
    # a CSV big enough that reading and guessing take a while
    import pyarrow.csv as pcsv

    path = tmp_path / "big.csv"
    pcsv.write_csv(scored_log(n=200_000, seed=9), path)
    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    page = wizard.source_page
    page.location.setText(str(path))
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    wizard.next()
    # next() returned at once: the page is busy, Next is off, the work is elsewhere
    assert page.running and page.busy.isVisibleTo(page) and not page.isComplete()
    assert wizard.currentPage() is page and runner.active() == ["new-monitor.sample"]
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.columns_page, timeout=60_000)
    timer.stop()
    assert len(ticks) >= 5  # the event loop kept turning while the sample was read


def test_file_new_monitor_adds_the_model_to_the_open_workspace(
    qtbot: Any, parquet_log: Path, tmp_path: Path, settings: QSettings
) -> None:
    ws = tmp_path / "team"
    (ws / "specs").mkdir(parents=True)
    window = MainWindow(ws, settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.show()
    assert window.new_monitor_action.shortcut().toString() == "Ctrl+N"
    wizard = window.new_monitor()
    read(qtbot, wizard, str(parquet_log))
    wizard.next()
    wizard.next()
    assert wizard.preview_page.folder.text() == str(ws)  # the open workspace by default
    finish(qtbot, wizard, "scored-log", ws)

    def listed() -> bool:
        p = window.portfolio.state.portfolio
        return p is not None and p.model("scored-log") is not None

    qtbot.waitUntil(listed, timeout=60_000)
    entry = window.portfolio.state.portfolio.model("scored-log")
    assert entry.spec is not None and entry.spec_error is None
    assert window.portfolio.model_item("scored-log") is not None


def test_the_role_cell_edits_through_its_combo_box(qtbot: Any, parquet_log: Path) -> None:
    from PySide6.QtWidgets import QComboBox

    runner = TaskRunner()
    wizard = open_wizard(qtbot, runner)
    read(qtbot, wizard, str(parquet_log))
    view = wizard.columns_page.view
    index = wizard.columns_page.model.index(2, ColumnsTableModel.ROLE)  # Seg-ment
    assert index.siblingAtColumn(0).data() == "Seg-ment"
    view.setCurrentIndex(index)
    view.edit(index)
    (combo,) = [w for w in view.viewport().findChildren(QComboBox) if w.isVisible()]
    assert combo.currentText() == "feature" and combo.findText("model_version") >= 0
    combo.setCurrentText("ignored")
    combo.activated.emit(combo.currentIndex())  # what choosing an item emits
    qtbot.waitUntil(lambda: not wizard.columns_page.running, timeout=60_000)
    assert roles(wizard)["Seg-ment"] == "ignored"
    assert wizard.overrides.ignore == ("Seg-ment",)
