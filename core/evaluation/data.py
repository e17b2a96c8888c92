"""Reading a monitor spec's telemetry for the evaluation: sources, time ranges, versions.

:func:`open_spec_source` opens ``[telemetry] source`` relative to the spec's folder. It also
accepts a database *file* with the table after ``#`` and no URL scheme
(``../telemetry.duckdb#predictions``, which the demo's specs write), reading it as the
matching ``duckdb:///`` or ``sqlite:///`` URL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from watchkeeper.core.progress import CancelCheck
    from watchkeeper.core.spec import MonitorSpec
    from watchkeeper.core.telemetry.source import TelemetrySource

__all__ = [
    "open_spec_source",
    "read_events",
    "sample_events",
    "source_location",
    "ts_micros",
    "version_time_range",
]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_DB_SUFFIXES = {".duckdb": "duckdb", ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite"}


def source_location(location: str) -> str:
    """``location``, with ``file.duckdb#table`` turned into ``duckdb:///file.duckdb#table``."""
    text = location.strip()
    if _SCHEME.match(text) or "#" not in text:
        return text
    path, _, table = text.rpartition("#")
    for suffix, dialect in _DB_SUFFIXES.items():
        if path.lower().endswith(suffix):
            return f"{dialect}:///{path}#{table}"
    return text


def open_spec_source(spec: MonitorSpec) -> TelemetrySource:
    """The telemetry source of a :class:`MonitorSpec`, under its column mapping."""
    from watchkeeper.core.telemetry.source import open_source

    return open_source(
        source_location(spec.telemetry.source),
        spec.telemetry.mapping(),
        base_dir=spec.base_dir,
    )


def read_events(
    source: Any,
    *,
    model: str | None,
    versions: Sequence[str],
    start: dt.datetime | None,
    end: dt.datetime | None,
    columns: Sequence[str],
    cancelled: CancelCheck | None = None,
) -> pa.Table:
    """The selected events (only ``columns``) as an Arrow table; ``cancelled`` is checked
    between the source's batches."""
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    query = TelemetryQuery(model=model, versions=tuple(versions), start=start, end=end)
    return source.read(query, columns=list(dict.fromkeys(columns)), cancelled=cancelled)


def sample_events(
    source: Any,
    *,
    model: str | None,
    versions: Sequence[str],
    start: dt.datetime | None,
    end: dt.datetime | None,
    columns: Sequence[str],
    kept: Callable[[pa.Table], pa.Table],
    max_rows: int,
    seed: int,
    cancelled: CancelCheck | None = None,
) -> tuple[pa.Table, int]:
    """A seeded uniform sample of at most ``max_rows`` of the selected events that ``kept``
    keeps, in the source's order, and how many it kept in all — read a batch at a time, so
    the process holds the sample and one batch, never the selection.

    Each kept event draws a key from a generator seeded by ``seed``; the sample is the
    ``max_rows`` smallest keys (bottom-k: uniform without replacement). Events whose key
    cannot be among them any more are dropped as they stream by, and what is held is cut
    back to ``max_rows`` whenever it grows by half as much again. When ``max_rows`` or fewer
    are kept, the sample is all of them, in order: what a read of every event and ``kept``
    give. ``kept`` may raise (a label that is not the model's): the read stops there.
    ``cancelled`` is checked between batches.
    """
    from watchkeeper.core.progress import check_cancelled
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    if max_rows < 1:
        raise ValueError("max_rows must be positive")
    query = TelemetryQuery(model=model, versions=tuple(versions), start=start, end=end)
    names = list(dict.fromkeys(columns))
    rng = np.random.default_rng(seed)
    parts: list[pa.Table] = []
    keys: list[np.ndarray] = []
    held = total = 0
    cut = np.inf  # a key at or above the held sample's largest cannot enter it any more
    schema: pa.Schema | None = None
    slack = max(1, max_rows // 4)

    def cut_back() -> None:
        nonlocal held, cut
        table = pa.concat_tables(parts)
        drawn = np.concatenate(keys)
        parts.clear()
        keys.clear()
        if table.num_rows > max_rows:
            # sorted positions keep the source's order: the parts are concatenated in it
            keep = np.sort(np.argpartition(drawn, max_rows - 1)[:max_rows])
            table, drawn = table.take(pa.array(keep)), drawn[keep]
            cut = float(drawn.max())
        parts.append(table)
        keys.append(drawn)
        held = table.num_rows

    for batch in source.batches(query, columns=names):
        check_cancelled(cancelled)
        schema = batch.schema
        part = kept(pa.Table.from_batches([batch]))
        n = part.num_rows
        if n == 0:
            continue
        total += n
        drawn = rng.random(n)
        entering = drawn < cut
        if not entering.all():
            part, drawn = part.filter(pa.array(entering)), drawn[entering]
        if part.num_rows:
            parts.append(part)
            keys.append(drawn)
            held += part.num_rows
        if held > max_rows + slack:
            cut_back()
    check_cancelled(cancelled)
    if not parts:  # nothing kept: an empty table of the columns
        if schema is None:  # nothing selected: the read of nothing gives the schema
            return kept(source.read(query, columns=names)), 0
        return kept(schema.empty_table()), 0
    cut_back()
    return parts[0], total


def ts_micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float epoch microseconds (NaN where missing)."""
    as_int = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(pc.cast(as_int, pa.float64()).to_numpy(zero_copy_only=False))


def version_time_range(
    source: Any, model: str | None, version: str
) -> tuple[dt.datetime, dt.datetime] | None:
    """First event time and the end (last event + 1 µs) of one version's rows; None if none."""
    table = read_events(
        source, model=model, versions=[version], start=None, end=None, columns=["ts"]
    )
    if table.num_rows == 0:
        return None
    mm = pc.min_max(table.column("ts"))
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    if lo is None:
        return None
    return lo, hi + dt.timedelta(microseconds=1)
