"""The Slices view of a tall window (not a timed test): read whole against read in bounded
parts (``core/evaluation/slice_window``); with ``--analysis drift``, the Drift view's
reference prepared in batches and DuckDB's counts in groups of features against the reference
read whole and one counting statement. Prints figures measured in this run.

    .venv/bin/python benchmarks/slices_tall.py --rows 6000000
    .venv/bin/python benchmarks/slices_tall.py --rows 6000000 --analysis drift

N events over 60 days x 50 features (a third categorical; ``benchmarks/spark.py``'s slices
generator, with its planted weak slice) in a DuckDB table, a spec written by
``watchkeeper init`` with the first 30 days as reference. Each round runs ``run_slices`` in a
fresh process, bounded (the default) and whole (``WINDOW_BYTES`` raised past the window;
for drift ``REFERENCE_BYTES`` raised and ``COUNT_GROUPS`` emptied), alternately, and prints
wall time and the process's peak RSS (VmHWM); for drift also a digest of the result, which
must be the same.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import hashlib, json, sys, time
from pathlib import Path
from watchkeeper.core.drift import sql_counts
from watchkeeper.core.evaluation import slice_window
from watchkeeper.core.workbench import analyses
from watchkeeper.core.workbench.portfolio import load_portfolio
from watchkeeper.core.workbench.slices import run_slices
if sys.argv[2] == "whole":
    slice_window.WINDOW_BYTES = 1 << 50
    analyses.REFERENCE_BYTES = 1 << 50
    sql_counts.COUNT_GROUPS.clear()
entry = load_portfolio(Path(sys.argv[1])).models[0]
t = time.perf_counter()
if sys.argv[3] == "drift":
    result = analyses.run_drift(entry, "1", None)
    seconds = time.perf_counter() - t
    drifting = [f.name for f in result.features if "drift" in f.decisions()]
    out = {"events": sum(w.rows for w in result.windows), "bounded": sys.argv[2] == "bounded",
           "worst": drifting[:3],
           "digest": hashlib.sha256(result.to_json().encode()).hexdigest()[:12]}
else:
    view = run_slices(entry, "1")
    seconds = time.perf_counter() - t
    found = [w.predicate.label for w in view.worst.candidates[:3]] if view.worst else []
    out = {"events": view.slices.events, "bounded": view.reread is not None, "worst": found}
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_gib": hwm / 2**20, **out}))
"""


def build(folder: Path, rows: int) -> Path:
    """The DuckDB table and its workspace (``watchkeeper init``); the workspace's path."""
    import duckdb

    sys.path.insert(0, str(HERE))
    from spark import build_slices_parquet

    build_slices_parquet(folder, rows, 50)
    db = folder / "log.duckdb"
    with duckdb.connect(str(db)) as con:
        parquet = folder / "part-0.parquet"
        con.execute(f"CREATE TABLE predictions AS SELECT * FROM read_parquet('{parquet}')")
    parquet.unlink()
    workspace = folder / "w"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "watchkeeper"),
            "init",
            "--source",
            f"duckdb:///{db}#predictions",
            "--workspace",
            str(workspace),
            "--yes",
            "--reference-until",
            "2026-01-31",
        ],
        check=True,
        capture_output=True,
    )
    return workspace


def run(workspace: Path, how: str, analysis: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(workspace), how, analysis],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--analysis", choices=("slices", "drift"), default="slices")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        workspace = build(Path(tmp), args.rows)
        print(f"built {args.rows:,} events x 50 features in {time.perf_counter() - t:.0f} s")
        got: dict[str, list[dict]] = {"bounded": [], "whole": []}
        for _ in range(args.rounds):
            for how in ("bounded", "whole"):
                r = run(workspace, how, args.analysis)
                got[how].append(r)
                print(
                    f"  {how:8} {r['seconds']:6.1f} s  peak {r['peak_gib']:.2f} GiB  "
                    f"window {r['events']:,.0f} events  "
                    + (f"drifting {r['worst']}  result {r['digest']}" if "digest" in r else "")
                    + (f"worst {r['worst']}" if "digest" not in r else ""),
                    flush=True,
                )
        b = sorted(r["seconds"] for r in got["bounded"])[len(got["bounded"]) // 2]
        w = sorted(r["seconds"] for r in got["whole"])[len(got["whole"]) // 2]
        bp = max(r["peak_gib"] for r in got["bounded"])
        wp = max(r["peak_gib"] for r in got["whole"])
        print(f"bounded / whole: time {b / w:.2f}x, peak {bp:.2f} / {wp:.2f} GiB = {bp / wp:.2f}x")


if __name__ == "__main__":
    main()
