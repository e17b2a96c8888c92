"""Feature importance on the reference, both sources, against cases with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mutual_info_score

from watchkeeper.core.drift.importance import (
    _codes,
    importance_from_model,
    importance_from_score,
    mutual_information_bits,
)


def _world(n: int = 6000, seed: int = 3) -> pd.DataFrame:
    """A score that depends only on A (strongly) and B (less) among awkward columns."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.choice(["x", "y", "z"], size=n).astype(object)
    c = rng.normal(size=n)  # irrelevant, with missing values
    c[rng.random(n) < 0.2] = np.nan
    d = np.array([f"m{k}" for k in rng.integers(0, 400, n)], dtype=object)  # many values
    e = np.full(n, 7.0)  # constant
    b_term = pd.Series(b).map({"x": -1.0, "y": 0.0, "z": 1.0}).to_numpy()
    frame = pd.DataFrame({"C": c, "D": d, "A": a, "E": e, "B": b})
    frame.loc[rng.random(n) < 0.05, "B"] = None  # missing categories score as "y"
    frame["score"] = 1 / (1 + np.exp(-(2.0 * a + 1.0 * np.nan_to_num(b_term))))
    return frame


def _predict(frame: pd.DataFrame) -> np.ndarray:
    b = frame["B"].map({"x": -1.0, "y": 0.0, "z": 1.0}).fillna(0.0).to_numpy()
    return 1 / (1 + np.exp(-(2.0 * frame["A"].to_numpy() + b)))


FEATURES = ["C", "D", "A", "E", "B"]


def test_mutual_information_ranks_the_features_the_score_uses() -> None:
    result = importance_from_score(_world(), FEATURES)
    assert [f.name for f in result.features[:2]] == ["A", "B"]
    by_name = {f.name: f for f in result.features}
    assert by_name["E"].importance == 0.0  # constant column
    assert by_name["C"].importance < 0.01 and by_name["D"].importance < 0.02
    assert result.source.startswith("from score: mutual information, n=6,000")
    assert sum(f.share for f in result.features) == pytest.approx(1.0)


def test_permutation_ranks_the_features_the_model_uses() -> None:
    result = importance_from_model(_predict, _world(), FEATURES, max_rows=2000, seed=1)
    assert result.rows == 2000
    assert [f.name for f in result.features[:2]] == ["A", "B"]
    zero = {f.name: f.importance for f in result.features if f.name in {"C", "D", "E"}}
    assert zero == {"C": 0.0, "D": 0.0, "E": 0.0}
    assert result.source == "model: permutation, n=2,000 (mean |Δscore|)"
    # Seeded: the same sample and shuffles give the same numbers.
    again = importance_from_model(_predict, _world(), FEATURES, max_rows=2000, seed=1)
    assert again == result


def test_plug_in_mutual_information_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 4000)
    y = (x + rng.integers(0, 3, 4000)) % 5
    ours = mutual_information_bits(x, y)
    kx, ky = 6, 5
    bias = (kx - 1) * (ky - 1) / (2 * 4000 * np.log(2))
    assert ours == pytest.approx(mutual_info_score(x, y) / np.log(2) - bias, abs=1e-12)


def test_codes_keep_missing_apart_and_bin_constant_columns_once() -> None:
    codes = _codes(pd.Series([1.0, np.nan, 1.0, 1.0]), 10)
    assert len(set(codes[[0, 2, 3]])) == 1 and codes[1] != codes[0]
    cats = _codes(pd.Series(["a", None, "b", "a"], dtype=object), 10)
    assert cats[0] == cats[3] and len({cats[0], cats[1], cats[2]}) == 3
