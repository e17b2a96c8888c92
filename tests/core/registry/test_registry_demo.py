"""The demo workspace's registry, built from the workspace's own telemetry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
from registry_testkit import write_telemetry

from watchkeeper.core.demo.registry import (
    PORTFOLIO,
    REFERENCE_PATH,
    build_demo_registry,
    reference_from_telemetry,
)
from watchkeeper.core.registry.client import MlflowRegistry

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_build_demo_registry_from_telemetry(sqlite_workspace, check_demo) -> None:
    root, section = sqlite_workspace  # built by the session fixture from write_telemetry()
    json.dumps(section)  # goes into manifest.json as it is
    assert (root / "registry" / "mlflow.db").is_file()
    assert (root / "registry" / "artifacts").is_dir()
    assert not list((root / "registry").glob(".building-*"))
    assert section["uri"] == "sqlite:///registry/mlflow.db"
    assert section["training_period"] == {"start": "2026-01-01", "end": "2026-01-31"}
    fraud_ref = section["models"]["fraud-detector"]["versions"]["1"]["reference"]
    churn_ref = section["models"]["churn-model"]["versions"]["3"]["reference"]
    assert fraud_ref["rows"] == 31 * 4  # January, version 1 only, one row per request
    assert churn_ref["rows"] == 31 * 2
    with MlflowRegistry(f"sqlite:///{root / 'registry' / 'mlflow.db'}") as reg:
        snap = reg.snapshot(artifacts=True)
        check_demo(snap, section["models"], artifacts=True)
        champion = snap.model("fraud-detector").by_alias("champion")
        local = reg.download_artifact(champion.run_id, REFERENCE_PATH, root / "dl")
    table = pq.read_table(local)
    ts = table.column("ts").to_pylist()
    assert min(ts) == START and max(ts) < START + dt.timedelta(days=31)
    assert set(table.column("model_version").to_pylist()) == {"1"}
    assert table.num_rows == len(set(table.column("request_id").to_pylist()))


def test_rebuild_starts_from_scratch(sqlite_workspace) -> None:
    """Twice in one process at one place (MLflow caches stores per URI): same versions."""
    root, _ = sqlite_workspace
    again = build_demo_registry(root, {})
    assert list(again["models"]["fraud-detector"]["versions"]) == ["1", "2"]
    with MlflowRegistry(f"sqlite:///{root / 'registry' / 'mlflow.db'}") as reg:
        assert [v.version for v in reg.snapshot("churn-model").models[0].versions] == [
            "1",
            "2",
            "3",
        ]


def test_reference_is_thinned_evenly(tmp_path: Path) -> None:
    write_telemetry(tmp_path / "telemetry.duckdb")
    t = reference_from_telemetry(tmp_path / "telemetry.duckdb", "fraud-detector", "1",
                                 max_rows=10)  # fmt: skip
    assert t.num_rows == 10
    ts = t.column("ts").to_pylist()
    assert ts == sorted(ts) and ts[0] == START
    assert ts[-1] == START + dt.timedelta(days=31) - dt.timedelta(hours=6)


def test_portfolio_matches_the_contract() -> None:
    fraud = PORTFOLIO["fraud-detector"]
    assert fraud["aliases"] == {"champion": "1", "challenger": "2"}
    churn = PORTFOLIO["churn-model"]
    assert churn["aliases"]["champion"] == "3" and list(churn["versions"]) == ["1", "2", "3"]
