"""A multiclass model's outcomes in a table, its metrics per slice and per discovery candidate.

:class:`ClassColumns` says where the outcomes are (label, one probability column per class,
the predicted class if the telemetry has one) and reads them once as class codes and an
``n × k`` matrix. :func:`multiclass_slice_metrics` gives each slice the metrics of
:mod:`.multiclass` with their intervals (so a slice's value is scikit-learn's on its rows).

:func:`candidate_stats` is what worst-slice discovery (:mod:`.worst_slices`) needs of one
candidate: a value and a standard error, cheaply, for thousands of candidates. Accuracy is a
proportion (binomial), log loss and Brier are means (CLT), macro ROC AUC takes DeLong's
placement values (each event's influence on the mean of the classes' AUCs); balanced
accuracy and the F1s have no handy closed form, so their standard error is a *grouped
jackknife*: the candidate's events split into ``JACKKNIFE_GROUPS`` seeded groups, every
group's confusion matrix from one ``bincount``, the metric recomputed on the whole minus
each group. That is one pass over the events where a bootstrap would take hundreds, and for
smooth functions of the confusion matrix the jackknife variance is consistent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.evaluation.intervals import difference
from watchkeeper.core.evaluation.metrics import EvaluationError, float_array
from watchkeeper.core.evaluation.multiclass import (
    MULTICLASS_METRICS,
    Encoded,
    _from_confusion,
    class_codes,
    metrics_of_codes,
)
from watchkeeper.core.evaluation.predicates import SlicePredicate

__all__ = [
    "JACKKNIFE_GROUPS",
    "ClassColumns",
    "MulticlassOutcomes",
    "candidate_stats",
    "multiclass_slice_metrics",
    "refuse_unknown_searched",
]

#: Groups of the grouped jackknife behind a discovery candidate's standard error.
JACKKNIFE_GROUPS = 20


@dataclass(frozen=True)
class MulticlassOutcomes:
    """Labels and predictions as class codes (NaN: missing), probabilities ``n × k``."""

    classes: tuple[str, ...]
    codes: np.ndarray
    p: np.ndarray
    predicted: np.ndarray | None

    def take(self, rows: np.ndarray) -> MulticlassOutcomes:
        pred = None if self.predicted is None else self.predicted[rows]
        return MulticlassOutcomes(self.classes, self.codes[rows], self.p[rows], pred)

    @property
    def usable(self) -> np.ndarray:
        """Events with a label and every probability."""
        return np.isfinite(self.codes) & np.isfinite(self.p).all(axis=1)

    def encoded(self) -> Encoded:
        """The usable events encoded (the predicted class: the telemetry's, else the argmax)."""
        ok = self.usable
        p = self.p[ok]
        pred = np.argmax(p, axis=1) if p.size else np.zeros(0, dtype=np.intp)
        if self.predicted is not None:
            given = self.predicted[ok]
            pred = np.where(np.isfinite(given), np.nan_to_num(given), pred)
        return Encoded(self.classes, self.codes[ok].astype(np.intp), pred.astype(np.intp), p)


@dataclass(frozen=True)
class ClassColumns:
    """Where a multiclass model's outcomes are in a table (column names)."""

    probabilities: Mapping[str, str]  # class → probability column, in the spec's order
    label: str = "label"
    prediction: str | None = "prediction"

    @classmethod
    def of_spec(cls, spec: Any, have: Sequence[str]) -> ClassColumns | None:
        """A multiclass spec's outcomes in the events read (None for other models): the
        label, the spec's probability columns, and the prediction where ``have`` has one."""
        if spec.model.task != "multiclass":
            return None
        prediction = "prediction" if "prediction" in have else None
        return cls(dict(spec.telemetry.columns.class_probabilities), "label", prediction)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.probabilities)

    def columns(self, table_columns: Sequence[str] | None = None) -> list[str]:
        """The columns to read: label, probabilities and (when there is one) the prediction."""
        out = [self.label, *self.probabilities.values()]
        if self.prediction and (table_columns is None or self.prediction in table_columns):
            out.append(self.prediction)
        return out

    def read(self, table: pa.Table) -> MulticlassOutcomes:
        for column in (self.label, *self.probabilities.values()):
            if column not in table.column_names:
                raise EvaluationError(f"no {column!r} column in the data")
        classes = self.classes
        codes = codes_of(classes, table, self.label, "label")
        columns = [
            float_array(table.column(c), f"probability of {k}")
            for k, c in self.probabilities.items()
        ]
        p = np.column_stack(columns) if columns else np.zeros((table.num_rows, 0))
        pred = None
        if self.prediction and self.prediction in table.column_names:
            pred = codes_of(classes, table, self.prediction, "prediction")
        return MulticlassOutcomes(classes, codes, p, pred)


def refuse_unknown_searched(
    outcomes: ClassColumns,
    table: pa.Table,
    label_column: str | None = None,
    prediction_column: str | None = None,
) -> None:
    """A label, then a prediction, that is no class among the events worst-slice discovery
    searches (a label, every probability finite) refused in
    :func:`.multiclass.unknown_classes_error`'s words: what the database's search counts
    and refuses the same way (``label_column`` / ``prediction_column``: the source's names)."""
    for column in (outcomes.label, *outcomes.probabilities.values()):
        if column not in table.column_names:
            raise EvaluationError(f"no {column!r} column in the data")
    labels = table.column(outcomes.label)
    # a NaN label is none, as the readers and the database's nan_as_null hand it over
    if pa.types.is_floating(labels.type):
        present = ~np.isnan(float_array(labels, "labels"))
    else:
        present = np.asarray(labels.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    for c in outcomes.probabilities.values():
        present &= np.isfinite(float_array(table.column(c), c))
    searched = table.filter(pa.array(present))
    names = {outcomes.label: label_column or outcomes.label}
    what = {outcomes.label: "label"}
    if outcomes.prediction and outcomes.prediction in table.column_names:
        names[outcomes.prediction] = prediction_column or outcomes.prediction
        what[outcomes.prediction] = "prediction"
    for column, name in names.items():
        class_codes(outcomes.classes, searched.column(column), what[column], name)


def codes_of(classes: Sequence[str], table: pa.Table, column: str, what: str) -> np.ndarray:
    """:func:`.multiclass.class_codes` of ``table[column]``; an unknown class is named with
    the event's time and request id when the table has them (an index into the rows read
    means nothing to a user)."""
    try:
        return class_codes(classes, table.column(column), what)
    except EvaluationError:
        from watchkeeper.core.telemetry.classes import class_text

        known = {str(c) for c in classes}
        texts = class_text(table.column(column)).to_pylist()
        i = next(i for i, t in enumerate(texts) if t is not None and t not in known)
        where = []
        if "ts" in table.column_names and table.column("ts")[i].is_valid:
            where.append(f"at {table.column('ts')[i].as_py():%Y-%m-%d %H:%M:%S}")
        if "request_id" in table.column_names:
            where.append(f"request {table.column('request_id')[i].as_py()}")
        raise EvaluationError(
            f"the {what} {texts[i]!r}{' (' + ', '.join(where) + ')' if where else ''} is not "
            f"one of the classes ({', '.join(repr(c) for c in classes)}) that "
            "[telemetry.columns] class_probabilities names"
        ) from None


def multiclass_slice_metrics(
    table: pa.Table,
    predicates: Sequence[SlicePredicate],
    outcomes: ClassColumns,
    *,
    metrics: tuple[str, ...] = MULTICLASS_METRICS,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
    max_events: int | None = None,
) -> Any:
    """:func:`.slices.slice_metrics` of a multiclass model: a ``SliceResult`` whose
    ``positives`` are ``None`` (there is no positive class). ``max_events``: bootstrapped
    intervals of more events are bounded (:data:`~.intervals.BOOT_EVENTS`)."""
    from watchkeeper.core.evaluation.slices import SliceResult, SliceRow

    out = outcomes.read(table)

    def measure(o: MulticlassOutcomes, s: int) -> Any:
        return metrics_of_codes(
            o.classes,
            o.codes,
            o.p,
            o.predicted,
            confidence=confidence,
            metrics=metrics,
            n_boot=n_boot,
            seed=s,
            max_events=max_events,
        )

    overall = measure(out, seed)
    rows = []
    for i, pred in enumerate(predicates):
        mask = pred.mask(table)
        sm = measure(out.take(mask), seed + i + 1)
        delta = {k: difference(sm[k].value, overall[k].value) for k in metrics}
        rows.append(
            SliceRow(pred, int(mask.sum()), sm.labeled, None, sm.metrics, MappingProxyType(delta))
        )
    return SliceResult(overall.metrics, table.num_rows, overall.labeled, tuple(rows), 0.5, None)


# -- discovery candidates -------------------------------------------------------------


def _macro_auc_delong(enc: Encoded) -> tuple[float, float] | None:
    """Macro one-vs-rest ROC AUC and its standard error from DeLong's placement values:
    each event's influence on the mean of the classes' AUCs (a positive's placement minus
    the AUC over the positives, a negative's over the negatives, averaged over the classes),
    squared and summed. For one class this is DeLong's variance; across classes it counts
    their covariance, since the same events enter every class's AUC."""
    from watchkeeper.core.evaluation.metrics import Prepared, _placements

    influence = np.zeros(enc.n)
    aucs = []
    for j in range(enc.k):
        y = (enc.y == j).astype(np.float64)
        m = int(y.sum())
        n = enc.n - m
        if m < 2 or n < 2:
            continue
        v10, v01 = _placements(Prepared(y, enc.p[:, j]))
        auc = float(v10.mean())
        part = np.empty(enc.n)
        positive = y == 1
        part[positive] = (v10 - auc) / m
        part[~positive] = (v01 - auc) / n
        influence += part
        aucs.append(auc)
    if len(aucs) < 2:  # the metric's own rule: a macro average of two classes or more
        return None
    influence /= len(aucs)
    return float(np.mean(aucs)), float(math.sqrt(float((influence**2).sum())))


def _stacked(metric: str, c: np.ndarray) -> np.ndarray:
    """:func:`.multiclass._from_confusion`'s ``metric`` of a stack of confusion matrices
    (``g × k × k``) at once: thousands of candidates × 20 groups one by one in Python cost
    more than all the counting."""
    k = c.shape[1]
    diag = c[:, np.arange(k), np.arange(k)]
    support, predicted = c.sum(axis=2), c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "balanced_accuracy":
            recall = np.where(support > 0, diag / support, np.nan)
            return np.asarray(np.nanmean(recall, axis=1))
        occurs = (support + predicted) > 0
        f1 = np.where(occurs, 2 * diag / (support + predicted), 0.0)
        if metric == "macro_f1":
            return np.asarray(f1.sum(axis=1) / occurs.sum(axis=1))
        return np.asarray((f1 * support).sum(axis=1) / c.sum(axis=(1, 2)))  # weighted_f1


def candidate_stats(
    metric: str, enc: Encoded, seed: int = 0
) -> tuple[float, float, float, str] | None:
    """``(value, standard error, successes, method)`` of one candidate's events, or None when
    the metric does not exist there. ``successes`` is NaN except for accuracy; ``method`` is
    how an interval should be drawn: ``wilson``, ``normal``, ``delong`` or ``jackknife``."""
    if metric not in MULTICLASS_METRICS:
        raise EvaluationError(f"{metric!r} is not a multiclass metric")
    n = enc.n
    if n < 2:
        return None
    if metric == "accuracy":
        k = float((enc.y == enc.pred).sum())
        p = k / n
        return p, math.sqrt(p * (1 - p) / n), k, "wilson"
    if metric in ("log_loss", "brier"):
        terms = enc.log_loss_terms if metric == "log_loss" else enc.brier_terms
        return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(n)), math.nan, "normal"
    if metric == "roc_auc":
        got = _macro_auc_delong(enc)
        return None if got is None else (got[0], got[1], math.nan, "delong")
    # balanced accuracy, the F1s: every group's confusion matrix from one bincount, and
    # each leave-one-group-out matrix as the whole minus that group's
    k = enc.k
    g = min(JACKKNIFE_GROUPS, n)
    groups = np.random.default_rng([seed, n]).permutation(n) % g
    cells = groups * (k * k) + enc.y * k + enc.pred
    per_group = np.bincount(cells, minlength=g * k * k).reshape(g, k, k).astype(np.float64)
    whole = per_group.sum(axis=0)
    value = _from_confusion(whole)[metric]
    if not math.isfinite(value):
        return None
    left_out = _stacked(metric, whole[None] - per_group)
    left_out = left_out[np.isfinite(left_out)]
    if left_out.size < 2:
        return None
    m = left_out.size
    se = math.sqrt((m - 1) / m * float(((left_out - left_out.mean()) ** 2).sum()))
    return value, se, math.nan, "jackknife"
