"""Fixtures for the telemetry reader tests; the helpers live in ``telemetry_events``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # telemetry_events, next to this file

from telemetry_events import StoreFactory, expected_of, make_events


@pytest.fixture(scope="session")
def raw_events() -> pa.Table:
    """The events as written to stores (NaN for missing amounts)."""
    return make_events()


@pytest.fixture(scope="session")
def expected_events(raw_events: pa.Table) -> pa.Table:
    """The events as every reader must return them."""
    return expected_of(raw_events)


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Writes a table to a kind of store in tmp_path (or the test PostgreSQL database)."""
    return StoreFactory(request, tmp_path)


@pytest.fixture(scope="session")
def events_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, raw_events: pa.Table
) -> Callable[[str], str]:
    """``events_store(kind)``: the session's events in that kind of store, written once."""
    written: dict[str, str] = {}
    factory = StoreFactory(request, tmp_path_factory.mktemp("events"))

    def location(kind: str) -> str:
        if kind not in written:
            if kind == "postgres" and factory._postgres_url is None:
                cluster = request.getfixturevalue("postgres")
                factory._postgres_url = cluster.create_database(f"wk_events_{os.getpid()}")
            written[kind] = factory(kind, raw_events)
        return written[kind]

    return location
