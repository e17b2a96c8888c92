"""The demo workspace: layout, determinism, reuse, cancel, specs, and every planted event.

The planted events are checked on the data as written to DuckDB, with statistics computed
here independently of the generator (SQL aggregates, scipy's Mann-Whitney U for ROC AUC),
so a later analysis that finds them is checked against something real.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import mannwhitneyu

from watchkeeper.core import demo
from watchkeeper.core.demo import workspace as building  # owns BUILD_STEPS: patch it here
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.spec import load_spec

EVENTS_PER_DAY = 3_000  # enough rows for stable slice statistics, about 1.5 s to build
FRAUD, CHURN, TIER = "fraud-detector", "churn-model", "risk-tier"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def day(d: float) -> str:
    return (START + dt.timedelta(days=d)).isoformat()


@pytest.fixture(scope="module")
def workspace(demo_workspace: Path) -> demo.DemoWorkspace:
    """The session's shared demo workspace (tests/conftest.py), reused, never changed."""
    return demo.ensure_workspace(demo_workspace, events_per_day=EVENTS_PER_DAY)


@pytest.fixture
def fast_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build mechanics on the first two steps only: the registry and governance are slow."""
    monkeypatch.setattr(building, "BUILD_STEPS", building.BUILD_STEPS[:2])


@pytest.fixture(scope="module")
def con(workspace: demo.DemoWorkspace) -> Any:
    connection = duckdb.connect(str(workspace.root / "telemetry.duckdb"), read_only=True)
    yield connection
    connection.close()


def rows(con: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


def scalar(con: Any, sql: str, *params: Any) -> Any:
    return con.execute(sql, list(params)).fetchall()[0][0]


def arrays(con: Any, sql: str, *params: Any) -> dict[str, np.ndarray]:
    table = con.sql(sql, params=list(params)).to_arrow_table()
    return {name: table.column(name).to_numpy() for name in table.column_names}


def event(manifest: dict[str, Any], kind: str, model: str = FRAUD) -> dict[str, Any]:
    found = [e for e in manifest["events"] if e["kind"] == kind and e["model"] == model]
    assert len(found) == 1, kind
    return found[0]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positive, negative = scores[labels == 1], scores[labels == 0]
    u = mannwhitneyu(positive, negative).statistic
    return float(u / (len(positive) * len(negative)))


# --- layout, determinism, reuse ------------------------------------------------------------


def test_layout(workspace: demo.DemoWorkspace) -> None:
    root = workspace.root
    assert workspace.manifest["root"] == str(root)  # built here (by the session fixture)
    assert (root / "telemetry.duckdb").is_file()
    assert (root / "manifest.json").is_file()
    assert sorted(p.name for p in (root / "specs").iterdir()) == [
        "churn-model.toml",
        "fraud-detector.toml",
        "risk-tier.toml",
    ]
    assert [p.name for p in root.parent.iterdir()] == [root.name]  # no staging left over
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk == workspace.manifest
    m = workspace.manifest
    assert m["recipe_version"] == demo.RECIPE_VERSION
    assert m["parameters"] == {"events_per_day": EVENTS_PER_DAY}
    assert (m["start"], m["as_of"]) == ("2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z")
    assert m["models"][FRAUD]["versions"]["1"]["role"] == "champion"
    assert m["models"][FRAUD]["versions"]["2"]["role"] == "challenger"
    assert list(m["models"][CHURN]["versions"]) == ["3"]
    assert m["models"][CHURN]["versions"]["3"]["role"] == "champion"
    assert m["models"][TIER]["task"] == "multiclass"
    assert list(m["models"][TIER]["versions"]) == ["1"]
    features = {f["name"]: f for f in m["models"][FRAUD]["features"]}
    assert features["merchant_id"] == {
        "name": "merchant_id",
        "kind": "categorical",
        "type": "string",
    }
    assert m["models"][FRAUD]["spec"] == "specs/fraud-detector.toml"


def test_schema_and_row_counts_match_manifest(workspace: demo.DemoWorkspace, con: Any) -> None:
    types = dict(
        rows(
            con,
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'predictions'",
        )
    )
    assert list(types) == workspace.manifest["telemetry"]["columns"]
    assert types["ts"] == types["label_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["model_version"] == types["request_id"] == types["merchant_id"] == "VARCHAR"
    assert types["score"] == types["amount"] == "DOUBLE"
    assert rows(con, "SHOW TABLES") == [("predictions",)]
    counts = dict(
        ((m, v), n)
        for m, v, n in rows(
            con, "SELECT model, model_version, count(*) FROM predictions GROUP BY ALL"
        )
    )
    models = workspace.manifest["models"]
    expected = {(m, v): info["rows"] for m in models for v, info in models[m]["versions"].items()}
    assert counts == expected
    assert expected[(FRAUD, "1")] == 120 * EVENTS_PER_DAY
    assert expected[(FRAUD, "2")] == 30 * EVENTS_PER_DAY
    assert expected[(CHURN, "3")] == 120 * EVENTS_PER_DAY // 10
    assert expected[(TIER, "1")] == 120 * EVENTS_PER_DAY // 10
    assert types["p_medium"] == "DOUBLE" and types["true_tier"] == "VARCHAR"
    assert sum(counts.values()) == workspace.manifest["telemetry"]["rows"]


def test_request_ids_and_order(con: Any) -> None:
    # unique per (model, version); every shadow row shares its champion row's id and ts
    assert (
        scalar(
            con,
            "SELECT count(*) - count(DISTINCT (model, model_version, request_id)) FROM predictions",
        )
        == 0
    )
    unmatched = scalar(
        con,
        """
        SELECT count(*) FROM predictions s LEFT JOIN predictions c
          ON c.request_id = s.request_id AND c.model_version = '1' AND c.ts = s.ts
         AND c.amount IS NOT DISTINCT FROM s.amount AND c.label IS NOT DISTINCT FROM s.label
        WHERE s.model_version = '2' AND c.request_id IS NULL""",
    )
    assert unmatched == 0
    # (TIMESTAMPTZ values are compared in SQL: fetching them as Python objects needs pytz)
    assert scalar(
        con,
        "SELECT min(ts) = ?::TIMESTAMPTZ + INTERVAL 0 DAY OR min(ts) > ? "
        "FROM predictions WHERE model_version = '2'",
        day(90),
        day(90),
    )
    # sorted by ts within each model, in table order
    for model in (FRAUD, CHURN, TIER):
        ts = arrays(con, "SELECT ts FROM predictions WHERE model = ?", model)["ts"]
        assert (np.diff(ts.astype(np.int64)) >= 0).all()


def test_diurnal_pattern(con: Any) -> None:
    by_hour = dict(
        rows(
            con,
            "SELECT hour(ts), count(*) FROM predictions "
            "WHERE model = 'fraud-detector' AND model_version = '1' GROUP BY 1",
        )
    )
    assert by_hour[15] > 3 * by_hour[3]
    assert (
        scalar(
            con,
            "SELECT count(*) FROM predictions "
            "WHERE model = 'fraud-detector' AND model_version = '1' "
            "AND hour_of_day IS NOT NULL AND hour_of_day <> hour(ts)",
        )
        == 0
    )


def test_digests_match_generation_and_data(workspace: demo.DemoWorkspace, con: Any) -> None:
    for name, info in workspace.manifest["models"].items():
        columns = ", ".join(info["columns"])
        table = con.sql(f"SELECT {columns} FROM predictions WHERE model = ?", params=[name])
        assert demo.table_digest(table.to_arrow_table()) == info["digest"]
    generated = demo.generate_events(CHURN, events_per_day=EVENTS_PER_DAY)
    assert demo.table_digest(generated) == workspace.manifest["models"][CHURN]["digest"]


def test_two_builds_are_identical(tmp_path: Path) -> None:
    first = demo.ensure_workspace(tmp_path / "first", events_per_day=1_000)
    again = demo.ensure_workspace(tmp_path / "again", events_per_day=1_000)
    assert first.built and again.built

    def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
        # MLflow draws its own run ids; the workspace path is recorded on purpose.
        out = {k: v for k, v in manifest.items() if k not in ("root", "registry")}
        models = manifest["registry"]["models"]
        out["registry_versions"] = {
            name: {v: info["reference"] for v, info in m["versions"].items()}
            for name, m in models.items()
        }
        out["registry_aliases"] = {name: m["aliases"] for name, m in models.items()}
        return out

    assert comparable(again.manifest) == comparable(first.manifest)
    assert first.manifest["registry"]["models"]["fraud-detector"]["aliases"] == {
        "champion": "1",
        "challenger": "2",
    }
    assert again.manifest["telemetry"]["digest"].startswith("sha256:")
    for spec in ("fraud-detector.toml", "churn-model.toml"):
        assert (again.root / "specs" / spec).read_bytes() == (
            first.root / "specs" / spec
        ).read_bytes()


def test_reuse_is_quick(workspace: demo.DemoWorkspace) -> None:
    mtime = (workspace.root / "telemetry.duckdb").stat().st_mtime_ns
    calls: list[tuple[float, str]] = []
    again = demo.ensure_workspace(
        workspace.root, events_per_day=EVENTS_PER_DAY, progress=lambda f, m: calls.append((f, m))
    )
    assert not again.built
    assert again.seconds < 0.5
    assert again.manifest == workspace.manifest
    assert (workspace.root / "telemetry.duckdb").stat().st_mtime_ns == mtime
    assert calls[-1][0] == 1.0


def test_rebuilds_when_recipe_or_parameters_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_steps: None
) -> None:
    root = tmp_path / "ws"
    progress: list[float] = []
    first = demo.ensure_workspace(
        root, events_per_day=1_000, progress=lambda f, m: progress.append(f)
    )
    assert first.built
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert not demo.ensure_workspace(root, events_per_day=1_000).built
    changed = demo.ensure_workspace(root, events_per_day=1_200)
    assert changed.built and changed.manifest["parameters"] == {"events_per_day": 1_200}
    assert demo.read_manifest(root)["models"][FRAUD]["versions"]["1"]["rows"] == 120 * 1_200
    assert demo.ensure_workspace(root, events_per_day=1_200, rebuild=True).built
    monkeypatch.setattr(building, "RECIPE_VERSION", building.RECIPE_VERSION + 1)
    bumped = demo.ensure_workspace(root, events_per_day=1_200)
    assert bumped.built and bumped.manifest["recipe_version"] == building.RECIPE_VERSION
    (root / "specs" / "churn-model.toml").unlink()
    assert demo.ensure_workspace(root, events_per_day=1_200).built  # an output went missing
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]


@pytest.mark.parametrize("after_calls", [0, 3, 8])  # 8: at the very last moment
def test_cancel_leaves_no_workspace(tmp_path: Path, after_calls: int) -> None:
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > after_calls

    with pytest.raises(Cancelled):
        demo.ensure_workspace(tmp_path / "ws", events_per_day=1_000, cancelled=cancelled)
    assert list(tmp_path.iterdir()) == []


def test_cancelled_rebuild_keeps_the_old_workspace(tmp_path: Path, fast_steps: None) -> None:
    root = tmp_path / "ws"
    old = demo.ensure_workspace(root, events_per_day=1_000)
    calls = []
    with pytest.raises(Cancelled):
        demo.ensure_workspace(
            root,
            events_per_day=1_000,
            rebuild=True,
            cancelled=lambda: len(calls) > 3,
            progress=lambda f, m: calls.append(f),
        )
    assert demo.read_manifest(root) == old.manifest
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]


def test_later_build_steps_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ws"
    monkeypatch.setattr(building, "BUILD_STEPS", building.BUILD_STEPS[:2])  # fast: mechanics only
    demo.ensure_workspace(root, events_per_day=1_000)
    seen: dict[str, Any] = {}

    def extra(folder: Path, params: demo.DemoParams, progress: Any) -> dict[str, Any]:
        progress(0.5, "Adding more")
        seen["earlier"] = json.loads((folder / "manifest.json").read_text())["steps"]
        seen["telemetry"] = (folder / "telemetry.duckdb").is_file()
        (folder / "extra").mkdir()
        (folder / "extra" / "more.db").write_bytes(b"")
        return {"extra": {"uri": "sqlite:///extra/more.db"},
                "models": {FRAUD: {"registered": True}},
                "events": [{"id": "extra-event", "model": FRAUD}]}  # fmt: skip

    step = demo.BuildStep("extra", 0.1, ("extra/more.db",), extra)
    monkeypatch.setattr(building, "BUILD_STEPS", (*building.BUILD_STEPS, step))
    ws = demo.ensure_workspace(root, events_per_day=1_000)
    assert ws.built  # the list of steps changed
    assert seen == {"earlier": ["telemetry", "specs", "extra"], "telemetry": True}
    assert ws.manifest["steps"] == ["telemetry", "specs", "extra"]
    assert ws.manifest["extra"] == {"uri": "sqlite:///extra/more.db"}
    assert ws.manifest["models"][FRAUD]["registered"] is True
    assert ws.manifest["models"][FRAUD]["spec"] == "specs/fraud-detector.toml"
    assert ws.manifest["events"][-1]["id"] == "extra-event"
    assert not demo.ensure_workspace(root, events_per_day=1_000).built

    def broken(folder: Path, params: demo.DemoParams, progress: Any) -> dict[str, Any]:
        raise RuntimeError("the registry step failed")

    monkeypatch.setattr(
        building, "BUILD_STEPS", (*building.BUILD_STEPS, demo.BuildStep("x", 1, (), broken))
    )
    with pytest.raises(RuntimeError, match="registry step failed"):
        demo.ensure_workspace(root, events_per_day=1_000)
    assert demo.read_manifest(root) == ws.manifest  # the previous workspace is intact
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(WatchkeeperError, match="not empty"):
        demo.ensure_workspace(precious, events_per_day=1_000)
    assert (precious / "thesis.tex").read_text() == "do not delete"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(WatchkeeperError, match="is a file"):
        demo.ensure_workspace(a_file, events_per_day=1_000)


@pytest.mark.parametrize("bad", [999, 100_001, 0, -5, 20_000.0, "20000", True, None])
def test_invalid_events_per_day(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(WatchkeeperError, match="events per day"):
        demo.ensure_workspace(tmp_path / "ws", events_per_day=bad)
    with pytest.raises(WatchkeeperError, match="events per day"):
        demo.generate_events(FRAUD, events_per_day=bad, seed=1)
    assert not (tmp_path / "ws").exists()


def test_unknown_model() -> None:
    with pytest.raises(WatchkeeperError, match=r"no model 'nope'.*fraud-detector"):
        demo.generate_events("nope", events_per_day=1_000, seed=1)


def test_generate_events_is_pure() -> None:
    a = demo.generate_events(CHURN, events_per_day=1_000, seed=7)
    b = demo.generate_events(CHURN, events_per_day=1_000, seed=7)
    c = demo.generate_events(CHURN, events_per_day=1_000, seed=8)
    assert a.equals(b) and demo.table_digest(a) == demo.table_digest(b)
    assert demo.table_digest(a) != demo.table_digest(c)
    assert a.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert a.num_rows == 120 * 100


def test_write_parquet(workspace: demo.DemoWorkspace, tmp_path: Path) -> None:
    written = demo.write_parquet(workspace.root, tmp_path / "out", models=(CHURN,))
    assert written == {CHURN: tmp_path / "out" / "churn-model.parquet"}
    table = pq.read_table(written[CHURN])
    info = workspace.manifest["models"][CHURN]
    assert table.column_names == info["columns"]
    assert table.num_rows == info["rows"]
    assert demo.table_digest(table) == info["digest"]
    with pytest.raises(WatchkeeperError, match="no demo workspace"):
        demo.write_parquet(tmp_path / "nothing", tmp_path / "out2")


# --- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [FRAUD, CHURN])
def test_specs_load_and_match_the_data(workspace: demo.DemoWorkspace, con: Any, model: str) -> None:
    info = workspace.manifest["models"][model]
    spec = load_spec(workspace.root / info["spec"])
    assert spec.model.name == model and spec.model.task == "binary"
    assert spec.model.registry_uri == "sqlite:///../registry/mlflow.db"
    assert spec.telemetry.source == "duckdb:///../telemetry.duckdb#predictions"
    path, _, table = spec.telemetry.source.removeprefix("duckdb:///").partition("#")
    assert spec.resolve_path(path) == (workspace.root / "telemetry.duckdb").resolve()
    assert table == "predictions"
    mapping = spec.telemetry.mapping()
    assert list(mapping.features) == [f["name"] for f in info["features"]]
    assert mapping.extras == ("latency_ms",)
    kinds = {f: str(mapping.kinds[f]) for f in mapping.features}
    assert kinds == {f["name"]: f["kind"] for f in info["features"]}
    columns = set(workspace.manifest["telemetry"]["columns"])
    assert set(mapping.role_columns().values()) | set(mapping.features) <= columns
    assert spec.reference is not None and spec.reference.kind == "window"
    assert spec.reference.version == next(
        v for v, i in info["versions"].items() if i["role"] == "champion"
    )
    assert (spec.reference.start, spec.reference.end) == (dt.date(2026, 1, 1), dt.date(2026, 2, 1))
    assert spec.drift.window is not None and spec.drift.window.text == "1d"
    assert spec.gate.primary_metric == "roc_auc" and spec.gate.threshold == info["threshold"]
    assert spec.governance.database == "sqlite:///../governance.db"
    for s in spec.slices:  # every slice names real columns and matches some rows
        assert set(s.where) <= columns
    if model == FRAUD:
        critical = [s for s in spec.slices if s.critical]
        assert [(s.name, s.where) for s in critical] == [("pos", {"channel": "pos"})]
        assert event(workspace.manifest, "critical_slice")["slice"] == {"channel": "pos"}
        assert {"web", "app", "pos", "high-amount"} <= {s.name for s in spec.slices}
        assert "merchant_id" in spec.telemetry.columns.categorical


def test_the_multiclass_spec_loads_and_maps_its_own_columns(
    workspace: demo.DemoWorkspace,
) -> None:
    info = workspace.manifest["models"][TIER]
    spec = load_spec(workspace.root / info["spec"])
    assert spec.model.task == "multiclass" and spec.gate.primary_metric == "macro_f1"
    columns = spec.telemetry.columns
    assert columns.class_probabilities == {"low": "p_low", "medium": "p_medium", "high": "p_high"}
    assert (columns.score, columns.prediction, columns.label) == ("", "predicted_tier", "true_tier")
    on_disk = set(workspace.manifest["telemetry"]["columns"])
    assert {*columns.class_probabilities.values(), "predicted_tier", "true_tier"} <= on_disk
    assert set(info["columns"]) >= {"p_low", "predicted_tier", "true_tier", "label_ts"}
    assert "score" not in info["columns"]


# --- the planted events are in the data ----------------------------------------------------


def test_risk_tier_prior_shift_and_concept_change_are_in_the_data(
    workspace: demo.DemoWorkspace, con: Any
) -> None:
    shift = event(workspace.manifest, "prior_shift", TIER)
    concept = event(workspace.manifest, "concept_change", TIER)
    assert (concept["start_day"], shift["start_day"]) == (60, 85)

    def shares(column: str, lo: float, hi: float) -> dict[str, float]:
        return dict(
            rows(
                con,
                f"SELECT {column}, count(*) / sum(count(*)) OVER () "
                f"FROM predictions WHERE model = ? AND ts >= ? AND ts < ? "
                f"AND {column} IS NOT NULL GROUP BY 1",
                TIER,
                day(lo),
                day(hi),
            )
        )

    before, after = shares("predicted_tier", 61, 85), shares("predicted_tier", 85, 120)
    assert after["high"] > before["high"] + 0.1 and after["low"] < before["low"] - 0.1
    # the concept change: true medium resolved as high, features and predictions unchanged
    assert shares("predicted_tier", 31, 60)["medium"] == pytest.approx(before["medium"], abs=0.03)
    medium_as_high = {
        lo: scalar(
            con,
            "SELECT avg((true_tier = 'high')::INT) FROM predictions WHERE model = ? "
            "AND predicted_tier = 'medium' AND ts >= ? AND ts < ? AND true_tier IS NOT NULL",
            TIER,
            day(lo),
            day(lo + 25),
        )
        for lo in (31, 60)
    }
    assert medium_as_high[60] > medium_as_high[31] + 0.1
    measured = concept["measured"]
    assert measured["macro_f1_days_60_to_85"] < measured["macro_f1_days_31_to_60"] - 0.03
    # calibrated on the reference: mean probability of a class = its share of labels
    means = rows(
        con,
        "SELECT avg(p_low), avg(p_medium), avg(p_high), avg((true_tier = 'low')::INT), "
        "avg((true_tier = 'medium')::INT), avg((true_tier = 'high')::INT) FROM predictions "
        "WHERE model = ? AND ts < ? AND true_tier IS NOT NULL",
        TIER,
        day(31),
    )[0]
    np.testing.assert_allclose(means[:3], means[3:], atol=0.02)


def test_manifest_lists_every_planted_event(workspace: demo.DemoWorkspace) -> None:
    kinds = {(e["model"], e["kind"]) for e in workspace.manifest["events"]}
    for kind in (
        "gradual_drift",
        "pipeline_incident",
        "concept_change",
        "label_delay",
        "challenger_shadow",
        "critical_slice",
    ):
        assert (FRAUD, kind) in kinds
    ids = [e["id"] for e in workspace.manifest["events"]]
    assert len(ids) == len(set(ids))
    for e in workspace.manifest["events"]:
        assert e["start"] == day(e["start_day"]).replace("+00:00", "Z")
        assert e["end"] == day(e["end_day"]).replace("+00:00", "Z")
        assert e["model"] in workspace.manifest["models"]
        assert e["magnitude"] and e["description"]


def test_gradual_amount_drift_from_day_60(workspace: demo.DemoWorkspace, con: Any) -> None:
    def mean_amount(lo: float, hi: float) -> float:
        return scalar(
            con,
            "SELECT avg(amount) FROM predictions "
            "WHERE model = 'fraud-detector' AND model_version = '1' AND ts >= ? AND ts < ?",
            day(lo),
            day(hi),
        )

    stable = [mean_amount(d, d + 20) for d in (0, 20, 40)]
    assert max(stable) / min(stable) < 1.06
    rising = [mean_amount(d, d + 20) for d in (60, 80, 100)]
    assert stable[-1] < rising[0] < rising[1] < rising[2]
    assert mean_amount(113, 120) / np.mean(stable) > 1.5  # log-mean +0.57 by the last week
    e = event(workspace.manifest, "gradual_drift")
    assert (e["start_day"], e["features"]) == (60, ["amount"])
    assert e["magnitude"]["log_mean_shift_at_end"] == pytest.approx(0.6)


def test_pipeline_incident_on_day_95(workspace: demo.DemoWorkspace, con: Any) -> None:
    sql = "SELECT DISTINCT device_type FROM predictions WHERE model = ? AND device_type IS NOT NULL"
    before = {v for (v,) in rows(con, sql + " AND ts < ?", FRAUD, day(95))}
    after = {v for (v,) in rows(con, sql + " AND ts >= ?", FRAUD, day(95))}
    assert "Mobile" not in before and "mobile" in before
    assert after - before == {"Mobile"} and "mobile" not in after

    def missing(lo: float, hi: float) -> float:
        return scalar(
            con,
            "SELECT avg((distance_from_home_km IS NULL)::INT) FROM predictions "
            "WHERE model = ? AND model_version = '1' AND ts >= ? AND ts < ?",
            FRAUD,
            day(lo),
            day(hi),
        )

    assert 0.005 < missing(0, 95) < 0.015
    assert missing(94, 95) < 0.03 and missing(95, 96) > 0.25
    assert 0.28 < missing(95, 120) < 0.32
    e = event(workspace.manifest, "pipeline_incident")
    assert e["start_day"] == 95
    assert set(e["features"]) == {"device_type", "distance_from_home_km"}


def test_other_features_are_about_one_percent_missing(
    workspace: demo.DemoWorkspace, con: Any
) -> None:
    for feature in (f["name"] for f in workspace.manifest["models"][FRAUD]["features"]):
        rate = scalar(
            con,
            f"SELECT avg(({feature} IS NULL)::INT) FROM predictions "
            "WHERE model = 'fraud-detector' AND model_version = '1' AND ts < ?",
            day(95),
        )
        assert 0.007 < rate < 0.013, feature
    for feature in (f["name"] for f in workspace.manifest["models"][CHURN]["features"]):
        rate = scalar(
            con, f"SELECT avg(({feature} IS NULL)::INT) FROM predictions WHERE model = ?", CHURN
        )
        assert rate < 0.01, feature
    for role in ("request_id", "ts", "model", "model_version", "score", "prediction"):
        # a multiclass model's score and prediction are its own columns
        other = "model = 'risk-tier'" if role in ("score", "prediction") else "false"
        nulls = f"SELECT count(*) FROM predictions WHERE {role} IS NULL AND NOT {other}"
        assert scalar(con, nulls) == 0
    for column in ("p_low", "p_medium", "p_high", "predicted_tier"):
        nulls = f"SELECT count(*) FROM predictions WHERE {column} IS NULL AND model = ?"
        assert scalar(con, nulls, TIER) == 0


def test_web_precision_drops_from_day_80_on_web_only(
    workspace: demo.DemoWorkspace, con: Any
) -> None:
    precision = {
        (channel, after): p
        for channel, after, p in rows(
            con,
            """
            SELECT channel, ts >= ?, avg(label) FROM predictions
            WHERE model = 'fraud-detector' AND model_version = '1' AND prediction = 1
              AND label IS NOT NULL
              AND channel IS NOT NULL GROUP BY ALL""",
            day(80),
        )
    }
    assert precision[("web", True)] < 0.5 * precision[("web", False)]
    assert precision[("app", True)] > 0.85 * precision[("app", False)]
    assert precision[("pos", True)] > 0.6 * precision[("pos", False)]
    e = event(workspace.manifest, "concept_change")
    assert (e["start_day"], e["slice"]) == (80, {"channel": "web"})
    measured = e["measured"]
    assert measured["precision_v1_web_after"] < 0.5 * measured["precision_v1_web_before"]


def test_scores_are_calibrated_on_the_reference(con: Any) -> None:
    for model, version in ((FRAUD, "1"), (CHURN, "3")):
        bins = rows(
            con,
            """
            SELECT least(floor(score * 20), 19) AS b, avg(score), avg(label), count(*)
            FROM predictions WHERE model = ? AND model_version = ? AND ts < ?
            GROUP BY b HAVING count(*) >= 200""",
            model,
            version,
            day(31),
        )
        total = sum(n for *_, n in bins)
        ece = sum(n * abs(s - y) for _, s, y, n in bins) / total
        assert ece < 0.01, model


def test_labels_arrive_3_to_30_days_late(workspace: demo.DemoWorkspace, con: Any) -> None:
    assert (
        scalar(
            con,
            "SELECT count(*) FROM predictions "
            "WHERE (coalesce(label::VARCHAR, true_tier) IS NULL) <> (label_ts IS NULL)",
        )
        == 0
    )
    lo, hi = rows(
        con, "SELECT min(label_ts - ts), max(label_ts - ts) FROM predictions WHERE model = ?", FRAUD
    )[0]
    assert dt.timedelta(days=3) <= lo and hi <= dt.timedelta(days=30)
    assert scalar(con, "SELECT max(label_ts) <= ? FROM predictions", day(120))

    def labeled(lo: float, hi: float) -> float:
        return scalar(
            con,
            "SELECT avg((label IS NOT NULL)::INT) FROM predictions "
            "WHERE model = ? AND ts >= ? AND ts < ?",
            FRAUD,
            day(lo),
            day(hi),
        )

    assert labeled(0, 90) == 1.0
    assert labeled(117, 120) == 0.0
    assert labeled(99, 120) < 0.4  # the last three weeks are mostly unlabeled
    assert (
        0.015
        < scalar(
            con,
            "SELECT avg(label) FROM predictions "
            "WHERE model = 'fraud-detector' AND model_version = '1'",
        )
        < 0.035
    )
    e = event(workspace.manifest, "label_delay")
    assert (e["magnitude"]["min_days"], e["magnitude"]["max_days"]) == (3.0, 30.0)
    churn_lag = scalar(con, "SELECT min(label_ts - ts) FROM predictions WHERE model = ?", CHURN)
    assert churn_lag >= dt.timedelta(days=30)


def test_challenger_better_overall_worse_on_pos(workspace: demo.DemoWorkspace, con: Any) -> None:
    data = arrays(
        con,
        """
        SELECT c.label, c.channel, c.score AS v1, s.score AS v2
        FROM predictions c JOIN predictions s USING (request_id)
        WHERE c.model = 'fraud-detector' AND c.model_version = '1' AND s.model_version = '2'
          AND c.label IS NOT NULL""",
    )
    label, v1, v2 = data["label"], data["v1"], data["v2"]
    assert len(label) > 1000
    assert auc(label, v2) > auc(label, v1) + 0.01
    pos = data["channel"] == "pos"
    assert auc(label[pos], v2[pos]) < auc(label[pos], v1[pos]) - 0.03
    measured = event(workspace.manifest, "critical_slice")["measured"]
    assert measured["roc_auc_v2_pos"] < measured["roc_auc_v1_pos"]
    measured = event(workspace.manifest, "challenger_shadow")["measured"]
    assert measured["roc_auc_v2"] > measured["roc_auc_v1"]
    assert measured["roc_auc_v1"] == pytest.approx(auc(label, v1), abs=0.02)


def test_challenger_is_slower(con: Any) -> None:
    latency = dict(
        rows(
            con,
            "SELECT model_version, avg(latency_ms) FROM predictions WHERE model = ? GROUP BY 1",
            FRAUD,
        )
    )
    assert latency["2"] > 1.2 * latency["1"]
    assert scalar(con, "SELECT min(latency_ms) FROM predictions") > 0


def test_churn_model_is_healthy(con: Any) -> None:
    first, last = (
        rows(
            con,
            "SELECT avg(tenure_months), avg(monthly_charges), avg(support_calls), "
            "avg((plan = 'basic')::INT) FROM predictions "
            "WHERE model = ? AND ts >= ? AND ts < ?",
            CHURN,
            day(lo),
            day(lo + 30),
        )[0]
        for lo in (0, 90)
    )
    for a, b in zip(first, last, strict=True):
        assert abs(b - a) / a < 0.06
    assert rows(con, "SELECT DISTINCT model_version FROM predictions WHERE model = ?", CHURN) == [
        ("3",)
    ]


# --- the registry and governance steps ---------------------------------------------------


def test_registry_step_is_readable_at_the_final_location(workspace: demo.DemoWorkspace) -> None:
    """MLflow records absolute artifact paths; after the staging rename they must point here."""
    import pyarrow.parquet as pq

    from watchkeeper.core.registry.client import MlflowRegistry

    registry = MlflowRegistry(f"sqlite:///{workspace.root / 'registry' / 'mlflow.db'}")
    snap = registry.snapshot()
    fraud = {m.name: m for m in snap.models}[FRAUD]
    assert dict(fraud.aliases) == {"champion": "1", "challenger": "2"}
    version = registry.get_version(FRAUD, "1")
    local = registry.download_artifact(
        version.run_id, "reference/reference.parquet", workspace.root / "dl"
    )
    reference = pq.read_table(local)
    ref_rows = workspace.manifest["registry"]["models"][FRAUD]["versions"]["1"]["reference"]
    assert reference.num_rows == ref_rows["rows"] > 0


def test_governance_step_holds_a_verified_signed_history(workspace: demo.DemoWorkspace) -> None:
    from watchkeeper.core.governance import GovernanceStore
    from watchkeeper.core.governance.verify import verify_audit

    url = f"sqlite:///{workspace.root / 'governance.db'}"
    report = verify_audit(url)
    assert report.ok, report.summary()
    with GovernanceStore.open(url, upgrade=False) as store:
        approvals = store.approvals(FRAUD)
    champion = [a for a in approvals if a.model_version == "1" and a.decision == "approve"]
    assert champion, approvals
    evidence = champion[0].evidence
    assert evidence["kind"] == "offline evaluation on the reference window"
    auc = evidence["metrics"]["roc_auc"]
    assert 0.6 < auc["value"] < 1 and auc["lower"] < auc["value"] < auc["upper"]
    assert evidence["labeled"] > 1000
