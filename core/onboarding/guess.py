"""Guessing what each column of someone else's prediction log is, with a reason for each.

``watchkeeper init`` reads a bounded sample — the source's schema and its first
:data:`SAMPLE_ROWS` rows, through the telemetry readers — and guesses every column's role
(request id, timestamp, model, version, score, prediction, label, label time, feature,
extra) and, for features, its kind. Names decide first (``event_time``, ``y_true``,
``proba``…), values second (a column unique in the sample is an id; values that parse as
times are times; numbers within [0, 1] are probabilities). Every guess carries the words
that justify it, and anything ambiguous — two timestamps, no label, a score outside
[0, 1] — becomes a warning a person reads, never a silent choice.

Everything here is pure: a :class:`Sample` in, a frozen :class:`Guesses` out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES, ColumnKind
from watchkeeper.core.telemetry.inference import (
    TIMESTAMP_TYPE,
    ValueProblem,
    is_text,
    normalise,
    plain_output_type,
)

__all__ = [
    "COLUMN_USES",
    "ROLES",
    "ROLE_CHOICES",
    "SAMPLE_ROWS",
    "ColumnGuess",
    "Guesses",
    "Overrides",
    "Sample",
    "edit_kind",
    "edit_role",
    "guess_columns",
    "sample_of",
]

#: Rows read to guess from: enough for stable distinct counts, quick on any source.
SAMPLE_ROWS = 50_000
#: Roles a column can be given, in the order a spec lists them.
ROLES: tuple[str, ...] = CANONICAL_ROLES
#: A feature with at most this many distinct values in the sample can be a slice.
CATEGORY_LIMIT = 20
#: An integer feature with at most this many distinct values is read as codes.
CODE_LIMIT = 5

_TIME_NAMES = (
    "ts",
    "timestamp",
    "time",
    "datetime",
    "date",
    "event_time",
    "event_ts",
    "created_at",
    "scored_at",
    "prediction_time",
    "predicted_at",
    "request_time",
    "inference_time",
    "served_at",
    "logged_at",
    "event_date",
)
_LABEL_TIME_WORDS = (
    "label",
    "outcome",
    "feedback",
    "truth",
    "actual",
    "resolved",
    "arrival",
    "observed",
    "known",
)
_ID_NAMES = (
    "request_id",
    "id",
    "uuid",
    "event_id",
    "prediction_id",
    "inference_id",
    "transaction_id",
    "trace_id",
    "req_id",
    "row_id",
)
_MODEL_NAMES = ("model", "model_name", "model_id")
_VERSION_NAMES = ("model_version", "version", "model_ver", "modelversion", "mv")
_SCORE_WORDS = ("score", "proba", "probability", "prob", "confidence", "likelihood", "p")
_PREDICTION_WORDS = (
    "prediction",
    "pred",
    "predicted",
    "yhat",
    "y_hat",
    "y_pred",
    "decision",
    "forecast",
    "estimate",
    "output",
)
_LABEL_NAMES = (
    "label",
    "target",
    "y",
    "y_true",
    "actual",
    "outcome",
    "truth",
    "ground_truth",
    "class",
    "is_fraud",
    "churned",
    "default",
    "defaulted",
    "response",
)
_LABEL_WORDS = ("label", "target", "actual", "outcome", "truth")
_EXTRA_WORDS = (
    "latency",
    "duration",
    "elapsed",
    "ms",
    "millis",
    "seconds",
    "host",
    "server",
    "pod",
    "region_served",
    "trace",
    "span",
    "comment",
    "note",
    "text",
    "url",
)


@dataclass(frozen=True)
class Sample:
    """The first rows of a source, each column normalised to one of the readers' types.

    ``types`` are the source's own types (as its reader reports them); ``table`` holds the
    normalised values (text that parses as times stays text: :func:`guess_columns` tries).
    """

    source: str
    table: pa.Table
    types: Mapping[str, str]
    unsupported: Mapping[str, str] = field(default_factory=dict)  # name -> type

    @property
    def rows(self) -> int:
        return self.table.num_rows


@dataclass(frozen=True)
class ColumnGuess:
    """What one column is thought to be and why. ``kind`` is set for features."""

    name: str
    source_type: str
    role: str  # a canonical role, "feature", "extra", "ignored" or "class_probability"
    reason: str
    kind: ColumnKind | None = None
    distinct: int = 0
    missing: float = 0.0
    examples: tuple[str, ...] = ()
    values: tuple[object, ...] = ()  # the distinct values when there are few (slices)
    quantiles: tuple[float, ...] = ()  # quartiles of a numerical column


@dataclass(frozen=True)
class Guesses:
    """Every column's guess, the task, and what a person should look at."""

    source: str
    sample_rows: int
    columns: tuple[ColumnGuess, ...]
    task: str  # "binary" | "multiclass" | "regression" | "unknown"
    task_reason: str
    warnings: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # multiclass: the class values seen
    #: multiclass: (class, probability column) pairs, in the source's column order
    class_probabilities: tuple[tuple[str, str], ...] = ()

    def column_of(self, role: str) -> str | None:
        """The column given ``role``, or None."""
        return next((c.name for c in self.columns if c.role == role), None)

    def of_role(self, role: str) -> tuple[ColumnGuess, ...]:
        return tuple(c for c in self.columns if c.role == role)

    @property
    def features(self) -> tuple[ColumnGuess, ...]:
        return self.of_role("feature")


@dataclass(frozen=True)
class Overrides:
    """What the person said instead of a guess (``init``'s flags).

    ``roles`` maps a role to a column, or to ``""`` for "this source has none".
    ``features`` non-empty means exactly those features; ``ignore`` drops columns.
    """

    roles: Mapping[str, str] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numerical: tuple[str, ...] = ()
    task: str | None = None
    #: where the overrides came from, as the reasons say it
    origin: str = "on the command line"

    def named(self) -> tuple[str, ...]:
        """Every column the overrides name, to check they exist."""
        roles = tuple(c for c in self.roles.values() if c)
        return (
            *roles,
            *self.features,
            *self.extras,
            *self.ignore,
            *self.categorical,
            *self.numerical,
        )


#: What a column can be besides a canonical role.
COLUMN_USES: tuple[str, ...] = ("feature", "extra", "ignored")
#: Every choice a column's role can take.
ROLE_CHOICES: tuple[str, ...] = (*COLUMN_USES, *ROLES)


def edit_role(over: Overrides, guesses: Guesses, column: str, role: str) -> Overrides:
    """``over`` with ``column`` given ``role`` (a canonical role, "feature", "extra" or
    "ignored"), as a person does in the wizard's table; everything not said stays guessed.

    A canonical role the column held before is set to none (else the guesser would give it
    back); a role moved from another column frees that column to be guessed again.
    """
    if role not in ROLES and role not in COLUMN_USES:
        raise WatchkeeperError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    roles = dict(over.roles)
    before = next((c.role for c in guesses.columns if c.name == column), None)
    for r, c in list(roles.items()):
        if c == column and r != role:
            del roles[r]
    if before in ROLES and before != role:
        roles[before] = ""
    extras = tuple(c for c in over.extras if c != column)
    ignore = tuple(c for c in over.ignore if c != column)
    features = tuple(c for c in over.features if c != column)
    if role in ROLES:
        roles[role] = column
    elif role == "extra":
        extras += (column,)
    elif role == "ignored":
        ignore += (column,)
    elif before != "feature" or over.features:
        # a column the guesser set aside (an extra by its name, a freed role) stays a
        # feature only in an explicit list: the features shown, plus this one
        features = (features or tuple(c.name for c in guesses.features)) + (column,)
    return replace(over, roles=roles, extras=extras, ignore=ignore, features=features)


def edit_kind(over: Overrides, column: str, kind: ColumnKind | str) -> Overrides:
    """``over`` with the feature ``column`` read as ``kind`` (numerical or categorical)."""
    kind = ColumnKind(kind)
    categorical = tuple(c for c in over.categorical if c != column)
    numerical = tuple(c for c in over.numerical if c != column)
    if kind == ColumnKind.CATEGORICAL:
        categorical += (column,)
    else:
        numerical += (column,)
    return replace(over, categorical=categorical, numerical=numerical)


# -- reading a sample -------------------------------------------------------------------


def sample_of(source: str, head: pa.Table, *, blank_is_null: bool = False) -> Sample:
    """A :class:`Sample` from the first rows a reader returned (``TelemetrySource.head``)."""
    if not head.column_names:
        raise WatchkeeperError(f"{source}: the source has no columns")
    types = {f.name: str(f.type) for f in head.schema}
    arrays, names, unsupported = [], [], {}
    for f in head.schema:
        target = plain_output_type(f.type)
        if target is None:
            unsupported[f.name] = str(f.type)
            continue
        column = head.column(f.name).combine_chunks() if head.num_rows else pa.array([], f.type)
        try:
            arrays.append(normalise(column, target, blank_is_null=blank_is_null))
        except ValueProblem:  # a value that does not convert: keep the text, judge it later
            arrays.append(pc.cast(column, pa.string()) if not is_text(f.type) else column)
        names.append(f.name)
    return Sample(source, pa.table(arrays, names=names), types, unsupported)


# -- guessing ---------------------------------------------------------------------------


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _norm(name: str) -> str:
    return "_".join(_tokens(name))


@dataclass
class _Column:
    """What the sample says about one column (mutable while guessing)."""

    name: str
    source_type: str
    values: pa.Array
    as_time: pa.Array | None = None  # the values as timestamps, when they are times
    distinct: int = 0
    missing: float = 0.0
    examples: tuple[str, ...] = ()

    @property
    def type(self) -> pa.DataType:
        return self.values.type

    @property
    def numeric(self) -> bool:
        return pa.types.is_integer(self.type) or pa.types.is_floating(self.type)

    @property
    def present(self) -> int:
        return len(self.values) - self.values.null_count


def _describe(name: str, source_type: str, values: pa.Array) -> _Column:
    col = _Column(name, source_type, values)
    n = len(values)
    col.missing = values.null_count / n if n else 0.0
    uniques = pc.unique(values.drop_null()) if n else values
    col.distinct = len(uniques)
    col.examples = tuple(str(v) for v in uniques.slice(0, 3).to_pylist())
    if pa.types.is_timestamp(values.type):
        col.as_time = values
    elif is_text(values.type) and col.present:
        try:
            parsed = normalise(values, TIMESTAMP_TYPE, blank_is_null=True)
        except ValueProblem:
            parsed = None
        if parsed is not None and parsed.null_count == values.null_count:
            col.as_time = parsed
    return col


def _bounds(values: pa.Array) -> tuple[float, float] | None:
    finite = pc.filter(values, pc.is_finite(pc.cast(values, pa.float64())))
    if len(finite) == 0:
        return None
    mm = pc.min_max(finite).as_py()
    return float(mm["min"]), float(mm["max"])


def _is_binary(col: _Column) -> bool:
    if pa.types.is_boolean(col.type):
        return True
    if col.numeric and col.distinct <= 2 and col.present:
        vals = set(pc.unique(col.values.drop_null()).to_pylist())
        return vals <= {0, 1}
    return False


def _is_prediction(col: _Column) -> bool:
    words = set(_tokens(col.name))
    return bool(words & set(_PREDICTION_WORDS))


def _auc(score: pa.Array, outcome: pa.Array) -> float | None:
    """ROC AUC of ``score`` for a 0/1 ``outcome`` (the evaluation's own; None when undefined)."""
    import math

    import numpy as np

    from watchkeeper.core.evaluation.metrics import Prepared

    s = pc.cast(score, pa.float64()).to_numpy(zero_copy_only=False)
    y = pc.cast(outcome, pa.float64()).to_numpy(zero_copy_only=False)
    ok = np.isfinite(s) & ((y == 0) | (y == 1))
    auc = Prepared(y[ok], s[ok]).roc_auc()
    return None if math.isnan(auc) else auc


def _score_like(col: _Column) -> bool:
    return pa.types.is_floating(col.type) and col.distinct > 2


def guess_columns(sample: Sample, overrides: Overrides | None = None) -> Guesses:
    """Every column's role and kind, the task, and warnings for what is unsure.

    Overrides are taken as given (and checked to name real columns); the rest is guessed
    around them.
    """
    over = overrides or Overrides()
    names = list(sample.table.column_names)
    known = set(names) | set(sample.unsupported)
    for name in over.named():
        if name not in known:
            raise WatchkeeperError(
                f"{sample.source}: no column {name!r}; the columns are "
                + ", ".join(repr(n) for n in [*names, *sample.unsupported])
            )
    for role in over.roles:
        if role not in ROLES:
            raise WatchkeeperError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    if over.task is not None and over.task not in ("binary", "multiclass", "regression"):
        raise WatchkeeperError(f"task {over.task!r}: binary, multiclass or regression")

    cols = {
        n: _describe(n, sample.types.get(n, "?"), sample.table.column(n).combine_chunks())
        for n in names
    }
    rows = sample.rows
    roles: dict[str, tuple[str, str]] = {}  # role -> (column, reason)
    taken: dict[str, str] = {}  # column -> role/feature/extra/ignored
    reasons: dict[str, str] = {}
    warnings: list[str] = []

    def assign(role: str, column: str, reason: str) -> None:
        roles[role] = (column, reason)
        taken[column] = role
        reasons[column] = reason

    for role, column in over.roles.items():
        if column:
            assign(role, column, f"given {over.origin}")
    for column in over.ignore:
        taken[column], reasons[column] = "ignored", f"ignored {over.origin}"
    for column in over.extras:
        taken[column], reasons[column] = "extra", f"an extra {over.origin}"
    for column, type_ in sample.unsupported.items():
        taken.setdefault(column, "ignored")
        reasons.setdefault(column, f"type {type_} cannot be analysed (lists, structs…)")

    def free(role: str) -> bool:
        return role not in roles and role not in over.roles

    def open_cols() -> list[_Column]:
        return [cols[n] for n in names if n not in taken]

    # -- times: the event time, then a label arrival time --------------------------------
    times = [c for c in open_cols() if c.as_time is not None]
    if free("ts"):
        if not times:
            pass  # reported below: a source needs an event time
        else:
            named = [c for c in times if _norm(c.name) in _TIME_NAMES]
            plain = [c for c in times if not set(_tokens(c.name)) & set(_LABEL_TIME_WORDS)]
            pick = (named or plain or times)[0]
            pool = named or plain or times
            # among equals, the column with no gaps and the earliest values is the event time
            pool = sorted(pool, key=lambda c: (c.missing > 0, _first_time(c)))
            pick = pool[0]
            why = (
                "its name is a usual name for the event time, values are times"
                if _norm(pick.name) in _TIME_NAMES
                else "it holds times and no better-named time column exists"
            )
            assign("ts", pick.name, why)
            # a label's arrival time is expected beside the event time: not a doubt
            others = [c.name for c in plain if c.name != pick.name]
            if others:
                warnings.append(
                    f"several time columns ({', '.join(map(repr, [pick.name, *others]))}): "
                    f"{pick.name!r} is taken as the event time "
                    f"({'named so' if _norm(pick.name) in _TIME_NAMES else 'earliest, no gaps'});"
                    " give --ts COL if that is wrong"
                )
    if free("label_ts"):
        ts_col = roles.get("ts", (None, ""))[0]
        for c in [c for c in open_cols() if c.as_time is not None]:
            words = set(_tokens(c.name))
            if words & set(_LABEL_TIME_WORDS):
                assign(
                    "label_ts",
                    c.name,
                    "a time column named like a label's arrival"
                    + (f" (never before {ts_col!r})" if _after(c, cols.get(ts_col)) else ""),
                )
                break
            if ts_col and _after(c, cols[ts_col]) and c.missing > 0:
                assign(
                    "label_ts",
                    c.name,
                    f"times never before {ts_col!r}, some missing: like labels still to come",
                )
                break
    # time columns left over are extras: a time is not a feature to bin
    for c in open_cols():
        if c.as_time is not None:
            taken[c.name], reasons[c.name] = "extra", "another time column: kept as an extra"

    # -- keys: request id, model, version ------------------------------------------------
    if free("request_id"):
        candidates = [
            c
            for c in open_cols()
            if (is_text(c.type) or pa.types.is_integer(c.type))
            and c.distinct == c.present
            and c.present == rows
            and rows > 0
        ]
        named = [c for c in candidates if _norm(c.name) in _ID_NAMES]
        suffixed = [c for c in candidates if _tokens(c.name)[-1:] in (["id"], ["uuid"])]
        ids = named or suffixed
        if ids:
            assign("request_id", ids[0].name, "named like an id, and unique in the sample")
    if free("model"):
        for c in open_cols():
            if _norm(c.name) in _MODEL_NAMES and is_text(c.type) and c.distinct <= CATEGORY_LIMIT:
                assign("model", c.name, f"named like a model, {c.distinct} value(s)")
                break
    if free("model_version"):
        for c in open_cols():
            if (
                _norm(c.name) in _VERSION_NAMES or "version" in _tokens(c.name)
            ) and c.distinct <= 100:
                assign("model_version", c.name, f"named like a version, {c.distinct} value(s)")
                break

    # -- outcomes: label, class probabilities, score, prediction -------------------------
    if free("label"):
        labels = [
            c
            for c in open_cols()
            if _norm(c.name) in _LABEL_NAMES or set(_tokens(c.name)) & set(_LABEL_WORDS)
        ]
        if labels:
            assign("label", labels[0].name, "named like a label (ground truth)")
    class_columns = _class_probabilities(open_cols())
    probas = [cols[column] for column in class_columns.values()]
    for cls, column in class_columns.items():
        taken[column] = "class_probability"
        reasons[column] = (
            f"the probability of class {cls!r}: one of {len(class_columns)} columns in [0, 1] "
            "summing to 1 per row"
        )
    if (
        class_columns
        and "label" in roles
        and not _holds_classes(cols[roles["label"][0]], class_columns)
    ):
        column, _ = roles.pop("label")
        del taken[column]
        warnings.append(
            f"{column!r} is named like a label but its values "
            f"({', '.join(cols[column].examples)}) are not the classes of the probability "
            f"columns ({', '.join(class_columns)}); give --label COL"
        )
    if class_columns and free("prediction"):
        # the predicted class: named so, or the column that is the probabilities' arg-max
        pool = [c for c in open_cols() if _holds_classes(c, class_columns)]
        named = [c for c in pool if set(_tokens(c.name)) & set(_PREDICTION_WORDS)]
        argmax = [c for c in pool if _is_argmax(c, class_columns, cols)]
        if named or argmax:
            c = (named or argmax)[0]
            assign(
                "prediction",
                c.name,
                "named like a prediction; its values are the class names"
                if c in named
                else "class names, the most probable class of every row: the predicted class",
            )
    if class_columns and free("label"):
        pool = [c for c in open_cols() if _holds_classes(c, class_columns)]
        if pool:
            assign(
                "label",
                pool[0].name,
                "its values are the class names and it is not the predicted class",
            )
            warnings.append(
                f"the label {pool[0].name!r} was recognised by its values, not its name; give "
                "--label COL (or --label none) if it is not the ground truth"
            )
    if free("score") and not probas:
        named = [
            c
            for c in open_cols()
            if set(_tokens(c.name)) & set(_SCORE_WORDS) and c.numeric and c.distinct > 2
        ]
        if named:
            c = named[0]
            b = _bounds(c.values)
            inside = b is not None and b[0] >= 0.0 and b[1] <= 1.0
            assign(
                "score",
                c.name,
                "named like a score; values within [0, 1]" if inside else "named like a score",
            )
            if not inside and b is not None:
                warnings.append(
                    f"the score {c.name!r} runs from {b[0]:.4g} to {b[1]:.4g}, outside [0, 1]: "
                    "a binary model's metrics need probabilities (a logit or a raw margin "
                    "gives wrong calibration and threshold metrics); if it is a regression "
                    "model's value, give --task regression"
                )
    if free("label") and "score" in roles:
        # no label by name: a 0/1 column the score ranks well is the outcome it predicts;
        # one it separates perfectly is the score thresholded — a prediction, not a label
        score = cols[roles["score"][0]]
        best = max(
            (
                (auc, c)
                for c in open_cols()
                if _is_binary(c) and not _is_prediction(c)
                for auc in [_auc(score.values, c.values)]
                if auc is not None and auc < 0.999
            ),
            default=None,
            key=lambda pair: pair[0],
        )
        if best is not None and best[0] >= 0.75:
            auc, c = best
            assign(
                "label",
                c.name,
                f"0/1 values the score {score.name!r} ranks with AUC "
                f"{auc:.2f} in the sample: the outcome it predicts",
            )
            warnings.append(
                f"the label {c.name!r} was recognised by its values, not its name; give "
                "--label COL (or --label none) if it is not the ground truth"
            )
    if free("prediction"):
        for c in open_cols():
            words = set(_tokens(c.name))
            if words & set(_PREDICTION_WORDS) and not words & set(_LABEL_WORDS):
                assign("prediction", c.name, "named like a prediction")
                break

    # -- the task ------------------------------------------------------------------------
    task, task_reason, classes = _guess_task(
        cols, roles, probas, list(class_columns), over.task, warnings, over.origin
    )
    # a regression model's predicted value plays the score's role in the analyses
    regression_value = task == "regression" and "prediction" in roles
    if regression_value and "score" not in roles and "score" not in over.roles:
        column, _ = roles.pop("prediction")
        assign("score", column, "the predicted value (regression: the score role)")
    if task == "multiclass" and class_columns:
        for role in ("score",):  # a multiclass score is its probability columns
            if role in roles:
                column, _ = roles.pop(role)
                taken[column] = "extra"
                reasons[column] = "a score beside the class probabilities: kept as an extra"
    elif task == "multiclass":
        # no probability columns: no multiclass analysis; watch the features' drift
        for role in ("label", "score", "prediction"):
            if role in roles:
                column, _ = roles.pop(role)
                if column in CANONICAL_ROLES:  # an extra cannot carry a role's name
                    taken[column] = "ignored"
                    reasons[column] = f"the {role} of a multiclass model: not analysed yet"
                else:
                    taken[column] = "extra"
                    reasons[column] = f"the {role} of a multiclass model: kept as an extra"

    # -- missing pieces, said plainly ----------------------------------------------------
    if "ts" not in roles:
        warnings.append(
            "no column holds event times (ISO-8601 text, a date or a timestamp type): every "
            "analysis is per time window, so init cannot go on; give --ts COL"
        )
    if "request_id" not in roles and "request_id" not in over.roles:
        warnings.append(
            "no request id column (named like an id and unique in the sample): ids join a "
            "challenger's shadow rows to the champion's; without one there is no "
            "champion-challenger comparison"
        )
    if "model_version" not in roles and "model_version" not in over.roles:
        warnings.append(
            'no model version column: every row is taken as version "1"; versions then come '
            "from nowhere else unless a registry is named (--registry)"
        )
    if "label" not in roles and task != "multiclass":
        warnings.append(
            "no label column: realized performance cannot be computed; health rests on drift"
            + (" and the performance estimated from the scores" if "score" in roles else "")
        )
    elif "label" in roles and task == "binary":
        column = roles["label"][0]
        if not _is_binary(cols[column]) if column in cols else False:
            warnings.append(
                f"the label {column!r} is not 0/1 (values such as "
                f"{', '.join(cols[column].examples)}): binary metrics need 0/1 labels"
            )
    if "label" in roles and "label_ts" not in roles and task != "multiclass":
        warnings.append(
            "no label arrival time: labels count as known when the event happened (fine for "
            "a backfilled log; give --label-ts COL if labels arrive later)"
        )
    if "score" not in roles and task == "binary":
        warnings.append("no score column: no performance estimate and no prediction drift")

    # -- features and extras -------------------------------------------------------------
    for c in open_cols():
        words = set(_tokens(c.name))
        if c.name in CANONICAL_ROLES:
            taken[c.name] = "ignored"
            reasons[c.name] = (
                f"named like the role {c.name!r} but not used as it; a feature cannot carry "
                "a role's name"
            )
        elif over.features and c.name not in over.features:
            taken[c.name], reasons[c.name] = "extra", "not among the features given"
        elif not over.features and words & set(_EXTRA_WORDS):
            taken[c.name], reasons[c.name] = "extra", "named like operational data, not an input"
        elif (
            not over.features
            and is_text(c.type)
            and c.distinct > 1000
            and c.distinct >= 0.5 * c.present
        ):
            taken[c.name] = "extra"
            reasons[c.name] = (
                f"text with {c.distinct:,} distinct values: an identifier or free text"
            )
        elif not over.features and _tokens(c.name)[-1:] == ["id"] and c.distinct > CATEGORY_LIMIT:
            taken[c.name], reasons[c.name] = "extra", "an identifier of something else"
        else:
            taken[c.name] = "feature"

    out = []
    for n in [*names, *sample.unsupported]:
        role = taken.get(n, "ignored")
        found = cols.get(n)
        kind, reason = None, reasons.get(n, "")
        if role == "feature" and found is not None:
            kind, reason = _kind(found, over)
        out.append(_column_guess(n, sample, found, role, reason, kind))
    return Guesses(
        sample.source,
        rows,
        tuple(out),
        task,
        task_reason,
        tuple(warnings),
        classes,
        tuple(class_columns.items()) if task == "multiclass" else (),
    )


def _first_time(col: _Column) -> int:
    values = pc.cast(col.as_time.drop_null(), pa.int64()) if col.as_time is not None else None
    if values is None or len(values) == 0:
        return 2**62
    return int(pc.min(values).as_py())


def _after(later: _Column, earlier: _Column | None) -> bool:
    """Whether every row with both has ``later`` at or after ``earlier``."""
    if earlier is None or later.as_time is None or earlier.as_time is None:
        return False
    a = pc.cast(later.as_time, pa.int64())
    b = pc.cast(earlier.as_time, pa.int64())
    ok = pc.greater_equal(a, b)
    return bool(pc.all(ok).as_py()) and ok.null_count < len(ok)


#: How a class-probability column is named: ``p_<class>``, ``prob_<class>``, ``<class>_proba``…
_PROBABILITY_PREFIX = re.compile(
    r"^(?P<word>p|prob|proba|probability|score)[_\-. ](?P<cls>.+)$", re.IGNORECASE
)
_PROBABILITY_SUFFIX = re.compile(
    r"^(?P<cls>.+?)[_\-. ](?P<word>p|prob|proba|probability|score)$", re.IGNORECASE
)
#: How far from 1 a row's probabilities may sum (rounding in the log).
SUM_TOLERANCE = 0.02


def _class_probabilities(candidates: Sequence[_Column]) -> dict[str, str]:
    """Class → column for three or more float columns in [0, 1] named like the probability
    of a class (one naming pattern), whose rows sum to about 1; empty when none fit."""
    groups: dict[tuple[str, str], dict[str, _Column]] = {}
    for c in candidates:
        if not pa.types.is_floating(c.type):
            continue
        for form, pattern in (("prefix", _PROBABILITY_PREFIX), ("suffix", _PROBABILITY_SUFFIX)):
            m = pattern.match(c.name)
            if m:
                key = (form, m.group("word").lower())
                groups.setdefault(key, {}).setdefault(m.group("cls"), c)
                break
    for group in groups.values():
        if len(group) < 3:
            continue
        bounds = [_bounds(c.values) for c in group.values()]
        if any(b is None or b[0] < 0.0 or b[1] > 1.0 for b in bounds):
            continue
        columns = list(group.values())
        total = pc.cast(columns[0].values, pa.float64())
        for c in columns[1:]:
            total = pc.add(total, pc.cast(c.values, pa.float64()))  # null where any is
        b = _bounds(total)
        if b is not None and b[0] > 1 - SUM_TOLERANCE and b[1] < 1 + SUM_TOLERANCE:
            return {cls: c.name for cls, c in group.items()}
    return {}


def _holds_classes(col: _Column, classes: Mapping[str, str]) -> bool:
    """Whether a text or whole-number column's values are all among the class names."""
    if not (is_text(col.type) or pa.types.is_integer(col.type)) or not col.present:
        return False
    values = {str(v) for v in pc.unique(col.values.drop_null()).to_pylist()}
    return values <= set(classes)


def _is_argmax(col: _Column, classes: Mapping[str, str], cols: Mapping[str, _Column]) -> bool:
    """Whether ``col`` names the most probable class in (nearly) every row."""
    import numpy as np

    names = list(classes)
    stacked = np.column_stack(
        [
            pc.fill_null(pc.cast(cols[c].values, pa.float64()), -1.0).to_numpy()
            for c in classes.values()
        ]
    )
    top = np.asarray(names, dtype=object)[stacked.argmax(axis=1)]
    given = np.asarray([None if v is None else str(v) for v in col.values.to_pylist()], object)
    known = given != None  # noqa: E711 - elementwise
    return bool(known.any()) and float((given[known] == top[known]).mean()) > 0.99


def _guess_task(
    cols: Mapping[str, _Column],
    roles: Mapping[str, tuple[str, str]],
    probas: Sequence[_Column],
    classes_of_probas: Sequence[str],
    given: str | None,
    warnings: list[str],
    origin: str = "on the command line",
) -> tuple[str, str, tuple[str, ...]]:
    label = cols.get(roles["label"][0]) if "label" in roles else None
    if given is not None:
        classes = _classes(label) if given == "multiclass" and label is not None else ()
        return given, f"given {origin}", classes
    if probas:
        names = ", ".join(c.name for c in probas)
        return (
            "multiclass",
            f"{len(probas)} class-probability columns ({names})",
            tuple(classes_of_probas),
        )
    if label is not None:
        if _is_binary(label):
            return "binary", f"the label {label.name!r} holds two values, 0 and 1", ()
        if pa.types.is_floating(label.type) and label.distinct > CATEGORY_LIMIT:
            return (
                "regression",
                f"the label {label.name!r} holds {label.distinct:,} distinct numbers",
                (),
            )
        if label.distinct == 2:
            return "binary", f"the label {label.name!r} holds two values", ()
        if 2 < label.distinct <= CATEGORY_LIMIT * 5:
            return (
                "multiclass",
                f"the label {label.name!r} holds {label.distinct} classes",
                _classes(label),
            )
    score = cols.get(roles["score"][0]) if "score" in roles else None
    if score is not None:
        b = _bounds(score.values)
        if b is not None and b[0] >= 0.0 and b[1] <= 1.0:
            return "binary", f"no usable label; the score {score.name!r} is a probability", ()
    pred = cols.get(roles["prediction"][0]) if "prediction" in roles else None
    if pred is not None and pa.types.is_floating(pred.type) and pred.distinct > CATEGORY_LIMIT:
        return (
            "regression",
            f"the prediction {pred.name!r} holds {pred.distinct:,} distinct numbers",
            (),
        )
    if pred is not None and _is_binary(pred):
        return "binary", f"the prediction {pred.name!r} holds 0 and 1", ()
    warnings.append(
        "the task could not be told from the data (no label, score or prediction read as "
        "one): binary assumed; give --task if that is wrong"
    )
    return "binary", "nothing tells; binary assumed", ()


def _classes(label: _Column) -> tuple[str, ...]:
    return tuple(sorted(str(v) for v in pc.unique(label.values.drop_null()).to_pylist()))


def _kind(c: _Column, over: Overrides) -> tuple[ColumnKind, str]:
    if c.name in over.categorical:
        return ColumnKind.CATEGORICAL, f"categorical {over.origin}"
    if c.name in over.numerical:
        return ColumnKind.NUMERICAL, f"numerical {over.origin}"
    if c.distinct == 0 and (pa.types.is_floating(c.type) or pa.types.is_integer(c.type)):
        # still watched: its drift is its missing rate (a column that fills up is news)
        return ColumnKind.NUMERICAL, "every value missing in the sample"
    if pa.types.is_floating(c.type):
        return ColumnKind.NUMERICAL, f"numbers, {c.distinct:,} distinct in the sample"
    if pa.types.is_integer(c.type):
        if c.distinct <= CODE_LIMIT:
            values = "one value" if c.distinct == 1 else f"only {c.distinct} values"
            return ColumnKind.CATEGORICAL, f"whole numbers with {values}: codes"
        return ColumnKind.NUMERICAL, f"whole numbers, {c.distinct:,} distinct in the sample"
    if pa.types.is_boolean(c.type):
        return ColumnKind.CATEGORICAL, "true/false"
    return ColumnKind.CATEGORICAL, f"text, {c.distinct:,} distinct values in the sample"


def _column_guess(
    name: str,
    sample: Sample,
    c: _Column | None,
    role: str,
    reason: str,
    kind: ColumnKind | None,
) -> ColumnGuess:
    guess = ColumnGuess(
        name, sample.types.get(name, sample.unsupported.get(name, "?")), role, reason, kind
    )
    if c is None:
        return guess
    values: tuple[object, ...] = ()
    quantiles: tuple[float, ...] = ()
    if kind == ColumnKind.CATEGORICAL and c.distinct <= CATEGORY_LIMIT:
        counts = pc.value_counts(c.values.drop_null()).to_pylist()
        counts.sort(key=lambda d: (-d["counts"], str(d["values"])))
        values = tuple(d["values"] for d in counts)
    if kind == ColumnKind.NUMERICAL and c.present:
        q = pc.quantile(pc.cast(c.values, pa.float64()), q=[0.25, 0.5, 0.75])
        quantiles = tuple(float(v) for v in q.to_pylist() if v is not None)
    return replace(
        guess,
        distinct=c.distinct,
        missing=c.missing,
        examples=c.examples,
        values=values,
        quantiles=quantiles,
    )
