"""``watchkeeper drift``: the JSON document, the table, and exit 2 with one line on bad input.

The command is run in-process through ``watchkeeper.app.cli.main`` with ``drift`` added to the
command list (app/cli.py lists it once the command lands).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchkeeper.app import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("drift-cli")
    rng = np.random.default_rng(0)
    n = 6000
    ref = pd.DataFrame(
        {"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n), "score": rng.random(n)}
    )
    cur = pd.DataFrame(
        {
            "ts": pd.date_range("2026-01-01", periods=n, freq="30s", tz="UTC"),
            "model": "m",
            "model_version": "1",
            "x": rng.normal(size=n) + np.linspace(0, 1, n),
            "c": rng.choice(["a", "b", "c"], n),
            "score": rng.random(n),
        }
    )
    out = {"ref": d / "ref.parquet", "cur": d / "cur.parquet", "csv": d / "cur.csv"}
    ref.to_parquet(out["ref"])
    cur.to_parquet(out["cur"])
    cur.to_csv(out["csv"], index=False)
    (d / "garbage.parquet").write_bytes(b"not parquet at all")
    out["garbage"] = d / "garbage.parquet"
    return out


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["drift", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _whole_then_lowered(capsys, monkeypatch, threshold: str, args: list) -> list[dict]:
    """The JSON of ``args`` with ``analyses.<threshold>`` as it is (read whole), then at 0
    (every file above it: read a batch of columns at a time)."""
    from watchkeeper.core.workbench import analyses

    documents = []
    for limit in (getattr(analyses, threshold), 0):
        monkeypatch.setattr(analyses, threshold, limit)
        code, out, err = _run(capsys, *args)
        assert code == 0, err
        documents.append(json.loads(out))
    return documents


def test_json_document(capsys, files) -> None:
    code, out, err = _run(
        capsys,
        "--reference",
        files["ref"],
        "--current",
        files["cur"],
        "--window",
        "6h",
        "--json",
        "--model",
        "m",
        "--version",
        "1",
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [w["rows"] for w in doc["windows"]] == [720, 720, 720, 720, 720, 720, 720, 720, 240]
    assert doc["windows"][0]["start"] == "2026-01-01T00:00:00Z"
    names = [f["name"] for f in doc["features"]]
    assert names == ["x", "c"] and doc["prediction"]["name"] == "score"
    x = doc["features"][0]["windows"]
    assert x[0]["decision"] == "ok" and x[-2]["decision"] == "drift"
    assert doc["thresholds"]["psi_drift"] == 0.2
    assert "NaN" not in out


def test_json_says_since_when_each_feature_drifts(capsys, files) -> None:
    """``onset`` (beyond CONTRACT.md): x ramps up from the start, so its change is dated no
    later than its first drift window and is still going on; c never changes."""
    code, out, err = _run(
        capsys, "--reference", files["ref"], "--current", files["cur"], "--window", "6h", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    x, c = doc["features"]
    onset = x["onset"]
    first_drift = next(w["index"] for w in x["windows"] if w["decision"] == "drift")
    assert onset["start"] <= first_drift and onset["ongoing"] is True and onset["end"] is None
    assert onset["start"] <= onset["peak"] < len(doc["windows"])
    assert c["onset"] is None


def test_table_output_and_csv(capsys, files) -> None:
    code, out, err = _run(
        capsys,
        "--reference",
        files["ref"],
        "--current",
        files["csv"],
        "--window",
        "1d",
        "--features",
        "x",
        "c",
    )
    assert code == 0, err
    assert "x " in out and "drift" in out and out.count("\n") < 15


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "fortnight"], "window"),
        (["--features", "nope"], "nope"),
        (["--start", "tomorrow"], "ISO-8601"),
        (["--start", "2026-01-03", "--end", "2026-01-02"], "empty"),
        (["--timestamp", "when", "--window", "1d"], "when"),
        (["--categorical", "x", "--features", "x"], None),  # allowed: x as categories
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, files, extra, message) -> None:
    code, out, err = _run(capsys, "--reference", files["ref"], "--current", files["cur"], *extra)
    if message is None:
        assert code == 0, err
        return
    assert code == 2, out
    assert err.count("\n") == 1 and "Traceback" not in err and message in err
    assert err.startswith("watchkeeper drift: ")


@pytest.mark.parametrize(
    "current",
    [
        "/no/such/file.parquet",
        "duckdb:////no/such.duckdb#t",
        "notaurl://x#t",
        "garbage",
        "file.xlsx",
    ],
)
def test_bad_sources_exit_2(capsys, files, current) -> None:
    current = str(files["garbage"]) if current == "garbage" else current
    code, _, err = _run(capsys, "--reference", files["ref"], "--current", current)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "internal error" not in err, err


def test_version_filter_without_column(capsys, files) -> None:
    code, _, err = _run(
        capsys, "--reference", files["ref"], "--current", files["ref"], "--version", "1"
    )
    assert code == 2 and "model_version" in err


def test_sql_current_is_pushed_down(capsys, files, tmp_path) -> None:
    import duckdb

    db = tmp_path / "t.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE predictions AS SELECT * FROM read_parquet('{files['cur']}')")
    con.close()
    code, out, err = _run(
        capsys,
        "--reference",
        files["ref"],
        "--current",
        f"duckdb:///{db}#predictions",
        "--window",
        "6h",
        "--json",
        "--model",
        "m",
    )
    assert code == 0, err
    doc = json.loads(out)
    _, out2, _ = _run(
        capsys,
        "--reference",
        files["ref"],
        "--current",
        files["cur"],
        "--window",
        "6h",
        "--json",
        "--model",
        "m",
    )
    mem = json.loads(out2)
    assert [f["windows"][i]["decision"] for f in doc["features"] for i in range(9)] == [
        f["windows"][i]["decision"] for f in mem["features"] for i in range(9)
    ]
    assert any("pushed down" in n for n in doc["notes"])


def test_drift_spec_is_the_workbench_analysis(
    demo_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``drift --spec`` gives the Drift view's numbers: the workbench's run_drift, same JSON."""
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    spec = demo_workspace / "specs" / "fraud-detector.toml"
    args = ["--window", "7d", "--start", "2026-03-02", "--end", "2026-04-13", "--json"]
    assert cli.main(["drift", "--spec", str(spec), "--version", "1", *args]) == 0
    doc = json.loads(capsys.readouterr().out)
    (entry,) = portfolio_of_spec(spec).models
    start, end = dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 4, 13, tzinfo=dt.UTC)
    expected = run_drift(entry, "1", "7d", start=start, as_of=end)
    assert doc == json.loads(expected.to_json())
    assert [w["start"] for w in doc["windows"]][:2] == [
        "2026-03-02T00:00:00Z",
        "2026-03-09T00:00:00Z",
    ]
    assert len(doc["windows"]) == 6 and doc["multivariate"] is not None
    decisions = {f["name"]: f["windows"][-1]["decision"] for f in doc["features"]}
    assert decisions["device_type"] == "drift"  # the logging incident, from 2026-04-06
    # the champion by default; the text table names the window
    assert cli.main(["drift", "--spec", str(spec), "--window", "30d"]) == 0
    assert "30d" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference", "x.parquet"], "leave out --reference"),
        (["--window", "banana"], "window 'banana' is not a window spec"),
        (["--start", "later"], "--start: 'later' is not an ISO-8601"),
    ],
)
def test_drift_spec_bad_input_exits_2(
    demo_workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    spec = demo_workspace / "specs" / "fraud-detector.toml"
    assert cli.main(["drift", "--spec", str(spec), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert cli.main(["drift", "--current", "x.parquet"]) == 2
    assert "give --spec FILE, or both" in capsys.readouterr().err


def test_a_large_current_file_is_read_a_few_columns_at_a_time(
    capsys, files, tmp_path, monkeypatch
) -> None:
    """Above ``STREAM_BYTES`` a Parquet current file is handed to the engine as a
    ``ColumnReader`` (a few columns at a time, the rows selected by ``--model`` and
    ``--version`` in the read), not read whole: the same document as the whole read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.core.drift import engine

    cur = pq.read_table(files["cur"])
    other = cur.set_column(
        cur.schema.get_field_index("model_version"),
        "model_version",
        pa.array(["2"] * len(cur), pa.large_string()),
    )
    other = other.set_column(other.schema.get_field_index("x"), "x", pa.array(np.zeros(len(cur))))
    mixed = pa.concat_tables([cur, other]).take(
        np.argsort(np.r_[np.arange(len(cur)), np.arange(len(cur)) + 0.5], kind="stable")
    )
    path = tmp_path / "mixed.parquet"
    pq.write_table(mixed, path, row_group_size=1_000)
    seen: list[type] = []
    real = engine.analyze_drift

    def spy(reference, current, **kw):  # type: ignore[no-untyped-def]
        seen.append(type(current))
        return real(reference, current, **kw)

    monkeypatch.setattr(engine, "analyze_drift", spy)
    args = ["--reference", files["ref"], "--current", path, "--window", "6h", "--json"]
    args += ["--model", "m", "--version", "1"]
    documents = _whole_then_lowered(capsys, monkeypatch, "STREAM_BYTES", args)
    assert seen == [pa.Table, engine.ColumnReader]
    whole, streamed = documents
    assert streamed == whole
    # version 2's rows (x = 0) were left out by the read: 6,000 rows of version 1
    assert sum(w["rows"] for w in whole["windows"]) == len(cur)
    # and a filter on a column the file lacks is refused before anything is read
    code, _, err = _run(
        capsys, "--reference", files["ref"], "--current", files["ref"], "--model", "m"
    )
    assert code == 2 and "'model'" in err


def test_a_large_current_file_stays_in_bounds(tmp_path: Path) -> None:
    """900,000 rows × 40 features of Parquet (295 MB as float64): in a child process under
    an address-space cap, the command peaked at 742-777 MB reading the file whole, and at
    466-501 MB reading it a few columns at a time; the same rows counted."""
    import datetime as dt
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    tests = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(tests))
    from child_process import json_child

    rng = np.random.default_rng(5)
    t0 = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6)

    def table(n: int, shift: float) -> pa.Table:
        ts = pa.array(t0 + np.arange(n, dtype=np.int64) * 2_000_000, pa.timestamp("us", "UTC"))
        block = rng.normal(shift, 1, (40, n))
        return pa.table({"ts": ts, **{f"f{j:02d}": block[j] for j in range(40)}})

    pq.write_table(table(20_000, 0.0), tmp_path / "ref.parquet")
    pq.write_table(table(900_000, 0.1), tmp_path / "cur.parquet", row_group_size=50_000)
    from watchkeeper.core.workbench.analyses import REFERENCE_BYTES, STREAM_BYTES

    got = json_child(
        str(tests / "drift_cli_child.py"),
        "4096",
        str(STREAM_BYTES),
        str(REFERENCE_BYTES),
        str(tmp_path / "ref.parquet"),
        str(tmp_path / "cur.parquet"),
    )
    assert got["code"] == 0 and got["rows"] == 900_000
    assert got["peak_mb"] < 620, got


def test_a_large_reference_file_with_named_features_is_prepared_in_batches(
    capsys, files, tmp_path, monkeypatch
) -> None:
    """Above ``REFERENCE_BYTES`` a Parquet reference whose features are named is prepared a
    few columns at a time (the rows of ``--model`` only), as the window prepares a large
    reference window: the same document as the whole read through the cache."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.core.drift import reference_batches

    ref = pq.read_table(files["ref"])
    n = ref.num_rows
    start = np.datetime64("2025-12-01T00:00:00", "us")
    ts = pa.array(start + np.arange(n) * np.timedelta64(60, "s"), pa.timestamp("us", "UTC"))
    mine = ref.append_column("ts", ts).append_column("model", pa.array(["m"] * n))
    other = mine.set_column(mine.schema.get_field_index("model"), "model", pa.array(["o"] * n))
    other = other.set_column(other.schema.get_field_index("x"), "x", pa.array(np.full(n, 9.0)))
    path = tmp_path / "reference.parquet"
    pq.write_table(pa.concat_tables([mine, other]), path, row_group_size=1_000)
    calls: list[int] = []
    real = reference_batches.prepare_reference_in_batches

    def spy(read, rows, **kw):  # type: ignore[no-untyped-def]
        calls.append(rows)
        return real(read, rows, **kw)

    monkeypatch.setattr(reference_batches, "prepare_reference_in_batches", spy)
    args = ["--reference", path, "--current", files["cur"], "--window", "6h", "--json"]
    args += ["--model", "m", "--features", "x", "c", "--categorical", "c"]
    documents = _whole_then_lowered(capsys, monkeypatch, "REFERENCE_BYTES", args)
    assert calls == [n]  # the second run only, with model m's rows
    whole, batched = documents
    assert batched == whole
    assert whole["reference"]["rows"] == n


def test_a_large_reference_file_without_named_features_is_prepared_in_batches(
    capsys, tmp_path, monkeypatch
) -> None:
    """Without ``--features`` the batches take the features the whole read would profile,
    named from the file's schema: every column of a usable type but the roles and the
    timestamp — a column of lists left out, an integer declared categorical, a name with a
    space and a quote — and the document is the whole read's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from watchkeeper.core.drift import reference_batches

    rng = np.random.default_rng(9)

    def table(n: int, shift: float, day: str) -> pa.Table:
        x = rng.normal(shift, 1, n)
        x[::97] = np.nan
        x[::311] = np.inf
        t0 = np.datetime64(day, "us")
        return pa.table(
            {
                "request_id": [f"r{i}" for i in range(n)],
                "ts": pa.array(
                    t0 + np.arange(n) * np.timedelta64(30, "s"), pa.timestamp("us", "UTC")
                ),
                "model": ["m"] * n,
                "model_version": ["1"] * n,
                "x": x,
                "c": rng.choice(["a", "b", "c"], n),
                "k": rng.integers(0, 4, n),
                'odd "name"': rng.gamma(2.0, 1 + shift, n),
                "tags": pa.array([[1, 2]] * n, pa.list_(pa.int32())),
                "score": rng.random(n),
                "label": rng.integers(0, 2, n).astype(float),
            }
        )

    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    pq.write_table(table(5_000, 0.0, "2026-01-01"), ref, row_group_size=1_000)
    pq.write_table(table(3_000, 0.5, "2026-02-01"), cur)
    calls: list[list[str]] = []
    real = reference_batches.prepare_reference_in_batches

    def spy(read, rows, **kw):  # type: ignore[no-untyped-def]
        calls.append(list(kw["features"]))
        return real(read, rows, **kw)

    monkeypatch.setattr(reference_batches, "prepare_reference_in_batches", spy)
    args = ["--reference", ref, "--current", cur, "--window", "6h", "--json", "--categorical", "k"]
    whole, batched = _whole_then_lowered(capsys, monkeypatch, "REFERENCE_BYTES", args)
    assert calls == [["x", "c", "k", 'odd "name"']]  # the second run only
    assert batched == whole
    assert [f["name"] for f in whole["features"]] == calls[0]
    assert whole["prediction"]["name"] == "score"


def test_a_large_reference_file_stays_in_bounds(tmp_path: Path) -> None:
    """600,000 reference rows × 40 named features (192 MB as float64), the batch threshold
    lowered to 32 MiB so that a test-sized file crosses it: in a capped child the command
    peaked at 366 MB preparing the reference in batches, at 782 MB reading it whole."""
    import datetime as dt
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    tests = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(tests))
    from child_process import json_child

    rng = np.random.default_rng(3)
    t0 = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6)

    def table(n: int, shift: float, start: int) -> pa.Table:
        ts = pa.array(start + np.arange(n, dtype=np.int64) * 1_000_000, pa.timestamp("us", "UTC"))
        block = rng.normal(shift, 1, (40, n))
        return pa.table({"ts": ts, **{f"f{j:02d}": block[j] for j in range(40)}})

    pq.write_table(table(600_000, 0.0, t0), tmp_path / "ref.parquet", row_group_size=50_000)
    pq.write_table(table(20_000, 0.1, t0 + 40 * 86_400_000_000), tmp_path / "cur.parquet")
    from watchkeeper.core.workbench.analyses import STREAM_BYTES

    got = json_child(
        str(tests / "drift_cli_child.py"),
        "4096",
        str(STREAM_BYTES),
        str(32 << 20),
        str(tmp_path / "ref.parquet"),
        str(tmp_path / "cur.parquet"),
        "--features",
        *(f"f{j:02d}" for j in range(40)),
    )
    assert got["code"] == 0 and got["reference_rows"] == 600_000 and got["rows"] == 20_000
    assert got["peak_mb"] < 560, got


def test_a_csv_reference_without_times_reads_as_the_telemetry_reads_csv(
    capsys, files, tmp_path: Path
) -> None:
    """A training CSV (no time column, `;`-separated, blank fields): the delimiter sniffed
    and a blank field missing, not a category "" — the same document as the Parquet file
    with those values missing (bar the digest, which hashes the stored types)."""
    ref = pd.read_parquet(files["ref"])
    ref.loc[::7, "c"] = None
    ref.loc[::11, "x"] = np.nan
    ref.to_parquet(tmp_path / "ref.parquet")
    ref.to_csv(tmp_path / "ref.csv", sep=";", index=False)
    documents = []
    for name in ("ref.parquet", "ref.csv"):
        code, out, err = _run(
            capsys, "--reference", tmp_path / name, "--current", files["cur"], "--json"
        )
        assert code == 0, err
        doc = json.loads(out)
        del doc["reference"]["digest"]
        documents.append(doc)
    assert documents[0] == documents[1]
    c = next(f for f in documents[1]["features"] if f["name"] == "c")
    assert c["cardinality"] == 3  # a, b, c: the blanks are missing values
