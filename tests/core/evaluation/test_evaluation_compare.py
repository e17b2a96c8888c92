"""Champion vs challenger: McNemar, the shadow join on request id, paired statistics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from watchkeeper.core.evaluation.compare import compare, join_shadow, mcnemar
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate


def test_mcnemar_equals_scipys_exact_binomial_test() -> None:
    rng = np.random.default_rng(4)
    for n in (30, 300, 3000):
        y = (rng.random(n) < 0.5).astype(float)
        a = np.where(rng.random(n) < 0.8, y, 1 - y)
        b = np.where(rng.random(n) < 0.75, y, 1 - y)
        m = mcnemar(y, a, b)
        k = min(m.champion_only, m.challenger_only)
        expected = stats.binomtest(k, m.champion_only + m.challenger_only, 0.5).pvalue
        assert m.p_value == pytest.approx(expected, rel=1e-9)


def test_shadow_pairs_join_on_request_id_and_paired_statistics() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    y = (rng.random(n) < 0.3).astype(float)
    shared = rng.normal(size=n)
    ids = [f"r{i:05d}" for i in range(n)]
    a = shared + 0.8 * y
    b = shared + 1.0 * y + 0.3 * rng.normal(size=n)
    rows = pa.table(
        {
            "request_id": ids + ids[::-1][: n - 10],  # 10 challenger rows never scored
            "model_version": ["1"] * n + ["2"] * (n - 10),
            "score": np.concatenate([a, b[::-1][: n - 10]]),
            "label": pa.array(np.concatenate([y, y[::-1][: n - 10]])),
            "seg": ["s"] * (2 * n - 10),
        }
    )
    joined = join_shadow(rows.take(rng.permutation(rows.num_rows)), "1", "2", carry=["seg"])
    assert joined.num_rows == n - 10
    assert joined.column("request_id").to_pylist() == sorted(ids[10:])
    np.testing.assert_allclose(joined.column("score_a").to_numpy(), a[10:])
    np.testing.assert_allclose(joined.column("score_b").to_numpy(), b[10:])
    seg = SlicePredicate("all", (Condition("seg", "eq", "s"),))
    c = compare(joined, threshold=0.5, metrics=("roc_auc", "brier"), slices=[seg], n_boot=300)
    d = c.differences["roc_auc"]
    assert d.lower < d.value < d.upper and d.method == "delong"
    # per-slice delta over a slice holding everything equals the overall delta
    assert c.slice_delta("all").difference.value == pytest.approx(d.value)
    # the paired bootstrap of ΔAUC agrees with DeLong's paired interval (same width ±25 %)
    from watchkeeper.core.evaluation.compare import paired_bootstrap
    from watchkeeper.core.evaluation.metrics import Prepared

    yy = joined.column("label").to_numpy()
    pa_, pb_ = (
        Prepared(yy, joined.column("score_a").to_numpy()),
        Prepared(yy, joined.column("score_b").to_numpy()),
    )
    boot = paired_bootstrap("roc_auc", pa_, pb_, n_boot=400, seed=1)
    assert (boot.upper - boot.lower) == pytest.approx(d.upper - d.lower, rel=0.25)
    assert 0.5 < c.agreement <= 1 and c.pearson > 0.5 and c.spearman > 0.5
