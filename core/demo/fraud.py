"""The demo's ``fraud-detector``: a card-fraud model with every kind of trouble planted.

The world: each request has features, a logit ``m`` the models can compute from them, and
two pieces of signal no feature carries — ``e1`` (which challenger version 2 learnt to
see) and ``e2`` (which nobody sees). The label is drawn from ``sigmoid(m + e1 + e2)``, so
version 1's score ``E[sigmoid(m + e1 + e2) | m]`` is calibrated on the reference period,
and version 2's ``E[sigmoid(m + e1 + e2) | m + e1]`` is calibrated and sharper. Then, with
day numbers counted from 0 (day 0 is 2026-01-01):

- from day 60 the log-mean of ``amount`` rises steadily (gradual drift);
- from day 80, on ``channel == "web"`` only, fraud moves to small amounts: the amount term
  of the true logit flips sign, so version 1's precision at the threshold drops on web;
- from day 90 version 2 scores every request in shadow; it is better overall but on
  ``channel == "pos"`` it ignores amount, distance, merchant history and ``e1`` (a
  critical slice: lower ROC AUC than version 1 there, and under-scored);
- from day 95 the telemetry pipeline breaks: ``device_type`` ``"mobile"`` is logged as
  ``"Mobile"`` and ``distance_from_home_km`` goes 30 % missing. The models still scored the
  true values — only the log is wrong — so scores do not move, the monitor has to notice;
- labels arrive 3–30 days after the request; those not arrived by the end are NULL.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.demo import recipe as r

NAME = "fraud-detector"
THRESHOLD = 0.2

CHANNELS = ("web", "app", "pos")
CHANNEL_P = (0.35, 0.45, 0.20)
DEVICES = ("desktop", "mobile", "tablet", "pos_terminal", "other", "Mobile")
DEVICE_P = np.array(  # P(device | channel); "Mobile" only appears through the incident
    [
        [0.55, 0.30, 0.12, 0.00, 0.03, 0.0],
        [0.00, 0.80, 0.17, 0.00, 0.03, 0.0],
        [0.00, 0.00, 0.00, 0.97, 0.03, 0.0],
    ]
)
# fmt: off
COUNTRIES = (
    "US", "GB", "DE", "FR", "CA", "ES", "IT", "NL", "AU", "BR", "MX", "IN", "JP", "PL", "SE",
    "BE", "CH", "AT", "IE", "PT", "DK", "NO", "FI", "CZ", "RO", "HU", "GR", "TR", "ZA", "AR",
    "CO", "CL", "PE", "NG", "KE", "EG", "MA", "SA", "AE", "IL", "SG", "MY", "TH", "ID", "PH",
    "VN", "KR", "TW", "HK", "NZ", "UA", "BG", "HR", "SK", "SI", "LT", "LV", "EE", "IS", "LU",
)
# fmt: on
N_MERCHANTS = 5000
MISSING_RATE = 0.01

LOG_AMOUNT_MEAN = 3.9  # median amount ≈ 49 before the drift
CHANNEL_AMOUNT = np.array([0.2, 0.0, -0.3])
CHANNEL_DISTANCE = np.array([0.3, 0.0, -0.8])
CHANNEL_RISK = np.array([0.4, 0.0, -0.4])
DEVICE_RISK = np.array([0.0, 0.1, 0.0, 0.0, 0.6, 0.1])
INTERCEPT = -5.2
BETA_AMOUNT = 0.7
SD_SEEN_BY_V2 = 0.9  # e1
SD_UNSEEN = 0.5  # e2

DRIFT_DAY, DRIFT_PER_DAY = 60, 0.01
CONCEPT_DAY = 80
SHADOW_DAY = 90
INCIDENT_DAY, INCIDENT_MISSING = 95, 0.30
LABEL_DELAY_DAYS = (3.0, 30.0)

FEATURES = {
    "amount": ("numerical", pa.float64()),
    "account_age_days": ("numerical", pa.int32()),
    "txn_count_24h": ("numerical", pa.int32()),
    "distance_from_home_km": ("numerical", pa.float64()),
    "hour_of_day": ("categorical", pa.int32()),
    "channel": ("categorical", pa.string()),
    "device_type": ("categorical", pa.string()),
    "country": ("categorical", pa.string()),
    "merchant_id": ("categorical", pa.string()),
}


def _world(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fixed catalogues: merchant ids and risks, country risks (independent of volume)."""
    numbers = rng.permutation(90_000)[:N_MERCHANTS] + 10_000
    return {
        "merchants": np.array([f"M{k}" for k in numbers]),
        "merchant_risk": rng.normal(0.0, 0.7, N_MERCHANTS),
        "country_risk": rng.normal(0.0, 0.5, len(COUNTRIES)),
    }


def _draw(rows_per_day: int, seed: int) -> dict[str, Any]:
    """Every per-request quantity, in a fixed draw order (the recipe)."""
    world_rng, rng = r.model_streams(seed, NAME)
    world = _world(world_rng)
    ts = r.diurnal_timestamps(rng, rows_per_day, peak_hour=15.0)
    n = len(ts)
    t = (ts - r.START_US) / r.US_PER_DAY
    hour = ((ts // r.US_PER_HOUR) % 24).astype(np.int32)
    channel = r.draw_codes(rng, CHANNEL_P, n)
    device = r.draw_conditional_codes(rng, DEVICE_P, channel)
    country = r.draw_codes(rng, r.zipf_probs(len(COUNTRIES), 1.1), n)
    merchant = r.draw_codes(rng, r.zipf_probs(N_MERCHANTS, 0.9), n)
    drift = DRIFT_PER_DAY * np.clip(t - DRIFT_DAY, 0.0, None)
    z_amount = CHANNEL_AMOUNT[channel] + drift + rng.standard_normal(n)
    amount = np.maximum(np.round(np.exp(LOG_AMOUNT_MEAN + z_amount), 2), 0.5)
    age = np.floor(rng.exponential(700.0, n)).astype(np.int32)
    txn = rng.negative_binomial(1.5, 0.4, n).astype(np.int32)
    distance = np.round(np.exp(2.0 + CHANNEL_DISTANCE[channel] + 1.1 * rng.standard_normal(n)), 2)
    terms = {
        "amount": BETA_AMOUNT * z_amount,
        "age": -0.45 * (np.log1p(age) - 6.0),
        "txn": 0.2 * (txn - 2.25),
        "distance": 0.45 * (np.log1p(distance) - 2.1),
        "merchant": world["merchant_risk"][merchant],
    }
    m = (
        INTERCEPT
        + sum(terms.values())
        + 0.7 * (hour < 6)
        + CHANNEL_RISK[channel]
        + DEVICE_RISK[device]
        + world["country_risk"][country]
    )
    e1 = SD_SEEN_BY_V2 * rng.standard_normal(n)
    e2 = SD_UNSEEN * rng.standard_normal(n)
    concept = (channel == 0) & (t >= CONCEPT_DAY)
    true_logit = m + e1 + e2 - 2.0 * concept * terms["amount"]
    label = r.bernoulli(rng, r.sigmoid(true_logit), n)
    label_ts = r.arrival(rng, ts, *LABEL_DELAY_DAYS)
    # Version 2 on pos: blind to amount, distance and merchant, and to e1.
    pos = channel == 2
    blind = terms["amount"] + terms["distance"] + terms["merchant"]
    est2 = m + e1 - pos * (blind + e1)
    missing = {name: r.bernoulli(rng, MISSING_RATE, n) for name in FEATURES}
    extra = (INCIDENT_MISSING - MISSING_RATE) / (1 - MISSING_RATE)
    missing["distance_from_home_km"] |= (t >= INCIDENT_DAY) & r.bernoulli(rng, extra, n)
    logged_device = np.where((device == 1) & (t >= INCIDENT_DAY), 5, device).astype(np.int32)
    return {
        "world": world,
        "ts": ts,
        "t": t,
        "hour": hour,
        "channel": channel,
        "device": logged_device,
        "country": country,
        "merchant": merchant,
        "amount": amount,
        "age": age,
        "txn": txn,
        "distance": distance,
        "label": label,
        "label_ts": label_ts,
        "arrived": label_ts <= r.AS_OF_US,
        "score1": r.calibrated(m, float(np.hypot(SD_SEEN_BY_V2, SD_UNSEEN))),
        "score2": r.calibrated(est2, SD_UNSEEN),
        "latency1": 4.0 + rng.gamma(3.0, 5.0, n),
        "latency2": 6.0 + rng.gamma(3.0, 7.0, n),
        "missing": missing,
    }


def _table(d: dict[str, Any]) -> pa.Table:
    """Champion rows, each followed by its shadow row from day 90, as an Arrow table."""
    n = len(d["ts"])
    idx, shadow = r.expand_shadow(n, d["t"] >= SHADOW_DAY)
    miss = {k: v[idx] for k, v in d["missing"].items()}
    score = np.where(shadow, d["score2"][idx], d["score1"][idx])
    arrived = d["arrived"][idx]
    version = r.categorical(shadow.astype(np.int32), ("1", "2"), np.zeros(len(idx), bool))
    features = {
        "amount": pa.array(d["amount"][idx], mask=miss["amount"]),
        "account_age_days": pa.array(d["age"][idx], mask=miss["account_age_days"]),
        "txn_count_24h": pa.array(d["txn"][idx], mask=miss["txn_count_24h"]),
        "distance_from_home_km": pa.array(d["distance"][idx], mask=miss["distance_from_home_km"]),
        "hour_of_day": pa.array(d["hour"][idx], mask=miss["hour_of_day"]),
        "channel": r.categorical(d["channel"][idx], CHANNELS, miss["channel"]),
        "device_type": r.categorical(d["device"][idx], DEVICES, miss["device_type"]),
        "country": r.categorical(d["country"][idx], COUNTRIES, miss["country"]),
        "merchant_id": r.categorical(
            d["merchant"][idx], d["world"]["merchants"], miss["merchant_id"]
        ),
    }
    latency = np.where(shadow, d["latency2"][idx], d["latency1"][idx])
    columns = {
        "request_id": r.hex_ids("fd-", idx),
        "ts": r.timestamps(d["ts"][idx]),
        "model": r.constant(NAME, len(idx)),
        "model_version": version,
        **features,
        "score": pa.array(score),
        "prediction": pa.array((score >= THRESHOLD).astype(np.int32)),
        "label": pa.array(d["label"][idx].astype(np.int32), mask=~arrived),
        "label_ts": r.timestamps(d["label_ts"][idx], ~arrived),
        "latency_ms": pa.array(np.round(latency, 2)),
    }
    return pa.table(columns)


def _window(d: dict[str, Any], lo: float, hi: float) -> np.ndarray:
    return (d["t"] >= lo) & (d["t"] < hi)


def _events(d: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The planted events, each with its recipe magnitude and what the data really shows."""
    t, lab, arrived = d["t"], d["label"], d["arrived"]
    amount_seen = ~d["missing"]["amount"]
    before, last_week = _window(d, 0, DRIFT_DAY) & amount_seen, _window(d, r.DAYS - 7, r.DAYS)
    last_week &= amount_seen
    log_amount = np.log(d["amount"])
    late = t >= INCIDENT_DAY
    device_seen = ~d["missing"]["device_type"]
    pred1 = d["score1"] >= THRESHOLD

    def precision_in(channel: int, lo: float, hi: float) -> float | None:
        rows = _window(d, lo, hi) & arrived & (d["channel"] == channel)
        return r.rounded(r.precision(lab[rows], pred1[rows]))

    shadow = (t >= SHADOW_DAY) & arrived
    pos = d["channel"] == 2
    auc = {
        f"roc_auc_v{v}{suffix}": r.rounded(r.roc_auc(lab[rows], d[f"score{v}"][rows]))
        for suffix, rows in (("", shadow), ("_pos", shadow & pos), ("_not_pos", shadow & ~pos))
        for v in (1, 2)
    }
    end = r.DAYS
    return (
        r.event(
            "fraud-amount-drift",
            NAME,
            "gradual_drift",
            DRIFT_DAY,
            end,
            features=["amount"],
            versions=["1", "2"],
            magnitude={
                "log_mean_shift_per_day": DRIFT_PER_DAY,
                "log_mean_shift_at_end": DRIFT_PER_DAY * (end - DRIFT_DAY),
                "mean_ratio_at_end": r.rounded(np.exp(DRIFT_PER_DAY * (end - DRIFT_DAY))),
            },
            measured={
                "mean_amount_days_0_60": r.rounded(d["amount"][before].mean(), 2),
                "mean_amount_last_7_days": r.rounded(d["amount"][last_week].mean(), 2),
                "log_mean_shift_last_7_days": r.rounded(
                    log_amount[last_week].mean() - log_amount[before].mean()
                ),
            },
            description="The log-mean of amount rises linearly from day 60 to the end.",
        ),
        r.event(
            "fraud-pipeline-incident",
            NAME,
            "pipeline_incident",
            INCIDENT_DAY,
            end,
            features=["device_type", "distance_from_home_km"],
            versions=["1", "2"],
            magnitude={
                "renamed_categories": {"device_type": {"mobile": "Mobile"}},
                "missing_rate_before": {"distance_from_home_km": MISSING_RATE},
                "missing_rate_after": {"distance_from_home_km": INCIDENT_MISSING},
                "scores_affected": False,
            },
            measured={
                "device_type_unseen_share_after": r.rounded(
                    (d["device"][late & device_seen] == 5).mean()
                ),
                "distance_missing_rate_before": r.rounded(
                    d["missing"]["distance_from_home_km"][~late].mean()
                ),
                "distance_missing_rate_after": r.rounded(
                    d["missing"]["distance_from_home_km"][late].mean()
                ),
            },
            description=(
                "A logging change: device_type 'mobile' arrives as 'Mobile' and "
                "distance_from_home_km is 30% missing. The models scored the true values."
            ),
        ),
        r.event(
            "fraud-web-concept-change",
            NAME,
            "concept_change",
            CONCEPT_DAY,
            end,
            slice_={"channel": "web"},
            features=["amount"],
            versions=["1", "2"],
            magnitude={
                "amount_log_odds_before": BETA_AMOUNT,
                "amount_log_odds_after": -BETA_AMOUNT,
            },
            measured={
                f"precision_v1_{name}_{span}": precision_in(code, lo, hi)
                for code, name in enumerate(CHANNELS)
                for span, lo, hi in (("before", 0, CONCEPT_DAY), ("after", CONCEPT_DAY, end))
            },
            description=(
                "On web only, fraud moves to small amounts: the amount term of the true "
                f"log-odds flips sign, so version 1's precision at {THRESHOLD} drops on web."
            ),
        ),
        r.event(
            "fraud-label-delay",
            NAME,
            "label_delay",
            0,
            end,
            versions=["1", "2"],
            magnitude={
                "min_days": LABEL_DELAY_DAYS[0],
                "max_days": LABEL_DELAY_DAYS[1],
                "distribution": "3 + 27 * (U1 + U2) / 2 days after ts, U uniform",
                "as_of": r.AS_OF,
            },
            measured={
                "labeled_share": r.rounded(arrived.mean()),
                "labeled_share_last_21_days": r.rounded(arrived[t >= end - 21].mean()),
                "positive_rate": r.rounded(lab[arrived].mean()),
            },
            description="Labels arrive 3-30 days after the request; later ones are NULL.",
        ),
        r.event(
            "fraud-challenger-shadow",
            NAME,
            "challenger_shadow",
            SHADOW_DAY,
            end,
            versions=["2"],
            magnitude={"shadow_share": 1.0, "champion": "1", "challenger": "2"},
            measured={k: v for k, v in auc.items() if "pos" not in k}
            | {"labeled_requests": int(shadow.sum())},
            description="Version 2 scores every request in shadow; higher ROC AUC overall.",
        ),
        r.event(
            "fraud-critical-slice",
            NAME,
            "critical_slice",
            SHADOW_DAY,
            end,
            slice_={"channel": "pos"},
            versions=["2"],
            magnitude={"v2_ignores_on_slice": ["amount", "distance_from_home_km", "merchant_id"]},
            measured={k: v for k, v in auc.items() if "pos" in k}
            | {
                "labeled_requests": int((shadow & pos).sum()),
                "positive_rate_pos": r.rounded(lab[shadow & pos].mean()),
                "mean_score_v1_pos": r.rounded(d["score1"][shadow & pos].mean()),
                "mean_score_v2_pos": r.rounded(d["score2"][shadow & pos].mean()),
            },
            description=(
                "Version 2 is worse than version 1 on point-of-sale traffic: lower ROC AUC, "
                "and it under-scores there."
            ),
        ),
    )


def generate(rows_per_day: int, seed: int) -> r.Generated:
    """The fraud-detector's telemetry (champion and shadow rows) and its planted events."""
    d = _draw(rows_per_day, seed)
    n, n_shadow = len(d["ts"]), int((d["t"] >= SHADOW_DAY).sum())
    versions = {
        "1": {
            "role": "champion",
            "rows": n,
            "first_day": 0,
            "latency_ms_mean": r.rounded(d["latency1"].mean(), 2),
        },
        "2": {
            "role": "challenger",
            "mode": "shadow",
            "rows": n_shadow,
            "first_day": SHADOW_DAY,
            "latency_ms_mean": r.rounded(d["latency2"].mean(), 2),
        },
    }
    return r.Generated(table=_table(d), events=_events(d), versions=versions)


MODEL = r.DemoModel(
    name=NAME,
    task="binary",
    versions={"1": "champion", "2": "challenger"},
    features={k: kind for k, (kind, _) in FEATURES.items()},
    feature_types={k: t for k, (_, t) in FEATURES.items()},
    threshold=THRESHOLD,
    reference_version="1",
    volume_ratio=1.0,
    slices=(
        {"name": "web", "where": {"channel": "web"}},
        {"name": "app", "where": {"channel": "app"}},
        {
            "name": "pos",
            "where": {"channel": "pos"},
            "critical": True,
            "description": "Point-of-sale: the challenger must not be worse here.",
        },
        {"name": "high-amount", "where": {"amount": {"min": 500.0}}},
        {"name": "night", "where": {"hour_of_day": [0, 1, 2, 3, 4, 5]}},
    ),
    gate={
        "primary_metric": "roc_auc",
        "threshold": THRESHOLD,
        "min_improvement": 0.005,
        "alpha": 0.05,
        "max_critical_slice_drop": 0.01,
        "min_labeled": 1000,
    },
    description="Card-fraud scores; champion v1, challenger v2 scored in shadow from day 90.",
    generate=generate,
)
