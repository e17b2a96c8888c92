"""The ``[health]`` spec section, and model health per window on the demo workspace."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from watchkeeper.core.errors import SpecError
from watchkeeper.core.evaluation.model_health import model_health
from watchkeeper.core.spec import parse_spec

BASE = """
[model]
name = "m"

[telemetry]
source = "t.parquet"
"""

DAY80 = dt.datetime(2026, 3, 22, tzinfo=dt.UTC)  # the demo's concept change on web


def test_health_defaults() -> None:
    h = parse_spec(BASE).health
    assert (h.metric, h.tolerance, h.persistence, h.window) == (None, 0.02, 2, None)
    assert h.estimate and h.min_labeled == 200 and not h.use_interval
    full = parse_spec(
        BASE
        + '[health]\nmetric = "precision"\ntolerance = 0.05\npersistence = 3\nwindow = "7d"\n'
        + "min_labeled = 50\nestimate = false\nuse_interval = true\n"
    ).health
    assert (full.metric, full.tolerance, full.persistence, full.window) == (
        "precision",
        0.05,
        3,
        "7d",
    )
    assert not full.estimate and full.use_interval and full.min_labeled == 50


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tolerence = 0.1", "health.tolerence: unknown key (did you mean 'tolerance'?)"),
        ("tolerance = -0.1", "health.tolerance: Input should be greater than or equal to 0"),
        ("persistence = 0", "health.persistence: Input should be greater than or equal to 1"),
        ('metric = "mae"', "health.metric: Input should be"),
        ('window = "weekly"', "'weekly' is not a window spec"),
        ('window = "0d"', "must be at least 1 d"),
        ('metric = "log_loss"', "log_loss cannot be estimated without labels"),
        ("min_labeled = 0", "health.min_labeled: Input should be greater than or equal to 1"),
        ('estimate = "maybe"', "health.estimate: Input should be a valid boolean"),
    ],
)
def test_bad_health_keys_are_named(body: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(BASE + "[health]\n" + body + "\n")
    assert message in str(err.value)
    parse_spec(BASE + '[health]\nmetric = "log_loss"\nestimate = false\n')  # fine without CBPE


def _spec(root: Path, model: str, health: str):
    path = root / "specs" / f"{model}.toml"
    return parse_spec(path.read_text() + "\n[health]\n" + health, base_dir=path.parent)


def test_fraud_alerts_after_the_planted_events_and_churn_does_not(demo_workspace: Path) -> None:
    fraud = model_health(
        _spec(
            demo_workspace,
            "fraud-detector",
            'metric = "precision"\nwindow = "7d"\ntolerance = 0.05\npersistence = 2\n',
        )
    )
    assert fraud.metric == "precision" and fraud.window == "7d"
    alerts = [w for w in fraud.windows if w.state == "alert"]
    assert alerts, [(w.start, w.drift, w.moved) for w in fraud.windows]
    assert all(w.start >= DAY80 for w in alerts)  # only after the concept change
    assert all(w.state in ("ok", "watch") for w in fraud.windows if w.end <= DAY80)
    for w in alerts:  # an alert has both: drift and a performance drop
        assert w.drift == "drift" and w.moved and w.drift_features
        assert w.performance.value < fraud.baseline.value - 0.05
    sources = {w.performance_source for w in fraud.windows}
    assert "realized" in sources and "estimated" in sources  # the last week's labels are late
    doc = fraud.to_dict()
    assert doc["windows"][0]["state"] in ("ok", "watch", "insufficient")
    churn = model_health(_spec(demo_workspace, "churn-model", 'window = "7d"\n'))
    assert churn.metric == "roc_auc"  # [gate] primary_metric
    assert set(churn.states) <= {"ok", "watch", "insufficient"}
    assert churn.states.count("ok") > len(churn.states) / 2
