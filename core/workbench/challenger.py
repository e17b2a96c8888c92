"""Champion vs challenger of one model, from its spec — no Qt.

:func:`run_gate` is the one way to the spec's promotion gate (the Champion vs challenger
view, the approval dialog and ``watchkeeper gate``); :func:`run_challenger` adds what the
view draws: the pairs' ROC curves, their scores (points, or a density beyond
:data:`SCATTER_POINTS`) and the requests the two versions decide differently.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from watchkeeper.core.evaluation.compare import require_request_ids
from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.workbench.analyses import open_source_of
from watchkeeper.core.workbench.common import (
    READ_LOCK,
    model_features,
    require_binary_outcomes,
    require_outcomes,
    spec_of,
)
from watchkeeper.core.workbench.portfolio import ModelEntry

if TYPE_CHECKING:
    from watchkeeper.core.evaluation.compare import Comparison
    from watchkeeper.core.evaluation.gate import GateResult, KnownGate

__all__ = [
    "DENSITY_BINS",
    "DISAGREEMENT_ROWS",
    "SCATTER_POINTS",
    "ChallengerView",
    "challenger_of",
    "roc_points",
    "run_challenger",
    "run_gate",
    "score_density",
]

#: How many disagreeing requests the challenger view lists.
DISAGREEMENT_ROWS = 200
#: Up to this many pairs the score scatter draws points; beyond, a density image.
SCATTER_POINTS = 4000
#: Bins per axis of the score-density image.
DENSITY_BINS = 100
#: The champion's integer and boolean features are streamed (to know where a value is
#: missing among the disagreements) in batches of about this many bytes as float64.
FEATURE_BATCH_BYTES = 8 << 20


def challenger_of(entry: ModelEntry, version: str) -> str | None:
    """The version with the spec's challenger alias (None when there is none, or it is
    ``version`` itself)."""
    alias = entry.spec.model.challenger_alias if entry.spec is not None else "challenger"
    for v in entry.versions:
        if alias in v.aliases and v.version != version:
            return v.version
    return None


@dataclass(frozen=True)
class ChallengerView:
    """The gate, its comparison and what the plots draw, for one champion/challenger pair."""

    model: str
    champion: str
    challenger: str
    gate: GateResult  # its .comparison is the Comparison
    roc_champion: tuple[np.ndarray, np.ndarray]  # (fpr, tpr)
    roc_challenger: tuple[np.ndarray, np.ndarray]
    score_a: np.ndarray = field(repr=False)  # champion scores, all pairs (points) or a sample
    score_b: np.ndarray = field(repr=False)
    density: np.ndarray | None = field(repr=False)  # (bins, bins) counts [a-bin, b-bin], or None
    extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)  # a-min a-max b-min b-max
    disagreements: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    disagreeing: int = 0  # pairs deciding differently (all of them; the table shows the top)
    pairs: int = 0
    # a multiclass model's classes: then the curves are one-vs-rest (micro-averaged), the
    # scatter is each version's probability of the true class, and "deciding differently"
    # is predicting a different class
    classes: tuple[str, ...] = ()
    # the area under the drawn multiclass curves (micro-averaged one-vs-rest AUC): the
    # comparison's roc_auc is the macro average, which the curves do not show
    curve_auc: tuple[float | None, float | None] = (None, None)
    # False: a first answer, the gate on its primary metric; the other metrics follow
    complete: bool = True
    # the comparison_key of the pairs, policy and bootstrap the gate rests on (None: a
    # multiclass model's): the slice workbook of the same pairs takes this comparison
    comparison_key: str | None = None

    @property
    def known_gate(self) -> KnownGate | None:
        """The complete gate with its key, for a computation of the same pairs to take."""
        if not self.complete or self.comparison_key is None:
            return None
        from watchkeeper.core.evaluation.gate import KnownGate

        return KnownGate(self.comparison_key, self.gate)

    @property
    def comparison(self) -> Comparison:
        return self.gate.comparison

    def deltas_frame(self) -> pd.DataFrame:
        """Per metric: champion, challenger and the difference (challenger − champion)."""
        c = self.comparison
        rows = []
        for m, d in c.differences.items():
            a, b = c.champion[m], c.challenger[m]
            rows.append(
                {
                    "metric": m,
                    "champion": a.value,
                    "challenger": b.value,
                    "difference": d.value,
                    "lower": d.lower,
                    "upper": d.upper,
                    "interval": d.method,
                    "p": c.delong_p if m == "roc_auc" else None,
                }
            )
        frame = pd.DataFrame(rows)
        cols = ["champion", "challenger", "difference", "lower", "upper", "p"]
        return frame.astype({k: float for k in cols})

    def gate_frame(self) -> pd.DataFrame:
        """The checklist: one row per criterion with its outcome."""
        rows = []
        for cr in self.gate.criteria:
            rows.append(
                {
                    "result": "PASS" if cr.passed else "FAIL",
                    "type": cr.type,
                    "target": cr.target,
                    "value": _g(cr.value),
                    "rule": cr.comparison,
                    "threshold": _g(cr.threshold),
                    "note": _criterion_note(cr),
                }
            )
        return pd.DataFrame(rows)


def _criterion_note(cr: Any) -> str:
    d = cr.detail
    if cr.type == "critical_slice":
        if d.get("note"):
            return str(d["note"])
        return (
            f"{d.get('metric')}: champion {_f(d.get('champion'))} → challenger "
            f"{_f(d.get('challenger'))} on {d.get('labeled', 0):,} labeled"
        )
    if cr.type in ("improvement", "significance"):
        return (
            f"champion {_f(d.get('champion'))} → challenger {_f(d.get('challenger'))}; "
            f"{d.get('confidence', 0.95):.0%} interval [{_f(d.get('lower'))}, "
            f"{_f(d.get('upper'))}] ({d.get('method')})"
        )
    if cr.type == "min_labeled":
        if "positives" not in d:
            return f"{d.get('pairs', 0):,} pairs"
        return f"{d.get('pairs', 0):,} pairs, {d.get('positives', 0):,} positives"
    return ""


def _g(x: float | None) -> str:
    """A criterion's number as text: counts without decimals, differences to 4 places."""
    if x is None:
        return "–"
    if float(x).is_integer() and abs(x) >= 1:
        return f"{x:,.0f}"
    return f"{x:+.4f}" if x < 0 else f"{x:.4f}"


def _f(x: Any) -> str:
    return "–" if x is None else f"{x:.4f}"


def roc_points(
    y: np.ndarray, s: np.ndarray, max_points: int = 1000, *, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve (false-positive rate, true-positive rate) from (0, 0) to (1, 1), one
    point per distinct score, thinned to about ``max_points`` (the curve is monotone, so
    dropping interior points keeps its shape). ``order``: the stable descending sort of the
    labeled, finite events (``Prepared.order`` of exactly those), when the caller has it —
    the gate's comparison sorted the same scores already."""
    ok = ~np.isnan(y) & np.isfinite(s)
    y, s = y[ok], s[ok]
    pos = float((y == 1).sum())
    neg = float(y.size - pos)
    if pos == 0 or neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    if order is None or order.size != y.size:
        order = np.argsort(-s, kind="stable")
    ys, ss = y[order], s[order]
    tp = np.cumsum(ys == 1)
    fp = np.cumsum(ys != 1)
    last = np.r_[np.flatnonzero(np.diff(ss) != 0), ys.size - 1]  # end of each tied score
    fpr = np.r_[0.0, fp[last] / neg]
    tpr = np.r_[0.0, tp[last] / pos]
    if fpr.size > max_points:
        keep = np.unique(np.r_[np.linspace(0, fpr.size - 1, max_points).astype(int)])
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr


def score_density(
    a: np.ndarray, b: np.ndarray, bins: int = DENSITY_BINS
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Counts of (champion, challenger) score pairs on a ``bins`` × ``bins`` grid over the
    scores' range (``[0, 1]`` for probabilities); rows are champion bins."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    lo = float(min(a.min(initial=0.0), b.min(initial=0.0)))
    hi = float(max(a.max(initial=1.0), b.max(initial=1.0)))
    counts, _, _ = np.histogram2d(a, b, bins=bins, range=[[lo, hi], [lo, hi]])
    return counts.astype(np.float32), (lo, hi, lo, hi)


def run_gate(
    entry: ModelEntry,
    champion: str,
    challenger: str,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    n_boot: int = 500,
) -> GateResult:
    """The spec's promotion gate for ``challenger`` against ``champion`` on the requests both
    scored (default: the shadow period), read from the entry's evidence under the read lock:
    what the Governance view's approval, ``watchkeeper gate`` and the Champion vs challenger
    view all decide on."""
    from watchkeeper.core.evaluation.gate import gate_of_pairs

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    check_cancelled(cancelled)
    report(0.1, f"gate: v{challenger} against v{champion}")
    pairs = _read_pairs(
        entry, spec, champion, challenger, cancelled, require_outcomes, start=start, end=end
    )
    check_cancelled(cancelled)
    report(0.4, f"gate: v{challenger} against v{champion}: {pairs.joined.num_rows:,} pairs")
    # the bootstrap runs without the read lock (as gate_from_spec's defaults: no policy
    # but the spec's, seed 0)
    return gate_of_pairs(spec, pairs, n_boot=n_boot)


def _read_pairs(
    entry: ModelEntry,
    spec: Any,
    champion: str,
    challenger: str,
    cancelled: CancelCheck | None,
    require: Callable[[Any, Collection[str], str], None],
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Any:
    """The gate's shadow pairs, with READ_LOCK held for the source's reads only (not the
    join, not what follows): another view's read waits for a read, not for a gate, and a
    run cancelled meanwhile gives way before its join."""
    from watchkeeper.core.evaluation.gate import read_shadow_pairs

    with READ_LOCK:
        check_cancelled(cancelled)
        src = open_source_of(entry)
    try:
        with READ_LOCK:
            require(spec, src.schema().names, "the promotion gate")
            require_request_ids(spec.model.name, src.schema().names, "the promotion gate")
        return read_shadow_pairs(
            spec,
            champion=str(champion),
            challenger=str(challenger),
            start=start,
            end=end,
            source=src,
            read_lock=READ_LOCK,
            cancelled=cancelled,
        )
    finally:
        with READ_LOCK:
            src.close()


def run_challenger(
    entry: ModelEntry,
    champion: str,
    challenger: str,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    n_boot: int = 500,
    on_partial: Callable[[ChallengerView], None] | None = None,
) -> ChallengerView:
    """The spec's gate for ``challenger`` against ``champion`` over the shadow period, with
    the pairs' ROC curves, score scatter (or density) and the requests they disagree on.

    The pairs are read and joined once, for the gate and the plots alike. ``on_partial``
    (called on the worker's thread) first receives the view with the gate decided on its
    primary metric alone (``complete`` False: the same criteria and verdict, the plots, no
    intervals of the other metrics yet) while those metrics' bootstrap runs.
    """
    from watchkeeper.core.evaluation.gate import comparison_key, gate_of_pairs
    from watchkeeper.core.evaluation.metrics import float_array

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    model = spec.model.name
    features = model_features(entry)
    check_cancelled(cancelled)
    multiclass = spec.model.task == "multiclass"
    report(0.05, f"gate: v{challenger} against v{champion}: reading the pairs")
    require = require_outcomes if multiclass else require_binary_outcomes
    pairs = _read_pairs(entry, spec, champion, challenger, cancelled, require)
    check_cancelled(cancelled)
    if multiclass:
        # its own plots (one-vs-rest curves, probability of the true class), drawn from the
        # gate's pairs
        report(0.2, f"gate: v{challenger} against v{champion}: {pairs.joined.num_rows:,} pairs")
        gate = gate_of_pairs(spec, pairs, n_boot=n_boot)
        check_cancelled(cancelled)
        report(0.7, "curves and disagreements")
        return _multiclass_view(entry, gate, pairs, features, report, cancelled)
    report(0.2, "curves and disagreements")
    # the features are taken for the disagreements shown only, not for every pair
    joined = pairs.joined.select(["request_id", "label", "score_a", "score_b"])
    threshold = spec.gate.threshold
    y = float_array(joined.column("label"), "label")
    a = float_array(joined.column("score_a"), "champion score")
    b = float_array(joined.column("score_b"), "challenger score")
    scored = np.isfinite(a) & np.isfinite(b)
    density = None
    extent = (0.0, 1.0, 0.0, 1.0)
    pa_, pb_ = a[scored], b[scored]
    if pa_.size > SCATTER_POINTS:
        density, extent = score_density(pa_, pb_)
    differ = scored & ((a >= threshold) != (b >= threshold))
    frame = joined.filter(differ).to_pandas()
    frame = frame.rename(columns={"score_a": "champion score", "score_b": "challenger score"})
    frame.insert(4, "difference", frame["challenger score"] - frame["champion score"])
    frame.insert(
        5,
        "decides",
        np.where(frame["challenger score"] >= threshold, "challenger flags", "champion flags"),
    )
    frame = frame.reindex(frame["difference"].abs().sort_values(ascending=False).index)
    top = frame.head(DISAGREEMENT_ROWS)
    shown = np.flatnonzero(differ)[top.index.to_numpy()]
    top = top.reset_index(drop=True)
    if features:
        ids = joined.column("request_id")
        taken, gaps = _champion_rows(
            entry,
            pairs.champion,
            pairs.start,
            pairs.end,
            ids.take(shown),
            ids.filter(differ),
            features,
            cancelled,
        )
        top = pd.concat(
            [top, _as_among_all(taken.select(features).to_pandas(), taken, gaps)], axis=1
        )

    def view(gate: GateResult, complete: bool) -> ChallengerView:
        return ChallengerView(
            model=model,
            champion=str(champion),
            challenger=str(challenger),
            gate=gate,
            roc_champion=roc_a,
            roc_challenger=roc_b,
            score_a=pa_,
            score_b=pb_,
            density=density,
            extent=extent,
            disagreements=top,
            disagreeing=int(differ.sum()),
            pairs=int(scored.sum()),
            complete=complete,
            comparison_key=key,
        )

    # the pairs' digest (hashing releases the GIL) on another thread, beside the bootstrap
    keyed = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="watchkeeper-digest")
    key_of = keyed.submit(comparison_key, spec, pairs, n_boot=n_boot)
    keyed.shutdown(wait=False)
    key: str | None = None
    first = None
    if on_partial is not None:
        check_cancelled(cancelled)
        report(0.3, "the gate on its primary metric")
        first = gate_of_pairs(spec, pairs, n_boot=n_boot, primary_only=True)
        roc_a, roc_b = _roc_pair(y, a, b, scored, first.comparison.prepared)
        on_partial(view(first, False))
    else:
        roc_a, roc_b = _roc_pair(y, a, b, scored, None)
    check_cancelled(cancelled)
    report(0.4, "every metric with its interval (paired bootstrap)")
    # the first answer's numbers (primary metric, slices, tests) are not computed again
    gate = gate_of_pairs(spec, pairs, n_boot=n_boot, earlier=first)
    key = key_of.result()
    report(1.0, "done")
    return view(gate, True)


def _roc_pair(
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    scored: np.ndarray,
    prepared: tuple[Any, Any] | None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Both versions' ROC curves, on the gate's sort of their scores where it sorted the
    same events: its labeled pairs are those both versions scored, a curve's those its own
    version scored — the same events unless a labeled pair lacks the other's score."""
    labeled = ~np.isnan(y)
    both = labeled & scored
    order_a = order_b = None
    if prepared is not None:
        if np.array_equal(labeled & np.isfinite(a), both):
            order_a = prepared[0].order
        if np.array_equal(labeled & np.isfinite(b), both):
            order_b = prepared[1].order
    return roc_points(y, a, order=order_a), roc_points(y, b, order=order_b)


def _as_among_all(frame: pd.DataFrame, taken: Any, gaps: set[str]) -> pd.DataFrame:
    """The features of the rows shown with the types pandas gives them among all the
    disagreements: an integer or boolean feature missing a value anywhere in them is float
    (NaN) or object there, though the rows shown may have none."""
    import pyarrow as pa

    for f in gaps:
        kind = taken.schema.field(f).type
        if pa.types.is_integer(kind):
            frame[f] = frame[f].astype("float64")
        elif pa.types.is_boolean(kind):
            frame[f] = frame[f].astype(object)
    return frame


def _champion_rows(
    entry: ModelEntry,
    champion: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    request_ids: Any,
    among: Any,
    features: Sequence[str],
    cancelled: CancelCheck | None,
) -> tuple[Any, set[str]]:
    """The champion's rows of ``request_ids`` over ``[start, end)``, ``request_id`` and
    ``features`` (in the order of ``request_ids``; the first row of an id logged twice; a
    row of nulls for an id no longer there), and the integer or boolean features with a
    missing value in a row of ``among``.

    The rows are read by their ids (``TelemetryQuery.request_ids``: an ``IN`` in the
    database, a filter of the Parquet scan): a wide model's every pair's features (500 ×
    120,000 champion rows: over a gigabyte in memory, hundreds of megabytes over a
    warehouse's wire) are never read. Only the integer and boolean features (a missing value
    changes their type) are streamed over the window's champion rows, in batches of
    :data:`FEATURE_BATCH_BYTES`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from watchkeeper.core.evaluation.gate import pairing_margin
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    if not len(request_ids):  # nothing shown (an empty id list would select every row)
        return pa.table({c: pa.array([], pa.null()) for c in ["request_id", *features]}), set()
    spec = spec_of(entry)
    margin = pairing_margin(spec.gate)  # where the pairing found the champion's rows
    window = TelemetryQuery(
        model=spec.model.name,
        versions=(champion,),
        start=start - margin if start is not None else None,
        end=end + margin if end is not None else None,
    )
    shown = dataclasses.replace(window, request_ids=tuple(request_ids.to_pylist()))
    gaps: set[str] = set()
    with READ_LOCK:
        check_cancelled(cancelled)
        src = open_source_of(entry)
    try:
        with READ_LOCK:
            table = src.read(shown, columns=["request_id", *features], cancelled=cancelled)
        whole = [
            f.name
            for f in table.schema
            if f.name in features and (pa.types.is_integer(f.type) or pa.types.is_boolean(f.type))
        ]
        if whole and len(among):
            columns = ["request_id", *whole]
            batch_rows = max(1_024, FEATURE_BATCH_BYTES // (8 * len(columns)))
            with READ_LOCK:
                batches = src.batches(window, columns=columns, batch_rows=batch_rows)
            while len(gaps) < len(whole):
                check_cancelled(cancelled)
                with READ_LOCK:
                    batch = next(batches, None)
                if batch is None:
                    break
                rows = pc.is_in(batch.column(0), value_set=among)
                gaps.update(
                    f for f in whole if f not in gaps and batch.column(f).filter(rows).null_count
                )
    finally:
        with READ_LOCK:
            src.close()
    first: dict[Any, int] = {}
    for i, rid in enumerate(table.column("request_id").to_pylist()):
        first.setdefault(rid, i)
    rows = pa.array([first.get(rid) for rid in request_ids.to_pylist()], pa.int64())
    return table.take(rows), gaps


def _multiclass_view(
    entry: ModelEntry,
    gate: GateResult,
    pairs: Any,
    features: list[str],
    report: Progress,
    cancelled: CancelCheck | None = None,
) -> ChallengerView:
    """:func:`run_challenger`'s view of a multiclass model's pairs (the gate's, ``pairs``):
    one-vs-rest ROC curves (micro-averaged: every class's probability against "is it this
    class"), each version's probability of the true class, and the requests whose predicted
    classes differ. The features of the disagreements shown are read for those alone
    (:func:`_champion_rows`)."""
    from watchkeeper.core.evaluation.metrics import Prepared
    from watchkeeper.core.evaluation.multiclass_compare import paired_outcomes

    start, end = gate.window
    champion, challenger = gate.champion, gate.challenger
    outcomes, joined = pairs.outcomes, pairs.joined
    assert outcomes is not None  # a multiclass spec's pairs
    codes, p_a, p_b, given_a, given_b = paired_outcomes(joined, outcomes)
    scored = np.isfinite(p_a).all(axis=1) & np.isfinite(p_b).all(axis=1)
    labeled = scored & np.isfinite(codes)
    k = len(outcomes.classes)
    onehot = (codes[labeled, None] == np.arange(k)[None]).astype(np.float64).ravel()
    roc_a = roc_points(onehot, p_a[labeled].ravel())
    roc_b = roc_points(onehot, p_b[labeled].ravel())
    micro = []
    for p in (p_a, p_b):
        auc = Prepared(onehot, p[labeled].ravel()).roc_auc() if onehot.size else math.nan
        micro.append(auc if math.isfinite(auc) else None)
    truth = codes[labeled].astype(np.intp)
    rows = np.arange(truth.size)
    true_a, true_b = p_a[labeled][rows, truth], p_b[labeled][rows, truth]
    density = None
    extent = (0.0, 1.0, 0.0, 1.0)
    if true_a.size > SCATTER_POINTS:
        density, extent = score_density(true_a, true_b)

    def predicted(p: np.ndarray, given: np.ndarray | None) -> np.ndarray:
        pred = np.asarray(np.argmax(np.where(np.isfinite(p), p, -1.0), axis=1), dtype=np.intp)
        if given is not None:
            pred = np.where(np.isfinite(given), np.nan_to_num(given), pred).astype(np.intp)
        return pred

    pred_a, pred_b = predicted(p_a, given_a), predicted(p_b, given_b)
    differ = scored & (pred_a != pred_b)
    names = np.array(outcomes.classes, dtype=object)
    idx = np.flatnonzero(differ)
    # how sure each version is of its own class: the rows where they differ most surely first
    sure_a, sure_b = p_a[idx, pred_a[idx]], p_b[idx, pred_b[idx]]
    frame = pd.DataFrame(
        {
            "request_id": joined.column("request_id").take(idx).to_pylist(),
            "label": joined.column("label").take(idx).to_pylist(),
            "champion predicts": names[pred_a[idx]],
            "challenger predicts": names[pred_b[idx]],
            "champion probability": sure_a,
            "challenger probability": sure_b,
        }
    )
    order = np.argsort(-np.minimum(sure_a, sure_b), kind="stable")
    top = frame.iloc[order[:DISAGREEMENT_ROWS]].reset_index(drop=True)
    if features:
        ids = joined.column("request_id")
        taken, gaps = _champion_rows(
            entry,
            champion,
            start,
            end,
            ids.take(idx[order[:DISAGREEMENT_ROWS]]),
            ids.take(idx),
            features,
            cancelled,
        )
        # each column built from its values, as this view always built them
        shown = pd.DataFrame({f: taken.column(f).to_pylist() for f in features})
        top = pd.concat([top, _as_among_all(shown, taken, gaps)], axis=1)
    report(1.0, "done")
    return ChallengerView(
        model=gate.model,
        champion=str(champion),
        challenger=str(challenger),
        gate=gate,
        roc_champion=roc_a,
        roc_challenger=roc_b,
        score_a=true_a,
        score_b=true_b,
        density=density,
        extent=extent,
        disagreements=top,
        disagreeing=int(differ.sum()),
        pairs=int(scored.sum()),
        classes=tuple(outcomes.classes),
        curve_auc=(micro[0], micro[1]),
    )
