"""Turning what a caller hands the drift engine into Arrow columns and numpy arrays.

Accepted data: a ``pyarrow.Table``, a pandas ``DataFrame`` or a mapping of column name to
array-like. Numerical features become ``float64`` with NaN for missing values (``±inf`` stay
values); timestamps become ``int64`` epoch microseconds (UTC) with :data:`NULL_TS` for missing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.telemetry.windows import NULL_TS

__all__ = [
    "CATEGORICAL",
    "NUMERICAL",
    "as_table",
    "finite_mean_std",
    "infer_kind",
    "numeric_values",
    "resolve_features",
    "timestamps_us",
    "worker_threads",
]

NUMERICAL = "numerical"
CATEGORICAL = "categorical"


def as_table(data: Any, what: str = "data") -> pa.Table:
    """A ``pyarrow.Table`` from a Table, a DataFrame or a mapping of arrays."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return _from_pandas(data, pd)
    if isinstance(data, Mapping):
        cols = {}
        for name, values in data.items():
            try:
                cols[str(name)] = (
                    values
                    if isinstance(values, (pa.Array, pa.ChunkedArray))
                    else (pa.array(np.asarray(values) if not isinstance(values, list) else values))
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise DriftError(f"{what}: column {name!r} cannot be read: {exc}") from None
        return pa.table(cols)
    raise DriftError(f"{what}: expected a table (Arrow, pandas or a mapping of columns)")


def _from_pandas(df: Any, pd: Any) -> pa.Table:
    # Zone-aware datetimes go through naive UTC values: pyarrow's own conversion reads
    # Series.values, which pandas 3 deprecates for them (a warning on every call).
    tz_cols = [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]
    try:
        if not tz_cols:
            return pa.Table.from_pandas(df, preserve_index=False)
        rest = pa.Table.from_pandas(df.drop(columns=tz_cols), preserve_index=False)
        arrays, names = [], []
        for c in df.columns:
            if c in tz_cols:
                naive = df[c].dt.tz_convert(None).to_numpy()
                arr = pa.array(naive, from_pandas=True)
                arrays.append(arr.cast(pa.timestamp(arr.type.unit, tz="UTC")))
            else:
                arrays.append(rest.column(str(c)))
            names.append(str(c))
        return pa.table(arrays, names=names)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise DriftError(f"a column cannot be read: {exc}") from None


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def infer_kind(t: pa.DataType) -> str | None:
    """numerical / categorical from an Arrow type; ``None`` for types drift cannot use."""
    t = _value_type(t)
    if pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return CATEGORICAL
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return NUMERICAL
    if pa.types.is_null(t):
        return NUMERICAL
    if pa.types.is_string_view(t) if hasattr(pa.types, "is_string_view") else False:
        return CATEGORICAL
    return None


def resolve_features(
    table: pa.Table,
    features: Sequence[str] | None,
    *,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    exclude: Iterable[str] = (),
    what: str = "data",
) -> dict[str, str]:
    """``{feature: kind}`` in order: the given features, or every usable column not excluded."""
    categorical = set(categorical)
    numerical = set(numerical)
    both = sorted(categorical & numerical)
    if both:
        raise DriftError(f"feature {both[0]!r} is declared both numerical and categorical")
    names = table.column_names
    if features:
        missing = [f for f in features if f not in names]
        if missing:
            raise DriftError(f"{what}: no column {missing[0]!r} (columns: {', '.join(names[:20])})")
        if len(set(features)) != len(features):
            raise DriftError("a feature is listed twice")
        chosen = list(features)
    else:
        skip = set(exclude)
        chosen = [n for n in names if n not in skip]
    out: dict[str, str] = {}
    for name in chosen:
        t = table.schema.field(name).type
        kind: str | None
        if name in categorical:
            kind = CATEGORICAL
        elif name in numerical:
            kind = NUMERICAL
            if infer_kind(t) != NUMERICAL:
                raise DriftError(f"{what}: column {name!r} is {t}, not numerical")
        else:
            kind = infer_kind(t)
        if kind is None:
            if features:
                raise DriftError(f"{what}: column {name!r} has type {t}, which drift cannot use")
            continue
        out[name] = kind
    if not out:
        raise DriftError(f"{what}: no feature columns to analyse")
    return out


def numeric_values(col: pa.ChunkedArray | pa.Array, name: str = "") -> np.ndarray:
    """``float64`` values, NaN for nulls (one copy at most)."""
    t = _value_type(col.type)
    if pa.types.is_dictionary(col.type):
        col = col.cast(t)
    if not (
        pa.types.is_floating(t)
        or pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    ):
        raise DriftError(f"column {name!r} is {t}, not numerical")
    if col.type != pa.float64():
        col = col.cast(pa.float64(), safe=False)
    if col.null_count:
        col = pc.fill_null(col, np.nan)
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0).to_numpy(zero_copy_only=False)
        return col.to_numpy()
    return col.to_numpy(zero_copy_only=False)


def timestamps_us(col: pa.ChunkedArray | pa.Array, name: str = "ts") -> np.ndarray:
    """Epoch microseconds (UTC; naive values taken as UTC), :data:`NULL_TS` for nulls."""
    t = col.type
    if pa.types.is_timestamp(t):
        col = col.cast(pa.timestamp("us", tz=t.tz), safe=False).cast(pa.int64())
    elif pa.types.is_date(t):
        col = col.cast(pa.timestamp("us")).cast(pa.int64())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DriftError(
                f"column {name!r} holds text that is not ISO-8601 timestamps"
            ) from None
    else:
        raise DriftError(f"column {name!r} is {t}, not a timestamp")
    if col.null_count:
        col = pc.fill_null(col, NULL_TS)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def worker_threads() -> int:
    """Threads for the drift engine's pools (counting, exact statistics, the reference's
    preparation): one per CPU, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def finite_mean_std(finite: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of finite values, also of values near the largest float,
    whose sum overflows (numpy's own where it does not: the same bits)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = float(finite.mean()), float(finite.std())
    if math.isfinite(mean) and math.isfinite(std):
        return mean, std
    scale = float(np.max(np.abs(finite)))  # finite and > 0: the sum overflowed
    scaled = finite / scale
    return float(scaled.mean()) * scale, float(scaled.std()) * scale
