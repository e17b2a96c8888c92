"""Slices and worst-slice discovery on a multiclass metric: a planted bad slice is found
first, and a slice's metrics are scikit-learn's on its rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as sk

from watchkeeper.core.evaluation.multiclass_slices import ClassColumns
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.slices import slice_metrics
from watchkeeper.core.evaluation.worst_slices import find_worst_slices

CLASSES = ("low", "medium", "high")
OUTCOMES = ClassColumns({"low": "p low", "medium": "p_medium", "high": "p_high"}, "tier", "pred")


def _world(seed: int, n: int = 9000) -> pa.Table:
    """Three classes; where ``region == "north"`` the model's probabilities carry almost no
    signal (predictions there are near chance)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    channel = rng.choice(["web", "phone"], n)
    age = rng.normal(40, 10, n)
    strength = np.where(region == "north", 0.15, 2.5)
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += strength
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    names = np.array(CLASSES)
    labels = [str(v) if rng.random() > 0.05 else None for v in names[y]]  # some unlabeled
    return pa.table(
        {
            "region": region,
            "channel": channel,
            "age": age,
            "p low": p[:, 0],
            "p_medium": p[:, 1],
            "p_high": p[:, 2],
            "pred": names[p.argmax(axis=1)].tolist(),
            "tier": labels,
        }
    )


@pytest.mark.parametrize("metric", ["macro_f1", "balanced_accuracy", "accuracy", "roc_auc"])
def test_a_planted_bad_slice_is_found_first_on_a_multiclass_metric(metric: str) -> None:
    table = _world(3)
    worst = find_worst_slices(
        table,
        ["region", "channel", "age"],
        metric=metric,
        outcomes=OUTCOMES,
        categorical=["region", "channel"],
        max_pair_features=2,
    )
    top = worst.candidates[0]
    assert top.predicate.label == "region=north", [c.predicate.label for c in worst.candidates]
    assert top.significant and top.explained_by is None
    assert top.estimate.lower <= top.estimate.value <= top.estimate.upper
    # the only significant single-feature finding is the planted one
    singles = [c.predicate.label for c in worst.significant if len(c.features) == 1]
    assert singles == ["region=north"]
    # pairs were searched among the two strongest of three features, and said so
    assert any("pairs searched among the 2 of 3" in n for n in worst.notes)
    # the candidate's value is scikit-learn's on the slice's labeled rows
    frame = table.to_pandas()
    rows = frame[(frame.region == "north") & frame.tier.notna()]
    p = rows[["p low", "p_medium", "p_high"]].to_numpy()
    expected = {
        "macro_f1": lambda: sk.f1_score(rows.tier, rows.pred, average="macro"),
        "balanced_accuracy": lambda: sk.balanced_accuracy_score(rows.tier, rows.pred),
        "accuracy": lambda: sk.accuracy_score(rows.tier, rows.pred),
        "roc_auc": lambda: sk.roc_auc_score(  # scikit-learn wants the labels sorted
            rows.tier, p[:, [2, 0, 1]], multi_class="ovr", labels=sorted(CLASSES)
        ),
    }[metric]()
    assert top.estimate.value == pytest.approx(expected, abs=1e-12)
    assert top.support == len(rows)
    assert top.positives == int((rows.tier == rows.pred).sum())  # events predicted right


def test_slice_metrics_on_a_multiclass_model_equal_sklearn() -> None:
    table = _world(5, 4000)
    north = SlicePredicate("north", (Condition("region", "eq", "north"),), critical=True)
    web = SlicePredicate("web", (Condition("channel", "eq", "web"),))
    result = slice_metrics(
        table,
        [north, web],
        metrics=("macro_f1", "accuracy", "weighted_f1", "balanced_accuracy", "log_loss", "brier"),
        outcomes=OUTCOMES,
    )
    frame = table.to_pandas()
    labeled = frame.tier.notna()
    assert result.labeled == int(labeled.sum()) and result.positives is None
    for pred, mask in ((north, frame.region == "north"), (web, frame.channel == "web")):
        row = result.row(pred.name)
        rows = frame[mask & labeled]
        assert row.support == int(mask.sum()) and row.labeled == len(rows)
        assert row.positives is None
        p = rows[["p low", "p_medium", "p_high"]].to_numpy()
        onehot = (rows.tier.to_numpy()[:, None] == np.array(CLASSES)[None]).astype(float)
        want = {
            "macro_f1": sk.f1_score(rows.tier, rows.pred, average="macro"),
            "weighted_f1": sk.f1_score(rows.tier, rows.pred, average="weighted"),
            "accuracy": sk.accuracy_score(rows.tier, rows.pred),
            "balanced_accuracy": sk.balanced_accuracy_score(rows.tier, rows.pred),
            "log_loss": sk.log_loss(rows.tier, p[:, [2, 0, 1]], labels=sorted(CLASSES)),
            "brier": float(((p - onehot) ** 2).sum(axis=1).mean()),
        }
        for name, value in want.items():
            est = row.metrics[name]
            assert est.value == pytest.approx(value, abs=1e-12), name
            assert est.lower < est.value < est.upper, name
        delta = row.delta["macro_f1"]
        assert delta == pytest.approx(
            row.metrics["macro_f1"].value - result.overall["macro_f1"].value
        )
    assert result.row("north").delta["macro_f1"] < -0.3  # the planted slice is much worse


@pytest.mark.parametrize("metric", ["macro_f1", "balanced_accuracy", "weighted_f1", "roc_auc"])
def test_a_candidates_standard_error_matches_the_bootstrap(metric: str) -> None:
    """Discovery's cheap standard error (grouped jackknife; DeLong's placements for AUC) is
    the bootstrap's within 15 % on 3,000 events."""
    from watchkeeper.core.evaluation.intervals import bootstrap_counts
    from watchkeeper.core.evaluation.multiclass import _from_confusion
    from watchkeeper.core.evaluation.multiclass_slices import candidate_stats

    table = _world(8, 3300)
    enc = OUTCOMES.read(table).encoded()
    value, se, _, method = candidate_stats(metric, enc, seed=1)
    assert method == ("delong" if metric == "roc_auc" else "jackknife")
    rng = np.random.default_rng(4)
    reps = []
    for _ in range(400):
        w = bootstrap_counts(rng, enc.n)
        reps.append(
            enc.roc_auc(w) if metric == "roc_auc" else _from_confusion(enc.confusion(w))[metric]
        )
    assert se == pytest.approx(float(np.std(reps, ddof=1)), rel=0.15)
    whole = enc.roc_auc() if metric == "roc_auc" else _from_confusion(enc.confusion())[metric]
    assert value == pytest.approx(whole, abs=1e-12)


def test_the_stacked_confusion_metrics_equal_one_matrix_at_a_time() -> None:
    from watchkeeper.core.evaluation.multiclass import _from_confusion
    from watchkeeper.core.evaluation.multiclass_slices import _stacked

    rng = np.random.default_rng(0)
    c = rng.integers(0, 20, (50, 4, 4)).astype(float)
    c[3, 2, :] = 0  # a class never the label
    c[4, :, 1] = 0  # a class never predicted
    c[5, 1, :] = c[5, :, 1] = 0  # a class absent
    for metric in ("balanced_accuracy", "macro_f1", "weighted_f1"):
        one_by_one = [_from_confusion(m)[metric] for m in c]
        np.testing.assert_allclose(_stacked(metric, c), one_by_one, rtol=0, atol=1e-15)
