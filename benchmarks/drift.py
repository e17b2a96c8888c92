"""Drift engine benchmarks (not a timed test). Prints figures measured in this run.

    .venv/bin/python benchmarks/drift.py                 # everything
    .venv/bin/python benchmarks/drift.py --skip-duckdb   # in-memory + CLI only
    .venv/bin/python benchmarks/drift.py --duckdb-rows 2000000
    .venv/bin/python benchmarks/drift.py --skip-duckdb --baseline-rev HEAD   # before/after

With ``--baseline-rev REV`` every measurement also runs on the package as committed at ``REV``
(``git archive`` into a temporary folder, put first on ``PYTHONPATH`` of the child processes),
alternating baseline and working tree ``--rounds`` times in the same run, so a busy machine
slows both alike: compare the ratios side by side.

1. In memory, on generated data — 100k rows x 23 columns and 1M rows x 55 columns (ts, then
   numerical normal / log-normal / bimodal with 1 % missing, categorical of cardinality 5, 50
   and 1,000; 4 columns drifted): the full analysis (``analyze_drift`` with default settings:
   all binned metrics, exact KS and Wasserstein, prediction-free, multivariate PCA) against a
   prefitted reference — its profile, and the reference made ready once with
   ``prepare_reference`` (sorted reference values, fitted PCA; built outside the timing like
   the profile, its time and size printed, and the same analysis without it printed as
   "unprepared"; a revision without ``prepare_reference`` runs unprepared) — divided by the
   least work any binned method needs: one numpy
   pass of ``searchsorted`` + ``bincount`` per column against the same prefitted bins (Arrow's
   ``index_in`` + ``bincount`` for categories). Each size runs in a fresh process that reads
   the data from Parquet, so the memory figures are its own: peak RSS during the analysis
   above the RSS before it, and above the interpreter's baseline (after imports, before data),
   both against the in-memory bytes of the columns (reference + current).
2. The CLI as a whole process on the same data saved as Parquet: cold (an empty
   prepared-reference cache, a fresh ``WATCHKEEPER_HOME``) and again (the reference prepared
   by the cold run is loaded from the cache), against a baseline process that starts Python,
   imports numpy and Arrow, reads both files and counts the naive pass's bins (reference
   quantiles and vocabularies computed in it) — ratios to it printed, rounds interleaved.
3. DuckDB pushdown: N events x 50 features x 90 daily windows in a DuckDB file, counted by
   ``analyze_drift_sql`` (one UNION ALL statement), against a hand-written DuckDB statement
   producing the same quantile-bin counts (``date_trunc('day', ts)``, bins as sums of
   comparisons), and the process's peak RSS (DuckDB ``memory_limit`` 300MB, 2 threads: the
   buffer pool keeps table blocks read by the reference sample; 300MB counts as fast as 600MB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# -- data ---------------------------------------------------------------------------------


def _columns(n_features: int) -> list[tuple[str, str]]:
    """(name, kind) for n features: 3/4 numerical in three shapes, 1/4 categorical."""
    n_cat = max(3, n_features // 4)
    n_num = n_features - n_cat
    shapes = ["normal", "lognormal", "bimodal"]
    cards = [5, 50, 1000]
    cols = [(f"num{i}_{shapes[i % 3]}", shapes[i % 3]) for i in range(n_num)]
    cols += [(f"cat{i}_{cards[i % 3]}", f"cat{cards[i % 3]}") for i in range(n_cat)]
    return cols


def generate(rows: int, n_features: int, seed: int, drift: bool):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    cols = _columns(n_features)
    drifted = {cols[0][0], cols[1][0], cols[2][0], cols[-3][0]} if drift else set()
    data = {
        "ts": pa.array(
            np.datetime64("2026-01-01", "us")
            + np.sort(rng.integers(0, 30 * 86_400_000_000, rows)).astype("timedelta64[us]"),
            pa.timestamp("us", tz="UTC"),
        )
    }
    for name, kind in cols:
        shift = 0.5 if name in drifted else 0.0
        if kind == "normal":
            x = rng.normal(shift, 1, rows)
        elif kind == "lognormal":
            x = rng.lognormal(shift, 1, rows)
        elif kind == "bimodal":
            x = np.where(
                rng.random(rows) < 0.5 + shift / 2, rng.normal(-2, 1, rows), rng.normal(2, 1, rows)
            )
        else:
            card = int(kind[3:])
            p = 1 / np.arange(1, card + 1) ** (1.5 if name in drifted else 1.0)
            codes = rng.choice(card, rows, p=p / p.sum())
            data[name] = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32)), pa.array([f"v{i}" for i in range(card)])
            ).cast(pa.string())
            continue
        x[rng.random(rows) < 0.01] = np.nan
        data[name] = pa.array(x)
    return pa.table(data)


# -- part 1: in memory, in a fresh process -------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    def __init__(self) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _engine(name: str, window: str | None) -> tuple[Any, Any]:
    """``(engine function, its window argument)`` in this revision, or in a ``--baseline-rev``
    from before the engines moved out of ``analysis`` (which took the window as text)."""
    import importlib

    module = "engine_sql" if name == "analyze_drift_sql" else "engine"
    try:
        engine = importlib.import_module(f"watchkeeper.core.drift.{module}")
    except ImportError:
        return getattr(importlib.import_module("watchkeeper.core.drift.analysis"), name), window
    from watchkeeper.core.telemetry.windows import parse_window

    return getattr(engine, name), parse_window(window)


def measure_in_memory(ref_path: str, cur_path: str, repeat: int) -> dict:
    """Runs in its own process: naive pass vs full analysis, and memory."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset  # read_table imports it (and pandas): code, not data
    import pyarrow.parquet as pq

    from watchkeeper.core.drift.data import numeric_values
    from watchkeeper.core.drift.profile import build_profile

    analyze_drift, one_window = _engine("analyze_drift", None)
    baseline = _rss()
    ref = pq.read_table(ref_path)
    cur = pq.read_table(cur_path)
    # bring every column into plain memory now (not lazily during the timings)
    ref = pa.table({c: ref.column(c).combine_chunks() for c in ref.column_names})
    cur = pa.table({c: cur.column(c).combine_chunks() for c in cur.column_names})
    data_bytes = ref.nbytes + cur.nbytes
    loaded = _rss()  # the columns, and what the Parquet reader keeps after reading them
    t = time.perf_counter()
    profile = build_profile(ref, exclude=["ts"])
    t_profile = time.perf_counter() - t
    try:
        from watchkeeper.core.drift.reference import prepare_reference
    except ImportError:  # a revision from before the split (--baseline-rev)
        try:
            from watchkeeper.core.drift.analysis import prepare_reference
        except ImportError:  # a revision from before prepared references
            prepare_reference = None
    prepared, t_prepare, prepared_bytes = None, 0.0, 0
    if prepare_reference is not None:
        t = time.perf_counter()
        prepared = prepare_reference(ref, profile=profile, prediction=None)
        t_prepare = time.perf_counter() - t
        prepared_bytes = sum(v.values.nbytes for v in prepared.sorted_values.values())

    def naive() -> None:
        for fp in profile.features:
            col = cur.column(fp.name)
            if fp.kind == "numerical":
                x = numeric_values(col)
                np.bincount(
                    np.searchsorted(np.asarray(fp.edges), x, side="right"), minlength=fp.n_bins
                )
            else:
                vocab = pa.array([*fp.categories, *fp.other])
                idx = pc.index_in(col, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False)
                np.bincount(idx + 1, minlength=len(vocab) + 1)

    naive_times, naive_cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        naive()
        naive_times.append(time.perf_counter() - t)
        naive_cpu.append(time.process_time() - c)
    # the same analysis without a prepared reference: profile given, the rest done per call
    unprepared_times = []
    for _ in range(repeat if prepared is not None else 0):
        t = time.perf_counter()
        analyze_drift(ref, cur, window=one_window, profile=profile, prediction=None)
        unprepared_times.append(time.perf_counter() - t)
    full_times, full_cpu = [], []
    before = _rss()
    with _PeakRss() as peak:
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            result = analyze_drift(
                prepared if prepared is not None else ref,
                cur,
                window=one_window,
                profile=profile,
                prediction=None,
            )
            full_times.append(time.perf_counter() - t)
            full_cpu.append(time.process_time() - c)
    drifted = sorted(
        f.name for f in result.features if any(w.decision == "drift" for w in f.windows)
    )
    return {
        "rows": cur.num_rows,
        "columns": cur.num_columns,
        "reference_rows": ref.num_rows,
        "profile_s": t_profile,
        "prepare_s": t_prepare,
        "prepared_mb": prepared_bytes / 1e6,
        "naive_s": min(naive_times),
        "full_s": min(full_times),
        "ratio": min(full_times) / min(naive_times),
        "naive_cpu_s": min(naive_cpu),
        "full_cpu_s": min(full_cpu),
        "prepared": prepared is not None,
        "unprepared_s": min(unprepared_times) if unprepared_times else min(full_times),
        "data_mb": data_bytes / 1e6,
        "baseline_mb": baseline / 1e6,
        "before_mb": before / 1e6,
        "peak_mb": peak.peak / 1e6,
        "peak_above_before_x": (peak.peak - before) / data_bytes,
        "peak_above_baseline_x": (peak.peak - baseline) / data_bytes,
        "loaded_above_baseline_x": (loaded - baseline) / data_bytes,
        "drift_found": drifted,
        "exact": result.features[0].windows[0].exact,
        "multivariate": result.multivariate is not None,
    }


def cli_cold(
    ref_path: str, cur_path: str, pythonpath: str | None = None, home: str | None = None
) -> float:
    """One ``watchkeeper drift`` process; ``home``: its WATCHKEEPER_HOME (a fresh one: the
    prepared-reference cache is empty, i.e. cold; one a run has filled: cached)."""
    shim = (
        "import sys; from watchkeeper.app import cli\n"
        "if 'drift' not in cli.COMMAND_MODULES: cli.COMMAND_MODULES += ('drift',)\n"
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    t = time.perf_counter()
    out = subprocess.run(
        [PY, "-c", shim, "drift", "--reference", ref_path, "--current", cur_path, "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=_env(pythonpath, home or tempfile.mkdtemp(prefix="wk-home-")),
    )
    elapsed = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    json.loads(out.stdout)
    return elapsed


BASELINE_PROCESS = """
import sys
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
ref, cur = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
for name in ref.column_names:
    if name == "ts":
        continue
    r, c = ref.column(name), cur.column(name)
    if pa.types.is_floating(r.type):
        rv = r.to_numpy()
        edges = np.quantile(rv[np.isfinite(rv)], np.arange(1, 10) / 10)
        np.bincount(np.searchsorted(edges, c.to_numpy(), side="right"), minlength=11)
    else:
        vocab = pc.unique(r.combine_chunks())
        idx = pc.index_in(c, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False)
        np.bincount(idx + 1, minlength=len(vocab) + 1)
print("{}")
"""


def baseline_process(ref_path: str, cur_path: str) -> float:
    """The least a process answering "did it drift?" must do: start Python, import numpy and
    Arrow, read both files, bin the reference (quantiles, vocabularies) and count the
    current data in those bins — no statistics, no decisions, no output worth reading."""
    t = time.perf_counter()
    subprocess.run(
        [PY, "-c", BASELINE_PROCESS, ref_path, cur_path], check=True, capture_output=True
    )
    return time.perf_counter() - t


def cli_cases(ref_path: str, cur_path: str, pythonpath: str | None, rounds: int = 3) -> dict:
    """Cold CLI (empty cache), cached CLI (the same command again) and the baseline process,
    interleaved ``rounds`` times so that a busy machine slows them alike; minimum of each."""
    cold, cached, base = [], [], []
    for _ in range(rounds):
        home = tempfile.mkdtemp(prefix="wk-home-")
        base.append(baseline_process(ref_path, cur_path))
        cold.append(cli_cold(ref_path, cur_path, pythonpath, home))
        cached.append(cli_cold(ref_path, cur_path, pythonpath, home))
    return {"cold": min(cold), "cached": min(cached), "baseline": min(base)}


# -- part 3: DuckDB pushdown -----------------------------------------------------------------


def build_duckdb(path: Path, rows: int, n_features: int = 50) -> list[tuple[str, str]]:
    import duckdb

    n_cat = 10
    num = [f"x{i}" for i in range(n_features - n_cat)]
    cat = [f"c{i}" for i in range(n_cat)]
    cards = [5, 50, 1000]
    exprs = []
    for i, c in enumerate(num):
        shape = i % 3
        if shape == 0:  # ~normal: sum of uniforms
            e = "(random() + random() + random() - 1.5) * 2"
        elif shape == 1:
            e = "exp(random() * 3)"
        else:
            e = "CASE WHEN random() < 0.5 THEN random() - 3 ELSE random() + 2 END"
        exprs.append(f"CASE WHEN random() < 0.01 THEN NULL ELSE {e} END AS {c}")
    for i, c in enumerate(cat):
        card = cards[i % 3]
        exprs.append(f"'v' || CAST(floor(random() * {card}) AS INTEGER) AS {c}")
    con = duckdb.connect(str(path))
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '2GB'")
    span = 90 * 86_400_000_000
    con.execute(
        f"CREATE TABLE events AS SELECT "
        f"TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_microseconds(CAST(i * {span / rows} AS BIGINT))"
        f" AS ts, {', '.join(exprs)} FROM range({rows}) t(i)"
    )
    con.close()
    return [(c, "numerical") for c in num] + [(c, "categorical") for c in cat]


def measure_duckdb(path: str) -> dict:
    """Runs in its own process: pushdown vs hand-written GROUP BY, and peak RSS."""
    import numpy as np
    import sqlalchemy as sa

    from watchkeeper.core.drift.profile import build_profile

    engine = sa.create_engine(
        f"duckdb:///{path}",
        connect_args={"read_only": True, "config": {"memory_limit": "300MB", "threads": 2}},
    )
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        ref = raw.sql(
            "SELECT * EXCLUDE (ts) FROM events USING SAMPLE 100000 ROWS (reservoir, 7)"
        ).to_arrow_table()
        n_rows = raw.execute("SELECT count(*) FROM events").fetchone()[0]
    profile = build_profile(ref)
    del ref
    analyze_drift_sql, daily = _engine("analyze_drift_sql", "1d")
    with _PeakRss() as peak, engine.connect() as conn:
        t = time.perf_counter()
        result = analyze_drift_sql(profile, conn, "events", window=daily, prediction=None)
        pushed_s = time.perf_counter() - t
    # hand-written: same bins, DuckDB idioms
    branches = []
    for k, fp in enumerate(profile.features):
        col = f'"{fp.name}"'
        if fp.kind == "numerical":
            cmp = " + ".join(f"({col} >= {e!r})::INT" for e in fp.edges) or "0"
            b = f"CASE WHEN {col} IS NULL OR isnan({col}) THEN {fp.n_bins - 1} ELSE {cmp} END"
        else:
            whens = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(fp.categories))
            other = ", ".join(f"'{v}'" for v in fp.other)
            b = (
                f"CASE WHEN {col} IS NULL THEN {fp.n_bins - 1} "
                + (f"WHEN {col} IN ({other}) THEN {len(fp.categories)} " if other else "")
                + f"ELSE CASE {col} {whens} ELSE {fp.unseen_bin} END END"
            )
        branches.append(
            f"SELECT {k} AS f, epoch_us(date_trunc('day', ts)) AS d, {b} AS b, count(*) AS n "
            f"FROM events GROUP BY ALL"
        )
    hand_sql = " UNION ALL ".join(branches)
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("SET TimeZone = 'UTC'")  # days of the hand-written query in UTC too
        t = time.perf_counter()
        hand = raw.execute(hand_sql).fetchall()
        hand_s = time.perf_counter() - t
    engine.dispose()
    # the same counts?
    days = sorted({r[1] for r in hand})
    day_index = {d: i for i, d in enumerate(days)}
    same = True
    for k, fp in enumerate(profile.features):
        m = np.zeros((len(days), fp.n_bins), dtype=np.int64)
        for f, d, b, n in hand:
            if f == k:
                m[day_index[d], b] += n
        same &= bool(np.array_equal(m, result.features[k].counts))
    return {
        "rows": n_rows,
        "features": len(profile.features),
        "windows": len(result.windows),
        "pushed_s": pushed_s,
        "hand_s": hand_s,
        "ratio": pushed_s / hand_s,
        "peak_rss_mb": peak.peak / 1e6,
        "same_counts": same,
    }


# -- driver ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--duckdb-rows", type=int, default=10_000_000)
    ap.add_argument("--duckdb-file", help="reuse a table built by an earlier run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-rev", help="also measure the package at this git revision")
    ap.add_argument("--rounds", type=int, default=3, help="alternations with --baseline-rev")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        out = (
            measure_in_memory(rest[0], rest[1], int(rest[2]))
            if kind == "memory"
            else measure_duckdb(rest[0])
        )
        print(json.dumps(out))
        return
    work = Path(tempfile.mkdtemp(prefix="wk-drift-bench-"))
    print(f"# drift benchmarks, {os.cpu_count()} cores, data in {work}")
    trees: list[tuple[str, str | None]] = [("now", None)]
    if args.baseline_rev:
        trees.insert(0, (args.baseline_rev, baseline_tree(args.baseline_rev, work)))
    rounds = args.rounds if args.baseline_rev else 1
    if not args.skip_memory:
        import pyarrow.parquet as pq

        for rows, n_cols in ((100_000, 23), (1_000_000, 55)):
            ref_path, cur_path = work / f"ref_{rows}.parquet", work / f"cur_{rows}.parquet"
            pq.write_table(generate(100_000, n_cols - 1, 1, False), ref_path)
            pq.write_table(generate(rows, n_cols - 1, 2, True), cur_path)
            for r in range(rounds):
                for label, path in trees:
                    res = _child(["memory", str(ref_path), str(cur_path), str(args.repeat)], path)
                    cli = cli_cases(str(ref_path), str(cur_path), path)
                    tag = f"[{label}, round {r + 1}] " if args.baseline_rev else ""
                    print(
                        f"{tag}in-memory {rows:>9,} rows x {n_cols} cols "
                        f"(reference {res['reference_rows']:,}):"
                        f" full {res['full_s']:.3f} s / naive pass {res['naive_s']:.3f} s = "
                        f"ratio {res['ratio']:.2f}"
                        + (
                            f" (reference prepared once in {res['prepare_s']:.3f} s, "
                            f"{res['prepared_mb']:.0f} MB; unprepared {res['unprepared_s']:.3f} s"
                            f" = ratio {res['unprepared_s'] / res['naive_s']:.2f})"
                            if res["prepared"]
                            else " (no prepared reference)"
                        )
                        + f"; CPU time (all threads) full {res['full_cpu_s']:.3f} s / naive "
                        f"{res['naive_cpu_s']:.3f} s = {res['full_cpu_s'] / res['naive_cpu_s']:.2f}"
                        f"; load {os.getloadavg()[0]:.1f}" + f"; profile {res['profile_s']:.3f} s; "
                        f"peak RSS above pre-analysis {res['peak_above_before_x']:.2f}x and above "
                        f"interpreter baseline {res['peak_above_baseline_x']:.2f}x of "
                        f"{res['data_mb']:.0f} MB of columns (data read from Parquet alone: "
                        f"{res['loaded_above_baseline_x']:.2f}x); exact={res['exact']}; "
                        f"drift found in {res['drift_found']}; CLI cold (empty cache) "
                        f"{cli['cold']:.2f} s, CLI again (prepared reference cached) "
                        f"{cli['cached']:.2f} s, baseline process {cli['baseline']:.2f} s: "
                        f"cold / baseline {cli['cold'] / cli['baseline']:.2f}, "
                        f"cached / baseline {cli['cached'] / cli['baseline']:.2f}",
                        flush=True,
                    )
    if not args.skip_duckdb:
        t = time.perf_counter()
        if args.duckdb_file:
            db = Path(args.duckdb_file)
        else:
            db = work / "events.duckdb"
            build_duckdb(db, args.duckdb_rows)
        built = time.perf_counter() - t
        for r in range(rounds):
            for label, path in trees:
                res = _child(["duckdb", str(db)], path)
                tag = f"[{label}, round {r + 1}] " if args.baseline_rev else ""
                print(
                    f"{tag}duckdb pushdown {res['rows']:,} events x {res['features']} features x "
                    f"{res['windows']} daily windows: {res['pushed_s']:.2f} s vs hand-written "
                    f"{res['hand_s']:.2f} s = ratio {res['ratio']:.2f}; peak RSS "
                    f"{res['peak_rss_mb']:.0f} MB; same counts: {res['same_counts']} "
                    f"(table built in {built:.0f} s)",
                    flush=True,
                )


def _env(pythonpath: str | None, home: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if home is not None:
        env["WATCHKEEPER_HOME"] = home
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(x for x in (pythonpath, env.get("PYTHONPATH")) if x)
    return env


def _child(argv: list[str], pythonpath: str | None = None) -> dict:
    out = subprocess.run(
        [PY, __file__, "--child", *argv],
        capture_output=True,
        text=True,
        check=False,
        env=_env(pythonpath),
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_tree(rev: str, work: Path) -> str:
    """The package at git revision ``rev`` as an importable folder; returns the folder."""
    root = work / f"baseline-{rev.replace('/', '_')}"
    dirs = ["core", "app", "widgets", "resources"]
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, *dirs], capture_output=True, check=True
    ).stdout
    root.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    pkg = root / "src" / "watchkeeper"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for d in dirs:
        (pkg / d).symlink_to(root / d)
    return str(root / "src")


if __name__ == "__main__":
    main()
