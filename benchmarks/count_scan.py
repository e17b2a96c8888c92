"""Drift counts: the UNION ALL statement against the single scan, A/B in one run.

    .venv/bin/python benchmarks/count_scan.py --rows 2000000 --rounds 3
    .venv/bin/python benchmarks/count_scan.py --engine postgresql --rows 500000 2000000

Builds ``benchmarks/drift.py``'s table (50 features, 90 daily windows) once per size, then
alternates the two forms of :func:`count_statement`, each in a fresh process (so peak RSS is
its own): ``count_windows_sql`` over the whole table with a profile of a 100,000-row sample
(DuckDB's seeded reservoir sample of the same events, whatever the engine counting).

``--engine postgresql`` starts a throw-away PostgreSQL cluster from the machine's binaries
(``tests/servers.py``: the test fixture's, ``fsync=off``, otherwise PostgreSQL's defaults),
loads the same events into it (``COPY`` from a CSV DuckDB writes; ``VACUUM ANALYZE`` after,
so no measured scan sets the hint bits) and counts there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def child(path: str, form: str, url: str = "") -> dict:
    import sqlalchemy as sa
    from drift import _PeakRss

    from watchkeeper.core.drift import sql_counts
    from watchkeeper.core.drift.profile import build_profile
    from watchkeeper.core.telemetry.sql import reflect_table
    from watchkeeper.core.telemetry.windows import parse_window

    duck = sa.create_engine(
        f"duckdb:///{path}",
        connect_args={"read_only": True, "config": {"memory_limit": "300MB", "threads": 2}},
    )
    engine = sa.create_engine(url) if url else duck
    name = engine.dialect.name
    if form == "single":
        sql_counts.SINGLE_SCAN_USED.add(name)
    else:
        sql_counts.SINGLE_SCAN_USED.discard(name)
    with duck.connect() as conn:
        raw = conn.connection.driver_connection
        ref = raw.sql(
            "SELECT * EXCLUDE (ts) FROM events USING SAMPLE 100000 ROWS (reservoir, 7)"
        ).to_arrow_table()
    if url:
        duck.dispose()  # the file is only the profile's source: the counting is elsewhere
    with engine.connect() as conn:
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


def load_postgresql(path: str, url: str, work: Path) -> float:
    """The DuckDB file's events as a PostgreSQL table ``events``; seconds taken."""
    import duckdb
    import sqlalchemy as sa

    t = time.perf_counter()
    csv = work / "events.csv"
    with duckdb.connect(path, read_only=True) as con:
        cols = con.sql("DESCRIBE events").fetchall()
        con.sql(f"COPY events TO '{csv}' (HEADER, DELIMITER ',')")
    kinds = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "DOUBLE": "DOUBLE PRECISION"}
    ddl = ", ".join(f'"{c[0]}" {kinds.get(c[1], "TEXT")}' for c in cols)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE events ({ddl})")
        # the server reads the file itself (a superuser; the folder is open to postgres)
        conn.exec_driver_sql(f"COPY events FROM '{csv}' (FORMAT csv, HEADER true)")
        conn.exec_driver_sql("VACUUM ANALYZE events")
    engine.dispose()
    csv.unlink()
    return time.perf_counter() - t


def measure(path: str, rows: int, rounds: int, url: str = "") -> None:
    runs: dict[str, list[dict]] = {"union": [], "single": []}
    for _ in range(rounds):
        for form in ("union", "single"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", path, form, url],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[form].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for form, rs in runs.items():
        each = ", ".join(f"{r['s']:.2f}" for r in rs)
        print(
            f"{form:6s} {rows:,} rows: median {statistics.median(r['s'] for r in rs):.2f} s "
            f"(runs {each}), "
            f"peak RSS median {statistics.median(r['rss_mb'] for r in rs):.0f} MB",
            flush=True,
        )
    same = len({r["check"] for rs in runs.values() for r in rs}) == 1
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print("same counts:", same, "| load average:", load)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engine", choices=["duckdb", "postgresql"], default="duckdb")
    ap.add_argument("--file", help="duckdb: the events file (built when absent; one size)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(*a.child)))
        return
    from drift import build_duckdb

    if a.engine == "duckdb":
        for rows in a.rows:
            path = a.file
            if path is None or not Path(path).exists():
                path = path or str(Path(tempfile.mkdtemp()) / "events.duckdb")
                build_duckdb(Path(path), rows)
            measure(path, rows, a.rounds)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from servers import postgres_cluster

    with tempfile.TemporaryDirectory(prefix="wk-count-scan-") as tmp, postgres_cluster() as pg:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the server reads the CSV
        for rows in a.rows:
            path = str(work / f"events-{rows}.duckdb")
            build_duckdb(Path(path), rows)
            url = pg.create_database(f"events_{rows}")
            took = load_postgresql(path, url, work)
            print(f"PostgreSQL: {rows:,} events x 50 features loaded in {took:.0f} s", flush=True)
            measure(path, rows, a.rounds, url)


if __name__ == "__main__":
    main()
