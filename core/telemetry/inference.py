"""From whatever types a source holds to the few types Watchkeeper's analyses rely on.

Every reader hands its raw Arrow arrays to :func:`normalise`, so a Parquet file, a CSV file
and three databases holding the same events produce identical batches: timestamps are
``timestamp[us, tz=UTC]`` (naive values are UTC), ids, models and versions are strings
(an integer version 2 becomes ``"2"``), integers are ``int64``, other numbers ``float64``
with NaN turned into null so that "missing" has one meaning (±inf stays a value), and
dictionary-encoded or large strings are plain strings. Kinds (numerical, categorical...)
follow from those output types.

The functions here are pure and know nothing of files or databases; a value that cannot be
converted raises :class:`ValueProblem` with its position, which the reader turns into a
:class:`~watchkeeper.core.errors.TelemetryError` naming the file, column and row.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.telemetry.contract import ColumnKind

#: The one timestamp type in output batches.
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

#: Roles whose output type is fixed whatever the source type (when it converts).
ROLE_TYPES: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "model": pa.string(),
    "model_version": pa.string(),
    "ts": TIMESTAMP_TYPE,
    "label_ts": TIMESTAMP_TYPE,
    "score": pa.float64(),
}

_ZONE_SUFFIX = r"([zZ]|[+-]\d\d(:?\d\d)?)$"
_NUMBER_TEXT = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_SPECIAL_FLOATS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "-infinity"}


class ValueProblem(Exception):
    """One value that cannot become the output type: where it is in its array, and why."""

    def __init__(self, index: int | None, value: object, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.value = value
        self.reason = reason


class TypeProblem(Exception):
    """A column whose type can never serve its role (a number mapped to ``ts``...)."""


def is_text(arrow_type: pa.DataType) -> bool:
    """True for the string and binary types (not dictionary), which hold text to parse."""
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
        or pa.types.is_binary_view(arrow_type)
    )


def plain_output_type(source_type: pa.DataType) -> pa.DataType | None:
    """The output type of a feature or extra of ``source_type``; None when unsupported.

    Unsupported types (lists, structs, durations, times...) cannot be binned or counted;
    readers leave them out of inferred features and refuse them when mapped by name.
    """
    if pa.types.is_dictionary(source_type):
        source_type = source_type.value_type
    if pa.types.is_integer(source_type):
        return pa.int64()
    if pa.types.is_floating(source_type) or pa.types.is_decimal(source_type):
        return pa.float64()
    if pa.types.is_boolean(source_type):
        return pa.bool_()
    if is_text(source_type):
        return pa.string()
    if pa.types.is_timestamp(source_type) or pa.types.is_date(source_type):
        return TIMESTAMP_TYPE
    if pa.types.is_null(source_type):
        return pa.float64()
    return None


def output_type(role: str | None, source_type: pa.DataType) -> pa.DataType:
    """The output type of a column playing ``role`` (None: a feature or an extra).

    Raises :class:`TypeProblem` when the source type can never serve the role; text is
    accepted for every role and checked value by value when read.
    """
    plain = plain_output_type(source_type)
    if plain is None:
        raise TypeProblem(f"has type {source_type}, which Watchkeeper cannot analyse")
    target = ROLE_TYPES.get(role or "", plain)
    if plain == target or pa.types.is_null(source_type) or is_text(_value_type(source_type)):
        return target
    if target == TIMESTAMP_TYPE:
        hint = ""
        if pa.types.is_integer(source_type) or pa.types.is_floating(source_type):
            # epoch numbers are a common log convention: say how to make them times
            hint = (
                " (epoch seconds or milliseconds? store them as a timestamp, e.g. DuckDB's "
                "to_timestamp(col) or pyarrow's cast to timestamp['s'])"
            )
        raise TypeProblem(f"holds {_type_words(plain)} ({source_type}), not timestamps{hint}")
    if target == pa.float64() and plain != TIMESTAMP_TYPE:
        return target  # integers and booleans are scores too
    if target == pa.string() and plain != TIMESTAMP_TYPE:
        return target  # integer ids and versions become "1", "2"...
    raise TypeProblem(f"holds {_type_words(plain)} ({source_type}), not {_type_words(target)}")


def infer_kind(role: str | None, arrow_type: pa.DataType) -> ColumnKind:
    """The kind an analysis gives a column of this output type, before any override."""
    if role == "request_id":
        return ColumnKind.ID
    if pa.types.is_timestamp(arrow_type):
        return ColumnKind.TIMESTAMP
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type):
        return ColumnKind.NUMERICAL
    return ColumnKind.CATEGORICAL


def normalise(array: pa.Array, target: pa.DataType, *, blank_is_null: bool = False) -> pa.Array:
    """Convert one raw array to its output type; raise :class:`ValueProblem` on a bad value.

    ``blank_is_null`` turns empty strings into nulls, for text formats (CSV) that cannot
    tell an empty value from a missing one.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if is_text(array.type):
        return _from_text(_as_string(array), target, blank_is_null=blank_is_null)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), target)
    if target == TIMESTAMP_TYPE:
        return _to_timestamp(array)
    if pa.types.is_decimal(array.type):
        array = array.cast(pa.float64())
    converted = _cast(array, target)
    return nan_to_null(converted) if pa.types.is_floating(target) else converted


def nan_to_null(array: pa.Array) -> pa.Array:
    """NaN becomes null, so that a missing number has one representation; inf stays."""
    nan = pc.is_nan(array)
    if not pc.any(nan).as_py():
        return array
    return pc.if_else(nan, pa.scalar(None, array.type), array)


def blank_to_null(array: pa.Array) -> pa.Array:
    """Empty strings become null."""
    blank = pc.equal(array, "")
    if not pc.any(blank).as_py():
        return array
    return pc.if_else(blank, pa.scalar(None, array.type), array)


def parse_timestamps(array: pa.Array) -> pa.Array:
    """ISO-8601 text to UTC timestamps; values without a zone are UTC.

    Vectorised casts handle the common shapes (all naive, all zoned, a mix of both);
    anything else goes value by value through ``datetime.fromisoformat``, which accepts
    every ISO shape Python knows and points at the first value it does not.
    """
    array = blank_to_null(_as_string(array))
    if pc.any(pc.ends_with(array, "z")).as_py():
        array = pc.replace_substring_regex(array, r"z$", "Z")
    attempts = [_cast_naive_text, _cast_zoned_text, _cast_mixed_text]
    if re.search(_ZONE_SUFFIX, _first_text(array)):
        attempts[:2] = attempts[1::-1]  # a failed cast costs a full pass: guess right first
    for attempt in attempts:
        try:
            return attempt(array)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return _parse_one_by_one(array)


def parse_numbers(array: pa.Array) -> pa.Array:
    """Text to float64 (NaN to null), pointing at the first value that is not a number."""
    try:
        return nan_to_null(array.cast(pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values = []
    for index, value in enumerate(array.to_pylist()):
        number = _text_to_float(value)
        if value is not None and number is None:
            raise ValueProblem(index, value, f"{_show(value)} is not a number")
        values.append(number)
    return nan_to_null(pa.array(values, pa.float64()))


def numeric_text(array: pa.Array) -> pa.Array:
    """A boolean mask: which strings read as a plain decimal number (nulls stay null)."""
    return pc.match_substring_regex(array, _NUMBER_TEXT)


def _as_string(array: pa.Array) -> pa.Array:
    if array.type == pa.string():
        return array
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid as exc:
        index = _first_invalid_utf8(array)
        value = array[index].as_py() if index is not None else None
        raise ValueProblem(index, value, "is not valid UTF-8 text") from exc


def _first_invalid_utf8(array: pa.Array) -> int | None:
    for index, value in enumerate(array.to_pylist()):
        if isinstance(value, bytes):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                return index
    return None


def _from_text(array: pa.Array, target: pa.DataType, *, blank_is_null: bool) -> pa.Array:
    if target == TIMESTAMP_TYPE:
        return parse_timestamps(array)
    if blank_is_null or target != pa.string():
        array = blank_to_null(array)
    if target == pa.float64():
        return parse_numbers(array)
    if target == pa.string():
        return array
    return _cast(array, target)


def _to_timestamp(array: pa.Array) -> pa.Array:
    if pa.types.is_date(array.type):
        array = array.cast(pa.timestamp("us"))
    if pa.types.is_timestamp(array.type) and array.type.tz is None:
        # A naive timestamp is UTC: attach the zone without shifting the instant.
        array = array.cast(pa.timestamp(array.type.unit, tz="UTC"))
    return array.cast(TIMESTAMP_TYPE, safe=False)  # nanoseconds are truncated to µs


def _cast(array: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        index, value = _first_failing(array, target)
        raise ValueProblem(index, value, f"{_show(value)} does not fit {target}") from exc


def _first_failing(array: pa.Array, target: pa.DataType) -> tuple[int | None, object]:
    for index in range(len(array)):
        try:
            array.slice(index, 1).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return index, array[index].as_py()
    return None, None


def _cast_naive_text(array: pa.Array) -> pa.Array:
    return array.cast(pa.timestamp("us")).cast(TIMESTAMP_TYPE)


def _cast_zoned_text(array: pa.Array) -> pa.Array:
    return array.cast(TIMESTAMP_TYPE)


def _cast_mixed_text(array: pa.Array) -> pa.Array:
    zoned = pc.fill_null(pc.match_substring_regex(array, _ZONE_SUFFIX), False)
    none = pa.scalar(None, pa.string())
    with_zone = _cast_zoned_text(pc.if_else(zoned, array, none))
    without_zone = _cast_naive_text(pc.if_else(zoned, none, array))
    return pc.if_else(zoned, with_zone, without_zone)


def _first_text(array: pa.Array) -> str:
    valid = array.drop_null()
    return valid[0].as_py().strip() if len(valid) else ""


def _parse_one_by_one(array: pa.Array) -> pa.Array:
    values: list[dt.datetime | None] = []
    for index, text in enumerate(array.to_pylist()):
        if text is None:
            values.append(None)
            continue
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueProblem(index, text, f"{_show(text)} is not a date/time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        values.append(moment)
    return pa.array(values, TIMESTAMP_TYPE)


def _text_to_float(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.lower() in _SPECIAL_FLOATS:
        return float(text)
    if re.match(_NUMBER_TEXT, text) is None:
        return None
    number = float(text)
    return None if math.isnan(number) else number


def _value_type(arrow_type: pa.DataType) -> pa.DataType:
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def _type_words(arrow_type: pa.DataType) -> str:
    if arrow_type == TIMESTAMP_TYPE:
        return "timestamps"
    if arrow_type == pa.string():
        return "text"
    if arrow_type == pa.bool_():
        return "true/false values"
    return "numbers"


def _show(value: object, limit: int = 60) -> str:
    """A value as a message shows it: repr, cut short so a 1 MB cell stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
