"""Helpers shared by the registry tests (a uniquely named module: pytest runs with
``--import-mode=importlib``, so test modules cannot import ``conftest``).

Test data for MLflow (reference rows, throw-away models), MLflow's credential variables
juggled safely, the demo read-back check, and an in-memory stand-in for an OS keyring.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import keyring.backend
import pytest

WRONG_PASSWORD = "Wr0ng-Secret-7781"
TOKEN_SECRET = "tok-9f8e7d6c5b4a-SECRET"
_names = itertools.count()
JAN_1 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def reference_table(rows: int = 744):
    """Hourly reference rows over January 2026 (the demo's training period)."""
    import pyarrow as pa

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "request_id": [f"r{i:06d}" for i in range(rows)],
            "ts": pa.array([start + dt.timedelta(hours=i) for i in range(rows)],
                           pa.timestamp("us", tz="UTC")),
            "amount": [float(10 + (i * 37) % 500) for i in range(rows)],
            "channel": [("web", "app", "pos")[i % 3] for i in range(rows)],
            "label": [int(i % 17 == 0) for i in range(rows)],
        }
    )  # fmt: skip


def write_telemetry(path: Path) -> None:
    """Six-hourly rows for 60 days: fraud v1 champion, v2 shadow-scoring, churn v3, risk-tier v1."""
    rows = []
    for i in range(60 * 4):
        ts = JAN_1 + dt.timedelta(hours=6 * i)
        rows.append((f"f{i}", ts, "fraud-detector", "1", float(i)))
        rows.append((f"f{i}", ts, "fraud-detector", "2", float(i)))  # shadow: same request
        if i % 2 == 0:
            rows.append((f"c{i}", ts, "churn-model", "3", float(-i)))
        if i % 4 == 0:
            rows.append((f"r{i}", ts, "risk-tier", "1", float(i)))
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE predictions (request_id VARCHAR, ts TIMESTAMPTZ, model VARCHAR, "
        "model_version VARCHAR, amount DOUBLE)"
    )
    con.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?)", rows)
    con.close()


def demo_references() -> dict:
    table = reference_table()
    return {
        "fraud-detector": table,
        "churn-model": table.slice(0, 300),
        "risk-tier": table.slice(0, 200),
    }


@contextlib.contextmanager
def mlflow_env(user: str | None = None, password: str | None = None) -> Iterator[None]:
    """MLflow's own credential variables, for writing test data through ``MlflowClient``."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    try:
        for key, value in (
            ("MLFLOW_TRACKING_USERNAME", user),
            ("MLFLOW_TRACKING_PASSWORD", password),
        ):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_model(
    uri: str, versions: int = 3, aliases: dict[str, str] | None = None, prefix: str = "alias-test"
) -> str:
    """A fresh registered model with ``versions`` versions (no runs) and ``aliases``."""
    from mlflow.tracking import MlflowClient

    name = f"{prefix}-{os.getpid()}-{next(_names)}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(name)
    for i in range(versions):
        client.create_model_version(
            name, source=f"s3://wk-test-bucket/{name}/{i + 1}", await_creation_for=0
        )
    for alias, version in (aliases or {}).items():
        client.set_registered_model_alias(name, alias, version)
    return name


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A stand-in for an OS keyring (Secret Service, Keychain) in tests."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.store.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


def check_demo_snapshot(snap, written: dict, *, artifacts: bool) -> None:
    """Everything the demo portfolio wrote reads back: models, versions, aliases, lineage."""
    from watchkeeper.core.demo.registry import PORTFOLIO, REFERENCE_PATH

    wanted = [n for n in PORTFOLIO if snap.model_filter in (None, n)]
    assert wanted
    names = [m.name for m in snap.models]
    for name in wanted:
        assert name in names
    for name in wanted:
        spec = PORTFOLIO[name]
        m = snap.model(name)
        assert m.description == spec["description"]
        assert dict(m.tags) == spec["tags"]
        assert dict(m.aliases) == spec["aliases"]
        assert [v.version for v in m.versions] == list(spec["versions"])
        for alias, version in spec["aliases"].items():
            assert alias in m.version(version).aliases
            assert m.by_alias(alias).version == version
        for version, vspec in spec["versions"].items():
            v = m.version(version)
            assert v.description == vspec["description"]
            assert dict(v.tags) == vspec.get("tags", {})
            assert v.run_id == written[name]["versions"][version]["run_id"]
            lin = v.lineage
            assert lin is not None and lin.run_id == v.run_id
            assert lin.git_commit == vspec["commit"]
            assert lin.user == vspec["user"]
            assert lin.status == "FINISHED"
            assert lin.start_time == dt.datetime.fromisoformat(vspec["trained"]).replace(
                tzinfo=dt.UTC
            )
            for key, value in vspec["params"].items():
                assert lin.params[key] == value
            assert lin.params["training_start"] == "2026-01-01"
            assert lin.params["training_end"] == "2026-01-31"
            assert dict(lin.metrics) == pytest.approx(vspec["metrics"])
            ref = written[name]["versions"][version]["reference"]
            # the demo's planted skew logs the version's own training data beside the reference
            skewed = "training" in written[name]["versions"][version]
            assert len(lin.datasets) == 1 + skewed
            ds = next(d for d in lin.datasets if d.name == f"{name}-reference")
            assert ds.name == f"{name}-reference"
            assert ds.context == "training"
            assert ds.digest == ref["sha256"].removeprefix("sha256:")[:16]
            assert REFERENCE_PATH in ds.source
            assert lin.reference_path == REFERENCE_PATH
            if artifacts:
                files = {a.path: a for a in lin.artifacts if not a.is_dir}
                # a pyfunc model where the reference rows carry a score, else a placeholder
                models = {p for p in files if p.startswith("model/")}
                assert models == {"model/model.json"} or "model/MLmodel" in models
                extra = {"training/training.parquet"} if skewed else set()
                assert set(files) - models == {REFERENCE_PATH} | extra
                assert files[REFERENCE_PATH].size and files[REFERENCE_PATH].size > 100
            else:
                assert lin.artifacts is None
