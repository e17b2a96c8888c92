"""Worst-slice discovery on a multiclass metric against the binary one, same table, same run.

One table of ``--rows`` events and ``--features`` features (half categorical) holds a binary
score and label and a three-class outcome with its probabilities. Discovery runs on it with
the binary ROC AUC (the baseline), then with multiclass accuracy (binomial), macro-F1 and
macro ROC AUC (grouped jackknife); printed: seconds, the ratio to the baseline, candidates
tested, the peak of traced Python memory (numpy's arrays included).

    .venv/bin/python benchmarks/multiclass_slices.py --rows 200000 --features 20

``--engine duckdb``: the same table in a DuckDB file, and the Slices view's work on it read
into memory (before: the window read, five slices' metrics — ROC AUC among them —, the
search on macro-F1 against a reference period, as ``run_slices`` does it) against counted in
DuckDB (after: ``multiclass_slice_metrics_pushed`` and ``find_worst_slices_pushed``), and
counted without ROC AUC (the cost of its rank sums and sample), each in a fresh process,
alternated ``--rounds`` times in the same run: seconds and peak RSS, medians.

    .venv/bin/python benchmarks/multiclass_slices.py --engine duckdb --rows 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa

from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
from watchkeeper.core.evaluation.worst_slices import find_worst_slices


def world(rows: int, features: int, seed: int = 0) -> tuple[pa.Table, list[str], list[str]]:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    names, categorical = [], []
    for j in range(features):
        name = f"f{j}"
        names.append(name)
        if j % 2:
            cols[name] = rng.choice([f"l{k}" for k in range(8)], rows).tolist()
            categorical.append(name)
        else:
            cols[name] = rng.normal(size=rows)
    weak = np.asarray(cols["f1"]) == "l3" if features > 1 else np.zeros(rows, bool)
    y = rng.integers(0, 3, rows)
    logits = rng.normal(size=(rows, 3))
    logits[np.arange(rows), y] += np.where(weak, 0.3, 2.0)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    names_c = np.array(["a", "b", "c"])
    cols |= {
        "p_a": p[:, 0],
        "p_b": p[:, 1],
        "p_c": p[:, 2],
        "tier": names_c[y].tolist(),
        "label": (y == 0).astype(float),
        "score": p[:, 0],
    }
    return pa.table(cols), names, categorical


CLASSES = {"a": "p_a", "b": "p_b", "c": "p_c"}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CUT = T0 + dt.timedelta(days=10)
END = T0 + dt.timedelta(days=20)


def write_duckdb(path: Path, rows: int, features: int) -> None:
    import duckdb

    table, _, _ = world(rows, features)
    table = table.drop_columns(["label", "score"])
    table = table.rename_columns(["label" if c == "tier" else c for c in table.column_names])
    step = (END - T0) / rows
    ts = pa.array([T0 + step * i for i in range(rows)], pa.timestamp("us", tz="UTC"))
    table = table.append_column("ts", ts).append_column("model", pa.array(["m"] * rows))
    table = table.append_column("model_version", pa.array(["1"] * rows))
    with duckdb.connect(str(path)) as con:
        con.register("t", table)
        con.sql("CREATE TABLE events AS SELECT * FROM t")


#: The slice metrics of either side (the counted side drops ROC AUC for ``pushed-no-auc``).
SLICE_METRICS = (
    "macro_f1", "accuracy", "balanced_accuracy", "weighted_f1", "log_loss", "roc_auc",
)  # fmt: skip


def run_one(how: str, db: str, features: int) -> None:
    """One side of the A/B in this process: seconds and peak RSS on one line."""
    from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
    from watchkeeper.core.telemetry.contract import ColumnMapping
    from watchkeeper.core.telemetry.source import open_source

    names = [f"f{j}" for j in range(features)]
    categorical = [n for j, n in enumerate(names) if j % 2]
    outcomes = ClassColumns(CLASSES, "label", None)
    slices = [SlicePredicate(f"l{k}", (Condition("f1", "eq", f"l{k}"),)) for k in range(4)]
    slices.append(SlicePredicate("high f0", (Condition("f0", "range", (0.5, None)),)))
    mapping = ColumnMapping(class_probabilities=CLASSES, score=None, prediction=None)
    t0 = time.perf_counter()
    with open_source(f"duckdb:///{db}#events", mapping) as src:
        if how == "memory":
            from watchkeeper.core.evaluation.data import read_events
            from watchkeeper.core.evaluation.slices import slice_metrics

            cols = ["label", *CLASSES.values(), *names]
            cur = read_events(src, model="m", versions=["1"], start=CUT, end=END, columns=cols)
            ref = read_events(src, model="m", versions=["1"], start=T0, end=CUT, columns=cols)
            slice_metrics(cur, slices, metrics=SLICE_METRICS, outcomes=outcomes)
            w = find_worst_slices(
                cur, names, metric="macro_f1", categorical=categorical, baseline=ref,
                outcomes=outcomes,
            )  # fmt: skip
        else:
            from watchkeeper.core.evaluation.multiclass_slices_sql import (
                multiclass_slice_metrics_pushed,
            )
            from watchkeeper.core.evaluation.slices_sql import find_worst_slices_pushed

            metrics = SLICE_METRICS if how == "pushed" else SLICE_METRICS[:-1]
            multiclass_slice_metrics_pushed(
                src, slices, outcomes=outcomes, model="m", versions=["1"], start=CUT, end=END,
                metrics=metrics,
            )  # fmt: skip
            w = find_worst_slices_pushed(
                src, names, model="m", version="1", start=CUT, end=END,
                baseline=("1", T0, CUT), metric="macro_f1", categorical=categorical,
                outcomes=outcomes,
            )  # fmt: skip
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    top = w.candidates[0].predicate.label if w.candidates else "-"
    print(f"{seconds:.2f} {peak:.0f} {w.tested} {top}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--engine", choices=("memory", "duckdb"), default="memory")
    ap.add_argument("--rounds", type=int, default=1, help="duckdb: A/B alternations")
    ap.add_argument("--run", choices=("memory", "pushed", "pushed-no-auc"), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--write", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write:
        write_duckdb(Path(args.db), args.rows, args.features)
        return 0
    if args.run:
        run_one(args.run, args.db, args.features)
        return 0
    if args.engine == "duckdb":
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "t.duckdb"
            # written by a process of its own: a child's peak RSS counts its parent's at the
            # fork (Linux keeps ru_maxrss across exec), so this one stays small
            subprocess.run(
                [sys.executable, __file__, "--write", "--db", str(db), "--rows", str(args.rows),
                 "--features", str(args.features)],
                check=True, capture_output=True,
            )  # fmt: skip
            print(f"{args.rows:,} rows, {args.features} features, DuckDB, one process each")
            labels = {
                "memory": "read into memory",
                "pushed-no-auc": "counted, no ROC AUC",
                "pushed": "counted with ROC AUC",
            }
            got: dict[str, list[tuple[float, float]]] = {how: [] for how in labels}
            for r in range(args.rounds):
                for how, label in labels.items():
                    out = subprocess.run(
                        [sys.executable, __file__, "--run", how, "--db", str(db),
                         "--features", str(args.features)],
                        capture_output=True, text=True, check=True,
                    ).stdout.strip().splitlines()[-1].split(maxsplit=3)  # fmt: skip
                    seconds, peak, tested, top = out
                    got[how].append((float(seconds), float(peak)))
                    print(
                        f"round {r + 1} {label:24s} {float(seconds):7.2f} s  peak RSS "
                        f"{float(peak):7.0f} MiB  {tested} tested  top: {top}",
                        flush=True,
                    )
            for how, label in labels.items():
                secs = statistics.median(x for x, _ in got[how])
                peak = statistics.median(y for _, y in got[how])
                print(f"median {label:24s} {secs:7.2f} s  peak RSS {peak:7.0f} MiB")
        return 0
    table, features, categorical = world(args.rows, args.features)
    outcomes = ClassColumns({"a": "p_a", "b": "p_b", "c": "p_c"}, "tier", None)
    runs = [("binary roc_auc (baseline)", "roc_auc", None)]
    runs += [(f"multiclass {m}", m, outcomes) for m in ("accuracy", "macro_f1", "roc_auc")]
    base = None
    print(f"{args.rows:,} rows, {args.features} features ({len(categorical)} categorical)")
    for label, metric, oc in runs:
        tracemalloc.start()
        t0 = time.perf_counter()
        w = find_worst_slices(
            table, features, metric=metric, categorical=categorical, outcomes=oc, max_rows=None
        )
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        base = base or seconds
        print(
            f"{label:28s} {seconds:7.2f} s  ×{seconds / base:5.2f}  {w.tested:5d} tested  "
            f"peak {peak / 2**20:7.1f} MiB  top: {w.candidates[0].predicate.label}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
