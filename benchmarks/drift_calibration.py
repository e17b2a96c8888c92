"""The fuller calibration study behind tests/core/drift/test_calibration.py.

On data with no drift, the share of analyses (6 features × 4 windows, Holm across all 24
cells) with any significant cell, and with any `drift` decision, at N rows per window
from 1,000 to 10,000,000 — simulated at the level of counts exactly as the test does (the
simulation is the test module's ``_simulate``, so study and test cannot drift apart), with
more runs and several seeds. Prints each share with its standard error and the nominal
level. No assertions: the suite's test holds the line; this shows the margin.

    .venv/bin/python benchmarks/drift_calibration.py [--runs 20000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np

TEST = Path(__file__).resolve().parents[1] / "tests" / "core" / "drift" / "test_calibration.py"


def _load_simulation():
    spec = importlib.util.spec_from_file_location("drift_calibration_test", TEST)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="analyses per N and seed")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    sim = _load_simulation()
    alpha = sim.ALPHA
    print(f"nominal family-wise level {alpha}; {args.runs:,} runs × {args.seeds} seeds per N")
    print(f"{'N per window':>14} {'any significant':>18} {'any drift':>12} {'SE':>8} {'s':>6}")
    for n in (1_000, 10_000, 100_000, 1_000_000, 10_000_000):
        started = time.perf_counter()
        sig, drift = [], []
        for seed in range(args.seeds):
            d, s = sim._simulate(n, args.runs, np.random.default_rng([n, seed]))
            drift.append(d)
            sig.append(s)
        runs = args.runs * args.seeds
        share_sig, share_drift = float(np.mean(sig)), float(np.mean(drift))
        se = math.sqrt(alpha * (1 - alpha) / runs)
        took = time.perf_counter() - started
        print(f"{n:>14,} {share_sig:>18.4f} {share_drift:>12.4f} {se:>8.4f} {took:>6.1f}")


if __name__ == "__main__":
    main()
