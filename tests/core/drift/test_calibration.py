"""Calibration: on data without drift, the share of analyses with any false alarm.

Nominal level: ``p_value = 0.05`` family-wise (Holm over all features × windows of one
analysis). Tolerance: nominal + 3 standard errors of a proportion over the run count.

Large N is simulated at the level of counts, the way the engine sees data:

- numerical features: the reference is binned at its own deciles, so its value-bin counts
  are (almost exactly) equal, and the true probability of each bin is a spacing of uniform
  order statistics — Dirichlet with the reference counts as parameters. Current counts are
  multinomial draws from those probabilities. Missing values: 1 % on both sides, binomial.
- categorical features: five categories, both sides multinomial.

Small N is also run end to end on raw rows through ``analyze_drift``.

Both threshold modes are simulated: ``absolute`` (fixed PSI cut-offs) and ``calibrated``
(per feature and window from the reference's own counts, core/drift/calibrate.py — here
with fewer resamples, to stay fast). :func:`_power` is the study's power curve: one
numerical feature's mean shifted by ``shift`` standard deviations, the share of analyses
calling it ``drift`` (benchmarks/drift_calibration.py prints and plots it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from watchkeeper.core.drift.calibrate import calibrated_cutoffs
from watchkeeper.core.drift.decide import Thresholds, adjust_p, decide
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.statistics import chi_square, psi
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

ALPHA = 0.05
RUNS = 5000
FEATURES = 6  # 3 numerical, 3 categorical
WINDOWS = 4
MISSING = 0.01
CAT_P = np.array([0.4, 0.25, 0.2, 0.1, 0.05])


def _tolerance(runs: int) -> float:
    return ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / runs)


def _cutoffs(ref: np.ndarray, n: int, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated (watch, drift) cut-offs of every run and feature, ``(R, F, W)`` each."""
    s = DriftSection()
    runs, nf, _ = ref.shape
    watch, drift = np.empty((runs, nf, WINDOWS)), np.empty((runs, nf, WINDOWS))
    for r in range(runs):
        for f in range(nf):
            c = calibrated_cutoffs(
                ref[r, f],
                np.full(WINDOWS, n),
                name=f"{r}/{f}",
                quantile=s.calibration_quantile,
                margin=s.calibration_margin,
                watch_floor=s.psi_watch_floor,
                drift_floor=s.psi_floor,
                resamples=resamples,
            )
            watch[r, f], drift[r, f] = c.watch, c.drift
    return watch, drift


def _simulate(
    n: int,
    runs: int,
    rng: np.random.Generator,
    *,
    thresholds: str = "absolute",
    shift: float = 0.0,
    resamples: int = 200,
) -> tuple[float, float]:
    """(share of runs with any `drift`, share with any significant cell) at N rows/window.

    ``shift``: the first numerical feature's current values move by that many standard
    deviations of a normal (its bins are the normal's deciles), the others stay; the first
    share is then the power to call that feature `drift`.
    """
    t = Thresholds(0.1, 0.2, ALPHA, 500, 1)
    nf = FEATURES // 2
    # numerical: reference binned at its own deciles; truth = Dirichlet spacings
    miss_ref = rng.binomial(n, MISSING, size=(runs, nf))
    values = n - miss_ref
    ref_values = (values[..., None] // 10) + (np.arange(10) < (values[..., None] % 10))
    ref_num = np.concatenate([ref_values, miss_ref[..., None]], axis=-1)  # (R, nf, 11)
    truth = np.stack([rng.dirichlet(a) for a in ref_values.reshape(-1, 10)])
    if shift:
        # the first feature of every run: the truth's quantile edges, shifted normal mass
        truth = truth.reshape(runs, nf, 10)
        edges = special.ndtri(np.clip(np.cumsum(truth[:, 0, :-1], axis=1), 1e-12, 1 - 1e-12))
        cdf = special.ndtr(edges - shift)
        truth[:, 0] = np.diff(np.concatenate([np.zeros((runs, 1)), cdf, np.ones((runs, 1))], 1))
        truth = truth.reshape(-1, 10)
    probs = np.concatenate([truth * (1 - MISSING), np.full((truth.shape[0], 1), MISSING)], 1)
    probs /= probs.sum(axis=1, keepdims=True)
    cur_num = np.stack([rng.multinomial(n, pr, size=WINDOWS) for pr in probs])  # (R*nf, W, 11)
    # categorical: five categories (+ other, unseen, missing bins), both sides multinomial
    cat_p = np.append(CAT_P, [0, 0, 0])
    ref_cat = rng.multinomial(n, cat_p, size=runs * nf)  # (R*nf, 8)
    cur_cat = rng.multinomial(n, cat_p, size=(runs * nf, WINDOWS))  # (R*nf, W, 8)
    p_cells, psi_cells, ref_cells = [], [], []
    for ref, cur in ((ref_num.reshape(-1, 11), cur_num), (ref_cat, cur_cat)):
        bins = ref.shape[-1]
        ref_rows = np.repeat(ref, WINDOWS, axis=0)  # row-aligned with current windows
        cur_rows = cur.reshape(-1, bins)
        _, _, p = chi_square(ref_rows, cur_rows)
        p_cells.append(p.reshape(runs, nf, WINDOWS))
        psi_cells.append(psi(ref_rows, cur_rows).reshape(runs, nf, WINDOWS))
        ref_cells.append(ref.reshape(runs, nf, bins))
    p_all = np.concatenate(p_cells, axis=1)  # (R, F, W)
    psi_all = np.concatenate(psi_cells, axis=1)
    padj = np.stack([adjust_p(p_all[r], "holm") for r in range(runs)])  # family = one run
    any_sig = (padj < ALPHA).any(axis=(1, 2))
    cuts: dict[str, np.ndarray] = {}
    if thresholds == "calibrated":
        w_num, d_num = _cutoffs(ref_cells[0], n, resamples)
        w_cat, d_cat = _cutoffs(ref_cells[1], n, resamples)
        cuts = {
            "watch_cut": np.concatenate([w_num, w_cat], axis=1),
            "drift_cut": np.concatenate([d_num, d_cat], axis=1),
        }
    decisions = decide(psi_all, padj, np.full(WINDOWS, n), n, t, **cuts)
    if shift:
        return float((decisions[:, 0] == "drift").any(axis=1).mean()), float(any_sig.mean())
    any_drift = (decisions == "drift").any(axis=(1, 2))
    return float(any_drift.mean()), float(any_sig.mean())


@pytest.mark.parametrize("n", [1_000, 10_000, 100_000, 1_000_000, 10_000_000])
def test_no_drift_counts_false_alarm_rate(n: int) -> None:
    rng = np.random.default_rng(n)
    drift_rate, sig_rate = _simulate(n, RUNS, rng)
    tol = _tolerance(RUNS)
    # The test alone (before the effect-size condition) holds its level at every N ...
    assert sig_rate <= tol, f"N={n}: {sig_rate:.4f} of {RUNS} runs significant (> {tol:.4f})"
    # ... and `drift`, which needs both, even more so.
    assert drift_rate <= tol, f"N={n}: {drift_rate:.4f} of {RUNS} runs with drift"


@pytest.mark.parametrize("n", [1_000, 1_000_000])
def test_no_drift_false_alarm_rate_calibrated(n: int) -> None:
    runs = 200
    drift_rate, _ = _simulate(n, runs, np.random.default_rng([n, 1]), thresholds="calibrated")
    assert drift_rate <= _tolerance(runs), f"N={n}: {drift_rate:.4f} of {runs} runs with drift"


def test_calibrated_finds_a_small_shift_at_small_windows_more_often() -> None:
    # 0.35 sd: PSI about 0.12, under the absolute drift cut-off, over the calibrated floor
    runs, n = 100, 3_000
    absolute, _ = _simulate(n, runs, np.random.default_rng(5), shift=0.35)
    calibrated, _ = _simulate(
        n, runs, np.random.default_rng(5), thresholds="calibrated", shift=0.35
    )
    assert calibrated > absolute + 0.3, (absolute, calibrated)


def test_no_drift_raw_rows_end_to_end() -> None:
    runs, n = 150, 1000
    rng = np.random.default_rng(11)
    settings = DriftSection(min_rows=500)
    false_drift = false_sig = 0
    ts = pd.date_range("2026-01-01", periods=2 * n, freq="86s", tz="UTC")  # two days
    for _ in range(runs):

        def frame(size: int) -> dict:
            x = rng.normal(size=size)
            x[rng.random(size) < MISSING] = np.nan
            return {
                "x": x,
                "y": rng.lognormal(size=size),
                "c": rng.choice(5, size, p=CAT_P).astype(str),
            }

        cur = frame(2 * n)
        cur["ts"] = ts
        r = analyze_drift(
            frame(n),
            cur,
            window=parse_window("1d"),
            settings=settings,
            exact=False,
            multivariate=False,
        )
        cells = [w for f in r.features for w in f.windows]
        assert len(cells) == 3 * 2
        false_drift += any(w.decision == "drift" for w in cells)
        false_sig += any(w.p_adjusted is not None and w.p_adjusted < ALPHA for w in cells)
    tol = _tolerance(runs)
    assert false_sig / runs <= tol and false_drift / runs <= tol


def test_cutoffs_asked_again_are_remembered_and_the_same() -> None:
    from watchkeeper.core.drift import calibrate

    ref = np.array([400, 300, 200, 100], dtype=np.int64)
    rows = np.array([0, 50, 600, 2_000, 2_000], dtype=np.int64)
    kwargs = dict(
        name="amount", quantile=0.99, margin=1.5, watch_floor=0.05, drift_floor=0.1, min_rows=30
    )
    first = calibrate.calibrated_cutoffs(ref, rows, **kwargs)
    again = calibrate.calibrated_cutoffs(ref.copy(), rows.copy(), **kwargs)
    assert again is first  # remembered
    with pytest.raises(ValueError):
        first.watch[0] = 1.0  # shared, so read-only
    calibrate._MEMO.clear()
    fresh = calibrate.calibrated_cutoffs(ref, rows, **kwargs)
    assert fresh is not first
    np.testing.assert_array_equal(fresh.drift, first.drift)
    np.testing.assert_array_equal(fresh.null_quantile, first.null_quantile)
    # another window size, another name: not the remembered answer
    other = calibrate.calibrated_cutoffs(ref, rows[:-1], **kwargs)
    assert other.watch.shape == (4,)
    assert calibrate.calibrated_cutoffs(ref, rows, **{**kwargs, "name": "age"}) is not fresh
