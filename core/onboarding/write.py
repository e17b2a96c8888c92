"""Writing what ``init`` proposed: a commented monitor spec and a workspace folder.

The workspace has the layout of CONTRACT.md (the demo's, without its manifest)::

    DIR/specs/<model>.toml    the spec, its paths relative to itself
    DIR/governance.db         the governance database, created by the migrations

The spec names the user's own file or table, also when it has no request id or no version
column (the readers take it as it is).

The spec text is rendered here (Python ships no TOML writer) and parsed back with
:func:`~watchkeeper.core.spec.parse_spec` before anything is written, so a rendering mistake
never reaches a user's disk.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.onboarding.guess import SAMPLE_ROWS, ColumnGuess
from watchkeeper.core.onboarding.propose import Proposal
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES, ColumnKind

__all__ = ["Written", "spec_file_name", "spec_text", "toml_value", "write_workspace"]

GOVERNANCE_FILE = "governance.db"
SPECS_DIR = "specs"
_OPTIONAL = ("model", "score", "prediction", "label", "label_ts")


@dataclass(frozen=True)
class Written:
    """What :func:`write_workspace` wrote."""

    workspace: Path
    spec: Path
    governance: Path


def toml_value(value: Any) -> str:
    """A TOML value for the plain types a spec uses (JSON string escapes are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value).__name__)


def toml_list(names: list[str], width: int = 96) -> str:
    """A list of names one line when it fits, else wrapped at ``width`` (a wide model's
    hundreds of features stay editable)."""
    one = toml_value(names)
    if len(one) <= width:
        return one
    lines, line = [], "   "
    for item in (toml_value(n) + "," for n in names):
        if len(line) + 1 + len(item) > width and line.strip():
            lines.append(line)
            line = "   "
        line += " " + item
    lines.append(line)
    return "[\n" + "\n".join(lines) + "\n]"


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def spec_file_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", model).strip("-.") + ".toml"


def _comment(text: str, width: int = 92) -> list[str]:
    """Text as ``#`` lines of at most ``width`` characters."""
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line += " " + word
    lines.append(line)
    return lines


def spec_text(p: Proposal, source: str, *, written_at: dt.datetime | None = None) -> str:
    """The monitor spec of a proposal, with the reason for every guess as a comment.

    ``source`` is the telemetry location as the spec should name it.
    """
    g = p.guesses
    e = p.extent
    m = p.mapping
    when = (written_at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"# Monitor spec of {p.model!r}, written by `watchkeeper init` on {when}.",
        *_comment(
            f"Guessed from the first {min(g.sample_rows, SAMPLE_ROWS):,} rows of {g.source}; "
            f"the source holds {e.rows:,} events from {_day(e.start)} to {_day(e.end)}. "
            "Every guess says why; change what is wrong. Paths are relative to this file. "
            "Every key is described in docs/spec-reference.md."
        ),
        "",
        "[model]",
        f"name = {toml_value(p.model)}",
    ]
    if g.task == "multiclass" and g.class_probabilities:
        out.append(f"task = {toml_value(g.task)}  # {g.task_reason}")
    elif g.task == "multiclass":
        out += _comment(
            f"This looks like a MULTICLASS model ({g.task_reason}), but no columns hold one "
            "probability per class (p_<class>, <class>_proba…), which its analyses need: "
            "this spec watches the features' drift, the label and the predicted class are "
            'kept aside. Add task = "multiclass" and [telemetry.columns] '
            'class_probabilities = { <class> = "<column>", ... } if the source has them.'
        )
    else:
        out.append(f"task = {toml_value(g.task)}  # {g.task_reason}")
    if p.registry_uri:
        out.append(f"registry_uri = {toml_value(p.registry_uri)}")
    out += ["", "[telemetry]", f"source = {toml_value(source)}"]
    if m.model_version is None:
        out.append(
            f"version = {toml_value(m.default_version)}  # no version column: the version "
            "that scored every row"
        )
    out += ["", "[telemetry.columns]"]
    out += _comment(
        "role = source column. An optional role (model, score, prediction, label, label_ts) "
        'the source lacks is left out; "" says "none" for a column that merely carries a '
        "role's name."
    )
    by_role = {c.role: c for c in g.columns}
    for role in CANONICAL_ROLES:
        column = getattr(m, role)
        guess = by_role.get(role)
        if column and guess is not None:
            out.append(f"{role} = {toml_value(column)}  # {guess.reason}")
        elif role == "request_id":
            out.append(
                'request_id = ""  # none in the source: rows are read, but duplicates are '
                "not checked and a challenger's shadow rows cannot be paired"
            )
        elif role == "model_version":
            out.append(
                'model_version = ""  # none in the source: every row is the version '
                "[telemetry] version names"
            )
        elif role in _OPTIONAL:
            if any(c.name == role for c in g.columns):
                out.append(f'{role} = ""  # the column {role!r} is not the {role} (see below)')
            else:
                out.append(f"# {role}: none found")
    features = g.features
    numerical = [c.name for c in features if c.kind == ColumnKind.NUMERICAL]
    categorical = [c.name for c in features if c.kind == ColumnKind.CATEGORICAL]
    out.append(f"features = {toml_list([c.name for c in features])}")
    out.append(f"numerical = {toml_list(numerical)}")
    out.append(f"categorical = {toml_list(categorical)}")
    extras = [c.name for c in g.of_role("extra")]
    out.append(f"extras = {toml_list(extras)}")
    if g.task == "multiclass" and g.class_probabilities:
        out += _comment(
            "One probability column per class; the prediction and the label hold class names."
        )
        out.append(f"class_probabilities = {toml_value(dict(g.class_probabilities))}")
    out += _column_notes(g.columns)
    out += ["", "[reference]", 'kind = "window"']
    out.append(f"version = {toml_value(p.reference_version)}")
    out.append(f"start = {toml_value(p.reference_start)}")
    out.append(f"end = {toml_value(p.reference_end)}  # exclusive")
    out += _comment(p.reference_reason)
    out += ["", "[drift]"]
    if p.window:
        out.append(f"window = {toml_value(p.window)}")
    out += _comment(p.window_reason)
    if p.health_window:
        out += ["", "[health]", f"window = {toml_value(p.health_window)}"]
        out += _comment(p.health_reason)
    for s in p.slices:
        out += ["", "[[slices]]", f"name = {toml_value(s.name)}"]
        out.append(f"where = {toml_value(s.where)}  # {s.reason}")
    out += ["", "[governance]", f'database = "sqlite:///../{GOVERNANCE_FILE}"']
    if g.warnings or p.notes:
        out += ["", "# What init was unsure of:"]
        for w in (*g.warnings, *p.notes):
            out += _comment("- " + w)
    return "\n".join(out) + "\n"


def _day(t: dt.datetime | None) -> str:
    return "?" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _column_notes(columns: tuple[ColumnGuess, ...]) -> list[str]:
    lines = ["# Features, extras and ignored columns, and why:"]
    for c in columns:
        if c.role == "feature":
            lines.append(f"#   {c.name}: {c.kind} feature — {c.reason}")
        elif c.role in ("extra", "ignored", "class_probability"):
            lines.append(f"#   {c.name}: {c.role} — {c.reason}")
    return lines


def write_workspace(
    p: Proposal,
    workspace: Path,
    *,
    source: str,
    force: bool = False,
    written_at: dt.datetime | None = None,
) -> Written:
    """Write the spec (refusing to replace one unless ``force``) and the governance
    database; return where they are. ``source`` is the spec's telemetry location."""
    from watchkeeper.core.governance.db import upgrade
    from watchkeeper.core.spec import parse_spec

    workspace = workspace.expanduser().resolve()
    specs = workspace / SPECS_DIR
    spec_path = specs / spec_file_name(p.model)
    if spec_path.exists() and not force:
        raise WatchkeeperError(
            f"{spec_path}: a spec for {p.model!r} exists already; --force replaces it"
        )
    if workspace.exists() and not workspace.is_dir():
        raise WatchkeeperError(f"{workspace}: exists and is not a folder")
    text = spec_text(p, source, written_at=written_at)
    parse_spec(text, base_dir=specs, origin=str(spec_path))  # a mistake is ours: refuse it
    specs.mkdir(parents=True, exist_ok=True)
    governance = workspace / GOVERNANCE_FILE
    upgrade(f"sqlite:///{governance}")
    tmp = spec_path.with_name(f".{spec_path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, spec_path)  # a reader never sees half a spec
    return Written(workspace, spec_path, governance)
