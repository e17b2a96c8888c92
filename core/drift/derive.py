"""From counts to a :class:`~watchkeeper.core.drift.result.DriftResult`: the statistics of
every feature and window, the p-values corrected together, the decisions.

Both engines end here, whichever way they counted (numpy or the database) and whether or
not they measured the exact statistics (:mod:`~watchkeeper.core.drift.exact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from watchkeeper.core.drift.calibrate import Cutoffs, calibrated_cutoffs
from watchkeeper.core.drift.counting import WindowCounts
from watchkeeper.core.drift.data import CATEGORICAL, NUMERICAL
from watchkeeper.core.drift.decide import Thresholds, adjust_p, decide
from watchkeeper.core.drift.exact import ExactStats
from watchkeeper.core.drift.multivariate import MultivariateDrift
from watchkeeper.core.drift.onset import change_onset
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile
from watchkeeper.core.drift.result import (
    FLOAT_FIELDS,
    DriftResult,
    FeatureDrift,
    WindowInfo,
    WindowTable,
)
from watchkeeper.core.drift.statistics import binned_stats
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import Windows

__all__ = ["derive_result", "feature_cutoffs", "warm_cutoffs"]


def _window_table(
    n: int,
    rows: np.ndarray,
    dec: Any,
    bs: Any,
    p: np.ndarray,
    adjusted: np.ndarray,
    ex: ExactStats | None,
    fp: FeatureProfile,
    watch_cut: np.ndarray,
    drift_cut: np.ndarray,
) -> WindowTable:
    """One feature's windows as columns (NaN: none), in :data:`FLOAT_FIELDS`' order."""
    nan = np.full(n, np.nan)
    missing = np.asarray(bs.missing_rate, dtype=np.float64)
    columns = {
        "psi": bs.psi,
        "js": bs.js,
        "chi2": bs.chi2,
        "p_value": p,
        "p_adjusted": adjusted,
        "ks_binned": bs.ks_binned,
        "ks": ex.ks if ex else nan,
        "ks_p_value": ex.ks_p if ex else nan,
        "wasserstein": ex.w1 if ex else nan,
        "wasserstein_normalized": ex.w1n if ex else nan,
        "missing_rate": missing,
        "missing_rate_change": nan if fp.missing_rate is None else missing - fp.missing_rate,
        "unseen_rate": bs.unseen_rate,
        "psi_watch_cut": watch_cut,
        "psi_drift_cut": drift_cut,
    }
    floats = np.empty((len(FLOAT_FIELDS), n), dtype=np.float64)
    for r, name in enumerate(FLOAT_FIELDS):
        floats[r] = columns[name]
    sizes = np.full((n, 2), -1, dtype=np.int64)
    if ex:
        for i, size in enumerate(ex.sizes):
            if size is not None:
                sizes[i] = size
    return WindowTable(
        positions=np.arange(n, dtype=np.int64),
        rows=np.asarray(rows, dtype=np.int64),
        decision=tuple(str(d) for d in dec),
        floats=floats,
        dof=np.asarray(bs.dof, dtype=np.int64),
        exact=tuple(ex.mode) if ex else (None,) * n,
        exact_rows=sizes,
    )


def feature_cutoffs(fp: FeatureProfile, rows: np.ndarray, s: DriftSection) -> Cutoffs:
    """A feature's calibrated cut-offs for windows of ``rows`` (remembered: see
    :func:`~watchkeeper.core.drift.calibrate.calibrated_cutoffs`)."""
    return calibrated_cutoffs(
        np.asarray(fp.counts),
        rows,
        name=fp.name,
        quantile=s.calibration_quantile,
        margin=s.calibration_margin,
        watch_floor=s.psi_watch_floor,
        drift_floor=s.psi_floor,
        min_rows=s.min_rows,
    )


def warm_cutoffs(profile: ReferenceProfile, rows: np.ndarray, s: DriftSection) -> None:
    """Work out every feature's calibrated cut-offs ahead of :func:`derive_result` (on a
    thread while the windows are counted: the first ranking then finds them made)."""
    if s.thresholds != "calibrated":
        return
    for fp in profile.features:
        feature_cutoffs(fp, rows, s)


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
    for k, (fp, bs, p) in enumerate(per):
        watch, drift = _thresholds_for(fp, s)
        th = Thresholds(watch, drift, s.p_value, s.min_rows, s.persistence)
        if s.thresholds == "calibrated":
            cut = feature_cutoffs(fp, counts.rows, s)
            watch_cut, drift_cut = cut.watch, cut.drift
        else:
            watch_cut = np.full(n_windows, watch, dtype=np.float64)
            drift_cut = np.full(n_windows, drift, dtype=np.float64)
        dec = decide(
            bs.psi, adjusted[k], counts.rows, fp.rows, th, watch_cut=watch_cut, drift_cut=drift_cut
        )
        ex = exact.get(fp.name)
        table = _window_table(
            n_windows, counts.rows, dec, bs, p, adjusted[k], ex, fp, watch_cut, drift_cut
        )
        decisions = table.decision
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
                windows=table,
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
