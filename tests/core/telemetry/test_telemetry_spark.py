"""Spark SQL as a telemetry store, against the real Thrift server the tests start: the same
answers as DuckDB for a whole workspace model, counting pushed down, one clear line on error."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from watchkeeper.core.telemetry.sql_values import MAX_ERROR_CHARS, double, short_error

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_specs(spark, demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    """The demo's fraud-detector spec twice: reading the demo's DuckDB file, and reading the
    same events as a Parquet-backed Spark table (absolute paths: the specs live elsewhere)."""
    folder = tmp_path_factory.mktemp("spark-ws")
    data = folder / "predictions"
    data.mkdir()
    with duckdb.connect(str(demo_workspace / "telemetry.duckdb"), read_only=True) as con:
        con.sql(f"COPY predictions TO '{data / 'part-0.parquet'}' (FORMAT parquet)")
    table = f"predictions_{os.getpid()}"
    location = spark.table_from_parquet(table, data)
    text = (demo_workspace / "specs" / "fraud-detector.toml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///../registry/", f"sqlite:///{demo_workspace}/registry/")
    text = text.replace("sqlite:///../governance.db", f"sqlite:///{demo_workspace}/governance.db")
    duck = folder / "fraud-duckdb.toml"
    duck.write_text(
        text.replace(
            "duckdb:///../telemetry.duckdb", f"duckdb:///{demo_workspace}/telemetry.duckdb"
        ),
        encoding="utf-8",
    )
    on_spark = folder / "fraud-spark.toml"
    on_spark.write_text(
        re.sub(r'source = "[^"]*"', f'source = "{location}"', text), encoding="utf-8"
    )
    return {"duckdb": duck, "spark": on_spark}


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal documents, floats to 1e-9 relative."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def test_drift_of_a_workspace_model_equals_duckdb(spark_specs: dict[str, Path]) -> None:
    """Spark always counts in the warehouse (SqlSource.warehouse); DuckDB reads the rows in
    memory at this size: two different paths, one answer."""
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    results = {}
    for engine, spec in spark_specs.items():
        (entry,) = portfolio_of_spec(spec).models
        results[engine] = run_drift(entry, "1", "1d").to_dict()
    spark, duck = results["spark"], results["duckdb"]
    assert any(n.startswith("counts pushed down to the database") for n in spark["notes"])
    # the reference window (93,000 rows) is within exact_sample_limit: counted in Spark, then
    # read as rows and prepared as DuckDB's rows are — the same profile, digest included
    assert not any(n.startswith("reference profiled in the database") for n in spark["notes"])
    for doc in (spark, duck):
        doc.pop("notes")
    _close(spark, duck)
    drifted = {
        f["name"] for f in spark["features"] if any(w["decision"] == "drift" for w in f["windows"])
    }
    assert {"amount", "device_type"} <= drifted  # the demo's planted drift, found on Spark
    # above exact_sample_limit the reference is a seeded systematic sample: the same
    # statement picks the same rows on Spark and DuckDB (one statement each, 1,000 rows)
    import numpy as np
    import sqlalchemy as sa

    from watchkeeper.core.drift.reference_sql import fetch_reference_sample
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.sql import reflect_table
    from watchkeeper.core.workbench.analyses import _reference_query, open_source_of

    samples = {}
    for engine, spec in spark_specs.items():
        (entry,) = portfolio_of_spec(spec).models
        version, start, end = _reference_query(entry.spec, "1")
        query = TelemetryQuery(model=entry.name, versions=(version,), start=start, end=end)
        with open_source_of(entry) as src, src.engine.connect() as conn:
            table = reflect_table(conn, src.table_name)
            samples[engine] = fetch_reference_sample(
                conn,
                table,
                ["amount", "txn_count_24h", "score"],
                limit=1000,
                where=sa.and_(*src.where(table, query)),
                order_by=("request_id",),
            )
    assert samples["spark"].num_rows == samples["duckdb"].num_rows == 1000
    for name in samples["spark"].column_names:  # NULL and NaN come back as NaN
        got, want = (samples[e].column(name).to_numpy() for e in ("spark", "duckdb"))
        assert np.array_equal(got, want, equal_nan=True), name
    # the hybrid's choice on Spark, one COUNT each: rows within the limit, the database above
    from watchkeeper.core.workbench.analyses import _reference_fits

    (entry,) = portfolio_of_spec(spark_specs["spark"]).models
    span = _reference_query(entry.spec, "1")
    below = entry.spec.model_copy(
        update={"drift": entry.spec.drift.model_copy(update={"exact_sample_limit": 92_999})}
    )
    with open_source_of(entry) as src:
        assert _reference_fits(src, entry.spec, span)  # 93,000 <= 100,000
        assert not _reference_fits(src, below, span)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watchkeeper.app.cli", *argv],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_check_gives_the_same_verdict_on_spark(spark_specs: dict[str, Path]) -> None:
    docs = {}
    for engine, spec in spark_specs.items():
        run = _cli("check", "--spec", str(spec), "--json", "--as-of", "2026-04-30T00:00:00Z")
        assert run.returncode in (0, 1), run.stderr
        assert "nanobind" not in run.stderr and "internal error" not in run.stderr
        docs[engine] = json.loads(run.stdout)
    for doc in docs.values():
        doc.pop("generated_at", None)
    _close(docs["spark"], docs["duckdb"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_spark_server_is_one_line(tmp_path: Path, spark_specs) -> None:
    text = spark_specs["spark"].read_text(encoding="utf-8")
    spec = tmp_path / "away.toml"
    spec.write_text(
        re.sub(r"hive://127.0.0.1:\d+/", f"hive://127.0.0.1:{_closed_port()}/", text),
        encoding="utf-8",
    )
    run = _cli("drift", "--spec", str(spec))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0], run.stderr
    assert "internal error" not in run.stderr


def test_a_refused_statement_is_one_short_line(spark) -> None:
    import pyarrow as pa

    from watchkeeper.core.drift.errors import DriftError
    from watchkeeper.core.drift.profile import build_profile
    from watchkeeper.core.drift.sql_counts import count_windows_sql, plan_windows_sql
    from watchkeeper.core.telemetry.windows import parse_window

    profile = build_profile(pa.table({"x": [float(i) for i in range(100)]}))
    engine = sa.create_engine(spark.url)
    try:
        with engine.connect() as conn:
            table = sa.table("no_such_table_here", sa.column("x"), sa.column("ts"))
            with pytest.raises(DriftError) as caught:
                windows = plan_windows_sql(conn, table, parse_window(None), timestamp=None)
                count_windows_sql(conn, table, profile, windows, timestamp=None)
    finally:
        engine.dispose()
    message = str(caught.value)
    assert "\n" not in message and len(message) < MAX_ERROR_CHARS + 80
    assert "TABLE_OR_VIEW_NOT_FOUND" in message or "not found" in message.lower()


def test_double_literals_compile_for_spark_and_bind_elsewhere() -> None:
    from pyhive.sqlalchemy_hive import HiveDialect
    from sqlalchemy.dialects import postgresql

    x = sa.column("x")
    hive = HiveDialect()
    assert str((x > double(math.inf)).compile(dialect=hive)) == "`x` > CAST('Infinity' AS DOUBLE)"
    assert "CAST('-Infinity' AS DOUBLE)" in str((x > double(-math.inf)).compile(dialect=hive))
    assert "CAST('NaN' AS DOUBLE)" in str((x > double(math.nan)).compile(dialect=hive))
    assert "CAST('0.1' AS DOUBLE)" in str((x < double(0.1)).compile(dialect=hive))
    bound = (x > double(math.inf)).compile(dialect=postgresql.dialect())
    assert list(bound.params.values()) == [math.inf]
    # distinct values never share a cached hive statement
    a = sa.select(x).where(x < double(1.0)).compile(dialect=hive)
    b = sa.select(x).where(x < double(2.0)).compile(dialect=hive)
    assert str(a) != str(b)


def test_short_error_keeps_spark_errors_to_one_line() -> None:
    plan = "\\n".join(f":  +- 'Project [{i}]" for i in range(10_000))
    raw = (
        "TExecuteStatementResp(status=TStatus(statusCode=3, infoMessages=['*org.apache.hive."
        "service.cli.HiveSQLException:Error running query: [UNRESOLVED_COLUMN.WITH_SUGGESTION] "
        "A column with name `inf` cannot be resolved. SQLSTATE: 42703; line 2 pos 9517;\\n" + plan
    )
    line = short_error(raw)
    assert line.startswith("[UNRESOLVED_COLUMN.WITH_SUGGESTION]") and len(line) <= MAX_ERROR_CHARS
    assert "Project" not in line


def _performance_document(view: Any) -> dict[str, Any]:
    """A performance view without label-lag percentiles (not computed in the database)."""
    realized = view.realized.to_dict()
    for w in realized["windows"]:
        w["coverage"].pop("lag_hours")
    return {
        "realized": realized,
        "baseline": None if view.baseline is None else view.baseline.to_dict(),
        "estimated": [None if e is None else e.to_dict() for e in view.estimated],
    }


def test_performance_is_counted_in_spark_and_equals_duckdb(spark_specs: dict[str, Path]) -> None:
    """Spark aggregates the realized metric and the baseline in the database and reads the
    estimate's inputs as bounded samples; DuckDB reads this small workspace into memory.
    Same windows, coverage, ROC AUC with its DeLong interval, baseline and CBPE estimates."""
    import datetime as dt

    from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
    from watchkeeper.core.workbench.analyses import run_performance
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    as_of = dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
    views, statements = {}, {}
    for engine, spec in spark_specs.items():
        (entry,) = portfolio_of_spec(spec).models
        with recorded_statements() as seen:
            views[engine] = run_performance(entry, "1", "7d", as_of=as_of)
        statements[engine] = scans(seen, f"predictions_{os.getpid()}")
    spark, duck = views["spark"], views["duckdb"]
    assert any("counted in the database" in n for n in spark.notes)
    assert any(e is not None and e.metrics for e in spark.estimated)
    _close(_performance_document(spark), _performance_document(duck))
    # per analysis, not per window: realized (label times, the time and score ranges in one,
    # counts, mixed bins' rows), baseline (the last three), estimate (two samples: the
    # reference's count comes with its sample, the windows' plan is the realized metrics')
    assert len(statements["spark"]) == 9, statements["spark"]
    assert len(set(statements["spark"])) == 9, statements["spark"]


def test_naive_parquet_timestamps_are_compared_as_utc(spark, tmp_path: Path) -> None:
    """Spark reads a naive Parquet timestamp as TIMESTAMP_NTZ, which PyHive cannot type (the
    column reflected as NullType: no time filter, no window). Typed as a timestamp and
    compared as CAST(… AS TIMESTAMP) in the UTC session: the same counts and windows as
    DuckDB reading the same file."""
    import datetime as dt

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.core.evaluation.performance_sql import performance_over_time_sql
    from watchkeeper.core.telemetry.contract import ColumnMapping, TelemetryQuery
    from watchkeeper.core.telemetry.source import open_source
    from watchkeeper.core.telemetry.sql import reflect_table, time_key

    n, t0 = 600, dt.datetime(2026, 3, 1)
    rng = np.random.default_rng(3)
    y = (rng.random(n) < 0.3).astype(float)
    data = tmp_path / "ntz"
    data.mkdir()
    pq.write_table(
        pa.table(
            {
                "ts": pa.array(
                    [t0 + dt.timedelta(minutes=17 * i) for i in range(n)], pa.timestamp("us")
                ),
                "model": ["m"] * n,
                "model_version": ["1"] * n,
                "score": rng.random(n) * 0.6 + 0.4 * y,
                "label": y,
            }
        ),
        data / "part-0.parquet",
    )
    location = spark.table_from_parquet(f"ntz_{os.getpid()}", data)
    duck = tmp_path / "ntz.duckdb"
    with duckdb.connect(str(duck)) as con:
        con.sql(f"CREATE TABLE events AS SELECT * FROM read_parquet('{data}/*.parquet')")
    after = TelemetryQuery(start=t0 + dt.timedelta(days=2, hours=5))
    got = {}
    for engine, where in (("spark", location), ("duckdb", f"duckdb:///{duck}#events")):
        with open_source(where, ColumnMapping()) as src:
            assert src.schema().column("ts").kind.value == "timestamp"
            got[engine] = (
                src.count(after),
                performance_over_time_sql(
                    src, window="1d", metrics=["precision", "roc_auc"], min_labeled=20
                ).to_dict(),
            )
            if engine == "spark":
                with src.engine.connect() as conn:
                    ts = reflect_table(conn, src.table_name).c.ts
                    text = str((time_key(ts) < t0).compile(conn, compile_kwargs={}))
                assert f"CAST(`ntz_{os.getpid()}`.`ts` AS TIMESTAMP)" in text, text
    assert got["spark"][0] == got["duckdb"][0] == n - (2 * 24 + 5) * 60 // 17 - 1
    _close(got["spark"][1], got["duckdb"][1])


def test_the_gate_pairs_in_spark_and_equals_duckdb(spark_specs: dict[str, Path]) -> None:
    """On Spark the champion's and challenger's rows are joined by request id in the
    warehouse (only the pairs come back); DuckDB joins this small workspace in memory. The
    same pairs, criteria, intervals and verdict."""
    from watchkeeper.core.evaluation.gate import gate_from_spec
    from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    docs, statements = {}, {}
    for engine, spec in spark_specs.items():
        (entry,) = portfolio_of_spec(spec).models
        with recorded_statements() as seen:
            gate = gate_from_spec(entry.spec, champion="1", challenger="2", n_boot=50)
        docs[engine] = gate.document()
        assert (
            docs[engine]["inputs"]
            .pop("source")
            .startswith("hive" if engine == "spark" else "duckdb")
        )
        statements[engine] = scans(seen, f"predictions_{os.getpid()}")
    assert len(statements["spark"]) == 2, statements["spark"]  # the period's span, the pairs
    assert not statements["duckdb"]  # read into memory at this size
    _close(docs["spark"], docs["duckdb"])


def test_the_champion_views_disagreements_read_their_features_by_id_on_spark(
    spark_specs: dict[str, Path],
) -> None:
    """The Champion view's 200 disagreements take their features from the champion's rows
    of those request ids: on Spark one ``IN`` of their ids, not every pair's features across
    the wire; only the integer features are read over the window (where one is missing
    among the disagreements, pandas makes it float). The table equals DuckDB's, cell for
    cell and type for type."""
    import pandas as pd

    from watchkeeper.core.evaluation.data import open_spec_source
    from watchkeeper.core.evaluation.predicates import predicates_from_spec
    from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
    from watchkeeper.core.workbench.challenger import DISAGREEMENT_ROWS, run_challenger
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    views, statements = {}, {}
    for engine, spec in spark_specs.items():
        (entry,) = portfolio_of_spec(spec).models
        with recorded_statements() as seen:
            views[engine] = run_challenger(entry, "1", "2", n_boot=30)
        statements[engine] = scans(seen, f"predictions_{os.getpid()}")
    spark, duck = views["spark"].disagreements, views["duckdb"].disagreements
    assert len(spark) == DISAGREEMENT_ROWS and views["spark"].disagreeing > DISAGREEMENT_ROWS
    pd.testing.assert_frame_equal(spark, duck, check_exact=False, rtol=1e-9)
    spec = portfolio_of_spec(spark_specs["spark"]).models[0].spec
    features = list(spec.telemetry.columns.features)
    assert features and set(features) <= set(spark.columns)
    # the span; the pairs, with the slices' columns only; the shown rows by their ids; and
    # the integer features (a missing value among the disagreements makes them float)
    sliced = {c for p in predicates_from_spec(spec) for c in p.columns}
    seen = statements["spark"]
    pairs = [t for t in seen if "wk_pairs" in t]
    assert len(pairs) == 1 and len(seen) == 4, seen
    assert [f for f in features if f"`{f}`" in pairs[0]] == [f for f in features if f in sliced]
    assert len(sliced) < len(features)
    by_id = [t for t in seen if "`request_id` IN (" in t]
    assert len(by_id) == 1 and all(f"`{f}`" in by_id[0] for f in features), seen
    with open_spec_source(portfolio_of_spec(spark_specs["duckdb"]).models[0].spec) as src:
        types = {c.name: c.arrow_type for c in src.schema().columns}
    whole = [f for f in features if types[f].startswith(("int", "uint", "bool"))]
    streamed = [t for t in seen if t not in pairs + by_id and "min(" not in t]
    assert whole and len(streamed) == 1
    assert [f for f in features if f"`{f}`" in streamed[0]] == whole


def test_a_warehouse_estimate_reads_a_bounded_sample_and_says_so(
    spark_specs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a warehouse the estimate reads at most ``WAREHOUSE_ESTIMATE_ROWS`` of the
    reference's labeled events (every row crosses PyHive's Thrift decoded in Python): here
    20,000 of the demo's 93,000. The note says so, and the estimates stay those of the
    calibrator fitted on every event, within the calibration's sampling error."""
    import datetime as dt

    from watchkeeper.core.evaluation import estimation_sql
    from watchkeeper.core.evaluation.estimation_sql import ESTIMATE_ROWS, estimate_rows
    from watchkeeper.core.workbench.analyses import open_source_of, run_performance
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    as_of = dt.datetime(2026, 4, 30, tzinfo=dt.UTC)
    (duck_entry,) = portfolio_of_spec(spark_specs["duckdb"]).models
    whole = run_performance(duck_entry, "1", "7d", as_of=as_of)
    monkeypatch.setattr(estimation_sql, "WAREHOUSE_ESTIMATE_ROWS", 20_000)
    (entry,) = portfolio_of_spec(spark_specs["spark"]).models
    view = run_performance(entry, "1", "7d", as_of=as_of)
    assert "the estimate reads at most 20,000 rows a window and of the reference" in " ".join(
        view.notes
    )
    assert not any("reads at most" in n for n in whole.notes)
    pairs = [
        (a.metrics[m].value, b.metrics[m].value)
        for a, b in zip(view.estimated, whole.estimated, strict=True)
        if a is not None and b is not None and a.metrics
        for m in a.metrics
    ]
    assert pairs
    assert max(abs(a - b) for a, b in pairs) < 0.02, pairs
    assert any(a != b for a, b in pairs)  # a sample, not every event
    with open_source_of(duck_entry) as src:
        assert estimate_rows(src) == ESTIMATE_ROWS
    with open_source_of(entry) as src:
        assert estimate_rows(src) == 20_000
