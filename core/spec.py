"""The monitor spec: one TOML file per model saying how to watch it.

Sections (CONTRACT.md): ``[model]``, ``[telemetry]`` with its column mapping,
``[reference]``, ``[drift]``, ``[[slices]]``, ``[gate]``, ``[governance]``. Validation is
strict: an unknown key or a bad value is refused with a message naming the key path and the
value (and a close match for a misspelt key), so a typo never silently turns a check off.
Relative paths inside a spec are relative to the spec file (``base_dir``).

Later work extends the sections; every section model forbids unknown keys.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from watchkeeper.core.errors import SpecError, TelemetryError, WatchkeeperError
from watchkeeper.core.telemetry.contract import DEFAULT_VERSION, ColumnKind, ColumnMapping
from watchkeeper.core.telemetry.windows import WindowSpec, parse_window
from watchkeeper.core.times import as_utc

__all__ = [
    "DriftSection",
    "GateSection",
    "GovernanceSection",
    "HealthSection",
    "ModelSection",
    "MonitorSpec",
    "ReferenceSection",
    "SliceSpec",
    "TelemetrySection",
    "load_spec",
    "parse_spec",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


NonEmpty = Annotated[str, Field(min_length=1)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


def _window(value: Any) -> Any:
    """A window key parsed once, at load: ``"7d"`` becomes a :class:`WindowSpec`."""
    if value is None or isinstance(value, WindowSpec):
        return value
    if not isinstance(value, str):
        raise ValueError(f'a window is text such as "1d", "6h" or "5000rows", got {value!r}')
    if not value.strip():
        raise ValueError("an empty window: leave the key out for one window over everything")
    try:
        return parse_window(value)
    except WatchkeeperError as exc:  # the windows module's message names the problem
        raise ValueError(str(exc)) from None


#: A window as the spec writes it (``"1d"``, ``"6h"``, ``"7d"``, ``"5000rows"``), parsed and
#: bounded at load; analyses receive the parsed value, never the text.
Window = Annotated[WindowSpec, BeforeValidator(_window)]


def _duration(value: Any) -> Any:
    """A length of time as the spec writes it (``"30m"``, ``"6h"``, ``"1d"``): a window
    key that may not count rows."""
    parsed = _window(value)
    if parsed is not None and parsed.kind != "time":
        raise ValueError(f'a length of time such as "30m", "6h" or "1d", not {value!r}')
    return parsed


class TimeOnly:
    """Marks a :data:`Duration` for the spec reference (no ``rows``)."""


#: A length of time (``"30m"``, ``"6h"``, ``"1d"``), parsed at load; never rows.
Duration = Annotated[WindowSpec, BeforeValidator(_duration), TimeOnly()]


class ModelSection(_Section):
    name: NonEmpty
    registry_uri: str | None = None
    task: Literal["binary", "multiclass", "regression"] = "binary"
    champion_alias: NonEmpty = "champion"
    challenger_alias: NonEmpty = "challenger"

    @field_validator("registry_uri")
    @classmethod
    def _usable_uri(cls, value: str | None) -> str | None:
        from watchkeeper.core.registry.credentials import uri_problem

        problem = None if value is None else uri_problem(value.strip())
        if problem is not None:
            raise ValueError(problem)
        return value


class ColumnsSection(_Section):
    """Which source column plays which role; ``""`` marks a role the source lacks, and an
    optional role left out is absent when the source has no column of its default name."""

    request_id: str | None = "request_id"
    ts: NonEmpty = "ts"
    model: str | None = "model"
    model_version: str | None = "model_version"
    score: str | None = "score"
    prediction: str | None = "prediction"
    label: str | None = "label"
    label_ts: str | None = "label_ts"
    features: tuple[NonEmpty, ...] = ()
    extras: tuple[NonEmpty, ...] = ()
    numerical: tuple[NonEmpty, ...] = ()
    categorical: tuple[NonEmpty, ...] = ()
    class_probabilities: dict[NonEmpty, NonEmpty] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kinds_disjoint(self) -> ColumnsSection:
        both = sorted(set(self.numerical) & set(self.categorical))
        if both:
            raise ValueError(f"{both[0]!r} is listed as both numerical and categorical")
        return self

    @model_validator(mode="after")
    def _roles_consistent(self) -> ColumnsSection:
        # the mapping refuses a column playing two roles, a feature that is also a role…:
        # refused here, at load, rather than when the first analysis opens the source
        try:
            self.mapping()
        except TelemetryError as exc:
            raise ValueError(str(exc)) from None
        if self.features:
            stray = [n for n in (*self.numerical, *self.categorical) if n not in self.features]
            if stray:
                raise ValueError(f"{stray[0]!r} has a kind but is not in features")
        return self

    def mapping(self, version: str | None = None) -> ColumnMapping:
        """The telemetry contract's column mapping this section describes; ``version``
        (``[telemetry] version``) is the one version of a source without a version column."""
        c = self
        kinds = {name: ColumnKind.NUMERICAL for name in c.numerical}
        kinds.update({name: ColumnKind.CATEGORICAL for name in c.categorical})
        return ColumnMapping(
            request_id=c.request_id or None,
            ts=c.ts,
            model=c.model or None,
            model_version=None if version is not None else (c.model_version or None),
            default_version=version or DEFAULT_VERSION,
            score=c.score or None,
            prediction=c.prediction or None,
            label=c.label or None,
            label_ts=c.label_ts or None,
            features=c.features,
            extras=c.extras,
            kinds=kinds,
            class_probabilities=dict(c.class_probabilities),
        )


class TelemetrySection(_Section):
    """Where the events are and how their columns map. ``version`` names the one model
    version of a source without a version column (left out: ``"1"`` for such a source)."""

    source: NonEmpty
    version: NonEmpty | None = None
    columns: ColumnsSection = ColumnsSection()

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _one_version_source(self) -> TelemetrySection:
        mapped = self.columns.model_version
        if self.version is not None and "model_version" in self.columns.model_fields_set and mapped:
            raise ValueError(
                f"version {self.version!r} is for a source without a version column, but "
                f"columns.model_version maps one ({mapped!r}): keep one of the two"
            )
        return self

    def mapping(self) -> ColumnMapping:
        """The telemetry contract's column mapping this section describes."""
        return self.columns.mapping(self.version)


class ReferenceSection(_Section):
    """Where the reference comes from: a baseline window, a file, or a registry artifact.

    A window is half-open like every time range in Watchkeeper: ``start`` inclusive, ``end``
    exclusive; a date means midnight UTC. January is ``start = 2026-01-01``,
    ``end = 2026-02-01``.
    """

    kind: Literal["window", "file", "artifact"] = "window"
    version: str | None = None
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None
    path: str | None = None
    artifact: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _needs_its_fields(self) -> ReferenceSection:
        if self.kind == "window" and (self.start is None or self.end is None):
            raise ValueError("a window reference needs both start and end")
        if self.kind == "file" and not self.path:
            raise ValueError("a file reference needs path")
        if self.kind == "artifact" and not self.artifact:
            raise ValueError("an artifact reference needs artifact (its path in the run)")
        if (
            self.start is not None
            and self.end is not None
            and as_utc(self.end) <= as_utc(self.start)
        ):
            raise ValueError("end must be after start")
        return self


class DriftSection(_Section):
    """Thresholds; defaults are the field's common values (ARCHITECTURE.md).

    ``window`` is the default window of the drift views and ``drift --spec``; left out, one
    window over the whole period.
    """

    window: Window | None = None
    bins: Annotated[int, Field(ge=2, le=1000)] = 10
    max_categories: Annotated[int, Field(ge=1)] = 50
    high_cardinality: Annotated[int, Field(ge=2)] = 100
    # "calibrated": the cut-offs come from how far PSI moves between windows of the same
    # size within the reference (core/drift/calibrate.py); "absolute": the fixed psi_watch /
    # psi_drift (and high-cardinality) cut-offs below, for every feature and window size.
    thresholds: Literal["calibrated", "absolute"] = "calibrated"
    # calibrated: `watch` above the reference's own `calibration_quantile` of PSI at the
    # window's row count (and psi_watch_floor); `drift` above calibration_margin times it
    # (and psi_floor). Significance after the correction is required in both modes.
    calibration_quantile: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.99
    calibration_margin: Annotated[float, Field(ge=1.0)] = 1.5
    psi_watch_floor: NonNegative = 0.05
    psi_floor: NonNegative = 0.1
    psi_watch: NonNegative = 0.1
    psi_drift: NonNegative = 0.2
    # Categoricals with more than `high_cardinality` reference values spread their mass over
    # more bins, so sampling noise alone gives a larger PSI: they get their own thresholds.
    high_cardinality_psi_watch: NonNegative = 0.2
    high_cardinality_psi_drift: NonNegative = 0.4
    p_value: Probability = 0.05
    # The significance test: "chi2" (homogeneity test on the binned counts, every feature)
    # or "ks" (exact two-sample KS on numerical features; chi-square on categoricals).
    test: Literal["chi2", "ks"] = "chi2"
    correction: Literal["holm", "bonferroni", "fdr_bh", "none"] = "holm"
    min_rows: Annotated[int, Field(ge=1)] = 500
    # `drift` only after this many windows in a row meet the drift condition (else `watch`).
    persistence: Annotated[int, Field(ge=1)] = 1
    exact_sample_limit: Annotated[int, Field(ge=100)] = 100_000

    @model_validator(mode="after")
    def _ordered(self) -> DriftSection:
        if self.psi_drift < self.psi_watch:
            raise ValueError("psi_drift must be at least psi_watch")
        if self.psi_floor < self.psi_watch_floor:
            raise ValueError("psi_floor must be at least psi_watch_floor")
        if self.high_cardinality_psi_drift < self.high_cardinality_psi_watch:
            raise ValueError(
                "high_cardinality_psi_drift must be at least high_cardinality_psi_watch"
            )
        return self


class RangePredicate(_Section):
    # TOML has nan and inf literals; a bound of either selects nothing or everything, and
    # breaks the SQL and Excel renderings of the slice: refused here, with the key's path.
    min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    max: Annotated[float, Field(allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> RangePredicate:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class SliceSpec(_Section):
    """A named predicate: every key of ``where`` must hold (a conjunction).

    A value is an equality (``channel = "web"``), a list for membership
    (``country = ["DE", "FR"]``), or a range (``amount = {min = 100, max = 1000}``,
    min inclusive, max exclusive).
    """

    name: NonEmpty
    where: dict[str, Any]
    critical: bool = False
    description: str = ""

    @field_validator("where", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not value:
            raise ValueError('a slice needs a table of conditions, e.g. { channel = "web" }')
        out: dict[str, Any] = {}
        for column, condition in value.items():
            values = condition if isinstance(condition, list) else [condition]
            if any(isinstance(v, float) and math.isnan(v) for v in values):
                raise ValueError(f"the value for {column!r} is nan, which equals nothing")
            if isinstance(condition, (str, int, float, bool)):
                out[column] = condition
            elif isinstance(condition, list):
                if not condition:
                    raise ValueError(f"the list of values for {column!r} is empty")
                if not all(isinstance(v, (str, int, float, bool)) for v in condition):
                    raise ValueError(f"the values for {column!r} must be plain values")
                out[column] = tuple(condition)
            elif isinstance(condition, dict):
                try:
                    out[column] = RangePredicate.model_validate(condition)
                except ValidationError as exc:
                    reason = "; ".join(
                        (".".join(map(str, e["loc"])) + ": " if e["loc"] else "")
                        + e["msg"].removeprefix("Value error, ")
                        + (f", got {e['input']!r}" if e["type"] == "finite_number" else "")
                        for e in exc.errors()
                    )
                    raise ValueError(f"range for {column!r}: {reason}") from None
            else:
                raise ValueError(f"the condition on {column!r} must be a value, a list or a range")
        return out


class GateSection(_Section):
    """The promotion policy the challenger must meet."""

    primary_metric: Literal[
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "f1",
        "precision",
        "recall",
        "mae",
        "rmse",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "weighted_f1",
    ] = "roc_auc"
    threshold: Probability = 0.5
    min_improvement: float = 0.0
    alpha: Probability = 0.05
    max_critical_slice_drop: NonNegative = 0.0
    min_labeled: Annotated[int, Field(ge=1)] = 1000
    cost_false_positive: NonNegative | None = None
    cost_false_negative: NonNegative | None = None
    # Latency budget: the challenger's 95th percentile of `latency_column` (an extra column)
    # over the shadow window must not exceed this many milliseconds. None: no such criterion.
    max_latency_p95_ms: NonNegative | None = None
    latency_column: NonEmpty = "latency_ms"
    # How long before or after the challenger's row the champion's row of the same request
    # may be logged: a shadow deployment that scores asynchronously (seconds, minutes, or a
    # nightly batch) logs its row later. The champion's rows are read this far beyond the
    # shadow window, so the first requests of the period keep their pairs.
    pairing_margin: Duration = parse_window("1d")

    @field_serializer("pairing_margin")
    def _as_written(self, margin: WindowSpec) -> str | None:
        return margin.text  # evidence and approvals keep the policy as the spec says it


#: Metrics the health rule can use without labels (confidence-based estimation).
ESTIMABLE_METRICS = (
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "brier",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
)
#: The metrics of a multiclass model ([gate] primary_metric, [health] metric).
MULTICLASS_METRIC_NAMES = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "roc_auc",
    "log_loss",
    "brier",
)


class HealthSection(_Section):
    """Model health per window: ``alert`` when drift AND a performance move last
    ``persistence`` windows in a row; ``watch`` for either alone (core.evaluation.health).

    Performance is the realized ``metric`` where a window has ``min_labeled`` labeled events,
    else (``estimate = true``) the confidence-based estimate calibrated on the reference. It
    has *moved* when it is worse than the reference's value by more than ``tolerance``
    (with ``use_interval``: the whole interval is). ``window`` defaults to ``7d`` — not to
    ``[drift] window``: a light judges performance too, and a day of a typical log holds too
    few labels for that; ``metric`` defaults to ``[gate] primary_metric``.
    """

    metric: (
        Literal[
            "roc_auc",
            "pr_auc",
            "precision",
            "recall",
            "f1",
            "accuracy",
            "brier",
            "log_loss",
            "balanced_accuracy",
            "macro_f1",
            "weighted_f1",
        ]
        | None
    ) = None
    tolerance: NonNegative = 0.02
    persistence: Annotated[int, Field(ge=1)] = 2
    window: Window | None = None
    min_labeled: Annotated[int, Field(ge=1)] = 200
    estimate: bool = True
    use_interval: bool = False

    @model_validator(mode="after")
    def _estimable(self) -> HealthSection:
        if self.estimate and self.metric is not None and self.metric not in ESTIMABLE_METRICS:
            raise ValueError(
                f"{self.metric} cannot be estimated without labels; choose one of "
                f"{', '.join(ESTIMABLE_METRICS)} or set estimate = false"
            )
        return self


class GovernanceSection(_Section):
    database: str | None = None
    require_verified_identity: bool = False


class MonitorSpec(_Section):
    """A validated monitor spec. ``base_dir`` is where relative paths start."""

    model: ModelSection
    telemetry: TelemetrySection
    reference: ReferenceSection | None = None
    drift: DriftSection = DriftSection()
    slices: tuple[SliceSpec, ...] = ()
    gate: GateSection = GateSection()
    health: HealthSection = HealthSection()
    governance: GovernanceSection = GovernanceSection()
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _multiclass_has_classes(self) -> MonitorSpec:
        classes = self.telemetry.columns.class_probabilities
        if self.model.task == "multiclass" and not classes:
            raise ValueError(
                'task = "multiclass" needs [telemetry.columns] class_probabilities, one '
                'probability column per class: { low = "p_low", high = "p_high", ... }'
            )
        metrics = {
            "[gate] primary_metric": self.gate.primary_metric,
            "[health] metric": self.health.metric,
        }
        for key, metric in metrics.items():
            if metric is None:
                continue
            multiclass_only = metric in ("balanced_accuracy", "macro_f1", "weighted_f1")
            if (self.model.task == "multiclass") != (metric in MULTICLASS_METRIC_NAMES) and (
                self.model.task == "multiclass" or multiclass_only
            ):
                raise ValueError(
                    f"{key} = {metric!r} is not a metric of a {self.model.task} model"
                    + (
                        f"; choose one of {', '.join(MULTICLASS_METRIC_NAMES)}"
                        if self.model.task == "multiclass"
                        else ""
                    )
                )
        if classes and self.model.task != "multiclass":
            raise ValueError(
                f"class_probabilities is a multiclass score, but the task is "
                f'{self.model.task!r}: set task = "multiclass" or leave the key out'
            )
        return self

    @model_validator(mode="after")
    def _unique_slice_names(self) -> MonitorSpec:
        names = [s.name for s in self.slices]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"slice name {name!r} is used more than once")
        return self

    def reference_range(self) -> tuple[dt.datetime, dt.datetime] | None:
        """The reference window as UTC datetimes (start inclusive, end exclusive)."""
        ref = self.reference
        if ref is None or ref.start is None or ref.end is None:
            return None
        return as_utc(ref.start), as_utc(ref.end)

    def resolve_path(self, path: str) -> Path:
        """A path from the spec, made absolute against the spec's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where ``loc`` points, to suggest a close match for a typo."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        current = None
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                current = candidate
                break
    return list(getattr(current, "model_fields", {}))


def _describe(error: ErrorDetails) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
    path = path.replace(".[", "[")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"{path}: unknown key"
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(MonitorSpec, loc), n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        return message
    if kind == "missing":
        return f"{path}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    shown = error.get("input")
    if kind.startswith("value_error") or isinstance(shown, dict):
        return f"{path}: {message}" if path else message
    return f"{path}: {message}, got {shown!r}"


def parse_spec(text: str, *, base_dir: Path | str = ".", origin: str = "<spec>") -> MonitorSpec:
    """Parse and validate spec text; raise :class:`SpecError` naming every bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin}: not valid TOML: {exc}") from None
    try:
        return MonitorSpec.model_validate({**data, "base_dir": Path(base_dir)})
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        raise SpecError(f"{origin}: " + "; ".join(problems)) from None


def load_spec(path: Path | str) -> MonitorSpec:
    """Read a spec file; paths inside it are relative to its folder."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, not a spec file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: a spec must be UTF-8 text") from None
    return parse_spec(text, base_dir=path.resolve().parent, origin=str(path))
