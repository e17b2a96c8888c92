"""Champion vs challenger on the same requests, for a multiclass model.

The pairs are those of :func:`.compare.join_shadow` (one row per request, both versions'
probabilities); here they arrive as class codes and two ``n × k`` matrices. What is tested:

- **McNemar's exact test on correctness** (:func:`.compare.mcnemar`, the same exact
  two-sided binomial test the binary comparison uses): among labeled pairs where exactly
  one version predicts the true class, is one right more often?
- a **paired bootstrap** interval for the difference of every multiclass metric: each
  replicate's multinomial counts weigh the same requests for both versions.

Differences are challenger − champion. :func:`compare_multiclass_pairs` gives the same
statistics as a :class:`.compare.Comparison` of :func:`.compare.join_shadow`'s pairs (with
per-slice differences and the latency percentiles), so the gate (:mod:`.gate`), the
workbook and the window read a multiclass comparison as they read a binary one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from watchkeeper.core.evaluation.compare import Comparison, McNemar, SliceDelta, mcnemar, p95
from watchkeeper.core.evaluation.intervals import (
    Estimate,
    bootstrap_counts,
    missing,
    percentile_interval,
)
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.multiclass import (
    MULTICLASS_METRICS,
    Encoded,
    _from_confusion,
    encode,
    metrics_of_codes,
)
from watchkeeper.core.evaluation.predicates import SlicePredicate

__all__ = ["MulticlassComparison", "compare_multiclass", "compare_multiclass_pairs"]


@dataclass(frozen=True)
class MulticlassComparison:
    """Each version's metrics, their paired differences and McNemar on correctness."""

    pairs: int
    labeled: int
    champion: Mapping[str, Estimate]
    challenger: Mapping[str, Estimate]
    differences: Mapping[str, Estimate]
    mcnemar: McNemar
    agreement: float | None  # share of pairs (labeled or not) predicting the same class

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "labeled": self.labeled,
            "champion": {k: v.to_dict() for k, v in self.champion.items()},
            "challenger": {k: v.to_dict() for k, v in self.challenger.items()},
            "differences": {k: v.to_dict() for k, v in self.differences.items()},
            "mcnemar": self.mcnemar.to_dict(),
            "agreement": self.agreement,
        }


def _value(metric: str, enc: Encoded, w: np.ndarray | None) -> float:
    if metric == "roc_auc":
        return enc.roc_auc(w)
    if metric in ("log_loss", "brier"):
        terms = enc.log_loss_terms if metric == "log_loss" else enc.brier_terms
        total = terms.size if w is None else w.sum()
        return float((terms if w is None else terms * w).sum() / total) if total else math.nan
    return _from_confusion(enc.confusion(w))[metric]


def compare_multiclass(
    classes: Sequence[str],
    codes: Any,
    p_champion: Any,
    p_challenger: Any,
    *,
    predicted_champion: Any = None,
    predicted_challenger: Any = None,
    metrics: tuple[str, ...] = MULTICLASS_METRICS,
    confidence: float = 0.95,
    n_boot: int = 500,
    seed: int = 0,
) -> MulticlassComparison:
    """Paired statistics of two versions' probabilities for the same requests."""
    for m in metrics:
        if m not in MULTICLASS_METRICS:
            raise EvaluationError(f"{m!r} is not a multiclass metric")
    y = np.asarray(codes, dtype=np.float64)
    k = len(classes)
    pa_ = np.asarray(p_champion, dtype=np.float64).reshape(-1, k)
    pb_ = np.asarray(p_challenger, dtype=np.float64).reshape(-1, k)
    if not (y.size == pa_.shape[0] == pb_.shape[0]):
        raise EvaluationError("a paired comparison needs the same requests for both versions")
    # only the pairs both versions scored, so the two encodings hold the same events
    keep = np.isfinite(pa_).all(axis=1) & np.isfinite(pb_).all(axis=1)
    y, pa_, pb_ = y[keep], pa_[keep], pb_[keep]
    given_a = None if predicted_champion is None else np.asarray(predicted_champion)[keep]
    given_b = None if predicted_challenger is None else np.asarray(predicted_challenger)[keep]
    enc_a, labeled, _ = encode(classes, y, pa_, given_a)
    enc_b, _, _ = encode(classes, y, pb_, given_b)
    kw: dict[str, Any] = {"metrics": metrics, "n_boot": n_boot, "confidence": confidence}
    ma = metrics_of_codes(classes, y, pa_, given_a, seed=seed, **kw)
    mb = metrics_of_codes(classes, y, pb_, given_b, seed=seed + 1, **kw)
    n = enc_a.n
    values = {m: _value(m, enc_b, None) - _value(m, enc_a, None) for m in metrics}
    reps = {m: np.full(n_boot, math.nan) for m in metrics}
    rng = np.random.default_rng(seed + 10)
    for i in range(n_boot):
        w = bootstrap_counts(rng, n)
        for m in metrics:
            if math.isfinite(values[m]):
                reps[m][i] = _value(m, enc_b, w) - _value(m, enc_a, w)
    differences = {
        m: percentile_interval(values[m], reps[m], n, confidence)
        if math.isfinite(values[m])
        else missing(n, confidence)
        for m in metrics
    }
    agreement = None
    if pa_.shape[0]:
        agreement = float(np.mean(_predicted(pa_, given_a) == _predicted(pb_, given_b)))
    test = mcnemar(enc_a.y.astype(float), enc_a.pred.astype(float), enc_b.pred.astype(float))
    return MulticlassComparison(
        int(keep.sum()),
        int(labeled.sum()),
        ma.metrics,
        mb.metrics,
        MappingProxyType(differences),
        test,
        agreement,
    )


def _predicted(p: np.ndarray, given: np.ndarray | None) -> np.ndarray:
    pred = np.argmax(p, axis=1)
    if given is None:
        return pred
    g = np.asarray(given, dtype=np.float64)
    return np.where(np.isfinite(g), np.nan_to_num(g), pred).astype(np.intp)


def paired_outcomes(
    joined: Any, outcomes: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(label codes, champion's and challenger's ``n × k`` probabilities, their predicted
    classes as codes or None) of :func:`.compare.join_shadow`'s pairs of a multiclass model
    (``outcomes``: its :class:`~.multiclass_slices.ClassColumns`)."""
    from watchkeeper.core.evaluation.metrics import float_array
    from watchkeeper.core.evaluation.multiclass_slices import codes_of

    classes = outcomes.classes
    codes = codes_of(classes, joined, "label", "label")

    def side(v: str) -> tuple[np.ndarray, np.ndarray | None]:
        cols = [
            float_array(joined.column(f"{c}_{v}"), f"probability of {k}")
            for k, c in outcomes.probabilities.items()
        ]
        p = np.column_stack(cols) if cols else np.zeros((joined.num_rows, 0))
        pred = None
        if outcomes.prediction and f"{outcomes.prediction}_{v}" in joined.column_names:
            column = f"{outcomes.prediction}_{v}"
            pred = codes_of(classes, joined, column, "prediction")
        return p, pred

    (pa_, da), (pb_, db) = side("a"), side("b")
    return codes, pa_, pb_, da, db


def compare_multiclass_pairs(
    joined: Any,
    outcomes: Any,
    *,
    metrics: tuple[str, ...] = MULTICLASS_METRICS,
    slices: Sequence[SlicePredicate] = (),
    slice_metric: str = "macro_f1",
    latency: str | None = None,
    confidence: float = 0.95,
    n_boot: int = 500,
    seed: int = 0,
) -> Comparison:
    """:func:`compare_multiclass` of joined pairs as a :class:`.compare.Comparison`:
    McNemar on correctness, paired-bootstrap differences of ``metrics``, and per slice the
    paired-bootstrap difference of ``slice_metric``. ``positives`` are 0 (no positive class);
    the score correlations are None (k probabilities a request, no one score)."""
    classes = outcomes.classes
    codes, pa_, pb_, da, db = paired_outcomes(joined, outcomes)
    whole = compare_multiclass(
        classes,
        codes,
        pa_,
        pb_,
        predicted_champion=da,
        predicted_challenger=db,
        metrics=metrics,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )
    deltas = []
    for i, pred in enumerate(slices):
        mask = pred.mask(joined)
        part = compare_multiclass(
            classes,
            codes[mask],
            pa_[mask],
            pb_[mask],
            predicted_champion=None if da is None else da[mask],
            predicted_challenger=None if db is None else db[mask],
            metrics=(slice_metric,),
            confidence=confidence,
            n_boot=n_boot,
            seed=seed + 100 + i,
        )
        deltas.append(
            SliceDelta(
                pred,
                part.labeled,
                0,
                part.champion[slice_metric].value,
                part.challenger[slice_metric].value,
                part.differences[slice_metric],
                None,
            )
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
        pairs=whole.pairs,
        labeled=whole.labeled,
        positives=0,
        threshold=0.5,
        confidence=confidence,
        champion=whole.champion,
        challenger=whole.challenger,
        differences=whole.differences,
        delong_p=None,
        mcnemar=whole.mcnemar,
        agreement=whole.agreement,
        pearson=None,
        spearman=None,
        slices=tuple(deltas),
        expected_cost=None,
        latency_p95=lat,
        classes=tuple(classes),
    )
