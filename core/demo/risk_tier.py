"""The demo's ``risk-tier``: a multiclass model sorting applications into low / medium / high.

The world: each application has a class ``y`` (its true tier) and two standardised signals
``z ~ N(μ_y, I)``, logged as ``debt_ratio`` and ``utilization`` (linear transforms of ``z``);
``segment`` is noise. The model (version ``"1"``, champion) answers the exact posterior
``P(y | z)`` under January's class priors, so it is calibrated on the reference. Then, with
day numbers counted from 0:

- from ``CONCEPT_DAY`` (60) a third of the applications of true tier ``medium`` default
  like ``high`` ones and are resolved as ``high`` (a concept change in one class: the
  probability–label relation of ``medium`` changes, the features do not). Realized
  macro-F1 falls; the estimate, which trusts the old relation, stays where it was. The
  label distribution moves with it (more ``high``);
- from ``PRIOR_SHIFT_DAY`` (85) the class priors move from (0.5, 0.3, 0.2) to
  (0.2, 0.3, 0.5): the features, the class probabilities and the predicted classes drift.

Labels (the resolved tier) arrive 7–14 days after the application; those not arrived by
the end are NULL. The score columns are the model's own (``p_low`` … and the predicted and
true tier as strings): the shared ``score`` / ``prediction`` / ``label`` stay NULL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.demo import recipe as r

NAME = "risk-tier"
VERSION = "1"
CLASSES = ("low", "medium", "high")
PROBABILITY_COLUMNS = {c: f"p_{c}" for c in CLASSES}
PREDICTED, TRUE = "predicted_tier", "true_tier"
PRIORS = np.array([0.5, 0.3, 0.2])
SHIFTED_PRIORS = np.array([0.2, 0.3, 0.5])
MEANS = np.array([[0.0, 0.0], [1.5, 0.5], [0.7, 1.8]])
CONCEPT_DAY, PRIOR_SHIFT_DAY = 60, 85
CONCEPT_SHARE = 1.0 / 3.0  # of true ``medium``: resolved as ``high`` from CONCEPT_DAY
SEGMENTS = ("retail", "small-business", "corporate")
SEGMENT_P = (0.6, 0.3, 0.1)
MISSING_RATE = 0.005
LABEL_DELAY_DAYS = (7.0, 14.0)

FEATURES = {
    "debt_ratio": ("numerical", pa.float64()),
    "utilization": ("numerical", pa.float64()),
    "segment": ("categorical", pa.string()),
}
#: This model's outcome columns (its own; the shared score/prediction/label are NULL).
OUTCOMES = (*PROBABILITY_COLUMNS.values(), PREDICTED, TRUE, "label_ts", "latency_ms")
OUTCOME_TYPES = {
    **{c: pa.float64() for c in PROBABILITY_COLUMNS.values()},
    PREDICTED: pa.string(),
    TRUE: pa.string(),
}


def posteriors(z: np.ndarray, priors: np.ndarray = PRIORS) -> np.ndarray:
    """The model: P(class | z) under ``priors`` (January's), rows summing to 1."""
    log_post = np.log(priors) - 0.5 * ((z[:, None, :] - MEANS[None]) ** 2).sum(axis=2)
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    out: np.ndarray = post / post.sum(axis=1, keepdims=True)
    return out


def _draw(rows_per_day: int, seed: int) -> dict[str, Any]:
    """Every per-request quantity, in a fixed draw order (the recipe)."""
    _, rng = r.model_streams(seed, NAME)
    ts = r.diurnal_timestamps(rng, rows_per_day, peak_hour=14.0)
    n = len(ts)
    t = (ts - r.START_US) / r.US_PER_DAY
    shifted = t >= PRIOR_SHIFT_DAY
    y = np.where(
        shifted, r.draw_codes(rng, SHIFTED_PRIORS, n), r.draw_codes(rng, PRIORS, n)
    ).astype(np.int32)
    z = MEANS[y] + rng.standard_normal((n, 2))
    proba = posteriors(z)
    moved = (t >= CONCEPT_DAY) & (y == 1) & r.bernoulli(rng, CONCEPT_SHARE, n)
    outcome = np.where(moved, 2, y).astype(np.int32)
    segment = r.draw_codes(rng, SEGMENT_P, n)
    label_ts = r.arrival(rng, ts, *LABEL_DELAY_DAYS)
    latency = 4.0 + rng.gamma(2.0, 3.0, n)
    missing = {name: r.bernoulli(rng, MISSING_RATE, n) for name in FEATURES}
    return {
        "ts": ts,
        "t": t,
        "y": y,
        "outcome": outcome,
        "proba": proba,
        "predicted": proba.argmax(axis=1).astype(np.int32),
        "debt_ratio": np.round(0.35 + 0.12 * z[:, 0], 4),
        "utilization": np.round(0.4 + 0.15 * z[:, 1], 4),
        "segment": segment,
        "label_ts": label_ts,
        "arrived": label_ts <= r.AS_OF_US,
        "latency": latency,
        "missing": missing,
    }


def _table(d: dict[str, Any]) -> pa.Table:
    n = len(d["ts"])
    miss, arrived = d["missing"], d["arrived"]
    none = np.zeros(n, dtype=bool)
    return pa.table(
        {
            "request_id": r.hex_ids("rt-", np.arange(n)),
            "ts": r.timestamps(d["ts"]),
            "model": r.constant(NAME, n),
            "model_version": r.constant(VERSION, n),
            "debt_ratio": pa.array(d["debt_ratio"], mask=miss["debt_ratio"]),
            "utilization": pa.array(d["utilization"], mask=miss["utilization"]),
            "segment": r.categorical(d["segment"], SEGMENTS, miss["segment"]),
            **{
                column: pa.array(d["proba"][:, k])
                for k, column in enumerate(PROBABILITY_COLUMNS.values())
            },
            PREDICTED: r.categorical(d["predicted"], CLASSES, none),
            TRUE: r.categorical(d["outcome"], CLASSES, ~arrived),
            "label_ts": r.timestamps(d["label_ts"], ~arrived),
            "latency_ms": pa.array(np.round(d["latency"], 2)),
        }
    )


def _shares(codes: np.ndarray) -> list[float | None]:
    return [r.rounded((codes == k).mean(), 3) for k in range(len(CLASSES))]


def _macro_f1(y: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for k in range(len(CLASSES)):
        tp = float(((predicted == k) & (y == k)).sum())
        flagged, actual = float((predicted == k).sum()), float((y == k).sum())
        scores.append(2 * tp / (flagged + actual) if flagged + actual else 0.0)
    return float(np.mean(scores))


def _events(d: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    t, arrived, pred, out = d["t"], d["arrived"], d["predicted"], d["outcome"]
    before_concept = (t >= 31) & (t < CONCEPT_DAY) & arrived
    after_concept = (t >= CONCEPT_DAY) & (t < PRIOR_SHIFT_DAY) & arrived
    before_shift = t < PRIOR_SHIFT_DAY
    medium = d["y"] == 1
    return (
        r.event(
            "risk-tier-label-delay",
            NAME,
            "label_delay",
            0,
            r.DAYS,
            versions=[VERSION],
            magnitude={
                "min_days": LABEL_DELAY_DAYS[0],
                "max_days": LABEL_DELAY_DAYS[1],
                "distribution": "7 + 7 * (U1 + U2) / 2 days after ts, U uniform",
                "as_of": r.AS_OF,
            },
            measured={
                "labeled_share": r.rounded(arrived.mean()),
                "labeled_share_last_14_days": r.rounded(arrived[t >= r.DAYS - 14].mean()),
            },
            description="The tier is known once the application is resolved: 7-14 days.",
        ),
        r.event(
            "risk-tier-concept-change",
            NAME,
            "concept_change",
            CONCEPT_DAY,
            r.DAYS,
            versions=[VERSION],
            magnitude={
                "class": "medium",
                "resolved_as": "high",
                "share": round(CONCEPT_SHARE, 4),
                "features_change": False,
                "label_distribution_changes": True,
            },
            measured={
                "macro_f1_days_31_to_60": r.rounded(
                    _macro_f1(out[before_concept], pred[before_concept])
                ),
                "macro_f1_days_60_to_85": r.rounded(
                    _macro_f1(out[after_concept], pred[after_concept])
                ),
                "medium_resolved_high_share": r.rounded(
                    (out[medium & (t >= CONCEPT_DAY)] == 2).mean()
                ),
            },
            description=(
                "A third of true-medium applications default like high ones: the medium "
                "class's probability-label relation changes; the features do not move."
            ),
        ),
        r.event(
            "risk-tier-prior-shift",
            NAME,
            "prior_shift",
            PRIOR_SHIFT_DAY,
            r.DAYS,
            features=list(FEATURES)[:2],
            versions=[VERSION],
            magnitude={
                "classes": list(CLASSES),
                "priors_before": PRIORS.tolist(),
                "priors_after": SHIFTED_PRIORS.tolist(),
            },
            measured={
                "true_class_shares_before": _shares(d["y"][before_shift]),
                "true_class_shares_after": _shares(d["y"][~before_shift]),
                "predicted_class_shares_before": _shares(pred[before_shift]),
                "predicted_class_shares_after": _shares(pred[~before_shift]),
            },
            description=(
                "The class mix moves from (0.5, 0.3, 0.2) to (0.2, 0.3, 0.5): features, "
                "class probabilities and predicted classes drift."
            ),
        ),
    )


def generate(rows_per_day: int, seed: int) -> r.Generated:
    """The risk-tier model's telemetry (one champion version) and its planted events."""
    d = _draw(rows_per_day, seed)
    versions = {
        VERSION: {
            "role": "champion",
            "rows": len(d["ts"]),
            "first_day": 0,
            "latency_ms_mean": r.rounded(d["latency"].mean(), 2),
        }
    }
    return r.Generated(table=_table(d), events=_events(d), versions=versions)


MODEL = r.DemoModel(
    name=NAME,
    task="multiclass",
    versions={VERSION: "champion"},
    features={k: kind for k, (kind, _) in FEATURES.items()},
    feature_types={k: t for k, (_, t) in FEATURES.items()},
    threshold=0.5,  # unused by a multiclass model (the predicted class is the argmax)
    reference_version=VERSION,
    volume_ratio=0.1,
    slices=(),
    gate={"primary_metric": "macro_f1"},
    description=(
        "Credit risk tier (low / medium / high); a concept change in medium from day 60, "
        "a class-prior shift from day 85."
    ),
    generate=generate,
    outcomes=OUTCOMES,
    outcome_types=OUTCOME_TYPES,
    class_probabilities=PROBABILITY_COLUMNS,
    prediction=PREDICTED,
    label=TRUE,
)
