"""A performance view counted where the telemetry lives — no Qt.

:func:`~.analyses.run_performance` takes this path for a SQL source when rows must not
cross the wire: always on a warehouse engine (Spark SQL: ``SqlSource.warehouse``), and on
any other database above :data:`~.analyses.IN_MEMORY_ROWS` selected rows when the metric can
be aggregated. Below that, the in-memory path reads the rows (every metric, bootstrapped F1
intervals, label-lag percentiles), so a small DuckDB workspace keeps its exact numbers.

What comes back: the realized metric per window and the reference baseline from
:func:`~watchkeeper.core.evaluation.performance_sql.performance_over_time_sql` (one
``GROUP BY window × score bin`` each), and the estimate (CBPE) for the windows still
missing labels from bounded, seeded samples (:mod:`~watchkeeper.core.evaluation.
estimation_sql`): the reference's labeled pairs and those windows' scores, on the realized
windows' own plan. A multiclass model's from :mod:`~watchkeeper.core.evaluation.
multiclass_performance_sql` (one ``GROUP BY window × true × predicted class``, for ROC AUC
the rank sums and a bounded sample), its estimate from the reference's labeled events and
the windows' probabilities, read as bounded samples the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.telemetry.windows import WindowSpec

if TYPE_CHECKING:  # analyses imports this module
    from watchkeeper.core.workbench.analyses import PerformanceView

__all__ = ["pushed_down", "run_performance_sql"]


def pushed_down(src: Any, spec: Any, metric: str, version: str, as_of: dt.datetime | None) -> bool:
    """Whether a performance view of ``src`` is aggregated in the database (module doc)."""
    from watchkeeper.core.evaluation.performance_sql import pushable_metrics
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import SqlSource
    from watchkeeper.core.workbench.analyses import IN_MEMORY_ROWS

    task = spec.model.task
    if not isinstance(src, SqlSource) or task not in ("binary", "regression", "multiclass"):
        return False
    if src.warehouse:  # a metric that needs every score is refused there, not read
        return True
    if task != "multiclass" and metric not in pushable_metrics(task):
        return False
    selected = TelemetryQuery(model=spec.model.name, versions=(version,), end=as_of)
    return src.count(selected) > IN_MEMORY_ROWS


def _any_label_time(src: Any, spec: Any, version: str, as_of: dt.datetime | None) -> bool:
    """Whether any selected event has a label arrival time (one ``count``)."""
    import sqlalchemy as sa

    from watchkeeper.core.evaluation.slice_sql import slice_query, sql_parts

    if "label_ts" not in src.schema().names:
        return False
    engine, _ = sql_parts(src)
    with engine.connect() as conn:
        _, clauses, col = slice_query(
            conn, src, None, model=spec.model.name, versions=[version], end=as_of
        )
        n = conn.execute(sa.select(sa.func.count(col("label_ts"))).where(*clauses)).scalar()
    return bool(n)


def run_performance_sql(
    src: Any,
    spec: Any,
    entry: Any,
    version: str,
    metric: str,
    win: WindowSpec,
    report: Progress,
    cancelled: CancelCheck | None,
    *,
    as_of: dt.datetime | None,
) -> PerformanceView:
    """:func:`~.analyses.run_performance`'s view, aggregated in the database."""
    from watchkeeper.core.drift.sql_counts import remembered_time_ranges
    from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER, EvaluationError
    from watchkeeper.core.evaluation.performance_sql import performance_over_time_sql
    from watchkeeper.core.workbench.analyses import (
        NO_LABEL_TIMES,
        PerformanceView,
        _reference_query,
        file_reference_outcomes,
        reference_baseline,
        windows_to_estimate,
    )
    from watchkeeper.core.workbench.reference_file import (
        file_reference_version,
        is_file_reference,
    )

    # the estimate plans the realized metrics' windows again: asked of the database once
    with remembered_time_ranges():
        model = spec.model.name
        health = spec.health
        threshold = spec.gate.threshold
        from_file = is_file_reference(spec)
        span = None if from_file else _reference_query(spec, version)
        ref_version, ref_start, ref_end = (
            (file_reference_version(spec, version), None, None) if span is None else span
        )
        notes: list[str] = []
        if "label_ts" not in src.schema().names:
            notes.append(NO_LABEL_TIMES + ": labels count as known when the event happened")
        known_at = as_of
        if as_of is not None and not _any_label_time(src, spec, version, as_of):
            known_at = None
            notes.append(
                "no label arrival times: every stored label counts, also those that arrived "
                f"after {as_of:%Y-%m-%d %H:%M}"
            )
        common: dict[str, Any] = {
            "model": model,
            "task": spec.model.task,
            "threshold": threshold,
            "metrics": [metric],
            "min_labeled": health.min_labeled,
            "cancelled": cancelled,
        }
        over_time: Any = performance_over_time_sql
        if spec.model.task == "multiclass":
            from watchkeeper.core.evaluation.multiclass_performance_sql import (
                multiclass_performance_sql,
            )

            over_time = multiclass_performance_sql
            del common["task"], common["threshold"]
            common["classes"] = dict(spec.telemetry.columns.class_probabilities)
            common["prediction"] = "prediction" in src.schema().names
        report(0.05, "realized metrics, counted in the database")
        realized = over_time(
            src, versions=[version], end=as_of, window=win, as_of=known_at, **common
        )
        if sum(w.events for w in realized.windows) == 0:
            raise EvaluationError(f"{model}: version {version} has no rows")
        notes.extend(realized.notes)
        check_cancelled(cancelled)
        baseline = None
        estimated: tuple[Any, ...] = ()
        base: Any = None
        calibration: dict[str, Any] = {}  # where the estimate is calibrated, if anywhere
        if not from_file:
            report(0.45, "reference baseline, counted in the database")
            base = over_time(
                src, versions=[ref_version], start=ref_start, end=ref_end, window=None, **common
            )
            notes.extend(n for n in base.notes if n not in notes)
        if from_file:
            # the file is not in the database: its baseline in memory (bounded by the file
            # reference's own budget), the estimate calibrated on it
            report(0.45, "reference baseline, from the reference file")
            classes = dict(spec.telemetry.columns.class_probabilities)
            reference, why = file_reference_outcomes(
                entry, ["ts", "score", "label", *classes.values()]
            )
            if reference is None:
                assert why is not None  # file_reference_outcomes says why there is none
                notes.append(why)
            else:
                baseline, (ry, rs, _) = reference_baseline(spec, reference, metric)
                calibration = {"reference": None, "outcomes": (ry, rs)}
        elif sum(w.events for w in base.windows) == 0:
            if entry.evidence is not None:
                baseline = entry.evidence.reference_baseline(
                    ref_version, metric, ref_start, ref_end
                )
            dates = f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}"
            notes.append(
                f"the reference window ({dates}) has no events here (an offline bundle holds its "
                "own range only): "
                + (
                    f"baseline {metric} from the signed approval of version {ref_version}, "
                    "no estimate"
                    if baseline is not None
                    else "no baseline, no estimate"
                )
            )
        else:
            baseline = base.windows[0].metrics.get(metric) if base.windows else None
            calibration = {"reference": span}
        unlabeled = windows_to_estimate(realized, health, notes) if calibration else []
        if unlabeled:
            estimated = _estimate_sql(
                src,
                spec,
                metric,
                version,
                win,
                realized,
                unlabeled,
                notes,
                report,
                cancelled,
                as_of=as_of,
                **calibration,
            )
        notes.append(
            f"{metric} counted in the database per window (aggregates only; the estimate from "
            "bounded samples)"
        )
        report(1.0, "done")
        return PerformanceView(
            model=model,
            version=version,
            metric=metric,
            realized=realized,
            estimated=estimated,
            baseline=baseline,
            tolerance=health.tolerance,
            higher_is_better=HIGHER_IS_BETTER.get(metric, True),
            notes=tuple(notes),
        )


def _estimate_sql(
    src: Any,
    spec: Any,
    metric: str,
    version: str,
    win: WindowSpec,
    realized: Any,
    windows: list[int],
    notes: list[str],
    report: Progress,
    cancelled: CancelCheck | None,
    *,
    as_of: dt.datetime | None,
    reference: tuple[str, dt.datetime, dt.datetime] | None,
    outcomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Any, ...]:
    """CBPE for ``windows`` as :func:`~.analyses._estimate` gives it, from bounded samples.

    The calibration comes from the ``reference`` window in the database, or from
    ``outcomes`` (labels, scores) read already: a reference file's."""
    from types import MappingProxyType

    from watchkeeper.core.evaluation.estimation import (
        ESTIMATED_METRICS,
        EstimatedWindow,
        estimate_metrics,
        fit_calibrator,
    )
    from watchkeeper.core.evaluation.estimation_sql import (
        estimate_rows,
        reference_labeled_sql,
        window_scores_sql,
    )
    from watchkeeper.core.evaluation.metrics import EvaluationError

    if spec.model.task == "multiclass":
        if reference is None:
            notes.append(
                "no estimate: a multiclass model's is calibrated in the database, which does "
                "not hold the reference file"
            )
            return ()
        return _estimate_multiclass_sql(
            src,
            spec,
            metric,
            version,
            win,
            realized,
            windows,
            notes,
            report,
            cancelled,
            as_of=as_of,
            reference=reference,
        )
    if spec.model.task != "binary":
        return ()
    if metric not in ESTIMATED_METRICS:
        notes.append(
            f"{metric} cannot be estimated without labels "
            f"(CBPE covers {', '.join(ESTIMATED_METRICS)})"
        )
        return ()
    check_cancelled(cancelled)
    report(0.55, "calibrating the estimate")
    model = spec.model.name
    limit = estimate_rows(src)
    try:
        if reference is None:
            assert outcomes is not None
            ry, rs, labeled = _labeled_sample(*outcomes, limit)
        else:
            ref_version, ref_start, ref_end = reference
            ry, rs, labeled = reference_labeled_sql(
                src, model=model, versions=[ref_version], start=ref_start, end=ref_end,
                limit=limit,
            )  # fmt: skip
        calibrator = fit_calibrator(ry, rs)
        check_cancelled(cancelled)
        report(0.65, "estimating unlabeled windows")
        scores = window_scores_sql(
            src, model=model, versions=[version], end=as_of, window=win, only=windows, limit=limit
        )
    except EvaluationError as exc:
        notes.append(f"no estimate: {exc}")
        return ()
    _note_sampled(notes, realized, windows, labeled, limit)
    out = []
    for i, w in enumerate(realized.windows):
        sw = scores.get(i)
        est: Any = MappingProxyType({})
        if sw is not None and np.isfinite(sw).sum() >= 100:
            # the seed of estimated_over_time's window i: the same draws as in memory
            est = estimate_metrics(
                sw, calibrator, threshold=spec.gate.threshold, metrics=[metric], n_sim=100, seed=i
            )
        out.append(EstimatedWindow(i, w.start, w.end, w.events, est))
    return tuple(out)


def _labeled_sample(
    labels: np.ndarray, scores: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(labels, scores, labeled)`` of the labeled rows, at most ``limit`` of them (a
    seeded sample beyond), as ``reference_labeled_sql`` returns a window's."""
    keep = np.flatnonzero(np.isfinite(labels) & np.isfinite(scores))
    labeled = int(keep.size)
    if labeled > limit:
        keep = np.sort(np.random.default_rng(0).choice(keep, limit, replace=False))
    return labels[keep], scores[keep], labeled


def _note_sampled(
    notes: list[str], realized: Any, windows: Sequence[int], labeled: int, limit: int
) -> None:
    """Say so when the estimate read a sample of a window's rows or of the reference's."""
    sampled = [i for i in windows if realized.windows[i].events > limit]
    if labeled > limit or sampled:
        notes.append(
            f"the estimate reads at most {limit:,} rows a window and of the reference "
            "(a seeded sample beyond)"
        )


def _estimate_multiclass_sql(
    src: Any,
    spec: Any,
    metric: str,
    version: str,
    win: WindowSpec,
    realized: Any,
    windows: list[int],
    notes: list[str],
    report: Progress,
    cancelled: CancelCheck | None,
    *,
    as_of: dt.datetime | None,
    reference: tuple[str, dt.datetime, dt.datetime],
) -> tuple[Any, ...]:
    """A multiclass model's CBPE for ``windows`` as :func:`~.analyses._estimate` gives it,
    from bounded samples: the reference's labeled events and those windows' probabilities
    (whole, in time order, up to :data:`~.estimation_sql.ESTIMATE_ROWS`: then the in-memory
    estimate)."""
    from types import MappingProxyType

    from watchkeeper.core.evaluation.estimation import EstimatedWindow
    from watchkeeper.core.evaluation.estimation_sql import estimate_rows
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.multiclass_estimation import (
        MULTICLASS_ESTIMATED,
        estimate_multiclass,
        fit_multiclass_calibrator,
    )
    from watchkeeper.core.evaluation.multiclass_performance_sql import (
        reference_labeled_multiclass_sql,
        window_probabilities_sql,
    )

    if metric not in MULTICLASS_ESTIMATED:
        notes.append(
            f"{metric} cannot be estimated without labels "
            f"(CBPE covers {', '.join(MULTICLASS_ESTIMATED)})"
        )
        return ()
    check_cancelled(cancelled)
    report(0.55, "calibrating the estimate")
    model = spec.model.name
    classes = dict(spec.telemetry.columns.class_probabilities)
    ref_version, ref_start, ref_end = reference
    limit = estimate_rows(src)
    try:
        ry, rp, labeled = reference_labeled_multiclass_sql(
            src,
            classes=classes,
            model=model,
            versions=[ref_version],
            start=ref_start,
            end=ref_end,
            limit=limit,
        )
        calibrator = fit_multiclass_calibrator(tuple(classes), ry, rp)
        check_cancelled(cancelled)
        report(0.65, "estimating unlabeled windows")
        probs = window_probabilities_sql(
            src,
            classes=classes,
            prediction="prediction" in src.schema().names,
            model=model,
            versions=[version],
            end=as_of,
            window=win,
            only=windows,
            limit=limit,
        )
    except EvaluationError as exc:
        notes.append(f"no estimate: {exc}")
        return ()
    _note_sampled(notes, realized, windows, labeled, limit)
    out = []
    for i, w in enumerate(realized.windows):
        got = probs.get(i)
        est: Any = MappingProxyType({})
        if got is not None and w.events >= 100:
            # the seed of estimated_over_time_multiclass's window i: the in-memory draws
            est = estimate_multiclass(
                tuple(classes),
                got[0],
                calibrator,
                predicted=got[1],
                metrics=[metric],
                n_sim=100,
                seed=i,
            )
        out.append(EstimatedWindow(i, w.start, w.end, w.events, est))
    return tuple(out)
