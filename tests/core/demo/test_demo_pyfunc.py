"""The demo's registered versions are loadable pyfunc models, and carry the planted skew."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from watchkeeper.core.demo.fraud import MODEL
from watchkeeper.core.drift.importance import (
    importance_from_model,
    importance_from_score,
    load_pyfunc,
)


def _registry(root: Path) -> str:
    return f"sqlite:///{root / 'registry' / 'mlflow.db'}"


def _reference(root: Path, version: str) -> pd.DataFrame:
    files = sorted(root.glob("registry/artifacts/fraud-detector-training/*/artifacts/reference/*"))
    return pd.read_parquet(files[int(version) - 1])


def test_fraud_versions_load_and_reproduce_their_scores(demo_workspace: Path) -> None:
    predict = load_pyfunc("models:/fraud-detector/1", _registry(demo_workspace))
    ref = _reference(demo_workspace, "1")
    features = list(MODEL.features)
    got = np.asarray(predict(ref[features]), dtype=float)
    logit = np.log(got / (1 - got))
    want = np.log(ref["score"] / (1 - ref["score"]))
    assert np.corrcoef(logit, want)[0, 1] > 0.85

    by_model = importance_from_model(predict, ref, features)
    by_score = importance_from_score(ref, features)
    assert by_model.source.startswith("model: permutation, n=5,000")
    assert "amount" in [f.name for f in by_model.features[:2]]
    assert by_score.features[0].name == "amount"
    rho = spearmanr(
        [by_model.share_of(f) for f in features], [by_score.share_of(f) for f in features]
    ).statistic
    print(f"Spearman(permutation, mutual information) on fraud-detector v1: {rho:.2f}")
    assert rho > 0


def test_the_planted_skew_is_in_the_training_data_and_the_manifest(demo_workspace: Path) -> None:
    manifest = json.loads((demo_workspace / "manifest.json").read_text("utf-8"))
    (skew,) = manifest["registry"]["skews"]
    assert (skew["model"], skew["version"], skew["feature"]) == ("fraud-detector", "2", "amount")
    train = pd.read_parquet(
        next(demo_workspace.glob("registry/artifacts/*/*/artifacts/training/training.parquet"))
    )
    ref = _reference(demo_workspace, "2")
    np.testing.assert_allclose(train["amount"], ref["amount"] * skew["factor"])


def test_the_multiclass_version_loads_and_answers_one_probability_per_class(
    demo_workspace: Path,
) -> None:
    from watchkeeper.core.demo.risk_tier import MODEL as TIER

    predict = load_pyfunc("models:/risk-tier@champion", _registry(demo_workspace))
    files = demo_workspace.glob("registry/artifacts/risk-tier-training/*/artifacts/reference/*")
    ref = pd.read_parquet(next(files))
    got = predict(ref[list(TIER.features)])
    assert list(got.columns) == list(TIER.class_probabilities)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-9)
    logged = ref[list(TIER.class_probabilities.values())].to_numpy()
    agree = (got.to_numpy().argmax(axis=1) == logged.argmax(axis=1)).mean()
    assert agree > 0.9, agree


def test_the_demo_model_class_raises_no_mlflow_warning(monkeypatch) -> None:
    """``check --why`` unpickles the demo models, which defines their PythonModel class:
    MLflow warned there about a predict without type hints (a line on stderr per run)."""
    import warnings

    from watchkeeper.core.demo import pyfunc

    monkeypatch.setattr(pyfunc, "_LogitPyfunc", None)  # defined afresh, as in a new process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls = pyfunc._model_class()
    assert cls.__name__ == "LogitPyfunc"
    assert [str(w.message) for w in caught if "type hint" in str(w.message).lower()] == []
