"""Values and messages that every SQL engine we push down to reads the same way.

A float bound as a parameter reaches most drivers as a number. PyHive (Spark SQL, Hive)
formats parameters into the statement text itself, and writes ``inf`` and ``nan`` bare —
which Spark resolves as column names (``UNRESOLVED_COLUMN``). :func:`double` is a float
literal that compiles to a bound ``DOUBLE`` parameter everywhere except on the ``hive``
dialect, where it is written as ``CAST('<repr>' AS DOUBLE)``: Spark parses ``'Infinity'``,
``'-Infinity'`` and ``'NaN'`` there, and the shortest round-tripping repr of a finite float
is read back as the same double (a bare ``0.1`` would be a DECIMAL first).

Spark's error for a long statement quotes its whole analysed plan — hundreds of kilobytes
on one "line". :func:`short_error` keeps a driver's message to one readable line.
"""

from __future__ import annotations

import math
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["MAX_ERROR_CHARS", "double", "nan_as_null", "short_error"]

MAX_ERROR_CHARS = 300


class _Double(ColumnElement[float]):
    """A float literal of SQL type DOUBLE (see the module)."""

    # the value is part of the statement cache's key: a hive statement holds it as text
    _traverse_internals = [("value", InternalTraversal.dp_plain_obj)]  # noqa: RUF012
    inherit_cache = True
    type = sa.Double()

    def __init__(self, value: float) -> None:
        self.value = float(value)


@compiles(_Double)
def _compile_bound(element: _Double, compiler: Any, **kw: Any) -> str:
    return compiler.process(sa.literal(element.value, sa.Double()), **kw)


@compiles(_Double, "hive")
def _compile_hive(element: _Double, compiler: Any, **kw: Any) -> str:
    v = element.value
    if math.isnan(v):
        text = "NaN"
    elif math.isinf(v):
        text = "Infinity" if v > 0 else "-Infinity"
    else:
        text = repr(v)
    return f"CAST('{text}' AS DOUBLE)"


def double(value: float) -> ColumnElement[float]:
    """``value`` as a DOUBLE literal every engine reads exactly (±inf and NaN included)."""
    return _Double(value)


def nan_as_null(value: Any) -> Any:
    """``value`` with NaN as NULL, as every reader hands a NaN over (so a NaN label is no
    label, in memory and in the database alike). Only a float column holds a NaN; another
    type is returned as is (Spark would refuse comparing a boolean with a double). ±inf is
    kept: NaN is above +inf on every engine here, so ``value <= inf`` is false for it."""
    if not isinstance(getattr(value, "type", None), sa.Float):
        return value
    return sa.case((value <= double(math.inf), value))


_SPARK_WRAPPER = re.compile(r"^.*?HiveSQLException:\s*(?:Error running query:\s*)?", re.S)


def short_error(exc: BaseException | str) -> str:
    """A driver's error as one line of at most MAX_ERROR_CHARS characters."""
    text = str(getattr(exc, "orig", None) or exc) if isinstance(exc, BaseException) else exc
    text = text.strip()
    if not text:
        return type(exc).__name__ if isinstance(exc, BaseException) else "unknown error"
    if "TExecuteStatementResp" in text or "HiveSQLException" in text:
        text = _SPARK_WRAPPER.sub("", text, count=1)
        text = text.split("; line ")[0].split(";\\n")[0]
    line = text.splitlines()[0].strip()
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 1].rstrip() + "…"
    return line
