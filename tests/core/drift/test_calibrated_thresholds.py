"""Reference-calibrated drift cut-offs (core/drift/calibrate.py), in memory and pushed down.

The null quantile is checked against its large-sample law: between two multinomial samples of
sizes N and R from the same proportions, PSI is about ``(1/N + 1/R) × chi2(B - 1)`` (PSI is
the symmetric KL divergence, twice the KL's quadratic term), so its 0.99 quantile is scipy's
``chi2.ppf(0.99, B - 1) × (1/N + 1/R)``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa
from scipy import stats

from watchkeeper.core.drift.calibrate import calibrated_cutoffs, null_psi_quantile
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.engine_sql import analyze_drift_sql
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window


@pytest.mark.parametrize(("bins", "n", "ref"), [(11, 20_000, 50_000), (5, 5_000, 1_000_000)])
def test_null_quantile_matches_the_chi_square_law(bins: int, n: int, ref: int) -> None:
    p = np.random.default_rng(bins).dirichlet(np.full(bins, 5.0))
    counts = np.round(p * ref)
    q = null_psi_quantile(counts, np.array([n]), quantile=0.99, resamples=4000, seed=1)[0]
    law = stats.chi2.ppf(0.99, bins - 1) * (1 / n + 1 / counts.sum())
    assert q == pytest.approx(law, rel=0.1)


def test_cutoffs_shrink_with_window_size_and_respect_the_floors() -> None:
    counts = np.array([100.0, 300, 250, 200, 150, 0, 20])  # a bin empty in the reference
    rows = np.array([200, 1_000, 10_000, 100_000, 0])
    c = calibrated_cutoffs(
        counts, rows, name="x", quantile=0.99, margin=1.5, watch_floor=0.05,
        drift_floor=0.1, min_rows=100,
    )  # fmt: skip
    q = c.null_quantile
    assert np.isnan(q[-1]) and np.all(np.diff(q[:-1]) < 0)
    assert np.allclose(c.drift[:-1], np.maximum(1.5 * q[:-1], 0.1))
    assert np.allclose(c.watch[:-1], np.maximum(q[:-1], 0.05))
    # seeded by the feature's name: the same cut-offs every time
    again = calibrated_cutoffs(
        counts, rows, name="x", quantile=0.99, margin=1.5, watch_floor=0.05,
        drift_floor=0.1, min_rows=100,
    )  # fmt: skip
    assert np.array_equal(again.drift, c.drift, equal_nan=True)


DAYS, PER_DAY = 6, 2_000


def _frames() -> tuple[pa.Table, list[dict]]:
    """A reference and six days; from day 3 ``x`` shifts by 0.38 sd (PSI ≈ 0.15: between the
    absolute watch and drift cut-offs), ``y`` never moves."""
    rng = np.random.default_rng(7)
    ref = pa.table({"x": rng.normal(size=20_000), "y": rng.normal(size=20_000)})
    rows = []
    t0 = dt.datetime(2026, 3, 1)
    for d in range(DAYS):
        x = rng.normal(0.38 if d >= 3 else 0.0, 1.0, PER_DAY)
        y = rng.normal(size=PER_DAY)
        secs = np.sort(rng.random(PER_DAY)) * 86_000
        rows += [
            {"ts": t0 + dt.timedelta(days=d, seconds=float(s)), "x": float(a), "y": float(b)}
            for s, a, b in zip(secs, x, y, strict=True)
        ]
    return ref, rows


def _decisions(result) -> dict[str, tuple[str, ...]]:
    return {f.name: tuple(w.decision for w in f.windows) for f in result.features}


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, list[dict]]:
    return _frames()


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_calibrated_calls_a_clear_moderate_shift_drift_on_every_engine(
    data, dialect: str, tmp_path
) -> None:
    ref, rows = data
    kw = {"window": parse_window("1d"), "prediction": None, "exact": False, "timestamp": "ts"}
    current = pa.Table.from_pylist(rows)
    absolute = analyze_drift(
        ref, current, settings=DriftSection(thresholds="absolute"), multivariate=False, **kw
    )
    calibrated = analyze_drift(ref, current, settings=DriftSection(), multivariate=False, **kw)
    shifted = _decisions(calibrated)["x"]
    # before: the shift reads `watch` (PSI under 0.2); after: `drift`, the stable y stays ok
    assert _decisions(absolute)["x"][3:] == ("watch",) * 3
    assert shifted == ("ok",) * 3 + ("drift",) * 3
    assert _decisions(calibrated)["y"] == ("ok",) * DAYS
    x = calibrated.feature("x")
    for w in x.windows:
        assert w.psi_drift_cut is not None and w.psi_drift_cut >= 0.1
    assert [w.psi_drift_cut for w in absolute.feature("x").windows] == [0.2] * DAYS
    # pushed down: the database counts, the same cut-offs and decisions
    engine = sa.create_engine(f"{dialect}:///{tmp_path / ('t.' + dialect)}")
    md = sa.MetaData()
    table = sa.Table(
        "events",
        md,
        sa.Column("ts", sa.DateTime()),
        sa.Column("x", sa.Double),
        sa.Column("y", sa.Double),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    with engine.connect() as conn:
        pushed = analyze_drift_sql(ref, conn, "events", multivariate=False, **kw)
    assert _decisions(pushed) == _decisions(calibrated)
    assert [w.psi_drift_cut for w in pushed.feature("x").windows] == pytest.approx(
        [w.psi_drift_cut for w in x.windows]
    )
    engine.dispose()
