"""Reading drift inputs that may not be telemetry: a training snapshot has no request ids.

:func:`read_table` reads ``SRC`` (CONTRACT.md: a ``.parquet``/``.csv`` file or ``URL#table``)
through the telemetry readers when it holds the telemetry roles, and otherwise — a reference
file of features only — as a plain table with pyarrow (files) or SQLAlchemy (databases), with
the readers' error messages for everything else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES

__all__ = ["read_table"]


def _missing_role(exc: TelemetryError) -> bool:
    return exc.column in CANONICAL_ROLES and "no such column" in exc.reason


def read_table(location: str, *, base_dir: Path | None = None) -> pa.Table:
    """All rows and columns of ``location`` as an Arrow table."""
    from watchkeeper.core.telemetry.source import open_source

    with open_source(location, base_dir=base_dir) as src:
        try:
            return src.read()
        except TelemetryError as exc:
            if not _missing_role(exc):
                raise
            from watchkeeper.core.telemetry.sql import sql_location

            parts = sql_location(src)
            if parts is not None:
                return _read_sql(*parts, shown=src.description)
        return _read_file(src, location)


def _read_file(src: Any, location: str) -> pa.Table:
    import pyarrow.parquet as pq

    from watchkeeper.core.telemetry.files import CSV_SUFFIXES, read_csv_whole

    dataset = getattr(src, "_dataset", None)  # a Parquet file or folder, already opened
    path = Path(getattr(src, "_path", None) or src.description)
    try:
        if dataset is not None:
            return dataset.to_table()
        if path.name.lower().endswith(CSV_SUFFIXES):
            return read_csv_whole(path)  # blank fields missing, as the telemetry reads them
        return pq.read_table(path)
    except (
        pa.ArrowInvalid,
        pa.ArrowNotImplementedError,
        OSError,
        ValueError,
        TelemetryError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DriftError(f"{location}: cannot be read: {first}") from None


def _read_sql(engine: Any, table: str, *, shown: str) -> pa.Table:
    import sqlalchemy as sa

    from watchkeeper.core.drift.data import as_table
    from watchkeeper.core.telemetry.sql import reflect_table

    try:
        with engine.connect() as conn:
            t = reflect_table(conn, table)
            result = conn.execute(sa.select(t))
            rows = result.fetchall()
            names = list(result.keys())
    except sa.exc.SQLAlchemyError as exc:
        raise DriftError(f"{shown}: cannot be read: {str(exc).splitlines()[0]}") from None
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    try:
        return as_table({n: pa.array(v) for n, v in columns.items()}, shown)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DriftError(f"{shown}: cannot be read: {exc}") from None
