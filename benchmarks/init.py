"""Time from ``watchkeeper init`` to the first drift answer on a 1M-row DuckDB table.

Generates a prediction log (id, time over 90 days, two versions, eight features of mixed
kinds, a probability, a 0/1 label) in a DuckDB file, then times, as whole processes, the way a
user meets them:

- ``init``: ``watchkeeper init --source duckdb:///…#predictions --yes`` (schema, the
  50,000-row sample, the extent pass over time and version, the spec, the governance database);
- ``drift``: ``watchkeeper drift --spec …`` on the written spec (the first drift answer);
- ``baseline``: the same machine, same run, a plain DuckDB full scan of the table
  (``SELECT count(*), min(ts), max(ts), avg(every feature)`` in a fresh process) — what reading
  the data once costs with nothing of ours around it.

Ratios are against the baseline. No assertions: numbers to read, not to gate on. From the
repository root:

    .venv/bin/python benchmarks/init.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

FEATURES = ("amount", "age", "tenure", "balance", "utilisation")


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    micros = np.sort(rng.integers(0, 90 * 86_400 * 10**6, rows)) + 1_735_689_600 * 10**6
    late = micros > micros[int(rows * 0.8)]
    cols: dict[str, object] = {
        "request_id": pa.array(np.arange(rows)).cast(pa.string()),
        "event_time": pa.array(micros).cast(pa.timestamp("us", tz="UTC")),
        "model_version": np.where(micros < micros[rows // 10], "1", "2"),
    }
    for j, name in enumerate(FEATURES):
        shift = 0.5 if j == 0 else 0.0
        cols[name] = rng.normal(size=rows) + np.where(late, shift, 0.0)
    cols["channel"] = rng.choice(["web", "app", "store"], rows)
    cols["country"] = rng.choice(["DE", "FR", "IT", "ES", "NL"], rows)
    cols["products"] = rng.integers(1, 5, rows)
    p = 1 / (1 + np.exp(-cols["amount"]))  # type: ignore[operator]
    cols["score"] = p
    cols["label"] = (rng.random(rows) < p).astype(np.int64)
    table = pa.table(cols)
    with duckdb.connect(str(path)) as conn:
        conn.register("t", table)
        conn.execute("CREATE TABLE predictions AS SELECT * FROM t")


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy())
    elapsed = time.perf_counter() - t0
    if run.returncode not in (0, 1):
        sys.exit(f"{argv[1]} failed ({run.returncode}): {run.stderr.strip()}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("watchkeeper"))
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "log.duckdb"
        t0 = time.perf_counter()
        write_log(db, args.rows)
        print(f"{args.rows:,} rows written in {time.perf_counter() - t0:.1f} s")
        scan = ", ".join(f"avg({f})" for f in FEATURES)
        baseline = timed([
            sys.executable, "-c",
            "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); "
            f"c.sql('SELECT count(*), min(event_time), max(event_time), {scan} "
            "FROM predictions').fetchall()",
            str(db),
        ])  # fmt: skip
        ws = Path(tmp) / "ws"
        source = f"duckdb:///{db}#predictions"
        init = timed([exe, "init", "--source", source, "--workspace", str(ws), "--yes"])
        spec = next((ws / "specs").glob("*.toml"))
        drift = timed([exe, "drift", "--spec", str(spec)])
        total = init + drift
        print(f"{'step':<24}{'seconds':>9}{'× baseline':>12}")
        for name, secs in (
            ("baseline (duckdb scan)", baseline),
            ("init", init),
            ("drift --spec", drift),
            ("init → first drift", total),
        ):
            print(f"{name:<24}{secs:>9.2f}{secs / baseline:>12.1f}")


if __name__ == "__main__":
    main()
