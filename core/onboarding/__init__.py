"""Onboarding someone's own model: ``watchkeeper init``'s guesses, proposal and workspace.

Three steps, each a function returning a frozen result (no Qt, no printing):

1. :func:`inspect_source` — the source's schema and its first :data:`SAMPLE_ROWS` rows
   (through the telemetry readers) → :class:`Guesses`: each column's role and kind with
   a reason, the task, warnings for whatever is unsure;
2. :func:`plan_monitor` — the whole source's extent (rows, time range, rows per version;
   one pass over two columns) → :class:`Plan`: reference, drift window, slices;
3. :func:`write_monitor` — the commented spec and the workspace folder.

A source with no request id or no version column (a plain file of predictions) is read
through a DuckDB view that adds them; the view lives in the workspace, the data stays
where it is. A database table lacking them is refused with the SQL of a view to create.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
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
    DEFAULT_VERSION,
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
    "discard_plan",
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
        return sample_of(src.description, head, blank_is_null=src._blank_is_null)


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
    """A proposal and how to write it: the spec's source, and a view when one is needed."""

    proposal: Proposal
    source: str  # the telemetry location the spec names
    view_sql: str | None = None
    view_name: str | None = None
    scratch: Path | None = None  # where the view was tried; removed by write_monitor


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
    missing = [r for r in ("request_id", "model_version") if guesses.column_of(r) is None]
    source, view_sql, view_name, scratch = location, None, None, None
    if missing:
        guesses, view_sql, view_name = _view_for(location, guesses, missing, base_dir)
        scratch = Path(tempfile.mkdtemp(prefix="watchkeeper-init-"))
        _try_view(scratch / "telemetry.duckdb", view_sql)
        reading = f"duckdb:///{scratch / 'telemetry.duckdb'}#{view_name}"
    else:
        reading = location
    mapping = mapping_of(guesses)
    try:
        with open_source(reading, mapping, base_dir=base_dir) as src:
            extent = extent_of(src)
            description = src.description
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
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
    if not missing and not _is_url(location):
        source = str(
            Path(location).expanduser().resolve()
            if base_dir is None
            else (base_dir / location).resolve()
        )
    return Plan(proposal, source, view_sql, view_name, scratch)


def write_monitor(
    plan: Plan, workspace: Path, *, force: bool = False, written_at: dt.datetime | None = None
) -> Written:
    """Write the plan's spec and workspace; remove the scratch folder either way."""
    try:
        return write_workspace(
            plan.proposal,
            workspace,
            source=plan.source,
            view_sql=plan.view_sql,
            view_name=plan.view_name,
            force=force,
            written_at=written_at,
        )
    finally:
        if plan.scratch is not None:
            shutil.rmtree(plan.scratch, ignore_errors=True)


def discard_plan(plan: Plan | None) -> None:
    """Remove the scratch folder of a plan that will not be written (a wizard's old plan)."""
    if plan is not None and plan.scratch is not None:
        shutil.rmtree(plan.scratch, ignore_errors=True)


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


def _reading_location(plan: Plan) -> str:
    """Where the plan's telemetry is read before it is written: the scratch view, or the
    source itself."""
    if plan.view_sql is not None and plan.scratch is not None:
        return f"duckdb:///{plan.scratch / 'telemetry.duckdb'}#{plan.view_name}"
    return plan.source


def preview_spec(plan: Plan) -> Any:
    """The spec ``plan`` would write, loaded as a :class:`~watchkeeper.core.spec.MonitorSpec`
    over the telemetry as it reads now (nothing written)."""
    from watchkeeper.core.spec import parse_spec

    text = spec_text(plan.proposal, _reading_location(plan))
    # every path the preview reads is absolute; the governance database is not opened
    base = plan.scratch if plan.scratch is not None else Path.cwd()
    return parse_spec(text, base_dir=base, origin="the new monitor (not saved)")


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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_for(
    location: str, guesses: Guesses, missing: list[str], base_dir: Path | None
) -> tuple[Guesses, str, str]:
    """A DuckDB view adding the missing id/version columns to a file, and the guesses
    that name them."""
    if _is_url(location):
        table = location.rpartition("#")[2]
        adds = ", ".join(
            "CAST(row_number() OVER () AS VARCHAR) AS request_id"
            if r == "request_id"
            else f"'{DEFAULT_VERSION}' AS model_version"
            for r in missing
        )
        raise WatchkeeperError(
            f"{guesses.source}: no {' and no '.join(missing)} column, and init adds them only "
            f"to files; create a view, e.g. CREATE VIEW predictions_v AS SELECT *, {adds} "
            f"FROM {table}, and run init on it (or give --request-id / --version COL)"
        )
    path = Path(location.removeprefix("file://")).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    path = path.resolve()
    if path.is_dir():
        reader = f"read_parquet({_quote(str(path / '**' / '*.parquet'))}, hive_partitioning=true)"
    elif path.name.lower().endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
        reader = f"read_csv({_quote(str(path))}, header=true)"
    else:
        reader = f"read_parquet({_quote(str(path))})"
    names = {c.name for c in guesses.columns}
    added: list[ColumnGuess] = []
    select = ["*"]
    for role in missing:
        column = role if role not in names else f"wk_{role}"
        if role == "request_id":
            select.append(f'CAST(row_number() OVER () AS VARCHAR) AS "{column}"')
            reason = "added by init: the row's position in the file (the source has no id)"
        else:
            select.append(f"'{DEFAULT_VERSION}' AS \"{column}\"")
            reason = f'added by init: every row is version "{DEFAULT_VERSION}" (no version column)'
        added.append(ColumnGuess(column, "string", role, reason))
    view = re.sub(r"[^A-Za-z0-9_]+", "_", _source_name(location)).strip("_") or "predictions"
    sql = f'CREATE OR REPLACE VIEW "{view}" AS SELECT {", ".join(select)} FROM {reader}'
    return replace(guesses, columns=(*guesses.columns, *added)), sql, view


def _try_view(path: Path, sql: str) -> None:
    import duckdb

    try:
        with duckdb.connect(str(path)) as conn:
            conn.execute(sql)
    except duckdb.Error as exc:
        raise WatchkeeperError(f"cannot read the source through DuckDB: {exc}") from None


def _champion(uri: str, model: str) -> str | None:
    """The registry's champion of ``model`` (None when it has none); unreachable → error."""
    from watchkeeper.core.registry.client import open_registry

    with open_registry(uri) as registry:
        return registry.alias_version(model, "champion")
