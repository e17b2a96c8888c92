"""Screenshots of File > New monitor…, one per page, on a generated prediction log.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/screenshots_new_monitor.py --out DIR

Writes a Parquet log with odd column names (no version, no request id, no label time,
drift planted in the last twelve days) to a temporary folder, drives the wizard through its
pages and saves ``QWidget.grab()`` of each as ``new-monitor-<page>.png``; the last one
before Save (nothing is written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", default="1000x700", help="wizard size, WxH")
    args = parser.parse_args(argv)

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.dialogs.new_monitor import NewMonitorWizard
    from watchkeeper.app.workers import TaskRunner

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    rng = np.random.default_rng(7)
    n, days = 30_000, 60
    secs = np.sort(rng.integers(0, days * 86400, n))
    # weekly rhythm: fewer events at weekends, as a real log has
    secs = secs[(rng.random(n) > 0.45) | (((secs // 86400) + 6) % 7 < 5)]
    n = len(secs)
    income = rng.lognormal(10, 0.5, n) * np.where(secs > (days - 12) * 86400, 1.8, 1.0)
    score = 1 / (1 + np.exp(-(np.log(income) - 10) * 2))
    t0 = dt.datetime(2025, 6, 2)
    table = pa.table(
        {
            "When (UTC)": pa.array(
                [t0 + dt.timedelta(seconds=int(s)) for s in secs], pa.timestamp("us")
            ),
            "reviewed_on": pa.array(
                [t0 + dt.timedelta(seconds=int(s), days=2) for s in secs], pa.timestamp("us")
            ),
            "Income €": income,
            "Seg-ment": rng.choice(["retail", "smb", "corporate"], n),
            "n items": rng.integers(0, 40, n),
            "latency_ms": rng.gamma(2, 10, n),
            "pScore": score,
            "Actual_Outcome": (rng.random(n) < score).astype(np.int64),
        }
    )
    folder = Path(tempfile.mkdtemp(prefix="wk-shots-"))
    pq.write_table(table, folder / "loan decisions.parquet")

    w, h = (int(x) for x in args.size.split("x"))
    wizard = NewMonitorWizard(TaskRunner(), None)
    wizard.resize(w, h)
    wizard.show()
    args.out.mkdir(parents=True, exist_ok=True)

    def settle(until: object, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not until():  # type: ignore[operator]
            app.processEvents()
            time.sleep(0.02)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)

    def shot(name: str) -> None:
        path = args.out / f"new-monitor-{name}.png"
        wizard.grab().save(str(path))
        print(path)

    wizard.source_page.location.setText(str(folder / "loan decisions.parquet"))
    settle(lambda: True)
    shot("source")
    wizard.next()
    settle(lambda: wizard.currentPage() is wizard.columns_page and not wizard.columns_page.running)
    shot("columns")
    wizard.next()
    settle(lambda: True)
    shot("reference")
    wizard.next()
    settle(lambda: wizard.preview_page.result is not None or wizard.preview_page.banner.isVisible())
    shot("preview")
    wizard.reject()
    return 0


if __name__ == "__main__":
    sys.exit(main())
