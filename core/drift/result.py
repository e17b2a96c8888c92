"""What a drift analysis found: per feature and window, the prediction, the multivariate
check, and the JSON document (CONTRACT.md's ``drift --json``) they make.

Both engines (:mod:`~watchkeeper.core.drift.engine` in memory,
:mod:`~watchkeeper.core.drift.engine_sql` in the database) return a :class:`DriftResult`,
built from counts by :func:`~watchkeeper.core.drift.derive.derive_result`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.core.drift.multivariate import MultivariateDrift
from watchkeeper.core.drift.onset import Onset
from watchkeeper.core.drift.statistics import PSI_PSEUDOCOUNT
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = ["DriftResult", "FeatureDrift", "FeatureWindow", "WindowInfo"]


@dataclass(frozen=True)
class FeatureWindow:
    """Everything measured for one feature in one window (None: does not exist)."""

    index: int
    rows: int
    decision: str
    psi: float | None
    js: float | None
    chi2: float | None
    dof: int | None
    p_value: float | None  # of the test used for the decision
    p_adjusted: float | None
    ks_binned: float | None
    ks: float | None
    ks_p_value: float | None
    wasserstein: float | None
    wasserstein_normalized: float | None
    exact: str | None  # "all", "sample" or None (not computed)
    exact_rows: tuple[int, int] | None  # (reference, current) values the exact stats used
    missing_rate: float | None
    missing_rate_change: float | None
    unseen_rate: float | None
    # the PSI cut-offs this window was decided with (per window when calibrated)
    psi_watch_cut: float | None = None
    psi_drift_cut: float | None = None


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    cardinality: int | None
    high_cardinality: bool
    psi_watch: float
    psi_drift: float
    labels: tuple[str, ...]
    reference_counts: np.ndarray  # (bins,)
    counts: np.ndarray  # (windows, bins)
    windows: tuple[FeatureWindow, ...]
    #: Since when it drifts: the latest sustained rise of its PSI (core/drift/onset.py).
    onset: Onset | None = None
    #: PSI per window as an array, NaN where none or insufficient (what views draw), and the
    #: decisions; derived from ``windows`` when not given.
    psi_series: np.ndarray | None = None
    decision_series: tuple[str, ...] | None = None

    def judged_psi(self) -> np.ndarray:
        """PSI per window, NaN where there is none or the window is insufficient."""
        if self.psi_series is not None:
            return self.psi_series
        judged = [w.psi if w.decision != "insufficient" else None for w in self.windows]
        return np.array([np.nan if v is None else v for v in judged], dtype=np.float64)

    def decisions(self) -> tuple[str, ...]:
        if self.decision_series is not None:
            return self.decision_series
        return tuple(w.decision for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "cardinality": self.cardinality,
            "windows": [_window_dict(w) for w in self.windows],
            # beyond CONTRACT.md: since when it drifts (core/drift/onset.py), or null
            "onset": _onset_dict(self.onset),
        }


def _onset_dict(onset: Onset | None) -> dict[str, Any] | None:
    if onset is None:
        return None
    return {"start": onset.start, "peak": onset.peak, "end": onset.end, "ongoing": onset.ongoing}


def _window_dict(w: FeatureWindow) -> dict[str, Any]:
    return {
        "index": w.index,
        "decision": w.decision,
        "psi": w.psi,
        "js": w.js,
        "p_value": w.p_value,
        "p_adjusted": w.p_adjusted,
        "missing_rate": w.missing_rate,
        "unseen_rate": w.unseen_rate,
        # Beyond CONTRACT.md's minimum: the other statistics and how they were obtained.
        "rows": w.rows,
        "chi2": w.chi2,
        "dof": w.dof,
        "ks_binned": w.ks_binned,
        "ks": w.ks,
        "ks_p_value": w.ks_p_value,
        "wasserstein": w.wasserstein,
        "wasserstein_normalized": w.wasserstein_normalized,
        "exact": w.exact,
        "exact_rows": list(w.exact_rows) if w.exact_rows else None,
        "missing_rate_change": w.missing_rate_change,
        "psi_watch_cut": w.psi_watch_cut,
        "psi_drift_cut": w.psi_drift_cut,
    }


@dataclass(frozen=True)
class WindowInfo:
    """One window: its bounds (row windows and the single window: the first and last event's
    time, ``None`` without timestamps) and its row count."""

    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    rows: int


@dataclass(frozen=True)
class DriftResult:
    """A drift analysis: the reference, the windows, per-feature results, the settings.

    ``window_spec`` is the window the current data was cut with (parsed: views label the
    windows from its kind and step, not from its text).
    """

    reference_rows: int
    reference_digest: str
    window_spec: WindowSpec
    windows: tuple[WindowInfo, ...]
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    multivariate: MultivariateDrift | None
    settings: DriftSection
    notes: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureDrift:
        for f in (*self.features, *((self.prediction,) if self.prediction else ())):
            if f.name == name:
                return f
        raise KeyError(name)

    def decisions(self) -> dict[str, tuple[str, ...]]:
        """``{feature: (decision per window)}``, the prediction included."""
        out = {f.name: f.decisions() for f in self.features}
        if self.prediction is not None:
            out[self.prediction.name] = self.prediction.decisions()
        return out

    def thresholds(self) -> dict[str, Any]:
        s = self.settings
        return {
            "mode": s.thresholds,
            "calibration_quantile": s.calibration_quantile,
            "calibration_margin": s.calibration_margin,
            "psi_watch_floor": s.psi_watch_floor,
            "psi_floor": s.psi_floor,
            "psi_watch": s.psi_watch,
            "psi_drift": s.psi_drift,
            "high_cardinality": s.high_cardinality,
            "high_cardinality_psi_watch": s.high_cardinality_psi_watch,
            "high_cardinality_psi_drift": s.high_cardinality_psi_drift,
            "p_value": s.p_value,
            "test": s.test,
            "correction": s.correction,
            "min_rows": s.min_rows,
            "persistence": s.persistence,
            "bins": s.bins,
            "max_categories": s.max_categories,
            "exact_sample_limit": s.exact_sample_limit,
            "psi_smoothing": f"{PSI_PSEUDOCOUNT} pseudo-count per bin used on either side",
            "ks_binned_resolution": "reference-quantile bin edges",
            "wasserstein_normalized_by": "reference standard deviation",
        }

    def to_dict(self) -> dict[str, Any]:
        """CONTRACT.md's ``drift --json`` document (plus extra keys); no NaN anywhere."""
        doc = {
            "reference": {"rows": self.reference_rows, "digest": self.reference_digest},
            "windows": [
                {"index": w.index, "start": _iso(w.start), "end": _iso(w.end), "rows": w.rows}
                for w in self.windows
            ],
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "thresholds": self.thresholds(),
            "notes": list(self.notes),
        }
        return _clean(doc)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v
