"""The spec reference page (``docs/spec-reference.md``), generated from the spec's models.

Keys, types, defaults and allowed values are read from :mod:`watchkeeper.core.spec`'s
pydantic models; only the one-line descriptions live here, in :data:`DESCRIPTIONS`, and
:func:`spec_reference` refuses to render when a key of the schema has none (or a
description names a key the schema lost), so the page cannot fall behind the schema. A test
compares the committed page with what this module generates. Regenerate with::

    .venv/bin/python -m watchkeeper.core.spec_docs > docs/spec-reference.md
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from watchkeeper.core.spec import ColumnsSection as _Columns
from watchkeeper.core.spec import (
    DriftSection,
    GateSection,
    GovernanceSection,
    HealthSection,
    ModelSection,
    ReferenceSection,
    SliceSpec,
    TelemetrySection,
    TimeOnly,
)
from watchkeeper.core.telemetry.windows import WindowSpec

__all__ = ["DESCRIPTIONS", "EXAMPLE", "SECTIONS", "spec_reference"]

#: The sections in the order of a spec file: (TOML header, model, what it is for).
SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("[model]", ModelSection, "Which model this spec watches. Required."),
    ("[telemetry]", TelemetrySection, "Where the prediction events are. Required."),
    (
        "[telemetry.columns]",
        _Columns,
        "Which source column plays which role. **An optional role (`request_id`, `model`, "
        "`model_version`, `score`, `prediction`, `label`, `label_ts`) is left out by omitting "
        "its key**: the source's column of the role's own name is then used if there is one, "
        "else the role is absent. "
        '`""` says "none" explicitly, for a source whose column merely carries a role\'s name. '
        "`ts` is the one required role. Without a `model_version` column every row is the "
        "version `[telemetry] version` names; without a `request_id` column events are read "
        "but duplicates are not checked and a challenger's shadow rows cannot be paired.",
    ),
    (
        "[reference]",
        ReferenceSection,
        "What the current data is compared with. Optional; the analyses read a `window` "
        "reference (a file or artifact reference is accepted but not analysed yet).",
    ),
    ("[drift]", DriftSection, "Drift thresholds and the default window. Optional."),
    (
        "[[slices]]",
        SliceSpec,
        "Named subsets (repeat the table for each). Every condition in `where` must hold.",
    ),
    ("[gate]", GateSection, "The promotion policy a challenger must meet. Optional."),
    ("[health]", HealthSection, "The rule behind a model's health light and `check`. Optional."),
    ("[governance]", GovernanceSection, "Where decisions are recorded. Optional."),
)

#: One line per key: "section.key" → what it means.
DESCRIPTIONS: dict[str, str] = {
    "[model].name": "The model's name, as the registry and the telemetry's model column know it.",
    "[model].registry_uri": "MLflow tracking URI (`sqlite:///…`, `http://…`); versions and "
    "aliases come from it. Relative SQLite paths are relative to the spec file.",
    "[model].task": "What the model predicts: a probability of a 0/1 outcome, one of several "
    "classes (`multiclass`, with `class_probabilities`), or a number.",
    "[model].champion_alias": "The registry alias of the version in production.",
    "[model].challenger_alias": "The registry alias of the version scored in shadow.",
    "[telemetry].source": "A `.parquet`/`.csv` file, a Parquet folder, or a SQLAlchemy URL "
    "with the table after `#` (`duckdb:///telemetry.duckdb#predictions`). Relative paths are "
    "relative to the spec file.",
    "[telemetry].version": "The model version that scored every row, for a source without a "
    'version column (omitted: `"1"`). Refused together with a mapped `model_version`.',
    "[telemetry].columns": "The `[telemetry.columns]` table below.",
    "[telemetry.columns].request_id": "Unique per scored request; joins a challenger's shadow "
    "rows to the champion's. Optional.",
    "[telemetry.columns].ts": "When the prediction was made (ISO-8601 text, a date or a "
    "timestamp; no zone means UTC).",
    "[telemetry.columns].model": "The model's name per row, for a table holding several models.",
    "[telemetry.columns].model_version": "The version that scored the row. Optional: "
    "without one the source is one version (`[telemetry] version`).",
    "[telemetry.columns].score": "The probability of the positive class (binary) or the "
    "predicted value (regression).",
    "[telemetry.columns].prediction": "The decision (0/1) or class the model returned.",
    "[telemetry.columns].label": "The ground truth (0/1 for binary, a class name or integer "
    "for multiclass), empty until known.",
    "[telemetry.columns].label_ts": "When the label arrived. Omitted: labels count as known "
    "when the event happened.",
    "[telemetry.columns].features": "The model's inputs to watch. Empty: every column that "
    "plays no role and is no extra.",
    "[telemetry.columns].extras": "Columns kept but not analysed as features (latency, amount…).",
    "[telemetry.columns].numerical": "Features to treat as numbers (binned by quantiles).",
    "[telemetry.columns].categorical": "Features to treat as categories (e.g. integer codes).",
    "[telemetry.columns].class_probabilities": "A multiclass score: class → its probability "
    'column, `{ low = "p_low", high = "p_high" }`; each row\'s probabilities sum to 1, and '
    "labels and predictions are these class names (integers as `0`, `1`…). Needs "
    '`task = "multiclass"`.',
    "[reference].kind": "`window`: a period of the telemetry; `file`: a data file (a training "
    "or validation sample); `artifact`: a file logged with the registry run (not read yet: "
    "the analyses say so).",
    "[reference].version": "The version whose rows form the reference (default: the version "
    "analysed). A file with a `model_version` column gives only this version's rows.",
    "[reference].start": "First moment of the window (inclusive); a date means midnight UTC.",
    "[reference].end": "End of the window (exclusive).",
    "[reference].path": 'The reference file (`kind = "file"`): Parquet (a file or a folder of '
    "them) or CSV, relative to the spec's folder. Its columns are named as the telemetry's; a "
    'role mapped to another name (`score = "p_fraud"`) is found under either. With a '
    "`model` column only this model's rows count. Features alone serve drift; with `score` "
    "and `label` the performance baseline and estimate come from it too. The columns an "
    "analysis reads are held in memory, at most 1 GiB of them (a larger file is refused: "
    "keep a sample).",
    "[reference].artifact": 'The artifact\'s path in the run (`kind = "artifact"`).',
    "[drift].window": "Default window of the drift views and `drift --spec`: `1d`, `6h`, "
    "`7d`, `2w`, `30m` or `5000rows`. Omitted: one window over everything.",
    "[drift].bins": "Quantile bins per numerical feature.",
    "[drift].max_categories": "Categories kept per categorical feature; the rest are 'other'.",
    "[drift].high_cardinality": "A categorical with more reference values than this gets the "
    "high-cardinality thresholds.",
    "[drift].thresholds": (
        "`calibrated`: the PSI cut-offs of each feature and window come from how far PSI moves "
        "between samples of that window's size drawn from the reference's own binned counts; "
        "`absolute`: the fixed `psi_watch`/`psi_drift` cut-offs. Significance after the "
        "correction is required either way."
    ),
    "[drift].calibration_quantile": (
        "calibrated: the reference's own PSI quantile at the window's row count that a window "
        "must exceed to be `watch`."
    ),
    "[drift].calibration_margin": (
        "calibrated: `drift` needs PSI above this many times that quantile."
    ),
    "[drift].psi_watch_floor": "calibrated: `watch` never below this PSI.",
    "[drift].psi_floor": "calibrated: `drift` never below this PSI.",
    "[drift].psi_watch": "absolute: PSI from which a feature is `watch`.",
    "[drift].psi_drift": "absolute: PSI from which (with a significant test) a feature is `drift`.",
    "[drift].high_cardinality_psi_watch": "`psi_watch` for high-cardinality categoricals.",
    "[drift].high_cardinality_psi_drift": "`psi_drift` for high-cardinality categoricals.",
    "[drift].p_value": "Significance level of the drift test (after correction).",
    "[drift].test": "`chi2` on binned counts, or exact two-sample `ks` on numerical features.",
    "[drift].correction": "Multiple-testing correction across features.",
    "[drift].min_rows": "Fewer rows than this in a window (or the reference): `insufficient`.",
    "[drift].persistence": "Windows in a row the drift condition must hold to say `drift`.",
    "[drift].exact_sample_limit": "Rows per window for exact KS/Wasserstein; above, a seeded "
    "sample.",
    "[[slices]].name": "The slice's name, unique in the spec.",
    "[[slices]].where": "Conditions: `col = value`, `col = [v1, v2]` (membership), "
    "`col = { min = 1, max = 5 }` (min inclusive, max exclusive).",
    "[[slices]].critical": "A critical slice may not get worse under a challenger "
    "(`[gate] max_critical_slice_drop`).",
    "[[slices]].description": "Free text shown with the slice.",
    "[gate].primary_metric": (
        "The metric a challenger must improve (on critical slices too), and the one slices "
        "and worst slices are ranked by. A multiclass model's: `accuracy`, `balanced_accuracy`, "
        "`macro_f1`, `weighted_f1`, `roc_auc`, `log_loss` or `brier`."
    ),
    "[gate].threshold": "Score threshold for precision, recall, F1 and the confusion counts.",
    "[gate].min_improvement": "How much better the challenger's primary metric must be.",
    "[gate].alpha": "Significance level of the paired comparison.",
    "[gate].max_critical_slice_drop": "Largest allowed drop of the metric on a critical slice.",
    "[gate].min_labeled": "Labeled shadow rows needed before the gate decides.",
    "[gate].cost_false_positive": "Cost of a false positive, for the expected-cost criterion.",
    "[gate].cost_false_negative": "Cost of a false negative, for the expected-cost criterion.",
    "[gate].max_latency_p95_ms": "The challenger's 95th-percentile latency budget (ms).",
    "[gate].latency_column": "The extra column holding latency in milliseconds.",
    "[gate].pairing_margin": "How long before or after the challenger's row the champion's "
    "row of the same request may be logged (shadow scoring that runs later, or in a nightly "
    "batch): the champion's rows are read this far beyond the shadow window, so no request "
    "of the period loses its pair.",
    "[health].metric": "The metric judged (default: `[gate] primary_metric`).",
    "[health].tolerance": "How much worse than the reference the metric may be before it has "
    "moved.",
    "[health].persistence": "Windows in a row drift and a move must last for `alert`.",
    "[health].window": "The health window (default `7d`).",
    "[health].min_labeled": "Labeled events a window needs for the realized metric.",
    "[health].estimate": "Estimate the metric from the scores where labels are missing (CBPE).",
    "[health].use_interval": "Moved only when the metric's whole interval is worse.",
    "[governance].database": "The governance database: `sqlite:///…` or "
    "`postgresql+psycopg://user@host/db`. Relative SQLite paths are relative to the spec.",
    "[governance].require_verified_identity": "Refuse approvals from unverified identities "
    "(SQLite identities are never verified).",
}

#: A complete spec using every section; the test loads it.
EXAMPLE = """\
[model]
name = "credit-risk"
task = "binary"
registry_uri = "sqlite:///../registry/mlflow.db"

[telemetry]
source = "duckdb:///../telemetry.duckdb#predictions"

[telemetry.columns]
request_id = "application_id"
ts = "scored_at"
model_version = "version"
score = "pd"
label = "defaulted"
# label_ts left out: labels count as known when the event happened
# prediction left out: the source has none
features = ["age", "income", "channel"]
numerical = ["age", "income"]
categorical = ["channel"]
extras = ["latency_ms"]

[reference]
kind = "window"
version = "3"
start = 2026-01-01
end = 2026-02-01

[drift]
window = "1d"

[[slices]]
name = "web"
where = { channel = "web" }
critical = true

[[slices]]
name = "young, high income"
where = { age = { max = 30 }, income = { min = 80000 } }

[gate]
primary_metric = "roc_auc"
min_improvement = 0.005

[health]
window = "7d"
tolerance = 0.02

[governance]
database = "sqlite:///../governance.db"
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return "text"
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(names)) + (" (optional)" if type(None) in args else "")
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "table"
    if annotation is WindowSpec:
        return "window"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {
        str: "text",
        int: "integer",
        float: "number",
        bool: "boolean",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _allowed(annotation: Any, metadata: list[Any]) -> str:
    parts: list[str] = []
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is Literal:
            parts.append(", ".join(f"`{v}`" for v in typing.get_args(candidate)))
        if typing.get_origin(candidate) is typing.Annotated:
            metadata = [*metadata, *typing.get_args(candidate)[1:]]
    for m in metadata:
        if isinstance(m, Ge):
            parts.append(f"≥ {m.ge}")
        elif isinstance(m, Gt):
            parts.append(f"> {m.gt}")
        elif isinstance(m, Le):
            parts.append(f"≤ {m.le}")
        elif isinstance(m, Lt):
            parts.append(f"< {m.lt}")
        elif isinstance(m, MinLen) and m.min_length == 1:
            parts.append("not empty")
        else:
            for attr, sign in (("ge", "≥"), ("le", "≤"), ("gt", ">"), ("lt", "<")):
                value = getattr(m, attr, None)
                if value is not None:
                    parts.append(f"{sign} {value}")
    if any(isinstance(m, TimeOnly) for m in metadata):
        parts.append("`30m`, `6h`, `1d`, `2w`; a time, not rows; at most 366 days")
    elif _type_name(annotation).startswith("window"):
        parts.append("`6h`, `1d`, `7d`, `2w`, `5000rows`; at most 366 days")
    return "; ".join(dict.fromkeys(parts))


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default
    if value is PydanticUndefined:
        return "—"
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "(table)"
    if isinstance(value, tuple):
        return "`[]`" if not value else f"`{list(value)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, WindowSpec):
        return f'`"{value.text}"`'
    return f"`{value}`"


def spec_reference() -> str:
    """The Markdown page: every section and key of the monitor spec, and an example."""
    described = set()
    out = [
        "# Monitor spec reference",
        "",
        "<!-- Generated by `python -m watchkeeper.core.spec_docs` from the spec's schema "
        "(core/spec.py); do not edit by hand: a test compares this page with the schema. -->",
        "",
        "One TOML file per model. Every key is checked when the file loads: an unknown key, "
        'a bad value or a window such as `"banana"` is refused with its key path. Paths are '
        "relative to the spec file. `watchkeeper init` writes a first spec for you "
        "([the guide](guide.md)).",
        "",
    ]
    for header, model, purpose in SECTIONS:
        out += [f"## `{header}`", "", purpose, "", "| key | type | default | allowed | meaning |"]
        out.append("|---|---|---|---|---|")
        for name, field in model.model_fields.items():
            key = f"{header}.{name}"
            if key not in DESCRIPTIONS:
                raise KeyError(f"{key} has no description in core/spec_docs.py")
            described.add(key)
            cells = [
                f"`{name}`",
                _type_name(field.annotation),
                _default(field),
                _allowed(field.annotation, list(field.metadata)),
                DESCRIPTIONS[key],
            ]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    stale = sorted(set(DESCRIPTIONS) - described)
    if stale:
        raise KeyError(f"descriptions of keys the schema does not have: {', '.join(stale)}")
    out += ["## Example", "", "```toml", EXAMPLE.rstrip("\n"), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(spec_reference(), end="")
