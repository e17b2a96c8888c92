"""Multiclass metrics with intervals, and the confusion matrix.

Events are encoded once (:func:`encode`: labels and predictions as class indices, the
probabilities as an ``n × k`` matrix). Every count-based metric is read off a *weighted*
confusion matrix (``bincount`` of ``true·k + predicted``), so a bootstrap replicate —
multinomial counts from :func:`.intervals.bootstrap_counts`, as the binary metrics draw
them — costs one ``bincount`` plus, for ROC AUC, one weighted pass per class over scores
sorted once (:class:`.metrics.Prepared`).

Definitions follow scikit-learn's (checked against it in the tests):

- ``accuracy`` — share predicted right; Wilson interval.
- ``balanced_accuracy`` — mean recall over the classes present among the labels.
- ``macro_f1`` / ``weighted_f1`` — F1 per class averaged over the classes that occur as a
  label or a prediction, plainly or by label support.
- ``roc_auc`` — one-vs-rest ROC AUC per class, averaged over the classes with both
  positives and negatives (macro).
- ``log_loss`` — mean −log p(true class), probabilities clipped at float64's eps; normal.
- ``brier`` — mean Σₖ (pₖ − [y = k])², the multiclass Brier score in [0, 2]; normal.
- per class: ``precision`` and ``recall`` (one-vs-rest), Wilson.

Balanced accuracy, the F1s and ROC AUC take percentile bootstrap intervals from one set of
replicates. The predicted class is the prediction column where the telemetry has one,
else the class of highest probability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.evaluation.intervals import (
    Estimate,
    bootstrap_counts,
    bounded_subsample,
    mean_interval,
    percentile_interval,
    rescaled_replicates,
    wilson,
)
from watchkeeper.core.evaluation.metrics import (
    DEFAULT_BOOT,
    NAMED_VALUES,
    EvaluationError,
    LabelCoverage,
    Prepared,
    label_coverage,
    named_values,
)
from watchkeeper.core.telemetry.classes import class_text

__all__ = [
    "MULTICLASS_METRICS",
    "ConfusionMatrix",
    "Encoded",
    "MulticlassMetrics",
    "class_codes",
    "encode",
    "metrics_of_codes",
    "multiclass_metrics",
    "unknown_classes_error",
]

MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "roc_auc",
    "log_loss",
    "brier",
)
_BOOTSTRAPPED = ("balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc")
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (true class, predicted class): rows are labels, columns predictions."""

    classes: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def shares(self) -> tuple[tuple[float | None, ...], ...]:
        """Each row divided by its total (the recall row); ``None`` for a class never seen."""
        out = []
        for row in self.counts:
            total = sum(row)
            out.append(tuple((c / total if total else None) for c in row))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "counts": [list(r) for r in self.counts]}


class Encoded:
    """Labeled events as class indices and an ``n × k`` probability matrix."""

    def __init__(self, classes: Sequence[str], y: np.ndarray, pred: np.ndarray, p: np.ndarray):
        self.classes = tuple(classes)
        self.k = len(self.classes)
        self.y = np.asarray(y, dtype=np.intp)
        self.pred = np.asarray(pred, dtype=np.intp)
        self.p = np.asarray(p, dtype=np.float64)
        self.n = int(self.y.size)

    def confusion(self, w: np.ndarray | None = None) -> np.ndarray:
        """The (weighted) confusion matrix as floats, rows true, columns predicted."""
        cells = self.y * self.k + self.pred
        flat = np.bincount(cells, weights=w, minlength=self.k * self.k)
        return flat.astype(np.float64).reshape(self.k, self.k)

    @cached_property
    def _one_vs_rest(self) -> tuple[Prepared, ...]:
        return tuple(
            Prepared((self.y == j).astype(np.float64), self.p[:, j]) for j in range(self.k)
        )

    def roc_auc(self, w: np.ndarray | None = None) -> float:
        aucs = [prep.roc_auc(w) for prep in self._one_vs_rest]
        finite = [a for a in aucs if math.isfinite(a)]
        return float(np.mean(finite)) if len(finite) >= 2 else math.nan

    def class_auc(self, j: int) -> float:
        return self._one_vs_rest[j].roc_auc()

    @cached_property
    def log_loss_terms(self) -> np.ndarray:
        p_true = self.p[np.arange(self.n), self.y]
        return -np.log(np.clip(p_true, _EPS, 1.0))

    @cached_property
    def brier_terms(self) -> np.ndarray:
        onehot = np.zeros_like(self.p)
        onehot[np.arange(self.n), self.y] = 1.0
        return np.asarray(((self.p - onehot) ** 2).sum(axis=1))


def _from_confusion(c: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and the F1s of one (weighted) confusion matrix."""
    total = c.sum()
    if total <= 0:
        return dict.fromkeys(("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1"), math.nan)
    diag = np.diag(c)
    support, predicted = c.sum(axis=1), c.sum(axis=0)
    seen = support > 0
    occurs = (support + predicted) > 0
    f1 = np.divide(2 * diag, support + predicted, out=np.zeros_like(diag), where=occurs)
    return {
        "accuracy": float(diag.sum() / total),
        "balanced_accuracy": float(np.mean(diag[seen] / support[seen])),
        "macro_f1": float(f1[occurs].mean()),
        "weighted_f1": float(np.dot(f1, support) / total),
    }


def _statistic(name: str, enc: Encoded, w: np.ndarray | None, c: np.ndarray) -> float:
    return enc.roc_auc(w) if name == "roc_auc" else _from_confusion(c)[name]


def _bootstrapped(
    names: tuple[str, ...],
    enc: Encoded,
    confidence: float,
    n_boot: int,
    seed: int,
    max_events: int | None = None,
) -> dict[str, Estimate]:
    """Several metrics from the same bootstrap replicates (one draw per replicate); above
    ``max_events`` events the replicates resample a seeded subsample of that many, their
    spread scaled by √(m/n) (:mod:`~.intervals`' bounded bootstrap)."""
    if not names:
        return {}
    whole = enc.confusion()
    values = {k: _statistic(k, enc, None, whole) for k in names}
    reps = {k: np.full(n_boot, math.nan) for k in names}
    rng = np.random.default_rng(seed)
    sub = bounded_subsample(rng, enc.n, max_events)
    target = enc if sub is None else Encoded(enc.classes, enc.y[sub], enc.pred[sub], enc.p[sub])
    for b in range(n_boot):
        w = bootstrap_counts(rng, target.n)
        c = target.confusion(w)
        for k in names:
            if math.isfinite(values[k]):
                reps[k][b] = _statistic(k, target, w, c)
    if sub is not None:
        base = target.confusion()
        for k in names:
            reps[k] = rescaled_replicates(
                reps[k], values[k], _statistic(k, target, None, base), target.n, enc.n
            )
    return {
        k: percentile_interval(
            values[k] if math.isfinite(values[k]) else None, reps[k], enc.n, confidence
        )
        for k in names
    }


@dataclass(frozen=True)
class MulticlassMetrics:
    """Multiclass metrics of one set of events: overall, per class, and the confusion matrix."""

    classes: tuple[str, ...]
    coverage: LabelCoverage
    metrics: Mapping[str, Estimate]
    per_class: Mapping[str, Mapping[str, Estimate]]
    confusion: ConfusionMatrix
    scores_missing: int = 0

    @property
    def labeled(self) -> int:
        return self.coverage.labeled

    def __getitem__(self, name: str) -> Estimate:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "coverage": self.coverage.to_dict(),
            "scores_missing": self.scores_missing,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "per_class": {
                c: {k: v.to_dict() for k, v in m.items()} for c, m in self.per_class.items()
            },
            "confusion": self.confusion.to_dict(),
        }


def class_codes(
    classes: Sequence[str], values: Any, what: str = "label", column: str | None = None
) -> np.ndarray:
    """Class names (or integers naming them) as float indices into ``classes``; NaN where
    missing. Floats so that a missing label is NaN, as the binary analyses hold labels.
    A value that is no class is refused (:func:`unknown_classes_error`; ``column``: the
    source column the values came from, named in the refusal)."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], pa.string())
    texts = class_text(array).to_pylist()
    lookup = {str(c): i for i, c in enumerate(classes)}
    out = np.full(len(texts), np.nan)
    bad: list[int] = []
    for i, text in enumerate(texts):
        if text is None:
            continue
        if text not in lookup:
            bad.append(i)
            continue
        out[i] = lookup[text]
    if bad:
        raise unknown_classes_error(what, len(bad), _lowest(array, texts, bad), classes, column)
    return out


def _lowest(array: pa.Array, texts: list[Any], bad: list[int]) -> list[str]:
    """The distinct class texts of ``bad`` rows, lowest first as the database orders the
    column: numbers by value, text by code point (UTF-8 byte order)."""
    t = array.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
    if numeric:
        picked = array.take(pa.array(bad)).to_pylist()
        keyed = sorted({float(v): texts[i] for v, i in zip(picked, bad, strict=True)}.items())
        return [text for _, text in keyed][: NAMED_VALUES + 1]
    return sorted({texts[i] for i in bad})[: NAMED_VALUES + 1]


def unknown_classes_error(
    what: str,
    count: int,
    texts: Sequence[str],
    classes: Sequence[str],
    column: str | None = None,
) -> EvaluationError:
    """A label (``what``, or a prediction) that is no class of the model, refused in the same
    words whichever engine found it: ``count`` events, ``texts`` the distinct values as
    class text (:func:`~watchkeeper.core.telemetry.classes.class_text`), lowest first."""
    where = f" (column {column!r})" if column else ""
    labeled = "labeled " if what == "label" else ""
    return EvaluationError(
        f"{count:,} {labeled}event(s) have a {what} that is not one of the classes "
        f"({', '.join(repr(str(c)) for c in classes)}): "
        f"{named_values([repr(str(t)) for t in texts])}{where}"
    )


def encode(
    classes: Sequence[str],
    codes: np.ndarray,
    probabilities: Any,
    predicted: np.ndarray | None = None,
) -> tuple[Encoded, np.ndarray, int]:
    """(labeled events encoded, the labeled mask over all events, labeled events without a
    score) from :func:`class_codes` of the labels (and of the predictions, if any).

    ``probabilities`` is ``n × k`` in the order of ``classes`` (a NaN row: no score).
    """
    names = tuple(str(c) for c in classes)
    if len(names) < 2 or len(set(names)) != len(names):
        raise EvaluationError("a multiclass model needs two or more distinct classes")
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(names))
    y = np.asarray(codes, dtype=np.float64)
    if y.size != p.shape[0]:
        raise EvaluationError(f"{y.size} labels but {p.shape[0]} rows of probabilities")
    scored = np.isfinite(p).all(axis=1)
    pred = np.argmax(np.where(np.isfinite(p), p, -1.0), axis=1) if p.size else y.astype(np.intp)
    if predicted is not None:
        given = np.asarray(predicted, dtype=np.float64)
        pred = np.where(np.isfinite(given), np.nan_to_num(given), pred).astype(np.intp)
    labeled = np.isfinite(y)
    ok = labeled & scored
    enc = Encoded(names, y[ok].astype(np.intp), pred[ok], p[ok])
    return enc, labeled, int((labeled & ~scored).sum())


def multiclass_metrics(
    classes: Sequence[str],
    labels: Any,
    probabilities: Any,
    predictions: Any = None,
    *,
    confidence: float = 0.95,
    metrics: tuple[str, ...] = MULTICLASS_METRICS,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    ts_us: Any = None,
    label_ts_us: Any = None,
) -> MulticlassMetrics:
    """Multiclass metrics on the labeled, scored events (a missing label: unlabeled)."""
    codes = class_codes(classes, labels)
    predicted = None if predictions is None else class_codes(classes, predictions, "prediction")
    return metrics_of_codes(
        classes,
        codes,
        probabilities,
        predicted,
        confidence=confidence,
        metrics=metrics,
        n_boot=n_boot,
        seed=seed,
        ts_us=ts_us,
        label_ts_us=label_ts_us,
    )


def metrics_of_codes(
    classes: Sequence[str],
    codes: np.ndarray,
    probabilities: Any,
    predicted: np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    metrics: tuple[str, ...] = MULTICLASS_METRICS,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    ts_us: Any = None,
    label_ts_us: Any = None,
    max_events: int | None = None,
) -> MulticlassMetrics:
    """:func:`multiclass_metrics` of labels (and predictions) already coded by
    :func:`class_codes` (NaN: unlabeled / no prediction). ``max_events``: a bootstrapped
    interval above that many events is bounded (:data:`~.intervals.BOOT_EVENTS`)."""
    for name in metrics:
        if name not in MULTICLASS_METRICS:
            raise EvaluationError(
                f"{name!r} is not a multiclass metric ({', '.join(MULTICLASS_METRICS)})"
            )
    enc, labeled, missing_scores = encode(classes, codes, probabilities, predicted)
    coverage = label_coverage(np.where(labeled, 1.0, np.nan), ts_us, label_ts_us)
    c = enc.confusion()
    out = _bootstrapped(
        tuple(k for k in metrics if k in _BOOTSTRAPPED), enc, confidence, n_boot, seed, max_events
    )
    if "accuracy" in metrics:
        out["accuracy"] = wilson(float(np.trace(c)), float(enc.n), confidence)
    if "log_loss" in metrics:
        out["log_loss"] = mean_interval(enc.log_loss_terms, confidence)
    if "brier" in metrics:
        out["brier"] = mean_interval(enc.brier_terms, confidence)
    per_class: dict[str, Mapping[str, Estimate]] = {}
    for j, name in enumerate(enc.classes):
        per_class[name] = MappingProxyType(
            {
                "precision": wilson(float(c[j, j]), float(c[:, j].sum()), confidence),
                "recall": wilson(float(c[j, j]), float(c[j].sum()), confidence),
                "support": Estimate(float(c[j].sum()), n=int(c[j].sum())),
            }
        )
    counts = tuple(tuple(int(v) for v in row) for row in c)
    return MulticlassMetrics(
        enc.classes,
        coverage,
        MappingProxyType({k: out[k] for k in metrics}),
        MappingProxyType(per_class),
        ConfusionMatrix(enc.classes, counts),
        missing_scores,
    )
