"""A prepared reference gives exactly the results of the data it was prepared from."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from watchkeeper.core.drift import reference
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.engine_sql import analyze_drift_sql
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import build_profile
from watchkeeper.core.drift.reference import PreparedReference, prepare_reference
from watchkeeper.core.drift.result import DriftResult
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

DAY_US = 86_400_000_000


def _table(n: int, rng: np.random.Generator, *, shift: float = 0.0, ts: bool = False) -> pa.Table:
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.002] = np.inf
    cols = {
        "x": pa.array(x, mask=rng.random(n) < 0.01),
        "y": rng.lognormal(shift, 1.0, n),
        "z": 0.7 * x + rng.normal(size=n),
        "k": rng.integers(0, 6, n),  # few distinct values: a bin per value and per gap
        "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "score": 1 / (1 + np.exp(-rng.normal(shift, 1, n))),
    }
    if ts:
        # three days, rows out of time order (the exact statistics permute them)
        us = rng.integers(0, 3 * DAY_US, n) + 1_767_225_600_000_000  # 2026-01-01
        cols = {"ts": pa.array(us, pa.timestamp("us", tz="UTC")), **cols}
    return pa.table(cols)


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(11)
    return _table(6000, rng), _table(9000, rng, shift=0.3, ts=True)


def assert_same(a: DriftResult, b: DriftResult) -> None:
    """The same result, bit for bit: every number of the JSON document and every count."""
    assert a.to_json() == b.to_json()
    assert a.reference_digest == b.reference_digest and a.notes == b.notes
    fa = (*a.features, *((a.prediction,) if a.prediction else ()))
    fb = (*b.features, *((b.prediction,) if b.prediction else ()))
    assert [f.name for f in fa] == [f.name for f in fb]
    for x, y in zip(fa, fb, strict=True):
        assert x.labels == y.labels
        np.testing.assert_array_equal(x.counts, y.counts)
        np.testing.assert_array_equal(x.reference_counts, y.reference_counts)


CASES = [
    pytest.param({"window": parse_window("1d")}, id="daily"),
    pytest.param({"window": parse_window(None), "prediction": None}, id="one-window"),
    pytest.param(
        {"window": parse_window("1d"), "settings": DriftSection(exact_sample_limit=2500)},
        id="sampled",
    ),
    pytest.param(
        {"window": parse_window("1d"), "settings": DriftSection(test="ks", persistence=2, bins=7)},
        id="ks",
    ),
    pytest.param({"window": parse_window("4000rows"), "prediction": None}, id="row-windows"),
    pytest.param(
        {"window": parse_window("1d"), "categorical": ["k"], "prediction": "score"}, id="declared"
    ),
]


@pytest.mark.parametrize("kw", CASES)
def test_prepared_reference_gives_the_same_result(data, kw) -> None:
    ref, cur = data
    prep_kw = {k: v for k, v in kw.items() if k in ("settings", "categorical", "prediction")}
    prepared = prepare_reference(ref, **prep_kw)
    assert isinstance(prepared, PreparedReference)
    direct = analyze_drift(ref, cur, **kw)
    assert_same(analyze_drift(prepared, cur, **kw), direct)
    assert_same(analyze_drift(prepared, cur, **kw), direct)  # reusable


def test_prepared_with_a_profile_equals_the_profile_path(data) -> None:
    ref, cur = data
    profile = build_profile(ref, categorical=["k"], exclude=["score"], bins=12)
    prepared = prepare_reference(ref, profile=profile)
    assert prepared.profile is profile and prepared.digest == profile.digest
    for kw in (
        {"window": parse_window("1d")},
        {"window": parse_window("1d"), "features": ["y", "x"]},
        {"window": parse_window(None), "seed": 3},
    ):
        direct = analyze_drift(ref, cur, profile=profile, **kw)
        assert_same(analyze_drift(prepared, cur, **kw), direct)
        assert_same(analyze_drift(prepared, cur, profile=profile, **kw), direct)


def test_what_was_not_prepared_is_computed_as_without_preparation(data) -> None:
    """Another seed, sample limit, feature subset or a current without the prediction."""
    ref, cur = data
    s = DriftSection(exact_sample_limit=2500)  # the reference (6000 rows) is sampled too
    prepared = prepare_reference(ref, settings=s, seed=1)
    for kw in (
        {"seed": 1},
        {"seed": 2},
        {"features": ["z", "x"]},  # other positions: other seeded samples
        {"settings": DriftSection(exact_sample_limit=3000)},
    ):
        kw = {"settings": s, **kw, "window": parse_window("1d")}
        assert_same(analyze_drift(prepared, cur, **kw), analyze_drift(ref, cur, **kw))
    no_score = cur.drop_columns(["score"])
    assert_same(
        analyze_drift(prepared, no_score, window=parse_window(None), settings=s, seed=1),
        analyze_drift(ref, no_score, window=parse_window(None), settings=s, seed=1),
    )


def test_prepared_reference_does_not_redo_the_reference_work(data, monkeypatch) -> None:
    ref, cur = data
    prepared = prepare_reference(ref)
    expected = analyze_drift(ref, cur, window=parse_window("1d"))

    def refuse(*args, **kwargs):
        raise AssertionError("the reference was worked on again")

    monkeypatch.setattr(reference, "fit_pca", refuse)
    monkeypatch.setattr(reference, "reference_sorted", refuse)
    monkeypatch.setattr(reference, "build_profile", refuse)
    assert_same(analyze_drift(prepared, cur, window=parse_window("1d")), expected)


def test_prepared_reference_is_read_only(data) -> None:
    prepared = prepare_reference(data[0])
    sorted_x = prepared.sorted_values["x"]
    assert sorted_x.mode == "all" and not sorted_x.values.flags.writeable
    assert np.all(np.diff(sorted_x.values) >= 0) and np.isfinite(sorted_x.values).all()
    with pytest.raises(TypeError):
        prepared.sorted_values["x"] = sorted_x  # type: ignore[index]
    with pytest.raises(AttributeError):
        prepared.profile = None  # type: ignore[misc]
    assert prepared.pca is not None and prepared.pca_features == ("x", "y", "z", "k")
    assert ("score", 10) in prepared.predictions


def test_prepared_reference_refuses_a_mismatching_profile(data) -> None:
    ref, cur = data
    prepared = prepare_reference(ref)
    other = build_profile(ref, bins=5, exclude=["score"])
    with pytest.raises(DriftError, match="not the prepared reference's"):
        analyze_drift(prepared, cur, window=parse_window(None), profile=other)
    with pytest.raises(DriftError, match="prepare it again"):
        analyze_drift(prepared, cur, window=parse_window(None), settings=DriftSection(bins=20))
    # a profile of other data, or of columns the reference lacks
    with pytest.raises(DriftError, match="does not describe this reference"):
        prepare_reference(ref.slice(0, 5000), profile=build_profile(ref))
    with pytest.raises(DriftError, match="no column 'w'"):
        prepare_reference(ref, profile=build_profile(ref.append_column("w", ref.column("x"))))
    with pytest.raises(DriftError, match="profile alone"):
        prepare_reference(build_profile(ref))
    assert prepare_reference(prepared) is prepared


def test_prepared_reference_in_the_pushed_down_analysis(data, tmp_path) -> None:
    ref, cur = data
    eng = sa.create_engine(f"duckdb:///{tmp_path / 'p.duckdb'}")
    with eng.connect() as conn:
        raw = conn.connection.driver_connection
        raw.register("cur_arrow", cur)
        raw.execute("CREATE TABLE events AS SELECT * FROM cur_arrow")
        raw.unregister("cur_arrow")
    s = DriftSection(exact_sample_limit=2000)
    prepared = prepare_reference(ref, settings=s)
    kw = {"window": parse_window("1d"), "settings": s, "order_by": ()}
    with eng.connect() as conn:
        direct = analyze_drift_sql(ref, conn, "events", **kw)
        again = analyze_drift_sql(prepared, conn, "events", **kw)
    eng.dispose()
    assert_same(again, direct)
    assert {w.exact for f in direct.features if f.kind == "numerical" for w in f.windows} == {
        "sample"
    }


@pytest.mark.parametrize("kw", CASES[:4])
def test_without_prepared_columns_gives_the_same_result(data, kw) -> None:
    """The table keeps only what was not prepared (copied out of the read's buffers); an
    analysis that would read a dropped column says so instead of measuring something else."""
    ref, cur = data
    prep_kw = {k: v for k, v in kw.items() if k in ("settings", "categorical", "prediction")}
    prepared = prepare_reference(ref, **prep_kw)
    slim = prepared.without_prepared_columns()
    assert slim.table.column_names == ["c", "score"]  # the prediction stays: both sides have it
    assert slim.table.num_rows == ref.num_rows and slim.profile is prepared.profile
    read = {b.address for c in ref.columns for a in c.chunks for b in a.buffers() if b}
    kept = {b.address for c in slim.table.columns for a in c.chunks for b in a.buffers() if b}
    assert not read & kept  # fresh buffers: the read's can be freed
    assert_same(analyze_drift(slim, cur, **kw), analyze_drift(prepared, cur, **kw))
    # sorted values not prepared for this limit (the rest of the settings as prepared)
    base = kw.get("settings", DriftSection())
    other = base.model_copy(update={"exact_sample_limit": 1000})
    with pytest.raises(DriftError, match="no column 'x' any more"):
        analyze_drift(slim, cur, window=parse_window("1d"), settings=other)
