"""Worst-slice discovery: slices whose metric is worse than the overall one, or than before.

:func:`find_worst_slices` searches single features and pairs of features:

- numerical features are cut at the reference's quantiles (``bins`` equal-frequency bins;
  repeated quantiles merge), categorical features take their most frequent values
  (``max_levels``); a missing value is a level of its own;
- a candidate needs ``min_support`` labeled events (and, for ROC AUC, ``min_class`` events of
  each class);
- each candidate is tested one-sided against the overall value, ``H0: metric(slice) =
  metric(all)``, with the slice's own standard error (DeLong for AUC, the binomial SE at the
  overall proportion for precision / recall / accuracy, the CLT SE for mean losses). The
  overall value is treated as known: it rests on all events, and since the slice is part of
  them the test is conservative;
- the Benjamini–Hochberg procedure over every candidate tested (singles and pairs together)
  controls the false-discovery rate at ``fdr``;
- the list is ordered by the *conservative* difference — the end of the slice's interval
  nearest the overall value, minus the overall value — so a slice ranks high only when it is
  surely much worse, and small noisy slices do not crowd out large real ones;
- parsimony: a pair lying inside a significantly worse single-feature slice is kept only as
  a finding of its own when it is significantly worse *than that slice* (one-sided test of
  the pair's difference against the single's with the pair's standard error, the
  Benjamini–Hochberg procedure over all such tests at level ``fdr``); otherwise it is
  marked ``explained_by`` the single and ranked after every finding that is not explained,
  so the list leads with ``channel=web``, not with ``channel=web & device=mobile`` when
  mobile adds nothing on web.

Discovery runs in memory on the labeled events (score, label and the candidate features);
per-group work uses one sort per feature or pair.

Memory and time are bounded whatever the width (:class:`WorstSlices` ``notes`` say which
bound was met): at most ``max_rows`` labeled events of each period (a seeded sample above);
each feature's levels are kept as small integer codes (2 bytes a row), and the grouping of a
pair is built when it is tested and dropped after, never all at once; pairs are searched
only among the ``max_pair_features`` features whose single-feature slices are strongest
(the smallest one-sided p-value of any of their slices: a cheap screen, since every single
is tested anyway), so 500 features give 190 pairs, not 124,750.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.evaluation.intervals import Estimate, wilson, z_value
from watchkeeper.core.evaluation.metrics import (
    HIGHER_IS_BETTER,
    EvaluationError,
    Prepared,
    delong,
    float_array,
    metric_estimate,
    refuse_odd_labels,
)
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate

__all__ = [
    "DISCOVERY_METRICS",
    "SEARCH",
    "SEARCH_ROWS",
    "SearchBounds",
    "WorstSlice",
    "WorstSlices",
    "find_worst_slices",
    "sample_note",
    "searched_rows",
]

#: The searched events of each period the search takes at most (a seeded sample above).
SEARCH_ROWS = 200_000

DISCOVERY_METRICS = ("roc_auc", "precision", "recall", "accuracy", "brier", "log_loss", "mae")


@dataclass(frozen=True)
class SearchBounds:
    """What the worst-slice search tries and what a candidate needs: the defaults of
    :func:`find_worst_slices` and of the database's
    :func:`~.slices_sql.find_worst_slices_pushed` alike (:data:`SEARCH`)."""

    bins: int = 5
    max_levels: int = 20
    pairs: bool = True
    min_support: int = 200
    min_class: int = 20
    fdr: float = 0.05
    threshold: float = 0.5
    confidence: float = 0.95
    max_pair_features: int = 20

    def settings(self, *, binning: str, max_rows: int | None) -> dict[str, Any]:
        """The search's settings as :class:`WorstSlices` records them."""
        return {
            "bins": self.bins,
            "max_levels": self.max_levels,
            "pairs": self.pairs,
            "min_support": self.min_support,
            "min_class": self.min_class,
            "threshold": self.threshold,
            "confidence": self.confidence,
            "binning": binning,
            "max_rows": max_rows,
            "max_pair_features": self.max_pair_features,
        }


#: The one set of default bounds both searches start from.
SEARCH = SearchBounds()


@dataclass(frozen=True)
class WorstSlice:
    """A candidate slice, its metric with interval, and its test.

    ``delta`` is the slice's value minus what it is compared with: the overall value, or,
    when discovery ran against a baseline, the same slice's value in the baseline
    (``baseline_value``). ``conservative_delta`` is the end of the difference's interval
    nearest zero. ``explained_by`` names the single-feature slice a pair lies in when that
    slice is itself significantly worse and the pair is not significantly worse than it
    (the pair adds nothing; see :func:`find_worst_slices`); ``q_beyond`` is that test's
    Benjamini–Hochberg-adjusted p-value.
    """

    predicate: SlicePredicate
    features: tuple[str, ...]
    support: int  # labeled events
    positives: int
    estimate: Estimate
    baseline_value: float | None
    delta: float
    conservative_delta: float
    p_value: float
    q_value: float
    significant: bool
    explained_by: str | None = None
    q_beyond: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.predicate.label,
            "features": list(self.features),
            "conditions": [c.to_dict() for c in self.predicate.conditions],
            "support": self.support,
            "positives": self.positives,
            "estimate": self.estimate.to_dict(),
            "baseline_value": self.baseline_value,
            "delta": self.delta,
            "conservative_delta": self.conservative_delta,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "significant": self.significant,
            "explained_by": self.explained_by,
            "q_beyond": self.q_beyond,
        }


@dataclass(frozen=True)
class WorstSlices:
    """Worst-slice discovery: every candidate tested, significant ones first, worst first.

    ``compared_with`` is ``"overall"`` or ``"baseline"``.
    """

    metric: str
    overall: Estimate
    compared_with: str
    candidates: tuple[WorstSlice, ...]
    tested: int
    fdr: float
    settings: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # bounds met: "pairs among the strongest 20 of 500 features"

    @property
    def significant(self) -> tuple[WorstSlice, ...]:
        return tuple(c for c in self.candidates if c.significant)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "overall": self.overall.to_dict(),
            "compared_with": self.compared_with,
            "tested": self.tested,
            "fdr": self.fdr,
            "settings": dict(self.settings),
            "slices": [c.to_dict() for c in self.candidates],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Levels:
    feature: str
    codes: np.ndarray  # per event, -1 = no candidate level (int16: 2 bytes a row)
    conditions: tuple[Condition, ...]


def _small(codes: np.ndarray, n_levels: int) -> np.ndarray:
    # 500 features x 730,000 rows of int64 codes alone would be 2.9 GB
    return codes.astype(np.int16 if n_levels < np.iinfo(np.int16).max else np.int32)


def _levels_numerical(
    name: str, values: np.ndarray, reference: np.ndarray | None, bins: int, min_support: int
) -> _Levels:
    ref = values if reference is None else reference
    ref = ref[np.isfinite(ref)]
    conditions: list[Condition] = []
    codes = np.full(values.size, -1, dtype=np.int64)
    if ref.size:
        qs = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = [None, *(float(q) for q in qs), None]
        idx = np.searchsorted(qs, values, side="right")
        finite = np.isfinite(values)
        codes[finite] = idx[finite]
        conditions = [
            Condition(name, "range", (edges[i], edges[i + 1])) for i in range(len(qs) + 1)
        ]
    nulls = np.isnan(values)
    if nulls.sum() >= min_support:
        codes[nulls] = len(conditions)
        conditions.append(Condition(name, "null"))
    return _Levels(name, _small(codes, len(conditions)), tuple(conditions))


def _levels_categorical(
    name: str,
    column: pa.Array | pa.ChunkedArray,
    counted: np.ndarray,
    max_levels: int,
    min_support: int,
) -> _Levels:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    indices = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False))
    dictionary = encoded.dictionary.to_pylist()
    sel = indices[counted]
    counts = np.bincount(sel[sel >= 0], minlength=len(dictionary))
    keep = [i for i in np.argsort(-counts, kind="stable")[:max_levels] if counts[i] >= min_support]
    remap = np.full(len(dictionary) + 1, -1, dtype=np.int64)
    conditions = []
    for new, old in enumerate(keep):
        remap[old] = new
        conditions.append(Condition(name, "eq", dictionary[old]))
    codes = remap[indices]  # index -1 (missing) hits the last entry, which is -1
    nulls = indices < 0
    if nulls[counted].sum() >= min_support:
        codes[nulls] = len(conditions)
        conditions.append(Condition(name, "null"))
    return _Levels(name, _small(codes, len(conditions)), tuple(conditions))


@dataclass(frozen=True)
class _Stats:
    value: float
    se: float  # the estimate's standard error (DeLong, binomial, CLT)
    n: int  # events the value rests on (for proportions: the denominator)
    k: float = math.nan  # successes, for proportions
    method: str = ""  # a multiclass share or AUC ("jackknife", "delong"): clipped to [0, 1]


def _stats(metric: str, y: np.ndarray, s: np.ndarray, threshold: float) -> _Stats | None:
    if metric == "roc_auc":
        d = delong(y, s)
        return None if d is None else _Stats(d.auc, d.se, y.size)
    prep = Prepared(y, s, threshold)
    if metric in ("precision", "recall", "accuracy"):
        tp, fp, fn, tn = prep.confusion()
        k, m = {
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "accuracy": (tp + tn, float(y.size)),
        }[metric]
        if m <= 0:
            return None
        p = k / m
        return _Stats(p, math.sqrt(p * (1 - p) / m), int(m), k)
    terms = {
        "brier": lambda: (s - y) ** 2,
        "log_loss": lambda: prep.log_loss_terms,
        "mae": lambda: np.abs(s - y),
    }[metric]()
    if terms.size < 2:
        return None
    return _Stats(float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(terms.size)), y.size)


def _interval(metric: str, st: _Stats, z: float, confidence: float) -> Estimate:
    if metric in ("precision", "recall", "accuracy"):
        return wilson(st.k, st.n, confidence)
    lo, hi = st.value - z * st.se, st.value + z * st.se
    if st.method:  # a multiclass share or AUC: within [0, 1]
        return Estimate(st.value, max(0.0, lo), min(1.0, hi), st.method, st.n, confidence)
    if metric == "roc_auc":
        return Estimate(st.value, max(0.0, lo), min(1.0, hi), "delong", st.n, confidence)
    return Estimate(st.value, lo, hi, "normal", st.n, confidence)


def _test_se(metric: str, cur: _Stats, base: _Stats | None, overall: float) -> float:
    """The standard error of the difference under H0 (no difference)."""
    if metric in ("precision", "recall", "accuracy"):
        if base is None:
            return math.sqrt(max(overall * (1 - overall), 1e-12) / cur.n)
        pooled = (cur.k + base.k) / (cur.n + base.n)
        return math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / cur.n + 1 / base.n))
    return math.hypot(cur.se, 0.0 if base is None else base.se)


def _difference_interval(
    metric: str, cur: _Stats, base: _Stats | None, estimate: Estimate, overall: float, z: float
) -> tuple[float, float]:
    """The interval of the difference: slice − overall, or slice − the same slice earlier."""
    if base is None:
        if estimate.lower is None or estimate.upper is None:
            raise EvaluationError(f"{metric}: the slice's estimate has no interval")
        return estimate.lower - overall, estimate.upper - overall
    if metric in ("precision", "recall", "accuracy"):
        # Agresti–Caffo: add one success and one failure to each sample
        p1, p2 = (cur.k + 1) / (cur.n + 2), (base.k + 1) / (base.n + 2)
        se = math.sqrt(p1 * (1 - p1) / (cur.n + 2) + p2 * (1 - p2) / (base.n + 2))
        return p1 - p2 - z * se, p1 - p2 + z * se
    delta, se = cur.value - base.value, math.hypot(cur.se, base.se)
    return delta - z * se, delta + z * se


def find_worst_slices(
    table: pa.Table,
    features: Sequence[str],
    *,
    metric: str = "roc_auc",
    categorical: Sequence[str] = (),
    reference: pa.Table | None = None,
    baseline: pa.Table | None = None,
    bins: int = SEARCH.bins,
    max_levels: int = SEARCH.max_levels,
    pairs: bool = SEARCH.pairs,
    min_support: int = SEARCH.min_support,
    min_class: int = SEARCH.min_class,
    fdr: float = SEARCH.fdr,
    threshold: float = SEARCH.threshold,
    confidence: float = SEARCH.confidence,
    score: str = "score",
    label: str = "label",
    limit: int | None = None,
    max_rows: int | None = SEARCH_ROWS,
    max_pair_features: int = SEARCH.max_pair_features,
    seed: int = 0,
    outcomes: Any = None,
    label_column: str | None = None,
    prediction_column: str | None = None,
) -> WorstSlices:
    """Slices over single features and pairs whose ``metric`` is worse.

    ``table`` holds score, label and the features (unlabeled rows are dropped). A feature is
    numerical when its Arrow type is numeric and it is not listed in ``categorical``;
    numerical features are cut at the quantiles of the same column in ``reference`` (default:
    ``baseline``, else the table itself). ``min_class``: for ROC AUC the least number of
    positives and of negatives, for a proportion the least denominator (e.g. predicted
    positives for precision), in the slice and, with a baseline, in its baseline too.

    Without ``baseline`` each slice is compared with the overall value of ``table``. With
    ``baseline`` (labeled events of an earlier period, same columns) each slice is compared
    with *the same slice* in the baseline (a two-sample test; the slice needs
    ``min_support`` labeled events in both): this finds where performance *changed*, and is
    not fooled by slices that were always lower — AUC within a slice is usually lower than
    overall simply because a slice spans less of the score's range.

    Bounds (see the module): ``max_rows`` labeled events of each period (seeded by
    ``seed``; ``None``: all), pairs among ``max_pair_features`` features; ``limit``: the
    strongest ``limit`` candidates kept. Each bound met adds a plain note to the result.

    ``outcomes``: a multiclass model's :class:`~.multiclass_slices.ClassColumns` (then
    ``score`` and ``label`` are not read, ``metric`` is a multiclass one, a candidate's
    standard error is :func:`~.multiclass_slices.candidate_stats`' and its ``positives``
    count the events predicted right).

    A label that is not the model's (a binary one not 0 or 1; a class, or a prediction, that
    is none) among the events searched — labeled, scored — of ``table``, then of
    ``baseline``, is refused in the words the database's search uses
    (:func:`~.metrics.odd_labels_error`, :func:`~.multiclass.unknown_classes_error`), naming
    ``label_column`` / ``prediction_column`` (the source's names; default: the table's).
    """
    from watchkeeper.core.evaluation.multiclass import MULTICLASS_METRICS

    supported = DISCOVERY_METRICS if outcomes is None else MULTICLASS_METRICS
    if metric not in supported:
        raise EvaluationError(
            f"worst-slice discovery supports {', '.join(supported)}; not {metric!r}"
        )
    notes: list[str] = []

    def labeled(t: pa.Table) -> pa.Table:
        return searched_rows(
            t,
            score=score,
            label=label,
            outcomes=outcomes,
            label_column=label_column,
            prediction_column=prediction_column,
        )

    cur_t = _sampled(labeled(table), max_rows, seed, "events", notes)
    base_t = None
    if baseline is not None:
        base_t = _sampled(labeled(baseline), max_rows, seed + 1, "baseline", notes)
    outputs = [score, label] if outcomes is None else outcomes.columns(cur_t.column_names)
    columns = list(dict.fromkeys([*outputs, *features]))
    for name in features:
        if name not in cur_t.column_names:
            raise EvaluationError(f"worst slices: no feature column {name!r} in the data")
        if base_t is not None and name not in base_t.column_names:
            raise EvaluationError(f"worst slices: no feature column {name!r} in the baseline")
    both = cur_t.select(columns)
    if base_t is not None:
        both = pa.concat_tables([both, base_t.select(columns).cast(both.schema)])
    n_cur = cur_t.num_rows
    is_cur = np.zeros(both.num_rows, dtype=bool)
    is_cur[:n_cur] = True
    if outcomes is None:
        y = float_array(both.column(label), label)
        s = float_array(both.column(score), score)
        overall_est = metric_estimate(
            metric, Prepared(y[:n_cur], s[:n_cur], threshold), confidence=confidence
        )
        counted_y = y  # positives per candidate

        def stats_of(rows: np.ndarray) -> _Stats | None:
            return _stats(metric, y[rows], s[rows], threshold)
    else:
        from watchkeeper.core.evaluation.multiclass import Encoded, metrics_of_codes
        from watchkeeper.core.evaluation.multiclass_slices import candidate_stats

        mc = outcomes.read(both)
        cur_mc = mc.take(np.arange(n_cur))
        overall_est = metrics_of_codes(
            mc.classes,
            cur_mc.codes,
            cur_mc.p,
            cur_mc.predicted,
            metrics=(metric,),
            confidence=confidence,
            seed=seed,
        )[metric]
        whole = mc.encoded()  # every row is usable: unlabeled ones were dropped above
        counted_y = (whole.y == whole.pred).astype(np.float64)  # events predicted right

        def stats_of(rows: np.ndarray) -> _Stats | None:
            part = Encoded(whole.classes, whole.y[rows], whole.pred[rows], whole.p[rows])
            got = candidate_stats(metric, part, seed)
            if got is None:
                return None
            value, se, k, method = got
            n = part.n
            bounded = method in ("jackknife", "delong")
            return _Stats(value, se, n, k, method if bounded else "")

    if overall_est.value is None:
        raise EvaluationError(f"the overall {metric} does not exist on these events (one class?)")
    overall = overall_est.value
    quantiles_from = reference if reference is not None else base_t

    levels: list[_Levels] = []
    for name in features:
        col = both.column(name)
        if (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)) and (
            name not in categorical
        ):
            ref = None
            if quantiles_from is not None and name in quantiles_from.column_names:
                ref = float_array(quantiles_from.column(name), name)
            values = float_array(col, name)
            levels.append(_levels_numerical(name, values, ref, bins, min_support))
        else:
            levels.append(_levels_categorical(name, col, is_cur, max_levels, min_support))

    Grouping = tuple[tuple[_Levels, ...], np.ndarray, list[tuple[Condition, ...]]]

    def singles() -> Iterator[Grouping]:
        for lv in levels:
            yield (lv,), lv.codes.astype(np.int64), [(c,) for c in lv.conditions]

    def pairs_of(chosen: list[_Levels]) -> Iterator[Grouping]:
        # one pair's codes at a time: built here, dropped once tested
        for i in range(len(chosen)):
            for j in range(i + 1, len(chosen)):
                a, b = chosen[i], chosen[j]
                nb = max(len(b.conditions), 1)
                ok = (a.codes >= 0) & (b.codes >= 0)
                codes = np.where(ok, a.codes.astype(np.int64) * nb + b.codes, -1)
                conds: list[tuple[Condition, ...]] = [
                    (ca, cb) for ca in a.conditions for cb in b.conditions
                ]
                yield (a, b), codes, conds

    z = z_value(confidence)
    found: list[dict[str, Any]] = []

    def screened_pairs() -> Iterator[Grouping]:
        # runs once every single has been tested (chained after them): screens on their p
        if not pairs or len(levels) < 2:
            return
        chosen = levels
        if len(levels) > max_pair_features:
            best: dict[str, float] = {}
            for f in found:
                (name,) = f["features"]
                best[name] = min(best.get(name, 1.0), f["p"])
            strongest = sorted(range(len(levels)), key=lambda k: best.get(levels[k].feature, 2.0))
            chosen = [levels[k] for k in sorted(strongest[:max_pair_features])]
            n = len(levels)
            notes.append(
                f"pairs searched among the {len(chosen)} of {n:,} features whose single-"
                f"feature slices are strongest ({len(chosen) * (len(chosen) - 1) // 2:,} of "
                f"{n * (n - 1) // 2:,} pairs)"
            )
        yield from pairs_of(chosen)

    for feats, codes, conds in itertools.chain(singles(), screened_pairs()):
        cur_codes = np.where(is_cur, codes, -1)
        valid = cur_codes >= 0
        if not valid.any():
            continue
        counts = np.bincount(cur_codes[valid], minlength=len(conds))
        pos_counts = np.bincount(cur_codes[valid], weights=counted_y[valid], minlength=len(conds))
        # one sort per grouping: current rows of group g, then baseline rows of group g
        key = np.where(codes >= 0, codes * 2 + (~is_cur), -1)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        for g in np.flatnonzero(counts >= min_support):
            npos = int(pos_counts[g])
            binary_auc = metric == "roc_auc" and outcomes is None
            if binary_auc and (npos < min_class or counts[g] - npos < min_class):
                continue
            lo, hi = np.searchsorted(sorted_key, [2 * g, 2 * g + 1])
            cur = stats_of(order[lo:hi])
            base = None
            if base_t is not None and cur is not None and cur.se > 0:
                blo, bhi = np.searchsorted(sorted_key, [2 * g + 1, 2 * g + 2])
                brows = order[blo:bhi]
                if brows.size < min_support:
                    continue
                base = stats_of(brows)
                if base is None:
                    continue
            judged = _judge(
                metric,
                tuple(lv.feature for lv in feats),
                conds[g],
                int(counts[g]),
                npos,
                cur,
                base,
                base_t is not None,
                overall,
                min_class,
                z,
                confidence,
            )
            if judged is not None:
                found.append(judged)
    bounds = SearchBounds(
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
    settings = bounds.settings(
        binning="reference quantiles" if quantiles_from is not None else "quantiles of the data",
        max_rows=max_rows,
    )
    return _conclude(metric, overall_est, found, base_t is not None, fdr, settings, notes, limit)


def _judge(
    metric: str,
    features: tuple[str, ...],
    conditions: tuple[Condition, ...],
    support: int,
    positives: int,
    cur: _Stats | None,
    base: _Stats | None,
    with_baseline: bool,
    overall: float,
    min_class: int,
    z: float,
    confidence: float,
) -> dict[str, Any] | None:
    """One candidate's test, or ``None`` when it cannot be tested: the same rules whether
    its statistics came from rows in memory or from sums counted in the database."""
    from scipy import special

    higher = HIGHER_IS_BETTER[metric]
    if cur is None or not cur.se > 0:
        return None
    if with_baseline and base is None:
        return None
    if cur.n < min_class or (base is not None and base.n < min_class):
        return None  # a proportion over too few events (e.g. 3 predicted positives)
    compared = overall if base is None else base.value
    delta = cur.value - compared
    se_test = _test_se(metric, cur, base, overall)
    if not se_test > 0:
        return None
    zstat = delta / se_test
    p = float(special.ndtr(zstat if higher else -zstat))
    estimate = _interval(metric, cur, z, confidence)
    lo_d, hi_d = _difference_interval(metric, cur, base, estimate, overall, z)
    return {
        "predicate": SlicePredicate(" & ".join(c.label for c in conditions), tuple(conditions)),
        "features": features,
        "support": support,
        "positives": positives,
        "estimate": estimate,
        "baseline": None if base is None else base.value,
        "delta": delta,
        "conservative": hi_d if higher else lo_d,
        "p": p,
        "se": se_test,
    }


def _conclude(
    metric: str,
    overall_est: Estimate,
    found: list[dict[str, Any]],
    with_baseline: bool,
    fdr: float,
    settings: Mapping[str, Any],
    notes: list[str],
    limit: int | None,
) -> WorstSlices:
    """Benjamini–Hochberg over every candidate, the parsimony tests, the ranking."""
    from scipy import special

    from watchkeeper.core.drift.decide import adjust_p

    found = _without_repeats(found, notes)
    higher = HIGHER_IS_BETTER[metric]
    q = adjust_p(np.array([f["p"] for f in found]), "fdr_bh") if found else np.zeros(0)
    worse_single: dict[str, dict[str, Any]] = {}
    for f, qv in zip(found, q, strict=True):
        f["significant"] = bool(qv <= fdr and (f["delta"] < 0 if higher else f["delta"] > 0))
        if len(f["features"]) == 1 and f["significant"]:
            worse_single[f["predicate"].label] = f
    # parsimony: is each significant pair worse than a significantly worse single slice it
    # lies in? One-sided tests, Benjamini–Hochberg over all of them
    beyond: list[tuple[int, str, float]] = []
    for i, f in enumerate(found):
        if len(f["features"]) == 2 and f["significant"]:
            for cond in f["predicate"].conditions:
                single = worse_single.get(cond.label)
                if single is not None:
                    z_beyond = (f["delta"] - single["delta"]) / f["se"]
                    beyond.append(
                        (i, cond.label, float(special.ndtr(z_beyond if higher else -z_beyond)))
                    )
    q_beyond: np.ndarray | list[float] = (
        adjust_p(np.array([b[2] for b in beyond]), "fdr_bh") if beyond else []
    )
    explained_by: dict[int, tuple[str, float]] = {}
    for (i, label, _), qb in zip(beyond, q_beyond, strict=True):
        if qb > fdr and (i not in explained_by or qb > explained_by[i][1]):
            explained_by[i] = (label, float(qb))
    out = []
    for i, (f, qv) in enumerate(zip(found, q, strict=True)):
        explained, q_b = explained_by.get(i, (None, None))
        out.append(
            WorstSlice(
                f["predicate"],
                f["features"],
                f["support"],
                f["positives"],
                f["estimate"],
                f["baseline"],
                f["delta"],
                f["conservative"],
                f["p"],
                float(qv),
                f["significant"],
                explained,
                q_b,
            )
        )
    sign = 1.0 if higher else -1.0
    out.sort(
        key=lambda w: (not w.significant, w.explained_by is not None, sign * w.conservative_delta)
    )
    if limit and len(out) > limit:
        notes.append(f"showing the strongest {limit:,} of {len(out):,} candidate slices")
    return WorstSlices(
        metric,
        overall_est,
        "baseline" if with_baseline else "overall",
        tuple(out[:limit] if limit else out),
        len(found),
        fdr,
        MappingProxyType(dict(settings)),
        tuple(notes),
    )


def _without_repeats(found: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """The candidates less each pair that holds the very events of one of its two slices: a
    pair lies in each of its slices, so the same support and positives in the window, with
    the same value and the same baseline, are the same events. A constant or empty column
    made one for every other level ("25.6 <= amount < 46.1 & constant >= 1", "… & empty is
    missing"), each a test more for the correction and a repeated row for the reader."""
    singles = {f["predicate"].label: f for f in found if len(f["features"]) == 1}

    def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        if (a["support"], a["positives"]) != (b["support"], b["positives"]):
            return False
        if not math.isclose(a["estimate"].value, b["estimate"].value, rel_tol=1e-9, abs_tol=1e-12):
            return False
        x, y = a["baseline"], b["baseline"]
        return (x is None) == (y is None) and (
            x is None or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        )

    kept = [
        f
        for f in found
        if len(f["features"]) != 2
        or not any(
            (single := singles.get(c.label)) is not None and same(f, single)
            for c in f["predicate"].conditions
        )
    ]
    if len(kept) < len(found):
        notes.append(
            f"{len(found) - len(kept):,} pairs left out: each holds the same events as one of "
            "its two slices (its other condition is met by every one of them, as a constant "
            "or an empty column's is)"
        )
    return kept


def searched_rows(
    t: pa.Table,
    *,
    score: str = "score",
    label: str = "label",
    outcomes: Any = None,
    label_column: str | None = None,
    prediction_column: str | None = None,
) -> pa.Table:
    """The rows of ``t`` the search uses (labeled and scored; a multiclass model's usable
    ones), a label that is not the model's refused first: the database counts every
    searched event, so a sample must not hide one (:func:`find_worst_slices`)."""
    if outcomes is None:
        kept = _labeled(t, score, label)
        refuse_odd_labels(kept.column(label), label_column or label)
        return kept
    from watchkeeper.core.evaluation.multiclass_slices import refuse_unknown_searched

    refuse_unknown_searched(outcomes, t, label_column, prediction_column)
    return _kept(t, outcomes.read(t).usable)


def sample_note(max_rows: int, total: int, what: str) -> str:
    """The note a search on a sample of ``max_rows`` of ``total`` ``what`` carries."""
    return f"worst slices searched on a seeded sample of {max_rows:,} of {total:,} {what}"


def _sampled(t: pa.Table, max_rows: int | None, seed: int, what: str, notes: list[str]) -> pa.Table:
    """At most ``max_rows`` rows of ``t``: a seeded sample, in the table's order."""
    if max_rows is None or t.num_rows <= max_rows:
        return t
    rng = np.random.default_rng([seed, t.num_rows])
    keep = np.sort(rng.choice(t.num_rows, max_rows, replace=False))
    notes.append(sample_note(max_rows, t.num_rows, what))
    return t.take(pa.array(keep))


def _labeled(table: pa.Table, score: str, label: str) -> pa.Table:
    for name in (score, label):
        if name not in table.column_names:
            raise EvaluationError(f"no {name!r} column in the data")
    y = float_array(table.column(label), label)
    s = float_array(table.column(score), score)
    return _kept(table, ~np.isnan(y) & np.isfinite(s))


def _kept(table: pa.Table, usable: np.ndarray) -> pa.Table:
    """``table``'s usable rows; the table itself when all are (a filter copies every column:
    at 500 features, two windows of ~60,000 events, 0.44 GiB that Arrow's allocator kept)."""
    return table if bool(usable.all()) else table.filter(pa.array(usable))
