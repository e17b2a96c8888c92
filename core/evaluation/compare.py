"""Champion vs challenger on the same requests: paired statistics.

Shadow traffic gives two rows per request — one per version — with the same request id.
:func:`join_shadow` pairs them (inner join on ``request_id``, sorted by request id so every
result, bootstrap included, is reproducible whatever order the source returned) and
:func:`compare` computes, on the pairs:

- ROC AUC of each and their difference with **DeLong's test** for correlated AUCs;
- **McNemar's test** at the operating threshold: among labeled pairs where exactly one
  version is right, is one right more often? (exact binomial p-value, two-sided);
- a **paired bootstrap** interval for the difference of any metric (the same resampled
  requests score both versions);
- the **agreement** rate of their decisions at the threshold, and the Pearson and Spearman
  **correlation** of their scores (all pairs, labeled or not);
- **per-slice** differences (DeLong for AUC, paired bootstrap otherwise);
- the **expected cost** per labeled request from a cost matrix (false positive / false
  negative costs), and its paired difference with a normal interval;
- the 95th percentile of a latency column for each version, when there is one.

Differences are always challenger − champion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.evaluation.intervals import (
    BOOT_EVENTS,
    Estimate,
    bootstrap_resample,
    bounded_subsample,
    mean_interval,
    missing,
    percentile_interval,
    rescaled_replicates,
)
from watchkeeper.core.evaluation.metrics import (
    BINARY_METRICS,
    EvaluationError,
    Prepared,
    delong_paired,
    evaluate,
    float_array,
    metric_estimate,
)
from watchkeeper.core.evaluation.predicates import SlicePredicate

__all__ = [
    "Comparison",
    "McNemar",
    "SliceDelta",
    "compare",
    "join_shadow",
    "mcnemar",
    "p95",
    "paired_bootstrap",
    "require_request_ids",
]


def require_request_ids(model: str, have: Sequence[str], what: str) -> None:
    """Refuse, in words a user can act on, a comparison of two versions on telemetry without
    a request id: ``what`` names it ("the promotion gate"); ``have`` are the source's output
    columns. Shadow rows are paired with the champion's by request id, and nothing else can
    tell which two rows scored the same request."""
    if "request_id" not in have:
        raise EvaluationError(
            f"{model}: the telemetry has no request id column ([telemetry.columns] "
            f"request_id): {what} pairs the challenger's shadow rows with the champion's by "
            "request id and needs one. Drift, performance and slices work without it"
        )


def join_shadow(
    table: pa.Table,
    champion: str,
    challenger: str,
    *,
    carry: Sequence[str] = (),
    per_version: Sequence[str] = (),
    outputs: Sequence[str] = ("score",),
) -> pa.Table:
    """Pairs of rows of two versions with the same request id, one row per request.

    ``outputs`` are what each version said (default its score; a multiclass model's class
    probability columns and predicted class), each kept for both as ``<col>_a`` /
    ``<col>_b``.

    ``table`` holds ``request_id``, ``model_version``, ``score``, ``label`` and the columns
    named in ``carry`` (taken from the champion's row: features, for slicing) and
    ``per_version`` (kept for both, e.g. a latency column). The result has ``request_id``,
    ``label`` (the champion's, or the challenger's where the champion's is missing),
    ``score_a`` / ``score_b`` (champion / challenger), ``<col>_a`` / ``<col>_b`` for
    ``per_version`` columns and the ``carry`` columns, sorted by request id.
    """
    require_request_ids("the model", table.column_names, "the comparison")
    need = ["request_id", "model_version", *outputs, "label", *carry, *per_version]
    for name in need:
        if name not in table.column_names:
            raise EvaluationError(f"the shadow data has no {name!r} column")
    version = table.column("model_version")
    if not pa.types.is_string(version.type):
        version = pc.cast(version, pa.string())
    # each version's row numbers, paired on their ids; then every column is taken once from
    # the read table (not filtered per version and taken again), each side only its own
    rows_a = _rows_of(version, champion)
    rows_b = _rows_of(version, challenger)
    ids = table.column("request_id")
    ia, ib = _pair_rows(ids.take(rows_a), ids.take(rows_b), rows_a, rows_b)
    own = [*outputs, *per_version]
    a = table.select(["request_id", *own, "label", *carry]).rename_columns(
        ["request_id", *(f"{c}_a" for c in own), "label_a", *carry]
    )
    b = table.select([*own, "label"]).rename_columns([*(f"{c}_b" for c in own), "label_b"])
    joined = a.take(ia)
    for name in b.column_names:
        joined = joined.append_column(name, b.column(name).take(ib))
    label = pc.coalesce(joined.column("label_a"), joined.column("label_b"))
    joined = joined.drop_columns(["label_a", "label_b"]).append_column("label", label)
    order = ["request_id", "label"]
    order += [f"{c}_{v}" for c in own for v in ("a", "b")] + list(carry)
    return joined.select(order)


def _rows_of(version: pa.ChunkedArray, name: str) -> np.ndarray:
    """The row numbers (increasing) whose version is ``name``."""
    mask = pc.fill_null(pc.equal(version, str(name)), False)
    return np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))


def _pair_rows(
    ids_a: pa.ChunkedArray,
    ids_b: pa.ChunkedArray,
    rows_a: np.ndarray | None = None,
    rows_b: np.ndarray | None = None,
) -> tuple[pa.Array, pa.Array]:
    """The rows of ``a`` and ``b`` with equal request ids (an inner join; a missing id pairs
    with nothing), sorted by request id, then row. DuckDB joins and sorts only the ids and
    row numbers, several times faster than Arrow's join and sort of every column; the
    columns are then taken as they are, so their types are the source's. ``rows_a`` /
    ``rows_b``: the (increasing) row numbers returned for each id, default its position."""
    import duckdb

    ra = np.arange(len(ids_a)) if rows_a is None else np.asarray(rows_a, dtype=np.int64)
    rb = np.arange(len(ids_b)) if rows_b is None else np.asarray(rows_b, dtype=np.int64)
    left = pa.table({"request_id": ids_a, "row": pa.array(ra)})
    right = pa.table({"request_id": ids_b, "row": pa.array(rb)})
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # it would print to our stdout
        con.register("left_ids", left)
        con.register("right_ids", right)
        rows = con.sql(
            "SELECT l.row AS a, r.row AS b FROM left_ids l JOIN right_ids r "
            "ON l.request_id = r.request_id ORDER BY l.request_id, l.row, r.row"
        ).to_arrow_table()
    finally:
        con.close()
    return rows.column("a").combine_chunks(), rows.column("b").combine_chunks()


@dataclass(frozen=True)
class McNemar:
    """Discordant labeled pairs at the threshold and the exact two-sided binomial p-value.

    ``champion_only``: the champion right and the challenger wrong; ``challenger_only`` the
    reverse.
    """

    champion_only: int
    challenger_only: int
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion_only_correct": self.champion_only,
            "challenger_only_correct": self.challenger_only,
            "p_value": self.p_value,
        }


def mcnemar(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> McNemar:
    """McNemar's exact test on labeled events (``y`` 0/1, predictions 0/1)."""
    from scipy import special

    right_a, right_b = pred_a == y, pred_b == y
    n10 = int((right_a & ~right_b).sum())
    n01 = int((~right_a & right_b).sum())
    n = n10 + n01
    if n == 0:
        return McNemar(0, 0, None)
    k = min(n10, n01)
    p = min(1.0, 2.0 * float(special.bdtr(k, n, 0.5)))
    return McNemar(n10, n01, p)


def paired_bootstrap(
    metric: str,
    prep_a: Prepared,
    prep_b: Prepared,
    *,
    n_boot: int = 500,
    seed: int = 0,
    confidence: float = 0.95,
    max_events: int | None = None,
) -> Estimate:
    """The difference ``metric(b) − metric(a)`` with its paired percentile-bootstrap interval.

    Both versions are evaluated on the same resampled events in each replicate, so the
    interval reflects the correlation between them. ``metric`` is any name of
    :data:`~.metrics.HIGHER_IS_BETTER` or a callable ``f(prepared, weights)``.
    ``max_events``: above that many events the bootstrap is bounded (the same subsample
    for both versions; see :mod:`.intervals`).
    """
    n = prep_a.n
    if prep_b.n != n:
        raise EvaluationError("paired bootstrap needs the same events for both versions")
    value = evaluate(metric, prep_b) - evaluate(metric, prep_a)
    if not math.isfinite(value):
        return missing(n, confidence)
    rng = np.random.default_rng(seed)
    sub = bounded_subsample(rng, n, max_events)
    ta, tb = (prep_a, prep_b) if sub is None else (prep_a.subset(sub), prep_b.subset(sub))
    reps = np.empty(n_boot)
    for i in range(n_boot):
        w = bootstrap_resample(rng, ta.n)  # bootstrap_counts' draw, counted by group where exact
        reps[i] = evaluate(metric, tb, w) - evaluate(metric, ta, w)
    if sub is not None:
        base = evaluate(metric, tb) - evaluate(metric, ta)
        reps = rescaled_replicates(reps, value, base, ta.n, n)
    return percentile_interval(value, reps, n, confidence)


def _midranks(x: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2.0)[inverse]).astype(np.float64)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class SliceDelta:
    """One slice: labeled pairs, each version's value, and the difference with its interval."""

    predicate: SlicePredicate
    labeled: int
    positives: int
    champion: float | None
    challenger: float | None
    difference: Estimate
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.predicate.to_dict(),
            "labeled": self.labeled,
            "positives": self.positives,
            "champion": self.champion,
            "challenger": self.challenger,
            "difference": self.difference.to_dict(),
            "p_value": self.p_value,
        }


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`compare` measured; ``differences`` are challenger − champion."""

    pairs: int
    labeled: int
    positives: int
    threshold: float
    confidence: float
    champion: Mapping[str, Estimate]
    challenger: Mapping[str, Estimate]
    differences: Mapping[str, Estimate]
    delong_p: float | None
    mcnemar: McNemar
    agreement: float | None
    pearson: float | None
    spearman: float | None
    slices: tuple[SliceDelta, ...]
    expected_cost: Mapping[str, Any] | None
    latency_p95: Mapping[str, Any] | None  # the column's name and the two p95s (or None)
    classes: tuple[str, ...] = ()  # a multiclass model's (then McNemar is on correctness)
    # a first answer's labeled pairs as each version's Prepared events (sorted already), for
    # the complete comparison of the same pairs to take (``compare(keep_prepared=True)``);
    # None otherwise: a complete comparison does not hold its events
    prepared: tuple[Prepared, Prepared] | None = field(default=None, repr=False, compare=False)

    def slice_delta(self, name: str) -> SliceDelta:
        for s in self.slices:
            if s.predicate.name == name:
                return s
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "labeled": self.labeled,
            "positives": self.positives,
            "threshold": self.threshold,
            "confidence": self.confidence,
            "champion": {k: v.to_dict() for k, v in self.champion.items()},
            "challenger": {k: v.to_dict() for k, v in self.challenger.items()},
            "differences": {k: v.to_dict() for k, v in self.differences.items()},
            "delong_p_value": self.delong_p,
            "mcnemar": self.mcnemar.to_dict(),
            "agreement": self.agreement,
            "score_correlation": {"pearson": self.pearson, "spearman": self.spearman},
            "slices": [s.to_dict() for s in self.slices],
            "expected_cost": None if self.expected_cost is None else dict(self.expected_cost),
            "latency_p95": None if self.latency_p95 is None else dict(self.latency_p95),
            **({"classes": list(self.classes)} if self.classes else {}),
        }


def _difference(
    metric: str,
    prep_a: Prepared,
    prep_b: Prepared,
    confidence: float,
    n_boot: int,
    seed: int,
    max_events: int | None = None,
) -> tuple[Estimate, float | None]:
    """Difference b − a with its interval (DeLong for AUC, else paired bootstrap) and p.
    ``prep_a`` / ``prep_b``: the same labeled events with each version's scores (sorted
    once for every metric)."""
    if metric == "roc_auc":
        d = delong_paired(prep_a.y, prep_a, prep_b)
        if d is None:
            return missing(prep_a.n, confidence), None
        lo, hi = d.interval(confidence)
        return Estimate(d.diff, lo, hi, "delong", prep_a.n, confidence), d.p_value
    est = paired_bootstrap(
        metric,
        prep_a,
        prep_b,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        max_events=max_events,
    )
    return est, None


def _slice_deltas(
    labeled_table: pa.Table,
    slices: Sequence[SlicePredicate],
    prep_a: Prepared,
    prep_b: Prepared,
    slice_metric: str,
    confidence: float,
    n_boot: int,
    seed: int,
    max_events: int | None,
) -> list[SliceDelta]:
    """Each slice's difference of ``slice_metric`` (seeded by the slice's place)."""
    deltas = []
    for i, pred in enumerate(slices):
        mask = np.asarray(pred.mask(labeled_table), dtype=np.bool_)
        pa_, pb_ = prep_a.subset(mask), prep_b.subset(mask)
        ys = pa_.y
        est, p = _difference(slice_metric, pa_, pb_, confidence, n_boot, seed + 100 + i, max_events)
        va, vb = evaluate(slice_metric, pa_), evaluate(slice_metric, pb_)
        deltas.append(
            SliceDelta(
                pred,
                int(mask.sum()),
                int(ys.sum()),
                va if math.isfinite(va) else None,
                vb if math.isfinite(vb) else None,
                est,
                p,
            )
        )
    return deltas


def compare(
    joined: pa.Table,
    *,
    threshold: float = 0.5,
    metrics: tuple[str, ...] = ("roc_auc", "pr_auc", "precision", "recall", "f1", "brier"),
    slices: Sequence[SlicePredicate] = (),
    slice_metric: str = "roc_auc",
    cost_false_positive: float | None = None,
    cost_false_negative: float | None = None,
    latency: str | None = None,
    confidence: float = 0.95,
    n_boot: int = 500,
    seed: int = 0,
    max_events: int | None = BOOT_EVENTS,
    earlier: Comparison | None = None,
    keep_prepared: bool = False,
) -> Comparison:
    """Paired statistics of champion (``score_a``) and challenger (``score_b``).

    ``joined`` is :func:`join_shadow`'s table. ``latency`` names a per-version column
    (``<latency>_a`` / ``<latency>_b``) whose 95th percentiles are reported. ``max_events``
    bounds every bootstrap (see :mod:`.intervals`; None: resample all the labeled pairs).
    ``earlier``: this comparison of the same pairs and settings with fewer metrics (the
    first answer on the primary metric): its numbers are taken, not computed again — the
    same numbers, as a metric's seed depends on its place in ``metrics`` alone, which must
    then start with ``earlier``'s. Its labeled pairs, when it kept them (``keep_prepared``:
    the comparison then holds them as :attr:`Comparison.prepared`), are taken too, sorted
    already.
    """
    for m in (*metrics, slice_metric):
        if m not in BINARY_METRICS:
            raise EvaluationError(f"{m!r} is not a binary metric ({', '.join(BINARY_METRICS)})")
    if earlier is not None and tuple(earlier.differences) != metrics[: len(earlier.differences)]:
        raise ValueError("earlier's metrics must lead this comparison's")
    kept = earlier.prepared if earlier is not None else None
    if kept is not None and kept[0].threshold == float(threshold):
        # the first answer's labeled pairs (the same pairs): not converted nor sorted again
        prep_a, prep_b = kept
        y, a, b = prep_a.y, prep_a.s, prep_b.s
        pairs = earlier.pairs if earlier is not None else 0
        ok = None
    else:
        y_all = float_array(joined.column("label"), "label")
        a_all = float_array(joined.column("score_a"), "champion score")
        b_all = float_array(joined.column("score_b"), "challenger score")
        scored = np.isfinite(a_all) & np.isfinite(b_all)
        pairs = int(scored.sum())
        ok = scored & ~np.isnan(y_all)
        y, a, b = y_all[ok], a_all[ok], b_all[ok]
        prep_a, prep_b = Prepared(y, a, threshold), Prepared(y, b, threshold)
    bound: dict[str, Any] = {"confidence": confidence, "max_events": max_events}
    champion: dict[str, Estimate] = dict(earlier.champion) if earlier else {}
    challenger: dict[str, Estimate] = dict(earlier.challenger) if earlier else {}
    differences: dict[str, Estimate] = dict(earlier.differences) if earlier else {}
    delong_p = earlier.delong_p if earlier else None
    for i, m in enumerate(metrics):
        if earlier is not None and m in earlier.differences:
            continue
        champion[m] = metric_estimate(m, prep_a, seed=seed, **bound)
        challenger[m] = metric_estimate(m, prep_b, seed=seed + 1, **bound)
        est, p = _difference(m, prep_a, prep_b, confidence, n_boot, seed + 10 + i, max_events)
        differences[m] = est
        if m == "roc_auc":
            delong_p = p
    pred_a, pred_b = a >= threshold, b >= threshold
    if earlier is not None:
        # the same pairs: the test, agreement, correlations and slices are earlier's
        test, agreement = earlier.mcnemar, earlier.agreement
        pearson, spearman = earlier.pearson, earlier.spearman
        deltas = list(earlier.slices)
    else:
        assert ok is not None  # converted above: no earlier comparison
        test = mcnemar(y, pred_a.astype(float), pred_b.astype(float))
        sa, sb = a_all[scored], b_all[scored]
        agreement = float(((sa >= threshold) == (sb >= threshold)).mean()) if sa.size else None
        pearson = _corr(sa, sb)
        spearman = _corr(_midranks(sa), _midranks(sb)) if sa.size else None
        deltas = _slice_deltas(
            joined.filter(pa.array(ok)),
            slices,
            prep_a,
            prep_b,
            slice_metric,
            confidence,
            n_boot,
            seed,
            max_events,
        )

    cost = None
    if cost_false_positive is not None and cost_false_negative is not None:
        cfp, cfn = float(cost_false_positive), float(cost_false_negative)

        def per_event(pred: np.ndarray) -> np.ndarray:
            return cfp * (pred & (y == 0)) + cfn * (~pred & (y == 1))

        ca, cb = per_event(pred_a), per_event(pred_b)
        cost = MappingProxyType(
            {
                "cost_false_positive": cfp,
                "cost_false_negative": cfn,
                "champion": float(ca.mean()) if ca.size else None,
                "challenger": float(cb.mean()) if cb.size else None,
                "difference": mean_interval(cb - ca, confidence).to_dict(),
            }
        )

    lat = None
    if latency is not None:
        lat = MappingProxyType(
            {
                "column": latency,
                "champion": p95(joined, f"{latency}_a"),
                "challenger": p95(joined, f"{latency}_b"),
            }
        )
    return Comparison(
        pairs=pairs,
        labeled=int(y.size),
        positives=int(y.sum()),
        threshold=float(threshold),
        confidence=confidence,
        champion=MappingProxyType(champion),
        challenger=MappingProxyType(challenger),
        differences=MappingProxyType(differences),
        delong_p=delong_p,
        mcnemar=test,
        agreement=agreement,
        pearson=pearson,
        spearman=spearman,
        slices=tuple(deltas),
        expected_cost=cost,
        latency_p95=lat,
        prepared=(prep_a, prep_b) if keep_prepared else None,
    )


def p95(table: pa.Table, column: str) -> float | None:
    if column not in table.column_names:
        raise EvaluationError(f"no latency column {column!r} in the shadow data")
    v = float_array(table.column(column), column)
    v = v[np.isfinite(v)]
    return float(np.quantile(v, 0.95)) if v.size else None
