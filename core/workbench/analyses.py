"""Drift, performance and health of one model version, from its spec — no Qt.

Each function only *wires* core: which telemetry (the entry's :mod:`evidence <.evidence>`),
which reference, which windows — the statistics are core's. Where the reference window's
events are not in the evidence (an offline bundle holds its range and the reference
*profile*), drift is measured against the bundled profile, and performance goes without a
reference baseline and estimate, saying so in its notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled, stage
from watchkeeper.core.telemetry.windows import WindowSpec, parse_window
from watchkeeper.core.workbench.common import READ_LOCK, feature_names, spec_of
from watchkeeper.core.workbench.portfolio import ModelEntry
from watchkeeper.core.workbench.reference_file import (
    file_reference_version,
    is_file_reference,
    read_reference_file,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from watchkeeper.core.drift.engine import ColumnReader
    from watchkeeper.core.drift.profile import ReferenceProfile
    from watchkeeper.core.drift.reference import PreparedReference
    from watchkeeper.core.drift.result import DriftResult
    from watchkeeper.core.evaluation.intervals import Estimate
    from watchkeeper.core.telemetry.source import TelemetrySource

__all__ = [
    "ESTIMATE_BELOW_COVERAGE",
    "IN_MEMORY_ROWS",
    "NO_LABEL_TIMES",
    "REFERENCE_BYTES",
    "PerformanceView",
    "batched_reference_rows",
    "keeps_row_order",
    "open_source_of",
    "reference_in_batches",
    "reference_profile_of",
    "run_drift",
    "run_performance",
    "streamed_current",
    "window_for",
    "windows_to_estimate",
]

#: Above this many current rows, drift is counted in the database: the counts come back from
#: one statement, the exact statistics and the multivariate check from a seeded, bounded
#: sample per window. Below, everything runs in memory on every row.
IN_MEMORY_ROWS = 2_000_000
#: Current data larger than this (rows × columns × 8 bytes) is read a batch of features at a
#: time (:class:`~watchkeeper.core.drift.engine.ColumnReader`) from a source that returns
#: its rows in the same order on every read (Parquet, DuckDB): 500 features × 730,000 rows
#: held at once took the window past 4 GB.
STREAM_BYTES = 256 << 20
#: A DuckDB table (read in this process) with more features than this is read a batch of
#: features at a time even above :data:`IN_MEMORY_ROWS`, not counted by one statement: the
#: statement's union of one branch per feature held about 14 MB per feature in DuckDB's
#: memory (64 features 1.1 GB; 500 features × 730,000 rows 5.8 GB and 4 minutes, against
#: 2 GB and half a minute read in batches).
SQL_COUNT_FEATURES = 64
#: A batch of features read at once holds at most this many bytes of float64 values (5
#: features at 730,000 rows). The wide demo's drift (500 features × 730,000 rows) peaked at
#: 1.59-1.63 GiB with 128 MB batches, 1.54-1.57 with 64 MB, 1.45-1.48 with 32 MB, in
#: 19.5-19.8, 19.2-20.1 and 20.9-21.1 s (run_drift in a process of its own, two rounds each).
#: In the window (benchmarks/ui.py) its analysis process peaked at 1.50-1.51 GiB against
#: 1.62-1.63, beside the window's 0.49 GiB: 1.99-2.00 GiB together, at the 2 GiB budget rather
#: than over it; the full result 22.3-22.7 s against 19.9-21.0.
BATCH_BYTES = 32 << 20
#: A reference window larger than this (rows × columns × 8 bytes) read from a source that
#: returns its rows in the same order on every read (DuckDB, Parquet) is prepared a batch of
#: columns at a time (:mod:`~watchkeeper.core.drift.reference_batches`), never held whole:
#: 3,000,000 reference events × 50 features held 2.0-2.5 GiB of the Drift view's 3.2 GiB.
#: Below it the reference is read as one table and prepared through the disk cache.
REFERENCE_BYTES = 512 << 20
#: How a performance view's note about labels without arrival times begins.
NO_LABEL_TIMES = "no label arrival times"
#: Show the estimated (CBPE) metric for windows whose label coverage is below this share.
ESTIMATE_BELOW_COVERAGE = 0.95


def window_for(entry: ModelEntry | None, window: WindowSpec | str | None) -> WindowSpec:
    """The window an analysis cuts: the choice (text or parsed), else the spec's
    ``[drift] window``, else one window over the whole period.

    The one place this fallback is decided; results are remembered under the parsed value,
    so ``"7d"``, ``" 7d"`` and the spec's own ``7d`` share one result.
    """
    if window is not None:
        return parse_window(window)
    spec = entry.spec if entry is not None else None
    if spec is not None and spec.drift.window is not None:
        return spec.drift.window
    return parse_window(None)


def open_source_of(entry: ModelEntry) -> TelemetrySource:
    """The entry's telemetry source: from its evidence, else what its spec names."""
    from watchkeeper.core.evaluation.data import open_spec_source

    spec = spec_of(entry)
    if entry.evidence is not None:
        return entry.evidence.open_source(spec)
    return open_spec_source(spec)


def reference_profile_of(entry: ModelEntry, version: str) -> ReferenceProfile | None:
    """A reference profile the evidence carries for ``version`` (a bundle's), or None."""
    if entry.evidence is None:
        return None
    return entry.evidence.reference_profile(version)


# -- drift -------------------------------------------------------------------------------


def _reference_query(spec: Any, version: str) -> tuple[str, dt.datetime, dt.datetime]:
    from watchkeeper.core.errors import SpecError

    span = spec.reference_range()
    if span is None or spec.reference.kind != "window":
        raise SpecError(
            f"{spec.model.name}: a registry artifact reference ([reference] kind = "
            '"artifact") is not read yet: name a baseline window (kind = "window" with '
            'start and end) or a file (kind = "file" with path)'
            if spec.reference is not None
            else f"{spec.model.name}: the spec has no [reference]: name a baseline window "
            '(kind = "window" with start and end) or a file (kind = "file" with path)'
        )
    return spec.reference.version or version, span[0], span[1]


def run_drift(
    entry: ModelEntry,
    version: str,
    window: WindowSpec | str | None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    start: dt.datetime | None = None,
    as_of: dt.datetime | None = None,
    partial: Callable[[DriftResult], None] | None = None,
    decisions_only: bool = False,
) -> DriftResult:
    """Drift of ``version``'s telemetry against the spec's reference, per window.

    In memory (exact statistics and the multivariate check included) up to
    :data:`IN_MEMORY_ROWS` current rows; beyond, counted in the database. ``as_of``: only
    events before that moment (what was known then); ``start``: only events from then on.
    ``partial`` receives the counts' result (features ranked, decided) before the exact
    statistics and the multivariate check finish (see the engines).

    ``decisions_only``: what a verdict needs, the same decisions and PSI: the multivariate
    check is left out, and the exact statistics too unless ``[drift] test = "ks"`` decides
    on them (the result's ``decisions_only`` then says so). At 500 features × 53 weekly
    windows they were 12 of the 17 s of the health sweep's drift.
    """
    from watchkeeper.core.drift.engine import analyze_drift
    from watchkeeper.core.drift.engine_sql import analyze_drift_sql
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.reference_cache import cached_reference
    from watchkeeper.core.evaluation.data import read_events
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import SqlSource

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    cols = spec.telemetry.columns
    ref_version = (spec.reference.version if spec.reference else None) or version
    profile = reference_profile_of(entry, ref_version)
    span: tuple[Any, ...] | None = None
    from_file = profile is None and is_file_reference(spec)
    if not from_file and (
        profile is None or (spec.reference is not None and spec.reference.kind == "window")
    ):
        span = _reference_query(spec, version)
    common: dict[str, Any] = {
        "categorical": cols.categorical,
        "numerical": cols.numerical,
        "window": window_for(entry, window),
        "start": start,
        "end": as_of,
        "settings": spec.drift,
    }
    # the engines' own switches (not in ``common``, which the reference's helpers read)
    exact = not decisions_only or spec.drift.test == "ks"
    multivariate = not decisions_only
    with READ_LOCK, open_source_of(entry) as src:
        # the score is analysed as prediction drift where the source has one
        scored = "score" in src.schema().names
        # named, so that what is read (and the batched reference) holds them all
        features = feature_names(spec, src)
        common["features"] = features
        derived = _multiclass_drift_columns(spec, src)
        if derived:
            features = [*features, *derived]
            common["features"] = features
            common["categorical"] = (
                *cols.categorical,
                *(["prediction"] if "prediction" in derived else []),
            )
        data_cols = ["ts", *(["score"] if scored else []), *features]
        report(0.02, "counting rows")
        selected = TelemetryQuery(
            model=spec.model.name, versions=(version,), start=start, end=as_of
        )
        rows = src.count(selected)
        if rows == 0:
            raise DriftError(
                f"{spec.model.name}: version {version} has no rows in {src.description}"
            )
        check_cancelled(cancelled)
        pushed = isinstance(src, SqlSource) and (
            src.warehouse
            or (
                rows > IN_MEMORY_ROWS
                and not (keeps_row_order(src) and len(features) > SQL_COUNT_FEATURES)
            )
        )
        report(0.05, "reading the reference")
        reference: Any = None
        if from_file:
            reference = _file_reference(spec, features, scored)
        elif (
            span is not None
            and pushed
            and _reference_in_database(src, common)
            and not _reference_fits(src, spec, span)
        ):
            reference = _reference_sql(src, spec, span, common, scored)
            if reference is None and profile is None:
                raise DriftError(_no_reference_rows(spec, span))
        elif span is not None and (
            ref_rows := _batched_reference_rows(src, spec, span, common, data_cols)
        ):
            reference = _prepared_in_batches(
                src,
                spec,
                span,
                ref_rows,
                common["features"],
                scored,
                stage(report, 0.05, 0.1),
                cancelled,
            )
        elif span is not None:
            ref_version, ref_start, ref_end = span
            reference = read_events(
                src,
                model=spec.model.name,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=data_cols,
                cancelled=cancelled,
            )
            if reference.num_rows == 0 and profile is None:
                raise DriftError(_no_reference_rows(spec, span))
            if reference.num_rows == 0:
                reference = None
            else:  # prepared once per machine, shared with the CLI and check
                reference = cached_reference(
                    reference,
                    features=common["features"],
                    categorical=cols.categorical,
                    numerical=cols.numerical,
                    settings=spec.drift,
                ).without_prepared_columns()  # not held twice: 229 MiB of the wide demo's read
        if reference is None:
            reference = profile  # the evidence's profile (a bundle's): counts only
        check_cancelled(cancelled)
        if pushed:
            assert isinstance(src, SqlSource)  # what ``pushed`` says
            import sqlalchemy as sa

            from watchkeeper.core.telemetry.sql import reflect_table

            engine, table_name = src.engine, src.table_name
            with engine.connect() as conn:
                table = reflect_table(conn, table_name)
                result = analyze_drift_sql(
                    reference,
                    conn,
                    table,
                    where=sa.and_(*src.where(table, selected)),
                    progress=stage(report, 0.1, 1.0),
                    cancelled=cancelled,
                    partial=partial,
                    **common,
                    exact=exact,
                    multivariate=multivariate,
                )
                labels = _label_tables(spec, src, version, span, common, as_of)
            return _scoped(_with_labels(result, labels, common, as_of), decisions_only)
        # the request id orders the exact statistics' sample, where there is one
        current_cols = [*(["request_id"] if src.schema().has_request_id else []), *data_cols]
        streamed = keeps_row_order(src) and rows * len(current_cols) * 8 > STREAM_BYTES
        current: Any = None
        if not streamed:
            report(0.1, f"reading {rows:,} events")
            current = read_events(
                src,
                model=spec.model.name,
                versions=[version],
                start=start,
                end=as_of,
                columns=current_cols,
                cancelled=cancelled,
            )
        labels = _label_tables(spec, src, version, span, common, as_of)
    check_cancelled(cancelled)
    if streamed:
        report(0.1, f"reading {rows:,} events, a batch of features at a time")
        with open_source_of(entry) as src:
            result = analyze_drift(
                reference,
                _column_reader(src, selected, current_cols, rows),
                progress=stage(report, 0.1, 1.0),
                cancelled=cancelled,
                partial=partial,
                **common,
                exact=exact,
                multivariate=multivariate,
            )
        return _scoped(_with_labels(result, labels, common, as_of), decisions_only)
    result = analyze_drift(
        reference,
        current,
        progress=stage(report, 0.3, 1.0),
        cancelled=cancelled,
        partial=partial,
        **common,
        exact=exact,
        multivariate=multivariate,
    )
    return _scoped(_with_labels(result, labels, common, as_of), decisions_only)


def _scoped(result: DriftResult, decisions_only: bool) -> DriftResult:
    """``result`` marked as holding the decisions only (see :func:`run_drift`)."""
    if not decisions_only:
        return result
    import dataclasses

    return dataclasses.replace(result, decisions_only=True)


#: Where the pushed-down analysis profiles the reference window in the database and fetches
#: its raw values as a bounded seeded sample (``reference_sql``) instead of reading it as
#: rows. "server" — a database outside this process (a warehouse, PostgreSQL), whose work
#: and memory are its own and where only the sample crosses the wire, and there only when
#: the reference holds more than ``exact_sample_limit`` events (counted first, one
#: statement): within it the exact statistics would fetch every one of its rows anyway, so
#: they are read as rows and prepared here as the rows path does (the same result, the disk
#: cache), one read instead of about a dozen statements (the Spark demo's 93,000 rows: see
#: ARCHITECTURE.md, Drift). "larger" — the same choice on DuckDB too (the tests of the choice
#: without a server). "always" — prepared in the database at any size, also on DuckDB, which
#: runs in this process: there its quantiles and the sample's row numbering cost our memory as
#: the rows would and took longer (1M reference rows 3.3 → 6.2 s, peak 592 → 566 MB;
#: ``benchmarks/reference_sql.py``); what the tests of that path and the benchmarks' "before"
#: use. "never" — read as rows.
REFERENCE_IN_DATABASE = "server"
_IN_PROCESS_DIALECTS = frozenset({"duckdb", "sqlite"})


def _file_reference(spec: Any, features: Sequence[str], scored: bool) -> PreparedReference:
    """The spec's reference file prepared (through the disk cache, as a window's rows are)."""
    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.reference_cache import cached_reference

    table = read_reference_file(spec, [*features, *(["score"] if scored else [])])
    missing = [f for f in features if f not in table.column_names]
    if missing:
        raise DriftError(
            f"{spec.model.name}: the reference file ({spec.reference.path}) has no column "
            f"{missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    cols = spec.telemetry.columns
    return cached_reference(
        table,
        features=features,
        categorical=cols.categorical,
        numerical=cols.numerical,
        settings=spec.drift,
    ).without_prepared_columns()


def _reference_in_database(src: TelemetrySource, common: dict[str, Any]) -> bool:
    """Whether the pushed-down analysis may prepare the reference in ``src``'s database (see
    :data:`REFERENCE_IN_DATABASE`): it can profile exactly (not SQLite) and the features are
    named (the in-memory path profiles the columns it read)."""
    from watchkeeper.core.drift.reference_sql import profiles_in_database

    if REFERENCE_IN_DATABASE == "never" or not common["features"]:
        return False
    if REFERENCE_IN_DATABASE == "server" and not getattr(src, "warehouse", False):
        dialect = src.engine.dialect.name  # type: ignore[attr-defined]
        if dialect in _IN_PROCESS_DIALECTS:
            return False
    return profiles_in_database(src)


def _reference_fits(src: Any, spec: Any, span: tuple[Any, ...]) -> bool:
    """Whether the reference window is read as rows after all: it holds at most
    ``exact_sample_limit`` events (one ``COUNT``), the rows the database path would fetch
    for the exact statistics anyway, and the source lets a read bring that many back (a
    warehouse URL's ``max_rows``). Never under ``"always"``."""
    from watchkeeper.core.telemetry.warehouse import MAX_ROWS_OPTION

    if REFERENCE_IN_DATABASE == "always":
        return False
    events = src.count(_span_query(spec, span))
    ceiling = src.engine.get_execution_options().get(MAX_ROWS_OPTION)
    return events <= spec.drift.exact_sample_limit and (ceiling is None or events <= ceiling)


def _no_reference_rows(spec: Any, span: tuple[Any, ...]) -> str:
    ref_version, ref_start, ref_end = span
    return (
        f"{spec.model.name}: the reference (version {ref_version}, "
        f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}) has no rows"
    )


def _reference_sql(
    src: Any, spec: Any, span: tuple[Any, ...], common: dict[str, Any], scored: bool
) -> Any:
    """The reference window prepared in ``src``'s database (profile there, exact statistics
    and PCA on at most ``exact_sample_limit`` fetched rows); None when it holds no row."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.reference_sql import prepare_reference_sql
    from watchkeeper.core.telemetry.sql import reflect_table

    query = _span_query(spec, span)
    with src.engine.connect() as conn:
        table = reflect_table(conn, src.table_name)
        return prepare_reference_sql(
            src,
            query,
            conn,
            table,
            where=sa.and_(*src.where(table, query)),
            features=common["features"],
            categorical=spec.telemetry.columns.categorical,
            numerical=spec.telemetry.columns.numerical,
            settings=spec.drift,
            prediction="score" if scored else None,
        )


def _span_query(spec: Any, span: tuple[Any, ...]) -> Any:
    """The query of the reference window ``span`` (version, start, end)."""
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    ref_version, ref_start, ref_end = span
    return TelemetryQuery(
        model=spec.model.name, versions=(ref_version,), start=ref_start, end=ref_end
    )


def _batched_reference_rows(
    src: TelemetrySource,
    spec: Any,
    span: tuple[Any, ...],
    common: dict[str, Any],
    columns: Sequence[str],
) -> int:
    """The reference window's rows when it is prepared a batch of columns at a time (its
    features named; see :func:`batched_reference_rows`), else 0."""
    if not common["features"]:
        return 0
    return batched_reference_rows(src, _span_query(spec, span), len(columns))


def batched_reference_rows(src: TelemetrySource, query: Any, width: int) -> int:
    """The rows of ``query``'s selection when a reference of ``width`` columns is prepared a
    batch of columns at a time — ``src`` returns its rows in the same order on every read,
    and they are larger than :data:`REFERENCE_BYTES` (one ``COUNT``) — else 0."""
    if not keeps_row_order(src):
        return 0
    rows = src.count(query)
    return rows if rows * width * 8 > REFERENCE_BYTES else 0


def _prepared_in_batches(
    src: TelemetrySource,
    spec: Any,
    span: tuple[Any, ...],
    rows: int,
    features: Sequence[str],
    scored: bool,
    progress: Progress,
    cancelled: CancelCheck | None,
) -> Any:
    """The reference window of ``rows`` rows prepared a batch of columns at a time, as
    ``cached_reference`` prepares it whole (the caller holds the read lock)."""
    cols = spec.telemetry.columns
    return reference_in_batches(
        src,
        _span_query(spec, span),
        rows,
        features=features,
        categorical=cols.categorical,
        numerical=cols.numerical,
        prediction="score" if scored else None,
        settings=spec.drift,
        progress=progress,
        cancelled=cancelled,
    )


def reference_in_batches(
    src: TelemetrySource,
    query: Any,
    rows: int,
    *,
    features: Sequence[str],
    categorical: Sequence[str] = (),
    numerical: Sequence[str] = (),
    prediction: str | None = None,
    settings: Any = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> PreparedReference:
    """``query``'s ``rows`` rows of ``src`` prepared as a reference a batch of columns at a
    time (:func:`~watchkeeper.core.drift.reference_batches.prepare_reference_in_batches`,
    batches of :data:`BATCH_BYTES`): what ``cached_reference`` gives of them read whole,
    from the disk cache when it was prepared before (``cached_reference_in_batches``)."""
    from watchkeeper.core.drift.reference_cache import cached_reference_in_batches
    from watchkeeper.core.memory import return_free_memory
    from watchkeeper.core.telemetry.sql import bound_duckdb_cache

    bound_duckdb_cache(src)  # DuckDB would keep every block it read in its buffer pool

    def read(names: Sequence[str]) -> Any:
        # the previous batch's blocks, freed in the allocator's arenas, back to the system
        # first: kept there, 3,000,000 rows × 50 features grew the process by 0.7 GiB
        return_free_memory()
        return src.read(query, columns=list(names), cancelled=cancelled)

    return cached_reference_in_batches(
        read,
        rows,
        features=features,
        categorical=categorical,
        numerical=numerical,
        prediction=prediction,
        settings=settings,
        batch_columns=max(1, BATCH_BYTES // max(1, rows * 8)),
        progress=progress,
        cancelled=cancelled,
    )


def keeps_row_order(src: TelemetrySource) -> bool:
    """Whether ``src`` returns the same rows in the same order on every read (the engine
    checks it too): Parquet files and DuckDB tables (insertion order), not CSV (every read
    parses the whole file) or a server's table."""
    from watchkeeper.core.telemetry.files import ParquetSource
    from watchkeeper.core.telemetry.sql import SqlSource

    if isinstance(src, SqlSource):
        return src.engine.dialect.name == "duckdb" and not src.warehouse
    return isinstance(src, ParquetSource)


def streamed_current(src: TelemetrySource, query: Any) -> ColumnReader | None:
    """The selected events of ``src`` as a :class:`ColumnReader` of all its columns when
    the selection is too large to hold (:data:`STREAM_BYTES`) and ``src`` returns its rows
    in the same order on every read; else None, to be read whole. One ``COUNT`` (a Parquet
    file's metadata when nothing is filtered)."""
    if not keeps_row_order(src):
        return None
    columns = list(src.schema().names)
    rows = src.count(query)
    if rows * len(columns) * 8 <= STREAM_BYTES:
        return None
    return _column_reader(src, query, columns, rows)


def _column_reader(
    src: TelemetrySource, query: Any, columns: Sequence[str], rows: int
) -> ColumnReader:
    """The selected events of ``src`` as a :class:`ColumnReader`: each read a few columns
    (16, or fewer so that a batch of ``rows`` float64 values stays within
    :data:`BATCH_BYTES`), under the read lock one at a time (a stream takes it per batch)."""
    from watchkeeper.core.drift.engine import ColumnReader
    from watchkeeper.core.drift.multivariate import MAX_FEATURES
    from watchkeeper.core.telemetry.sql import bound_duckdb_cache

    # the widest scan: the multivariate check's numerical columns streamed with the time
    bound_duckdb_cache(src, widest=min(len(columns), MAX_FEATURES + 2))

    def read(names: Sequence[str]) -> Any:
        with READ_LOCK:
            return src.read(query, columns=list(dict.fromkeys(names)))

    def stream(names: Sequence[str], rows: int) -> Any:
        batches = src.batches(query, columns=list(dict.fromkeys(names)), batch_rows=rows)
        while True:
            with READ_LOCK:
                batch = next(batches, None)
            if batch is None:
                return
            yield batch

    batch = max(1, min(ColumnReader.batch_columns, BATCH_BYTES // max(1, rows * 8)))
    return ColumnReader(tuple(columns), read, stream, batch_columns=batch)


def _label_tables(
    spec: Any,
    src: TelemetrySource,
    version: str,
    span: tuple[Any, ...] | None,
    common: dict[str, Any],
    as_of: dt.datetime | None,
) -> tuple[Any, Any] | None:
    """A multiclass model's known labels, reference and current (None: no label drift).

    Only multiclass for now: a binary model's 0/1 label would join the same way, but its
    drift is the positive rate, which its performance view already shows.
    """
    from watchkeeper.core.drift.label import known_labels
    from watchkeeper.core.evaluation.data import read_events

    names = src.schema().names
    if spec.model.task != "multiclass" or "label" not in names or span is None:
        return None
    label_cols = ["ts", "label", *(["label_ts"] if "label_ts" in names else [])]
    ref_version, ref_start, ref_end = span
    reference = read_events(
        src,
        model=spec.model.name,
        versions=[ref_version],
        start=ref_start,
        end=ref_end,
        columns=label_cols,
    )
    current = read_events(
        src,
        model=spec.model.name,
        versions=[version],
        start=common["start"],
        end=as_of,
        columns=label_cols,
    )
    ref_known, cur_known = known_labels(reference, ref_end), known_labels(current, as_of)
    if ref_known.num_rows == 0 or cur_known.num_rows == 0:
        return None
    return ref_known, cur_known


def _with_labels(
    result: DriftResult,
    labels: tuple[Any, Any] | None,
    common: dict[str, Any],
    as_of: dt.datetime | None,
) -> DriftResult:
    """``result`` with the label drift of ``labels`` (from :func:`_label_tables`) appended."""
    from watchkeeper.core.drift.label import label_drift, with_label_drift

    if labels is None or not result.windows:
        return result
    ref_known, cur_known = labels
    drift = label_drift(
        ref_known,
        cur_known,
        window=common["window"],
        settings=common["settings"],
        start=result.windows[0].start or common["start"],
        end=as_of,
    )
    return with_label_drift(result, drift)


def _multiclass_drift_columns(spec: Any, src: TelemetrySource) -> list[str]:
    """A multiclass model's prediction drift: each class probability and the predicted
    class, analysed as derived features beside the model's inputs."""
    if spec.model.task != "multiclass":
        return []
    have = set(src.schema().names)
    probabilities = list(spec.telemetry.columns.class_probabilities.values())
    return [*probabilities, *(["prediction"] if "prediction" in have else [])]


# -- performance -----------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceView:
    """Realized and estimated performance of one version, ready to draw and to judge.

    ``estimated`` is aligned with ``realized.windows`` (None where no estimate exists);
    ``baseline`` is the metric on the reference window, the line a move is measured from.
    """

    model: str
    version: str
    metric: str
    realized: Any  # PerformanceResult
    estimated: tuple[Any, ...]  # EstimatedWindow per window, or ()
    baseline: Any  # Estimate on the reference window, or None
    tolerance: float
    higher_is_better: bool
    notes: tuple[str, ...] = ()

    def x_seconds(self) -> np.ndarray:
        """Window midpoints as epoch seconds (what a time axis draws)."""
        out = np.full(len(self.realized.windows), np.nan)
        for i, w in enumerate(self.realized.windows):
            if w.start is not None and w.end is not None:
                out[i] = (w.start.timestamp() + w.end.timestamp()) / 2
        return out

    def coverage(self) -> np.ndarray:
        """Share of each window's events that have a label (NaN for an empty window)."""
        shares = [w.coverage.share for w in self.realized.windows]
        return np.array([np.nan if s is None else s for s in shares], dtype=float)

    def estimated_series(self) -> np.ndarray:
        """``(W, 3)`` estimated value/lower/upper where coverage is below the cut, else NaN."""
        out = np.full((len(self.realized.windows), 3), np.nan)
        cov = self.coverage()
        for i, ew in enumerate(self.estimated):
            if ew is None or not (cov[i] < ESTIMATE_BELOW_COVERAGE):
                continue
            e = ew.metrics.get(self.metric)
            if e is not None and e.value is not None:
                lo = np.nan if e.lower is None else e.lower
                hi = np.nan if e.upper is None else e.upper
                out[i] = [e.value, lo, hi]
        return out

    def alert_line(self) -> float | None:
        """The value beyond which the metric counts as moved (baseline ∓ tolerance)."""
        if self.baseline is None or self.baseline.value is None:
            return None
        sign = -1.0 if self.higher_is_better else 1.0
        return float(self.baseline.value + sign * self.tolerance)

    def judged_values(self) -> list[float | None]:
        """Per window the value health judges: realized when it exists, else estimated."""
        real = self.realized.series(self.metric)[:, 0]
        est = self.estimated_series()[:, 0]
        out: list[float | None] = []
        for r, e in zip(real, est, strict=True):
            out.append(float(r) if np.isfinite(r) else (float(e) if np.isfinite(e) else None))
        return out


def windows_to_estimate(realized: Any, health: Any, notes: list[str]) -> list[int]:
    """The realized windows an estimate is shown (and judged) for: those whose labels are
    still missing (coverage under :data:`ESTIMATE_BELOW_COVERAGE`), none when the spec's
    ``[health] estimate`` is off (said in ``notes``). Both performance paths ask this."""
    cov = [w.coverage.share for w in realized.windows]
    unlabeled = [i for i, c in enumerate(cov) if c is None or c < ESTIMATE_BELOW_COVERAGE]
    if not health.estimate:
        notes.append("no estimate where labels are missing ([health] estimate = false)")
        return []
    return unlabeled


def run_performance(
    entry: ModelEntry,
    version: str,
    window: WindowSpec | str | None,
    metric: str | None = None,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    *,
    as_of: dt.datetime | None = None,
) -> PerformanceView:
    """Realized metric per window with intervals, CBPE estimates, label coverage, baseline.

    The spec's ``[health]`` decides what health decides from this view too: a window is
    realized from ``min_labeled`` labels, it moved when ``tolerance`` worse than the
    reference, and it is estimated only with ``estimate = true``. ``as_of``: the events
    before that moment and only the labels that had arrived by then. A warehouse source (and a
    large SQL table) is aggregated in the database (:mod:`.performance_pushed`).
    """
    from watchkeeper.core.evaluation.data import read_events, ts_micros
    from watchkeeper.core.evaluation.metrics import (
        HIGHER_IS_BETTER,
        EvaluationError,
    )
    from watchkeeper.core.evaluation.performance import performance_over_time

    report = progress or (lambda f, m: None)
    spec = spec_of(entry)
    metric = metric or spec.gate.primary_metric
    win = window_for(entry, window)
    threshold = spec.gate.threshold
    health = spec.health
    from_file = is_file_reference(spec)
    ref_version, ref_start, ref_end = (
        (file_reference_version(spec, version), None, None)
        if from_file
        else _reference_query(spec, version)
    )
    classes = dict(spec.telemetry.columns.class_probabilities)
    multiclass = spec.model.task == "multiclass"
    with READ_LOCK, open_source_of(entry) as src:
        have = set(src.schema().names)
        for role in ("label",) if multiclass else ("score", "label"):
            if role not in have:
                raise EvaluationError(
                    f"{spec.model.name}: the telemetry has no {role} column ([telemetry.columns]"
                    f" {role}): performance needs {'scores' if role == 'score' else 'labels'}. "
                    "Drift and prediction drift work without them; mapping the column would "
                    "add the realized metric per window, its confidence band and label coverage"
                )
        from watchkeeper.core.workbench.performance_pushed import pushed_down, run_performance_sql

        if pushed_down(src, spec, metric, version, as_of):
            return run_performance_sql(
                src, spec, entry, version, metric, win, report, cancelled, as_of=as_of
            )
        # labels without arrival times are the common case: they count from the event on
        scores = list(classes.values()) if multiclass else ["score"]
        predicted = ["prediction"] if multiclass and "prediction" in have else []
        cols = ["ts", *scores, "label", *predicted, *(["label_ts"] if "label_ts" in have else [])]
        report(0.05, "reading events")
        current = read_events(
            src,
            model=spec.model.name,
            versions=[version],
            start=None,
            end=as_of,
            columns=cols,
            cancelled=cancelled,
        )
        reference = (
            None
            if from_file
            else read_events(
                src,
                model=spec.model.name,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=cols,
                cancelled=cancelled,
            )
        )
    file_note = None
    if from_file:  # outside the read lock: the file is not the telemetry
        reference, file_note = file_reference_outcomes(entry, cols)
    if current.num_rows == 0:
        raise EvaluationError(f"{spec.model.name}: version {version} has no rows")
    check_cancelled(cancelled)
    t = ts_micros(current.column("ts"))
    y, s, pred = _outcomes(spec, current)
    notes: list[str] = []
    if "label_ts" in current.column_names:
        lt = ts_micros(current.column("label_ts"))
    else:
        lt = np.full(current.num_rows, np.nan)
        notes.append(NO_LABEL_TIMES + ": labels count as known when the event happened")
    known_at = as_of
    if as_of is not None and not np.isfinite(lt).any():
        known_at = None
        notes.append(
            "no label arrival times: every stored label counts, also those that arrived "
            f"after {as_of:%Y-%m-%d %H:%M}"
        )
    report(0.25, "realized metrics")
    realized = performance_over_time(
        t,
        y,
        s,
        window=win,
        task=spec.model.task,
        threshold=threshold,
        metrics=[metric],
        min_labeled=health.min_labeled,
        label_ts_us=lt,
        as_of=known_at,
        classes=tuple(classes),
        predicted=pred,
        label_column=spec.telemetry.columns.label,
    )
    check_cancelled(cancelled)
    baseline = None
    estimated: tuple[Any, ...] = ()
    if reference is None:
        assert file_note is not None  # a file reference without outcomes, and why
        notes.append(file_note)
    elif reference.num_rows == 0:
        if entry.evidence is not None:
            baseline = entry.evidence.reference_baseline(ref_version, metric, ref_start, ref_end)
        span = f"{ref_start:%Y-%m-%d} to {ref_end:%Y-%m-%d}"
        notes.append(
            f"the reference window ({span}) has no events here (an offline bundle holds its "
            "own range only): "
            + (
                f"baseline {metric} from the signed approval of version {ref_version}, no estimate"
                if baseline is not None
                else "no baseline, no estimate"
            )
        )
    else:
        report(0.45, "reference baseline")
        baseline, (ry, rs, _) = reference_baseline(spec, reference, metric)
        unlabeled = windows_to_estimate(realized, health, notes)
        if unlabeled:
            estimated = _estimate(
                spec,
                metric,
                t,
                s,
                ry,
                rs,
                win,
                threshold,
                unlabeled,
                notes,
                report,
                cancelled,
                pred,
            )
    report(1.0, "done")
    return PerformanceView(
        model=spec.model.name,
        version=version,
        metric=metric,
        realized=realized,
        estimated=estimated,
        baseline=baseline,
        tolerance=health.tolerance,
        higher_is_better=HIGHER_IS_BETTER.get(metric, True),
        notes=tuple(notes),
    )


def no_file_outcomes(spec: Any) -> str:
    """Why a reference file gives no baseline: it lacks the outcomes (a training sample of
    features)."""
    return (
        f"the reference file ({spec.reference.path}) has no scores and labels: no baseline, "
        "no estimate (drift reads its features)"
    )


def file_reference_outcomes(entry: ModelEntry, columns: Sequence[str]) -> tuple[Any, str | None]:
    """A file reference's outcomes for the performance baseline (:func:`file_outcomes`), or
    None and why: the file lacks them, or the entry is a bundle, which holds the file's
    profile (what drift reads) and not the file."""
    spec: Any = spec_of(entry)  # its reference is a file (the caller's test)
    if entry.evidence is not None:
        return None, (
            f"the reference is a file ({spec.reference.path}), which the bundle does not hold "
            "(it holds the profile drift reads): no baseline, no estimate"
        )
    table = file_outcomes(spec, columns)
    return table, None if table is not None else no_file_outcomes(spec)


def file_outcomes(spec: Any, columns: Sequence[str]) -> pa.Table | None:
    """The reference file's ``columns`` for a performance baseline (a file without a time
    column is one moment), or None when it lacks the scores or the labels."""
    import pyarrow as pa

    table = read_reference_file(spec, columns)
    needed = ["label", *dict(spec.telemetry.columns.class_probabilities).values()]
    if spec.model.task != "multiclass":
        needed.append("score")
    if any(c not in table.column_names for c in needed):
        return None
    if "ts" not in table.column_names:
        zero = pa.array(np.zeros(table.num_rows, dtype="datetime64[us]")).cast(
            pa.timestamp("us", tz="UTC")
        )
        table = table.append_column("ts", zero)
    return table


def reference_baseline(
    spec: Any, reference: Any, metric: str
) -> tuple[Estimate | None, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """``metric`` over the whole reference (one window) and its outcomes (``_outcomes``)."""
    from watchkeeper.core.evaluation.data import ts_micros
    from watchkeeper.core.evaluation.performance import performance_over_time

    outcomes = _outcomes(spec, reference)
    ry, rs, rpred = outcomes
    base = performance_over_time(
        ts_micros(reference.column("ts")),
        ry,
        rs,
        window=None,
        task=spec.model.task,
        threshold=spec.gate.threshold,
        metrics=[metric],
        min_labeled=spec.health.min_labeled,
        classes=tuple(spec.telemetry.columns.class_probabilities),
        predicted=rpred,
        label_column=spec.telemetry.columns.label,
    )
    return (base.windows[0].metrics.get(metric) if base.windows else None), outcomes


def _outcomes(spec: Any, table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(labels, scores, predicted classes) as the evaluation takes them: a binary model's
    labels and scores as floats; a multiclass model's labels and predictions as class codes
    and its scores as the ``n × k`` probabilities, in the spec's class order."""
    from watchkeeper.core.evaluation.metrics import float_array

    if spec.model.task != "multiclass":
        y = float_array(table.column("label"), "label")
        return y, float_array(table.column("score"), "score"), None
    from watchkeeper.core.evaluation.multiclass import class_codes

    mapped = spec.telemetry.columns
    classes = mapped.class_probabilities
    # the source's column names in a refusal, as the database's counting names them
    y = class_codes(list(classes), table.column("label"), column=mapped.label)
    columns = [float_array(table.column(c), f"probability of {k}") for k, c in classes.items()]
    p = np.column_stack(columns) if columns else np.zeros((table.num_rows, 0))
    pred = None
    if "prediction" in table.column_names:
        pred = class_codes(
            list(classes), table.column("prediction"), "prediction", column=mapped.prediction
        )
    return y, p, pred


def _estimate(
    spec: Any,
    metric: str,
    t: Any,
    s: Any,
    ry: Any,
    rs: Any,
    win: WindowSpec,
    threshold: float,
    windows: Sequence[int],
    notes: list[str],
    report: Progress,
    cancelled: CancelCheck | None,
    predicted: Any = None,
) -> tuple[Any, ...]:
    """CBPE estimates for ``windows``, calibrated on the reference (per class, multiclass)."""
    from watchkeeper.core.evaluation.estimation import (
        ESTIMATED_METRICS,
        estimated_over_time,
        fit_calibrator,
    )
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.multiclass_estimation import (
        MULTICLASS_ESTIMATED,
        estimated_over_time_multiclass,
        fit_multiclass_calibrator,
    )

    task = spec.model.task
    if task not in ("binary", "multiclass"):
        return ()
    covered = MULTICLASS_ESTIMATED if task == "multiclass" else ESTIMATED_METRICS
    if metric not in covered:
        notes.append(
            f"{metric} cannot be estimated without labels (CBPE covers {', '.join(covered)})"
        )
        return ()
    check_cancelled(cancelled)
    report(0.55, "calibrating the estimate")
    try:
        if task == "multiclass":
            classes = tuple(spec.telemetry.columns.class_probabilities)
            per_class = fit_multiclass_calibrator(classes, ry, rs)
            report(0.65, "estimating unlabeled windows")
            return tuple(
                estimated_over_time_multiclass(
                    t,
                    s,
                    per_class,
                    predicted=predicted,
                    window=win,
                    metrics=[metric],
                    n_sim=100,
                    only=windows,
                )
            )
        calibrator = fit_calibrator(ry, rs)
        report(0.65, "estimating unlabeled windows")
        return tuple(
            estimated_over_time(
                t,
                s,
                calibrator,
                window=win,
                threshold=threshold,
                metrics=[metric],
                n_sim=100,
                only=windows,
            )
        )
    except EvaluationError as exc:
        notes.append(f"no estimate: {exc}")
        return ()
