"""Slice metrics from per-score-bin counts, counted where the data lives.

For a SQL source a slice's metrics need not bring its rows back: one ``GROUP BY`` score bin
(:func:`score_bins_sql`) returns, per bin, the events, the labeled events, the positives and
the sums ``Σ(s − y)``, ``Σ|s − y|``, ``Σ(s − y)²``, ``Σ(s − y)⁴`` and the lowest and
highest score over labeled events — at most a few thousand numbers
whatever the slice's size.

The bins are a grid anchored at the operating threshold ``t``: bin ``k = floor((s − t) / w)``
with ``t`` and ``w`` bound as ``Double`` (ENVIRONMENT.md: a 32-bit divisor would shift bins).
``s ≥ t`` exactly when ``k ≥ 0`` (IEEE subtraction and division by a positive number keep
the sign), so every bin lies wholly on one side of the threshold; and ``k`` never decreases
as ``s`` grows, so the bins are ordered like the scores. The same expression in numpy
(:func:`score_bins`) gives the same bins. ``floor`` is standard; SQLite has it from 3.35.

From these counts (:func:`binned_metrics`):

- **exact**: precision, recall, accuracy and F1 at the threshold, with Wilson intervals (F1:
  none); the Brier score with its normal (CLT) interval;
- **exact** too, from the bins' sums of ``s − y`` and ``|s − y|``: MAE, RMSE and bias of a
  regression model (:data:`REGRESSION_FROM_BINS`);
- **approximate**: ROC AUC. Within a bin the order of scores is lost, so the value is the AUC
  of the binned score (pairs in one bin count as ties, ½). The true AUC differs from it by at
  most ``½ Σ_b pos_b · neg_b / (P · N)`` over the bins whose labeled scores are not all one
  value (:attr:`BinnedAuc.error_bound`; a single-valued bin loses no order, so few-valued
  scores give the exact AUC and DeLong interval, method ``"delong"``). Otherwise the interval
  (DeLong on the binned score) is widened by that bound on each side, so it is conservative,
  and the estimate's method says ``"delong-binned"``.

Metrics that need every score (PR AUC, log loss, calibration error) are not offered here:
:func:`~.slices.read_slice_sql` brings back score and label for those.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.intervals import (
    Estimate,
    difference,
    missing,
    wilson,
    z_value,
)
from watchkeeper.core.evaluation.metrics import EvaluationError, float_array

__all__ = [
    "AGGREGATES",
    "BINARY_FROM_BINS",
    "BINNED_METRICS",
    "REGRESSION_FROM_BINS",
    "BinnedAuc",
    "Grid",
    "ScoreBins",
    "auc_estimate",
    "auc_of_groups",
    "bin_aggregates",
    "bin_key",
    "binned_auc",
    "binned_metrics",
    "fetch_numbers",
    "fold_bins",
    "score_bins",
    "score_bins_sql",
    "score_grid",
    "score_range_sql",
    "slice_metrics_sql",
]

#: What per-bin counts can give a binary model; ``roc_auc`` approximately (with a stated bound).
BINARY_FROM_BINS = ("roc_auc", "precision", "recall", "f1", "accuracy", "brier")
#: ... and a regression model (from the bins' sums of differences; exact).
REGRESSION_FROM_BINS = ("mae", "rmse", "bias")
BINNED_METRICS = BINARY_FROM_BINS + REGRESSION_FROM_BINS
DEFAULT_BINS = 2000


@dataclass(frozen=True)
class Grid:
    """Bins ``[origin + k·width, origin + (k+1)·width)`` for ``k`` in ``[first, last]``."""

    origin: float
    width: float
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def index(self, scores: np.ndarray) -> np.ndarray:
        k = np.floor((scores - self.origin) / self.width)
        return (np.clip(k, self.first, self.last) - self.first).astype(np.int64)


@dataclass(frozen=True)
class ScoreBins:
    """Per bin of ``grid``: counts and sums. ``events`` counts every scored event, the rest
    only labeled ones (label not NULL)."""

    grid: Grid
    events: np.ndarray
    labeled: np.ndarray
    positives: np.ndarray
    sq: np.ndarray  # Σ (s − y)²
    sq2: np.ndarray  # Σ (s − y)⁴
    # below: None where a caller built bins without them
    diff: np.ndarray | None = None  # Σ (s − y)
    absdiff: np.ndarray | None = None  # Σ |s − y|
    low: np.ndarray | None = None  # the lowest labeled score (NaN: none labeled)
    high: np.ndarray | None = None  # the highest labeled score

    @property
    def single_valued(self) -> np.ndarray:
        """Bins whose labeled scores are all one value: their order is not lost by binning."""
        if self.low is None or self.high is None:
            return np.zeros(self.grid.size, dtype=bool)
        return np.asarray(self.low == self.high)

    @property
    def negatives(self) -> np.ndarray:
        return self.labeled - self.positives


@dataclass(frozen=True)
class BinnedAuc:
    value: float
    se: float
    error_bound: float


def score_grid(lo: float, hi: float, threshold: float, bins: int = DEFAULT_BINS) -> Grid:
    """About ``bins`` equal-width bins over ``[lo, hi]``, one edge at ``threshold``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise EvaluationError("the scores' range is not finite")
    width = (hi - lo) / bins if hi > lo else 1.0
    first = math.floor((lo - threshold) / width)
    last = max(math.floor((hi - threshold) / width), first)
    return Grid(float(threshold), float(width), int(first), int(last))


def score_bins(labels: Any, scores: Any, grid: Grid) -> ScoreBins:
    """The same counts from arrays in memory (NULL, NaN and ±inf scores left out, as in SQL)."""
    y = float_array(labels, "labels")
    s = float_array(scores, "scores")
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    b = grid.index(s)
    k = grid.size
    lab = ~np.isnan(y)
    e = s[lab] - y[lab]
    d = e**2
    low = np.full(k, np.inf)
    high = np.full(k, -np.inf)
    np.minimum.at(low, b[lab], s[lab])
    np.maximum.at(high, b[lab], s[lab])
    empty = ~np.isfinite(low) & (low > 0)
    return ScoreBins(
        grid,
        np.bincount(b, minlength=k).astype(np.float64),
        np.bincount(b[lab], minlength=k).astype(np.float64),
        np.bincount(b[lab], weights=y[lab], minlength=k),
        np.bincount(b[lab], weights=d, minlength=k),
        np.bincount(b[lab], weights=d**2, minlength=k),
        np.bincount(b[lab], weights=e, minlength=k),
        np.bincount(b[lab], weights=np.abs(e), minlength=k),
        np.where(empty, np.nan, low),
        np.where(empty, np.nan, high),
    )


#: The per-bin aggregates :func:`bin_aggregates` selects, in :class:`ScoreBins` order.
AGGREGATES = ("events", "labeled", "positives", "sq", "sq2", "diff", "absdiff", "low", "high")


def bin_key(s: Any, grid: Grid) -> Any:
    """The bin index ``floor((s − origin) / width)`` as SQL; NULL for a NULL, NaN or infinite
    score (NaN is above +inf on every engine here, so ``s < inf`` is false for it)."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    k = sa.func.floor((s - double(grid.origin)) / double(grid.width))
    # ±inf left out as the in-memory metrics leave them (and floor(inf) overflows on Spark)
    return sa.case((sa.and_(s > double(-math.inf), s < double(math.inf)), k))


def bin_aggregates(s: Any, y: Any) -> list[Any]:
    """The SQL aggregates of :data:`AGGREGATES` over score ``s`` and label (or target) ``y``;
    only labeled events (``y`` not NULL) count in all but ``events``."""
    import sqlalchemy as sa

    yf = sa.cast(y, sa.Double)
    e = sa.case((y.is_not(None), s - yf))
    d = e * e
    ls = sa.case((y.is_not(None), s))
    return [
        sa.func.count().label("events"),
        sa.func.count(y).label("labeled"),
        sa.func.sum(yf).label("positives"),
        sa.func.sum(d).label("sq"),
        sa.func.sum(d * d).label("sq2"),
        sa.func.sum(e).label("diff"),
        sa.func.sum(sa.func.abs(e)).label("absdiff"),
        sa.func.min(ls).label("low"),
        sa.func.max(ls).label("high"),
    ]


def fold_bins(rows: np.ndarray, grid: Grid) -> ScoreBins:
    """:class:`ScoreBins` from fetched rows ``(k, *AGGREGATES)`` (one row per bin at most,
    NULL as NaN; rows whose ``k`` is NaN are left out)."""
    rows = rows[~np.isnan(rows[:, 0])]
    idx = (np.clip(rows[:, 0], grid.first, grid.last) - grid.first).astype(np.int64)
    sums = [
        np.bincount(idx, weights=np.nan_to_num(rows[:, j]), minlength=grid.size)
        for j in range(1, 8)  # a SUM over no labeled rows is NULL
    ]
    low = np.full(grid.size, np.inf)
    high = np.full(grid.size, -np.inf)
    has = ~np.isnan(rows[:, 8])
    np.minimum.at(low, idx[has], rows[has, 8])
    np.maximum.at(high, idx[has], rows[has, 9])
    low[~np.isfinite(low) & (low > 0)] = np.nan
    high[~np.isfinite(high) & (high < 0)] = np.nan
    events, labeled, positives, sq, sq2, diff, absdiff = sums
    return ScoreBins(grid, events, labeled, positives, sq, sq2, diff, absdiff, low, high)


def score_range_sql(
    source: Any,
    predicate: Any = None,
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
) -> tuple[float, float] | None:
    """The finite scores' minimum and maximum in a selection (``None``: no scores)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.telemetry.sql_values import double

    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        _, clauses, col = slice_query(
            conn, source, predicate, model=model, versions=versions, start=start, end=end
        )
        s = col("score")
        finite = sa.and_(s > double(-math.inf), s < double(math.inf))
        lo, hi = conn.execute(
            sa.select(sa.func.min(s), sa.func.max(s)).where(*clauses, finite)
        ).one()
    return None if lo is None else (float(lo), float(hi))


def score_bins_sql(
    source: Any,
    predicate: Any,
    grid: Grid,
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
) -> ScoreBins:
    """:class:`ScoreBins` of a slice of a SQL source, counted by the database (one query)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.telemetry.sql_values import double

    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        _, clauses, col = slice_query(
            conn, source, predicate, model=model, versions=versions, start=start, end=end
        )
        s, y = col("score"), col("label")
        k = bin_key(s, grid).label("k")
        statement = (
            sa.select(k, *bin_aggregates(s, y))
            .where(*clauses, s <= double(math.inf))  # not NULL, not NaN
            .group_by(sa.literal_column("k"))
        )
        rows = fetch_numbers(conn, statement, 1 + len(AGGREGATES))
    return fold_bins(rows, grid)


def fetch_numbers(conn: Any, statement: Any, width: int) -> np.ndarray:
    """A statement's rows as a float64 ``(rows, width)`` array (NULL as NaN)."""
    from watchkeeper.core.evaluation.slice_sql import duckdb_arrow

    if conn.dialect.name == "duckdb":
        table = duckdb_arrow(conn, statement)
        return np.column_stack([float_array(table.column(i)) for i in range(width)]).reshape(
            table.num_rows, width
        )
    from watchkeeper.core.telemetry.warehouse import float_blocks

    # in blocks: a million rows as Python tuples would cost far more than the float array
    result = conn.execute(statement)
    blocks = [np.empty((0, width))]
    fetched = float_blocks(result, width)  # Spark: the fetched blocks' columns, no rows
    if fetched is not None:
        return np.concatenate([*blocks, *fetched])
    while block := result.fetchmany(50_000):
        blocks.append(
            np.array(
                [[np.nan if v is None else float(v) for v in r] for r in block], dtype=np.float64
            ).reshape(len(block), width)
        )
    return np.concatenate(blocks)


def binned_auc(bins: ScoreBins) -> BinnedAuc | None:
    """ROC AUC of the binned score, DeLong's standard error, and the bound on its error.

    Pairs inside one bin count as ties; the bound sums them over bins whose labeled scores
    differ (a single-valued bin's ties are the scores' own), so with few distinct scores, each
    alone in its bin, the bound is 0 and value and error are exactly Mann–Whitney and DeLong.
    ``se`` is NaN unless both classes have at least two events (as :func:`.metrics.delong`).
    """
    got = auc_of_groups(bins.positives, bins.negatives)
    if got is None:
        return None
    pos, neg = bins.positives, bins.negatives
    mixed = ~bins.single_valued
    bound = 0.5 * float((pos * neg)[mixed].sum()) / float(pos.sum() * neg.sum())
    return BinnedAuc(got.value, got.se, bound)


def auc_of_groups(pos: np.ndarray, neg: np.ndarray) -> BinnedAuc | None:
    """ROC AUC and DeLong's standard error of events in groups ordered by score, each group
    tied (``pos``/``neg``: its positives and negatives); ``error_bound`` 0. With one group per
    distinct score this is exactly :func:`.metrics.delong`, whose placements are per event
    but equal within a group of ties."""
    p_total, n_total = float(pos.sum()), float(neg.sum())
    if p_total <= 0 or n_total <= 0:
        return None
    neg_below = np.cumsum(neg) - neg  # negatives in lower bins
    pos_above = p_total - np.cumsum(pos)  # positives in higher bins
    v10 = (neg_below + 0.5 * neg) / n_total  # a positive's placement, per bin
    v01 = (pos_above + 0.5 * pos) / p_total  # a negative's placement, per bin
    auc = float((pos * v10).sum() / p_total)
    se = math.nan
    if p_total >= 2 and n_total >= 2:
        var10 = float((pos * (v10 - auc) ** 2).sum() / (p_total - 1))
        var01 = float((neg * (v01 - auc) ** 2).sum() / (n_total - 1))
        se = math.sqrt(var10 / p_total + var01 / n_total)
    return BinnedAuc(auc, se, 0.0)


def auc_estimate(a: BinnedAuc | None, n: int, confidence: float) -> Estimate:
    """ROC AUC with DeLong's interval, widened by the binning's bound on each side; method
    ``"delong"`` when the bound is 0 (exact), else ``"delong-binned"``."""
    if a is None:
        return missing(n, confidence)
    method = "delong" if a.error_bound == 0 else "delong-binned"
    if not math.isfinite(a.se):
        return Estimate(a.value, None, None, method, n, confidence)
    half = z_value(confidence) * a.se + a.error_bound
    return Estimate(
        a.value, max(0.0, a.value - half), min(1.0, a.value + half), method, n, confidence
    )


def _mean_estimate(s1: float, s2: float, n: float, confidence: float) -> Estimate:
    """The mean of per-event terms from their sum ``s1`` and sum of squares ``s2``, with the
    normal interval :func:`.intervals.mean_interval` gives (sample variance, ddof 1)."""
    if n <= 0:
        return missing(0, confidence)
    mean = s1 / n
    if n < 2:
        return Estimate(mean, None, None, "normal", int(n), confidence)
    var = max(s2 / n - mean * mean, 0.0) * n / (n - 1)
    half = z_value(confidence) * math.sqrt(var / n)
    return Estimate(mean, mean - half, mean + half, "normal", int(n), confidence)


def binned_metrics(
    bins: ScoreBins,
    *,
    threshold: float,
    metrics: Sequence[str] = BINARY_FROM_BINS,
    confidence: float = 0.95,
) -> Mapping[str, Estimate]:
    """Metrics with intervals from :class:`ScoreBins` (see the module docstring).

    ``threshold`` must be the grid's origin, so every bin lies wholly on one side of it.
    ROC AUC's method is ``"delong-binned"`` (``"delong"`` when its bound is 0); its ``n`` the
    labeled events. ``mae``, ``rmse`` and ``bias`` need the bins' ``diff``/``absdiff``.
    """
    unknown = [m for m in metrics if m not in BINNED_METRICS]
    if unknown:
        raise EvaluationError(
            f"{', '.join(unknown)} cannot be computed from score-bin counts; "
            f"choose from {', '.join(BINNED_METRICS)}"
        )
    g = bins.grid
    if threshold != g.origin:
        raise EvaluationError(f"the bins are anchored at {g.origin:g}, not at {threshold:g}")
    pred = np.arange(g.first, g.last + 1) >= 0  # bins at or above the threshold
    n = float(bins.labeled.sum())
    tp = float(bins.positives[pred].sum())
    fp = float(bins.negatives[pred].sum())
    fn = float(bins.positives[~pred].sum())
    tn = float(bins.negatives[~pred].sum())
    low = np.nanmin(bins.low) if bins.low is not None and n else math.nan
    high = np.nanmax(bins.high) if bins.high is not None and n else math.nan
    # as Prepared.is_probability: the proper scoring rules need scores in [0, 1]
    probability = bins.low is None or n == 0 or (low >= 0.0 and high <= 1.0)
    out: dict[str, Estimate] = {}
    for m in metrics:
        if m == "precision":
            out[m] = wilson(tp, tp + fp, confidence)
        elif m == "recall":
            out[m] = wilson(tp, tp + fn, confidence)
        elif m == "accuracy":
            out[m] = wilson(tp + tn, n, confidence)
        elif m == "f1":
            d = 2 * tp + fp + fn
            out[m] = (
                Estimate(2 * tp / d, None, None, "none", int(n), confidence)
                if d
                else missing(int(n), confidence)
            )
        elif m == "brier":
            if n < 2 or not probability:
                out[m] = missing(int(n), confidence)
                continue
            out[m] = _mean_estimate(float(bins.sq.sum()), float(bins.sq2.sum()), n, confidence)
        elif m in ("mae", "bias", "rmse"):
            if bins.diff is None or bins.absdiff is None:
                raise EvaluationError(f"these bins carry no sums of differences for {m}")
            if m == "rmse":
                mse = _mean_estimate(float(bins.sq.sum()), float(bins.sq2.sum()), n, confidence)
                if mse.value is None:
                    out[m] = mse
                    continue
                lo = None if mse.lower is None else math.sqrt(max(mse.lower, 0.0))
                hi = None if mse.upper is None else math.sqrt(mse.upper)
                out[m] = Estimate(math.sqrt(mse.value), lo, hi, "normal", int(n), confidence)
            else:
                s1 = bins.absdiff if m == "mae" else bins.diff
                out[m] = _mean_estimate(float(s1.sum()), float(bins.sq.sum()), n, confidence)
        else:  # roc_auc
            out[m] = auc_estimate(binned_auc(bins), int(n), confidence)
    return MappingProxyType(out)


def slice_metrics_sql(
    source: Any,
    predicates: Sequence[Any],
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
    metrics: Sequence[str] = ("roc_auc", "precision", "recall", "brier"),
    threshold: float = 0.5,
    bins: int = DEFAULT_BINS,
    grid: Grid | None = None,
    confidence: float = 0.95,
) -> Any:
    """:func:`~.slices.slice_metrics` for a SQL source from score-bin counts (one query per
    slice, plus one for the overall value and one for the score range when ``grid`` is not
    given). ROC AUC is approximate, with its error bound inside the interval."""
    from watchkeeper.core.evaluation.slices import SliceResult, SliceRow

    where = {"model": model, "versions": versions, "start": start, "end": end}
    if grid is None:
        span = score_range_sql(source, **where)
        if span is None:
            raise EvaluationError(f"{source.description}: no scored events in the selection")
        grid = score_grid(*span, threshold, bins)
    overall_bins = score_bins_sql(source, None, grid, **where)
    overall = binned_metrics(
        overall_bins, threshold=threshold, metrics=metrics, confidence=confidence
    )
    rows = []
    for p in predicates:
        b = score_bins_sql(source, p, grid, **where)
        m = binned_metrics(b, threshold=threshold, metrics=metrics, confidence=confidence)
        delta = {k: difference(m[k].value, overall[k].value) for k in metrics}
        rows.append(
            SliceRow(
                p,
                int(b.events.sum()),
                int(b.labeled.sum()),
                int(b.positives.sum()),
                m,
                MappingProxyType(delta),
            )
        )
    return SliceResult(
        overall,
        int(overall_bins.events.sum()),
        int(overall_bins.labeled.sum()),
        tuple(rows),
        threshold,
        int(overall_bins.positives.sum()),
    )
