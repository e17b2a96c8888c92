"""The demo's ``churn-model``: a healthy model, so the portfolio has something calm in it.

One version (``"3"``, champion), about a tenth of the fraud detector's volume, features of
another kind (tenure, charges, support calls, plan, region). Nothing breaks: the only
change is a mild weekly cycle in ``support_calls`` (more calls early in the week), well
below the drift thresholds. Churn is known only when the 30-day churn window has closed,
so labels arrive 30-35 days after the request and the last month is unlabeled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.demo import recipe as r

NAME = "churn-model"
VERSION = "3"
THRESHOLD = 0.25
PLANS = ("basic", "plus", "premium")
PLAN_P = (0.5, 0.35, 0.15)
PLAN_PRICE = np.array([25.0, 45.0, 80.0])
PLAN_RISK = np.array([0.3, 0.0, -0.4])
REGIONS = ("north", "south", "east", "west", "central")
REGION_P = (0.25, 0.2, 0.2, 0.2, 0.15)
REGION_RISK = np.array([0.0, 0.1, -0.1, 0.05, 0.0])
INTERCEPT = -2.6
SD_UNSEEN = 0.8
MISSING_RATE = 0.005
CALLS_MEAN, WEEKLY_AMPLITUDE = 0.9, 0.1
FIRST_WEEKDAY = 3  # 2026-01-01 is a Thursday (Monday = 0)
LABEL_DELAY_DAYS = (30.0, 35.0)

FEATURES = {
    "tenure_months": ("numerical", pa.int32()),
    "monthly_charges": ("numerical", pa.float64()),
    "support_calls": ("numerical", pa.int32()),
    "plan": ("categorical", pa.string()),
    "region": ("categorical", pa.string()),
}


def _draw(rows_per_day: int, seed: int) -> dict[str, Any]:
    """Every per-request quantity, in a fixed draw order (the recipe)."""
    _, rng = r.model_streams(seed, NAME)
    ts = r.diurnal_timestamps(rng, rows_per_day, peak_hour=11.0)
    n = len(ts)
    t = (ts - r.START_US) / r.US_PER_DAY
    weekday = (t.astype(np.int64) + FIRST_WEEKDAY) % 7
    tenure = np.minimum(np.floor(rng.exponential(26.0, n)), 72).astype(np.int32)
    plan = r.draw_codes(rng, PLAN_P, n)
    region = r.draw_codes(rng, REGION_P, n)
    charges = np.round(PLAN_PRICE[plan] * (1.0 + 0.08 * rng.standard_normal(n)), 2)
    weekly = 1.0 + WEEKLY_AMPLITUDE * np.cos(2.0 * np.pi * weekday / 7.0)
    calls = rng.poisson(CALLS_MEAN * weekly).astype(np.int32)
    m = (
        INTERCEPT
        - 0.9 * (np.log1p(tenure) - 2.8)
        + 0.02 * (charges - 45.0)
        + 0.55 * (calls - CALLS_MEAN)
        + PLAN_RISK[plan]
        + REGION_RISK[region]
    )
    label = r.bernoulli(rng, r.sigmoid(m + SD_UNSEEN * rng.standard_normal(n)), n)
    label_ts = r.arrival(rng, ts, *LABEL_DELAY_DAYS)
    latency = 2.0 + rng.gamma(2.0, 4.0, n)
    missing = {name: r.bernoulli(rng, MISSING_RATE, n) for name in FEATURES}
    return {
        "ts": ts,
        "t": t,
        "weekday": weekday,
        "tenure": tenure,
        "plan": plan,
        "region": region,
        "charges": charges,
        "calls": calls,
        "label": label,
        "label_ts": label_ts,
        "arrived": label_ts <= r.AS_OF_US,
        "score": r.calibrated(m, SD_UNSEEN),
        "latency": latency,
        "missing": missing,
    }


def _table(d: dict[str, Any]) -> pa.Table:
    n = len(d["ts"])
    miss, arrived = d["missing"], d["arrived"]
    return pa.table(
        {
            "request_id": r.hex_ids("cm-", np.arange(n)),
            "ts": r.timestamps(d["ts"]),
            "model": r.constant(NAME, n),
            "model_version": r.constant(VERSION, n),
            "tenure_months": pa.array(d["tenure"], mask=miss["tenure_months"]),
            "monthly_charges": pa.array(d["charges"], mask=miss["monthly_charges"]),
            "support_calls": pa.array(d["calls"], mask=miss["support_calls"]),
            "plan": r.categorical(d["plan"], PLANS, miss["plan"]),
            "region": r.categorical(d["region"], REGIONS, miss["region"]),
            "score": pa.array(d["score"]),
            "prediction": pa.array((d["score"] >= THRESHOLD).astype(np.int32)),
            "label": pa.array(d["label"].astype(np.int32), mask=~arrived),
            "label_ts": r.timestamps(d["label_ts"], ~arrived),
            "latency_ms": pa.array(np.round(d["latency"], 2)),
        }
    )


def _events(d: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    t, arrived, calls = d["t"], d["arrived"], d["calls"]
    seen = ~d["missing"]["support_calls"]
    by_weekday = [r.rounded(calls[seen & (d["weekday"] == k)].mean(), 3) for k in range(7)]
    ref = (t < 31) & arrived
    return (
        r.event(
            "churn-label-delay",
            NAME,
            "label_delay",
            0,
            r.DAYS,
            versions=[VERSION],
            magnitude={
                "min_days": LABEL_DELAY_DAYS[0],
                "max_days": LABEL_DELAY_DAYS[1],
                "distribution": "30 + 5 * (U1 + U2) / 2 days after ts, U uniform",
                "as_of": r.AS_OF,
            },
            measured={
                "labeled_share": r.rounded(arrived.mean()),
                "labeled_share_last_30_days": r.rounded(arrived[t >= r.DAYS - 30].mean()),
                "positive_rate": r.rounded(d["label"][arrived].mean()),
                "roc_auc_reference": r.rounded(r.roc_auc(d["label"][ref], d["score"][ref])),
            },
            description="Churn is known when the 30-day window closes: labels lag 30-35 days.",
        ),
        r.event(
            "churn-weekly-cycle",
            NAME,
            "seasonal_change",
            0,
            r.DAYS,
            features=["support_calls"],
            versions=[VERSION],
            magnitude={
                "support_calls_mean": CALLS_MEAN,
                "weekly_relative_amplitude": WEEKLY_AMPLITUDE,
                "peak_weekday": "Monday",
                "expected_decision": "ok",
            },
            measured={"support_calls_mean_by_weekday_mon_to_sun": by_weekday},
            description="A mild weekly cycle in support calls; not drift, nothing to act on.",
        ),
    )


def generate(rows_per_day: int, seed: int) -> r.Generated:
    """The churn model's telemetry (one champion version) and its truth."""
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
    task="binary",
    versions={VERSION: "champion"},
    features={k: kind for k, (kind, _) in FEATURES.items()},
    feature_types={k: t for k, (_, t) in FEATURES.items()},
    threshold=THRESHOLD,
    reference_version=VERSION,
    volume_ratio=0.1,
    slices=(
        {"name": "basic-plan", "where": {"plan": "basic"}},
        {"name": "premium-plan", "where": {"plan": "premium"}, "critical": True},
        {"name": "new-customers", "where": {"tenure_months": {"max": 6}}},
    ),
    gate={
        "primary_metric": "roc_auc",
        "threshold": THRESHOLD,
        "min_improvement": 0.0,
        "alpha": 0.05,
        "max_critical_slice_drop": 0.01,
        "min_labeled": 500,
    },
    description="Monthly churn risk; one healthy champion (version 3), a mild weekly cycle.",
    generate=generate,
)
