"""The console script says, once and on stderr, when the signing key it reads or makes is
kept in the clear — as the window does (issue 17, finding 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.core.governance.identity import keyring_warning

WATCHKEEPER = str(Path(sys.executable).with_name("watchkeeper"))
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
START, END = "2026-03-28", "2026-04-04"


def _env(home: Path, backend: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        HOME=str(home),
        WATCHKEEPER_HOME=str(home / "wk"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHON_KEYRING_BACKEND=backend,
        PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])]
        ),
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WATCHKEEPER, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def workspace(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("keyring-ws") / "ws"
    shutil.copytree(demo_workspace, root)
    return root


def _export(env: dict[str, str], workspace: Path, out: Path) -> subprocess.CompletedProcess[str]:
    spec = workspace / "specs" / "fraud-detector.toml"
    return _run(
        env,
        *("bundle", "export", "--spec", str(spec), "--out", str(out)),
        *("--start", START, "--end", END, "--max-rows", "300"),
    )


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "unencrypted" in line]


def test_export_and_sync_warn_once_on_stderr_with_a_plaintext_keyring(
    workspace: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path / "home", PLAINTEXT)
    bundle = tmp_path / "incident.wkb"
    made = _export(env, workspace, bundle)  # makes the key
    assert made.returncode == 0, made.stderr
    assert "unencrypted" not in made.stdout and made.stdout.startswith("wrote ")
    (line,) = _warnings(made.stderr)
    assert line.startswith("watchkeeper bundle: warning: ") and "PlaintextKeyring" in line
    keyring_file = next((tmp_path / "home").rglob("keyring_pass.cfg"))
    assert "watchkeeper_2Dsigning_2Dkey" in keyring_file.read_text()  # the key, in the clear

    db = tmp_path / "governance.db"
    shutil.copyfile(workspace / "governance.db", db)
    synced = _run(env, "bundle", "sync", str(bundle), "--db", str(db))  # reads the key
    assert synced.returncode == 0, synced.stderr
    assert len(_warnings(synced.stderr)) == 1 and "unencrypted" not in synced.stdout
    again = _export(env, workspace, tmp_path / "again.wkb")  # reads the stored key
    assert again.returncode == 0 and len(_warnings(again.stderr)) == 1, again.stderr


def test_no_warning_when_the_keyring_is_not_a_plaintext_file(
    workspace: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path / "home", "memory_keyring.MemoryKeyring")
    made = _export(env, workspace, tmp_path / "incident.wkb")
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""


def test_a_command_that_needs_no_key_never_warns(workspace: Path, tmp_path: Path) -> None:
    env = _env(tmp_path / "home", PLAINTEXT)
    run = _run(env, "audit", "verify", "--db", str(workspace / "governance.db"))
    assert run.returncode == 0, run.stderr
    assert _warnings(run.stderr) == []


def test_the_verdict_on_keyring_backends() -> None:
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    assert "unencrypted" in (keyring_warning(PlaintextKeyring()) or "")
    # protected by the user's password; made without __init__, which needs pycryptodome
    assert keyring_warning(EncryptedKeyring.__new__(EncryptedKeyring)) is None
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from memory_keyring import MemoryKeyring
    finally:
        sys.path.remove(str(Path(__file__).parent))
    assert keyring_warning(MemoryKeyring()) is None
