"""A multiclass model's slice metrics and worst-slice search counted where the data lives.

:func:`multiclass_slice_metrics_pushed` is :func:`~.multiclass_slices.multiclass_slice_metrics`
for a SQL source, and :func:`~.slices_sql.find_worst_slices_pushed` with ``outcomes`` given
is the multiclass worst-slice search: what comes back per group (the overall events, a
slice, a candidate level in one period) is its *confusion counts* — events per (true class,
predicted class), with the sums and sums of squares of the log-loss and Brier terms — never
an event (but ROC AUC's interval's bounded sample, below). Every event is coded once
(:func:`class_coded`: its label and predicted class as class indices, the prediction column
where the telemetry has one, else the class of highest probability, the first on ties, as in
memory), stacked once per group holding it (an array exploded on Spark and DuckDB, ``UNION
ALL`` elsewhere) and grouped by ``(group, true, predicted)``: one statement for the slices
(three with ROC AUC), and for the search the statements of the binary search (levels,
singles, pairs), whatever the slices, features or classes.

From the counts, in Python:

- accuracy (Wilson), log loss and Brier (normal intervals from the sums), the confusion
  matrix, label coverage and the per-class precision and recall: the in-memory numbers up to
  summation order (tested to 1e-9);
- balanced accuracy and the F1s: the in-memory point values; their interval a percentile
  bootstrap whose replicate confusion matrix is drawn from the multinomial of the group's
  cell shares (as :mod:`.multiclass_performance_sql` draws it): the law of the in-memory
  replicate, other draws, so these bounds agree to Monte Carlo error, not to the digit;
- the macro one-vs-rest ROC AUC, exact, as :mod:`.multiclass_performance_sql` counts a
  window's, with the slice where it has the window: two more statements. Every labeled,
  scored event is stacked once per group holding it and then once per class (arrays
  exploded on Spark and DuckDB, ``UNION ALL`` elsewhere) and grouped by (group, class,
  distinct probability); a running sum gives each class's Mann-Whitney U, positives and
  negatives (ties ½), and the mean over the classes with both (two or more, else none) is
  the in-memory value. Its percentile bootstrap interval is drawn from at most ``auc_rows``
  (:data:`~.multiclass_performance_sql.AUC_ROWS`) labeled, scored events a group in time
  order (:func:`~watchkeeper.core.drift.sql_counts.systematic_keep`, seeded): a slice that
  fits comes back whole, so its interval is the in-memory one where the events were read
  in time order (the same events in the same order, the same seed; the in-memory Slices
  view takes them in the store's order, time order for a table written as it arrived —
  otherwise the same bootstrap over another order, equal in law, not to the digit); a
  larger slice's is its sample's spread scaled by ``√(sample/slice)`` around the exact
  value, said in :attr:`WindowCounts.notes`. The worst-slice search does not search on ROC
  AUC (:data:`NOT_SEARCHED`): in memory a candidate's standard error is the macro AUC's
  DeLong error across classes, which needs every event's placement in every class (an
  event-level join, not a sum per candidate and class), and its rank sums would group k
  times the binary search's rows.

The worst-slice search's standard error of a candidate's balanced accuracy or F1 is the
*delete-one jackknife of its confusion matrix*: removing one event of cell ``(i, j)`` gives
the matrix minus one there, so the ``n`` leave-one-out values take at most ``k²`` distinct
values, each ``c_ij`` times — exact and deterministic from the counts. In memory the same
variance is estimated by a grouped jackknife over ``JACKKNIFE_GROUPS`` seeded groups of events
(:func:`~.multiclass_slices.candidate_stats`), which the counts cannot reproduce: values and
supports are the in-memory ones, standard errors (hence p-values, the order among close
candidates) agree to that jackknife's own noise. Accuracy's, log loss's and Brier's are the
in-memory ones exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.intervals import Estimate, difference
from watchkeeper.core.evaluation.metrics import EvaluationError, LabelCoverage
from watchkeeper.core.evaluation.multiclass import (
    _EPS,
    MULTICLASS_METRICS,
    ConfusionMatrix,
    MulticlassMetrics,
    _from_confusion,
)
from watchkeeper.core.evaluation.multiclass_performance_sql import AUC_ROWS
from watchkeeper.core.evaluation.predicates import SlicePredicate

__all__ = [
    "COUNTED_METRICS",
    "NOT_SEARCHED",
    "SEARCHED_METRICS",
    "McStats",
    "WindowCounts",
    "class_coded",
    "mc_candidate_stats",
    "mc_group_statement",
    "multiclass_slice_metrics_pushed",
]

#: The multiclass metrics counted per slice in the database (module doc).
COUNTED_METRICS = MULTICLASS_METRICS
#: Those the worst-slice search counts there: not ROC AUC (:data:`NOT_SEARCHED`).
SEARCHED_METRICS = tuple(m for m in MULTICLASS_METRICS if m != "roc_auc")
#: Why the search leaves ROC AUC out, said in notes and errors.
NOT_SEARCHED = (
    "a worst-slice search on a multiclass ROC AUC is not counted in the database: a "
    "candidate's standard error is the macro AUC's DeLong error, which needs every event's "
    "placement in every class (an event-level join, not a sum per candidate and class), and "
    "the rank sums of k classes × every candidate level would group k times the binary "
    "search's rows; the slices' ROC AUC is counted, search on another metric"
)


@dataclass(frozen=True)
class McStats:
    """One group's counts: the ``k × k`` confusion matrix of its labeled, scored events and
    the sums of the term carried (log loss or Brier) and of its square."""

    c: np.ndarray
    t1: float = 0.0
    t2: float = 0.0
    # its candidate statistics when computed for many groups at once (:func:`with_stats`)
    known: Any = None

    @property
    def n(self) -> float:
        return float(self.c.sum())

    @property
    def pos(self) -> float:
        """Events predicted right (what a binary candidate's positives column shows)."""
        return float(np.trace(self.c))


@dataclass(frozen=True)
class WindowCounts:
    """The selection's counts a slice report's data digest rests on, and its metrics."""

    events: int
    labeled: int
    probability_sums: tuple[float, ...]
    label_counts: tuple[int, ...]
    metrics: MulticlassMetrics
    notes: tuple[str, ...] = ()

    def data(self) -> dict[str, Any]:
        """As :func:`~.report.slice_report` digests a multiclass window read into memory."""
        return {
            "rows": self.events,
            "labeled": self.labeled,
            "probability_sums": list(self.probability_sums),
            "label_counts": list(self.label_counts),
        }


def class_coded(
    table: Any,
    col: Callable[[str], Any],
    probabilities: Sequence[str],
    classes: Sequence[str],
    *,
    prediction: bool,
    clauses: Sequence[Any],
    extra: Sequence[Any] = (),
    name: str = "mc",
) -> Any:
    """A sub-select of the selected events: ``wk_y`` the label's class index (NULL:
    unlabeled; -1: no class), ``wk_pc`` the predicted class's (NULL: a probability missing
    or not finite, as in memory), ``wk_ll`` / ``wk_br`` the log-loss and Brier terms of the
    labeled, scored events, ``wk_p0…`` the probabilities, and the ``extra`` labeled
    expressions over the table's columns. Three shallow layers, not one deep expression
    (SQLite's parser has a small stack)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.multiclass_performance_sql import _argmax, _class_code
    from watchkeeper.core.telemetry.sql_values import double, nan_as_null

    k = len(classes)
    raw = sa.select(
        # a NaN label or prediction is none, as the readers hand it over
        nan_as_null(col("label")).label("wk_label"),
        *([nan_as_null(col("prediction")).label("wk_given")] if prediction else []),
        *[sa.cast(col(c), sa.Double).label(f"wk_p{j}") for j, c in enumerate(probabilities)],
        *extra,
    ).select_from(table)
    if clauses:
        raw = raw.where(*clauses)
    r = raw.subquery(f"{name}_raw")
    carried = [r.c[e.name] for e in extra]
    ps = [r.c[f"wk_p{j}"] for j in range(k)]
    inf = double(math.inf)
    # never NULL (IS NOT NULL first): NaN and ±inf are no score, as np.isfinite says
    scored = sa.and_(*[sa.and_(p.is_not(None), p > -inf, p < inf) for p in ps])
    pc = sa.case((scored, _argmax(ps)), else_=sa.null())
    if prediction:
        given = r.c.wk_given
        pc = sa.case(
            (sa.not_(scored), sa.null()),
            (given.is_not(None), _class_code(given, classes)),
            else_=_argmax(ps),
        )
    codes = sa.select(
        _class_code(r.c.wk_label, classes).label("wk_y"), pc.label("wk_pc"), *ps, *carried
    ).subquery(f"{name}_codes")
    yc = codes.c.wk_y
    ps = [codes.c[f"wk_p{j}"] for j in range(k)]
    p_true = sa.case(*[(yc == j, ps[j]) for j in range(k)])
    clipped = sa.case(
        (p_true < double(_EPS), double(_EPS)), (p_true > double(1.0), double(1.0)), else_=p_true
    )
    ok = sa.and_(yc >= 0, codes.c.wk_pc.is_not(None))
    one, zero = double(1.0), double(0.0)
    terms = [ps[j] - sa.case((yc == j, one), else_=zero) for j in range(k)]
    return sa.select(
        yc,
        codes.c.wk_pc,
        sa.case((ok, -sa.func.ln(clipped))).label("wk_ll"),
        sa.case((ok, sum((t * t for t in terms[1:]), terms[0] * terms[0]))).label("wk_br"),
        *ps,
        *[codes.c[e.name] for e in extra],
    ).subquery(f"{name}_coded")


def stacked(
    conn: Any,
    frame: Any,
    gs: Sequence[Any],
    carry: Sequence[str],
    name: str,
    where: Sequence[Any] = (),
) -> Any:
    """Rows ``(g, *carry)``: every row of ``frame`` (that meets ``where``) once per group id
    of ``gs`` that is not NULL — one pass on Spark and DuckDB (the ids as an array exploded
    into rows), a ``UNION ALL`` branch per id elsewhere (:func:`.slices_sql._stacked`)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slices_sql import _STACKING

    ids = [sa.cast(g, sa.Integer) for g in gs]
    how = _STACKING.get(conn.dialect.name)
    cols = [frame.c[c] for c in carry]
    if how is None:
        branches = [sa.select(g.label("g"), *cols).where(g.is_not(None), *where) for g in ids]
        return sa.union_all(*branches).subquery(name)
    explode, array = how
    spread = sa.select(getattr(sa.func, explode)(getattr(sa.func, array)(*ids)).label("g"), *cols)
    if where:
        spread = spread.where(*where)
    many = spread.subquery(f"{name}_all")
    return (
        sa.select(many.c.g, *[many.c[c] for c in carry]).where(many.c.g.is_not(None)).subquery(name)
    )


def mc_group_statement(rows: Any, sums: Sequence[str] = ("s",), squares: bool = True) -> Any:
    """Per ``(g, y, pc)`` of ``rows``: the events and the sums (and sums of squares) of the
    columns ``sums`` — at most groups × (k + 2)² rows, whatever the events."""
    import sqlalchemy as sa

    parts: list[Any] = [rows.c.g, rows.c.y, rows.c.pc, sa.func.count()]
    for s in sums:
        parts.append(sa.func.sum(rows.c[s]))
        if squares:
            parts.append(sa.func.sum(rows.c[s] * rows.c[s]))
    return sa.select(*parts).group_by(rows.c.g, rows.c.y, rows.c.pc)


def confusions(fetched: np.ndarray, k: int, first_sum: int = 4) -> dict[int, McStats]:
    """Group id → its :class:`McStats` from rows ``(g, y, pc, n, t1, t2)`` (the labeled,
    scored cells only; a group with none has an empty matrix)."""
    out: dict[int, McStats] = {}
    if not len(fetched):
        return out
    g = fetched[:, 0].astype(np.int64)
    cell = ~np.isnan(fetched[:, 1]) & ~np.isnan(fetched[:, 2])
    ids, inverse = np.unique(g, return_inverse=True)
    c = np.zeros((len(ids), k, k))
    rows = fetched[cell]
    np.add.at(
        c,
        (inverse[cell], rows[:, 1].astype(np.intp), rows[:, 2].astype(np.intp)),
        rows[:, 3],
    )
    t = np.zeros((len(ids), 2))
    if fetched.shape[1] >= first_sum + 2:
        np.add.at(t, inverse[cell], np.nan_to_num(rows[:, first_sum : first_sum + 2]))
    for i, gid in enumerate(ids):
        out[int(gid)] = McStats(c[i], float(t[i, 0]), float(t[i, 1]))
    return out


def with_stats(metric: str, stats: Mapping[int, McStats]) -> dict[int, McStats]:
    """``stats`` with each group's :func:`mc_candidate_stats` computed for all groups at
    once (one ``_stacked`` per block of groups, not a Python loop per candidate): the same
    numbers, a search's thousands of candidates in a fraction of the time."""
    import dataclasses

    from watchkeeper.core.evaluation.multiclass_slices import _stacked
    from watchkeeper.core.evaluation.worst_slices import _Stats

    if metric not in ("balanced_accuracy", "macro_f1", "weighted_f1") or not stats:
        return dict(stats)
    ids = list(stats)
    c = np.stack([stats[g].c for g in ids])
    k = c.shape[1]
    n = c.sum(axis=(1, 2))
    unit = np.eye(k * k).reshape(k * k, k, k)
    value = np.full(len(ids), np.nan)
    se = np.full(len(ids), np.nan)
    block = max(1, 2_000_000 // (k**4))  # at most ~16 MB of leave-one-out matrices
    for lo in range(0, len(ids), block):
        part = c[lo : lo + block]
        g = len(part)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a class never a label: NaN
            value[lo : lo + g] = _stacked(metric, part)
            loo = (part[:, None] - unit[None]).reshape(g * k * k, k, k)
            v = _stacked(metric, loo).reshape(g, k * k)
        w = part.reshape(g, k * k)
        ok = (w > 0) & np.isfinite(v)
        w = np.where(ok, w, 0.0)
        v = np.where(ok, v, 0.0)
        m = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w * v).sum(axis=1) / m
            var = (m - 1) / m * (w * (v - mean[:, None]) ** 2).sum(axis=1)
        se[lo : lo + g] = np.where(m >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
    out = {}
    for i, gid in enumerate(ids):
        st = stats[gid]
        ok = n[i] >= 2 and math.isfinite(value[i]) and math.isfinite(se[i])
        got = _Stats(float(value[i]), float(se[i]), int(n[i]), math.nan, "jackknife")
        out[gid] = dataclasses.replace(st, known=got if ok else False)
    return out


def jackknife_se(metric: str, c: np.ndarray) -> float | None:
    """The delete-one jackknife standard error of ``metric`` of confusion matrix ``c``
    (module doc), or None when fewer than two leave-one-out values exist."""
    from watchkeeper.core.evaluation.multiclass_slices import _stacked

    cells = np.argwhere(c > 0)
    if not len(cells):
        return None
    loo = np.repeat(c[None], len(cells), axis=0)
    loo[np.arange(len(cells)), cells[:, 0], cells[:, 1]] -= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class never a label: NaN
        values = _stacked(metric, loo)
    weights = c[cells[:, 0], cells[:, 1]]
    ok = np.isfinite(values)
    w, v = weights[ok], values[ok]
    m = float(w.sum())
    if m < 2:
        return None
    mean = float((w * v).sum() / m)
    return math.sqrt((m - 1) / m * float((w * (v - mean) ** 2).sum()))


def mc_candidate_stats(metric: str, st: McStats) -> Any:
    """:func:`~.worst_slices._stats` of a multiclass candidate from its counts: the value
    and standard error :func:`~.multiclass_slices.candidate_stats` gives in memory (the
    jackknife's from the counts: module doc)."""
    from watchkeeper.core.evaluation.worst_slices import _Stats

    if st.known is not None:  # computed with the other groups' (with_stats)
        return st.known or None
    n = st.n
    if n < 2:
        return None
    if metric == "accuracy":
        k = st.pos
        p = k / n
        return _Stats(p, math.sqrt(p * (1 - p) / n), int(n), k, "")
    if metric in ("log_loss", "brier"):
        mean = st.t1 / n
        var = max(st.t2 / n - mean * mean, 0.0) * n / (n - 1)
        return _Stats(mean, math.sqrt(var / n), int(n), math.nan, "")
    if metric == "roc_auc":
        raise EvaluationError(NOT_SEARCHED)
    value = _from_confusion(st.c)[metric]
    if not math.isfinite(value):
        return None
    se = jackknife_se(metric, st.c)
    if se is None:
        return None
    return _Stats(value, se, int(n), math.nan, "jackknife")


def mc_estimates(
    st: McStats | None,
    k: int,
    ll: tuple[float, float],
    br: tuple[float, float],
    metrics: Sequence[str],
    *,
    confidence: float,
    n_boot: int,
    seed: int,
    roc_auc: Estimate | None = None,
) -> Mapping[str, Estimate]:
    """The metrics of one group from its counts (module doc), ``roc_auc`` its ROC AUC from
    the rank sums when asked for; a group without labeled, scored events takes the
    in-memory path's estimates of no events."""
    from watchkeeper.core.evaluation.multiclass_performance_sql import _from_counts

    c = np.zeros((k, k)) if st is None else st.c
    if c.sum() <= 0:
        from watchkeeper.core.evaluation.multiclass import metrics_of_codes

        nothing = metrics_of_codes(
            [str(j) for j in range(k)],
            np.zeros(0),
            np.zeros((0, k)),
            metrics=tuple(metrics),
            confidence=confidence,
            n_boot=n_boot,
            seed=seed,
        )
        return nothing.metrics
    cells = np.array([[0.0, 0.0, 0.0, 0.0, ll[0], ll[1], br[0], br[1]]])
    got = _from_counts(c, cells, tuple(metrics), confidence, n_boot, seed)
    if "roc_auc" in metrics:
        if roc_auc is None:
            raise EvaluationError("ROC AUC asked for without its rank sums")
        got["roc_auc"] = roc_auc
    return MappingProxyType({m: got[m] for m in metrics})


def multiclass_slice_metrics_pushed(
    source: Any,
    predicates: Sequence[SlicePredicate],
    *,
    outcomes: Any,
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
    metrics: Sequence[str] = COUNTED_METRICS,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    auc_rows: int = AUC_ROWS,
    cancelled: Callable[[], bool] | None = None,
) -> tuple[Any, WindowCounts]:
    """``(SliceResult, WindowCounts)``: :func:`~.multiclass_slices.multiclass_slice_metrics`
    of a SQL source's selection from one statement, three with ROC AUC (module doc).
    ``outcomes``: the model's :class:`~.multiclass_slices.ClassColumns`. Slice ``i``
    bootstraps with ``seed + i + 1``; ROC AUC's interval from at most ``auc_rows`` events a
    slice."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.multiclass_performance_sql import (
        _macro_auc,
        _per_class,
        refuse_unknown_sql,
    )
    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts
    from watchkeeper.core.evaluation.slices import SliceResult, SliceRow
    from watchkeeper.core.telemetry.sql import time_key
    from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused
    from watchkeeper.core.telemetry.sql_values import double

    metrics = tuple(metrics)
    for m in metrics:
        if m not in MULTICLASS_METRICS:
            raise EvaluationError(f"{m!r} is not a multiclass metric")
    classes = outcomes.classes
    k = len(classes)
    if k < 2 or len(set(classes)) != k:
        raise EvaluationError("a multiclass model needs two or more distinct classes")
    prediction = outcomes.prediction is not None
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        table, clauses, col = slice_query(
            conn, source, None, model=model, versions=versions, start=start, end=end
        )
        member = [
            sa.case((p.where(table.c), sa.literal(i, sa.Integer))).label(f"wk_c{i}")
            for i, p in enumerate(predicates)
        ]
        auc = "roc_auc" in metrics
        # the time orders ROC AUC's sample as the in-memory path's rows are ordered
        when = [time_key(col("ts")).label("wk_t")] if auc else []
        coded = class_coded(
            table,
            col,
            list(outcomes.probabilities.values()),
            classes,
            prediction=prediction,
            clauses=clauses,
            extra=[*member, *when],
        )
        inf = double(math.inf)
        frame = sa.select(
            coded.c.wk_y.label("y"),
            coded.c.wk_pc.label("pc"),
            coded.c.wk_ll.label("ll"),
            coded.c.wk_br.label("br"),
            # np.nansum: NULL and NaN left out (NaN <= inf is false), ±inf kept
            *[
                sa.case((coded.c[f"wk_p{j}"] <= inf, coded.c[f"wk_p{j}"])).label(f"p{j}")
                for j in range(k)
            ],
            sa.literal(-1, sa.Integer).label("all"),
            *[coded.c[f"wk_c{i}"] for i in range(len(predicates))],
            *([coded.c.wk_t.label("t")] if auc else []),
        ).subquery("mc_frame")
        gs = [frame.c["all"], *(frame.c[f"wk_c{i}"] for i in range(len(predicates)))]
        carry = ["y", "pc", "ll", "br", *[f"p{j}" for j in range(k)]]
        rows = stacked(conn, frame, gs, carry, "mc_rows")
        statement = sa.select(
            rows.c.g,
            rows.c.y,
            rows.c.pc,
            sa.func.count(),
            sa.func.sum(rows.c.ll),
            sa.func.sum(rows.c.ll * rows.c.ll),
            sa.func.sum(rows.c.br),
            sa.func.sum(rows.c.br * rows.c.br),
            *[sa.func.sum(rows.c[f"p{j}"]) for j in range(k)],
        ).group_by(rows.c.g, rows.c.y, rows.c.pc)
        with cancellable_or_refused(
            conn,
            cancelled,
            what="multiclass slice counting",
            refused="the multiclass slice query",
            error=EvaluationError,
        ):
            fetched = fetch_numbers(conn, statement, 8 + k)
        # the overall group (-1) holds every selected event once
        overall = fetched[fetched[:, 0] == -1]
        refuse_unknown_sql(conn, overall, table, clauses, col, classes, prediction=prediction)
        aucs: dict[tuple[int, int], float] = {}
        sample = np.empty((0, 2 + k))
        if auc:
            with cancellable_or_refused(
                conn,
                cancelled,
                what="multiclass slice ROC AUC counting",
                refused="the multiclass slice ROC AUC query",
                error=EvaluationError,
            ):
                aucs, sample = _auc_parts(conn, frame, len(predicates), k, auc_rows)

    def part(g: int) -> tuple[np.ndarray, McStats | None, int, int]:
        mine = fetched[fetched[:, 0] == g]
        stats = confusions(mine[:, :8], k).get(g)
        events = int(mine[:, 3].sum())
        labeled = int(mine[~np.isnan(mine[:, 1]), 3].sum())
        return mine, stats, events, labeled

    sampled = False

    def measure(g: int, s: int) -> tuple[Mapping[str, Estimate], McStats | None, int, int]:
        nonlocal sampled
        mine, st, events, labeled = part(g)
        cells = mine[~np.isnan(mine[:, 1]) & ~np.isnan(mine[:, 2])]
        sums = np.nansum(cells[:, 4:8], axis=0) if len(cells) else np.zeros(4)
        roc = None
        if auc and st is not None and st.n > 0:
            n = st.n
            per_class = [aucs.get((g, j)) for j in range(k)]
            mine_sample = sample[sample[:, 0] == g]
            roc, cut = _macro_auc(classes, per_class, mine_sample, n, int(n), confidence, n_boot, s)
            sampled = sampled or cut
        est = mc_estimates(
            st,
            k,
            (float(sums[0]), float(sums[1])),
            (float(sums[2]), float(sums[3])),
            metrics,
            confidence=confidence,
            n_boot=n_boot,
            seed=s,
            roc_auc=roc,
        )
        return est, st, events, labeled

    overall, whole, events, labeled = measure(-1, seed)
    out = []
    for i, pred in enumerate(predicates):
        got, _, support, lab = measure(i, seed + i + 1)
        delta = {key: difference(got[key].value, overall[key].value) for key in metrics}
        out.append(SliceRow(pred, support, lab, None, got, MappingProxyType(delta)))
    result = SliceResult(overall, events, labeled, tuple(out), 0.5, None)
    mine = fetched[fetched[:, 0] == -1]
    c = np.zeros((k, k)) if whole is None else whole.c
    labeled_rows = mine[~np.isnan(mine[:, 1])]
    label_counts = tuple(int(labeled_rows[labeled_rows[:, 1] == j, 3].sum()) for j in range(k))
    no_lags: dict[str, float | None] = {"p10": None, "p50": None, "p90": None, "max": None}
    window = MulticlassMetrics(
        classes,
        LabelCoverage(events, labeled, MappingProxyType(no_lags)),
        overall,
        _per_class(classes, c, confidence),
        ConfusionMatrix(classes, tuple(tuple(int(v) for v in r) for r in c)),
        int(labeled_rows[np.isnan(labeled_rows[:, 2]), 3].sum()),
    )
    sums = tuple(float(np.nansum(mine[:, 8 + j])) for j in range(k))
    notes: tuple[str, ...] = ()
    if sampled:
        notes = (
            f"ROC AUC exact from rank sums; its interval bootstrapped on at most {auc_rows:,} "
            "events a slice (a larger slice's: on a seeded sample, the spread scaled by "
            "√(sample/slice))",
        )
    return result, WindowCounts(events, labeled, sums, label_counts, window, notes)


def _auc_parts(
    conn: Any, frame: Any, slices: int, k: int, limit: int
) -> tuple[dict[tuple[int, int], float], np.ndarray]:
    """``({(group, class): one-vs-rest AUC}, sample rows (group, y, p…))`` of ``frame``'s
    labeled, scored events: the rank sums of :mod:`.multiclass_performance_sql` with the
    group (-1 all events, ``i`` slice ``i``) where it has the window, and at most ``limit``
    events a group in time order (:func:`~watchkeeper.core.drift.sql_counts.systematic_keep`:
    a group that fits comes back whole) — two statements, each reading the selection once."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import systematic_keep
    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.multiclass_performance_sql import _rank_sums, stack_classes

    ps = [f"p{j}" for j in range(k)]
    gs = [frame.c["all"], *(frame.c[f"wk_c{i}"] for i in range(slices))]
    # pc is NULL exactly when a probability is missing or not finite (class_coded)
    valid = [frame.c.y >= 0, frame.c.pc.is_not(None)]
    rows = stacked(conn, frame, gs, ["y", "t", *ps], "mc_auc_rows", where=valid)
    ranks = stack_classes(conn, rows, k, group="g", label="y")
    sums = fetch_numbers(conn, _rank_sums(ranks), 4)
    aucs = {}
    for gid, u, p, q in np.nan_to_num(sums):
        g, j = divmod(int(gid), k)  # floor division: the overall group's -k + j is (-1, j)
        aucs[(g, j)] = u / (p * q) if p > 0 and q > 0 else math.nan
    pos = sa.func.row_number().over(partition_by=rows.c.g, order_by=sa.nulls_last(rows.c.t))
    cnt = sa.func.count().over(partition_by=rows.c.g)
    inner = sa.select(
        rows.c.g.label("w"),
        pos.label("wk_pos"),
        cnt.label("wk_cnt"),
        rows.c.y,
        *[rows.c[p] for p in ps],
    ).subquery("mc_sample")
    keep = systematic_keep(inner.c.wk_pos, inner.c.wk_cnt, limit=limit)
    picked = (
        sa.select(inner.c.w, inner.c.y, *[inner.c[p] for p in ps])
        .where(keep)
        .order_by(inner.c.w, inner.c.wk_pos)
    )
    return aucs, fetch_numbers(conn, picked, 2 + k)
