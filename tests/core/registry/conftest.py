"""Registries for the registry tests: a SQLite demo registry and real ``mlflow server``s.

The servers start once per session, side by side (~10 s together): ``plain`` (no auth),
``auth`` (MLflow's basic-auth app) and ``doomed`` (the one test of a server dying mid-session
stops it). Each holds the demo portfolio. Tests that move aliases use their own models
(:func:`make_model`) so the shared state stays as the demo wrote it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # registry_testkit, next to this file

from mlflow_server import MlflowServer, cleanup_many, start_many
from registry_testkit import check_demo_snapshot, demo_references, mlflow_env, write_telemetry
from servers import one_per_run


class ServerPool:
    def __init__(self) -> None:
        self.plain = MlflowServer()
        self.auth = MlflowServer(auth=True)
        self.doomed = MlflowServer()
        self.written: dict[str, dict] = {}
        self.seconds: dict[str, float] = {}


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    """Three light ``mlflow server``s on loopback, each with the demo portfolio."""
    from watchkeeper.core.demo.registry import write_portfolio

    one_per_run("mlflow", tmp_path_factory)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    pool = ServerPool()
    t0 = time.monotonic()
    servers = start_many([pool.plain, pool.auth, pool.doomed])
    pool.seconds["start"] = time.monotonic() - t0
    try:
        refs = demo_references()
        t0 = time.monotonic()
        # The admin's credentials in MLflow's variables reach all three (the plain servers
        # ignore them); the writes run side by side, one thread per server.
        with (
            mlflow_env(pool.auth.admin_user, pool.auth.admin_password),
            ThreadPoolExecutor(3) as ex,
        ):
            futures = {
                key: ex.submit(write_portfolio, server.url, refs)
                for key, server in (("plain", pool.plain), ("auth", pool.auth),
                                    ("doomed", pool.doomed))
            }  # fmt: skip
            pool.written = {key: f.result() for key, f in futures.items()}
        pool.seconds["fill"] = time.monotonic() - t0
        print(f"\nmlflow servers: 3 started in {pool.seconds['start']:.1f} s, "
              f"demo portfolio written to them in {pool.seconds['fill']:.1f} s")  # fmt: skip
        yield pool
    finally:
        cleanup_many(servers)


@pytest.fixture(scope="session")
def mlflow_server(server_pool: ServerPool) -> MlflowServer:
    return server_pool.plain


@pytest.fixture(scope="session")
def auth_server(server_pool: ServerPool) -> MlflowServer:
    return server_pool.auth


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The demo registry built once from a small telemetry file, as the demo build does."""
    from watchkeeper.core.demo.registry import build_demo_registry

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    root = tmp_path_factory.mktemp("demo-ws")
    write_telemetry(root / "telemetry.duckdb")
    written = build_demo_registry(root, {})
    return root, written


@pytest.fixture
def sqlite_workspace(_sqlite_template: tuple[Path, dict], tmp_path: Path) -> tuple[Path, dict]:
    """A private copy of the demo registry's workspace (tests may move aliases in it)."""
    src, written = _sqlite_template
    dst = tmp_path / "ws"
    shutil.copytree(src, dst)
    return dst, written


@pytest.fixture
def sqlite_uri(sqlite_workspace: tuple[Path, dict]) -> str:
    return f"sqlite:///{sqlite_workspace[0] / 'registry' / 'mlflow.db'}"


@pytest.fixture
def check_demo():
    return check_demo_snapshot
