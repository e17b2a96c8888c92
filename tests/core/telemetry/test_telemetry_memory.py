"""Streaming a file larger than the memory it may use, measured in a fresh process.

A ~300 MB CSV (and the same events as Parquet) is streamed with ``batches()`` in a
subprocess that reports its peak RSS above its RSS right after the imports; every row must
be counted and the growth must stay under a cap smaller than the data.

The peak is Linux's ``VmHWM``, not ``getrusage().ru_maxrss``: the latter survives fork and
exec, so a child of a big pytest process reports the parent's RSS as its own peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

ROWS_PER_CHUNK = 100_000
CHUNKS = 16  # 1.6M rows: ~300 MB of CSV, ~130 MB of Parquet (~150 MB decoded)
CSV_CAP_MB = 200
PARQUET_CAP_MB = 120

_CHILD = """
import json, resource, sys
from watchkeeper.core.telemetry.source import open_source
import watchkeeper.core.telemetry.files  # every import done before the baseline
import pyarrow.dataset  # imported on first Parquet open; code, not data

def status_mb(key):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(key + ":"))
    return int(line.split()[1]) / 1024

base = status_mb("VmRSS")
rows = 0
with open_source(sys.argv[1]) as source:
    for batch in source.batches():
        rows += batch.num_rows
    counted = source.count()
peak = status_mb("VmHWM")
inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "counted": counted, "growth_mb": peak - base,
                  "ru_maxrss_mb": inherited}))
"""


def _chunk(rng: np.random.Generator, index: int) -> pa.Table:
    n, start = ROWS_PER_CHUNK, index * ROWS_PER_CHUNK
    numbers = pa.array(np.arange(start, start + n)).cast(pa.string())
    seconds = pa.array(np.arange(start, start + n) * 1_000_000 + 1_767_225_600_000_000)
    columns: dict[str, pa.Array] = {
        "request_id": pc.binary_join_element_wise("req-", numbers, ""),
        "ts": seconds.cast(pa.timestamp("us", tz="UTC")),
        "model": _labels(rng, n, ["fraud", "churn"]),
        "model_version": _labels(rng, n, ["1", "2", "3"]),
        "score": rng.random(n),
        "segment": _labels(rng, n, ["alpha", "beta", "gamma"]),
    }
    for j in range(6):
        columns[f"f{j}"] = rng.normal(size=n)
    return pa.table(columns)


def _labels(rng: np.random.Generator, n: int, words: list[str]) -> pa.Array:
    indices = pa.array(rng.integers(0, len(words), n).astype(np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(words)).cast(pa.string())


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("big")
    csv_path, parquet_path = folder / "big.csv", folder / "big.parquet"
    rng = np.random.default_rng(1)
    first = _chunk(rng, 0)
    with (
        pcsv.CSVWriter(csv_path, first.schema) as csv_out,
        pq.ParquetWriter(parquet_path, first.schema) as pq_out,
    ):
        for index in range(CHUNKS):
            table = first if index == 0 else _chunk(rng, index)
            csv_out.write_table(table)
            pq_out.write_table(table, row_group_size=ROWS_PER_CHUNK)
    return {"csv": csv_path, "parquet": parquet_path}


def _stream_in_child(path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_csv_streams_in_bounded_memory(big_files: dict[str, Path]) -> None:
    size_mb = big_files["csv"].stat().st_size / 2**20
    assert size_mb > CSV_CAP_MB  # the cap is smaller than the file
    result = _stream_in_child(big_files["csv"])
    assert result["rows"] == result["counted"] == ROWS_PER_CHUNK * CHUNKS
    assert result["growth_mb"] < CSV_CAP_MB, result


@pytest.mark.slow
def test_parquet_streams_in_bounded_memory(big_files: dict[str, Path]) -> None:
    metadata = pq.ParquetFile(big_files["parquet"]).metadata
    decoded_mb = (
        sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)) / 2**20
    )
    assert decoded_mb > PARQUET_CAP_MB  # the cap is smaller than the data
    result = _stream_in_child(big_files["parquet"])
    assert result["rows"] == result["counted"] == ROWS_PER_CHUNK * CHUNKS
    assert result["growth_mb"] < PARQUET_CAP_MB, result
