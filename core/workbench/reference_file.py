"""A reference that is a file (``[reference] kind = "file"``): a training or validation
sample the model owner keeps, rather than a window of the telemetry.

The file is Parquet (a file or a folder of them) or CSV, its path relative to the spec's
folder. Its columns are named as the telemetry's: a role the spec maps to another name
(``score = "p_fraud"``) is found under either name. Where the file has the telemetry's
``model`` or ``model_version`` column, only the spec's model (and ``[reference] version``,
when given) is taken: one file may hold several models' samples. Only the columns an
analysis asks for are read; a file whose asked columns exceed :data:`REFERENCE_FILE_BYTES`
(as float64 by a Parquet file's metadata; by its size for a CSV) is refused with what to do,
not read into memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from watchkeeper.core.errors import SpecError, TelemetryError

__all__ = [
    "FILE_REFERENCE_SLICES",
    "REFERENCE_FILE_BYTES",
    "describe_reference",
    "file_reference_version",
    "is_file_reference",
    "read_reference_file",
]

#: The most a file reference may hold of the columns an analysis reads (rows × columns ×
#: 8 bytes): the whole of it is profiled in memory. 1 GiB is 2.6 M rows × 50 columns.
REFERENCE_FILE_BYTES = 1 << 30

#: The Slices view's note: its worst-slice search compares each slice with the same slice in
#: the reference period of the telemetry, which a file reference is not.
FILE_REFERENCE_SLICES = (
    "the reference is a file: worst slices are compared with the overall metric of the "
    "window (a slice's change since the reference needs a reference window of the telemetry)"
)

_ROLES = ("ts", "model", "model_version", "score", "label", "label_ts", "prediction")


def is_file_reference(spec: Any) -> bool:
    return spec.reference is not None and spec.reference.kind == "file"


def describe_reference(spec: Any, version: str) -> str:
    """Where the reference comes from, in a few words for a heading: ``training.parquet``,
    ``v1 2026-01-01 to 2026-02-01``; empty when the spec names none."""
    ref = spec.reference if spec is not None else None
    if ref is None:
        return ""
    if ref.kind == "file":
        return Path(ref.path).name
    if ref.kind == "artifact":
        return f"artifact {ref.artifact}"
    span = spec.reference_range()
    if span is None:
        return ""
    return f"v{ref.version or version} {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d}"


def file_reference_version(spec: Any, version: str) -> str:
    """The version a file reference stands for: ``[reference] version``, else ``version``."""
    return str(spec.reference.version or version)


def read_reference_file(spec: Any, columns: Sequence[str] | None) -> pa.Table:
    """The rows of the spec's reference file, with those of ``columns`` it holds (roles
    under their canonical names; None: every column, a role's under its role only).
    Raises :class:`SpecError` saying what is wrong: a missing or unreadable file, no rows
    for the model, too large."""
    from watchkeeper.core.telemetry.source import resolve_path

    ref = spec.reference
    model = spec.model.name
    path = resolve_path(ref.path, spec.base_dir)
    where = f"{model}: the reference file {path}"
    if not path.exists():
        raise SpecError(f"{where} does not exist ([reference] path)")
    try:
        names = _column_names(path)
        # the name an analysis asks for → the file's column holding it
        holding = {c: c for c in names}
        for role, column in _role_names(spec).items():
            if role not in holding and column in holding:
                holding[role] = column
        serving = {c for r, c in holding.items() if r != c}
        asked = [h for h in holding if h not in serving] if columns is None else columns
        wanted = list(dict.fromkeys(c for c in asked if c in holding))
        outputs = [*wanted, *(r for r in ("model", "model_version") if r in holding)]
        outputs = list(dict.fromkeys(outputs))
        # one column at least: a file without any asked for still has its rows counted
        read = list(dict.fromkeys(holding[c] for c in outputs)) or names[:1]
        rows = _row_count(path)
        if rows is not None:  # Parquet: its metadata says
            size, what = rows * max(1, len(read)) * 8, f"{rows:,} rows"
        else:  # CSV: its text, the share of the columns read (a number's text ≈ 8 bytes)
            size = path.stat().st_size * len(read) // max(1, len(names))
            what = f"{path.stat().st_size >> 20:,} MiB of text"
        if size > REFERENCE_FILE_BYTES:
            raise SpecError(
                f"{where} holds {what}: the {len(read)} column(s) read are over the "
                f"{REFERENCE_FILE_BYTES >> 20:,} MiB a file reference may take in memory. "
                "Keep a sample of it (a few hundred thousand rows describe a distribution), "
                'or use a window of the telemetry (kind = "window")'
            )
        table = _read(path, read)
    except (OSError, pa.ArrowException, ValueError, TelemetryError) as exc:
        raise SpecError(f"{where} could not be read: {exc}") from None
    rows_only = table.select([])  # the rows, under the names asked for
    for c in outputs:
        rows_only = rows_only.append_column(c, table.column(holding[c]))
    table = rows_only
    table = _only_ours(table, model, ref.version, where)
    return table.select(wanted)


def _role_names(spec: Any) -> dict[str, str]:
    """Role → the column name the telemetry gives it, where it is another name."""
    cols = spec.telemetry.columns
    out = {}
    for role in _ROLES:
        column = getattr(cols, role, None)
        if column and column != role:
            out[role] = column
    return out


def _is_csv(path: Path) -> bool:
    from watchkeeper.core.telemetry.files import CSV_SUFFIXES, PARQUET_SUFFIXES

    name = path.name.lower()
    if path.is_dir() or name.endswith(PARQUET_SUFFIXES):
        return False
    if name.endswith(CSV_SUFFIXES):
        return True
    raise ValueError(
        "reference files are .parquet, .csv or .csv.gz (or a folder of .parquet files)"
    )


def _column_names(path: Path) -> list[str]:
    if _is_csv(path):
        from watchkeeper.core.telemetry.files import csv_column_names

        return csv_column_names(path)
    import pyarrow.dataset as ds

    return list(ds.dataset(path, format="parquet").schema.names)


def _row_count(path: Path) -> int | None:
    """The rows of a Parquet reference from its metadata (a CSV's are not known unread)."""
    if _is_csv(path):
        return None
    import pyarrow.dataset as ds

    return int(ds.dataset(path, format="parquet").count_rows())


def _read(path: Path, columns: Sequence[str]) -> pa.Table:
    if _is_csv(path):
        from watchkeeper.core.telemetry.files import read_csv_whole

        return read_csv_whole(path, columns)
    import pyarrow.dataset as ds

    return ds.dataset(path, format="parquet").to_table(columns=list(columns))


def _only_ours(table: pa.Table, model: str, version: str | None, where: str) -> pa.Table:
    """The rows of ``model`` (and ``version``) where the file says whose rows they are."""
    import pyarrow.compute as pc

    if "model" in table.column_names:
        table = table.filter(pc.equal(table.column("model").cast(pa.string()), model))
        if table.num_rows == 0:
            raise SpecError(f"{where} has a model column and no row of {model}")
    if version is not None and "model_version" in table.column_names:
        versions = table.column("model_version").cast(pa.string())
        table = table.filter(pc.equal(versions, version))
        if table.num_rows == 0:
            raise SpecError(f"{where} has no row of version {version} ([reference] version)")
    if table.num_rows == 0:
        raise SpecError(f"{where} has no rows")
    return table
