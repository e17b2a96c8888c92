"""The registry read and written through a plain ``sqlite:///`` URI (the demo's own store)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.registry.aliases import move_alias
from watchkeeper.core.registry.client import MlflowRegistry, Registry
from watchkeeper.core.registry.errors import AliasConflict, RegistryError, RegistryNotFound
from watchkeeper.core.registry.model import RegistrySnapshot


def test_reads_everything_back(sqlite_uri: str, sqlite_workspace, check_demo) -> None:
    _, written = sqlite_workspace
    with MlflowRegistry(sqlite_uri) as reg:
        assert isinstance(reg, Registry)
        snap = reg.snapshot()
        check_demo(snap, written["models"], artifacts=False)
        # batch reads: models, versions, experiments, runs — not one call per version
        assert snap.calls == 4
        one = reg.snapshot("fraud-detector", artifacts=True)
        assert [m.name for m in one.models] == ["fraud-detector"]
        check_demo(one, written["models"], artifacts=True)


def test_snapshot_json_round_trip(sqlite_uri: str) -> None:
    with MlflowRegistry(sqlite_uri) as reg:
        snap = reg.snapshot(artifacts=True)
    text = json.dumps(snap.to_dict(), allow_nan=False)
    back = RegistrySnapshot.from_dict(json.loads(text))
    assert back == snap
    assert back.to_dict() == snap.to_dict()


def test_reference_artifact_downloads_and_reads(sqlite_uri: str, tmp_path: Path) -> None:
    with MlflowRegistry(sqlite_uri) as reg:
        champion = reg.snapshot("fraud-detector").model("fraud-detector").by_alias("champion")
        lin = champion.lineage
        local = reg.download_artifact(lin.run_id, lin.reference_path, tmp_path / "dl")
    table = pq.read_table(local)
    assert table.num_rows == 31 * 4  # six-hourly January rows of version 1
    assert table.column("ts")[0].as_py().isoformat().startswith("2026-01-01")
    assert table.column("ts")[-1].as_py().isoformat().startswith("2026-01-31")


def test_guarded_alias_move_succeeds(sqlite_uri: str) -> None:
    with MlflowRegistry(sqlite_uri) as reg:
        move = move_alias(reg, "fraud-detector", "champion", expected="1", target="2")
        assert (move.previous, move.version, move.changed) == ("1", "2", True)
        assert reg.alias_version("fraud-detector", "champion") == "2"
        # rollback moves it back, also guarded
        back = move_alias(reg, "fraud-detector", "champion", expected="2", target=1)
        assert back.version == "1"
        # a new alias: expected=None means "must not exist yet"
        new = move_alias(reg, "churn-model", "challenger", expected=None, target="2")
        assert new.previous is None
        assert reg.snapshot("churn-model").model("churn-model").aliases == {
            "champion": "3",
            "challenger": "2",
        }


def test_guarded_alias_move_refuses_after_concurrent_move(sqlite_uri: str) -> None:
    with MlflowRegistry(sqlite_uri) as mine, MlflowRegistry(sqlite_uri) as theirs:
        seen = mine.alias_version("fraud-detector", "champion")
        assert seen == "1"  # the decision is made on this state...
        move_alias(theirs, "fraud-detector", "champion", expected="1", target="2")  # ...then
        with pytest.raises(AliasConflict) as info:
            move_alias(mine, "fraud-detector", "champion", expected=seen, target="1")
        assert info.value.actual == "2" and info.value.expected == "1"
        assert "someone else moved it" in str(info.value)
        assert mine.alias_version("fraud-detector", "champion") == "2"  # unchanged by us


def test_guarded_alias_move_detects_move_right_after_write(sqlite_uri: str) -> None:
    """The re-read catches a concurrent move that lands just after our write."""

    class Racing:
        def __init__(self, inner: MlflowRegistry, rival: MlflowRegistry) -> None:
            self.inner, self.rival, self.uri = inner, rival, inner.uri

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def set_alias(self, model: str, alias: str, version: str) -> None:
            self.inner.set_alias(model, alias, version)
            self.rival.set_alias(model, alias, "1")  # lands between our set and re-read

    with MlflowRegistry(sqlite_uri) as mine, MlflowRegistry(sqlite_uri) as rival:
        with pytest.raises(AliasConflict) as info:
            move_alias(Racing(mine, rival), "churn-model", "champion", expected="3", target="2")
        assert info.value.actual == "1"
        assert "concurrent move landed after ours" in str(info.value)


def test_alias_move_to_missing_version_changes_nothing(sqlite_uri: str) -> None:
    with MlflowRegistry(sqlite_uri) as reg:
        with pytest.raises(RegistryNotFound, match="no version 9"):
            move_alias(reg, "fraud-detector", "champion", expected="1", target="9")
        assert reg.alias_version("fraud-detector", "champion") == "1"


def test_missing_things_are_clear(tmp_path: Path, sqlite_uri: str) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(RegistryNotFound, match="no MLflow database at"):
        MlflowRegistry(f"sqlite:///{missing}").snapshot()
    assert not missing.exists()  # reading never creates a database
    with pytest.raises(RegistryNotFound, match="no MLflow file store"):
        MlflowRegistry(str(tmp_path / "no-mlruns")).snapshot()
    with pytest.raises(RegistryError, match="unsupported registry URI scheme"):
        MlflowRegistry("ftp://example.org/x")
    with MlflowRegistry(sqlite_uri) as reg:
        with pytest.raises(RegistryNotFound) as info:
            reg.snapshot("no-such-model")
        assert isinstance(info.value, WatchkeeperError)
        assert "no-such-model" in str(info.value)
        assert reg.alias_version("fraud-detector", "nobody") is None


def test_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain folder (MLflow's file store, maintenance mode in MLflow 3) reads the same way."""
    import warnings

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # MLflow's file registry store falls back on ./mlflow.db

    from registry_testkit import demo_references

    from watchkeeper.core.demo.registry import PORTFOLIO, write_portfolio

    fraud_spec = PORTFOLIO["fraud-detector"]
    root = tmp_path / "mlruns"
    root.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow may call its file store deprecated
        written = write_portfolio(
            root.as_uri(),
            {"fraud-detector": demo_references()["fraud-detector"]},
            portfolio={"fraud-detector": fraud_spec},
        )
        with MlflowRegistry(str(root)) as reg:
            snap = reg.snapshot(artifacts=True)
        with MlflowRegistry(root.as_uri()) as reg:  # the file:// form opens the same store
            assert [m.name for m in reg.snapshot().models] == ["fraud-detector"]
    fraud = snap.model("fraud-detector")
    assert dict(fraud.aliases) == {"champion": "1", "challenger": "2"}
    v2 = fraud.version("2")
    assert v2.lineage.run_id == written["fraud-detector"]["versions"]["2"]["run_id"]
    assert v2.lineage.git_commit == fraud_spec["versions"]["2"]["commit"]
    assert v2.lineage.datasets[0].context == "training"
    assert v2.lineage.reference_path == "reference/reference.parquet"
    assert {a.path for a in v2.lineage.artifacts} >= {"reference/reference.parquet"}
    assert list(cwd.iterdir()) == []  # nothing written where the process happened to be


def test_quick_listing_without_lineage_and_its_cache(sqlite_uri: str, tmp_path: Path) -> None:
    from watchkeeper.core.registry.cache import RegistryCache

    cache = RegistryCache(tmp_path / "cache")
    with MlflowRegistry(sqlite_uri) as reg:
        quick = reg.snapshot(lineage=False)
        full = reg.snapshot()
    assert quick.calls == 2 and not quick.lineage
    assert all(v.lineage is None and v.run_id for m in quick.models for v in m.versions)
    assert [m.aliases for m in quick.models] == [m.aliases for m in full.models]
    cache.save(full)
    cache.save(quick)  # does not overwrite the full snapshot
    assert cache.load(quick.uri) == full
    assert cache.load(quick.uri, lineage=False) in (quick, full)
    assert cache.load(quick.uri, "churn-model").models == full.only("churn-model").models


def test_a_database_that_is_not_mlflow_is_left_alone(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "governance.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE approvals (id INTEGER)")
    before = other.read_bytes()
    with pytest.raises(RegistryError, match="is not an MLflow tracking database"):
        MlflowRegistry(f"sqlite:///{other}").snapshot()
    assert other.read_bytes() == before
