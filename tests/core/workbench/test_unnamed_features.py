"""A spec that names no ``[telemetry.columns] features`` means every column that plays no
role and is no extra (the spec's own documentation). Every analysis takes them so: before,
Drift failed with "reference: no feature columns to analyse", ``check`` judged the model
unknown, and the worst-slice search, the disagreements and the importance had no features."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from watchkeeper.app import cli
from watchkeeper.core.demo import fraud
from watchkeeper.core.workbench.analyses import run_drift
from watchkeeper.core.workbench.challenger import run_challenger
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec
from watchkeeper.core.workbench.slices import run_slices

NAMED = list(fraud.FEATURES)  # the demo model's, in its order
ROLES = {"request_id", "ts", "model", "model_version", "score", "prediction", "label", "label_ts"}


@pytest.fixture(scope="module")
def unnamed(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's fraud spec without its features line, in a workspace of its own (the
    demo's registry and telemetry by absolute path)."""
    root = tmp_path_factory.mktemp("unnamed")
    (root / "specs").mkdir()
    text = (demo_workspace / "specs" / "fraud-detector.toml").read_text()
    text = re.sub(r"(?m)^features = .*\n", "", text)
    text = text.replace("///../", f"///{demo_workspace.as_posix()}/")
    assert "features = [" not in text and str(demo_workspace) in text
    (root / "specs" / "fraud-detector.toml").write_text(text)
    return root


def _entry(root: Path) -> ModelEntry:
    (entry,) = portfolio_of_spec(root / "specs" / "fraud-detector.toml").models
    return entry


def test_drift_takes_every_column_that_plays_no_role(unnamed: Path, demo_workspace: Path) -> None:
    result = run_drift(_entry(unnamed), "1", "7d")
    names = [f.name for f in result.features]
    assert names[: len(NAMED)] == NAMED  # the telemetry's order: the other models' after
    assert not ROLES & set(names) and "latency_ms" not in names  # roles and the extra
    named = run_drift(_entry(demo_workspace), "1", "7d")
    mine = {f.name: f.decisions() for f in result.features}
    assert {f.name: f.decisions() for f in named.features} == {n: mine[n] for n in NAMED}
    assert any("drift" in d for d in mine.values())  # the demo's drifting features
    assert result.prediction is not None and result.prediction.name == "score"


def test_check_judges_the_model(unnamed: Path, capsys) -> None:
    code = cli.main(["check", "--workspace", str(unnamed), "--json"])
    doc = json.loads(capsys.readouterr().out)
    (model,) = doc["models"]
    assert model["error"] is None and model["verdict"] != "unknown", model
    assert code in (0, 1)


def test_the_slice_search_and_the_disagreements_have_the_features(unnamed: Path) -> None:
    entry = _entry(unnamed)
    slices = run_slices(entry, "1")
    assert slices.worst is not None and slices.worst.candidates
    searched = {f for w in slices.worst.candidates for f in w.features}
    assert searched & set(NAMED)
    view = run_challenger(entry, "1", "2", n_boot=20)
    assert set(NAMED) <= set(view.disagreements.columns)
