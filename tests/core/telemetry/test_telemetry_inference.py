"""The pure conversions every reader shares: types, kinds, timestamps, numbers."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from watchkeeper.core.telemetry.contract import ColumnKind
from watchkeeper.core.telemetry.inference import (
    TIMESTAMP_TYPE,
    TypeProblem,
    ValueProblem,
    infer_kind,
    normalise,
    output_type,
    parse_numbers,
    parse_timestamps,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    ("role", "source", "expected"),
    [
        ("request_id", pa.int32(), pa.string()),
        ("model_version", pa.dictionary(pa.int8(), pa.string()), pa.string()),
        ("ts", pa.timestamp("ns"), TIMESTAMP_TYPE),
        ("ts", pa.date32(), TIMESTAMP_TYPE),
        ("ts", pa.large_string(), TIMESTAMP_TYPE),
        ("score", pa.int8(), pa.float64()),
        ("score", pa.bool_(), pa.float64()),
        ("score", pa.string(), pa.float64()),
        ("label", pa.string(), pa.string()),
        ("label", pa.uint16(), pa.int64()),
        (None, pa.float32(), pa.float64()),
        (None, pa.decimal128(10, 2), pa.float64()),
        (None, pa.null(), pa.float64()),
    ],
)
def test_output_types(role: str | None, source: pa.DataType, expected: pa.DataType) -> None:
    assert output_type(role, source) == expected


@pytest.mark.parametrize(
    ("role", "source", "words"),
    [
        ("ts", pa.int64(), "holds numbers (int64), not timestamps (epoch seconds or millis"),
        ("ts", pa.float64(), "to_timestamp(col)"),
        ("label_ts", pa.bool_(), "not timestamps"),
        ("label_ts", pa.bool_(), "holds true/false values"),
        ("score", pa.timestamp("us"), "holds timestamps"),
        ("model_version", pa.timestamp("us"), "not text"),
        (None, pa.list_(pa.float64()), "cannot analyse"),
        (None, pa.struct([("a", pa.int8())]), "cannot analyse"),
    ],
)
def test_types_that_cannot_serve(role: str | None, source: pa.DataType, words: str) -> None:
    with pytest.raises(TypeProblem, match=words.replace("(", r"\(").replace(")", r"\)")):
        output_type(role, source)


def test_kinds() -> None:
    assert infer_kind("request_id", pa.string()) is ColumnKind.ID
    assert infer_kind(None, TIMESTAMP_TYPE) is ColumnKind.TIMESTAMP
    assert infer_kind(None, pa.int64()) is ColumnKind.NUMERICAL
    assert infer_kind(None, pa.bool_()) is ColumnKind.CATEGORICAL
    assert infer_kind("model_version", pa.string()) is ColumnKind.CATEGORICAL


def test_timestamps_from_every_iso_shape() -> None:
    texts = [
        "2026-03-01T12:00:00",
        "2026-03-01 13:00:00+01:00",
        "2026-03-01T12:00:00Z",
        "2026-03-01T12:00:00z",
        "2026-03-01T07:00:00-0500",
        "2026-03-01 12:00:00.000000999",
        "",
        None,
    ]
    out = parse_timestamps(pa.array(texts))
    noon = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert out.type == TIMESTAMP_TYPE
    assert out.to_pylist() == [noon] * 6 + [None, None]


def test_unparseable_timestamp_points_at_the_value() -> None:
    with pytest.raises(ValueProblem) as excinfo:
        parse_timestamps(pa.array(["2026-01-01", "2026-01-02", "soon"]))
    assert (excinfo.value.index, excinfo.value.value) == (2, "soon")


@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1)))
def test_naive_iso_text_round_trips_as_utc(moment: dt.datetime) -> None:
    out = parse_timestamps(pa.array([moment.isoformat(sep=" ")]))
    assert out[0].as_py() == moment.replace(tzinfo=UTC)


def test_numbers_from_text() -> None:
    out = parse_numbers(pa.array([" 1.5 ", "-2e3", "inf", "-inf", "nan", None, "7"]))
    assert out.to_pylist()[:4] == [1.5, -2000.0, math.inf, -math.inf]
    assert out.to_pylist()[4:] == [None, None, 7.0]
    with pytest.raises(ValueProblem) as excinfo:
        parse_numbers(pa.array(["1", "2", "1,5"]))
    assert (excinfo.value.index, excinfo.value.value) == (2, "1,5")


def test_normalise_keeps_one_meaning_for_missing() -> None:
    floats = normalise(pa.array([1.0, math.nan, None, math.inf], pa.float32()), pa.float64())
    assert floats.to_pylist() == [1.0, None, None, math.inf]
    texts = normalise(pa.array(["a", "", None]), pa.string(), blank_is_null=True)
    assert texts.to_pylist() == ["a", None, None]
    kept = normalise(pa.array(["a", "", None]), pa.string())
    assert kept.to_pylist() == ["a", "", None]


def test_normalise_ids_and_zones() -> None:
    assert normalise(pa.array([1, 20], pa.int16()), pa.string()).to_pylist() == ["1", "20"]
    paris = pa.array(
        [dt.datetime(2026, 6, 1, 12, tzinfo=UTC)], pa.timestamp("s", tz="Europe/Paris")
    )
    assert normalise(paris, TIMESTAMP_TYPE)[0].as_py() == dt.datetime(2026, 6, 1, 12, tzinfo=UTC)
    nulls = normalise(pa.nulls(3), TIMESTAMP_TYPE)
    assert nulls.type == TIMESTAMP_TYPE and nulls.null_count == 3


def test_normalise_overflow_and_bad_utf8_point_at_the_value() -> None:
    with pytest.raises(ValueProblem) as excinfo:
        normalise(pa.array([1, 2**63], pa.uint64()), pa.int64())
    assert excinfo.value.index == 1
    with pytest.raises(ValueProblem, match="not valid UTF-8") as excinfo:
        normalise(pa.array([b"ok", b"caf\xe9"], pa.binary()), pa.string())
    assert excinfo.value.index == 1
