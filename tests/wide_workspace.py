"""A wide workspace (hundreds of features) and a child process that runs one analysis on it
and reports its peak memory — for tests/core/workbench/test_memory_bounds.py (small) and
benchmarks/wide_memory.py (500 features x 730,000 rows).

    python tests/wide_workspace.py ANALYSIS SPEC [LIMIT_MB]

runs ANALYSIS (drift, performance, slices, challenger, health) through core/workbench as
the window does, under ``RLIMIT_AS`` = LIMIT_MB when given (so a runaway allocation fails
fast instead of taking the machine), and prints one JSON line: seconds, peak RSS (MB,
``ru_maxrss``), RSS before the analysis (after imports), and what the result holds.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from child_process import peak_mb  # tests/ is on the path: this script's folder

MODEL = "wide"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ANALYSES = ("drift", "performance", "slices", "challenger", "health")


def build(
    root: Path, *, features: int, rows: int, days: int = 40, seed: int = 3, duckdb: bool = False
) -> Path:
    """A workspace under ``root``: Parquet telemetry (a DuckDB table with ``duckdb``) of
    version 1 over ``days`` days and of version 2 shadow-scoring the last quarter; 4/5
    numerical features, 1/5 categorical; a spec without a registry. Returns the spec's
    path."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_cat = features // 5
    num = [f"x{i:03d}" for i in range(features - n_cat)]
    cat = [f"c{i:03d}" for i in range(n_cat)]
    day = np.sort(rng.integers(0, days, rows))
    ts = START.timestamp() * 1e6 + day * 86_400e6 + rng.integers(0, 86_400_000_000, rows)
    cols: dict[str, Any] = {
        "request_id": pa.array([f"r{i}" for i in range(rows)]),
        "ts": pa.array(ts.astype("int64"), pa.timestamp("us", tz="UTC")),
        "model_version": pa.array(np.full(rows, "1")),
    }
    z = np.zeros(rows)
    for k, name in enumerate(num):
        x = rng.normal(0.0, 1.0, rows)
        if k < 3:  # drifting from the middle of the period
            x = x + np.where(day >= days // 2, 0.7, 0.0)
        if k < 5:
            z += 0.4 * x
        cols[name] = pa.array(x)
    for k, name in enumerate(cat):
        card = 5 + (k % 6) * 5
        codes = rng.integers(0, card, rows)
        if k == 0:
            z += np.where(codes == 1, 1.0, 0.0)
        cols[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array([f"v{i}" for i in range(card)])
        ).cast(pa.string())
    p = 1 / (1 + np.exp(-(z - 1.0)))
    label = (rng.random(rows) < p).astype(np.int64)
    cols["score"] = pa.array(np.clip(p + rng.normal(0, 0.1, rows), 0.001, 0.999))
    cols["label"] = pa.array(label)
    cols["label_ts"] = pa.array((ts + 3 * 86_400e6).astype("int64"), pa.timestamp("us", tz="UTC"))
    one = pa.table(cols)
    shadow = np.flatnonzero(day >= days - days // 4)
    two = one.take(pa.array(shadow))
    better = np.clip(p[shadow] + rng.normal(0, 0.08, shadow.size), 0.001, 0.999)
    two = two.set_column(two.schema.get_field_index("score"), "score", pa.array(better))
    two = two.set_column(
        two.schema.get_field_index("model_version"),
        "model_version",
        pa.array(np.full(shadow.size, "2")),
    )
    ws = root / "wide-workspace"
    (ws / "specs").mkdir(parents=True)
    both = pa.concat_tables([one, two])
    if duckdb:
        import duckdb as db

        con = db.connect(str(ws / "telemetry.duckdb"))
        try:
            con.register("both_versions", both)
            con.execute("CREATE TABLE predictions AS SELECT * FROM both_versions")
        finally:
            con.close()
        source = "duckdb:///../telemetry.duckdb#predictions"
    else:
        pq.write_table(both, ws / "telemetry.parquet", row_group_size=1 << 16)
        source = "../telemetry.parquet"
    ref_end = START + dt.timedelta(days=days // 3)
    spec = "\n".join(
        [
            "[model]",
            f'name = "{MODEL}"',
            'task = "binary"',
            "",
            "[telemetry]",
            f'source = "{source}"',
            "",
            "[telemetry.columns]",
            f"features = {json.dumps([*num, *cat])}",
            f"categorical = {json.dumps(cat)}",
            "",
            "[reference]",
            'kind = "window"',
            'version = "1"',
            f"start = {START:%Y-%m-%d}",
            f"end = {ref_end:%Y-%m-%d}",
            "",
            "[drift]",
            'window = "1d"',
            "min_rows = 100",
            "",
            "[gate]",
            "min_labeled = 200",
            "",
        ]
    )
    path = ws / "specs" / f"{MODEL}.toml"
    path.write_text(spec)
    return path


def run(analysis: str, spec: Path) -> dict[str, Any]:
    from watchkeeper.core.workbench.analyses import run_drift, run_performance
    from watchkeeper.core.workbench.challenger import run_challenger
    from watchkeeper.core.workbench.health import run_health
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec
    from watchkeeper.core.workbench.slices import run_slices

    portfolio = portfolio_of_spec(spec)
    (entry,) = portfolio.models
    before = peak_mb()
    t = time.perf_counter()
    out: dict[str, Any] = {}
    if analysis == "drift":
        r = run_drift(entry, "1", None)
        out["features"] = len(r.features)
        out["windows"] = len(r.windows)
        out["drifted"] = sorted(
            f.name for f in r.features if any(w.decision == "drift" for w in f.windows)
        )
    elif analysis == "performance":
        v = run_performance(entry, "1", None)
        out["windows"] = len(v.realized.windows)
    elif analysis == "slices":
        v = run_slices(entry, "1")
        out["tested"] = v.worst.tested if v.worst is not None else 0
        out["notes"] = list(v.notes)
    elif analysis == "challenger":
        c = run_challenger(entry, "1", "2", n_boot=200)
        out["pairs"] = int(c.score_a.size)
        out["shown"] = list(c.disagreements.shape)
        features = c.disagreements.filter(regex="^[xc][0-9]{3}$")
        out["features_shown"] = int(features.notna().all().sum())
    elif analysis == "health":
        got = run_health(portfolio)
        out["verdict"] = got[MODEL][0].verdict
    else:
        raise SystemExit(f"unknown analysis {analysis!r}")
    out.update(
        analysis=analysis, seconds=time.perf_counter() - t, before_mb=before, peak_mb=peak_mb()
    )
    return out


if __name__ == "__main__":
    if len(sys.argv) > 3:
        import resource

        cap = int(sys.argv[3]) << 20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps(run(sys.argv[1], Path(sys.argv[2]))))
