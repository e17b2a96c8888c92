"""Fixtures of the bundle tests: a keyring per test, a copy of the demo workspace, a bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from watchkeeper.core.governance.signing import Signer

START, END = "2026-03-28", "2026-04-04"


@pytest.fixture(autouse=True)
def _keyring(plaintext_keyring: None) -> None:
    """Every test here signs with keys from its own file keyring (tests/conftest.py)."""


@pytest.fixture(scope="session")
def workspace_copy(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared demo workspace (the original is read-only)."""
    target = tmp_path_factory.mktemp("bundle-ws") / "ws"
    shutil.copytree(demo_workspace, target)
    return target


@pytest.fixture(scope="session")
def exporter_key() -> Signer:
    return Signer.from_seed("bundle tests: exporter")


@pytest.fixture(scope="session")
def base_bundle(
    workspace_copy: Path, exporter_key: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One bundle of fraud-detector over a week, sampled to 3,000 events (tests copy it)."""
    from watchkeeper.core.bundle.export import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "fraud.wkbundle"
    export_bundle(
        workspace_copy / "specs" / "fraud-detector.toml",
        out,
        start=START,
        end=END,
        max_rows=3000,
        signer=exporter_key,
        exporter="exporter",
    )
    return out


@pytest.fixture
def bundle_file(base_bundle: Path, tmp_path: Path) -> Path:
    """This test's own copy of the bundle."""
    target = tmp_path / "incident.wkbundle"
    shutil.copyfile(base_bundle, target)
    return target


@pytest.fixture
def shared_db(workspace_copy: Path, tmp_path: Path) -> str:
    """This test's own copy of the demo's shared database."""
    target = tmp_path / "governance.db"
    shutil.copyfile(workspace_copy / "governance.db", target)
    return f"sqlite:///{target}"


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    """Run `watchkeeper bundle ...` / `watchkeeper open ...` as the console script would
    (app/cli.py lists its commands; these two are added there separately)."""
    from watchkeeper.app import cli as cli_module
    from watchkeeper.app.commands import bundle
    from watchkeeper.app.commands import open as open_cmd

    def run(*argv: str) -> int:
        parser = cli_module._Parser(prog="watchkeeper")
        sub = parser.add_subparsers(dest="command", parser_class=cli_module._Parser)
        bundle.register(sub)
        open_cmd.register(sub)
        args = parser.parse_args(list(argv))
        try:
            return int(args.run(args) or 0)
        except Exception as exc:
            return cli_module._report(exc, args)

    return run
