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
    for doc in (spark, duck):
        doc.pop("notes")
    _close(spark, duck)
    drifted = {
        f["name"] for f in spark["features"] if any(w["decision"] == "drift" for w in f["windows"])
    }
    assert {"amount", "device_type"} <= drifted  # the demo's planted drift, found on Spark


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
