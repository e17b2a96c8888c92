"""What Watchkeeper knows of a model registry: frozen values, no MLflow types.

A :class:`RegistrySnapshot` is the whole answer of one refresh: every registered model with
its aliases and versions, and per version its :class:`Lineage` (the run's params, metrics,
tags, dataset inputs and, when listed, artifacts). Versions are strings (``"1"``), as MLflow
and CONTRACT.md write them. Times are timezone-aware UTC datetimes.

``to_dict``/``from_dict`` give the JSON form printed by ``watchkeeper registry show --json``
and stored by the metadata cache; ``from_dict(to_dict(x)) == x``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from watchkeeper.core.times import parse_time

__all__ = [
    "Artifact",
    "DatasetInput",
    "Lineage",
    "ModelVersion",
    "RegisteredModel",
    "RegistrySnapshot",
]

GIT_COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"
SOURCE_NAME_TAG = "mlflow.source.name"
RUN_NAME_TAG = "mlflow.runName"
#: A run tag naming the run-relative path of the reference data (Parquet) for drift profiles.
REFERENCE_TAG = "watchkeeper.reference.path"


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted((mapping or {}).items())))


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str | None) -> dt.datetime | None:
    return parse_time(value) if value else None


def from_millis(ms: int | None) -> dt.datetime | None:
    """MLflow's epoch milliseconds as an aware UTC datetime (``None`` stays ``None``)."""
    if ms is None or ms == 0:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


@dataclass(frozen=True)
class DatasetInput:
    """A dataset logged as a run input (``mlflow.log_input``): what trained or tested it."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str | None = None  # the input tag ``mlflow.data.context``: training, eval…

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DatasetInput:
        return cls(d["name"], d["digest"], d["source_type"], d["source"], d.get("context"))


@dataclass(frozen=True)
class Artifact:
    """One entry of a run's artifact tree; ``path`` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "is_dir": self.is_dir, "size": self.size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Artifact:
        return cls(d["path"], bool(d["is_dir"]), d.get("size"))


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from: its run and everything the run recorded.

    ``artifacts`` is ``None`` when they were not listed (listing costs one call per run, as
    MLflow has no batch call for it), and a tuple (maybe empty) when they were.
    """

    run_id: str
    experiment_id: str | None = None
    run_name: str | None = None
    status: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    user: str | None = None
    artifact_uri: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # NaN/inf -> None
    tags: Mapping[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetInput, ...] = ()
    artifacts: tuple[Artifact, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "metrics", _frozen(self.metrics))
        object.__setattr__(self, "tags", _frozen(self.tags))
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if self.artifacts is not None:
            object.__setattr__(self, "artifacts", tuple(self.artifacts))

    @property
    def git_commit(self) -> str | None:
        """The code commit MLflow recorded (``mlflow.source.git.commit``)."""
        return self.tags.get(GIT_COMMIT_TAG)

    @property
    def source_name(self) -> str | None:
        return self.tags.get(SOURCE_NAME_TAG)

    @property
    def reference_path(self) -> str | None:
        """Run-relative path of the reference data, from the run's tag or its artifacts."""
        tagged = self.tags.get(REFERENCE_TAG)
        if tagged:
            return tagged
        for art in self.artifacts or ():
            if not art.is_dir and art.path.endswith(".parquet") and "reference" in art.path:
                return art.path
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "run_name": self.run_name,
            "status": self.status,
            "start_time": _time(self.start_time),
            "end_time": _time(self.end_time),
            "user": self.user,
            "git_commit": self.git_commit,
            "artifact_uri": self.artifact_uri,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "datasets": [d.to_dict() for d in self.datasets],
            "artifacts": None if self.artifacts is None else [a.to_dict() for a in self.artifacts],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Lineage:
        arts = d.get("artifacts")
        return cls(
            run_id=d["run_id"],
            experiment_id=d.get("experiment_id"),
            run_name=d.get("run_name"),
            status=d.get("status"),
            start_time=_parse_time(d.get("start_time")),
            end_time=_parse_time(d.get("end_time")),
            user=d.get("user"),
            artifact_uri=d.get("artifact_uri"),
            params=d.get("params") or {},
            metrics=d.get("metrics") or {},
            tags=d.get("tags") or {},
            datasets=tuple(DatasetInput.from_dict(x) for x in d.get("datasets") or ()),
            artifacts=None if arts is None else tuple(Artifact.from_dict(a) for a in arts),
        )


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, with the aliases that point at it."""

    model: str
    version: str
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
    description: str = ""
    status: str = "READY"
    stage: str = "None"
    source: str = ""
    run_id: str | None = None
    user_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    lineage: Lineage | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", str(self.version))
        object.__setattr__(self, "tags", _frozen(self.tags))
        object.__setattr__(self, "aliases", tuple(sorted(self.aliases)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created": _time(self.created),
            "updated": _time(self.updated),
            "description": self.description,
            "status": self.status,
            "stage": self.stage,
            "source": self.source,
            "run_id": self.run_id,
            "user_id": self.user_id,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
            "lineage": None if self.lineage is None else self.lineage.to_dict(),
        }

    @classmethod
    def from_dict(cls, model: str, d: Mapping[str, Any]) -> ModelVersion:
        lin = d.get("lineage")
        return cls(
            model=model,
            version=d["version"],
            created=_parse_time(d.get("created")),
            updated=_parse_time(d.get("updated")),
            description=d.get("description") or "",
            status=d.get("status") or "READY",
            stage=d.get("stage") or "None",
            source=d.get("source") or "",
            run_id=d.get("run_id"),
            user_id=d.get("user_id"),
            tags=d.get("tags") or {},
            aliases=tuple(d.get("aliases") or ()),
            lineage=None if lin is None else Lineage.from_dict(lin),
        )


def _version_key(v: ModelVersion) -> tuple[int, str]:
    return (int(v.version), v.version) if v.version.isdigit() else (1 << 62, v.version)


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: its aliases (``{"champion": "1"}``) and versions, oldest first."""

    name: str
    description: str = ""
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    versions: tuple[ModelVersion, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _frozen(self.tags))
        object.__setattr__(self, "aliases", _frozen({k: str(v) for k, v in self.aliases.items()}))
        object.__setattr__(self, "versions", tuple(sorted(self.versions, key=_version_key)))

    def version(self, version: str | int) -> ModelVersion | None:
        wanted = str(version)
        return next((v for v in self.versions if v.version == wanted), None)

    def by_alias(self, alias: str) -> ModelVersion | None:
        target = self.aliases.get(alias)
        return None if target is None else self.version(target)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "created": _time(self.created),
            "updated": _time(self.updated),
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "versions": [v.to_dict() for v in self.versions],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegisteredModel:
        name = d["name"]
        return cls(
            name=name,
            description=d.get("description") or "",
            created=_parse_time(d.get("created")),
            updated=_parse_time(d.get("updated")),
            tags=d.get("tags") or {},
            aliases=d.get("aliases") or {},
            versions=tuple(ModelVersion.from_dict(name, v) for v in d.get("versions") or ()),
        )


@dataclass(frozen=True)
class RegistrySnapshot:
    """Everything one refresh saw, when it saw it, and whether it is a stale (cached) answer.

    ``uri`` never carries a password. ``calls`` is the number of round trips the refresh
    made (0 for an answer from the cache). ``stale_reason`` says why the live registry
    could not answer.
    """

    uri: str
    fetched_at: dt.datetime
    models: tuple[RegisteredModel, ...] = ()
    stale: bool = False
    stale_reason: str | None = None
    calls: int = 0
    model_filter: str | None = None
    lineage: bool = True  # False: versions were read without their runs

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(sorted(self.models, key=lambda m: m.name)))

    def model(self, name: str) -> RegisteredModel | None:
        return next((m for m in self.models if m.name == name), None)

    def only(self, name: str) -> RegistrySnapshot:
        """The same snapshot restricted to one model (absent model: no models)."""
        return replace(
            self, models=tuple(m for m in self.models if m.name == name), model_filter=name
        )

    def as_stale(self, reason: str) -> RegistrySnapshot:
        return replace(self, stale=True, stale_reason=reason, calls=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "fetched_at": _time(self.fetched_at),
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "model_filter": self.model_filter,
            "lineage": self.lineage,
            "calls": self.calls,
            "models": [m.to_dict() for m in self.models],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegistrySnapshot:
        fetched = _parse_time(d["fetched_at"])
        assert fetched is not None
        return cls(
            uri=d["uri"],
            fetched_at=fetched,
            models=tuple(RegisteredModel.from_dict(m) for m in d.get("models") or ()),
            stale=bool(d.get("stale")),
            stale_reason=d.get("stale_reason"),
            calls=int(d.get("calls") or 0),
            model_filter=d.get("model_filter"),
            lineage=bool(d.get("lineage", True)),
        )
