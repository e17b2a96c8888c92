"""Champion vs challenger and the promotion gate on a multiclass model.

The world is ``tests/multiclass_shadow.py``: the challenger scores the same requests in
shadow after the class-prior shift; ``better`` is better everywhere, ``worse`` is better
overall but planted worse on the critical slice ``channel = "branch"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from multiclass_shadow import shadow_events, write_shadow_workspace
from scipy import stats
from sklearn import metrics as sk

from watchkeeper.app import cli
from watchkeeper.core.evaluation.compare import join_shadow
from watchkeeper.core.workbench.challenger import run_challenger, run_gate
from watchkeeper.core.workbench.portfolio import ModelEntry, portfolio_of_spec

OUTPUTS = ["p_low", "p_medium", "p_high", "predicted_tier"]


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mc-gate")
    return {
        "better": write_shadow_workspace(root / "better"),
        "worse": write_shadow_workspace(root / "worse", worse_on="branch"),
    }


def _entry(spec: Path) -> ModelEntry:
    return portfolio_of_spec(spec).models[0]


def _pairs(worse_on: str | None) -> pd.DataFrame:
    """Champion and challenger rows of the same request side by side, labeled ones only."""
    t = shadow_events(worse_on).to_pandas()
    a, b = t[t.model_version == "1"], t[t.model_version == "2"]
    both = a.merge(b, on="request_id", suffixes=("_a", "_b"))
    return both[both.true_tier_a.notna()]


def test_join_shadow_pairs_class_probabilities_and_predicted_classes() -> None:
    table = shadow_events().rename_columns(
        [{"true_tier": "label"}.get(c, c) for c in shadow_events().column_names]
    )
    joined = join_shadow(table, "1", "2", carry=["channel"], outputs=OUTPUTS)
    assert joined.column_names == [
        "request_id",
        "label",
        *(f"{c}_{v}" for c in OUTPUTS for v in ("a", "b")),
        "channel",
    ]
    pairs = _pairs(None)
    assert joined.num_rows == len(pairs)  # every challenger row finds its champion row
    frame = joined.to_pandas().set_index("request_id").loc[pairs.request_id]
    for c in OUTPUTS:
        for v in ("a", "b"):
            assert (frame[f"{c}_{v}"].to_numpy() == pairs[f"{c}_{v}"].to_numpy()).all(), c
    assert (frame.p_high_a != frame.p_high_b).all()  # the two versions' own probabilities


def test_a_better_challenger_passes_with_mcnemar_on_correctness(worlds: dict[str, Path]) -> None:
    gate = run_gate(_entry(worlds["better"]), "1", "2", n_boot=200)
    assert gate.passed, [c.id for c in gate.failed]
    c = gate.comparison
    pairs = _pairs(None)
    right_a = pairs.predicted_tier_a == pairs.true_tier_a
    right_b = pairs.predicted_tier_b == pairs.true_tier_a
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    assert (c.mcnemar.champion_only, c.mcnemar.challenger_only) == (only_a, only_b)
    exact = stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    assert c.mcnemar.p_value == pytest.approx(exact, rel=1e-9)
    assert c.labeled == len(pairs)
    f1 = {
        v: sk.f1_score(pairs.true_tier_a, pairs[f"predicted_tier_{v}"], average="macro")
        for v in ("a", "b")
    }
    assert c.champion["macro_f1"].value == pytest.approx(f1["a"], abs=1e-12)
    assert c.challenger["macro_f1"].value == pytest.approx(f1["b"], abs=1e-12)
    improvement = gate.criterion("improvement:macro_f1")
    assert improvement.value == pytest.approx(f1["b"] - f1["a"], abs=1e-12)
    assert improvement.detail["method"] == "bootstrap"
    assert gate.criterion("significance:macro_f1").passed
    assert gate.criterion("critical_slice:channel=branch").passed
    assert "positives" not in gate.criterion("min_labeled:shadow").detail


def test_a_challenger_worse_on_a_critical_slice_fails_naming_it(
    worlds: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["gate", "--spec", str(worlds["worse"]), "--json"])
    out, err = capsys.readouterr()
    assert code == 1, err
    doc = json.loads(out)
    failed = [c["id"] for c in doc["criteria"] if not c["passed"]]
    assert failed == ["critical_slice:channel=branch"], failed
    assert "critical_slice:channel=branch" in err  # the CLI names the failing criterion
    crit = next(c for c in doc["criteria"] if c["id"] == failed[0])
    pairs = _pairs("branch")
    branch = pairs[pairs.channel_a == "branch"]
    want = {
        v: sk.f1_score(branch.true_tier_a, branch[f"predicted_tier_{v}"], average="macro")
        for v in ("a", "b")
    }
    assert crit["detail"]["metric"] == "macro_f1"
    assert crit["detail"]["champion"] == pytest.approx(want["a"], abs=1e-12)
    assert crit["detail"]["challenger"] == pytest.approx(want["b"], abs=1e-12)
    assert crit["value"] == pytest.approx(want["b"] - want["a"], abs=1e-12)
    assert doc["statistics"]["classes"] == ["low", "medium", "high"]
    assert doc["inputs"]["data"]["labeled"] == len(pairs)


def test_the_challenger_view_of_a_multiclass_model(worlds: dict[str, Path]) -> None:
    view = run_challenger(_entry(worlds["better"]), "1", "2", n_boot=100)
    assert view.classes == ("low", "medium", "high")
    pairs = _pairs(None)
    both = shadow_events().to_pandas()
    n_pairs = int((both.model_version == "2").sum())
    assert view.pairs == n_pairs
    a = both[both.model_version == "1"].set_index("request_id")
    b = both[both.model_version == "2"].set_index("request_id")
    differ = (a.loc[b.index].predicted_tier != b.predicted_tier).sum()
    assert view.disagreeing == int(differ)
    top = view.disagreements.iloc[0]
    assert top["champion predicts"] != top["challenger predicts"]
    # the scatter: each version's probability of the true class, labeled pairs
    assert view.score_a.size == len(pairs)
    fpr, tpr = view.roc_challenger
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)
    # the curves are one-vs-rest, micro-averaged: their area is scikit-learn's micro AUC
    onehot = (pairs.true_tier_a.to_numpy()[:, None] == np.array(["low", "medium", "high"])).astype(
        float
    )
    for v, auc in zip(("a", "b"), view.curve_auc, strict=True):
        p = pairs[[f"p_low_{v}", f"p_medium_{v}", f"p_high_{v}"]].to_numpy()
        assert auc == pytest.approx(sk.roc_auc_score(onehot, p, average="micro"), abs=1e-12)
    frame = view.gate_frame()
    assert set(frame["result"]) == {"PASS"}


def test_the_multiclass_view_reads_the_pairs_once_and_equals_the_gate(
    worlds: dict[str, Path], source_reads: list[tuple[str, ...]]
) -> None:
    """The view draws its curves and disagreements from the gate's own pairs: the two
    versions' class probabilities are read once (they were read again for the plots), and
    its gate is the one ``run_gate`` decides."""
    entry = _entry(worlds["better"])
    view = run_challenger(entry, "1", "2", n_boot=50)
    assert len([r for r in source_reads if "p_high" in r]) == 1, source_reads
    alone = run_gate(entry, "1", "2", n_boot=50)
    assert view.gate.document() == alone.document()
    assert view.pairs == alone.comparison.pairs and len(view.disagreements) == 200
