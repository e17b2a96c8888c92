"""Multiclass telemetry: class names as text, and the checks a multiclass score must pass.

A spec names classes as TOML keys, which are text, while a source may hold labels and
predictions as integers (``0, 1, 2``), as floats that are integers (a CSV column with a gap
reads as ``1.0``), or as text. :func:`class_text` gives every one of them the spec's
spelling, so ``2``, ``2.0`` and ``"2"`` are the same class. :func:`multiclass_problem` finds
the first row whose probabilities are no distribution or whose label or prediction is no
known class; readers call it while validating, the analyses rely on it having passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["PROBABILITY_SUM_TOLERANCE", "ClassProblem", "class_text", "multiclass_problem"]

#: How far a row's probabilities may sum from 1 (float32 models are off by ~1e-7; a model
#: that leaves out a class is off by far more).
PROBABILITY_SUM_TOLERANCE = 1e-3


def class_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Labels or predictions as class names: integers and integral floats as ``"2"``."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_floating(values.type):
        numbers = values.to_numpy(zero_copy_only=False)
        whole = np.isfinite(numbers) & (np.floor(numbers) == numbers)
        texts = [
            None if v is None else (str(int(v)) if ok else repr(v))
            for v, ok in zip(values.to_pylist(), whole, strict=True)
        ]
        return pa.array(texts, pa.string())
    if pa.types.is_boolean(values.type):
        values = pc.cast(values, pa.int8())
    return pc.cast(values, pa.string())


@dataclass(frozen=True)
class ClassProblem:
    """What is wrong (a sentence), in which source column, at which index of the batch."""

    reason: str
    column: str
    index: int


def multiclass_problem(
    batch: pa.RecordBatch,
    probabilities: Mapping[str, str],
    outcomes: Sequence[tuple[str, str]] = (),
) -> ClassProblem | None:
    """The first problem of a batch's multiclass columns, or None.

    ``probabilities`` is ``{class: column}`` (the batch's column names are the source's);
    ``outcomes`` pairs the batch's label/prediction column with its source name. A row's
    probabilities must all be present, finite, non-negative and sum to 1 (within
    :data:`PROBABILITY_SUM_TOLERANCE`); a label or prediction, where present, one of the
    classes.
    """
    total = np.zeros(batch.num_rows)
    for klass, column in probabilities.items():
        values = np.asarray(batch.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)
        checks = (
            (np.isnan(values), "is missing (empty or NaN)"),
            (np.isinf(values), "is infinite"),
            (values < 0, "is negative"),
        )
        for bad, what in checks:
            if bad.any():
                index = int(np.argmax(bad))
                shown = "" if np.isnan(values[index]) else f" ({values[index]:g})"
                return ClassProblem(
                    f"the probability of class {klass!r} {what}{shown}", column, index
                )
        total += values
    if probabilities:
        off = np.abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE
        if off.any():
            index = int(np.argmax(off))
            return ClassProblem(
                f"the class probabilities sum to {total[index]:.6g}, not 1 (columns "
                f"{', '.join(repr(c) for c in probabilities.values())})",
                next(iter(probabilities.values())),
                index,
            )
    known = pa.array(list(probabilities), pa.string())
    for name, source_name in outcomes:
        texts = class_text(batch.column(name))
        unknown = pc.and_(pc.is_valid(texts), pc.invert(pc.is_in(texts, value_set=known)))
        if pc.any(unknown).as_py():
            index = pc.index(unknown, True).as_py()
            return ClassProblem(
                f"the {name} {texts[index].as_py()!r} is not one of the classes "
                f"({', '.join(repr(k) for k in probabilities)})",
                source_name,
                index,
            )
    return None
