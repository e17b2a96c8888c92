"""A value with its confidence interval, and the interval methods the metrics use.

- **Wilson** score interval for a proportion (precision, recall, accuracy): good coverage even
  for small counts and proportions near 0 or 1, never outside [0, 1].
- **Normal (CLT)** interval for a mean of per-event terms (log loss, Brier, MAE, bias): the
  mean ± z · s/√n, with ``s`` the sample standard deviation (ddof 1). RMSE takes the square
  root of the interval of the MSE.
- **DeLong** for ROC AUC (see :mod:`.metrics`), normal on the AUC scale, clipped to [0, 1].
- **Bootstrap** (percentile) for the rest (PR AUC, F1, ECE) and for paired differences:
  each replicate draws multinomial counts ``w`` over the events (``bincount`` of ``n`` draws
  with replacement) and evaluates the metric with those counts as weights, so the data is
  sorted once and a replicate costs O(n). Seeded: the same input gives the same interval.
- **Bounded bootstrap** (a comparison's, above :data:`BOOT_EVENTS` events): the replicates
  resample a seeded subsample of ``m = BOOT_EVENTS`` events drawn without replacement, and
  their deviations from the subsample's value are scaled by ``sqrt(m / n)`` around the
  value on all ``n`` events (the m-out-of-n bootstrap of a root-n statistic). A replicate
  then costs O(m) whatever the window holds. Tolerance, checked against the full bootstrap
  in ``tests/core/evaluation/test_bounded_bootstrap.py``: the value is exact; each endpoint
  lies within a quarter of the full interval's width of the full bootstrap's. Up to
  ``BOOT_EVENTS`` events the intervals are the full bootstrap's, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

__all__ = [
    "BOOT_EVENTS",
    "Estimate",
    "bootstrap_counts",
    "bounded_subsample",
    "mean_interval",
    "percentile_interval",
    "rescaled_replicates",
    "wilson",
    "z_value",
]


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its interval; ``None`` where a number does not exist.

    ``method`` says how the interval was made (``"wilson"``, ``"normal"``, ``"delong"``,
    ``"bootstrap"``, ``"simulation"``, or ``"none"``); ``n`` is the number of events it rests on.
    """

    value: float | None
    lower: float | None = None
    upper: float | None = None
    method: str = "none"
    n: int = 0
    confidence: float = 0.95

    def to_dict(self) -> dict[str, object]:
        return {
            "value": _num(self.value),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "method": self.method,
            "n": int(self.n),
            "confidence": self.confidence,
        }

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the interval (False when there is none)."""
        if self.lower is None or self.upper is None:
            return False
        return self.lower <= x <= self.upper


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def difference(value: float | None, base: float | None) -> float | None:
    """``value − base``; ``None`` where either does not exist."""
    return None if value is None or base is None else value - base


def missing(n: int = 0, confidence: float = 0.95) -> Estimate:
    """The estimate of a metric that does not exist on this data (e.g. AUC with one class)."""
    return Estimate(None, None, None, "none", n, confidence)


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (1.96 for 0.95)."""
    return float(-special.ndtri((1.0 - confidence) / 2.0))


def wilson(k: float, n: float, confidence: float = 0.95) -> Estimate:
    """The proportion ``k/n`` with its Wilson score interval (``None`` when ``n`` is 0)."""
    n_int = round(n)
    if n <= 0:
        return missing(0, confidence)
    z = z_value(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / denom
    return Estimate(
        p, max(0.0, centre - half), min(1.0, centre + half), "wilson", n_int, confidence
    )


def mean_interval(terms: np.ndarray, confidence: float = 0.95) -> Estimate:
    """The mean of per-event ``terms`` with its normal (CLT) interval."""
    n = terms.size
    if n == 0:
        return missing(0, confidence)
    mean = float(terms.mean())
    if n < 2:
        return Estimate(mean, None, None, "normal", n, confidence)
    half = z_value(confidence) * float(terms.std(ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, "normal", n, confidence)


def bootstrap_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """One bootstrap replicate as multinomial counts: how often each event was drawn."""
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


class Resample:
    """One bootstrap replicate as the drawn event indices; their counts made on demand.

    The same draw as :func:`bootstrap_counts` (``rng.integers(0, n, n)``), so a loop over
    resamples reproduces its replicates exactly. Metrics that are sums of counts per group
    (the confusion matrix, per-score positives and negatives) count the draws' groups
    directly (:meth:`~.metrics.Prepared.drawn_confusion`), which skips the n-long counts.
    """

    __slots__ = ("_counts", "idx", "n")

    def __init__(self, idx: np.ndarray, n: int) -> None:
        self.idx = idx
        self.n = n
        self._counts: np.ndarray | None = None

    def counts(self) -> np.ndarray:
        """How often each event was drawn (what :func:`bootstrap_counts` returns)."""
        if self._counts is None:
            self._counts = np.bincount(self.idx, minlength=self.n).astype(np.float64)
        return self._counts


def bootstrap_resample(rng: np.random.Generator, n: int) -> Resample:
    """One bootstrap replicate, drawn as :func:`bootstrap_counts` draws it."""
    return Resample(rng.integers(0, n, n), n)


#: The events a comparison's bootstrap resamples at most (see the module's docstring): a
#: replicate then costs O(20,000) instead of O(labeled pairs) — on the 100k-a-day demo's
#: 1.34 million labeled pairs the gate's 2,500 replicates took minutes, now about 2 s.
BOOT_EVENTS = 20_000


def bounded_subsample(
    rng: np.random.Generator, n: int, max_events: int | None
) -> np.ndarray | None:
    """The sorted indices of a seeded subsample of ``max_events`` of ``n`` events, or None
    when the bootstrap may resample all of them (``max_events`` None or not below ``n``)."""
    if max_events is None or n <= max_events:
        return None
    return np.sort(rng.choice(n, max_events, replace=False))


def rescaled_replicates(
    replicates: np.ndarray, value: float, base: float, m: int, n: int
) -> np.ndarray:
    """Replicates of a subsample of ``m`` events (whose own value is ``base``) as replicates
    of all ``n``: their deviations scaled by ``sqrt(m / n)`` around ``value``."""
    if not math.isfinite(base):
        return np.full_like(replicates, np.nan)
    return value + math.sqrt(m / n) * (replicates - base)


def percentile_interval(
    value: float | None, replicates: np.ndarray, n: int, confidence: float = 0.95
) -> Estimate:
    """The percentile bootstrap interval from replicate values (NaN replicates dropped)."""
    if value is None or not math.isfinite(value):
        return missing(n, confidence)
    reps = replicates[np.isfinite(replicates)]
    if reps.size < 10:
        return Estimate(float(value), None, None, "bootstrap", n, confidence)
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(reps, [a, 1.0 - a])
    return Estimate(float(value), float(lo), float(hi), "bootstrap", n, confidence)


def bootstrap(
    n: int,
    statistic: Callable[[np.ndarray], float],
    *,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """``statistic(counts)`` over ``n_boot`` replicates (NaN where it does not exist)."""
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        out[b] = statistic(bootstrap_counts(rng, n))
    return out
