"""Settings every test shares: offscreen Qt, isolated user folders, real servers."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports Qt: no test may need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

sys.path.insert(0, str(Path(__file__).parent))

from servers import (
    PostgresCluster,
    SparkThriftServer,
    one_per_run,
    postgres_cluster,
    spark_thrift_server,
)

_db_names = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep every test's data, config, cache and keyring away from the real user's."""
    home = tmp_path_factory.mktemp("wk-home")
    monkeypatch.setenv("WATCHKEEPER_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    return home


@pytest.fixture
def plaintext_keyring(monkeypatch: pytest.MonkeyPatch, _isolated_home: Path) -> Iterator[None]:
    """A fresh file keyring per test, inside the test's XDG_DATA_HOME — the keyring a machine
    without a desktop session has; signing keys are made there on first use."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield
    keyring.set_keyring(previous)


#: What makes a test one of the servers' (PostgreSQL, Spark, the MLflow pool): a fixture it
#: uses, a mark, or a parameter naming the engine (tests that ask for the server by
#: ``request.getfixturevalue`` under a parameter).
_SERVER_FIXTURES = frozenset(
    {"postgres", "postgres_url", "team", "team_db", "spark", "server_pool"}
)
_SERVER_MARKS = frozenset({"postgres", "spark"})
_SERVER_PARAMS = frozenset({"postgres", "postgresql", "spark"})


def _uses_a_server(item: pytest.Item) -> bool:
    if _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    if any(m.name in _SERVER_MARKS for m in item.iter_markers()):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    values = [v for p in callspec.params.values() for v in (p if isinstance(p, tuple) else (p,))]
    return any(isinstance(v, str) and v in _SERVER_PARAMS for v in values)


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses", None):
        from xdist_servers import ServersTogether

        config.pluginmanager.register(ServersTogether(), "watchkeeper-servers-together")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 2 --dist loadgroup``, the README's command), every test of the
    servers runs on one worker (``xdist_servers``): one PostgreSQL, one Spark and one MLflow
    pool per run, and the cluster-wide roles the governance tests make are never made twice at
    once."""
    if hasattr(config, "workerinput"):
        from xdist_servers import write_group

        write_group(config, [item.nodeid for item in items if _uses_a_server(item)])


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """One real PostgreSQL cluster for the whole run, stopped by its pid at the end."""
    one_per_run("postgres", tmp_path_factory)
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkThriftServer]:
    """One real Spark Thrift server for the whole run (local mode, loopback), stopped by its
    pid at the end. Started only when a test asks for it (~10-30 s, ~1 GB)."""
    one_per_run("spark", tmp_path_factory)
    with spark_thrift_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """A SQLAlchemy URL to a fresh, empty database on the test cluster."""
    return postgres.create_database(f"wk_test_{os.getpid()}_{next(_db_names)}")


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small demo workspace (3,000 fraud events a day) shared by every test that reads it.

    Tests must not write into it; build your own with ``ensure_workspace`` to change it.
    """
    from watchkeeper.core.demo import ensure_workspace

    return ensure_workspace(tmp_path_factory.mktemp("demo") / "ws", events_per_day=3000).root


#: The wide fixture's size: enough features to need scrolling and searching, days enough
#: for onsets well after the January reference, rows enough for the default tests to judge.
WIDE_TEST_PARAMS = {"features": 120, "days": 120, "events_per_day": 200}


@pytest.fixture(scope="session")
def wide_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small wide demo workspace (120 features × 120 days × 200 rows), built once.

    Tests must not write into it.
    """
    from watchkeeper.core.demo.wide import WideParams, ensure_wide_workspace

    params = WideParams(**WIDE_TEST_PARAMS)
    return ensure_wide_workspace(tmp_path_factory.mktemp("wide") / "ws", params).root


@pytest.fixture(scope="session")
def wide_drift(wide_workspace: Path) -> Any:
    """The drift of the wide fixture with the spec's window, computed once (~5-10 s)."""
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import load_portfolio

    (entry,) = load_portfolio(wide_workspace).models
    return run_drift(entry, "1", None)
