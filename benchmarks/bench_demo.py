"""How long building the demo workspace takes, against baselines measured in the same run.

    .venv/bin/python benchmarks/bench_demo.py [--events-per-day 20000] [--keep DIR]

Times ``ensure_workspace(..., rebuild=True)`` end to end (generation, DuckDB write,
digests, specs, manifest), with the time of each phase from the progress messages, then
two baselines on the same machine in the same process, so the ratio means something on
any machine: writing the same rows to Parquet with pyarrow, and drawing as many standard
normals with numpy as the tables have cells. No assertion: it reports.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from watchkeeper.core import demo


def build(root: Path, events_per_day: int) -> tuple[float, float, list[tuple[float, str]], dict]:
    """Build once; return wall and CPU seconds, the (elapsed, message) trail, the manifest."""
    trail: list[tuple[float, str]] = []
    cpu = time.process_time()
    started = time.perf_counter()
    ws = demo.ensure_workspace(
        root,
        events_per_day=events_per_day,
        rebuild=True,
        progress=lambda f, message: trail.append((time.perf_counter() - started, message)),
    )
    return time.perf_counter() - started, time.process_time() - cpu, trail, ws.manifest


def parquet_baseline(events_per_day: int, out: Path) -> tuple[float, int]:
    """Seconds to write every model's table to Parquet (tables generated untimed)."""
    tables = [demo.generate_events(m.name, events_per_day=events_per_day) for m in demo.MODELS]
    cells = sum(t.num_rows * t.num_columns for t in tables)
    started = time.perf_counter()
    for i, table in enumerate(tables):
        pq.write_table(table, out / f"baseline-{i}.parquet")
    return time.perf_counter() - started, cells


def normals_baseline(cells: int) -> float:
    started = time.perf_counter()
    np.random.default_rng(0).standard_normal(cells)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-day", type=int, default=demo.DEFAULT_EVENTS_PER_DAY)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wk-bench-demo-"))
    root = args.keep or work / "demo"
    try:
        load = os.getloadavg()[0]
        seconds, cpu, trail, manifest = build(root, args.events_per_day)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        parquet_s, cells = parquet_baseline(args.events_per_day, work)
        normals_s = normals_baseline(cells)
        size_mb = (root / "telemetry.duckdb").stat().st_size / 2**20
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"demo workspace, {args.events_per_day:,} events/day (recipe {demo.RECIPE_VERSION})")
    print(f"  rows: {manifest['telemetry']['rows']:,} in predictions, {size_mb:,.0f} MiB")
    for name, info in manifest["models"].items():
        versions = ", ".join(f"v{v}: {i['rows']:,}" for v, i in info["versions"].items())
        print(f"    {name}: {versions}")
    print(f"  build: {seconds:.2f} s end to end ({cpu:.2f} s CPU), peak RSS {peak_mb:,.0f} MiB")
    print(f"  (load average before the build: {load:.1f} on {os.cpu_count()} cores)")
    ends = [elapsed for elapsed, _ in trail[1:]] + [seconds]
    for (elapsed, message), end in zip(trail, ends, strict=True):
        print(f"    {end - elapsed:6.2f} s  {message}")
    print(f"  baseline, write the same {cells:,} cells to Parquet: {parquet_s:.2f} s")
    print(f"  baseline, draw {cells:,} standard normals: {normals_s:.2f} s")
    print(f"  ratio build / Parquet write: {seconds / parquet_s:.1f}x")
    print(f"  ratio build / normals: {seconds / normals_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
