"""``watchkeeper bundle export`` of a Spark SQL table (not a timed test): wall time and the
CLI process's peak RSS, with the reference window profiled in the warehouse (this tree) and,
with ``--before DIR``, the same command run on another tree's code (e.g. the commit before,
which read the reference window as rows):

    rm -rf /tmp/wb_before && mkdir -p /tmp/wb_before/watchkeeper && \\
      git archive <commit> core app resources widgets | tar -x -C /tmp/wb_before/watchkeeper
    .venv/bin/python benchmarks/bundle_spark.py --rows 1000000 --before /tmp/wb_before

N events of one model version over 60 days x ``--features`` features (a fifth categorical,
the rest numerical), written as Parquet by DuckDB, a Parquet-backed table on a local Spark
Thrift server (``tests/servers.py``). The spec's reference is the first 30 days; the bundle
holds the last 30 (``export.WAREHOUSE_ROWS`` sampled in the warehouse either way). Both
bundles' reference profiles are compared (counts and edges).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import SparkThriftServer  # noqa: E402

DAYS = 60


def build_parquet(folder: Path, rows: int, n_features: int) -> None:
    import duckdb

    n_cat = max(1, n_features // 5)
    exprs = []
    for i in range(n_features - n_cat):
        e = ("(random() + random() + random() - 1.5) * 2", "exp(random() * 3)")[i % 2]
        exprs.append(f"CASE WHEN random() < 0.01 THEN NULL ELSE {e} END AS x{i}")
    for i in range(n_cat):
        exprs.append(f"'v' || CAST(floor(random() * {(5, 50)[i % 2]}) AS INTEGER) AS c{i}")
    span = DAYS * 86_400_000_000
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(
        "COPY (SELECT 'r' || i AS request_id, "
        f"TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_microseconds(CAST(i * {span / rows} AS BIGINT))"
        f" AS ts, '1' AS model_version, random() AS score, {', '.join(exprs)} "
        f"FROM range({rows}) t(i)) TO '{folder}/part-0.parquet' (FORMAT parquet)"
    )
    con.close()


def export(spec: Path, out: Path, home: Path, tree: str | None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (MB) and exit status of one ``watchkeeper bundle export``."""
    env = {
        **os.environ,
        "WATCHKEEPER_HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
    }
    if tree:
        env["PYTHONPATH"] = tree
    cmd = [str(ROOT / ".venv/bin/watchkeeper"), "bundle", "export", "--spec", str(spec)]
    cmd += ["--out", str(out), "--start", "2026-01-31"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def profiles(bundle: Path) -> list[dict]:
    with zipfile.ZipFile(bundle) as z:
        names = sorted(n for n in z.namelist() if n.startswith("profiles/"))
        return [json.loads(z.read(n)) for n in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--before", help="a tree holding watchkeeper/ (the code to compare with)")
    args = ap.parse_args()
    assert resource  # ru_maxrss from wait4, in KB on Linux
    with tempfile.TemporaryDirectory(prefix="wk-bundle-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        build_parquet(work / "events", args.rows, args.features)
        print(f"{args.rows:,} events x {args.features} features written in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        server = SparkThriftServer()
        server.start()
        try:
            location = server.table_from_parquet("bundle_bench", work / "events")
            n_cat = max(1, args.features // 5)
            cats = ", ".join(f'"c{i}"' for i in range(n_cat))
            spec = work / "m.toml"
            spec.write_text(
                f'[model]\nname = "m"\ntask = "binary"\n[telemetry]\nsource = "{location}"\n'
                f"[telemetry.columns]\ncategorical = [{cats}]\n"
                '[reference]\nkind = "window"\nversion = "1"\n'
                "start = 2026-01-01\nend = 2026-01-31\n",
                encoding="utf-8",
            )
            runs = [("after (this tree)", None)]
            if args.before:
                runs.insert(0, (f"before ({args.before})", args.before))
            found = []
            for i, (name, tree) in enumerate(runs):
                out = work / f"b{i}.wkbundle"
                wall, rss, code = export(spec, out, work / f"home{i}", tree)
                failed = f", FAILED (exit {code})" if code else ""
                print(f"{name}: {wall:.1f} s, peak RSS {rss} MB{failed}")
                if not code:
                    found.append(profiles(out))
            if len(found) == 2:
                same = all(
                    (a["rows"], [(f["counts"], f["edges"]) for f in a["features"]])
                    == (b["rows"], [(f["counts"], f["edges"]) for f in b["features"]])
                    for a, b in zip(found[0], found[1], strict=True)
                )
                print(f"reference profiles' counts and edges equal: {same}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
