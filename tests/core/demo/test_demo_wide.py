"""The wide demo: its planted drifts are where the manifest says, and nothing else drifts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from watchkeeper.core.demo.wide import WideParams, ensure_wide_workspace, planted_drifts
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.spec import load_spec
from watchkeeper.core.workbench.portfolio import load_portfolio


def test_the_wide_workspace_holds_its_features_days_and_truth(wide_workspace: Path) -> None:
    manifest = json.loads((wide_workspace / "manifest.json").read_text("utf-8"))
    params = WideParams(**manifest["parameters"])
    spec = load_spec(wide_workspace / "specs" / "wide-model.toml")
    assert spec.model.registry_uri is None  # works without a registry
    assert len(spec.telemetry.columns.features) == params.features == 120
    assert len(spec.telemetry.columns.categorical) == 24
    con = duckdb.connect(str(wide_workspace / "telemetry.duckdb"), read_only=True)
    try:
        days, rows, per_day = con.execute(
            "SELECT count(DISTINCT date_trunc('day', ts)), count(*), "
            "min(n) FROM (SELECT ts, count(*) OVER (PARTITION BY date_trunc('day', ts)) n "
            "FROM predictions WHERE model_version = '1')"
        ).fetchone()
        shadow = con.execute(
            "SELECT min(c.ts), count(*), count(p.request_id), "
            "count(*) FILTER (WHERE p.ts = c.ts AND p.label = c.label) FROM predictions c "
            "LEFT JOIN predictions p ON p.request_id = c.request_id AND p.model_version = '1' "
            "WHERE c.model_version = '2'"
        ).fetchone()
    finally:
        con.close()
    assert (days, rows, per_day) == (120, 120 * 200, 200)
    # the challenger shadow-scores the champion's requests over the last sixth (20 days)
    first, n, paired, same = shadow
    assert params.shadow_day == 100 and first.date().isoformat() == "2026-04-11"
    assert n == paired == same == 20 * 200
    versions = manifest["models"]["wide-model"]["versions"]
    assert versions["1"]["rows"] == rows and versions["2"]["rows"] == n
    assert (versions["2"]["role"], versions["2"]["mode"]) == ("challenger", "shadow")
    events = manifest["events"]
    assert events == planted_drifts(params)
    assert {e["shape"] for e in events} == {"abrupt", "gradual"}
    assert {e["kind"] for e in events} == {"numerical", "categorical"}
    assert all(e["start_day"] > 31 for e in events)  # after the January reference


def test_the_full_size_onsets_are_the_issues_days() -> None:
    drifts = {e["features"][0]: e for e in planted_drifts(WideParams())}
    assert drifts["num_007"]["onset"] == "2026-07-20"
    assert drifts["num_133"]["onset"] == "2026-08-12"
    assert drifts["num_133"]["shape"] == "gradual"


def test_exactly_the_planted_features_drift_from_their_onset(
    wide_workspace: Path, wide_drift: Any
) -> None:
    (entry,) = load_portfolio(wide_workspace).models
    # from the manifest, no registry
    assert [(v.version, v.aliases) for v in entry.versions] == [
        ("1", ("champion",)),
        ("2", ("challenger",)),
    ]
    events = json.loads((wide_workspace / "manifest.json").read_text("utf-8"))["events"]
    planted = {e["features"][0]: e for e in events}
    persistent = {}
    for f in wide_drift.features:
        drifted = [w.index for w in f.windows if w.decision == "drift"]
        if len(drifted) >= 5:
            persistent[f.name] = drifted[0]
    assert set(persistent) == set(planted)
    # since when: the change-point onset, for the planted features and no other
    onsets = {f.name: f.onset for f in wide_drift.features if f.onset is not None}
    assert set(onsets) == set(planted)
    for name, e in planted.items():
        day = e["start_day"]
        # abrupt changes show the same day; gradual ones within their ramp
        assert day <= persistent[name] <= day + e["ramp_days"], name
        assert day - 2 <= onsets[name].start <= day + e["ramp_days"] // 3 + 1, name
        assert onsets[name].ongoing and onsets[name].start <= persistent[name]


def test_a_folder_that_is_not_a_wide_demo_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", "utf-8")
    with pytest.raises(WatchkeeperError, match="not empty"):
        ensure_wide_workspace(tmp_path, WideParams(features=10, days=90, events_per_day=50))
    assert (tmp_path / "notes.txt").read_text("utf-8") == "mine"
    with pytest.raises(WatchkeeperError, match="features"):
        WideParams(features=3)


def test_the_challenger_is_the_better_model_on_the_same_requests(wide_workspace: Path) -> None:
    """The Champion vs challenger view has something true to show at width: every shadow
    request paired, and the challenger ahead on the gate's metric."""
    from watchkeeper.core.workbench.challenger import challenger_of, run_challenger

    (entry,) = load_portfolio(wide_workspace).models
    assert challenger_of(entry, "1") == "2"
    view = run_challenger(entry, "1", "2", n_boot=50)
    assert view.pairs == 20 * 200
    improvement = view.gate.criteria[1]
    assert improvement.target == "roc_auc" and improvement.passed
    assert 0.02 < improvement.value < 0.15
    assert view.disagreeing > 0 and len(view.disagreements) > 0
    # the disagreements carry the features (read for the rows shown only)
    assert {"num_000", "cat_000"} <= set(view.disagreements.columns)
