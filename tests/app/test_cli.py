"""The console script: cheap to import, one-line errors, the exit codes of CONTRACT.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchkeeper.app import cli

WATCHKEEPER = str(Path(sys.executable).with_name("watchkeeper"))
HEAVY = (
    "PySide6",
    "mlflow",
    "scipy",
    "sqlalchemy",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "pydantic",
)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WATCHKEEPER, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else os.environ.copy(),
        stdin=subprocess.DEVNULL,
    )


def _loaded_after(snippet: str) -> list[str]:
    code = (
        "import sys\n"
        f"{snippet}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # a printed list of names


def test_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"watchkeeper {version('watchkeeper')}"


def test_importing_and_building_the_cli_loads_nothing_heavy() -> None:
    assert _loaded_after("import watchkeeper.app.cli as c; c.build_parser()") == []


def test_version_command_loads_nothing_heavy() -> None:
    snippet = (
        "from watchkeeper.app.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(snippet) == []


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in cli.COMMAND_MODULES:
        assert name in result.stdout


@pytest.mark.parametrize(
    "args",
    [("frobnicate",), ("demo", "--events-per-day", "many"), ("demo", "--no-such-flag")],
)
def test_usage_errors_exit_2_with_one_line(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_demo_without_a_display_says_so_and_exits_2(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = run_cli("demo", "--workspace", str(tmp_path / "ws"), env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no display" in result.stderr and "--no-gui" in result.stderr
    assert not (tmp_path / "ws").exists()  # refused before spending time on the build


def test_gui_without_a_display_exits_2() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = run_cli(env=env)
    assert result.returncode == 2
    assert "no display" in result.stderr


def test_an_internal_error_is_one_line_and_logged(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from watchkeeper.core.paths import cache_dir

    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        code = cli._report(exc, argparse.Namespace(command="demo"))
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "internal error: RuntimeError: boom" in err
    log = (cache_dir() / "errors.log").read_text()
    assert "Traceback" in log and "RuntimeError: boom" in log


def test_a_watchkeeper_error_keeps_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from watchkeeper.core.errors import NegativeFinding, WatchkeeperError

    ns = argparse.Namespace(command="audit")
    assert cli._report(WatchkeeperError("bad input here"), ns) == 2
    assert cli._report(NegativeFinding("chain broken at record 7"), ns) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "watchkeeper audit: bad input here",
        "watchkeeper audit: chain broken at record 7",
    ]


def test_demo_no_gui_builds_the_workspace_then_reuses_it(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = run_cli("demo", "--no-gui", "--workspace", str(ws), "--events-per-day", "1000")
    assert first.returncode == 0, first.stderr
    assert "built in" in first.stdout
    assert (ws / "telemetry.duckdb").is_file() and (ws / "manifest.json").is_file()
    assert sorted(p.name for p in (ws / "specs").iterdir()) == [
        "churn-model.toml",
        "fraud-detector.toml",
        "risk-tier.toml",
    ]
    second = run_cli("demo", "--no-gui", "--workspace", str(ws), "--events-per-day", "1000")
    assert second.returncode == 0 and "(up to date)" in second.stdout
    other = run_cli("demo", "--no-gui", "--workspace", str(ws), "--events-per-day", "5")
    assert other.returncode == 2
    assert "events_per_day" in other.stderr or "events per day" in other.stderr
    assert other.stderr.count("\n") == 1


def test_demo_default_workspace_is_the_resolvers(tmp_path: Path) -> None:
    env = {**os.environ, "WATCHKEEPER_HOME": str(tmp_path)}
    result = run_cli("demo", "--no-gui", "--events-per-day", "1000", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "demo" / "manifest.json").is_file()


def test_demo_wide_builds_the_wide_workspace_without_a_registry(tmp_path: Path) -> None:
    ws = tmp_path / "wide"
    result = run_cli("demo", "--wide", "--no-gui", "--workspace", str(ws), "--events-per-day", "50")
    assert result.returncode == 0, result.stderr
    manifest = (ws / "manifest.json").read_text("utf-8")
    assert '"num_007"' in manifest and '"features": 500' in manifest
    assert not (ws / "registry").exists()
    again = run_cli("demo", "--wide", "--no-gui", "--workspace", str(ws), "--events-per-day", "50")
    assert again.returncode == 0 and "(up to date)" in again.stdout


def test_a_missing_workspace_folder_is_an_error_not_an_empty_workspace(tmp_path: Path) -> None:
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.workbench.portfolio import load_portfolio

    missing = tmp_path / "no-such-workspace"
    result = run_cli("gui", "--workspace", str(missing))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and str(missing) in result.stderr
    assert result.stderr.count("\n") == 1
    # the window reads the portfolio through the same function: it fails and says so
    with pytest.raises(WatchkeeperError, match="does not exist"):
        load_portfolio(missing)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WatchkeeperError, match="is a file"):
        load_portfolio(tmp_path / "file")
