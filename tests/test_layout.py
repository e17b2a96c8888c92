"""The layers hold: import-linter's contracts, a Qt-free core, every package shipped."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "core": "watchkeeper.core",
    "widgets": "watchkeeper.widgets",
    "app": "watchkeeper.app",
    "resources": "watchkeeper.resources",
}
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "superqt")


def _python_packages() -> set[str]:
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    return found


def _core_modules() -> list[str]:
    mods = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        rel = path.relative_to(ROOT / "core").with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if "migrations" in parts and "versions" in parts:
            continue  # Alembic revision scripts import `alembic.op` context; not library modules
        if parts and parts[-1] == "env":
            continue
        mods.append(".".join(["watchkeeper.core", *parts]))
    return mods


def _lint_staged_copy(
    tmp_path: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pyproject's import-linter contracts over a staged copy of the package.

    grimp walks real folders, and the editable install maps ``core/`` to
    ``watchkeeper.core`` through an import hook it cannot see; so the three folders are
    copied under ``watchkeeper/`` and linted with site's ``.pth`` hooks switched off (-S).
    """
    staged = tmp_path / "watchkeeper"
    for folder in ("core", "widgets", "app"):
        shutil.copytree(
            ROOT / folder, staged / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for rel, text in (extra or {}).items():
        (staged / rel).write_text(text)
    site_dirs = [p for p in sys.path if p.endswith("site-packages")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *site_dirs])}
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, "
        "no_cache=True, no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    result = _lint_staged_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_import_linter_catches_a_qt_import_in_core(tmp_path: Path) -> None:
    """The contracts can fail: a core module importing PySide6, or app, breaks both."""
    result = _lint_staged_copy(
        tmp_path,
        {
            "core/leak.py": "import PySide6.QtCore\n",
            "core/upward.py": "import watchkeeper.app.cli\n",
        },
    )
    assert result.returncode == 1
    assert "Contracts: 0 kept, 2 broken." in result.stdout


def test_core_source_never_imports_qt() -> None:
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_every_core_module_imports_without_loading_qt() -> None:
    modules = _core_modules()
    assert len(modules) >= 5
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == _python_packages()
    assert config["package-dir"] == {name: folder for folder, name in FOLDERS.items()}


def test_nothing_top_level_but_the_designed_layout() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    top = {line.split("/")[0] for line in tracked.splitlines() if line}
    allowed = {
        "pyproject.toml",
        "app",
        "widgets",
        "core",
        "resources",
        "tests",
        "packaging",
        "README.md",
        "ARCHITECTURE.md",
        "benchmarks",
        "docs",  # the user guide and the generated spec reference (issue 14)
        ".ci",
        ".gitignore",
        "requirements.lock",
    }
    assert top <= allowed, top - allowed


@pytest.mark.slow
def test_built_wheel_installs_and_imports(tmp_path: Path) -> None:
    """A real wheel holds watchkeeper.{core,widgets,app} and nothing named core/app top-level."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("watchkeeper-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"watchkeeper"}
    assert "watchkeeper/core/evidence.py" in names
    assert "watchkeeper/app/cli.py" in names
    # Import from the wheel alone (not the editable source tree) in a clean interpreter.
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        "import watchkeeper.core.evidence as e, watchkeeper.app.cli as c, watchkeeper.widgets\n"
        f"assert e.__file__.startswith({str(target)!r}), e.__file__\n"
        "print(e.digest([1]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("sha256:")
