"""The window on a Spark-backed workspace: screenshots and the longest GUI stall.

    .venv/bin/python benchmarks/spark_window.py                  # starts its own Spark server
    .venv/bin/python benchmarks/spark_window.py --url hive://127.0.0.1:PORT/default

Builds the demo workspace (3,000 fraud events a day), copies its telemetry to Parquet, makes
that a Parquet-backed table on a Spark Thrift server (``tests/servers.py``: local[2],
loopback, stopped by its process group at the end) and points fraud-detector's spec at it
(``hive://…#table``). Then the main window opens offscreen on the workspace, fraud-detector
v1 is selected, and the Drift, Performance, Slices and Champion views are drawn and saved as
``resources/screenshots/spark-drift.png``, ``spark-performance.png``, ``spark-slices.png`` and
``spark-champion.png``. A ``QTimer`` ticking
every 5 ms on the GUI thread (``benchmarks/ui.py``'s ``StallMeter``) measures the longest
stall of the GUI thread while Spark works; an idle window is the baseline, same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHOTS = ROOT / "resources" / "screenshots"


def build(work: Path, server: Any) -> Path:
    import duckdb

    from watchkeeper.core.demo import ensure_workspace

    ws = ensure_workspace(work / "ws", events_per_day=3000).root
    data = work / "predictions"
    data.mkdir()
    with duckdb.connect(str(ws / "telemetry.duckdb"), read_only=True) as con:
        con.sql(f"COPY predictions TO '{data / 'part-0.parquet'}' (FORMAT parquet)")
        rows = con.execute("SELECT count(*) FROM predictions").fetchall()[0][0]
    table = f"demo_predictions_{os.getpid()}"
    location = server.table_from_parquet(table, data)
    spec = ws / "specs" / "fraud-detector.toml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(re.sub(r'source = "[^"]*"', f'source = "{location}"', text), "utf-8")
    print(f"demo telemetry: {rows:,} events as Parquet-backed Spark table {location}")
    return ws


class _Given:
    """A server already running (``--url``): only its URL and a table loader."""

    def __init__(self, url: str) -> None:
        self.url = url

    def table_from_parquet(self, name: str, folder: Path) -> str:
        from servers import SparkThriftServer

        return SparkThriftServer.table_from_parquet(self, name, folder)  # type: ignore[arg-type]

    def execute(self, *statements: str) -> None:
        from servers import SparkThriftServer

        SparkThriftServer.execute(self, *statements)  # type: ignore[arg-type]


def run(ws: Path) -> None:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from ui import StallMeter

    from watchkeeper.app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    meter = StallMeter(5)
    meter.start()

    def wait(condition: Any, timeout_s: float = 1200) -> None:
        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(20)

        def on_check() -> None:
            if condition():
                loop.quit()
            elif time.monotonic() > deadline:
                loop.exit(1)

        check.timeout.connect(on_check)
        check.start()
        code = 0 if condition() else loop.exec()
        check.stop()
        if code:
            raise SystemExit("timed out waiting for the window")

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        wait(lambda: time.monotonic() >= end)

    settings_dir = tempfile.mkdtemp(prefix="wk-spark-window-")
    settings = QSettings(str(Path(settings_dir) / "s.ini"), QSettings.Format.IniFormat)
    try:
        meter.reset()
        settle(2.0)
        idle = meter.max_gap
        # freeze_heap as the application itself opens its window (app/main.py)
        window = MainWindow(ws, settings=settings, check_health=False, freeze_heap=True)
        window.resize(1400, 1000)
        window.show()
        meter.reset()
        t = time.perf_counter()
        wait(lambda: window.portfolio.state.portfolio is not None)
        wait(lambda: not window.runner.active())
        opened, opened_gap = time.perf_counter() - t, meter.max_gap
        window.tabs.setCurrentWidget(window.drift)
        settle(0.3)
        meter.reset()
        t = time.perf_counter()
        window.portfolio.select("fraud-detector", "1")
        wait(lambda: not window.runner.active())
        selected, selected_gap, where = time.perf_counter() - t, meter.max_gap, meter.where()
        settle(1.0)
        SHOTS.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(SHOTS / "spark-drift.png"))
        window.tabs.setCurrentWidget(window.performance)
        meter.reset()
        t = time.perf_counter()
        settle(0.3)
        wait(lambda: not window.runner.active())
        perf, perf_gap = time.perf_counter() - t, meter.max_gap
        settle(1.0)
        window.grab().save(str(SHOTS / "spark-performance.png"))
        # the Slices and Champion views, counted and paired in Spark from the analysis process
        others = []
        for name, panel in (("slices", window.slices), ("champion", window.challenger)):
            window.tabs.setCurrentWidget(panel)
            meter.reset()
            t = time.perf_counter()
            settle(0.3)
            wait(lambda: not window.runner.active())
            state = panel.state
            status = f"{state.status}" + (f" ({state.error})" if state.error else "")
            others.append((name, time.perf_counter() - t, meter.max_gap, status))
            settle(1.0)
            window.grab().save(str(SHOTS / f"spark-{name}.png"))
        window.close()
    finally:
        meter.stop()
        shutil.rmtree(settings_dir, ignore_errors=True)
        QTimer.singleShot(0, app.quit)
    print(f"idle window (baseline): longest GUI stall {idle * 1000:.0f} ms")
    print(
        f"open the window (portfolio; drift and performance on Spark): {opened:.1f} s, "
        f"longest stall {opened_gap * 1000:.0f} ms"
    )
    print(
        f"select fraud-detector v1 (drift + performance on Spark): {selected:.1f} s, "
        f"longest stall {selected_gap * 1000:.0f} ms"
    )
    for line in where:
        print(f"    {line}")
    print(f"Performance tab: {perf:.1f} s, longest stall {perf_gap * 1000:.0f} ms")
    for name, took, gap, status in others:
        print(f"{name} tab: {took:.1f} s, {status}, longest stall {gap * 1000:.0f} ms")
    print(f"screenshots: {SHOTS}/spark-{{drift,performance,slices,champion}}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running Spark Thrift server (hive://host:port/default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wk-spark-window-") as tmp:
        if args.url:
            run(build(Path(tmp), _Given(args.url)))
            return
        from servers import SparkThriftServer

        server = SparkThriftServer()
        try:
            server.start()
            run(build(Path(tmp), server))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
