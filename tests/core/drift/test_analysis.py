"""analyze_drift end to end: planted drift is found, stable features are not; the JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.profile import ReferenceProfile, build_profile
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

DAYS, PER_DAY = 6, 4000


def _make(
    n: int, rng: np.random.Generator, *, shift: float = 0.0, mix: bool = False, corr: float = 0.8
) -> dict:
    a = rng.normal(size=n)
    b = corr * a + np.sqrt(1 - corr**2) * rng.normal(size=n)
    p5 = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    if mix:
        p5 = p5[::-1]
    bim = np.where(rng.random(n) < 0.5, rng.normal(-2, 0.5, n), rng.normal(2, 0.5, n))
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.01] = np.nan
    return {
        "x_normal": x,
        "x_lognormal": rng.lognormal(0, 1, n),
        "x_bimodal": bim,
        "a": a,
        "b": b,
        "c5": rng.choice([f"k{i}" for i in range(5)], n, p=p5),
        "c50": rng.choice([f"v{i}" for i in range(50)], n),
        "c1000": rng.choice([f"id{i}" for i in range(1000)], n),
        "score": 1 / (1 + np.exp(-(x if not np.isnan(x).all() else 0))),
    }


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(42)
    ref = pd.DataFrame(_make(30_000, rng))
    days = []
    for d in range(DAYS):
        drifted = d >= 3
        frame = pd.DataFrame(
            _make(
                PER_DAY,
                rng,
                shift=0.6 if drifted else 0.0,
                mix=drifted,
                corr=-0.8 if d == 5 else 0.8,
            )
        )
        frame["ts"] = (
            pd.Timestamp("2026-01-01", tz="UTC")
            + pd.Timedelta(days=d)
            + (pd.to_timedelta(np.sort(rng.random(PER_DAY)) * 86_399, unit="s"))
        )
        days.append(frame)
    return ref, pd.concat(days, ignore_index=True)


def test_planted_drift_found_and_stable_features_quiet(planted) -> None:
    ref, cur = planted
    r = analyze_drift(ref, cur, window=parse_window("1d"), categorical=["c5", "c50", "c1000"])
    dec = r.decisions()
    assert [w.rows for w in r.windows] == [PER_DAY] * DAYS
    assert dec["x_normal"] == ("ok",) * 3 + ("drift",) * 3
    assert dec["c5"] == ("ok",) * 3 + ("drift",) * 3
    assert dec["score"] == ("ok",) * 3 + ("drift",) * 3  # prediction drift
    assert r.prediction is not None and r.prediction.name == "score"
    for stable in ("x_lognormal", "x_bimodal", "a", "b", "c50", "c1000"):
        assert set(dec[stable]) == {"ok"}, (stable, dec[stable])
    assert r.feature("c1000").high_cardinality and r.feature("c1000").psi_drift == 0.4
    # the correlation flip on the last day: marginals unchanged, the PCA check sees it
    mv = r.multivariate
    assert mv is not None and mv.features == ("x_normal", "x_lognormal", "x_bimodal", "a", "b")
    assert [w.decision for w in mv.windows][:5] == ["ok"] * 5
    assert mv.windows[5].decision == "drift"


def test_json_document_follows_the_contract(planted) -> None:
    ref, cur = planted
    r = analyze_drift(ref, cur, window=parse_window("1d"), categorical=["c5", "c50", "c1000"])
    text = r.to_json()
    assert "NaN" not in text
    doc = json.loads(text)
    assert set(doc) >= {
        "reference",
        "windows",
        "features",
        "prediction",
        "multivariate",
        "thresholds",
    }
    assert doc["reference"] == {"rows": 30_000, "digest": r.reference_digest}
    assert doc["windows"][0] == {
        "index": 0,
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
        "rows": PER_DAY,
    }
    f = doc["features"][0]
    assert f["name"] == "x_normal" and f["kind"] == "numerical" and f["cardinality"] is None
    w = f["windows"][0]
    for key in (
        "index",
        "decision",
        "psi",
        "js",
        "p_value",
        "p_adjusted",
        "missing_rate",
        "unseen_rate",
    ):
        assert key in w
    assert w["unseen_rate"] is None and w["exact"] == "all"
    c5 = next(x for x in doc["features"] if x["name"] == "c5")
    assert c5["cardinality"] == 5 and c5["windows"][0]["unseen_rate"] == 0.0
    assert doc["thresholds"]["psi_watch"] == 0.1 and doc["thresholds"]["psi_drift"] == 0.2
    assert doc["prediction"]["name"] == "score"
    assert doc["multivariate"]["windows"][5]["decision"] == "drift"


def test_profile_reuse_gives_the_same_binned_result(planted) -> None:
    ref, cur = planted
    profile = build_profile(ref, categorical=["c5"], exclude=["score"])
    again = ReferenceProfile.from_json(profile.to_json())
    r1 = analyze_drift(ref, cur, window=parse_window("1d"), categorical=["c5"], prediction=None)
    r2 = analyze_drift(again, cur, window=parse_window("1d"), prediction=None)
    assert r2.reference_digest == profile.digest == r1.reference_digest
    assert r1.decisions() == r2.decisions()
    assert r2.feature("x_normal").windows[0].ks is None
    assert any("profile only" in n for n in r2.notes)


def test_exact_statistics_on_a_sample_say_so(planted) -> None:
    ref, cur = planted
    s = DriftSection(exact_sample_limit=1000)
    r = analyze_drift(ref, cur, window=parse_window("1d"), settings=s, features=["x_normal"])
    w = r.feature("x_normal").windows[0]
    # 1000 rows drawn, their finite values used (x_normal is 1 % missing)
    assert w.exact == "sample" and w.exact_rows[0] == 1000 and 950 < w.exact_rows[1] <= 1000
    again = analyze_drift(ref, cur, window=parse_window("1d"), settings=s, features=["x_normal"])
    assert again.feature("x_normal").windows[0].ks == w.ks  # seeded


def test_row_windows_and_time_range(planted) -> None:
    ref, cur = planted
    r = analyze_drift(
        ref, cur, window=parse_window("5000rows"), features=["x_normal"], prediction=None
    )
    assert [w.rows for w in r.windows] == [5000] * 4 + [DAYS * PER_DAY - 20_000]
    assert r.windows[0].start.isoformat().startswith("2026-01-01")
    r = analyze_drift(
        ref,
        cur,
        window=parse_window("1d"),
        start="2026-01-02",
        end="2026-01-04T12:00",
        features=["x_normal"],
    )
    assert [w.rows for w in r.windows][:2] == [PER_DAY, PER_DAY]
    assert len(r.windows) == 3 and 0 < r.windows[2].rows < PER_DAY


def test_ks_test_option_and_persistence(planted) -> None:
    ref, cur = planted
    s = DriftSection(test="ks", persistence=2)
    r = analyze_drift(
        ref, cur, window=parse_window("1d"), settings=s, features=["x_normal"], prediction=None
    )
    assert r.decisions()["x_normal"] == ("ok",) * 3 + ("watch", "drift", "drift")
    w = r.feature("x_normal").windows[4]
    assert w.p_value == w.ks_p_value


def test_progress_and_cancel(planted) -> None:
    ref, cur = planted
    seen: list[float] = []
    analyze_drift(
        ref, cur, window=parse_window("1d"), progress=lambda f, m: seen.append(f), chunk_rows=5000
    )
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 5
    with pytest.raises(Cancelled):
        analyze_drift(ref, cur, window=parse_window("1d"), cancelled=lambda: len(seen) > 0)
