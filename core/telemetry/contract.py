"""What a prediction event is, and how a user's own columns map onto it.

One row of telemetry is one scored request: a request id, a UTC timestamp, the model and
model version that scored it, its features, its prediction (a score / probability, a class
or a value), a label that may arrive days later (nullable) with its arrival time, and any
extra columns (latency, amount...). A challenger scored in shadow is a second row with the
same request id and another version. Readers return Arrow record batches in which the
*role* columns carry their canonical names (``CANONICAL_ROLES``) whatever the source calls
them, while features and extras keep the user's names, so nothing needs renaming at the
source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.times import as_utc

#: Canonical names of the roles a column can play, in the order readers emit them.
CANONICAL_ROLES: tuple[str, ...] = (
    "request_id",
    "ts",
    "model",
    "model_version",
    "score",
    "prediction",
    "label",
    "label_ts",
)
#: Roles a source must have; the others may be absent (mapped to ``None``). A source
#: without a version column is one version, :attr:`ColumnMapping.default_version`; one
#: without a request id is read all the same, but cannot be checked for duplicates or
#: paired with a challenger's shadow rows.
REQUIRED_ROLES: tuple[str, ...] = ("ts",)
#: The role of a class's probability column (a multiclass score), kept under its own name.
CLASS_PROBABILITY = "class_probability"
#: The version of every row of a source without a version column, unless the mapping says.
DEFAULT_VERSION = "1"


class ColumnKind(StrEnum):
    """How a column is treated by analyses. Inferred from its type, overridable."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    TIMESTAMP = "timestamp"
    ID = "id"


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column plays which role, and which columns are features.

    Each role names a column of the source, or ``None`` when the source has no such column
    (``model`` is ``None`` for a table holding one model only). A source without a
    ``model_version`` column (``None``, or the default name and no such column) holds one
    version, ``default_version``: readers emit it as the ``model_version`` column and a
    filter on versions selects every row or none. ``features`` empty means
    "every column that plays no role and is not an extra". ``kinds`` overrides inferred
    kinds by source column name (e.g. an integer ``hour_of_day`` treated as categorical).
    """

    request_id: str | None = "request_id"
    ts: str = "ts"
    model: str | None = "model"
    model_version: str | None = "model_version"
    score: str | None = "score"
    prediction: str | None = "prediction"
    label: str | None = "label"
    label_ts: str | None = "label_ts"
    features: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    kinds: Mapping[str, ColumnKind] = field(default_factory=dict)
    default_version: str = DEFAULT_VERSION
    #: A multiclass score: ``{class: source column}``, one probability column per class.
    #: Readers emit these columns under the source's names (like extras), as doubles.
    class_probabilities: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for role in REQUIRED_ROLES:
            if not getattr(self, role):
                raise TelemetryError(f"the column mapping must name a column for {role!r}")
        if not self.default_version.strip():
            raise TelemetryError("the version of a source without a version column is empty")
        roles = self.role_columns()
        seen: dict[str, str] = {}
        for role, column in roles.items():
            if column in seen:
                raise TelemetryError(
                    f"column {column!r} is mapped to both {seen[column]!r} and {role!r}"
                )
            seen[column] = role
        self._check_class_probabilities(seen)
        for column in (*self.features, *self.extras):
            if column in seen:
                raise TelemetryError(
                    f"column {column!r} is mapped to role {seen[column]!r} and cannot also "
                    "be a feature or an extra"
                )
            # A feature may not shadow a canonical role name in the output batches.
            if column in CANONICAL_ROLES:
                raise TelemetryError(
                    f"column {column!r} has the name of the role {column!r}; map that role "
                    "to it or rename nothing and leave it out of features/extras"
                )
        if len(set(self.features)) != len(self.features):
            raise TelemetryError("a feature is listed twice in the column mapping")
        object.__setattr__(self, "kinds", {k: ColumnKind(v) for k, v in self.kinds.items()})

    def _check_class_probabilities(self, roles: Mapping[str, str]) -> None:
        probabilities = {str(k): v for k, v in self.class_probabilities.items()}
        object.__setattr__(self, "class_probabilities", probabilities)
        if not probabilities:
            return
        if len(probabilities) < 2:
            raise TelemetryError(
                "a multiclass score needs a probability column per class, two or more"
            )
        columns = list(probabilities.values())
        for klass, column in probabilities.items():
            if not klass.strip():
                raise TelemetryError("a class of class_probabilities has an empty name")
            if columns.count(column) > 1:
                raise TelemetryError(f"column {column!r} holds the probability of two classes")
            if column in roles:
                raise TelemetryError(
                    f"column {column!r} is mapped to role {roles[column]!r} and cannot also "
                    f"be the probability of class {klass!r}"
                )
            if column in (*self.features, *self.extras) or column in CANONICAL_ROLES:
                raise TelemetryError(
                    f"column {column!r}, the probability of class {klass!r}, is also a "
                    "feature, an extra or named like a role"
                )

    def role_columns(self) -> dict[str, str]:
        """``{role: source column}`` for the roles this source has, in canonical order."""
        out = {}
        for role in CANONICAL_ROLES:
            column = getattr(self, role)
            if column:
                out[role] = column
        return out


@dataclass(frozen=True)
class TelemetryQuery:
    """Which events to read: one model, some versions, a half-open UTC time range, and
    (for the few rows a view lists) some request ids.

    ``start`` is inclusive and ``end`` exclusive; naive datetimes are UTC. Empty
    ``versions`` means every version, empty ``request_ids`` every request. ``model`` is
    ignored by sources mapped with ``model=None``.
    """

    model: str | None = None
    versions: tuple[str, ...] = ()
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    request_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, as_utc(value))
        if self.start and self.end and self.end <= self.start:
            raise TelemetryError(
                f"the time range is empty: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()}"
            )
        object.__setattr__(self, "versions", tuple(str(v) for v in self.versions))
        object.__setattr__(self, "request_ids", tuple(str(r) for r in self.request_ids))


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a source as Watchkeeper sees it.

    ``constant`` is set for the ``model_version`` of a source without a version column:
    the column is not read (``source_name`` is empty) but emitted with that one value.
    """

    name: str  # name in the output batches (canonical for roles, the source's otherwise)
    source_name: str  # name in the source ("" for a constant column)
    arrow_type: str  # e.g. "double", "string", "timestamp[us, tz=UTC]"
    kind: ColumnKind
    role: str | None  # canonical role, "feature", "extra" or CLASS_PROBABILITY
    constant: str | None = None


@dataclass(frozen=True)
class TelemetrySchema:
    """The columns a source offers under its mapping, in output order."""

    columns: tuple[ColumnInfo, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def features(self) -> tuple[ColumnInfo, ...]:
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def constant_version(self) -> str | None:
        """The one version of a source without a version column (None: it has one)."""
        return next((c.constant for c in self.columns if c.name == "model_version"), None)

    @property
    def has_request_id(self) -> bool:
        return "request_id" in self.names

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class DuplicateEvent:
    """A (request id, model version) pair that occurs more than once."""

    request_id: str
    model_version: str
    count: int


def version_column(mapping: ColumnMapping, names: Collection[str]) -> str | None:
    """The source column holding versions, or None for a source of one version.

    A version column left at its default name is optional, as every optional role is: a
    source without a ``model_version`` column is one version. A column named otherwise
    must exist (the schema says so when it does not).
    """
    column = mapping.model_version
    if not column or (column == "model_version" and column not in names):
        return None
    return column
