"""A reference prepared a few columns at a time (``reference_batches``) is the reference
prepared whole, bit for bit, and an analysis against it gives the same result; the table is
never read whole, and what the preparation cannot answer is refused by name."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from child_process import json_child

from watchkeeper.core.drift import reference_batches
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import PCA_ROWS, fit_pca, pca_rows
from watchkeeper.core.drift.reference import PreparedReference, prepare_reference
from watchkeeper.core.drift.reference_batches import column_batches, prepare_reference_in_batches
from watchkeeper.core.drift.reference_cache import cached_reference_in_batches
from watchkeeper.core.spec import DriftSection, parse_spec
from watchkeeper.core.telemetry.windows import parse_window
from watchkeeper.core.workbench import analyses
from watchkeeper.core.workbench.portfolio import ModelEntry, VersionEntry

FEATURES = ["x", "c", "y", "k", "z", "odd name", "w"]


def _table(n: int, seed: int, shift: float = 0.0, day0: str = "2026-01-01") -> pa.Table:
    """Hostile values: NaN, ±inf and NULL; a categorical column, integers with few values,
    a column with a space in its name, the prediction between the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.002] = np.inf
    x[rng.random(n) < 0.002] = -np.inf
    return pa.table(
        {
            "ts": pa.array(
                np.datetime64(day0, "us") + np.sort(rng.integers(0, 3 * 86_400_000_000, n)),
                pa.timestamp("us", tz="UTC"),
            ),
            "x": pa.array(x, mask=rng.random(n) < 0.01),
            "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "score": 1 / (1 + np.exp(-rng.normal(shift, 1, n))),
            "y": rng.lognormal(shift, 1.0, n),
            "k": rng.integers(0, 6, n),
            "z": 0.7 * np.where(np.isfinite(x), x, 0.0) + rng.normal(size=n),
            "odd name": rng.gamma(2.0, size=n),
            "w": np.full(n, 3.0),  # constant
        }
    )


class _Reads:
    """``read(columns)`` of a table, recording what each read asked for."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.asked: list[list[str]] = []

    def __call__(self, names: Sequence[str]) -> pa.Table:
        self.asked.append(list(names))
        return self.table.select(list(names))


@pytest.fixture(scope="module")
def ref() -> pa.Table:
    return _table(PCA_ROWS + 7_000, seed=3)  # above PCA_ROWS: the PCA's rows are a choice


@pytest.mark.parametrize("batch", [1, 3, 100])
@pytest.mark.parametrize("limit", [100_000, 4_000], ids=["all-values", "sampled"])
def test_batches_give_the_whole_preparation(ref: pa.Table, batch: int, limit: int) -> None:
    s = DriftSection(exact_sample_limit=limit)
    reads = _Reads(ref)
    got = prepare_reference_in_batches(
        reads, ref.num_rows, features=FEATURES, prediction="score", settings=s, batch_columns=batch
    )
    whole = prepare_reference(ref, features=FEATURES, settings=s)
    assert all(len(a) <= batch for a in reads.asked)
    assert sorted(n for a in reads.asked for n in a) == sorted([*FEATURES, "score"])
    assert reads.asked[-1][-1] == "score"  # read last: its place among the numerical columns
    _same_preparation(got, whole)
    assert list(got.predictions) == [("score", s.bins)]
    assert {v.mode for v in got.sorted_values.values()} == (
        {"all"} if limit > ref.num_rows else {"sample"}
    )
    assert got.table.num_columns == 0 and got.table.num_rows == ref.num_rows


def _same_preparation(got: PreparedReference, whole: PreparedReference) -> None:
    """The same profile, sorted values, prediction profiles and PCA, bit for bit."""
    assert got.profile.to_dict() == whole.profile.to_dict()
    assert got.profiled_with == whole.profiled_with and got.seed == whole.seed
    assert got.predictions == whole.predictions
    assert list(got.sorted_values) == list(whole.sorted_values)
    for name, mine in got.sorted_values.items():
        theirs = whole.sorted_values[name]
        assert (mine.mode, mine.feature_index, mine.limit) == (
            theirs.mode,
            theirs.feature_index,
            theirs.limit,
        )
        np.testing.assert_array_equal(mine.values, theirs.values)
        assert not mine.values.flags.writeable
    assert got.pca_features == whole.pca_features and got.pca is not None and whole.pca
    for field in ("mean", "scale", "components"):
        np.testing.assert_array_equal(getattr(got.pca, field), getattr(whole.pca, field))
    for field in ("explained_variance", "reference_error", "chunk_sd", "error_cap"):
        assert getattr(got.pca, field) == getattr(whole.pca, field)


def _cached(read: Callable[[Sequence[str]], pa.Table], rows: int, folder: Path, **kw):
    return cached_reference_in_batches(
        read, rows, features=FEATURES, prediction="score", batch_columns=3, folder=folder, **kw
    )


def _no_preparation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("prepared again, not loaded from the cache")

    monkeypatch.setattr(reference_batches, "prepare_reference_in_batches", refuse)


def test_a_reference_prepared_in_batches_is_prepared_once(
    ref: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first call reads every batch twice (the digest, the preparation) and stores the
    preparation; the next reads every batch once and loads it — the whole preparation's
    result, bit for bit. Other settings or other data are another key."""
    n = len(column_batches(FEATURES, "score", 3))
    first = _Reads(ref)
    fresh = _cached(first, ref.num_rows, tmp_path)
    assert len(first.asked) == 2 * n
    assert len(list(tmp_path.glob("*.wkref.npz"))) == 1
    whole = prepare_reference(ref, features=FEATURES)
    _same_preparation(fresh, whole)
    with monkeypatch.context() as m:
        _no_preparation(m)
        again = _Reads(ref)
        loaded = _cached(again, ref.num_rows, tmp_path)
        assert len(again.asked) == n
        with pytest.raises(AssertionError, match="prepared again"):
            _cached(_Reads(ref), ref.num_rows, tmp_path, settings=DriftSection(bins=7))
        changed = ref.set_column(1, "x", pa.array(np.r_[0.5, ref["x"].to_numpy()[1:]]))
        with pytest.raises(AssertionError, match="prepared again"):
            _cached(_Reads(changed), ref.num_rows, tmp_path)
    _same_preparation(loaded, whole)
    assert loaded.table.num_columns == 0 and loaded.table.num_rows == ref.num_rows


def test_data_that_changes_between_the_passes_is_stored_as_it_was_prepared(
    ref: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewritten between the digest's pass and the preparation's (the same rows, other
    values): the preparation is of the new data and stored under the new data's key — the
    old data misses, the new data hits."""
    n = len(column_batches(FEATURES, "score", 3))
    new = _table(ref.num_rows, seed=4)
    old_reads, new_reads = _Reads(ref), _Reads(new)

    def swapped(names: Sequence[str]) -> pa.Table:
        return (old_reads if len(old_reads.asked) < n else new_reads)(names)

    got = _cached(swapped, ref.num_rows, tmp_path)
    assert len(old_reads.asked) == len(new_reads.asked) == n
    _same_preparation(got, prepare_reference(new, features=FEATURES))
    with monkeypatch.context() as m:
        _no_preparation(m)
        _cached(_Reads(new), ref.num_rows, tmp_path)
        with pytest.raises(AssertionError, match="prepared again"):
            _cached(_Reads(ref), ref.num_rows, tmp_path)


def test_a_cancel_while_looking_stops_and_a_damaged_file_is_prepared_again(
    ref: pa.Table, tmp_path: Path
) -> None:
    from watchkeeper.core.progress import Cancelled

    reads = _Reads(ref)
    with pytest.raises(Cancelled):
        _cached(reads, ref.num_rows, tmp_path, cancelled=lambda: len(reads.asked) >= 2)
    assert not list(tmp_path.iterdir())  # nothing stored
    _cached(_Reads(ref), ref.num_rows, tmp_path)
    (stored,) = tmp_path.glob("*.wkref.npz")
    stored.write_bytes(stored.read_bytes()[:1000])  # truncated
    again = _Reads(ref)
    got = _cached(again, ref.num_rows, tmp_path)
    assert len(again.asked) == 2 * len(column_batches(FEATURES, "score", 3))
    _same_preparation(got, prepare_reference(ref, features=FEATURES))
    with pytest.raises(DriftError, match="changed while it was read"):
        _cached(_Reads(ref.slice(1)), ref.num_rows, tmp_path)


def test_the_prediction_among_the_features_is_kept_out_of_the_pca(ref: pa.Table) -> None:
    """Named as a feature too, the prediction column is profiled in its place and, as in
    the whole preparation, left out of the multivariate check (review finding)."""
    features = ["x", "score", "y", "z"]
    got = prepare_reference_in_batches(
        _Reads(ref), ref.num_rows, features=features, prediction="score", batch_columns=1
    )
    whole = prepare_reference(ref, features=features)
    assert got.pca_features == whole.pca_features == ("x", "y", "z")
    assert got.profile.to_dict() == whole.profile.to_dict()
    np.testing.assert_array_equal(got.pca.components, whole.pca.components)
    cur = _table(3_000, seed=6, shift=0.2)
    kw = {"window": parse_window("1d"), "features": features}
    assert analyze_drift(got, cur, **kw).to_json() == analyze_drift(ref, cur, **kw).to_json()


@pytest.mark.parametrize("window", ["1d", None])
def test_an_analysis_against_it_equals_the_whole_reference(ref: pa.Table, window) -> None:
    cur = _table(20_000, seed=4, shift=0.4)
    s = DriftSection(exact_sample_limit=5_000)
    got = prepare_reference_in_batches(
        _Reads(ref),
        ref.num_rows,
        features=FEATURES,
        prediction="score",
        settings=s,
        batch_columns=2,
    )
    kw = {"window": parse_window(window), "features": FEATURES, "settings": s}
    mine = analyze_drift(got, cur, **kw)
    theirs = analyze_drift(ref, cur, **kw)
    assert mine.to_json() == theirs.to_json()
    assert mine.prediction is not None and mine.multivariate is not None
    assert any("drift" in f.decisions() for f in mine.features)  # the shift is seen, the same way


def test_what_it_cannot_answer_is_refused_by_name(ref: pa.Table) -> None:
    s = DriftSection(exact_sample_limit=4_000)
    got = prepare_reference_in_batches(
        _Reads(ref), ref.num_rows, features=FEATURES, prediction="score", settings=s
    )
    cur = _table(3_000, seed=5)
    # another order: other seeded samples of the reference, which it no longer holds
    with pytest.raises(DriftError, match="the reference has no column 'y' any more"):
        analyze_drift(got, cur, window=parse_window(None), features=["y", "x"], settings=s)


def test_a_reference_that_changes_while_read_or_is_empty_is_refused(ref: pa.Table) -> None:
    reads = iter([ref.slice(0, 100), ref.slice(0, 99)])

    def shrinking(names: Sequence[str]) -> pa.Table:
        return next(reads).select(list(names))

    with pytest.raises(DriftError, match="changed while it was read: 100 rows, then 99"):
        prepare_reference_in_batches(shrinking, 100, features=["x", "y"], batch_columns=1)
    with pytest.raises(DriftError, match="no rows"):
        prepare_reference_in_batches(_Reads(ref), 0, features=["x"])
    with pytest.raises(DriftError, match="listed twice"):  # in batches apart, too
        prepare_reference_in_batches(
            _Reads(ref), ref.num_rows, features=["x", "y", "x"], batch_columns=1
        )
    with pytest.raises(DriftError, match="named features"):
        prepare_reference_in_batches(_Reads(ref), 10, features=[])
    with pytest.raises(DriftError, match="both numerical and categorical"):
        prepare_reference_in_batches(
            _Reads(ref), ref.num_rows, features=["x", "y"], categorical=["k"], numerical=["k"]
        )


@pytest.mark.parametrize("n", [PCA_ROWS + 1_000, 3_000])
def test_the_pca_fitted_on_its_chosen_rows_is_the_whole_columns_pca(n: int) -> None:
    rng = np.random.default_rng(9)
    cols = [rng.normal(size=n) for _ in range(4)]
    cols[1] += cols[0]
    cols[2][::50] = np.nan
    sel = pca_rows(n, seed=7)
    assert (sel is None) == (n <= PCA_ROWS)
    chosen = cols if sel is None else [c[sel] for c in cols]
    a = fit_pca(list("abcd"), chosen, seed=7, rows_of=n)
    b = fit_pca(list("abcd"), cols, seed=7)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.components, b.components)
    assert (a.reference_error, a.chunk_sd, a.error_cap) == (
        b.reference_error,
        b.chunk_sd,
        b.error_cap,
    )
    assert fit_pca(list("ab"), [c[:10] for c in cols[:2]], rows_of=10) is None  # too few


# -- through the workbench: a DuckDB workspace ----------------------------------------------

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _entry(tmp_path: Path) -> ModelEntry:
    db = tmp_path / "t.duckdb"
    if not db.exists():
        ref, cur = _table(6_000, seed=1), _table(3_000, seed=2, shift=0.5, day0="2026-01-04")
        with duckdb.connect(str(db)) as conn:
            conn.register("t", pa.concat_tables([ref, cur]))
            conn.execute("CREATE TABLE events AS SELECT * FROM t")
    spec = parse_spec(
        '[model]\nname = "m"\n[telemetry]\nsource = "duckdb:///t.duckdb#events"\n'
        '[telemetry.columns]\nfeatures = ["x", "c", "y", "k", "z", "odd name", "w"]\n'
        'categorical = ["c"]\n'
        "[reference]\nstart = 2026-01-01\nend = 2026-01-04\n"
        '[drift]\nwindow = "1d"\nexact_sample_limit = 2000\n',
        base_dir=tmp_path,
    )
    return ModelEntry(name="m", task="binary", versions=(VersionEntry("1"),), spec=spec)


@pytest.mark.parametrize("pushed", [False, True], ids=["in-memory", "counted-in-duckdb"])
def test_run_drift_with_the_reference_in_batches_equals_it_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pushed: bool
) -> None:
    entry = _entry(tmp_path)
    if pushed:
        monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    batched: list[int] = []
    real = analyses._prepared_in_batches

    def spy(*args, **kw):
        batched.append(args[3])
        return real(*args, **kw)

    monkeypatch.setattr(analyses, "_prepared_in_batches", spy)
    monkeypatch.setattr(analyses, "REFERENCE_BYTES", 1 << 60)
    whole = analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=3))
    assert batched == []
    monkeypatch.setattr(analyses, "REFERENCE_BYTES", 0)
    monkeypatch.setattr(analyses, "BATCH_BYTES", 6_000 * 8 * 2)  # two columns a batch
    mine = analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=3))
    assert batched == [6_000]
    assert mine.to_json() == whole.to_json()
    _no_preparation(monkeypatch)  # prepared once: the second run loads it from the disk
    again = analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=3))
    assert batched == [6_000, 6_000] and again.to_json() == whole.to_json()
    assert [f.name for f in mine.features if "drift" in f.decisions()]  # the shift is seen


_CHILD = r"""
import json, resource, sys
cap = 3072 << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import duckdb
from watchkeeper.core.drift import reference_batches
from watchkeeper.core.drift.reference import PreparedReference, prepare_reference
from watchkeeper.core.drift.reference_batches import column_batches, prepare_reference_in_batches
from watchkeeper.core.drift.reference_cache import cached_reference_in_batches
from watchkeeper.core.memory import return_free_memory
def status(key):  # VmHWM, not ru_maxrss: that keeps the forking parent's peak across exec
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) >> 10
conn = duckdb.connect(sys.argv[1], read_only=True)
conn.execute("SET memory_limit = '32MB'")  # its cache apart
features = [f"x{i}" for i in range(int(sys.argv[3]))]
rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
def read(names):
    return_free_memory()
    cols = ", ".join(f'"{n}"' for n in names)
    return conn.execute(f"SELECT {cols} FROM t").to_arrow_table()
before = status("VmRSS")
if sys.argv[2] == "batches":
    p = prepare_reference_in_batches(read, rows, features=features, batch_columns=1)
else:
    p = prepare_reference(read(features), features=features)
print(json.dumps({"before": before, "peak": status("VmHWM"), "digest": p.digest}))
"""


def test_the_batches_hold_a_column_not_the_table_in_a_child_process(tmp_path: Path) -> None:
    """500,000 and 1,000,000 rows × 24 features prepared in a child process under an
    address-space cap: prepared whole, the peak grows with the added rows by more than their
    table (92 MiB as float64); in batches of one column, by less than a third of it — and the
    profile is the same."""
    width = 24
    rng = np.random.default_rng(2)

    def database(rows: int) -> Path:
        db = tmp_path / f"wide{rows}.duckdb"
        with duckdb.connect(str(db)) as conn:
            conn.register("a", pa.table({f"x{i}": rng.normal(size=rows) for i in range(width)}))
            conn.execute("CREATE TABLE t AS SELECT * FROM a")
        return db

    small, large = database(500_000), database(1_000_000)
    added_mb = 500_000 * width * 8 / 2**20

    def grown(db: Path, how: str) -> tuple[int, str]:
        got = json_child("-c", _CHILD, str(db), how, str(width))
        return got["peak"] - got["before"], got["digest"]

    (whole_small, d1), (whole_large, d2) = grown(small, "whole"), grown(large, "whole")
    (batches_small, d3), (batches_large, d4) = grown(small, "batches"), grown(large, "batches")
    assert d1 == d3 and d2 == d4
    assert whole_large - whole_small > added_mb, (whole_small, whole_large, added_mb)
    assert batches_large - batches_small < added_mb / 3, (batches_small, batches_large, added_mb)


def test_values_near_the_largest_float_are_profiled_and_fitted_not_crashed() -> None:
    """A feature of values near the largest float (a sentinel like DBL_MAX, a unit gone
    wrong): their sum overflows. The profile's mean and spread, and the PCA (whose
    covariance had infinite entries, so ``eigh`` raised ``LinAlgError``) are those of the
    values scaled down and back up; the analysis completes, with the Wasserstein distance it
    cannot express left out (KS and PSI are there)."""
    import warnings

    from watchkeeper.core.drift.profile import build_profile

    rng = np.random.default_rng(8)
    n = 4_000
    a, b = rng.normal(size=n), rng.normal(size=n)
    huge = rng.normal(size=n) * 4e307
    huge[::500] = np.finfo(np.float64).max
    scaled = huge / 1e300
    profile = build_profile(pa.table({"huge": huge})).feature("huge")
    assert profile.mean == pytest.approx(scaled.mean() * 1e300, rel=1e-12)
    assert profile.std == pytest.approx(scaled.std() * 1e300, rel=1e-12)
    got = fit_pca(["a", "huge", "b"], [a, huge, b], seed=1)
    expected = fit_pca(["a", "huge", "b"], [a, scaled, b], seed=1)
    assert got is not None and expected is not None
    np.testing.assert_allclose(np.abs(got.components), np.abs(expected.components), atol=1e-9)
    assert got.reference_error == pytest.approx(expected.reference_error, rel=1e-9)

    def events(shift: float) -> pa.Table:
        return pa.table(
            {
                "ts": pa.array(
                    np.datetime64("2026-01-01", "us") + np.arange(n) * 60_000_000,
                    pa.timestamp("us", tz="UTC"),
                ),
                "a": rng.normal(shift, 1, n),
                "huge": rng.normal(size=n) * 4e307,
                "b": rng.normal(size=n),
            }
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the Wasserstein sums overflow
        result = analyze_drift(events(0.0), events(0.6), window=parse_window("1d"))
        doc = json.loads(result.to_json())
    assert result.multivariate is not None
    assert "drift" in result.feature("a").decisions()
    window = next(f for f in doc["features"] if f["name"] == "huge")["windows"][0]
    assert window["ks"] is not None and window["psi"] is not None
    assert window["wasserstein"] is None
