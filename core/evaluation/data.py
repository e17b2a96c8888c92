"""Reading a monitor spec's telemetry for the evaluation: sources, time ranges, versions.

:func:`open_spec_source` opens ``[telemetry] source`` relative to the spec's folder. It also
accepts a database *file* with the table after ``#`` and no URL scheme
(``../telemetry.duckdb#predictions``, which the demo's specs write), reading it as the
matching ``duckdb:///`` or ``sqlite:///`` URL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
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
