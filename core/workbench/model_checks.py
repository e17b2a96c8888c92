"""Importance and training–serving skew of one model version, from its spec and registry.

Wiring only: which reference rows, which registered model, which training dataset; the
statistics are :mod:`~watchkeeper.core.drift.importance` and
:mod:`~watchkeeper.core.drift.skew`.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper.core.drift.importance import (
    ImportanceResult,
    importance_from_model,
    importance_from_score,
    load_pyfunc,
)
from watchkeeper.core.drift.skew import SERVING_DAYS, SkewResult, training_serving_skew
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.workbench.analyses import _reference_query, open_source_of
from watchkeeper.core.workbench.common import READ_LOCK, spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry

__all__ = ["DriftImpact", "rank_drift", "registry_uri_of", "run_importance", "run_skew"]


@dataclass(frozen=True)
class DriftImpact:
    """One feature's drift weighted by how much the model uses it."""

    name: str
    importance: float  # share of the total importance
    psi: float  # the largest PSI over the windows considered
    decision: str  # the worst decision over those windows
    impact: float  # importance × psi: the ranking key


_ORDER = {"drift": 3, "watch": 2, "ok": 1}


def rank_drift(
    drift: Any, importance: ImportanceResult, last: int | None = None
) -> tuple[DriftImpact, ...]:
    """Features ranked by importance × drift (the largest PSI of the last ``last`` windows)."""
    out = []
    for f in drift.features:
        windows = f.windows[-last:] if last else f.windows
        psis = [w.psi for w in windows if w.psi is not None]
        worst = max((w.decision for w in windows), key=lambda d: _ORDER.get(d, 0), default="ok")
        psi = max(psis, default=0.0)
        share = importance.share_of(f.name) or 0.0
        out.append(DriftImpact(f.name, share, psi, worst, share * psi))
    return tuple(sorted(out, key=lambda d: -d.impact))


def registry_uri_of(spec: Any) -> str | None:
    """The spec's registry URI, a relative ``sqlite:///`` path made absolute (spec's folder)."""
    uri = spec.model.registry_uri
    if not uri:
        return None
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = uri[len("sqlite:///") :]
        if not Path(path).is_absolute():
            uri = "sqlite:///" + str((spec.base_dir / path).resolve())
    return str(uri)


def _reference_frame(entry: ModelEntry, version: str, columns: list[str]) -> Any:
    from watchkeeper.core.evaluation.data import read_events

    spec = spec_of(entry)
    ref_version, start, end = _reference_query(spec, version)
    with READ_LOCK, open_source_of(entry) as src:
        have = set(src.schema().names)
        table = read_events(
            src, model=spec.model.name, versions=[ref_version], start=start, end=end,
            columns=[c for c in columns if c in have],
        )  # fmt: skip
    return table.to_pandas()


def run_importance(entry: ModelEntry, version: str) -> ImportanceResult:
    """Importance on the reference: the registered pyfunc model where it loads, else the score.

    Why the model could not be used (no registry, not a pyfunc, a load error) is in the
    result's ``note``; its ``source`` always says which estimate it is.
    """
    import dataclasses

    spec = spec_of(entry)
    features = list(spec.telemetry.columns.features)
    frame = _reference_frame(entry, version, ["score", *features])
    uri = registry_uri_of(spec) if entry.evidence is None else None
    note = "the spec names no registry" if uri is None else ""
    if uri is not None:
        try:
            predict = load_pyfunc(f"models:/{spec.model.name}/{version}", uri)
            return importance_from_model(predict, frame, features)
        except Exception as exc:  # any load failure means: use the score
            note = f"the registered model did not load as pyfunc ({type(exc).__name__})"
    if "score" not in frame.columns:
        raise WatchkeeperError(f"{spec.model.name}: no score and no loadable model for importance")
    return dataclasses.replace(importance_from_score(frame, features), note=note)


def _training_dataset(uri: str, model: str, version: str, dest: Path) -> tuple[str, Path] | None:
    from watchkeeper.core.registry.client import open_registry

    registry = open_registry(uri)
    try:
        mv = registry.get_version(model, version)
        if not mv.run_id:
            return None
        lineage = registry.lineage(mv.run_id, artifacts=False)
        training = [d for d in lineage.datasets if d.context == "training"]
        # a version's own training data is preferred over the shared reference it also logs
        training.sort(key=lambda d: (not d.name.endswith("-training"), d.name))
        for ds in training:
            try:
                source = json.loads(ds.source).get("uri", "")
            except (ValueError, AttributeError):
                continue
            if "/artifacts/" not in source:
                continue
            path = source.rsplit("/artifacts/", 1)[1]  # relative to the run's artifacts
            return ds.name, registry.download_artifact(mv.run_id, path, dest)
        return None
    finally:
        registry.close()


def run_skew(entry: ModelEntry, version: str) -> SkewResult | None:
    """Skew of ``version``'s training dataset against its first :data:`SERVING_DAYS` served.

    ``None`` when the spec names no registry or the version logged no readable dataset.
    """
    import pyarrow.parquet as pq

    from watchkeeper.core.evaluation.data import read_events
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    spec = spec_of(entry)
    uri = registry_uri_of(spec)
    if uri is None or entry.evidence is not None:
        return None
    cols = spec.telemetry.columns
    features = list(cols.features)
    with tempfile.TemporaryDirectory(prefix="wk-skew-") as tmp:
        found = _training_dataset(uri, spec.model.name, version, Path(tmp))
        if found is None:
            return None
        name, path = found
        training = pq.read_table(path)
    with READ_LOCK, open_source_of(entry) as src:
        first = src.read(
            TelemetryQuery(model=spec.model.name, versions=(version,)), columns=["ts"]
        )["ts"]
        if len(first) == 0:
            return None
        import pyarrow.compute as pc

        start = pc.min(first).as_py()
        start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
        end = start + dt.timedelta(days=SERVING_DAYS)
        serving = read_events(
            src, model=spec.model.name, versions=[version], start=start, end=end,
            columns=features,
        )  # fmt: skip
    return training_serving_skew(
        training.select([f for f in features if f in training.column_names]),
        serving,
        model=spec.model.name,
        version=version,
        dataset=name,
        serving_span=f"{start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}",
        features=[f for f in features if f in training.column_names],
        categorical=cols.categorical,
        numerical=cols.numerical,
        settings=spec.drift,
    )
