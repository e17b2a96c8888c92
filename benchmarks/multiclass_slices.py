"""Worst-slice discovery on a multiclass metric against the binary one, same table, same run.

One table of ``--rows`` events and ``--features`` features (half categorical) holds a binary
score and label and a three-class outcome with its probabilities. Discovery runs on it with
the binary ROC AUC (the baseline), then with multiclass accuracy (binomial), macro-F1 and
macro ROC AUC (grouped jackknife); printed: seconds, the ratio to the baseline, candidates
tested, the peak of traced Python memory (numpy's arrays included).

    .venv/bin/python benchmarks/multiclass_slices.py --rows 200000 --features 20
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args()
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
