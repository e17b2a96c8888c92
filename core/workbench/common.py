"""What every workbench analysis shares besides progress and cancel: the read lock, the spec."""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
    from watchkeeper.core.spec import MonitorSpec
    from watchkeeper.core.telemetry.source import TelemetrySource
    from watchkeeper.core.workbench.portfolio import ModelEntry

__all__ = [
    "READ_LOCK",
    "class_columns",
    "feature_names",
    "model_features",
    "require_binary_outcomes",
    "require_outcomes",
    "spec_of",
]

#: Reading is serialised by one lock: the window's views start their analyses together when
#: the selection changes, and an embedded database (DuckDB, SQLite) is happier with one
#: reader at a time in a process; the reads are short next to the statistics.
READ_LOCK = threading.Lock()


def spec_of(entry: ModelEntry) -> MonitorSpec:
    """The entry's monitor spec, or a SpecError saying why it has none."""
    from watchkeeper.core.errors import SpecError

    if entry.spec is None:
        raise SpecError(f"{entry.name}: {entry.spec_error or 'no monitor spec'}")
    return entry.spec


def feature_names(spec: MonitorSpec, src: TelemetrySource) -> list[str]:
    """The model's features: the spec's ``[telemetry.columns] features``, or when it names
    none every column of the source that plays no role and is no extra (what an empty list
    means there) — not an empty list, which left Drift with "no feature columns to analyse"
    and the slice search, the disagreements and the importance with nothing."""
    named = list(spec.telemetry.columns.features)
    return named or [c.name for c in src.schema().features]


def model_features(entry: ModelEntry) -> list[str]:
    """:func:`feature_names` of the entry's spec, the source opened only when the spec names
    none (not under :data:`READ_LOCK`: this takes it)."""
    from watchkeeper.core.workbench.analyses import open_source_of

    spec = spec_of(entry)
    named = list(spec.telemetry.columns.features)
    if named:
        return named
    with READ_LOCK, open_source_of(entry) as src:
        return feature_names(spec, src)


def require_binary_outcomes(spec: MonitorSpec, have: Collection[str], what: str) -> None:
    """Refuse, in words a user can act on, an analysis that needs a binary model's scores and
    labels where the spec or the telemetry lacks them: ``what`` names the analysis
    ("the promotion gate"); ``have`` are the source's output columns. Without this the
    reason surfaced as "no output column 'label'" or "a binary label must be 0 or 1"."""
    from watchkeeper.core.evaluation.metrics import EvaluationError

    name = spec.model.name
    if spec.model.task != "binary":
        raise EvaluationError(
            f"{name} is a {spec.model.task} model (task = {spec.model.task!r}): {what} is "
            "built for binary models and does not support regression yet; drift, "
            "performance (MAE, RMSE, bias) and health work for it"
        )
    for role, plural in (("score", "scores"), ("label", "labels")):
        if role not in have:
            raise EvaluationError(
                f"{name}: the telemetry has no {role} column ([telemetry.columns] {role}): "
                f"{what} measures {plural} against outcomes. Drift and prediction drift work "
                f"without them; mapping a {role} column would add {what}"
            )


def require_outcomes(spec: MonitorSpec, have: Collection[str], what: str) -> None:
    """:func:`require_binary_outcomes` for a binary model; for a multiclass one, refuse when
    the telemetry lacks its labels or a class's probability column."""
    from watchkeeper.core.evaluation.metrics import EvaluationError

    if spec.model.task != "multiclass":
        require_binary_outcomes(spec, have, what)
        return
    name = spec.model.name
    if "label" not in have:
        raise EvaluationError(
            f"{name}: the telemetry has no label column ([telemetry.columns] label): {what} "
            "measures predictions against outcomes. Drift and prediction drift work without it"
        )
    for klass, column in spec.telemetry.columns.class_probabilities.items():
        if column not in have:
            raise EvaluationError(
                f"{name}: the telemetry has no column {column!r}, the probability of class "
                f"{klass!r} ([telemetry.columns] class_probabilities)"
            )


def class_columns(spec: MonitorSpec, have: Collection[str]) -> ClassColumns | None:
    """Where a multiclass model's outcomes are in the events read (None for other models)."""
    from watchkeeper.core.evaluation.multiclass_slices import ClassColumns

    return ClassColumns.of_spec(spec, list(have))
