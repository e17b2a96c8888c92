"""Peak memory and time of every analysis on a wide model (not a timed test).

    .venv/bin/python benchmarks/wide_memory.py                       # 500 features x 730,000 rows
    .venv/bin/python benchmarks/wide_memory.py --rows 146000 --days 73
    .venv/bin/python benchmarks/wide_memory.py --baseline-rev HEAD~3 --only slices

Builds the wide workspace of tests/wide_workspace.py (Parquet telemetry, a spec without a
registry; 4/5 numerical features, 3 drifting from mid-period) in a temporary folder and runs
each analysis (drift, performance, slices, challenger, health) in a fresh process through
core/workbench, as the window does: seconds, peak RSS (``ru_maxrss``) and RSS after imports.
Each child runs under an address-space cap (``--cap-mb``), so a runaway one fails with a
MemoryError instead of taking the machine (printed as such). With ``--baseline-rev`` each
analysis also runs on the package at that revision (``git archive``), alternating.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from wide_workspace import ANALYSES, build  # noqa: E402


def child(analysis: str, spec: Path, cap_mb: int, pythonpath: str | None, home: str) -> dict:
    from drift import _env

    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "wide_workspace.py"), analysis, str(spec),
         str(cap_mb)],
        capture_output=True, text=True, check=False, env=_env(pythonpath, home),
    )  # fmt: skip
    wall = time.perf_counter() - t
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"analysis": analysis, "failed": last[:160], "wall": wall}
    got = json.loads(out.stdout.strip().splitlines()[-1])
    got["wall"] = wall
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", type=int, default=500)
    ap.add_argument("--rows", type=int, default=730_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--cap-mb", type=int, default=8192)
    ap.add_argument("--only", nargs="+", choices=ANALYSES)
    ap.add_argument("--baseline-rev")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wk-wide-bench-"))
    t = time.perf_counter()
    spec = build(work, features=args.features, rows=args.rows, days=args.days)
    print(
        f"# wide workspace: {args.features} features x {args.rows:,} rows (version 1) over "
        f"{args.days} days + shadow rows of version 2, built in {time.perf_counter() - t:.0f} s "
        f"in {work}; address-space cap {args.cap_mb} MB",
        flush=True,
    )
    trees: list[tuple[str, str | None]] = [("now", None)]
    if args.baseline_rev:
        from drift import baseline_tree

        trees.insert(0, (args.baseline_rev, baseline_tree(args.baseline_rev, work)))
    for analysis in args.only or ANALYSES:
        for label, path in trees:
            got = child(analysis, spec, args.cap_mb, path, tempfile.mkdtemp(prefix="wk-home-"))
            if "failed" in got:
                line = f"FAILED after {got['wall']:.1f} s: {got['failed']}"
            else:
                extra = {
                    k: v
                    for k, v in got.items()
                    if k not in ("analysis", "seconds", "before_mb", "peak_mb", "wall")
                }
                line = (
                    f"{got['seconds']:.1f} s (process {got['wall']:.1f} s), peak RSS "
                    f"{got['peak_mb']:,.0f} MB ({got['before_mb']:,.0f} MB after imports); {extra}"
                )
            print(f"[{label}] {analysis:<11} {line}", flush=True)


if __name__ == "__main__":
    main()
