"""The PCA reconstruction-error check on data with no drift, heavy tails included."""

from __future__ import annotations

import numpy as np

from watchkeeper.core.drift.multivariate import decide_windows, fit_pca

WINDOWS, PER_WINDOW = 120, 20_000
NAMES = ("x1", "x2", "c", "d", "amount")


def _rows(n: int, rng: np.random.Generator, *, flip: bool = False) -> np.ndarray:
    """Two noisy readings of one signal — the noise heavy-tailed (Student t, 2.5 degrees of
    freedom) — a feature tied to the signal, an independent one and a log-normal amount."""
    a = rng.normal(size=n)
    x2 = (-a if flip else a) + 0.3 * rng.standard_t(2.5, n)
    return np.column_stack(
        [
            a + 0.3 * rng.standard_t(2.5, n),
            x2,
            rng.normal(size=n),
            0.5 * rng.normal(size=n) + 0.5 * a,
            rng.lognormal(0.0, 1.0, n),
        ]
    )


def _flagged(model, seed: int) -> int:
    rng = np.random.default_rng(seed)
    sums = np.array([model.errors(_rows(PER_WINDOW, rng)).sum() for _ in range(WINDOWS)])
    result = decide_windows(model, sums, np.full(WINDOWS, PER_WINDOW), min_rows=500)
    return sum(w.decision == "drift" for w in result.windows)


def test_no_drift_with_heavy_tails_stays_quiet() -> None:
    """120 daily windows drawn from the reference's own distribution: z = 3 and the +10 %
    floor should flag almost none. With heavy-tailed features a window's mean error is
    dominated by its few most extreme rows; capping each row's error at the reference's
    99.9th percentile keeps that from reading as drift. Without the cap, the same data
    raises alarms on a fifth of the days (27 of 120 when written) — the test can fail."""
    reference = _rows(50_000, np.random.default_rng(7))
    model = fit_pca(NAMES, reference, seed=0)
    assert model is not None and np.isfinite(model.error_cap)
    assert _flagged(model, 11) <= 1
    uncapped = fit_pca(NAMES, reference, seed=0, error_cap_quantile=None)
    assert uncapped is not None and uncapped.error_cap == float("inf")
    assert _flagged(uncapped, 11) >= 10


def test_a_correlation_change_is_still_found() -> None:
    """The two readings now disagree in sign: every marginal is unchanged, the check fires."""
    model = fit_pca(NAMES, _rows(50_000, np.random.default_rng(7)), seed=0)
    x = _rows(PER_WINDOW, np.random.default_rng(5), flip=True)
    one = np.array([PER_WINDOW])
    result = decide_windows(model, np.array([model.errors(x).sum()]), one, min_rows=500)
    assert result.windows[0].decision == "drift"
    assert result.windows[0].error > 2 * model.threshold(PER_WINDOW)


def test_a_sampled_window_is_judged_on_its_rows_not_on_the_sample() -> None:
    """A window of 2,000 rows scored on a seeded Bernoulli sample of about 500 (the budget's
    limit at 500 features) has enough data under ``min_rows = 500`` even when the draw gives
    480 rows: the threshold comes from the rows scored. Judged on the sample, such windows
    read "insufficient" (174 of the wide demo's 365 did). A window that is itself below
    ``min_rows`` stays insufficient."""
    model = fit_pca(NAMES, _rows(50_000, np.random.default_rng(7)), seed=0)
    rng = np.random.default_rng(3)
    scored = np.array([480, 520, 300])
    sums = np.array([model.errors(_rows(int(m), rng)).sum() for m in scored])
    window_rows = np.array([2_000, 2_000, 300])
    sampled = np.array([True, True, False])
    result = decide_windows(
        model, sums, scored, min_rows=500, sampled=sampled, window_rows=window_rows
    )
    assert [w.decision for w in result.windows] == ["ok", "ok", "insufficient"]
    assert [w.rows for w in result.windows] == [480, 520, 300]
    assert result.windows[0].threshold == model.threshold(480)
    old = decide_windows(model, sums, scored, min_rows=500, sampled=sampled)
    assert old.windows[0].decision == "insufficient"  # the sample alone: what it said before


def test_a_model_wider_than_the_bound_is_checked_on_a_fixed_choice_and_says_so() -> None:
    import pandas as pd

    from watchkeeper.core.drift.engine import analyze_drift
    from watchkeeper.core.drift.multivariate import MAX_FEATURES, multivariate_features
    from watchkeeper.core.drift.reference import prepare_reference
    from watchkeeper.core.telemetry.windows import parse_window

    width = MAX_FEATURES + 25
    names = [f"n{i:03d}" for i in range(width)]
    chosen, note = multivariate_features(names)
    assert len(chosen) == MAX_FEATURES == len(set(chosen))
    assert chosen == [n for n in names if n in set(chosen)]  # in their order
    assert chosen != names[:MAX_FEATURES]  # not just the first ones
    assert multivariate_features(names) == (chosen, note)  # the same every time
    assert note is not None and f"{MAX_FEATURES:,} of {width:,}" in note
    assert multivariate_features(names[:10]) == (names[:10], None)

    rng = np.random.default_rng(1)
    ref = pd.DataFrame(rng.normal(size=(1_500, width)), columns=names)
    cur = pd.DataFrame(rng.normal(size=(1_200, width)), columns=names)
    cur["ts"] = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
        np.arange(1_200) // 600, unit="D"
    )
    window = parse_window("1d")
    fresh = analyze_drift(ref, cur, window=window, prediction=None, order_by=None, exact=False)
    assert fresh.multivariate is not None and list(fresh.multivariate.features) == chosen
    assert note in fresh.notes
    prepared = prepare_reference(ref, prediction=None, exact=False)
    again = analyze_drift(prepared, cur, window=window, prediction=None, order_by=None, exact=False)
    assert again.multivariate is not None
    assert again.multivariate.windows == fresh.multivariate.windows


def test_errors_are_the_distance_to_the_projection_whichever_axes_are_used() -> None:
    """Independent features keep most axes (the left-out ones are projected on); strongly
    correlated ones keep few. Either way a row's error is its squared distance to its
    reconstruction, per feature, as written out here."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(4_000, 3))
    cases = {
        "independent": rng.normal(size=(4_000, 40)),
        "correlated": base @ rng.normal(size=(3, 40)) + 0.05 * rng.normal(size=(4_000, 40)),
    }
    used = {}
    for name, x in cases.items():
        model = fit_pca([f"f{j}" for j in range(40)], x, error_cap_quantile=None)
        assert model is not None
        used[name] = model.residual_axes is not None
        rows = rng.normal(size=(300, 40)) * 1.3
        rows[0, 3] = np.nan  # imputed at the mean
        z = (rows - model.mean) / model.scale
        z[~np.isfinite(z)] = 0.0
        v = model.components
        by_hand = ((z - z @ v.T @ v) ** 2).sum(axis=1) / 40
        np.testing.assert_allclose(model.errors(rows), by_hand, rtol=1e-9, atol=1e-12)
    assert used == {"independent": True, "correlated": False}
