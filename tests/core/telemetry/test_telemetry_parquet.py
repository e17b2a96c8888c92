"""Parquet files and folders, damaged or odd: clear errors, or the right empty answer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import TelemetryQuery
from watchkeeper.core.telemetry.source import open_source

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _events(n: int = 20, **extra: pa.Array) -> pa.Table:
    columns = {
        "request_id": [f"r{i}" for i in range(n)],
        "ts": pa.array(
            [T0 + dt.timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")
        ),
        "model_version": ["1" if i % 2 else "2" for i in range(n)],
        "score": [i / n for i in range(n)],
    }
    columns.update(extra)
    return pa.table(columns)


def _written(path: Path, table: pa.Table | None = None, **options: object) -> Path:
    pq.write_table(_events() if table is None else table, path, **options)
    return path


def _error(excinfo: pytest.ExceptionInfo[TelemetryError]) -> TelemetryError:
    assert type(excinfo.value) is TelemetryError
    return excinfo.value


def test_truncated_file(tmp_path: Path) -> None:
    good = _written(tmp_path / "good.parquet").read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path))
    message = str(_error(excinfo))
    assert "cut.parquet" in message
    assert "truncated, or not Parquet" in message


def test_garbage_with_parquet_extension(tmp_path: Path) -> None:
    path = tmp_path / "noise.parquet"
    path.write_bytes(b"request_id,ts\nr1,2026-01-01\n" * 20)
    with pytest.raises(TelemetryError, match=r"noise\.parquet.*not a readable Parquet file"):
        open_source(str(path))


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "zero.parquet"
    path.touch()
    with pytest.raises(TelemetryError, match=r"zero\.parquet.*empty \(0 bytes\)"):
        open_source(str(path))


def test_zero_row_file_is_an_empty_source(tmp_path: Path) -> None:
    path = _written(tmp_path / "none.parquet", _events().slice(0, 0))
    with open_source(str(path)) as source:
        assert source.count() == 0
        assert source.count(TelemetryQuery(versions=("1",), start=T0)) == 0
        assert source.read().num_rows == 0
        assert source.read().schema.names == ["request_id", "ts", "model_version", "score"]
        assert list(source.batches()) == []
        assert source.duplicates() == []
        source.validate()


def test_damaged_data_pages_fail_while_reading(tmp_path: Path) -> None:
    path = _written(tmp_path / "bent.parquet", compression="none")
    data = bytearray(path.read_bytes())
    data[8:200] = b"\xff" * 192  # the footer survives, the first pages do not
    path.write_bytes(bytes(data))
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(path)).read()
    assert "bent.parquet" in str(_error(excinfo))


def test_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    with pytest.raises(TelemetryError, match=r"nothing.*holds no \.parquet files"):
        open_source(str(folder))


def test_folder_without_parquet(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("a,b\n1,2\n")
    (tmp_path / "README.txt").write_text("hello")
    with pytest.raises(TelemetryError, match=r"holds no \.parquet files"):
        open_source(str(tmp_path))


def test_folder_with_one_bad_file_names_it(tmp_path: Path) -> None:
    _written(tmp_path / "part-0.parquet")
    (tmp_path / "part-1.parquet").write_bytes(b"not parquet at all" * 10)
    with pytest.raises(TelemetryError) as excinfo:
        open_source(str(tmp_path))
    assert "part-1.parquet" in str(_error(excinfo))


def test_folder_dataset_ignores_hidden_and_other_files(tmp_path: Path) -> None:
    _written(tmp_path / "part-0.parquet")
    (tmp_path / "sub").mkdir()
    _written(tmp_path / "sub" / "part-1.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".part-2.parquet.crc").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    with open_source(str(tmp_path)) as source:
        assert source.count() == 40
        assert source.count(TelemetryQuery(versions=("1",))) == 20


def test_folder_files_with_widened_types_unify(tmp_path: Path) -> None:
    narrow = _events(extra=pa.array(range(20), pa.int32()))
    wide = _events(extra=pa.array(range(20), pa.int64()))
    _written(tmp_path / "a.parquet", narrow)
    _written(tmp_path / "b.parquet", wide)
    with open_source(str(tmp_path)) as source:
        table = source.read()
    assert table.schema.field("extra").type == pa.int64()
    assert table.num_rows == 40


def test_folder_files_with_conflicting_types(tmp_path: Path) -> None:
    _written(tmp_path / "a.parquet", _events(extra=pa.array(range(20))))
    _written(tmp_path / "b.parquet", _events(extra=pa.array([f"x{i}" for i in range(20)])))
    with pytest.raises(TelemetryError, match="do not share one schema"):
        open_source(str(tmp_path))


def test_hive_partitions_become_columns(tmp_path: Path) -> None:
    for model in ("fraud", "churn"):
        (tmp_path / f"model={model}").mkdir()
        _written(tmp_path / f"model={model}" / "part.parquet")
    with open_source(str(tmp_path)) as source:
        assert "model" in source.schema().names
        assert source.count(TelemetryQuery(model="fraud")) == 20
        models = source.read(TelemetryQuery(model="churn"), columns=["model"]).column(0)
        assert set(models.to_pylist()) == {"churn"}


def test_types_are_normalised(tmp_path: Path) -> None:
    table = pa.table(
        {
            "request_id": pa.array([1, 2, 3], pa.int32()),
            "ts": pa.array([dt.datetime(2026, 1, 1, 12)] * 3, pa.timestamp("ns")),
            "model_version": pa.array(["1", "2", "1"]).dictionary_encode(),
            "score": pa.array([0.5, None, 1.0], pa.float32()),
            "x": pa.array([float("nan"), float("inf"), 1.0]),
            "when": pa.array(
                [dt.datetime(2026, 1, 1, 13)] * 3, pa.timestamp("ms", tz="Europe/Paris")
            ),
            "small": pa.array([1, 2, 3], pa.uint8()),
            "d": pa.array([1, 2, 3], pa.decimal128(5, 2)),
        }
    )
    with open_source(str(_written(tmp_path / "types.parquet", table))) as source:
        out = source.read()
    assert out.column("request_id").to_pylist() == ["1", "2", "3"]
    assert out.column("ts")[0].as_py() == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert out.column("when").type == pa.timestamp("us", tz="UTC")
    assert out.column("when")[0].as_py() == dt.datetime(2026, 1, 1, 13, tzinfo=dt.UTC)
    assert out.column("model_version").type == pa.string()
    assert out.column("score").type == pa.float64()
    assert out.column("x").to_pylist() == [None, float("inf"), 1.0]
    assert out.column("small").type == pa.int64()
    assert out.column("d").to_pylist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_time_filter_in_every_unit_and_zone(tmp_path: Path, unit: str, tz: str | None) -> None:
    times = [T0 + dt.timedelta(hours=i) for i in range(10)]
    stored = [t.replace(tzinfo=None) for t in times] if tz is None else times
    table = _events(10).set_column(1, "ts", pa.array(stored, pa.timestamp(unit, tz=tz)))
    query = TelemetryQuery(start=times[2], end=times[5])
    with open_source(str(_written(tmp_path / "t.parquet", table))) as source:
        assert source.count(query) == 3
        assert source.read(query).column("ts").to_pylist() == times[2:5]


def test_list_columns_are_left_out_of_inferred_features(tmp_path: Path) -> None:
    table = _events(3, embedding=pa.array([[1.0, 2.0]] * 3), x=pa.array([1, 2, 3]))
    with open_source(str(_written(tmp_path / "l.parquet", table))) as source:
        assert [c.name for c in source.schema().features] == ["x"]
