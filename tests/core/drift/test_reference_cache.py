"""The prepared reference on disk: the same results, found again, damaged files rebuilt,
concurrent writers safe, the folder bounded."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.core.drift import reference_cache
from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.reference_cache import cached_reference, table_digest
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

DAY_US = 86_400_000_000


def _table(n: int, rng: np.random.Generator, *, shift: float = 0.0, ts: bool = False) -> pa.Table:
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.02] = np.nan
    cols = {
        "x": pa.array(x, mask=rng.random(n) < 0.01),
        "y": rng.lognormal(shift, 1.0, n),
        "z": 0.7 * x + rng.normal(size=n),
        "k": rng.integers(0, 6, n),
        "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        "score": 1 / (1 + np.exp(-rng.normal(shift, 1, n))),
    }
    if ts:
        us = rng.integers(0, 3 * DAY_US, n) + 1_767_225_600_000_000  # 2026-01-01
        cols = {"ts": pa.array(us, pa.timestamp("us", tz="UTC")), **cols}
    return pa.table(cols)


def assert_same(a, b) -> None:
    """Bit for bit: the JSON document (every statistic and decision) and every count."""
    assert a.to_json() == b.to_json()
    for x, y in zip(a.features, b.features, strict=True):
        np.testing.assert_array_equal(x.counts, y.counts)
        np.testing.assert_array_equal(x.reference_counts, y.reference_counts)


@pytest.fixture(scope="module")
def data() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(5)
    return _table(6000, rng), _table(9000, rng, shift=0.3, ts=True)


@pytest.fixture
def preparations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the real preparations made (a load from disk makes none)."""
    made: list[int] = []
    real = reference_cache.prepare_reference

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(reference_cache, "prepare_reference", counting)
    return made


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*"))


SETTINGS = [DriftSection(), DriftSection(exact_sample_limit=2500, bins=7, test="ks")]


@pytest.mark.parametrize("s", SETTINGS, ids=["default", "sampled-ks"])
def test_a_loaded_reference_gives_the_same_result(data, tmp_path, preparations, s) -> None:
    ref, cur = data
    kw = {"window": parse_window("1d"), "settings": s}
    direct = analyze_drift(ref, cur, **kw)
    first = cached_reference(ref, settings=s, folder=tmp_path)
    assert len(_files(tmp_path)) == 1 and len(preparations) == 1
    again = cached_reference(ref, settings=s, folder=tmp_path)
    assert len(preparations) == 1  # loaded, not prepared
    assert again is not first and again.table is ref
    assert_same(analyze_drift(first, cur, **kw), direct)
    assert_same(analyze_drift(again, cur, **kw), direct)


def test_the_key_follows_the_data_and_the_settings(data, tmp_path, preparations) -> None:
    ref, _ = data
    cached_reference(ref, folder=tmp_path)
    cached_reference(ref, settings=DriftSection(bins=12), folder=tmp_path)
    cached_reference(ref, seed=3, folder=tmp_path)
    cached_reference(ref, categorical=["k"], folder=tmp_path)
    x = ref.column("y").to_numpy().copy()
    x[17] += 1e-9  # one value changed
    changed = ref.set_column(ref.schema.get_field_index("y"), "y", pa.array(x))
    assert table_digest(changed) != table_digest(ref)
    cached_reference(changed, folder=tmp_path)
    assert len(preparations) == 5 and len(_files(tmp_path)) == 5
    # the same content read again (another table object, other buffers): found
    copy = pa.Table.from_batches(ref.to_batches())
    assert table_digest(copy) == table_digest(ref)
    cached_reference(copy, folder=tmp_path)
    assert len(preparations) == 5


def _hostile(path: Path, good: bytes) -> list[bytes]:
    """Damaged variants of a good cache file."""
    import io

    foreign = io.BytesIO()
    header = np.frombuffer(b'{"format": 999, "key": "x"}', dtype=np.uint8)
    np.savez(foreign, header=header)
    wrong_shape = io.BytesIO()
    np.savez(wrong_shape, header=np.frombuffer(b"[1, 2", dtype=np.uint8))
    return [
        good[: len(good) // 2],  # truncated by a crash
        b"",
        os.urandom(4096),
        b"PK\x03\x04" + os.urandom(500),  # a zip signature, then noise
        foreign.getvalue(),  # another format's file
        wrong_shape.getvalue(),  # not JSON
        good.replace(b'"format": 1', b'"format": 0'),  # an older format
    ]


def test_damaged_or_foreign_files_are_ignored_and_rebuilt(data, tmp_path, preparations) -> None:
    ref, cur = data
    kw = {"window": parse_window("1d")}
    direct = analyze_drift(ref, cur, **kw)
    cached_reference(ref, folder=tmp_path)
    (path,) = _files(tmp_path)
    good = path.read_bytes()
    variants = _hostile(path, good)
    # a good file of another key under this key's name: not this reference's
    other = tmp_path / "other"
    cached_reference(ref, settings=DriftSection(bins=5), folder=other)
    variants.append(_files(other)[0].read_bytes())
    for n, bad in enumerate(variants, start=2):
        path.write_bytes(bad)
        prepared = cached_reference(ref, folder=tmp_path)
        assert len(preparations) == n + 1, f"variant {n - 2} was used"
        assert_same(analyze_drift(prepared, cur, **kw), direct)
        assert path.read_bytes() != bad  # rebuilt in place
    cached_reference(ref, folder=tmp_path)  # the rebuilt file is used
    assert len(preparations) == len(variants) + 2


def test_concurrent_writers_leave_one_whole_file(data, tmp_path) -> None:
    ref, cur = data
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: cached_reference(ref, folder=tmp_path), range(4)))
    (only,) = _files(tmp_path)  # no temporary file left behind
    assert only.name.endswith(".wkref.npz")
    kw = {"window": parse_window(None)}
    direct = analyze_drift(ref, cur, **kw)
    for prepared in [*got, cached_reference(ref, folder=tmp_path)]:
        assert_same(analyze_drift(prepared, cur, **kw), direct)


def test_the_folder_is_bounded_least_recently_used_first(data, tmp_path) -> None:
    ref, _ = data
    cached_reference(ref, folder=tmp_path)
    (first,) = _files(tmp_path)
    size = first.stat().st_size
    bound = int(size * 2.5)  # room for two files
    os.utime(first, (1, 1))
    cached_reference(ref, seed=1, folder=tmp_path, max_bytes=bound)
    (second,) = [f for f in _files(tmp_path) if f != first]
    os.utime(second, (2, 2))
    cached_reference(ref, folder=tmp_path, max_bytes=bound)  # a hit: first is used again
    cached_reference(ref, seed=2, folder=tmp_path, max_bytes=bound)
    left = _files(tmp_path)
    assert len(left) == 2 and first in left and second not in left
    assert sum(f.stat().st_size for f in left) <= bound


def test_the_cli_prepares_the_reference_once(tmp_path, capsys) -> None:
    from watchkeeper.app import cli
    from watchkeeper.core.drift.reference_cache import reference_cache_dir

    rng = np.random.default_rng(2)
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    import pyarrow.parquet as pq

    pq.write_table(_table(3000, rng), ref)
    pq.write_table(_table(3000, rng, shift=0.2, ts=True), cur)
    args = ["drift", "--reference", str(ref), "--current", str(cur), "--json"]
    assert cli.main(args) == 0
    first = capsys.readouterr().out
    (stored,) = _files(reference_cache_dir())
    stamp = stored.stat().st_mtime_ns
    assert cli.main(args) == 0
    assert capsys.readouterr().out == first
    assert _files(reference_cache_dir()) == [stored] and stored.stat().st_mtime_ns >= stamp


def test_a_loaded_reference_reads_each_feature_when_asked(data, tmp_path) -> None:
    """The sorted values stay in the file until an analysis asks for a feature's, and are
    not held after: the same arrays as prepared, equal on every look-up and after pickling."""
    import pickle

    from watchkeeper.core.drift.reference import prepare_reference

    ref, cur = data
    prepared = prepare_reference(ref)
    cached_reference(ref, folder=tmp_path)
    loaded = cached_reference(ref, folder=tmp_path)
    stored = loaded.sorted_values
    assert isinstance(stored, reference_cache.StoredSortedValues)
    assert list(stored) == list(prepared.sorted_values)
    one, two = stored["x"], stored["x"]
    assert one.values is not two.values  # read per look-up, not kept
    for name, sr in prepared.sorted_values.items():
        np.testing.assert_array_equal(stored[name].values, sr.values)
        assert (stored[name].mode, stored[name].feature_index) == (sr.mode, sr.feature_index)
    again = pickle.loads(pickle.dumps(stored))
    np.testing.assert_array_equal(again["y"].values, prepared.sorted_values["y"].values)
    kw = {"window": parse_window("1d")}
    assert_same(
        analyze_drift(loaded.without_prepared_columns(), cur, **kw), analyze_drift(ref, cur, **kw)
    )


def test_what_an_analysis_holds_of_a_cached_reference_is_bounded(tmp_path) -> None:
    """Of a wide reference read into Arrow memory, ``run_drift`` keeps neither the prepared
    numerical columns nor every feature's sorted values: only the unprepared columns, and
    one feature's sorted values while it is measured (the wide demo's 419 MiB of both
    peaked with every window's work)."""
    import gc
    import tracemalloc

    rng = np.random.default_rng(2)
    n, width = 20_000, 40
    columns = {f"x{i:02d}": rng.normal(i, 1.0, n) for i in range(width)}
    columns["c"] = rng.choice(["a", "b", "c"], n)
    # in Arrow's pool, in batches of all columns, as a database read gives them
    ref = pa.Table.from_batches(pa.table(columns).to_batches(max_chunksize=4096))
    ref = pa.Table.from_arrays([pa.concat_arrays(c.chunks) for c in ref.columns], ref.column_names)
    numeric_bytes = n * width * 8  # 6.4 MB as float64
    cached_reference(ref, folder=tmp_path)  # prepared and stored
    base = pa.total_allocated_bytes() - ref.nbytes
    tracemalloc.start()
    try:
        slim = cached_reference(ref, folder=tmp_path).without_prepared_columns()
        del ref
        gc.collect()
        held_numpy = tracemalloc.get_traced_memory()[0]
        held_arrow = pa.total_allocated_bytes() - base
        one = slim.sorted_values["x07"].values
    finally:
        tracemalloc.stop()
    assert slim.table.column_names == ["c"]
    assert held_arrow < numeric_bytes / 10, held_arrow  # the read's numerical columns freed
    assert held_numpy < numeric_bytes / 10, held_numpy  # no feature's sorted values held
    assert one.size == n and np.all(np.diff(one) >= 0)
