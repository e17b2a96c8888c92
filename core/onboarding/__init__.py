"""Onboarding someone's own model: ``watchkeeper init``'s guesses, proposal and workspace.

Three steps, each a function returning a frozen result (no Qt, no printing):

1. :func:`inspect_source` — the source's schema and its first :data:`SAMPLE_ROWS` rows
   (through the telemetry readers) → :class:`Guesses`: each column's role and kind with
   a reason, the task, warnings for whatever is unsure;
2. :func:`plan_monitor` — the whole source's extent (rows, time range, rows per version;
   one pass over two columns) → :class:`Plan`: reference, drift window, slices;
3. :func:`write_monitor` — the commented spec and the workspace folder.

A source with no request id or no version column (a plain file or table of predictions)
is read as it is: the readers take such a source as one version (``[telemetry] version``)
and read rows without ids, so the spec names the user's own file or table.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.onboarding.guess import (
    ROLE_CHOICES,
    SAMPLE_ROWS,
    ColumnGuess,
    Guesses,
    Overrides,
    Sample,
    edit_kind,
    edit_role,
    guess_columns,
    sample_of,
)
from watchkeeper.core.onboarding.propose import (
    Extent,
    Proposal,
    RowHistogram,
    SliceProposal,
    extent_of,
    mapping_of,
    model_name_for,
    propose,
    row_histogram,
    snap_reference,
)
from watchkeeper.core.onboarding.write import Written, spec_text, write_workspace
from watchkeeper.core.progress import CancelCheck, Progress

if TYPE_CHECKING:
    from watchkeeper.core.drift.result import DriftResult

__all__ = [
    "ROLE_CHOICES",
    "SAMPLE_ROWS",
    "ColumnGuess",
    "Extent",
    "Guesses",
    "Overrides",
    "Plan",
    "Proposal",
    "RowHistogram",
    "Sample",
    "SliceProposal",
    "Written",
    "edit_kind",
    "edit_role",
    "guess_columns",
    "guesses_of",
    "inspect_source",
    "plan_monitor",
    "preview_drift",
    "preview_spec",
    "read_sample",
    "renamed",
    "row_histogram",
    "snap_reference",
    "spec_text",
    "with_reference",
    "write_monitor",
]


def read_sample(location: str, *, rows: int = SAMPLE_ROWS, base_dir: Path | None = None) -> Sample:
    """The schema and first ``rows`` rows of ``location`` (CONTRACT.md's ``SRC``)."""
    from watchkeeper.core.telemetry.source import open_source

    with open_source(location, None, base_dir=base_dir) as src:
        head = src.head(rows)
        return sample_of(src.description, head, blank_is_null=src.blank_is_null)


def inspect_source(
    location: str, overrides: Overrides | None = None, *, base_dir: Path | None = None
) -> Guesses:
    """Guesses for every column of ``location`` from a bounded sample."""
    return guesses_of(read_sample(location, base_dir=base_dir), overrides)


def guesses_of(sample: Sample, overrides: Overrides | None = None) -> Guesses:
    """Guesses for every column of a sample already read (refused when it holds no rows)."""
    if sample.rows == 0:
        raise WatchkeeperError(f"{sample.source}: the source holds no rows to guess from")
    return guess_columns(sample, overrides)


@dataclass(frozen=True)
class Plan:
    """A proposal and the telemetry location its spec names."""

    proposal: Proposal
    source: str


def plan_monitor(
    location: str,
    guesses: Guesses,
    *,
    model: str | None = None,
    registry_uri: str | None = None,
    reference_until: dt.datetime | None = None,
    window: str | None = None,
    base_dir: Path | None = None,
) -> Plan:
    """Read the source's extent under the guessed mapping and propose a monitor."""
    from watchkeeper.core.telemetry.source import open_source

    if guesses.column_of("ts") is None:
        raise WatchkeeperError(
            f"{guesses.source}: no column holds event times; give --ts COL naming the column "
            "with each prediction's time"
        )
    mapping = mapping_of(guesses)
    with open_source(location, mapping, base_dir=base_dir) as src:
        extent = extent_of(src)
        description = src.description
    fallback = _source_name(location)
    name = model_name_for(guesses, extent, model, fallback)
    champion = _champion(registry_uri, name) if registry_uri else None
    proposal = propose(
        guesses,
        extent,
        model=name,
        registry_uri=registry_uri,
        champion=champion,
        reference_until=reference_until,
        window=window,
    )
    if extent.models and name not in dict(extent.models):
        shown = ", ".join(m for m, _ in extent.models[:5])
        raise WatchkeeperError(
            f"{description}: no rows of model {name!r} in the model column "
            f"{guesses.column_of('model')!r} (it holds {shown})"
        )
    source = location
    if not _is_url(location):
        source = str(
            Path(location.removeprefix("file://")).expanduser().resolve()
            if base_dir is None
            else (base_dir / location).resolve()
        )
    else:
        source = _absolute_database(location, base_dir)
    return Plan(proposal, source)


def _absolute_database(location: str, base_dir: Path | None) -> str:
    """A SQLite or DuckDB URL whose file is named by a relative path, with that path made
    absolute: init read it from where it ran, the spec reads relative paths from its own
    folder ("no such database file: …/specs/own.sqlite" for ``sqlite:///own.sqlite#t``)."""
    import sqlalchemy as sa

    head, mark, table = location.partition("#")
    try:
        url = sa.engine.make_url(head)
    except sa.exc.ArgumentError:
        return location
    db = url.database
    if url.get_backend_name() not in ("sqlite", "duckdb") or not db or db == ":memory:":
        return location
    if db.startswith("file:") or Path(db).expanduser().is_absolute():
        return location
    path = ((base_dir or Path.cwd()) / Path(db).expanduser()).resolve()
    return url.set(database=str(path)).render_as_string(hide_password=False) + mark + table


def write_monitor(
    plan: Plan, workspace: Path, *, force: bool = False, written_at: dt.datetime | None = None
) -> Written:
    """Write the plan's spec and workspace."""
    return write_workspace(
        plan.proposal, workspace, source=plan.source, force=force, written_at=written_at
    )


def with_reference(plan: Plan, start: dt.datetime, end: dt.datetime) -> Plan:
    """``plan`` with the reference period [start, end) picked by hand (rounded as
    :func:`snap_reference` does); the drift window is sized again to the data after it."""
    p = plan.proposal
    start, end = snap_reference(p.extent, start, end)
    champion = p.reference_version if p.registry_uri else None
    proposal = propose(
        p.guesses,
        p.extent,
        model=p.model,
        registry_uri=p.registry_uri,
        champion=champion,
        reference_start=start,
        reference_until=end,
    )
    return replace(plan, proposal=proposal)


def renamed(plan: Plan, model: str) -> Plan:
    """``plan`` under another model name; refused when the source's model column does not
    hold that name (the spec would then select no rows)."""
    name = model.strip()
    if not name:
        raise WatchkeeperError("the model needs a name")
    models = dict(plan.proposal.extent.models)
    if models and name not in models:
        raise WatchkeeperError(
            f"no rows of model {name!r} in the model column "
            f"{plan.proposal.guesses.column_of('model')!r} (it holds "
            + ", ".join(list(models)[:5])
            + ")"
        )
    return replace(plan, proposal=replace(plan.proposal, model=name))


def preview_spec(plan: Plan) -> Any:
    """The spec ``plan`` would write, loaded as a :class:`~watchkeeper.core.spec.MonitorSpec`
    over the telemetry as it reads now (nothing written)."""
    from watchkeeper.core.spec import parse_spec

    text = spec_text(plan.proposal, plan.source)
    # every path the preview reads is absolute; the governance database is not opened
    return parse_spec(text, base_dir=Path.cwd(), origin="the new monitor (not saved)")


def preview_drift(
    plan: Plan, progress: Progress | None = None, cancelled: CancelCheck | None = None
) -> DriftResult:
    """The first drift answer the monitor would give: the reference version's drift over
    the spec's windows, through the workbench's :func:`run_drift` (the Drift view's path)."""
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import ModelEntry, VersionEntry

    spec = preview_spec(plan)
    p = plan.proposal
    version = p.reference_version
    entry = ModelEntry(
        name=p.model, task=spec.model.task, versions=(VersionEntry(version),), spec=spec
    )
    return run_drift(entry, version, None, progress, cancelled)


def _is_url(location: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", location)) and not location.startswith(
        "file://"
    )


def _source_name(location: str) -> str:
    if _is_url(location):
        return location.rpartition("#")[2].rpartition(".")[2] or "model"
    name = Path(location).name
    for suffix in (".gz", ".csv", ".tsv", ".parquet", ".pq", ".parq"):
        name = name.removesuffix(suffix)
    return name


def _champion(uri: str, model: str) -> str | None:
    """The registry's champion of ``model`` (None when it has none); unreachable → error."""
    from watchkeeper.core.registry.client import open_registry

    with open_registry(uri) as registry:
        return registry.alias_version(model, "champion")
