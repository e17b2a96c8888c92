"""Every command that runs without a window, run as cron runs it — a process on the demo
workspace: stderr holds only the command's own documented lines, never DuckDB's "nanobind:
leaked" noise at exit, and --json output is one document (issue 17, finding 11)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

WATCHKEEPER = str(Path(sys.executable).with_name("watchkeeper"))
START, END = "2026-03-28", "2026-04-04"
KEY_WARNING = r"watchkeeper bundle: warning: your signing key is kept by PlaintextKeyring .*"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # {ws}: the workspace copy, {spec}: fraud-detector's spec, {tmp}
    exit_codes: tuple[int, ...]
    stderr: tuple[str, ...] = ()  # a regex per line the command documents, in order
    optional_stderr: bool = False  # the lines appear only on a negative finding
    json: bool = False


REGISTRY = "sqlite:///{ws}/registry/mlflow.db"
CASES = {
    "check": Case(
        ("check", "--workspace", "{ws}"),
        (0, 1),
        (r"watchkeeper check: needs attention: .+",),
        optional_stderr=True,
    ),
    "check --json": Case(
        ("check", "--workspace", "{ws}", "--json"),
        (0, 1),
        (r"watchkeeper check: needs attention: .+",),
        optional_stderr=True,
        json=True,
    ),
    "drift": Case(("drift", "--spec", "{spec}"), (0,)),
    "drift --json": Case(("drift", "--spec", "{spec}", "--json"), (0,), json=True),
    "gate": Case(
        ("gate", "--spec", "{spec}"),
        (1,),  # the demo's challenger fails a critical slice
        (r"champion 1, challenger 2 \(from .+\)", r"watchkeeper gate: the gate failed: .+"),
    ),
    "report slices": Case(
        ("report", "slices", "--spec", "{spec}", "--xlsx", "{tmp}/slices.xlsx"),
        (0,),
        (r"version 1 \(from .+\); challenger 2",),
    ),
    "audit verify": Case(("audit", "verify", "--db", "{ws}/governance.db"), (0,)),
    "registry show": Case(("registry", "show", "--uri", REGISTRY), (0,)),
    "registry show --json": Case(
        ("registry", "show", "--uri", REGISTRY, "--model", "fraud-detector", "--json"),
        (0,),
        json=True,
    ),
    "db init": Case(("db", "init", "--db", "{tmp}/new.db"), (0,)),
    "db upgrade": Case(("db", "upgrade", "--db", "{ws}/governance.db"), (0,)),
    "bundle export": Case(
        (
            *("bundle", "export", "--spec", "{spec}", "--out", "{tmp}/out.wkb"),
            *("--start", START, "--end", END, "--max-rows", "300"),
        ),
        (0,),
        (KEY_WARNING,),  # finding 9: the test's keyring is a plaintext file
    ),
    "bundle sync": Case(
        ("bundle", "sync", "{ws}/incident.wkb", "--db", "{ws}/governance.db"), (0,), (KEY_WARNING,)
    ),
    "open --no-gui": Case(("open", "{ws}/incident.wkb", "--no-gui"), (0,)),
}


@pytest.fixture(scope="module")
def workspace(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the demo for every case (they may write to its governance database), with
    a bundle to sync and open."""
    from watchkeeper.core.bundle.export import export_bundle
    from watchkeeper.core.governance.signing import Signer

    root = tmp_path_factory.mktemp("stderr-ws") / "ws"
    shutil.copytree(demo_workspace, root)
    export_bundle(
        root / "specs" / "fraud-detector.toml",
        root / "incident.wkb",
        start=START,
        end=END,
        max_rows=300,
        signer=Signer.from_seed("stderr tests"),
        exporter="tester",
    )
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("stderr-home")
    env = os.environ.copy()
    env.update(
        HOME=str(home),
        WATCHKEEPER_HOME=str(home / "wk"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
    )
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("name", list(CASES))
def test_a_command_prints_only_its_own_lines_on_stderr(
    name: str, workspace: Path, env: dict[str, str], tmp_path: Path
) -> None:
    case = CASES[name]
    spec = workspace / "specs" / "fraud-detector.toml"
    argv = [a.format(ws=workspace, spec=spec, tmp=tmp_path) for a in case.args]
    run = subprocess.run(
        [WATCHKEEPER, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    lines = run.stderr.splitlines()
    assert "nanobind" not in run.stderr + run.stdout, lines[:3]
    assert run.returncode in case.exit_codes, (run.returncode, lines)
    expected = case.stderr
    if case.optional_stderr and run.returncode == 0:
        expected = ()
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert run.stdout.strip(), "a command that succeeds says what it did"
    if case.json:
        json.loads(run.stdout)
