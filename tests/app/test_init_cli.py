"""``watchkeeper init``: from someone's table to a workspace ``check`` and ``drift`` answer on."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.app import cli


def _log(path: Path, n: int = 40_000, days: int = 60, seed: int = 5) -> str:
    """A DuckDB table of a binary model, with drift planted in the last three weeks."""
    import duckdb

    rng = np.random.default_rng(seed)
    secs = np.sort(rng.integers(0, days * 86400, n))
    late = secs > (days - 21) * 86400
    income = rng.lognormal(10, 0.5, n) * np.where(late, 1.8, 1.0)
    score = 1 / (1 + np.exp(-(np.log(income) - 10) * 2))
    t = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "event_time": pa.array(
                [dt.datetime(2025, 6, 1) + dt.timedelta(seconds=int(s)) for s in secs],
                pa.timestamp("us"),
            ),
            "model_version": np.where(secs < 5 * 86400, "v1", "v2"),
            "income": income,
            "segment": rng.choice(["a", "b", "c"], n),
            "proba": score,
            "y": (rng.random(n) < score).astype(np.int64),
        }
    )
    with duckdb.connect(str(path)) as conn:
        conn.register("t", t)
        conn.execute("CREATE TABLE scored AS SELECT * FROM t")
    return f"duckdb:///{path}#scored"


def _exe() -> str:
    return str(Path(sys.executable).with_name("watchkeeper"))


def test_init_yes_then_check_and_drift_answer(tmp_path: Path) -> None:
    source = _log(tmp_path / "log.duckdb")
    ws = tmp_path / "ws"
    env = os.environ.copy()
    run = subprocess.run(
        [_exe(), "init", "--source", source, "--workspace", str(ws), "--model", "risk", "--yes"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr
    assert "event_time" in run.stdout and "no label arrival time" in run.stdout
    spec = ws / "specs" / "risk.toml"
    assert spec.exists() and (ws / "governance.db").exists()
    check = subprocess.run(
        [_exe(), "check", "--workspace", str(ws), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert check.returncode in (0, 1), check.stderr
    doc = json.loads(check.stdout)
    (model,) = doc["models"]
    assert model["model"] == "risk" and model["verdict"] in ("watch", "alert")
    assert any("income" in r for r in model["reasons"])  # the planted drift is found
    drift = subprocess.run(
        [_exe(), "drift", "--spec", str(spec), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert drift.returncode == 0, drift.stderr
    features = {f["name"]: f for f in json.loads(drift.stdout)["features"]}
    assert set(features) == {"income", "segment"}
    assert any(w["decision"] == "drift" for w in features["income"]["windows"])


def test_without_a_terminal_init_writes_nothing_unless_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _log(tmp_path / "log.duckdb", n=5_000)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed by pytest
    code = cli.main(["init", "--source", source, "--workspace", str(tmp_path / "ws")])
    out, err = capsys.readouterr()
    assert code == 2 and "--yes" in err and len(err.strip().splitlines()) == 1
    assert "event_id" in out  # the guesses were still shown
    assert not (tmp_path / "ws" / "specs").exists()


def test_flags_override_and_an_existing_spec_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _log(tmp_path / "log.duckdb", n=5_000)
    ws = tmp_path / "ws"
    argv = ["init", "--source", source, "--workspace", str(ws), "--yes", "--model", "m"]
    code = cli.main([*argv, "--label", "none", "--ignore", "segment", "--window", "7d"])
    assert code == 0
    text = (ws / "specs" / "m.toml").read_text()
    assert (
        "# label: none found" in text
        and "segment" not in text.split("[reference]")[0].split("features =")[1].split("\n")[0]
    )
    assert 'window = "7d"' in text
    capsys.readouterr()
    assert cli.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main([*argv, "--force"]) == 0


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("{tmp}/nothing.parquet", "no such file"),
        ("{tmp}/zero.csv", "empty"),
        ("duckdb:///{tmp}/log.duckdb#nope", "nope"),
        ("postgresql+psycopg://u@127.0.0.1:1/db#t", "127.0.0.1"),
    ],
)
def test_bad_sources_end_in_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, words: str
) -> None:
    (tmp_path / "zero.csv").write_bytes(b"")
    _log(tmp_path / "log.duckdb", n=100)
    code = cli.main(["init", "--source", source.format(tmp=tmp_path), "--yes"])
    err = capsys.readouterr().err
    assert code == 2 and words in err.lower() and len(err.strip().splitlines()) == 1, err
    assert "internal error" not in err


def _credit_table(path: Path, *, with_id: bool, n: int = 30_000, days: int = 60) -> str:
    """Issue 14's shape: an id, a time, seven features of mixed kinds, a score, a 0/1
    prediction and a label — and no version column; income drifts in the last three weeks."""
    import duckdb

    rng = np.random.default_rng(14)
    secs = np.sort(rng.integers(0, days * 86400, n))
    late = secs > (days - 21) * 86400
    income = rng.lognormal(10, 0.5, n) * np.where(late, 1.8, 1.0)
    debt = rng.beta(2, 5, n)
    score = 1 / (1 + np.exp(-((np.log(income) - 10) * 2 - 3 * (debt - 0.3))))
    columns: dict[str, object] = {
        "loan_id": [f"L{i:06d}" for i in range(n)],
        "applied_at": pa.array(
            [dt.datetime(2025, 3, 1) + dt.timedelta(seconds=int(s)) for s in secs],
            pa.timestamp("us"),
        ),
        "age": rng.integers(18, 80, n),
        "income": income,
        "debt_ratio": debt,
        "n_accounts": rng.integers(0, 12, n),
        "employment": rng.choice(["salaried", "self", "none"], n),
        "home": rng.choice(["own", "rent", "mortgage"], n),
        "purpose": rng.choice(["car", "house", "study", "other"], n),
        "pd_score": score,
        "pred_default": (score >= 0.5).astype(np.int64),
        "defaulted": (rng.random(n) < score).astype(np.int64),
    }
    if not with_id:
        del columns["loan_id"]
    t = pa.table(columns)
    with duckdb.connect(str(path)) as conn:
        conn.register("t", t)
        conn.execute("CREATE TABLE loans AS SELECT * FROM t")
    return f"duckdb:///{path}#loans"


@pytest.mark.parametrize("with_id", [True, False], ids=["with-id", "no-id"])
def test_init_on_a_table_without_a_version_column_then_check_and_drift(
    tmp_path: Path, with_id: bool
) -> None:
    source = _credit_table(tmp_path / "credit.duckdb", with_id=with_id)
    ws = tmp_path / "ws"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_exe(), *args],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    init = run("init", "--source", source, "--workspace", str(ws), "--model", "credit", "--yes")
    assert init.returncode == 0, init.stderr
    assert "CREATE VIEW" not in init.stdout + init.stderr
    spec_path = ws / "specs" / "credit.toml"
    text = spec_path.read_text()
    assert f'source = "{source}"' in text  # the user's own table, no view in between
    assert 'version = "1"' in text and 'model_version = ""' in text
    assert ('request_id = "loan_id"' in text) is with_id
    assert 'prediction = "pred_default"' in text
    assert not (ws / "telemetry.duckdb").exists()
    check = run("check", "--workspace", str(ws), "--json")
    assert check.returncode in (0, 1), check.stderr
    (model,) = json.loads(check.stdout)["models"]
    assert model["model"] == "credit" and model["version"] == "1"
    assert model["verdict"] in ("watch", "alert") and any("income" in r for r in model["reasons"])
    drift = run("drift", "--spec", str(spec_path), "--json")
    assert drift.returncode == 0, drift.stderr
    features = {f["name"]: f for f in json.loads(drift.stdout)["features"]}
    expected = {"age", "income", "debt_ratio", "n_accounts", "employment", "home", "purpose"}
    assert set(features) == expected
    assert any(w["decision"] == "drift" for w in features["income"]["windows"])
    assert all(w["decision"] != "drift" for w in features["home"]["windows"])
