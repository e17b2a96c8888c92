"""Slice predicates: which events a slice holds, as a numpy mask and as a SQL ``WHERE``.

A :class:`SlicePredicate` is a conjunction of :class:`Condition` s — equality, membership in a
set, a numeric range (``min`` inclusive, ``max`` exclusive, as the monitor spec says) or
"is missing". The same predicate becomes a numpy mask over an Arrow table
(:meth:`SlicePredicate.mask`; a missing value never satisfies a value condition) and a
SQLAlchemy ``WHERE`` clause (:meth:`SlicePredicate.where`; values bound, range bounds bound
as ``Double`` so every engine compares as numpy does), so for a SQL source the slice is
selected where the data lives. :func:`predicates_from_spec` builds them from the monitor
spec's ``[[slices]]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.evaluation.metrics import EvaluationError

__all__ = [
    "Condition",
    "SlicePredicate",
    "predicate_from_spec",
    "predicates_from_spec",
]

Op = Literal["eq", "in", "range", "null"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class _Columns(Protocol):
    """A ``Table.c`` (not a Mapping) or a name → column map: a lookup by name."""

    def __getitem__(self, name: str, /) -> Any: ...


@dataclass(frozen=True)
class Condition:
    """One condition on one column. ``value``: a scalar (eq), a tuple (in), a ``(min, max)``
    pair with ``None`` for an open end (range), or ``None`` (null)."""

    column: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        # an unknown op would select nothing, silently (it fell through to "eq")
        if self.op not in get_args(Op):
            raise EvaluationError(
                f"{self.column}: unknown condition {self.op!r} (one of {', '.join(get_args(Op))})"
            )

    @property
    def label(self) -> str:
        c = self.column
        if self.op == "eq":
            return f"{c}={_fmt(self.value)}"
        if self.op == "in":
            return f"{c} in {{{','.join(_fmt(v) for v in self.value)}}}"
        if self.op == "null":
            return f"{c} is missing"
        lo, hi = self.value
        if lo is not None and hi is not None:
            return f"{_fmt(lo)}<={c}<{_fmt(hi)}"
        return f"{c}>={_fmt(lo)}" if lo is not None else f"{c}<{_fmt(hi)}"

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if self.op == "in":
            value = list(value)
        elif self.op == "range":
            value = {"min": value[0], "max": value[1]}
        return {"column": self.column, "op": self.op, "value": value}

    # numpy / Arrow
    def mask(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        if self.op == "null":
            valid = pc.is_null(column, nan_is_null=pa.types.is_floating(column.type))
            return np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
        if self.op == "range":
            lo, hi = self.value
            parts = []
            if lo is not None:
                parts.append(pc.greater_equal(column, pa.scalar(float(lo))))
            if hi is not None:
                parts.append(pc.less(column, pa.scalar(float(hi))))
            result = parts[0] if len(parts) == 1 else pc.and_kleene(*parts)
        else:
            values = self.value if self.op == "in" else (self.value,)
            result = pc.is_in(column, value_set=_value_set(values, column.type, self.column))
        return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)

    # SQL
    def where(self, column: Any) -> Any:
        import sqlalchemy as sa

        from watchkeeper.core.telemetry.sql_values import double

        if self.op == "null":
            return column.is_(None)
        if self.op == "range":
            lo, hi = self.value
            parts = []
            if lo is not None:
                parts.append(column >= double(lo))
            if hi is not None:
                parts.append(column < double(hi))
            return sa.and_(*parts)
        values = self.value if self.op == "in" else (self.value,)
        values = tuple(_sql_value(v, column) for v in values)
        return column == values[0] if len(values) == 1 else column.in_(values)


def _value_set(values: Sequence[Any], type_: pa.DataType, column: str) -> pa.Array:
    try:
        if pa.types.is_string(type_) or pa.types.is_large_string(type_):
            return pa.array([str(v) for v in values], type_)
        return pa.array(list(values)).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        shown = ", ".join(repr(v) for v in values)
        raise EvaluationError(
            f"slice condition on {column!r}: {shown} cannot be compared with a {type_} column"
        ) from None


def _sql_value(value: Any, column: Any) -> Any:
    import sqlalchemy as sa

    t = getattr(column, "type", None)
    if isinstance(t, sa.String) and not isinstance(value, str):
        return str(value)
    return value


@dataclass(frozen=True)
class SlicePredicate:
    """A named conjunction of conditions; ``critical`` as the monitor spec marks it."""

    name: str
    conditions: tuple[Condition, ...]
    critical: bool = False

    @property
    def label(self) -> str:
        """How criteria and reports name the slice, e.g. ``channel=pos``."""
        return " & ".join(c.label for c in self.conditions)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.column for c in self.conditions))

    def mask(self, table: pa.Table) -> np.ndarray:
        """Which rows of ``table`` (Arrow, or anything ``pa.table`` takes) are in the slice."""
        if not isinstance(table, pa.Table):
            table = pa.table(table)
        out = np.ones(table.num_rows, dtype=bool)
        for c in self.conditions:
            if c.column not in table.column_names:
                raise EvaluationError(
                    f"slice {self.name!r}: no column {c.column!r} in the data "
                    f"(columns: {', '.join(table.column_names[:12])})"
                )
            out &= c.mask(table.column(c.column))
        return out

    def where(self, columns: _Columns) -> Any:
        """The SQLAlchemy clause over ``columns`` (a ``Table.c`` or a name → column map)."""
        import sqlalchemy as sa

        parts = []
        for c in self.conditions:
            try:
                col = columns[c.column]
            except KeyError:
                raise EvaluationError(
                    f"slice {self.name!r}: the table has no column {c.column!r}"
                ) from None
            parts.append(c.where(col))
        return sa.and_(*parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "critical": self.critical,
            "conditions": [c.to_dict() for c in self.conditions],
        }


def predicate_from_spec(spec: Any) -> SlicePredicate:
    """The predicate of a monitor spec's ``[[slices]]`` entry (:class:`SliceSpec`)."""
    conditions = []
    for column, cond in spec.where.items():
        if isinstance(cond, tuple):
            conditions.append(Condition(column, "in", cond))
        elif hasattr(cond, "min") and hasattr(cond, "max"):
            conditions.append(Condition(column, "range", (cond.min, cond.max)))
        else:
            conditions.append(Condition(column, "eq", cond))
    return SlicePredicate(spec.name, tuple(conditions), bool(spec.critical))


def predicates_from_spec(spec: Any) -> tuple[SlicePredicate, ...]:
    """Every slice of a :class:`MonitorSpec`, in the spec's order."""
    return tuple(predicate_from_spec(s) for s in spec.slices)
