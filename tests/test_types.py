"""core/ passes mypy at the pinned version and pyproject's [tool.mypy] settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_core_passes_mypy(tmp_path_factory: pytest.TempPathFactory) -> None:
    # mypy cannot follow setuptools' editable finder that maps core/ to watchkeeper.core, so
    # a shim folder gives it the installed name through a symlink to the real folder (errors
    # then point at files that are edited, not at a copy).
    shim = tmp_path_factory.mktemp("mypy-shim")
    (shim / "watchkeeper").mkdir()
    (shim / "watchkeeper" / "core").symlink_to(ROOT / "core", target_is_directory=True)
    env = {**os.environ, "MYPYPATH": str(shim)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            # The git-ignored cache outlives the temporary shim, so a second run of the suite
            # checks only what changed; mypy keys its cache on module names, not on paths.
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--explicit-package-bases",
            "-p",
            "watchkeeper.core",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
