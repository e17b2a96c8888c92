"""Training–serving skew: the data a version was trained on against what it was served.

The same statistics as drift (:func:`~watchkeeper.core.drift.engine.analyze_drift`, one
window): the training rows are the reference and the version's first serving days are the
current data. A feature whose serving values sit in another unit, another encoding or
another range than its training values shows up here before any drift window could.

The Wasserstein distance is divided by the *training* standard deviation, as drift divides
by the reference's. For a unit change that shrinks the values (cents served as dollars)
that ratio cannot exceed about mean ÷ std of the training values — 0.73 for the demo's
log-normal ``amount`` although every value is 100× smaller — so the skew also states the
ratio of the medians (serving ÷ training), which reads 0.01 for exactly that change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

__all__ = ["SERVING_DAYS", "FeatureSkew", "SkewResult", "training_serving_skew"]

#: How many days of a version's first serving traffic are compared with its training data
#: (five days: rows enough for the statistics, and early enough that what differs is the
#: pipeline, not the world drifting since training).
SERVING_DAYS = 5


@dataclass(frozen=True)
class FeatureSkew:
    name: str
    kind: str
    decision: str  # the drift decision on training vs serving: ok / watch / drift / …
    psi: float | None
    p_adjusted: float | None
    wasserstein_normalized: float | None
    missing_rate_change: float | None
    median_ratio: float | None = None  # serving median ÷ training median (numerical only)


@dataclass(frozen=True)
class SkewResult:
    model: str
    version: str
    dataset: str  # the training dataset's name in the registry
    training_rows: int
    serving_rows: int
    serving_span: str  # e.g. "2026-04-01 to 2026-04-07"
    features: tuple[FeatureSkew, ...]  # largest PSI first

    @property
    def skewed(self) -> tuple[FeatureSkew, ...]:
        return tuple(f for f in self.features if f.decision == "drift")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "dataset": self.dataset,
            "training_rows": self.training_rows,
            "serving_rows": self.serving_rows,
            "serving_span": self.serving_span,
            "skewed": [f.name for f in self.skewed],
            "features": [
                {
                    "name": f.name,
                    "decision": f.decision,
                    "psi": f.psi,
                    "p_adjusted": f.p_adjusted,
                    "wasserstein_normalized": f.wasserstein_normalized,
                    "median_ratio": f.median_ratio,
                }
                for f in self.features
            ],
        }


def training_serving_skew(
    training: Any,
    serving: Any,
    *,
    model: str,
    version: str,
    dataset: str,
    serving_span: str,
    features: Sequence[str],
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    settings: DriftSection | None = None,
) -> SkewResult:
    """Per-feature skew of ``serving`` (data) against ``training`` (data), one window."""
    from watchkeeper.core.drift.engine import analyze_drift

    result = analyze_drift(
        training,
        serving,
        window=parse_window(None),
        features=list(features),
        categorical=categorical,
        numerical=numerical,
        settings=settings,
        prediction=None,
        multivariate=False,
        order_by=None,
        timestamp=None,
    )
    rows = []
    for f in result.features:
        w = f.windows[0]
        rows.append(
            FeatureSkew(
                f.name,
                f.kind,
                w.decision,
                w.psi,
                w.p_adjusted,
                w.wasserstein_normalized,
                w.missing_rate_change,
                _median_ratio(training, serving, f.name) if f.kind == "numerical" else None,
            )
        )
    rows.sort(key=lambda s: -(s.psi or 0.0))
    return SkewResult(
        model=model,
        version=version,
        dataset=dataset,
        training_rows=result.reference_rows,
        serving_rows=result.windows[0].rows if result.windows else 0,
        serving_span=serving_span,
        features=tuple(rows),
    )


def _median_ratio(training: Any, serving: Any, name: str) -> float | None:
    """Serving median ÷ training median of a numerical column (None: a median is 0 or none)."""
    import numpy as np

    medians = []
    for table in (training, serving):
        values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return None
        medians.append(float(np.median(values)))
    return None if medians[0] == 0 else medians[1] / medians[0]
