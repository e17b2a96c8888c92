"""Connecting to a Spark SQL warehouse from the window: the dialog against the real Thrift
server the tests start, what a wrong address says (with the window live meanwhile), the
password kept in the keyring only, and Cancel stopping the Spark job."""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

import duckdb
import pytest
from PySide6.QtCore import QTimer

from watchkeeper.app.dialogs.warehouse import LIST_KEY, WarehouseDialog
from watchkeeper.app.workers import TaskRunner, busy_workers
from watchkeeper.core.registry.profiles import ProfileStore
from watchkeeper.core.telemetry import warehouse
from watchkeeper.core.telemetry.sql import open_engine
from watchkeeper.core.telemetry.sql_cancel import cancellable

pytestmark = pytest.mark.usefixtures("plaintext_keyring")

# Runs far longer than a minute if nothing stops it (a cross join of two small ranges).
SLOW = (
    "SELECT count(*) FROM range(0, 300000) a CROSS JOIN range(0, 3000000) b WHERE a.id + b.id = 7"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture(scope="module")
def spark_table(spark, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("spark-dialog") / "events"
    folder.mkdir()
    duckdb.sql(
        "COPY (SELECT range AS id, range * 0.5 AS score FROM range(20)) "
        f"TO '{folder / 'part-0.parquet'}' (FORMAT parquet)"
    )
    name = f"dialog_events_{os.getpid()}"
    spark.table_from_parquet(name, folder)
    return name


def _fill(dialog: WarehouseDialog, port: int, database: str = "default") -> None:
    dialog.host.setText("127.0.0.1")
    dialog.port.setValue(port)
    dialog.database.setText(database)


def _connect(qtbot, runner: TaskRunner, dialog: WarehouseDialog) -> list[float]:
    """Connect and wait for the answer; the longest pause of a 20 ms GUI timer meanwhile."""
    ticks = [time.monotonic()]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    try:
        with qtbot.waitSignal(runner.task_finished, timeout=60_000):
            dialog.connect_now()
    finally:
        timer.stop()
    ticks.append(time.monotonic())
    return [b - a for a, b in itertools.pairwise(ticks)]


@pytest.mark.spark
def test_connect_lists_the_tables_and_a_chosen_one_is_the_source(
    qtbot, spark, spark_table: str
) -> None:
    runner = TaskRunner()
    profiles = ProfileStore()
    dialog = WarehouseDialog(runner, profiles=profiles)
    qtbot.addWidget(dialog)
    dialog.show()
    _fill(dialog, spark.port)
    # LDAP: the Thrift server of the tests takes any password over PLAIN SASL
    dialog.auth.setCurrentText("LDAP")
    assert dialog.password.isEnabled() and not dialog.kerberos.isEnabled()
    dialog.user.setText("analyst")
    dialog.password.setText("s3cret-pw")
    dialog.profile_name.setText("lake")
    dialog.remember.setChecked(True)  # consent, after the plain-text keyring was named
    assert "plain text" in dialog.keyring_label.text()
    _connect(qtbot, runner, dialog)
    names = [dialog.tables.item(i).text() for i in range(dialog.tables.count())]
    assert spark_table in names, dialog.banner.text()
    assert "Connected" in dialog.status.text()
    assert not dialog.use_button.isEnabled()
    dialog.tables.setCurrentRow(names.index(spark_table))
    assert dialog.use_button.isEnabled()
    dialog.accept()
    assert dialog.result() == WarehouseDialog.DialogCode.Accepted
    expected = f"hive://analyst@127.0.0.1:{spark.port}/default?auth=LDAP#{spark_table}"
    assert dialog.source == expected

    # the address in the profiles file, the password in the keyring only
    assert profiles.get("lake").telemetry_source == expected
    assert "s3cret-pw" not in profiles.path.read_text(encoding="utf-8")
    assert profiles.get_secret("lake", "telemetry-password") == "s3cret-pw"
    # and a spec naming that source reads it: the reader finds the password there
    url, table = expected.split("#")
    engine, _ = open_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM `{table}`").scalar() == 20
    finally:
        engine.dispose()

    # the profile comes back with its password from the keyring
    again = WarehouseDialog(runner, profiles=profiles)
    qtbot.addWidget(again)
    again.profile_combo.setCurrentIndex(again.profile_combo.findText("lake"))
    assert again.host.text() == "127.0.0.1" and again.port.value() == spark.port
    assert again.auth.currentText() == "LDAP" and again.user.text() == "analyst"
    assert again.password.text() == "s3cret-pw"
    again.show()
    _connect(qtbot, runner, again)
    again.tables.setCurrentRow(names.index(spark_table))
    assert again.source == expected
    again.resize(700, again.sizeHint().height())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert again.grab().save(str(SCREENSHOTS / "spark-connect.png"))


def test_a_refused_port_says_so_at_once(qtbot) -> None:
    from servers import free_port

    runner = TaskRunner()
    dialog = WarehouseDialog(runner, profiles=ProfileStore())
    qtbot.addWidget(dialog)
    _fill(dialog, free_port())
    t0 = time.monotonic()
    _connect(qtbot, runner, dialog)
    assert time.monotonic() - t0 < 5
    assert "no Spark/Hive server answers at 127.0.0.1" in dialog.banner.text()
    assert "Connection refused" in dialog.banner.text()
    assert dialog.tables.count() == 0 and not dialog.use_button.isEnabled()
    assert dialog.connect_button.isEnabled()  # ready to try again


def test_a_server_that_never_answers_times_out_and_the_window_stays_live(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warehouse, "CONNECT_TIMEOUT_S", 2.0)
    with socket.socket() as silent:  # accepts the TCP handshake (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        runner = TaskRunner()
        dialog = WarehouseDialog(runner, profiles=ProfileStore())
        qtbot.addWidget(dialog)
        dialog.show()
        _fill(dialog, silent.getsockname()[1])
        t0 = time.monotonic()
        gaps = _connect(qtbot, runner, dialog)
        waited = time.monotonic() - t0
    assert 1.5 < waited < 10, waited
    assert "did not open a session" in dialog.banner.text()
    assert max(gaps) < 0.5, f"the window froze for {max(gaps):.2f} s"


def test_invalid_fields_are_refused_before_connecting(qtbot) -> None:
    runner = TaskRunner()
    dialog = WarehouseDialog(runner, profiles=ProfileStore())
    qtbot.addWidget(dialog)
    dialog.connect_now()  # no host
    assert "needs a host" in dialog.banner.text()
    dialog.host.setText("spark.example")
    dialog.auth.setCurrentText("KERBEROS")
    dialog.connect_now()
    assert "service name" in dialog.banner.text()
    dialog.auth.setCurrentText("LDAP")
    dialog.connect_now()
    assert "LDAP needs the password" in dialog.banner.text()
    assert runner.active() == []


@pytest.mark.spark
def test_a_wrong_database_is_named(qtbot, spark) -> None:
    runner = TaskRunner()
    dialog = WarehouseDialog(runner, profiles=ProfileStore())
    qtbot.addWidget(dialog)
    _fill(dialog, spark.port, database="no_such_db")
    _connect(qtbot, runner, dialog)
    assert "the server has no database &#x27;no_such_db&#x27;" in dialog.banner.text()


@pytest.mark.spark
def test_cancel_in_the_window_cancels_the_spark_job_and_frees_the_connection(qtbot, spark) -> None:
    engine, _ = open_engine(spark.url)
    started = []

    def work(progress, cancelled):
        with engine.connect() as conn, cancellable(conn, cancelled):
            started.append(time.monotonic())
            conn.exec_driver_sql(SLOW).all()

    runner = TaskRunner()
    try:
        runner.run(LIST_KEY, work, label="slow", on_result=lambda _r: None)
        qtbot.waitUntil(lambda: bool(started), timeout=30_000)
        time.sleep(1.0)  # the job runs on the server
        t0 = time.monotonic()
        runner.cancel(LIST_KEY)
        qtbot.waitUntil(lambda: busy_workers() == 0, timeout=20_000)
        assert time.monotonic() - t0 < 15
        assert engine.pool.checkedout() == 0  # the connection went back to the pool
        with engine.connect() as conn:  # and the server answers at once
            t1 = time.monotonic()
            assert conn.exec_driver_sql("SELECT count(*) FROM range(10)").scalar() == 10
            # left running, the cross join would hold both task slots for minutes; 30 s
            # leaves room for a machine shared by other jobs
            assert time.monotonic() - t1 < 30
    finally:
        engine.dispose()
