"""A multiclass model's performance per window counted where the data lives.

:func:`multiclass_performance_sql` is :func:`~.performance.performance_over_time` with
``task = "multiclass"`` for a SQL source. Every event is coded once in a sub-select — its
label and predicted class as class indices (the prediction column where the telemetry has
one, else the class of highest probability, the first on ties, as :func:`.multiclass.encode`
takes it), its log-loss and Brier terms — and each statement reads the selection once,
whatever the windows or classes:

1. the counts: per window, true class and predicted class, the events and the sums (and
   sums of squares) of the log-loss and Brier terms — at most windows × (k + 2)² rows. Label
   coverage, the k × k confusion matrix, accuracy and the per-class precision and recall
   (Wilson), log loss and Brier (normal intervals from the sums) follow, equal to the
   in-memory ones up to summation order (tested to 1e-9);
2. only for ``roc_auc``: the one-vs-rest rank sums, every labeled event stacked once per
   class (an array exploded on Spark, unnested on DuckDB), grouped by (window, class,
   distinct probability) with a running sum of the negatives over those groups: the macro
   ROC AUC is exact;
3. only for ``roc_auc``: its interval, a percentile bootstrap on a bounded seeded sample
   (:func:`~watchkeeper.core.drift.sql_counts.sample_statement`, at most ``auc_rows``
   events a window). A window of at most ``auc_rows`` events comes back whole and in time
   order, so its interval is the in-memory one; a larger window's interval is its sample's
   bootstrap spread scaled to the window's size (each replicate's distance from the
   sample's AUC times ``√(m/n)``, ``m`` the sample's labeled events, ``n`` the window's —
   ROC AUC's standard error falls as ``1/√n``) around the exact value, said in the result's
   notes.

Balanced accuracy and the F1s are functions of the confusion matrix alone, so their
bootstrap needs no event: a replicate's confusion matrix is drawn from the multinomial of
the window's cell shares (the law of the in-memory replicate's matrix, where every event is
drawn with probability 1/n), with the same seed. The draws differ from the in-memory ones
(which draw events, not cells), so these intervals agree with the in-memory ones to Monte
Carlo error, not to the last digit. Label-lag percentiles are not computed (``None``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.evaluation.intervals import (
    Estimate,
    bootstrap_counts,
    percentile_interval,
    wilson,
)
from watchkeeper.core.evaluation.metrics import EvaluationError, LabelCoverage
from watchkeeper.core.evaluation.multiclass import (
    _BOOTSTRAPPED,
    _EPS,
    MULTICLASS_METRICS,
    ConfusionMatrix,
    Encoded,
    _from_confusion,
)
from watchkeeper.core.evaluation.performance import PerformanceResult, WindowPerformance

if TYPE_CHECKING:
    from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = [
    "AUC_ROWS",
    "coded_selection",
    "multiclass_performance_sql",
    "reference_labeled_multiclass_sql",
    "refuse_unknown_sql",
    "window_probabilities_sql",
]

#: At most this many events a window are read for ROC AUC's bootstrap interval (module doc).
AUC_ROWS = 5_000


def _class_code(value: Any, classes: Sequence[str]) -> Any:
    """``value`` (a label or prediction column) as its class index: NULL stays NULL, a value
    that is no class is ``-1``. A numeric column matches the classes named by integers
    (:func:`~watchkeeper.core.telemetry.classes.class_text`: ``2``, ``2.0`` and ``"2"`` are
    one class); a text column matches the names."""
    import sqlalchemy as sa

    numeric = isinstance(value.type, sa.Integer | sa.Float | sa.Numeric | sa.Boolean)
    whens = []
    for j, name in enumerate(classes):
        if numeric:
            try:
                number = int(name)
            except ValueError:
                continue
            if isinstance(value.type, sa.Boolean):
                target: Any = sa.cast(value, sa.Integer) == sa.literal(number, sa.Integer)
            else:
                target = value == sa.literal(number, sa.BigInteger)
        else:
            target = value == sa.literal(str(name), sa.String)
        whens.append((target, sa.literal(j, sa.Integer)))
    code = sa.case(*whens, else_=sa.literal(-1, sa.Integer)) if whens else sa.literal(-1)
    return sa.case((value.is_(None), sa.null()), else_=code)


def _argmax(ps: Sequence[Any]) -> Any:
    """The index of the highest of ``ps``, the first on ties (numpy's ``argmax``)."""
    import sqlalchemy as sa

    whens = []
    for j in range(len(ps) - 1):
        later = [ps[j] >= ps[i] for i in range(j + 1, len(ps))]
        whens.append((sa.and_(*later), sa.literal(j, sa.Integer)))
    return sa.case(*whens, else_=sa.literal(len(ps) - 1, sa.Integer))


def multiclass_performance_sql(
    source: Any,
    *,
    classes: Mapping[str, str],
    model: str | None = None,
    versions: Sequence[str] = (),
    start: Any = None,
    end: Any = None,
    window: WindowSpec | str | None = None,
    prediction: bool = False,
    metrics: Sequence[str] | None = None,
    min_labeled: int = 100,
    as_of: dt.datetime | None = None,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    auc_rows: int = AUC_ROWS,
    cancelled: Callable[[], bool] | None = None,
) -> PerformanceResult:
    """Multiclass metrics per window of a SQL source's selection, counted by the database.

    ``classes``: class name → its probability column, in the model's class order;
    ``prediction``: whether the source's prediction column gives the predicted class. The
    selection, windows, ``as_of`` and ``n_boot``/``seed`` are those of
    :func:`~.performance.performance_over_time` (window ``i`` bootstraps with ``seed + i``).
    """
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import plan_windows_sql, sample_statement, windowed_rows
    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.slice_sql import sql_parts
    from watchkeeper.core.telemetry.sql_cancel import cancellable_or_refused
    from watchkeeper.core.telemetry.windows import parse_window

    names = tuple(str(c) for c in classes)
    k = len(names)
    if k < 2 or len(set(names)) != k:
        raise EvaluationError("a multiclass model needs two or more distinct classes")
    chosen = tuple(metrics or MULTICLASS_METRICS)
    for m in chosen:
        if m not in MULTICLASS_METRICS:
            raise EvaluationError(
                f"{m!r} is not a multiclass metric ({', '.join(MULTICLASS_METRICS)})"
            )
    where = {"model": model, "versions": versions, "start": start, "end": end}
    engine, _ = sql_parts(source)
    notes: list[str] = []
    with engine.connect() as conn:
        table, selected, col, sel = coded_selection(
            conn, source, classes, prediction=prediction, as_of=as_of, **where
        )
        ts = col("ts")
        windows = plan_windows_sql(
            conn, table, parse_window(window), timestamp=ts.name, where=selected
        )

        def windowed(cols: Sequence[str]) -> Any:
            return windowed_rows(
                sel,
                windows,
                timestamp=ts.name,
                names=cols,
                where=None,
                order_by=(),
                start=None,
                end=None,
            )

        rows = windowed(["wk_y", "wk_pc", "wk_ll", "wk_br"])
        cy, cp, cl, cb = rows.columns
        w = rows.window.label("w")
        counts = sa.select(
            w,
            cy.label("y"),
            cp.label("pc"),
            sa.func.count().label("n"),
            sa.func.sum(cl).label("ll"),
            sa.func.sum(cl * cl).label("ll2"),
            sa.func.sum(cb).label("br"),
            sa.func.sum(cb * cb).label("br2"),
        ).select_from(rows.source)
        if rows.conditions:
            counts = counts.where(*rows.conditions)
        counts = counts.group_by(
            sa.literal_column("w"), sa.literal_column("y"), sa.literal_column("pc")
        )
        aucs: dict[int, Any] = {}
        sample = np.empty((0, 2 + k))
        with cancellable_or_refused(
            conn,
            cancelled,
            what="multiclass performance counting",
            refused="the multiclass performance query",
            error=EvaluationError,
        ):
            fetched = fetch_numbers(conn, counts, 8)
            refuse_unknown_sql(
                conn,
                fetched,
                table,
                [] if selected is None else [selected],
                col,
                names,
                prediction=prediction,
            )
            if "roc_auc" in chosen:
                stacked = _stacked_classes(
                    conn, windowed(["wk_y", *[f"wk_p{j}" for j in range(k)]]), k
                )
                sums = fetch_numbers(conn, _rank_sums(stacked), 4)
                aucs = {
                    int(g): (u / (p * q) if p > 0 and q > 0 else math.nan)
                    for g, u, p, q in np.nan_to_num(sums)
                }
                picked = sample_statement(
                    sel,
                    windows,
                    ["wk_y", *[f"wk_p{j}" for j in range(k)]],
                    limit=auc_rows,
                    timestamp=ts.name,
                )
                sample = fetch_numbers(conn, picked, 2 + k)
    out = []
    sampled = False
    for i in range(len(windows)):
        mine = fetched[fetched[:, 0] == i]
        labeled_rows = mine[~np.isnan(mine[:, 1])]
        no_lags: dict[str, float | None] = {"p10": None, "p50": None, "p90": None, "max": None}
        coverage = LabelCoverage(
            int(mine[:, 3].sum()), int(labeled_rows[:, 3].sum()), MappingProxyType(no_lags)
        )
        cells = labeled_rows[~np.isnan(labeled_rows[:, 2])]
        c = np.zeros((k, k))
        np.add.at(c, (cells[:, 1].astype(np.intp), cells[:, 2].astype(np.intp)), cells[:, 3])
        n = float(c.sum())
        est: Mapping[str, Estimate] = MappingProxyType({})
        per_class: Mapping[str, Mapping[str, Estimate]] = MappingProxyType({})
        confusion = None
        status = "insufficient"
        if n >= min_labeled:
            status = "ok"
            got = _from_counts(c, cells, chosen, confidence, n_boot, seed + i)
            if "roc_auc" in chosen:
                part = sample[sample[:, 0] == i]
                got["roc_auc"], cut = _macro_auc(
                    names,
                    [aucs.get(i * k + j) for j in range(k)],
                    part,
                    n,
                    coverage.events,
                    confidence,
                    n_boot,
                    seed + i,
                )
                sampled = sampled or cut
            est = MappingProxyType({m: got[m] for m in chosen})
            per_class = _per_class(names, c, confidence)
            confusion = ConfusionMatrix(names, tuple(tuple(int(v) for v in r) for r in c))
        out.append(
            WindowPerformance(
                i,
                windows.starts[i],
                windows.ends[i],
                coverage.events,
                coverage,
                status,
                est,
                per_class,
                confusion,
            )
        )
    if sampled:
        notes.append(
            f"ROC AUC exact from rank sums; its interval bootstrapped on at most {auc_rows:,} "
            "events a window (a larger window's: on a seeded sample, the spread scaled by "
            "√(sample/window))"
        )
    return PerformanceResult(windows.spec.text, "multiclass", 0.5, tuple(out), notes=tuple(notes))


def coded_selection(
    conn: Any,
    source: Any,
    classes: Mapping[str, str],
    *,
    prediction: bool,
    as_of: dt.datetime | None,
    **where: Any,
) -> tuple[Any, Any, Any, Any]:
    """``(table, selection filter, role → column, coded)``: ``coded`` a sub-select of the
    selection's events with their time (the ``ts`` column's name), ``wk_y`` the label's
    class index (NULL: unlabeled, or not arrived by ``as_of``; -1: no class, arrived or
    not), ``wk_pc`` the predicted class's (NULL: a probability missing or not finite),
    ``wk_ll`` and ``wk_br`` the log-loss and Brier terms of the labeled, scored events, and
    ``wk_p0…`` the probabilities."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import slice_query
    from watchkeeper.core.telemetry.sql import time_bound, time_key
    from watchkeeper.core.telemetry.sql_values import double, nan_as_null

    names = tuple(str(c) for c in classes)
    k = len(names)
    table, clauses, col = slice_query(conn, source, None, **where)
    ts = col("ts")
    selected = sa.and_(*clauses) if clauses else None
    known: list[Any] = []
    if as_of is not None:
        arrived = col("label_ts")
        at = sa.case((time_key(arrived) <= time_bound(arrived, as_of), sa.literal(1, sa.Integer)))
        known = [at.label("wk_known")]
    # three shallow layers, not one deep expression (SQLite's parser has a small stack)
    raw = sa.select(
        ts.label(ts.name),
        # a NaN label or prediction is none, as the readers hand it over
        nan_as_null(col("label")).label("wk_label"),
        *known,
        *([nan_as_null(col("prediction")).label("wk_given")] if prediction else []),
        *[sa.cast(col(c), sa.Double).label(f"wk_p{j}") for j, c in enumerate(classes.values())],
    ).select_from(table)
    if clauses:
        raw = raw.where(*clauses)
    r = raw.subquery("wk_raw")
    ps = [r.c[f"wk_p{j}"] for j in range(k)]
    inf = double(math.inf)
    # NaN and ±inf are no score, as np.isfinite says in memory (IS NOT NULL first: never NULL)
    scored = sa.and_(*[sa.and_(p.is_not(None), p > -inf, p < inf) for p in ps])
    guess = _argmax(ps)
    pc = sa.case((~scored, sa.null()), else_=guess)
    if prediction:
        given = r.c.wk_given
        pc = sa.case(
            (~scored, sa.null()), (given.is_not(None), _class_code(given, names)), else_=guess
        )
    code = _class_code(r.c.wk_label, names)
    if as_of is not None:
        # a label that is no class is refused whether or not it had arrived by as_of: the
        # in-memory path codes every stored label before it replays their arrival
        code = sa.case((r.c.wk_known == 1, code), (code == -1, code))
    codes = sa.select(
        r.c[ts.name],
        code.label("wk_y"),
        pc.label("wk_pc"),
        *ps,
    ).subquery("wk_codes")
    yc = codes.c.wk_y
    ps = [codes.c[f"wk_p{j}"] for j in range(k)]
    scored = codes.c.wk_pc.is_not(None)
    p_true = sa.case(*[(yc == j, ps[j]) for j in range(k)])
    clipped = sa.case(
        (p_true < double(_EPS), double(_EPS)),
        (p_true > double(1.0), double(1.0)),
        else_=p_true,
    )
    ok = sa.and_(yc >= 0, scored)
    ll = sa.case((ok, -sa.func.ln(clipped)))
    one, zero = double(1.0), double(0.0)
    terms = [ps[j] - sa.case((yc == j, one), else_=zero) for j in range(k)]
    br = sa.case((ok, sum((t * t for t in terms[1:]), terms[0] * terms[0])))
    sel = sa.select(
        codes.c[ts.name],
        yc,
        codes.c.wk_pc,
        ll.label("wk_ll"),
        br.label("wk_br"),
        *ps,
    ).subquery("wk_coded")
    return table, selected, col, sel


def refuse_unknown_sql(
    conn: Any,
    fetched: np.ndarray,
    table: Any,
    clauses: Sequence[Any],
    col: Callable[[str], Any],
    classes: Sequence[str],
    *,
    prediction: bool,
) -> None:
    """Rows ``(g, y, pc, n, …)`` counting each selected event once: a label (or prediction)
    that is no class is refused in :func:`.multiclass.class_codes`' words, its lowest values
    read back from the selection (``clauses`` over ``table``) only then."""
    from watchkeeper.core.evaluation.slice_sql import refuse_unknown_classes_sql

    label = int(fetched[fetched[:, 1] == -1, 3].sum())
    refuse_unknown_classes_sql(conn, table, clauses, col("label"), classes, "label", label)
    if prediction:
        given = int(fetched[fetched[:, 2] == -1, 3].sum())
        column = col("prediction")
        refuse_unknown_classes_sql(conn, table, clauses, column, classes, "prediction", given)


def _stacked_classes(conn: Any, rows: Any, k: int) -> Any:
    """Rows ``(g, s, y)``: every labeled, scored event of ``rows`` (windowed) once per class
    ``j`` — ``g`` the window × k + j (:func:`stack_classes`)."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    cy, *cps = rows.columns
    inf = double(math.inf)
    # a NaN or ±inf probability is no score (as np.isfinite says in memory), not a rank
    labeled = sa.and_(cy >= 0, *[sa.and_(p.is_not(None), p > -inf, p < inf) for p in cps])
    conds = [*rows.conditions, labeled]
    base = (
        sa.select(
            rows.window.label("w"), cy.label("yc"), *[p.label(f"p{j}") for j, p in enumerate(cps)]
        )
        .select_from(rows.source)
        .where(*conds)
        .subquery("mc_labeled")
    )
    return stack_classes(conn, base, k)


def stack_classes(conn: Any, base: Any, k: int, *, group: str = "w", label: str = "yc") -> Any:
    """Rows ``(g, s, y)`` of :func:`_rank_sums`: every row of ``base`` (columns ``group`` a
    group id — a window, a slice —, ``label`` the label's class index, ``p0…`` the
    probabilities; only labeled, scored events) once per class ``j`` — ``g`` = group × k + j,
    ``s`` its probability of ``j``, ``y`` whether its label is ``j``. One pass on Spark and
    DuckDB (the class indices as an array exploded into rows); elsewhere a ``UNION ALL``
    branch per class."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slices_sql import _STACKING

    kk = sa.literal(k, sa.Integer)

    def branch(frame: Any, j: Any) -> Any:
        s = sa.case(*[(j == i, frame.c[f"p{i}"]) for i in range(k)])
        one, zero = sa.literal(1, sa.Integer), sa.literal(0, sa.Integer)
        y = sa.case((frame.c[label] == j, one), else_=zero)
        return sa.select(
            (sa.cast(frame.c[group], sa.Integer) * kk + j).label("g"), s.label("s"), y.label("y")
        )

    how = _STACKING.get(conn.dialect.name)
    if how is None:
        return sa.union_all(*[branch(base, sa.literal(j, sa.Integer)) for j in range(k)]).subquery(
            "mc_stacked"
        )
    explode, array = how
    ids = [sa.literal(j, sa.Integer) for j in range(k)]
    many = sa.select(
        getattr(sa.func, explode)(getattr(sa.func, array)(*ids)).label("j"),
        *[base.c[n] for n in (group, label, *[f"p{i}" for i in range(k)])],
    ).subquery("mc_all")
    return branch(many, many.c.j).subquery("mc_stacked")


def _rank_sums(stacked: Any) -> Any:
    """Per group ``g`` of ``stacked`` (rows ``g, s, y``): ``Σ`` over positives of the
    negatives scored below them plus half those tied (the Mann-Whitney U), the positives
    and the negatives — ROC AUC is ``U / (P·N)``, ties counted as the in-memory AUC counts
    them. One ``GROUP BY (g, s)``, a running sum over it, one ``GROUP BY g``."""
    import sqlalchemy as sa

    from watchkeeper.core.telemetry.sql_values import double

    y = sa.cast(stacked.c.y, sa.Double)
    one = sa.literal(1, sa.Integer)
    b = (
        sa.select(
            stacked.c.g.label("g"),
            stacked.c.s.label("s"),
            sa.func.sum(y).label("pos"),
            sa.cast(sa.func.count(one), sa.Double).label("n"),
        )
        .group_by(stacked.c.g, stacked.c.s)
        .subquery("mc_ties")
    )
    neg = b.c.n - b.c.pos
    below = sa.func.sum(neg).over(partition_by=b.c.g, order_by=b.c.s, rows=(None, 0)) - neg
    c = sa.select(
        b.c.g, (b.c.pos * (below + double(0.5) * neg)).label("u"), b.c.pos, neg.label("neg")
    ).subquery("mc_u")
    return sa.select(
        c.c.g, sa.func.sum(c.c.u), sa.func.sum(c.c.pos), sa.func.sum(c.c.neg)
    ).group_by(c.c.g)


def _from_counts(
    c: np.ndarray,
    cells: np.ndarray,
    chosen: Sequence[str],
    confidence: float,
    n_boot: int,
    seed: int,
) -> dict[str, Estimate]:
    """Accuracy, log loss, Brier (closed form) and the bootstrapped confusion metrics of one
    window from its counts (module doc)."""
    from watchkeeper.core.evaluation.binned import _mean_estimate

    n = float(c.sum())
    got: dict[str, Estimate] = {}
    boot = [m for m in chosen if m in _BOOTSTRAPPED and m != "roc_auc"]
    if boot:
        values = _from_confusion(c)
        shares = (c / n).ravel()
        rng = np.random.default_rng(seed)
        reps = {m: np.full(n_boot, math.nan) for m in boot}
        for b in range(n_boot):
            cb = rng.multinomial(int(n), shares).astype(np.float64).reshape(c.shape)
            drawn = _from_confusion(cb)
            for m in boot:
                if math.isfinite(values[m]):
                    reps[m][b] = drawn[m]
        for m in boot:
            v = values[m]
            got[m] = percentile_interval(
                v if math.isfinite(v) else None, reps[m], int(n), confidence
            )
    if "accuracy" in chosen:
        got["accuracy"] = wilson(float(np.trace(c)), n, confidence)
    sums = np.nansum(cells[:, 4:8], axis=0)
    if "log_loss" in chosen:
        got["log_loss"] = _mean_estimate(float(sums[0]), float(sums[1]), n, confidence)
    if "brier" in chosen:
        got["brier"] = _mean_estimate(float(sums[2]), float(sums[3]), n, confidence)
    return got


def _macro_auc(
    classes: Sequence[str],
    per_class: Sequence[Any],
    sample: np.ndarray,
    n: float,
    events: int,
    confidence: float,
    n_boot: int,
    seed: int,
) -> tuple[Estimate, bool]:
    """The macro one-vs-rest ROC AUC from each class's rank sums, its percentile interval
    from ``sample`` (``w, y, p…`` rows of this window), and whether the sample is partial."""
    from watchkeeper.core.evaluation.intervals import missing

    finite = [a for a in per_class if a is not None and math.isfinite(a)]
    if len(finite) < 2:
        return missing(int(n), confidence), False
    value = float(np.mean(finite))
    rows = sample[~np.isnan(sample[:, 1]) & np.isfinite(sample[:, 2:]).all(axis=1)]
    rows = rows[rows[:, 1] >= 0]
    k = len(classes)
    enc = Encoded(
        classes, rows[:, 1].astype(np.intp), rows[:, 1].astype(np.intp), rows[:, 2 : 2 + k]
    )
    reps = np.full(n_boot, math.nan)
    partial = len(sample) < events
    if enc.n:
        rng = np.random.default_rng(seed)
        for b in range(n_boot):
            reps[b] = enc.roc_auc(bootstrap_counts(rng, enc.n))
        if partial:  # the sample's spread, scaled to the window's events around its value
            reps = np.clip(value + (reps - enc.roc_auc()) * math.sqrt(enc.n / n), 0.0, 1.0)
    return percentile_interval(value, reps, int(n), confidence), partial


def _per_class(
    classes: Sequence[str], c: np.ndarray, confidence: float
) -> Mapping[str, Mapping[str, Estimate]]:
    """Precision, recall and support per class, as :func:`.multiclass.metrics_of_codes`."""
    out: dict[str, Mapping[str, Estimate]] = {}
    for j, name in enumerate(classes):
        out[name] = MappingProxyType(
            {
                "precision": wilson(float(c[j, j]), float(c[:, j].sum()), confidence),
                "recall": wilson(float(c[j, j]), float(c[j].sum()), confidence),
                "support": Estimate(float(c[j].sum()), n=int(c[j].sum())),
            }
        )
    return MappingProxyType(out)


def reference_labeled_multiclass_sql(
    source: Any,
    *,
    classes: Mapping[str, str],
    model: str | None,
    versions: Sequence[str],
    start: Any,
    end: Any,
    limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(class indices, n × k probabilities, labeled)``: at most ``limit`` labeled events of
    the selection in time order (a seeded systematic sample beyond), what the multiclass
    estimate is calibrated on (:func:`.estimation_sql.reference_labeled_sql`'s rows)."""
    from watchkeeper.core.drift.sql_counts import sample_statement
    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.estimation_sql import ESTIMATE_ROWS
    from watchkeeper.core.evaluation.slice_sql import sql_parts
    from watchkeeper.core.telemetry.windows import WindowSpec, plan_windows

    k = len(classes)
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        where = {"model": model, "versions": versions, "start": start, "end": end}
        table, selected, col, sel = coded_selection(
            conn, source, classes, prediction=False, as_of=None, **where
        )
        labeled = sel.c.wk_y.is_not(None)
        # the count with the sample, no time range asked first (as the binary estimate's)
        statement = sample_statement(
            sel,
            plan_windows(WindowSpec("all"), None, None),
            ["wk_y", *[f"wk_p{j}" for j in range(k)]],
            limit=ESTIMATE_ROWS if limit is None else limit,
            timestamp=col("ts").name,
            where=labeled,
            counted=True,
        )
        rows = fetch_numbers(conn, statement, 3 + k)
        n = int(rows[0, -1]) if len(rows) else 0
        rows = rows[:, :-1]
        # the count said is the sample's (the realized baseline's statement refused the
        # whole reference first on the performance view's way here)
        refuse_unknown_sql(
            conn,
            np.column_stack([rows[:, :2], np.zeros(len(rows)), np.ones(len(rows))]),
            table,
            [] if selected is None else [selected],
            col,
            tuple(str(c) for c in classes),
            prediction=False,
        )
    return rows[:, 1], rows[:, 2:], int(n)


def window_probabilities_sql(
    source: Any,
    *,
    classes: Mapping[str, str],
    prediction: bool,
    model: str | None,
    versions: Sequence[str],
    end: Any,
    window: Any,
    only: Collection[int],
    limit: int | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per window index in ``only``: ``(n × k probabilities, predicted class indices)`` in
    time order, at most ``limit`` events a window, the windows planned over the whole
    selection as the realized metrics plan them (:func:`.estimation_sql.window_scores_sql`)."""
    from watchkeeper.core.drift.sql_counts import plan_windows_sql, sample_statement
    from watchkeeper.core.evaluation.binned import fetch_numbers
    from watchkeeper.core.evaluation.estimation_sql import ESTIMATE_ROWS
    from watchkeeper.core.evaluation.slice_sql import sql_parts
    from watchkeeper.core.telemetry.windows import parse_window

    if not only:
        return {}
    k = len(classes)
    engine, _ = sql_parts(source)
    with engine.connect() as conn:
        where = {"model": model, "versions": versions, "start": None, "end": end}
        table, selected, col, sel = coded_selection(
            conn, source, classes, prediction=prediction, as_of=None, **where
        )
        ts = col("ts").name
        windows = plan_windows_sql(conn, table, parse_window(window), timestamp=ts, where=selected)
        wanted = sorted(i for i in set(only) if 0 <= i < len(windows))
        if not wanted:
            return {}
        span: dict[str, Any] = {}
        if windows.spec.kind == "time":  # read only the span of the wanted windows
            span = {
                "start": int(windows.bounds[wanted[0]]),
                "end": int(windows.bounds[wanted[-1] + 1]),
            }
        statement = sample_statement(
            sel,
            windows,
            ["wk_pc", *[f"wk_p{j}" for j in range(k)]],
            limit=ESTIMATE_ROWS if limit is None else limit,
            timestamp=ts,
            **span,
        )
        rows = fetch_numbers(conn, statement, 2 + k)
    w = rows[:, 0].astype(np.int64)
    return {i: (rows[w == i, 2:], rows[w == i, 1]) for i in wanted}
