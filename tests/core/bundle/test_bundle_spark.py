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


@pytest.mark.spark
def test_a_spark_bundle_profiles_its_reference_in_the_warehouse(
    spark, tmp_path: Path, plaintext_keyring: None
) -> None:
    """The reference window is never read as rows: its profile comes from aggregates and
    equals the in-memory profile of the same events (DuckDB over the same Parquet)."""
    import duckdb

    from watchkeeper.core.bundle.export import _profiles
    from watchkeeper.core.spec import load_spec
    from watchkeeper.core.telemetry.contract import ColumnMapping
    from watchkeeper.core.telemetry.source import open_source

    events = _events(6000)
    rng = np.random.default_rng(3)
    events = events.append_column(
        "c", pa.array(rng.choice(["a", "b", "c", "d"], len(events), p=[0.4, 0.3, 0.2, 0.1]))
    ).append_column("k", pa.array(rng.integers(0, 4, len(events))))
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(events, folder / "part-0.parquet")
    location = spark.table_from_parquet(f"bundle_ref_{os.getpid()}", folder)
    spec = tmp_path / "m.toml"
    spec.write_text(
        f'[model]\nname = "m"\ntask = "binary"\n[telemetry]\nsource = "{location}"\n'
        '[telemetry.columns]\nfeatures = ["x", "c", "k"]\ncategorical = ["c"]\n'
        '[reference]\nkind = "window"\nversion = "1"\nstart = 2026-03-01\nend = 2026-03-03\n',
        encoding="utf-8",
    )
    out = tmp_path / "m.wkbundle"
    with recorded_statements() as seen:
        export_bundle(
            spec, out, start="2026-03-03", end=None, max_rows=300, seed=5,
            signer=Signer.from_seed("exporter"), exporter="exporter",
        )  # fmt: skip
    with open_bundle(out) as bundle:
        got = bundle.profiles["1"]
        sources = [p["source"] for p in bundle.manifest["profiles"]]
    assert any("profiled in the warehouse" in s for s in sources)
    # the in-memory path on the same events
    db = tmp_path / "same.duckdb"
    con = duckdb.connect(str(db))
    con.register("ev", events)
    con.execute("CREATE TABLE events AS SELECT * FROM ev")
    con.close()
    with open_source(f"duckdb:///{db}#events", ColumnMapping()) as local:
        ((_, _, want),), _ = _profiles(load_spec(spec), local, ["1"])
    assert got.rows == want.rows and 0 < got.rows < len(events)
    for g, w in zip(got.features, want.features, strict=True):
        assert (g.name, g.counts, g.edges, g.categories) == (
            w.name,
            w.counts,
            w.edges,
            w.categories,
        )
        if w.mean is not None:
            assert g.mean == pytest.approx(w.mean, rel=1e-12)
            assert g.std == pytest.approx(w.std, rel=1e-12)
    # nothing read as rows: every statement aggregates, or is the bounded ranked sample
    reads = [" ".join(s.split()) for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    bare = [
        s
        for s in reads
        if not any(w in s.lower() for w in ("count(", "percentile_approx(", "row_number()"))
    ]
    assert bare == []
