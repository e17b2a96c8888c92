"""Slice metrics and the worst-slice search counted where the data lives.

:func:`slice_metrics_pushed` is :func:`~.slices.slice_metrics` and
:func:`find_worst_slices_pushed` is :func:`~.worst_slices.find_worst_slices` for a SQL
source (Spark SQL through ``hive://`` above all): the database groups the events by slice
(or by candidate level, per period) and returns sums per group, never rows.

Per group :func:`group_stats_statement` returns the events, the labeled events, the
positives, the predicted positives and true positives at the threshold, the sums of
``(s − y)²``, ``(s − y)⁴``, ``|s − y|``, the log-loss term and its square, and the lowest and
highest labeled score — so precision, recall, accuracy and F1 (Wilson intervals; F1 none),
the Brier score, log loss and MAE (normal intervals) are the in-memory values up to
floating-point summation order (tested to 1e-9).

ROC AUC is a rank sum in the same statement: the events of a group are grouped again by
distinct score, a window function gives each score the negatives below and the positives
above it, and the sums ``Σ pos·a``, ``Σ pos·a²``, ``Σ neg·b``, ``Σ neg·b²`` (``a``: negatives
below plus half the tied ones, ``b`` likewise) give the Mann–Whitney AUC *and* DeLong's
variance exactly (:func:`auc_of_sums`), ties counted ½ as in memory. PR AUC (average
precision) comes from the same running sums, exactly, but without an interval (in memory it
is bootstrapped, which needs the rows).

The worst-slice search groups by *candidate level* instead, which multiplies the rows by
the features (and by the pairs); grouping that again by distinct score would sort every
copy. So there ROC AUC is by default counted per score bin (:mod:`.binned`'s grid,
``auc_bins`` bins anchored at the threshold): pairs inside one bin count as ties, and the
value is off the exact one by at most ``½ Σ pos·neg / (P·N)`` over the bins whose scores
differ — larger for a small slice whose scores crowd a few bins (the demo's fraud
search: 0.0073 at most with 2,000 bins); the largest such bound of the search is said in a
note. ``auc_bins=None`` ranks by distinct score (exact, and the in-memory search's
numbers when it read every row).

Statements: slice metrics one (overall and every slice); the worst-slice search at most
four — numerical levels and the scores' span (reference quantiles: ``quantile_cont`` on
DuckDB; on Spark, whose exact ``percentile`` holds every distinct value in the driver, three
more bounded scans for the exact order statistics, :func:`~watchkeeper.core.drift.
profile_sql.spark_linear_quantiles`), categorical levels (most frequent values, a window rank per
feature over one join with the features' indices), single features, and pairs (among the
strongest ``max_pair_features`` features, as in memory). Unlike the in-memory search the
single features need no sample: every labeled event counts. The pairs count each event once
per pair, so they are counted on at most :data:`PAIR_ROWS` events of each period (a seeded
systematic sample in time order, drawn alike by every engine, said in a note); each group asks
only the sums its metric needs. Each statement reads the selection once: an event's
group ids (overall, slices, levels, pairs) are stacked from one pass (:func:`_stacked`), since
Spark reran the table for every ``UNION ALL`` branch (a CTE is not materialised there).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.binned import (
    DEFAULT_BINS,
    BinnedAuc,
    Grid,
    auc_estimate,
    bin_key,
    fetch_numbers,
    score_grid,
)
from watchkeeper.core.evaluation.intervals import (
    Estimate,
    difference,
    missing,
    wilson,
    z_value,
)
from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER, EvaluationError
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.worst_slices import SEARCH, SEARCH_ROWS, SearchBounds

__all__ = [
    "PUSHED_SLICE_METRICS",
    "STATS",
    "GroupStats",
    "auc_of_sums",
    "find_worst_slices_pushed",
    "group_stats_statement",
    "pushed_estimates",
    "slice_metrics_pushed",
]

#: What the pushed-down slice metrics give (PR AUC without an interval).
PUSHED_SLICE_METRICS = (
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "accuracy",
    "f1",
    "brier",
    "log_loss",
    "mae",
)
#: The per-group sums :func:`group_stats_statement` selects after the group id ``g``.
STATS = (
    "events",  # every event of the group
    "labeled",  # label not NULL
    "n",  # labeled with a finite score: what the metrics rest on
    "pos",
    "pred",  # score >= threshold
    "tp",
    "sq",  # Σ (s − y)²
    "sq2",  # Σ (s − y)⁴
    "ab",  # Σ |s − y|
    "ll",  # Σ log-loss term
    "ll2",
    "ssum",  # Σ score (NULL and NaN left out, ±inf kept)
    "ysum",  # Σ label over every labeled event (also those without a score)
    "lo",  # lowest and highest labeled finite score
    "hi",
    "odd",  # labels other than 0 and 1
    "u",  # Σ pos·a, a = negatives below + ½ tied negatives
    "u2",  # Σ pos·a²
    "w2",  # Σ neg·b², b = positives above + ½ tied positives
    "ap",  # Σ pos · precision at that score (descending)
    "mixed",  # Σ pos·neg over score keys whose scores differ (bins only)
)
#: The searched events of each period the pushed search counts its pairs on (as many as the
#: in-memory search reads in all).
PAIR_ROWS = SEARCH_ROWS
#: The sums (:data:`STATS`) the search asks of each group besides those every metric needs
#: (``n``, ``pos``, ``lo``, ``hi`` and, for the refusal, ``odd``).
_SEARCH_SUMS = {
    "roc_auc": (),
    "precision": ("tp", "pred"),
    "recall": ("tp", "pred"),
    "accuracy": ("tp", "pred"),
    "brier": ("sq", "sq2"),
    "log_loss": ("ll", "ll2"),
    "mae": ("ab", "sq"),
}
_EPS = 1e-15  # as metrics._EPS: log loss clips p to [eps, 1 − eps]


def _eps() -> float:
    from watchkeeper.core.evaluation import metrics

    return float(getattr(metrics, "_EPS", _EPS))


@dataclass(frozen=True)
class GroupStats:
    """One group's sums (:data:`STATS`), as floats."""

    values: Mapping[str, float]

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def neg(self) -> float:
        return self.n - self.pos

    @property
    def probability(self) -> bool:
        return self.n == 0 or (self.lo >= 0.0 and self.hi <= 1.0)


def group_stats_statement(
    rows: Any,
    threshold: float,
    auc: str | None,
    grid: Grid | None,
    keep: Collection[str] | None = None,
) -> Any:
    """One statement: per group ``g`` of ``rows`` (columns ``g``, ``s``, ``y``), :data:`STATS`.

    ``auc``: ``"exact"`` ranks by distinct score, ``"bins"`` by ``grid``'s bin, ``None``
    leaves the rank sums out (zeros: one ``GROUP BY g``, no window). ``keep``: the sums
    before the rank sums (:data:`STATS`' first 16) to count, the others selected as zeros
    (``None``: all) — the search asks only what its metric needs, since ranking by score bin
    keeps every one of them per group and bin (on Spark the pairs' statement took half as
    long with five of them)."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    g, s, y = rows.c.g, rows.c.s, rows.c.y
    inf = double(math.inf)
    yd = sa.cast(y, sa.Double)
    finite = sa.and_(s > double(-math.inf), s < inf)
    ok = sa.and_(y.is_not(None), finite)
    e = sa.case((ok, s - yd))
    eps = _eps()
    p = sa.case((s < double(eps), double(eps)), (s > double(1.0 - eps), double(1.0 - eps)), else_=s)
    ll = sa.case((ok, -(yd * sa.func.ln(p) + (double(1.0) - yd) * sa.func.ln(double(1.0) - p))))
    above = sa.and_(ok, s >= double(threshold))
    zero, one = sa.literal(0, sa.Integer), sa.literal(1, sa.Integer)
    sums = [
        sa.func.count().label("events"),
        sa.func.count(y).label("labeled"),
        sa.func.sum(sa.case((ok, one), else_=zero)).label("n"),
        sa.func.sum(sa.case((ok, yd))).label("pos"),
        sa.func.sum(sa.case((above, one), else_=zero)).label("pred"),
        sa.func.sum(sa.case((above, yd))).label("tp"),
        sa.func.sum(e * e).label("sq"),
        sa.func.sum(e * e * e * e).label("sq2"),
        sa.func.sum(sa.func.abs(e)).label("ab"),
        sa.func.sum(ll).label("ll"),
        sa.func.sum(ll * ll).label("ll2"),
        sa.func.sum(sa.case((s <= inf, s))).label("ssum"),
        sa.func.sum(yd).label("ysum"),
        sa.func.min(sa.case((ok, s))).label("lo"),
        sa.func.max(sa.case((ok, s))).label("hi"),
        sa.func.sum(sa.case((sa.and_(y.is_not(None), y.not_in([0, 1])), one), else_=zero)).label(
            "odd"
        ),
    ]
    if keep is not None:
        unknown = set(keep) - set(STATS[:16])
        if unknown:
            raise EvaluationError(f"no such group sum: {', '.join(sorted(unknown))}")
        sums = [c if c.name in keep else sa.literal(0.0, sa.Double).label(c.name) for c in sums]
    if auc is None:
        nothing = [sa.literal(0.0, sa.Double).label(k) for k in STATS[16:]]
        return sa.select(g, *sums, *nothing).group_by(g)
    if auc == "bins":
        if grid is None:
            raise EvaluationError("ranking by score bin needs a grid")
        key = sa.case((ok, bin_key(s, grid)))
    else:
        key = sa.case((ok, s))
    b = sa.select(g, key.label("k"), *sums).group_by(g, sa.literal_column("k")).subquery("b")
    pos = sa.func.coalesce(b.c.pos, 0.0)
    neg = sa.cast(b.c.n, sa.Double) - pos
    cpos = sa.func.sum(pos).over(partition_by=b.c.g, order_by=b.c.k, rows=(None, 0))
    cneg = sa.func.sum(neg).over(partition_by=b.c.g, order_by=b.c.k, rows=(None, 0))
    total_p = sa.func.sum(pos).over(partition_by=b.c.g)
    total_n = sa.func.sum(neg).over(partition_by=b.c.g)
    a = cneg - neg + double(0.5) * neg  # negatives below + ½ tied
    # a negative's placement counts the positives *above* it: P − cpos + ½ tied
    above_p = total_p - cpos + double(0.5) * pos
    tp_desc = total_p - cpos + pos  # true and false positives at this score, descending
    fp_desc = total_n - cneg + neg
    c = sa.select(
        b.c.g,
        *[b.c[k] for k in STATS[:16]],
        (pos * a).label("u"),
        (pos * a * a).label("u2"),
        (neg * above_p * above_p).label("w2"),
        sa.case((pos > 0, pos * tp_desc / (tp_desc + fp_desc)), else_=double(0.0)).label("ap"),
        sa.case((b.c.lo < b.c.hi, pos * neg), else_=double(0.0)).label("mixed"),
    ).subquery("c")

    def agg(k: str) -> Any:
        column = c.c[k]
        if k == "lo":
            return sa.func.min(column).label(k)
        if k == "hi":
            return sa.func.max(column).label(k)
        return sa.func.sum(column).label(k)

    return sa.select(c.c.g, *[agg(k) for k in STATS]).group_by(c.c.g)


def fetch_group_stats(conn: Any, statement: Any) -> dict[int, GroupStats]:
    """Run :func:`group_stats_statement`'s statement: group id → its sums (NULL sums as 0)."""
    fetched = fetch_numbers(conn, statement, 1 + len(STATS))
    out = {}
    for row in fetched:
        values = {}
        for k, v in zip(STATS, row[1:], strict=True):
            values[k] = v if k in ("lo", "hi") else (0.0 if math.isnan(v) else float(v))
        out[int(row[0])] = GroupStats(MappingProxyType(values))
    return out


def auc_of_sums(st: GroupStats) -> BinnedAuc | None:
    """ROC AUC, DeLong's standard error and the binning's bound from a group's rank sums:
    ``var10 = (Σ pos·a² / N² − P·auc²) / (P − 1)``, ``var01`` likewise (:func:`.metrics.delong`
    on the events, where ``a/N`` is a positive's placement)."""
    p, n = st.pos, st.neg
    if p <= 0 or n <= 0:
        return None
    auc = st.u / (p * n)
    se = math.nan
    if p >= 2 and n >= 2:
        var10 = max(st.u2 / (n * n) - p * auc * auc, 0.0) / (p - 1)
        var01 = max(st.w2 / (p * p) - n * auc * auc, 0.0) / (n - 1)
        se = math.sqrt(var10 / p + var01 / n)
    return BinnedAuc(auc, se, 0.5 * st.mixed / (p * n))


def _mean(s1: float, s2: float, n: float, confidence: float) -> Estimate:
    from watchkeeper.core.evaluation.binned import _mean_estimate

    return _mean_estimate(s1, s2, n, confidence)


def pushed_estimates(
    st: GroupStats, metrics: Sequence[str], confidence: float = 0.95
) -> Mapping[str, Estimate]:
    """:func:`~.metrics.binary_metrics`' estimates from a group's sums (module doc)."""
    n = int(st.n)
    out: dict[str, Estimate] = {}
    fn = st.pos - st.tp
    fp = st.pred - st.tp
    for m in metrics:
        if m == "roc_auc":
            out[m] = auc_estimate(auc_of_sums(st), n, confidence)
        elif m == "pr_auc":
            out[m] = (
                Estimate(st.ap / st.pos, None, None, "none", n, confidence)
                if st.pos > 0
                else missing(n, confidence)
            )
        elif m == "precision":
            out[m] = wilson(st.tp, st.pred, confidence)
        elif m == "recall":
            out[m] = wilson(st.tp, st.pos, confidence)
        elif m == "accuracy":
            tn = st.n - st.pred - fn
            out[m] = wilson(st.tp + tn, st.n, confidence)
        elif m == "f1":
            d = 2 * st.tp + fp + fn
            out[m] = (
                Estimate(2 * st.tp / d, None, None, "none", n, confidence)
                if d > 0
                else missing(n, confidence)
            )
        elif m in ("brier", "log_loss"):
            if n == 0 or not st.probability:
                out[m] = missing(n, confidence)
            elif m == "brier":
                out[m] = _mean(st.sq, st.sq2, st.n, confidence)
            else:
                out[m] = _mean(st.ll, st.ll2, st.n, confidence)
        elif m == "mae":
            out[m] = missing(0, confidence) if n == 0 else _mean(st.ab, st.sq, st.n, confidence)
        else:
            raise EvaluationError(
                f"{m} cannot be counted in the database; choose from "
                f"{', '.join(PUSHED_SLICE_METRICS)}"
            )
    return MappingProxyType(out)


def _run(conn: Any, statement: Any, cancelled: Callable[[], bool] | None) -> Any:
    import sqlalchemy as sa

    from watchkeeper.core.progress import Cancelled
    from watchkeeper.core.telemetry.sql_cancel import cancellable
    from watchkeeper.core.telemetry.sql_values import short_error

    guard = None
    try:
        with cancellable(conn, cancelled) as guard:
            return fetch_group_stats(conn, statement)
    except sa.exc.DBAPIError as exc:
        conn.rollback()
        if guard is not None and guard.fired:
            raise Cancelled("slice counting was cancelled in the database") from None
        raise EvaluationError(f"the database refused the slice query: {short_error(exc)}") from None


def slice_metrics_pushed(
    source: Any,
    predicates: Sequence[SlicePredicate],
    *,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
    metrics: Sequence[str] = ("roc_auc", "pr_auc", "precision", "recall", "brier"),
    threshold: float = 0.5,
    confidence: float = 0.95,
    cancelled: Callable[[], bool] | None = None,
) -> Any:
    """``(SliceResult, overall sums)``: :func:`~.slices.slice_metrics` of a SQL source's
    selection in one statement, and the selection's :class:`GroupStats` (what a report's
    data digest counts).

    Every metric but PR AUC's interval is the in-memory one (ROC AUC and its DeLong
    interval exactly, from rank sums).
    """
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import (
        refuse_odd_labels_sql,
        slice_query,
        sql_parts,
    )
    from watchkeeper.core.evaluation.slices import SliceResult, SliceRow
    from watchkeeper.core.telemetry.sql_values import nan_as_null

    metrics = tuple(metrics)
    pushed_estimates(GroupStats(MappingProxyType(dict.fromkeys(STATS, 0.0))), metrics)
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        table, clauses, col = slice_query(
            conn, source, None, model=model, versions=versions, start=start, end=end
        )
        s, y = col("score"), nan_as_null(col("label"))  # a NaN label is none, as read

        # one pass over the selection: each event stacked once for the overall group and
        # once per slice holding it (a UNION ALL branch per slice reread the table on Spark)
        member = [
            sa.case((p.where(table.c), sa.literal(i, sa.Integer))).label(f"c{i}")
            for i, p in enumerate(predicates)
        ]
        coded = (
            sa.select(s.label("s"), y.label("y"), sa.literal(-1, sa.Integer).label("all"), *member)
            .where(*clauses)
            .subquery("coded")
        )
        gs = [coded.c["all"], *(coded.c[f"c{i}"] for i in range(len(predicates)))]
        rows = _stacked(conn, coded, gs, "rows")
        auc = "exact" if {"roc_auc", "pr_auc"} & set(metrics) else None
        stats = _run(conn, group_stats_statement(rows, threshold, auc, None), cancelled)
        odd = int(stats[-1].odd) if -1 in stats else 0  # the overall group: every event once
        refuse_odd_labels_sql(conn, table, clauses, col("label"), odd)
    empty = GroupStats(MappingProxyType(dict.fromkeys(STATS, 0.0) | {"lo": math.nan}))
    whole = stats.get(-1, empty)
    overall = pushed_estimates(whole, metrics, confidence)
    out = []
    for i, p in enumerate(predicates):
        st = stats.get(i, empty)
        m = pushed_estimates(st, metrics, confidence)
        delta = {k: difference(m[k].value, overall[k].value) for k in metrics}
        out.append(
            SliceRow(p, int(st.events), int(st.labeled), int(st.pos), m, MappingProxyType(delta))
        )
    result = SliceResult(
        overall, int(whole.events), int(whole.labeled), tuple(out), threshold, int(whole.pos)
    )
    return result, whole


# -- worst slices ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Level:
    feature: str
    index: int  # position in the features
    conditions: tuple[Condition, ...]
    texts: tuple[str, ...] = ()  # a categorical level's values as the database's text


def _quantile_parts(conn: Any, column: Any, qs: Sequence[float]) -> list[Any]:
    """SQL expressions for the linear-interpolation quantiles ``qs`` of ``column`` (NULLs
    left out), one aggregate per column that each part indexes."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    dialect = conn.dialect.name
    if dialect == "duckdb":
        listed: Any = sa.literal_column("[" + ", ".join(repr(float(q)) for q in qs) + "]::DOUBLE[]")
        agg = sa.func.quantile_cont(column, listed)
        return [sa.func.list_extract(agg, i + 1) for i in range(len(qs))]
    if dialect == "hive":
        agg = sa.func.percentile(column, sa.func.array(*[double(q) for q in qs]))
        return [sa.func.element_at(agg, i + 1) for i in range(len(qs))]
    if dialect == "postgresql":
        return [sa.func.percentile_cont(double(q)).within_group(column) for q in qs]
    raise EvaluationError(
        f"the worst-slice search cannot cut numerical features in {dialect} (no exact "
        "quantiles there): it runs in memory"
    )


class _OnConnection:
    """What :func:`~watchkeeper.core.drift.profile_sql.spark_linear_quantiles` asks of a
    source, on a connection the caller guards (so a Cancel stops its statements)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def aggregate(self, statement: Any) -> list[Any]:
        return list(self.conn.execute(statement).all())


def find_worst_slices_pushed(
    source: Any,
    features: Sequence[str],
    *,
    model: str | None,
    version: str,
    start: Any,
    end: Any,
    baseline: tuple[str, Any, Any] | None = None,
    metric: str = "roc_auc",
    categorical: Sequence[str] = (),
    bins: int = SEARCH.bins,
    max_levels: int = SEARCH.max_levels,
    pairs: bool = SEARCH.pairs,
    min_support: int = SEARCH.min_support,
    min_class: int = SEARCH.min_class,
    fdr: float = SEARCH.fdr,
    threshold: float = SEARCH.threshold,
    confidence: float = SEARCH.confidence,
    max_pair_features: int = SEARCH.max_pair_features,
    auc_bins: int | None = DEFAULT_BINS,
    limit: int | None = None,
    cancelled: Callable[[], bool] | None = None,
    levels_out: dict[str, Any] | None = None,
    outcomes: Any = None,
    seed: int = 0,
    pair_rows: int | None = PAIR_ROWS,
) -> Any:
    """:func:`~.worst_slices.find_worst_slices` over a SQL source's selection, counted by the
    database (module doc). ``baseline``: ``(version, start, end)`` of the earlier period.

    ``levels_out``, when given, receives per feature what the search found about it
    (``("numerical", low, high)`` or ``("categorical", most frequent values)``), which the
    slice builder offers — so the Slices view needs no read for it.

    ``outcomes``: a multiclass model's :class:`~.multiclass_slices.ClassColumns`; then
    ``metric`` is a multiclass one (not ROC AUC: :data:`~.multiclass_slices_sql.NOT_SEARCHED`)
    and each group's confusion counts come back (:mod:`.multiclass_slices_sql`); ``seed``
    seeds the overall value's bootstrap and the pairs' sample.

    ``pair_rows``: the pairs are counted on at most this many searched events of each period
    (``None``: all), a seeded systematic sample in time order (ties by request id where the
    table has one) that every engine draws alike; the single features still count every
    event. Each event is counted once per pair, so unbounded the pairs' statement grew with
    the rows times the pairs: on Spark (local, 2 cores) 109 s at 1,000,000 events × 12
    features, and past the 900 s timeout at 10,000,000.
    """
    import sqlalchemy as sa
    from sqlalchemy.sql.util import ClauseAdapter

    from watchkeeper.core.evaluation import multiclass_slices_sql as mcs
    from watchkeeper.core.evaluation.multiclass_performance_sql import refuse_unknown_sql
    from watchkeeper.core.evaluation.slice_sql import (
        refuse_odd_labels_sql,
        slice_query,
        sql_parts,
    )
    from watchkeeper.core.evaluation.worst_slices import (
        DISCOVERY_METRICS,
        _conclude,
        _judge,
        _Stats,
    )
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import time_key
    from watchkeeper.core.telemetry.sql_values import double, nan_as_null
    from watchkeeper.core.times import parse_time

    multiclass = outcomes is not None
    supported = mcs.SEARCHED_METRICS if multiclass else DISCOVERY_METRICS
    if multiclass and metric == "roc_auc":
        raise EvaluationError(mcs.NOT_SEARCHED)
    if metric not in supported:
        raise EvaluationError(
            f"worst-slice discovery supports {', '.join(supported)}; not {metric!r}"
        )
    notes: list[str] = []
    z = z_value(confidence)
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        table, cur_clauses, col = slice_query(
            conn, source, None, model=model, versions=[version], start=start, end=end
        )
        cols = []
        for name in features:
            try:
                cols.append(table.c[name])
            except KeyError:
                raise EvaluationError(
                    f"worst slices: no feature column {name!r} in the data"
                ) from None
        inf = double(math.inf)
        if multiclass:
            term = {"log_loss": "wk_ll", "brier": "wk_br"}.get(metric)

            def period(i: int, clauses: Sequence[Any]) -> Any:
                # the period's events coded (label, predicted class, the metric's term)
                coded_p = mcs.class_coded(
                    table,
                    col,
                    list(outcomes.probabilities.values()),
                    outcomes.classes,
                    prediction=outcomes.prediction is not None,
                    clauses=clauses,
                    extra=[*(c.label(f"wk_f{j}") for j, c in enumerate(cols)), *order_cols],
                    name=f"mc{i}",
                )
                t = coded_p.c[term] if term else sa.literal(0.0, sa.Double)
                return sa.select(
                    sa.literal(i, sa.Integer).label("period"),
                    t.label("s"),
                    coded_p.c.wk_y.label("y"),
                    coded_p.c.wk_pc.label("pc"),
                    *[coded_p.c[f"wk_f{j}"].label(f"f{j}") for j in range(len(cols))],
                    *[coded_p.c[c.name] for c in order_cols],
                ).where(coded_p.c.wk_y.is_not(None), coded_p.c.wk_pc.is_not(None))

        # the pairs' sample numbers each period's events in time order (ties by request id)
        order_cols = [time_key(col("ts")).label("wk_t")] if pair_rows else []
        if pair_rows:
            # without request ids, ties in time are drawn in the engine's order
            with contextlib.suppress(EvaluationError):
                order_cols.append(col("request_id").label("wk_rid"))
        s: Any = None if multiclass else col("score")
        y: Any = None if multiclass else nan_as_null(col("label"))
        usable = [] if multiclass else [y.is_not(None), s > double(-math.inf), s < inf]
        # the events a multiclass period searches (class_coded's wk_y and wk_pc not NULL)
        mc_searched = []
        if multiclass:
            mc_searched = [nan_as_null(col("label")).is_not(None)]
            for c in outcomes.probabilities.values():
                prob = sa.cast(col(c), sa.Double)
                mc_searched += [prob.is_not(None), prob > double(-math.inf), prob < inf]

        def period_binary(i: int, clauses: Sequence[Any]) -> Any:
            return sa.select(
                sa.literal(i, sa.Integer).label("period"),
                s.label("s"),
                y.label("y"),
                *[c.label(f"f{j}") for j, c in enumerate(cols)],
                *order_cols,
            ).where(*clauses, *usable)

        if not multiclass:
            period = period_binary
        parts = [period(0, cur_clauses)]
        periods = [list(cur_clauses)]  # each period's selection, for a refusal's values
        if baseline is not None:
            b_version, b_start, b_end = baseline
            # the same table object: a second reflection would be a second FROM entry
            earlier = TelemetryQuery(
                model=model,
                versions=(str(b_version),),
                start=parse_time(b_start),
                end=parse_time(b_end),
            )
            base_clauses = [_renamed(c, "b_") for c in source.where(table, earlier)]
            parts.append(period(1, base_clauses))
            periods.append(base_clauses)
        both = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).cte("both")
        ref_period = 1 if baseline is not None else 0
        fcol = [both.c[f"f{j}"] for j in range(len(cols))]
        numeric = [
            isinstance(c.type, sa.Integer | sa.Float) and name not in categorical
            for name, c in zip(features, cols, strict=True)
        ]

        # 1. numerical levels: reference quantiles, NULL/NaN counts over both periods
        qs = [float(q) for q in np.linspace(0, 1, bins + 1)[1:-1]]
        # Spark's exact percentile holds every distinct value in the driver: there the
        # quantiles come from bracketed order statistics after this row (see below)
        spark = conn.dialect.name == "hive"
        finite: dict[str, Any] = {}
        levels: list[_Level] = []
        num_parts: list[Any] = []
        for j, c in enumerate(fcol):
            if not numeric[j]:
                continue
            cd = sa.cast(c, sa.Double)
            fin = sa.and_(cd > double(-math.inf), cd < inf)
            ref = sa.case((sa.and_(both.c.period == ref_period, fin), cd))
            finite[features[j]] = sa.case((fin, cd))
            nan = sa.or_(c.is_(None), sa.not_(cd <= inf))
            zero, one = sa.literal(0, sa.Integer), sa.literal(1, sa.Integer)
            num_parts += [
                sa.func.count(ref),
                sa.func.sum(sa.case((nan, one), else_=zero)),
                sa.func.min(sa.case((fin, cd))),
                sa.func.max(sa.case((fin, cd))),
                *([] if spark else _quantile_parts(conn, ref, qs)),
            ]
        # the scores' span too (the AUC's score bins): no statement of its own
        num_parts += [sa.func.min(both.c.s), sa.func.max(both.c.s)]
        cat_rows: list[Any] = []
        spark_quantiles: dict[str, np.ndarray] = {}
        from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused

        # the levels' statements, the Spark quantiles' scans among them, can be cancelled
        # where they run: at 10M events they took minutes before the first count
        with cancellable_or_refused(
            conn, cancelled, what="slice counting", refused="the slice query", error=EvaluationError
        ):
            num_row = fetch_numbers(conn, sa.select(*num_parts), len(num_parts))[0]
            span = num_row[-2:]
            # 2. categorical levels: the most frequent current values, by a window rank per
            # feature, in one pass (each event once per categorical feature: a join with
            # the features' indices, as a UNION ALL branch per feature reread the table)
            cats = [j for j in range(len(fcol)) if not numeric[j]]
            if cats:
                picks = [sa.select(sa.literal(j, sa.Integer).label("j")) for j in cats]
                ks = (sa.union_all(*picks) if len(picks) > 1 else picks[0]).subquery("ks")
                value = sa.case(*[(ks.c.j == j, sa.cast(fcol[j], sa.String)) for j in cats])
                stacked = (
                    sa.select(ks.c.j, value.label("v"))
                    .select_from(both.join(ks, sa.true()))
                    .where(both.c.period == 0)
                    .subquery("stacked")
                )
                counted = (
                    sa.select(stacked.c.j, stacked.c.v, sa.func.count().label("n"))
                    .group_by(stacked.c.j, stacked.c.v)
                    .subquery("counted")
                )
                keep = max(max_levels, _BUILDER_LEVELS) + 1  # + the NULL group
                ranked = sa.select(
                    counted,
                    sa.func.row_number()
                    .over(partition_by=counted.c.j, order_by=(counted.c.n.desc(), counted.c.v))
                    .label("r"),
                ).subquery("ranked")
                stmt = sa.select(ranked.c.j, ranked.c.v, ranked.c.n).where(ranked.c.r <= keep)
                cat_rows = list(conn.execute(stmt).fetchall())
            if spark and finite:
                from watchkeeper.core.drift.errors import DriftError
                from watchkeeper.core.drift.profile_sql import spark_linear_quantiles

                ref_counts = {name: int(num_row[4 * i]) for i, name in enumerate(finite)}
                try:
                    spark_quantiles = spark_linear_quantiles(
                        _OnConnection(conn),
                        both,
                        [both.c.period == ref_period],
                        finite,
                        ref_counts,
                        qs,
                    )
                except DriftError as exc:
                    raise EvaluationError(f"the slice query's quantiles: {exc}") from None
        at = 0
        for j in range(len(fcol)):
            name = features[j]
            if not numeric[j]:
                continue
            width = 4 if spark else 4 + len(qs)
            n_ref, nulls, low, high, *quant = num_row[at : at + width]
            at += width
            if spark:
                quant = list(spark_quantiles.get(name, []))
            conditions: list[Condition] = []
            if n_ref > 0:
                edges_q = np.unique(np.asarray(quant, dtype=np.float64))
                edges = [None, *(float(q) for q in edges_q), None]
                conditions = [
                    Condition(name, "range", (edges[i], edges[i + 1]))
                    for i in range(len(edges_q) + 1)
                ]
            if nulls >= min_support:
                conditions.append(Condition(name, "null"))
            levels.append(_Level(name, j, tuple(conditions)))
            if levels_out is not None:
                integer = isinstance(cols[j].type, sa.Integer)
                levels_out[name] = (
                    "numerical",
                    None if math.isnan(low) else (int(low) if integer else float(low)),
                    None if math.isnan(high) else (int(high) if integer else float(high)),
                    integer,
                )
        by_feature: dict[int, list[tuple[Any, int]]] = {}
        for j, v, n in cat_rows:
            by_feature.setdefault(int(j), []).append((v, int(n)))
        for j in range(len(fcol)):
            if numeric[j]:
                continue
            name = features[j]
            counts = by_feature.get(j, [])
            nulls = sum(n for v, n in counts if v is None)
            values = sorted(
                [(v, n) for v, n in counts if v is not None], key=lambda t: (-t[1], t[0])
            )
            typed = [(_typed(v, cols[j].type), n) for v, n in values]
            if levels_out is not None:
                levels_out[name] = (
                    "categorical",
                    tuple(v for v, _ in typed[:_BUILDER_LEVELS]),
                    isinstance(cols[j].type, sa.Integer),
                )
            # as in memory: the max_levels most frequent, then those with enough support
            top = zip(typed[:max_levels], values[:max_levels], strict=True)
            kept = [(v, text) for (v, n), (text, _) in top if n >= min_support]
            conditions = [Condition(name, "eq", v) for v, _ in kept]
            if nulls >= min_support:
                conditions.append(Condition(name, "null"))
            levels.append(_Level(name, j, tuple(conditions), tuple(t for _, t in kept)))
        levels.sort(key=lambda lv: lv.index)

        metric_is_auc = metric == "roc_auc" and not multiclass
        grid = None
        auc_mode = None
        if metric_is_auc:
            auc_mode = "exact" if auc_bins is None else "bins"
            if auc_bins is not None:
                lo_s, hi_s = (threshold, threshold) if math.isnan(span[0]) else map(float, span)
                grid = score_grid(lo_s, hi_s, threshold, auc_bins)

        def stats_of(st: Any) -> _Stats | None:
            if st is None:
                return None
            if multiclass:
                return mcs.mc_candidate_stats(metric, st)
            return _candidate_stats(metric, st)

        k_classes = len(outcomes.classes) if multiclass else 0

        def count(rows: Any, overall: bool = False) -> dict[int, Any]:
            """Each group's sums (binary) or confusion counts (multiclass); ``overall``: the
            rows hold each period's overall group (-1, -2), whose odd labels are refused."""
            if not multiclass:
                keep = {"n", "pos", "lo", "hi", "odd", *_SEARCH_SUMS[metric]}
                statement = group_stats_statement(rows, threshold, auc_mode, grid, keep)
                got = _run(conn, statement, cancelled)
                if overall:
                    for i, clauses in enumerate(periods):
                        odd = int(got[-1 - i].odd) if -1 - i in got else 0
                        where = [*clauses, *usable]
                        refuse_odd_labels_sql(conn, table, where, col("label"), odd)
                return got
            from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused

            with cancellable_or_refused(
                conn,
                cancelled,
                what="slice counting",
                refused="the slice query",
                error=EvaluationError,
            ):
                fetched = fetch_numbers(conn, mcs.mc_group_statement(rows), 6)
            if overall:
                for i, clauses in enumerate(periods):
                    refuse_unknown_sql(
                        conn,
                        fetched[fetched[:, 0] == -1 - i],
                        table,
                        [*clauses, *mc_searched],
                        col,
                        outcomes.classes,
                        prediction=outcomes.prediction is not None,
                    )
            return mcs.with_stats(metric, mcs.confusions(fetched, k_classes))

        # 3. overall and every single feature's levels, per period: one pass over the
        # selection, each event stacked once per feature whose level holds it
        width = max((len(lv.conditions) for lv in levels), default=1) + 1
        coded = _coded(levels, both)
        # each period's overall group (-1 now, -2 the baseline): every searched event once
        now, before = sa.literal(-1, sa.Integer), sa.literal(-2, sa.Integer)
        gs = [sa.case((coded.c.period == 0, now), else_=before)]
        for k, lv in enumerate(levels):
            if lv.conditions:
                code = coded.c[f"c{k}"]
                gs.append((sa.literal(k, sa.Integer) * width + code) * 2 + coded.c.period)
        rows = _stacked(conn, coded, gs, "rows")
        stats = count(rows, overall=True)
        whole = stats.get(-1)
        if whole is None or whole.n == 0:
            raise EvaluationError(f"the overall {metric} does not exist on these events")
        if multiclass:
            from watchkeeper.core.evaluation.metrics import DEFAULT_BOOT

            sums = (whole.t1, whole.t2)
            overall_est = mcs.mc_estimates(
                whole,
                k_classes,
                sums,
                sums,
                [metric],
                confidence=confidence,
                n_boot=DEFAULT_BOOT,
                seed=seed,
            )[metric]
        else:
            overall_est = pushed_estimates(whole, [metric], confidence)[metric]
        if overall_est.value is None:
            raise EvaluationError(
                f"the overall {metric} does not exist on these events (one class?)"
            )
        overall = overall_est.value
        found: list[dict[str, Any]] = []
        whole_auc = auc_of_sums(whole) if metric_is_auc else None
        bounds: list[float] = [] if whole_auc is None else [whole_auc.error_bound]

        def judge(
            feats: tuple[str, ...],
            conds: Sequence[tuple[Condition, ...]],
            key: Callable[[int], int],
        ) -> None:
            for code_value, cond in enumerate(conds):
                cur_st = stats_now.get(key(code_value) * 2)
                if cur_st is None or cur_st.n < min_support:
                    continue
                npos = int(cur_st.pos)
                if metric_is_auc and (npos < min_class or cur_st.n - npos < min_class):
                    continue
                cur = stats_of(cur_st)
                base = None
                if baseline is not None and cur is not None and cur.se > 0:
                    base_st = stats_now.get(key(code_value) * 2 + 1)
                    if base_st is None or base_st.n < min_support:
                        continue
                    base = stats_of(base_st)
                    if base is None:
                        continue
                got = _judge(
                    metric,
                    feats,
                    cond,
                    int(cur_st.n),
                    npos,
                    cur,
                    base,
                    baseline is not None,
                    overall,
                    min_class,
                    z,
                    confidence,
                )
                if got is not None:
                    found.append(got)
                    if metric_is_auc:
                        b = auc_of_sums(cur_st)
                        bounds.append(0.0 if b is None else b.error_bound)

        stats_now = stats
        for k, lv in enumerate(levels):
            judge((lv.feature,), [(c,) for c in lv.conditions], _offset(k * width))

        # 4. pairs among the strongest features, as in memory
        if pairs and len(levels) >= 2:
            chosen = list(range(len(levels)))
            if len(levels) > max_pair_features:
                best: dict[str, float] = {}
                for f in found:
                    (name,) = f["features"]
                    best[name] = min(best.get(name, 1.0), f["p"])
                strongest = sorted(chosen, key=lambda k: best.get(levels[k].feature, 2.0))
                chosen = sorted(strongest[:max_pair_features])
                n = len(levels)
                notes.append(
                    f"pairs searched among the {len(chosen)} of {n:,} features whose single-"
                    f"feature slices are strongest ({len(chosen) * (len(chosen) - 1) // 2:,} of "
                    f"{n * (n - 1) // 2:,} pairs)"
                )
            combos = [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1 :]]
            pw = max(
                (len(levels[a].conditions) * max(len(levels[b].conditions), 1) for a, b in combos),
                default=1,
            )
            pw += 1
            gs = []
            for t, (a, b) in enumerate(combos):
                la, lb = levels[a], levels[b]
                if not la.conditions or not lb.conditions:
                    continue
                ca, cb = coded.c[f"c{a}"], coded.c[f"c{b}"]
                nb = max(len(lb.conditions), 1)
                gs.append((sa.literal(t, sa.Integer) * pw + ca * nb + cb) * 2 + coded.c.period)
            pcoded = coded
            if gs and pair_rows:
                sampled = _pairs_sample(coded, stats, len(periods), pair_rows, seed)
                if sampled is not None:
                    pcoded, note = sampled
                    notes.append(note)
                    adapt = ClauseAdapter(pcoded)  # the same ids over the sample's columns
                    gs = [adapt.traverse(g) for g in gs]
            if gs:
                rows = _stacked(conn, pcoded, gs, "pairs")
                stats_now = count(rows)
                for t, (a, b) in enumerate(combos):
                    la, lb = levels[a], levels[b]
                    conds = [(x, w) for x in la.conditions for w in lb.conditions]
                    judge((la.feature, lb.feature), conds, _offset(t * pw))
    if metric_is_auc and auc_bins is not None and bounds:
        notes.append(
            f"ROC AUC counted in {auc_bins:,} score bins: each slice's value is within "
            f"{max(bounds):.2g} of its exact value (the largest bound of this search)"
        )
    search = SearchBounds(
        bins=bins,
        max_levels=max_levels,
        pairs=pairs,
        min_support=min_support,
        min_class=min_class,
        fdr=fdr,
        threshold=threshold,
        confidence=confidence,
        max_pair_features=max_pair_features,
    )
    settings = search.settings(
        binning="reference quantiles" if baseline is not None else "quantiles of the data",
        max_rows=None,
    ) | {
        "counted": "in the database",
        "auc_bins": auc_bins if metric_is_auc else None,
        "pair_rows": pair_rows if pairs else None,
    }
    return _conclude(metric, overall_est, found, baseline is not None, fdr, settings, notes, limit)


_BUILDER_LEVELS = 50  # as workbench.slices.BUILDER_LEVELS (core/evaluation may not import it)


def _on(level: _Level, both: Any) -> Any:
    """The level's code expression over the ``both`` CTE (built over its ``f{j}`` column)."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    c = both.c[f"f{level.index}"]
    kinds = {cond.op for cond in level.conditions}
    whens: list[Any] = []
    if kinds & {"range"} or (kinds == {"null"} and _numeric(c)):
        cd = sa.cast(c, sa.Double)
        inf = double(math.inf)
        fin = sa.and_(cd > double(-math.inf), cd < inf)
        ranges = [cond for cond in level.conditions if cond.op == "range"]
        for i, cond in enumerate(ranges):
            hi = cond.value[1]
            whens.append((sa.and_(fin, cd < double(hi)), i) if hi is not None else (fin, i))
        if "null" in kinds:
            whens.insert(0, (sa.or_(c.is_(None), sa.not_(cd <= inf)), len(ranges)))
    else:
        as_text = sa.cast(c, sa.String)
        whens = [(as_text == t, i) for i, t in enumerate(level.texts)]
        if "null" in kinds:
            whens.append((c.is_(None), len(level.texts)))
    return sa.case(*whens)


def _coded(levels: Sequence[_Level], both: Any) -> Any:
    """``both``'s period, score and label with every level's code (``c{k}``, NULL for a
    level without conditions): the codes are computed once an event, however many
    groupings (singles, pairs) use them."""
    import sqlalchemy as sa

    codes = [
        (_on(lv, both) if lv.conditions else sa.null()).label(f"c{k}")
        for k, lv in enumerate(levels)
    ]
    carried = [both.c[n] for n in ("period", "s", "y", "pc", "wk_t", "wk_rid") if n in both.c]
    return sa.select(*carried, *codes).subquery("coded")


#: Dialects that stack an event's group ids in one pass (an array exploded into rows).
_STACKING = {"hive": ("explode", "array"), "duckdb": ("unnest", "list_value")}


def _stacked(conn: Any, coded: Any, gs: Sequence[Any], name: str) -> Any:
    """Rows ``(g, s, y)``: every event of ``coded`` once per group id of ``gs`` that is not
    NULL. On Spark and DuckDB one pass over the selection — the ids as an array exploded
    into rows — where a ``UNION ALL`` branch per id made Spark read the table once per
    branch (a CTE is not materialised there); elsewhere the ``UNION ALL``."""
    import sqlalchemy as sa

    ids = [sa.cast(g, sa.Integer) for g in gs]
    how = _STACKING.get(conn.dialect.name)
    carry = ["s", "y", *(["pc"] if "pc" in coded.c else [])]  # pc: a multiclass prediction
    if how is None:
        branches = [
            sa.select(g.label("g"), *[coded.c[c].label(c) for c in carry]).where(g.is_not(None))
            for g in ids
        ]
        return sa.union_all(*branches).subquery(name)
    explode, array = how
    many = sa.select(
        getattr(sa.func, explode)(getattr(sa.func, array)(*ids)).label("g"),
        *[coded.c[c].label(c) for c in carry],
    ).subquery(f"{name}_all")
    return (
        sa.select(many.c.g, *[many.c[c] for c in carry]).where(many.c.g.is_not(None)).subquery(name)
    )


def _pairs_sample(
    coded: Any, stats: Mapping[int, Any], n_periods: int, limit: int, seed: int
) -> tuple[Any, str] | None:
    """``(coded's events of each period sampled down to limit, a note)``, or ``None`` when no
    period has more. Position ``p`` of a period's ``n`` searched events (numbered in time
    order) is kept as :func:`~watchkeeper.core.drift.sql_counts.systematic_keep` keeps it;
    ``n`` is the overall group's count (``stats[-1 - period]``), so no count is asked."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import systematic_keep

    counts = [int(stats[-1 - i].n) if -1 - i in stats else 0 for i in range(n_periods)]
    if max(counts) <= limit:
        return None
    order = [sa.nulls_last(coded.c.wk_t)] + ([coded.c.wk_rid] if "wk_rid" in coded.c else [])
    pos = sa.func.row_number().over(partition_by=coded.c.period, order_by=order)
    n = sa.case(
        *[(coded.c.period == i, sa.literal(c, sa.BigInteger)) for i, c in enumerate(counts)]
    )
    numbered = sa.select(coded, pos.label("wk_pos"), n.label("wk_n")).subquery("numbered")
    kept = systematic_keep(numbered.c.wk_pos, numbered.c.wk_n, limit=limit, seed=seed)
    sample = sa.select(*[numbered.c[c.name] for c in coded.c]).where(kept).subquery("sampled")
    what = " and ".join(f"{min(c, limit):,} of {c:,}" for c in counts)
    periods = "the current period" if n_periods == 1 else "the current and reference periods"
    note = (
        f"pairs counted on a seeded sample of the searched events ({what}, {periods}); "
        "single features on every event"
    )
    return sample, note


def _renamed(clause: Any, prefix: str) -> Any:
    """``clause`` with its bound parameters renamed: the source's filter names its time
    bounds (``w1``, ``w2``), so a second period's filter in the same statement would take
    the first one's values."""
    from sqlalchemy.sql import visitors
    from sqlalchemy.sql.elements import BindParameter

    def swap(element: Any) -> Any:
        if isinstance(element, BindParameter):
            fresh = element._clone()
            fresh.key = fresh._orig_key = f"{prefix}{element.key}"
            return fresh
        return None

    return visitors.replacement_traverse(clause, {}, swap)  # type: ignore[call-overload]


def _offset(base: int) -> Callable[[int], int]:
    """A grouping's code → its group id's first part (``base + code``)."""
    return lambda code: base + code


def _numeric(c: Any) -> bool:
    import sqlalchemy as sa

    return isinstance(c.type, sa.Integer | sa.Float)


def _typed(text: Any, type_: Any) -> Any:
    """A value read back as text in its column's Python type (what a read would give)."""
    import sqlalchemy as sa

    if text is None:
        return None
    if isinstance(type_, sa.Boolean):
        return str(text).lower() == "true"
    if isinstance(type_, sa.Integer):
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(type_, sa.Float):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _candidate_stats(metric: str, st: GroupStats) -> Any:
    """:func:`~.worst_slices._stats` from a group's sums."""
    from watchkeeper.core.evaluation.worst_slices import _Stats

    n = st.n
    if metric == "roc_auc":
        if st.pos < 2 or st.neg < 2:
            return None
        a = auc_of_sums(st)
        if a is None:
            return None
        return _Stats(a.value, a.se, int(n))
    if metric in ("precision", "recall", "accuracy"):
        fn = st.pos - st.tp
        tn = st.n - st.pred - fn
        k, m = {
            "precision": (st.tp, st.pred),
            "recall": (st.tp, st.pos),
            "accuracy": (st.tp + tn, st.n),
        }[metric]
        if m <= 0:
            return None
        p = k / m
        return _Stats(p, math.sqrt(p * (1 - p) / m), int(m), k)
    s1, s2 = {"brier": (st.sq, st.sq2), "log_loss": (st.ll, st.ll2), "mae": (st.ab, st.sq)}[metric]
    if n < 2:
        return None
    mean = s1 / n
    var = max(s2 / n - mean * mean, 0.0) * n / (n - 1)
    return _Stats(mean, math.sqrt(var) / math.sqrt(n), int(n))


_ = HIGHER_IS_BETTER  # the direction each metric is judged in lives with _judge
