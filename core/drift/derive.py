"""From counts to a :class:`~watchkeeper.core.drift.result.DriftResult`: the statistics of
every feature and window, the p-values corrected together, the decisions.

Both engines end here, whichever way they counted (numpy or the database) and whether or
not they measured the exact statistics (:mod:`~watchkeeper.core.drift.exact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from watchkeeper.core.drift.calibrate import calibrated_cutoffs
from watchkeeper.core.drift.counting import WindowCounts
from watchkeeper.core.drift.data import CATEGORICAL, NUMERICAL
from watchkeeper.core.drift.decide import Thresholds, adjust_p, decide
from watchkeeper.core.drift.exact import ExactStats
from watchkeeper.core.drift.multivariate import MultivariateDrift
from watchkeeper.core.drift.onset import change_onset
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile
from watchkeeper.core.drift.result import DriftResult, FeatureDrift, FeatureWindow, WindowInfo
from watchkeeper.core.drift.statistics import binned_stats
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import Windows

__all__ = ["derive_result"]


def _opt(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _opts(x: np.ndarray) -> list[float | None]:
    """:func:`_opt` of every value of an array (NaN and ±inf: None)."""
    a = np.asarray(x, dtype=np.float64)
    return [v if ok else None for v, ok in zip(a.tolist(), np.isfinite(a).tolist(), strict=True)]


def _thresholds_for(fp: FeatureProfile, s: DriftSection) -> tuple[float, float]:
    if fp.kind == CATEGORICAL and fp.high_cardinality:
        return s.high_cardinality_psi_watch, s.high_cardinality_psi_drift
    return s.psi_watch, s.psi_drift


def derive_result(
    profile: ReferenceProfile,
    windows: Windows,
    counts: WindowCounts,
    settings: DriftSection,
    *,
    prediction: str | None = None,
    exact: dict[str, ExactStats] | None = None,
    multivariate: MultivariateDrift | None = None,
    notes: Sequence[str] = (),
) -> DriftResult:
    """Statistics and decisions from counts (however they were counted)."""
    s = settings
    exact = exact or {}
    notes = list(notes)
    per: list[tuple[FeatureProfile, Any, np.ndarray]] = []
    p_all = []
    for name in counts.features:
        fp = profile.feature(name)
        c = counts.of(name)
        bs = binned_stats(
            np.asarray(fp.counts),
            c,
            numerical=fp.kind == NUMERICAL,
            unseen_bin=fp.unseen_bin if fp.vocabulary_complete else None,
        )
        p = bs.p_chi2
        if s.test == "ks" and fp.kind == NUMERICAL:
            if name in exact:
                p = exact[name].ks_p
            elif "ks test" not in " ".join(notes):
                notes.append("ks test: exact values unavailable, chi-square used instead")
        p = np.where(counts.rows < s.min_rows, np.nan, p)
        if fp.rows < s.min_rows:
            p = np.full_like(p, np.nan)
        per.append((fp, bs, p))
        p_all.append(p)
    n_windows = len(windows)
    adjusted = adjust_p(np.vstack(p_all), s.correction) if per else np.zeros((0, n_windows))
    results = []
    rows_list = [int(r) for r in counts.rows]
    for k, (fp, bs, p) in enumerate(per):
        watch, drift = _thresholds_for(fp, s)
        th = Thresholds(watch, drift, s.p_value, s.min_rows, s.persistence)
        if s.thresholds == "calibrated":
            cut = calibrated_cutoffs(
                np.asarray(fp.counts),
                counts.rows,
                name=fp.name,
                quantile=s.calibration_quantile,
                margin=s.calibration_margin,
                watch_floor=s.psi_watch_floor,
                drift_floor=s.psi_floor,
                min_rows=s.min_rows,
            )
            watch_cut, drift_cut = cut.watch, cut.drift
        else:
            watch_cut = np.full(n_windows, watch, dtype=np.float64)
            drift_cut = np.full(n_windows, drift, dtype=np.float64)
        dec = decide(
            bs.psi, adjusted[k], counts.rows, fp.rows, th, watch_cut=watch_cut, drift_cut=drift_cut
        )
        ex = exact.get(fp.name)
        ref_missing = fp.missing_rate
        # each statistic as a list of floats or None at once: 182,500 windows at 500 features
        # × 365 days, where a call per value took seconds
        mr = _opts(bs.missing_rate)
        none = [None] * n_windows
        exact_cols = (
            (_opts(ex.ks), _opts(ex.ks_p), _opts(ex.w1), _opts(ex.w1n), ex.mode, ex.sizes)
            if ex
            else (none,) * 6
        )
        chi2 = _opts(bs.chi2)
        dof = bs.dof.tolist()
        mrc = [None if m is None or ref_missing is None else m - ref_missing for m in mr]
        wins = [
            FeatureWindow(
                index=i,
                rows=rows_i,
                decision=dec_i,
                psi=psi_i,
                js=js_i,
                chi2=chi2_i,
                dof=None if chi2_i is None else int(dof_i),
                p_value=p_i,
                p_adjusted=pa_i,
                ks_binned=ksb_i,
                ks=ks_i,
                ks_p_value=ksp_i,
                wasserstein=w1_i,
                wasserstein_normalized=w1n_i,
                exact=mode_i,
                exact_rows=size_i,
                missing_rate=mr_i,
                missing_rate_change=mrc_i,
                unseen_rate=un_i,
                psi_watch_cut=wc_i,
                psi_drift_cut=dc_i,
            )
            for (
                i,
                rows_i,
                dec_i,
                psi_i,
                js_i,
                chi2_i,
                dof_i,
                p_i,
                pa_i,
                ksb_i,
                ks_i,
                ksp_i,
                w1_i,
                w1n_i,
                mode_i,
                size_i,
                mr_i,
                mrc_i,
                un_i,
                wc_i,
                dc_i,
            ) in zip(
                range(n_windows),
                rows_list,
                [str(d) for d in dec],
                _opts(bs.psi),
                _opts(bs.js),
                chi2,
                dof,
                _opts(p),
                _opts(adjusted[k]),
                _opts(bs.ks_binned),
                *exact_cols,
                mr,
                mrc,
                _opts(bs.unseen_rate),
                _opts(watch_cut),
                _opts(drift_cut),
                strict=True,
            )
        ]
        decisions = tuple(str(d) for d in dec)
        series = np.where(
            np.isfinite(bs.psi) & (np.asarray(dec) != "insufficient"), bs.psi, np.nan
        ).astype(np.float64)
        results.append(
            FeatureDrift(
                name=fp.name,
                kind=fp.kind,
                cardinality=fp.cardinality if fp.kind == CATEGORICAL else None,
                high_cardinality=fp.high_cardinality,
                psi_watch=watch,
                psi_drift=drift,
                labels=fp.labels,
                reference_counts=np.asarray(fp.counts),
                counts=counts.of(fp.name),
                windows=tuple(wins),
                onset=change_onset(series, watch),
                psi_series=series,
                decision_series=decisions,
            )
        )
    pred = None
    if prediction is not None:
        pred = next((f for f in results if f.name == prediction), None)
        results = [f for f in results if f.name != prediction]
    infos = tuple(
        WindowInfo(i, windows.starts[i], windows.ends[i], int(counts.rows[i]))
        for i in range(n_windows)
    )
    return DriftResult(
        reference_rows=profile.rows,
        reference_digest=profile.digest,
        window_spec=windows.spec,
        windows=infos,
        features=tuple(results),
        prediction=pred,
        multivariate=multivariate,
        settings=s,
        notes=tuple(notes),
    )
