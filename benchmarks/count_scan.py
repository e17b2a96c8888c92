"""Drift counts on DuckDB: the UNION ALL statement against the single scan, A/B in one run.

    .venv/bin/python benchmarks/count_scan.py --rows 2000000 --rounds 3

Builds ``benchmarks/drift.py``'s table (50 features, 90 daily windows) once, then alternates
the two forms of :func:`count_statement`, each in a fresh process (so peak RSS is its own):
``count_windows_sql`` over the whole table with a profile of a 100,000-row sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(path: str, form: str) -> dict:
    import sqlalchemy as sa
    from drift import _PeakRss

    from watchkeeper.core.drift import sql_counts
    from watchkeeper.core.drift.profile import build_profile
    from watchkeeper.core.telemetry.sql import reflect_table
    from watchkeeper.core.telemetry.windows import parse_window

    if form == "single":
        sql_counts.SINGLE_SCAN_USED.add("duckdb")
    else:
        sql_counts.SINGLE_SCAN_USED.discard("duckdb")
    engine = sa.create_engine(
        f"duckdb:///{path}",
        connect_args={"read_only": True, "config": {"memory_limit": "300MB", "threads": 2}},
    )
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        ref = raw.sql(
            "SELECT * EXCLUDE (ts) FROM events USING SAMPLE 100000 ROWS (reservoir, 7)"
        ).to_arrow_table()
        table = reflect_table(conn, "events")
        windows = sql_counts.plan_windows_sql(conn, table, parse_window("1d"), timestamp="ts")
    profile = build_profile(ref)
    del ref
    with _PeakRss() as peak, engine.connect() as conn:
        t = time.perf_counter()
        counts = sql_counts.count_windows_sql(conn, table, profile, windows, timestamp="ts")
        seconds = time.perf_counter() - t
    digest = [int(c.sum()) for c in counts.counts] + [int((c * c).sum()) for c in counts.counts]
    return {"s": seconds, "rss_mb": peak.peak / 1e6, "check": hash(tuple(digest))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--file")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(*a.child)))
        return
    from drift import build_duckdb

    path = a.file
    if path is None or not Path(path).exists():
        path = path or str(Path(tempfile.mkdtemp()) / "events.duckdb")
        build_duckdb(Path(path), a.rows)
    runs: dict[str, list[dict]] = {"union": [], "single": []}
    for _ in range(a.rounds):
        for form in ("union", "single"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", path, form],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[form].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for form, rs in runs.items():
        each = ", ".join(f"{r['s']:.2f}" for r in rs)
        print(
            f"{form:6s} {a.rows:,} rows: median {statistics.median(r['s'] for r in rs):.2f} s "
            f"(runs {each}), "
            f"peak RSS median {statistics.median(r['rss_mb'] for r in rs):.0f} MB"
        )
    same = len({r["check"] for rs in runs.values() for r in rs}) == 1
    print("same counts:", same)


if __name__ == "__main__":
    main()
