"""``watchkeeper registry show`` and the promise that no secret leaks anywhere.

The tests run the real ``main`` (exit codes, one-line errors).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest
from registry_testkit import WRONG_PASSWORD

from watchkeeper.app import cli
from watchkeeper.core.paths import cache_dir, config_dir, data_dir

SRC = Path(__file__).resolve().parents[3]


@pytest.fixture
def main(monkeypatch: pytest.MonkeyPatch):
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return cli.main


def test_show_text_and_json_on_sqlite(main, sqlite_uri: str, capsys) -> None:
    assert main(["registry", "show", "--uri", sqlite_uri]) == 0
    out = capsys.readouterr().out
    assert "fraud-detector  (aliases: challenger → 2, champion → 1)" in out
    assert "version 1 [champion]" in out and "version 2 [challenger]" in out
    assert "commit 3f9c2b7e1d4a" in out and "by amira.haddad" in out
    assert "dataset (training): fraud-detector-reference" in out
    assert "artifacts:" not in out  # listing them costs a call per run: --model only

    assert main(["registry", "show", "--uri", sqlite_uri, "--model", "churn-model", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["churn-model"]
    churn = doc["models"][0]
    assert churn["aliases"] == {"champion": "3"}
    assert [v["version"] for v in churn["versions"]] == ["1", "2", "3"]
    v3 = churn["versions"][2]
    assert v3["aliases"] == ["champion"]
    assert v3["lineage"]["git_commit"] == "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"
    assert v3["lineage"]["datasets"][0]["context"] == "training"
    assert {a["path"] for a in v3["lineage"]["artifacts"]} >= {"reference/reference.parquet"}
    assert doc["stale"] is False


def test_show_bad_input_exits_2(main, tmp_path: Path, sqlite_uri: str, capsys) -> None:
    assert main(["registry", "show", "--uri", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("watchkeeper registry: ") and "no MLflow database" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["registry", "show", "--uri", sqlite_uri, "--model", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (cache_dir() / "errors.log").exists()  # none of these is a bug of ours


@pytest.mark.slow
def test_unreachable_exits_2_fast_in_a_cold_process(tmp_path: Path) -> None:
    """A whole process, as users and CI run it: one line, exit 2, quickly; mlflow lazy."""
    from servers import free_port

    code = (
        "import sys\n"
        "from watchkeeper.app import cli\n"
        "import watchkeeper.app.commands.registry\n"
        "assert 'mlflow' not in sys.modules, 'importing the command imported mlflow'\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    url = f"http://ana:cold-Secret-55@127.0.0.1:{free_port()}"
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", WATCHKEEPER_HOME=str(tmp_path))
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, "registry", "show", "--uri", url],
        capture_output=True, text=True, env=env, timeout=60, cwd=SRC,
    )  # fmt: skip
    took = time.monotonic() - t0
    print(f"\ncold `registry show` against a dead server: exit {proc.returncode} in {took:.2f} s")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("watchkeeper registry: MLflow registry at http://ana@127.0.0.1")
    assert "unreachable (connection refused)" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cold-Secret-55" not in proc.stderr + proc.stdout
    assert took < 15  # includes ~2 s of importing mlflow


@pytest.mark.slow
def test_no_secret_in_logs_errors_or_exports(
    main, server_pool, monkeypatch: pytest.MonkeyPatch, caplog, capsys
) -> None:
    from registry_testkit import MemoryKeyring

    from watchkeeper.core.registry.profiles import Profile, ProfileStore

    server = server_pool.auth
    secret = server.admin_password
    forbidden = [
        secret,
        WRONG_PASSWORD,
        base64.b64encode(f"admin:{secret}".encode()).decode(),
        base64.b64encode(f"admin:{WRONG_PASSWORD}".encode()).decode(),
    ]
    caplog.set_level(logging.DEBUG)  # every logger, MLflow's and urllib3's included
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        store = ProfileStore()
        store.save(
            Profile(name="auth", registry_uri=server.url.replace("//", f"//admin:{secret}@"))
        )
        # 1. credentials from the profile's keyring entry: reads, prints, caches
        assert main(["registry", "show", "--uri", server.url, "--json"]) == 0
        ok = capsys.readouterr()
        assert json.loads(ok.out)["models"]
        assert main(["registry", "show", "--uri", server.url, "--model", "fraud-detector"]) == 0
        ok2 = capsys.readouterr()
        # 2. wrong password from MLflow's variables: refused, one clear line
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", WRONG_PASSWORD)
        assert main(["registry", "show", "--uri", server.url]) == 2
        bad = capsys.readouterr()
        assert "refused the credentials for user 'admin'" in bad.err
        assert bad.err.count("\n") == 1
        # 3. password inside a URI to a dead port
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        from servers import free_port

        dead = f"http://admin:{secret}@127.0.0.1:{free_port()}"
        assert main(["registry", "show", "--uri", dead]) == 2
        gone = capsys.readouterr()
        assert "unreachable" in gone.err
    finally:
        keyring.set_keyring(previous)
    texts = {
        "stdout/stderr": ok.out
        + ok.err
        + ok2.out
        + ok2.err
        + bad.out
        + bad.err
        + gone.out
        + gone.err,
        "logs": "\n".join(r.getMessage() for r in caplog.records) + caplog.text,
    }
    for folder in (config_dir(), data_dir(), cache_dir()):
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
    assert any("registry-cache" in k for k in texts), "the cache was written"
    assert any(k.endswith("profiles.json") for k in texts)
    for where, text in texts.items():
        for s in forbidden:
            assert s not in text, f"secret found in {where}"
