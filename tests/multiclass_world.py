"""A multiclass model's workspace as a user brings it: a Parquet file and a hand-written spec.

A triage model sorts requests into ``low``, ``medium`` and ``high``. Features ``x1``, ``x2``
are ``N(μ_class, I)``, ``channel`` is noise; the model's probabilities are the posteriors
under January's class priors (calibrated on the reference). Planted:

- from ``PRIOR_SHIFT_DAY`` the class priors move from (0.5, 0.3, 0.2) to (0.15, 0.25, 0.6):
  the features, the predicted classes, the probabilities and the labels drift (a prior
  shift also moves P(class | x), which the estimate, calibrated on January, does not follow);
- from ``CONCEPT_DAY`` half the requests of true class ``medium`` are resolved as ``low``
  (a concept change in one class): realized macro-F1 falls and the estimate, which trusts
  the old relation, does not see it.

Labels arrive two days after the request; those after ``AS_OF`` are not known yet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MODEL = "triage"
CLASSES = ("low", "medium", "high")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 70
PER_DAY = 120
PRIOR_SHIFT_DAY = 42
CONCEPT_DAY = 56
AS_OF = START + dt.timedelta(days=DAYS)
PRIORS = np.array([0.5, 0.3, 0.2])
SHIFTED = np.array([0.15, 0.25, 0.6])
MEANS = np.array([[0.0, 0.0], [1.6, 0.4], [0.6, 1.8]])

SPEC = """\
[model]
name = "triage"
task = "multiclass"

[telemetry]
source = "../telemetry.parquet"
version = "1"

[telemetry.columns]
model = ""
model_version = ""
score = ""
prediction = "predicted_tier"
label = "true_tier"
label_ts = "resolved_at"
features = ["x1", "x2", "channel"]
categorical = ["channel"]
class_probabilities = { low = "p_low", medium = "p_medium", high = "p_high" }

[reference]
kind = "window"
version = "1"
start = 2026-01-01
end = 2026-02-01

[drift]
window = "7d"

[gate]
primary_metric = "macro_f1"

[health]
window = "7d"
metric = "macro_f1"
min_labeled = 200
"""


def posteriors(x: np.ndarray, priors: np.ndarray = PRIORS) -> np.ndarray:
    """The model: P(class | x) under ``priors`` (the reference's), rows summing to 1."""
    log_post = np.log(priors) - 0.5 * ((x[:, None, :] - MEANS[None]) ** 2).sum(axis=2)
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(axis=1, keepdims=True)


def events(seed: int = 19) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = DAYS * PER_DAY
    day = np.repeat(np.arange(DAYS), PER_DAY)
    ts = [
        START + dt.timedelta(days=int(d), seconds=int(s))
        for d, s in zip(day, rng.integers(0, 86_400, n), strict=True)
    ]
    u = rng.random(n)
    shifted = day >= PRIOR_SHIFT_DAY
    y = np.where(
        shifted,
        np.searchsorted(np.cumsum(SHIFTED), u, side="right"),
        np.searchsorted(np.cumsum(PRIORS), u, side="right"),
    )
    y = np.minimum(y, 2)
    x = MEANS[y] + rng.normal(size=(n, 2))
    p = posteriors(x)
    outcome = y.copy()
    flipped = (day >= CONCEPT_DAY) & (y == 1) & (rng.random(n) < 0.5)
    outcome[flipped] = 0
    names = np.array(CLASSES)
    resolved = [t + dt.timedelta(days=2) for t in ts]
    known = np.array([r < AS_OF for r in resolved])
    return pa.table(
        {
            "request_id": [f"t{i:06d}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "x1": x[:, 0],
            "x2": x[:, 1],
            "channel": rng.choice(["web", "phone", "branch"], n).tolist(),
            "p_low": p[:, 0],
            "p_medium": p[:, 1],
            "p_high": p[:, 2],
            "predicted_tier": names[p.argmax(axis=1)].tolist(),
            "true_tier": [
                str(v) if k else None for v, k in zip(names[outcome], known, strict=True)
            ],
            "resolved_at": pa.array(
                [r if k else None for r, k in zip(resolved, known, strict=True)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def write_workspace(root: Path) -> Path:
    """``root/telemetry.parquet`` and ``root/specs/triage.toml``; returns the spec's path."""
    (root / "specs").mkdir(parents=True, exist_ok=True)
    pq.write_table(events(), root / "telemetry.parquet")
    spec = root / "specs" / f"{MODEL}.toml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec
