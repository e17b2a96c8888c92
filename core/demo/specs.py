"""Monitor specs for the demo models, written as TOML a new user can read and copy.

No TOML writer ships with Python, and a spec needs only strings, numbers, booleans, lists
and inline tables, so a tiny renderer does; every spec it writes is loaded back with
``load_spec`` by the build, so a rendering mistake cannot reach a user.
"""

from __future__ import annotations

import json
from typing import Any

from watchkeeper.core.demo.recipe import OUTCOME_COLUMNS, ROLE_COLUMNS, DemoModel


def reference_window(model: DemoModel) -> dict[str, Any]:
    """The baseline every demo spec names: the champion's first month (a window)."""
    return {
        "kind": "window",
        "version": model.reference_version,
        "start": "2026-01-01",
        # Half-open, as every time range in Watchkeeper: the whole of January.
        "end": "2026-02-01",
    }


def toml_value(value: Any) -> str:
    """A TOML value for the plain types a spec uses (JSON string escapes are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value).__name__)


def _roles(model: DemoModel) -> list[tuple[str, str]]:
    """Role → column; a multiclass model has no ``score`` and its own class columns."""
    roles = [(role, role) for role in (*ROLE_COLUMNS, *OUTCOME_COLUMNS[:4])]
    if not model.class_probabilities:
        return roles
    own = {"score": "", "prediction": model.prediction, "label": model.label}
    return [(role, own.get(role, column)) for role, column in roles]


def _class_lines(model: DemoModel) -> list[str]:
    if not model.class_probabilities:
        return []
    return [
        "# One probability column per class; the predicted and true class are class names.",
        f"class_probabilities = {toml_value(dict(model.class_probabilities))}",
    ]


def spec_text(model: DemoModel, recipe_version: int, source: str) -> str:
    """The monitor spec of a demo model, as TOML with comments a user can learn from.

    ``source`` is the telemetry location relative to the spec file.
    """
    numerical = [f for f, kind in model.features.items() if kind == "numerical"]
    categorical = [f for f, kind in model.features.items() if kind == "categorical"]
    ref = reference_window(model)
    lines = [
        f"# Monitor spec of the demo model {model.name!r}, written by `watchkeeper demo`",
        f"# (recipe {recipe_version}). Paths are relative to this file.",
        f"# {model.description}",
        "",
        "[model]",
        f"name = {toml_value(model.name)}",
        'registry_uri = "sqlite:///../registry/mlflow.db"',
        f"task = {toml_value(model.task)}",
        "",
        "[telemetry]",
        f"source = {toml_value(source)}",
        "",
        "[telemetry.columns]",
        *(f"{role} = {toml_value(column)}" for role, column in _roles(model)),
        f"features = {toml_value(list(model.features))}",
        f"numerical = {toml_value(numerical)}",
        f"categorical = {toml_value(categorical)}",
        'extras = ["latency_ms"]',
        *_class_lines(model),
        "",
        "# The baseline: the champion's first month.",
        "[reference]",
        'kind = "window"',
        f"version = {toml_value(ref['version'])}",
        f"start = {ref['start']}",
        f"end = {ref['end']}",
        "",
        "[drift]",
        'window = "1d"',
    ]
    for s in model.slices:
        lines += ["", "[[slices]]", *(f"{k} = {toml_value(v)}" for k, v in s.items())]
    lines += ["", "[gate]", *(f"{k} = {toml_value(v)}" for k, v in model.gate.items())]
    lines += ["", "[governance]", 'database = "sqlite:///../governance.db"', ""]
    return "\n".join(lines)
