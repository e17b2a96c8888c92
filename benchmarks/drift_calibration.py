"""The fuller calibration study behind tests/core/drift/test_calibration.py.

1. False alarms. On data with no drift, the share of analyses (6 features × 4 windows, Holm
   across all 24 cells) with any significant cell, and with any `drift` decision under the
   absolute and under the calibrated thresholds, at N rows per window from 1,000 to
   10,000,000 — simulated at the level of counts exactly as the test does (the simulation is
   the test module's ``_simulate``, so study and test cannot drift apart), with more runs and
   several seeds. Prints each share with its standard error and the nominal level.
2. Power. On the same simulation, one numerical feature's mean shifted by ``shift`` standard
   deviations: the share of analyses calling it `drift`, absolute vs calibrated, per N and
   shift (a table, and the curve saved as a PNG).

No assertions: the suite's tests hold the line; this shows the margin.

    .venv/bin/python benchmarks/drift_calibration.py [--runs 20000] [--seeds 3]
        [--calibrated-runs 2000] [--power-runs 400] [--png resources/screenshots/drift-power.png]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "tests" / "core" / "drift" / "test_calibration.py"
POWER_N = (1_000, 3_000, 10_000, 100_000)
SHIFTS = (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def _load_simulation():
    spec = importlib.util.spec_from_file_location("drift_calibration_test", TEST)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _false_alarms(sim, runs: int, seeds: int, calibrated_runs: int) -> None:
    alpha = sim.ALPHA
    print(f"nominal family-wise level {alpha}; absolute: {runs:,} runs × {seeds} seeds per N, ")
    print(f"calibrated: {calibrated_runs:,} runs × {seeds} seeds per N (200 resamples each)")
    head = ("N per window", "any significant", "any drift abs", "SE", "any drift cal", "SE", "s")
    print(f"{head[0]:>14} {head[1]:>16} {head[2]:>14} {head[3]:>7} {head[4]:>14} {head[5]:>7}"
          f" {head[6]:>6}")  # fmt: skip
    for n in (1_000, 10_000, 100_000, 1_000_000, 10_000_000):
        started = time.perf_counter()
        sig, drift, cal = [], [], []
        for seed in range(seeds):
            d, s = sim._simulate(n, runs, np.random.default_rng([n, seed]))
            drift.append(d)
            sig.append(s)
            c, _ = sim._simulate(
                n, calibrated_runs, np.random.default_rng([n, seed, 1]), thresholds="calibrated"
            )
            cal.append(c)
        se = math.sqrt(alpha * (1 - alpha) / (runs * seeds))
        se_cal = math.sqrt(alpha * (1 - alpha) / (calibrated_runs * seeds))
        took = time.perf_counter() - started
        print(
            f"{n:>14,} {np.mean(sig):>16.4f} {np.mean(drift):>14.4f} {se:>7.4f}"
            f" {np.mean(cal):>14.4f} {se_cal:>7.4f} {took:>6.1f}"
        )


def _power(sim, runs: int, png: Path | None) -> None:
    print(f"\npower: share of {runs} analyses calling the shifted feature `drift`")
    print(f"{'N':>9} {'shift (sd)':>10} {'PSI approx':>10} {'absolute':>9} {'calibrated':>11}")
    curves: dict[int, tuple[list[float], list[float]]] = {}
    for n in POWER_N:
        a_row, c_row = [], []
        for shift in SHIFTS:
            a, _ = sim._simulate(n, runs, np.random.default_rng([n, 7]), shift=shift)
            c, _ = sim._simulate(
                n, runs, np.random.default_rng([n, 7]), shift=shift, thresholds="calibrated"
            )
            a_row.append(a)
            c_row.append(c)
            # PSI of a normal mean shift d is about d² (the symmetric KL of two normals)
            print(f"{n:>9,} {shift:>10.2f} {shift**2:>10.3f} {a:>9.3f} {c:>11.3f}")
        curves[n] = (a_row, c_row)
    if png is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(POWER_N)))
    for color, n in zip(colors, POWER_N, strict=True):
        a_row, c_row = curves[n]
        ax.plot(SHIFTS, c_row, "-o", color=color, label=f"calibrated, N={n:,}")
        ax.plot(SHIFTS, a_row, "--", color=color, alpha=0.8, label=f"absolute, N={n:,}")
    ax.set_xlabel("mean shift of one feature (standard deviations); PSI ≈ shift²")
    ax.set_ylabel("share of analyses calling it drift")
    ax.set_title("Power: calibrated vs absolute PSI cut-offs (6 features × 4 windows, Holm)")
    ax.grid(alpha=0.3)
    # below the axes: every corner of the plot has a curve passing through it
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    print(f"\npower curve saved to {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="analyses per N and seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--calibrated-runs", type=int, default=2_000)
    parser.add_argument("--power-runs", type=int, default=400)
    parser.add_argument(
        "--png", type=Path, default=ROOT / "resources" / "screenshots" / "drift-power.png"
    )
    args = parser.parse_args()
    sim = _load_simulation()
    _false_alarms(sim, args.runs, args.seeds, args.calibrated_runs)
    _power(sim, args.power_runs, args.png)


if __name__ == "__main__":
    main()
