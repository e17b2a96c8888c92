"""A unit change between training and serving: the skew's Wasserstein against scipy's on the
raw samples, and why it reads 0.73 for a 100× change (the median ratio reads 0.01)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import wasserstein_distance

from watchkeeper.core.drift.skew import training_serving_skew


def test_cents_served_as_dollars() -> None:
    rng = np.random.default_rng(3)
    dollars_train = rng.lognormal(np.log(60), 1.0, 20_000)
    dollars_served = rng.lognormal(np.log(60), 1.0, 5_000)
    stable = rng.normal(0, 1, 20_000)
    training = pa.table({"amount": dollars_train * 100, "x": stable})  # logged in cents
    serving = pa.table({"amount": dollars_served, "x": rng.normal(0, 1, 5_000)})
    skew = training_serving_skew(
        training, serving, model="m", version="2", dataset="d", serving_span="s",
        features=["amount", "x"], numerical=["amount", "x"],
    )  # fmt: skip
    by = {f.name: f for f in skew.features}
    amount = by["amount"]
    assert [f.name for f in skew.skewed] == ["amount"]
    # exactly scipy's W1 on the raw samples, divided by the training std (ddof 0) ...
    w1 = wasserstein_distance(dollars_train * 100, dollars_served)
    assert amount.wasserstein_normalized == pytest.approx(
        w1 / (dollars_train * 100).std(), rel=1e-9
    )
    # ... which for a shrink cannot exceed mean ÷ std of the training values: small-looking
    cents = dollars_train * 100
    assert amount.wasserstein_normalized < cents.mean() / cents.std() < 1.0
    # the median ratio says what happened
    assert amount.median_ratio == pytest.approx(0.01, rel=0.05)
    assert by["x"].median_ratio is not None and by["x"].decision == "ok"
    assert skew.to_dict()["features"][0]["median_ratio"] == amount.median_ratio
