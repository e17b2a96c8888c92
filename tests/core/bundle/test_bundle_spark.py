"""A bundle of a Spark SQL source: its events counted per stratum and sampled in the
warehouse, never streamed — the per-stratum counts are the source's exact ones, the
allocation is the streamed sampler's, and at most ``max_rows`` rows are read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.bundle.export import _stream_sample, export_bundle
from watchkeeper.core.bundle.open import open_bundle
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.telemetry.sql_statements import recorded_statements


class _Batches:
    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def batches(self, query=None, columns=None):  # type: ignore[no-untyped-def]
        t = self.table.select(columns) if columns else self.table
        return iter(t.to_batches())


def _events(n: int = 4000) -> pa.Table:
    rng = np.random.default_rng(7)
    t0 = np.datetime64("2026-03-01T00:00:00", "us").astype(np.int64)
    ts = t0 + np.sort(rng.integers(0, 4 * 86_400_000_000, n))
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model_version": rng.choice(["1", "2"], n, p=[0.9, 0.1]).tolist(),
            "score": rng.random(n),
            "label": rng.integers(0, 2, n),
            "x": rng.normal(size=n),
        }
    )


@pytest.mark.spark
def test_a_spark_bundle_is_counted_and_sampled_in_the_warehouse(
    spark, tmp_path: Path, plaintext_keyring: None
) -> None:
    events = _events()
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(events, folder / "part-0.parquet")
    location = spark.table_from_parquet(f"bundle_{os.getpid()}", folder)
    spec = tmp_path / "m.toml"
    spec.write_text(
        f'[model]\nname = "m"\ntask = "binary"\n[telemetry]\nsource = "{location}"\n'
        '[telemetry.columns]\nfeatures = ["x"]\n',
        encoding="utf-8",
    )
    signer = Signer.from_seed("exporter")
    out = tmp_path / "m.wkbundle"
    with recorded_statements() as seen:
        info = export_bundle(
            spec, out, start=None, end=None, max_rows=300, seed=5, signer=signer,
            exporter="exporter",
        )  # fmt: skip
    assert info.sampled and info.rows == 300 and info.rows_in_range == len(events)
    with open_bundle(out) as bundle:
        sample = bundle.source().read()
        sampling = bundle.manifest["telemetry"]["sampling"]
    # the frozen aggregates: the source's exact events per (version, UTC day), and the
    # streamed sampler's own allocation of max_rows over them
    _, streamed = _stream_sample(_Batches(events), None, 300, seed=5)
    assert sampling["per_stratum"] == streamed["per_stratum"]
    assert sampling["rows_in_range"] == len(events) and sampling["method"] == "stratified"
    # the rows: the source's own, exactly the quota of each stratum
    assert sample.num_rows == 300
    assert set(sample.column("request_id").to_pylist()) <= set(events["request_id"].to_pylist())
    days = pc.strftime(sample.column("ts"), "%Y-%m-%d", locale="C")
    got: dict[tuple[str, str], int] = {}
    for v, d in zip(sample.column("model_version").to_pylist(), days.to_pylist(), strict=True):
        got[(v, d)] = got.get((v, d), 0) + 1
    assert got == {(s["version"], s["day"]): s["kept"] for s in sampling["per_stratum"]}
    # no statement brought every row back: one GROUP BY, one ranked selection
    reads = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert any("GROUP BY" in s for s in reads) and any("row_number()" in s for s in reads)
