"""The current data read a batch of columns at a time (``ColumnReader``) gives the result of
the whole table, value for value: counts, exact statistics on every row or on a sample, the
multivariate check, the partial ranking; and a reader whose rows change order is refused."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from watchkeeper.core.drift.engine import ColumnReader, analyze_drift
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import parse_window

DAYS, PER_DAY = 5, 14_000  # 70,000 rows: more than one block of the streamed rows


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> dict:
    a = rng.normal(size=n)
    cols = {f"x{i}": rng.normal(shift * (i % 3 == 0), 1.0, n) for i in range(9)}
    cols["x0"][rng.random(n) < 0.02] = np.nan
    cols["a"] = a
    cols["b"] = 0.8 * a + 0.6 * rng.normal(size=n)
    cols["c"] = rng.choice(["k0", "k1", "k2", "k3"], n, p=[0.4, 0.3, 0.2, 0.1])
    cols["score"] = 1 / (1 + np.exp(-cols["x1"]))
    return cols


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pa.Table]:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame(_frame(20_000, rng))
    days = []
    for d in range(DAYS):
        frame = pd.DataFrame(_frame(PER_DAY, rng, shift=0.5 if d >= 3 else 0.0))
        frame["request_id"] = [f"r{d}-{i}" for i in range(PER_DAY)]
        frame["ts"] = (
            pd.Timestamp("2026-03-01", tz="UTC")
            + pd.Timedelta(days=d)
            + pd.to_timedelta(rng.random(PER_DAY) * 86_399, unit="s")  # not in time order
        )
        days.append(frame)
    return ref, pa.Table.from_pandas(pd.concat(days, ignore_index=True), preserve_index=False)


def _reader(table: pa.Table, batch_columns: int, reads: list[Sequence[str]]) -> ColumnReader:
    def read(names: Sequence[str]) -> pa.Table:
        reads.append(tuple(names))
        return table.select(list(names))

    def stream(names: Sequence[str], rows: int):
        # uneven batches: the engine re-blocks them as the in-memory pass cuts its rows
        picked = table.select(list(names))
        lo, size = 0, 1
        while lo < picked.num_rows:
            yield from picked.slice(lo, size).to_batches()
            lo, size = lo + size, min(rows, size * 3 + 7)

    return ColumnReader(tuple(table.column_names), read, stream, batch_columns)


@pytest.mark.parametrize("limit", [100_000, 5_000])  # every row; a seeded sample per window
def test_batches_of_columns_give_the_whole_tables_result(data, limit: int) -> None:
    ref, cur = data
    kwargs = dict(
        window=parse_window("1d"),
        categorical=["c"],
        settings=DriftSection(exact_sample_limit=limit),
    )
    whole_partial, batched_partial = [], []
    whole = analyze_drift(ref, cur, partial=whole_partial.append, **kwargs)
    reads: list[Sequence[str]] = []
    batched = analyze_drift(ref, _reader(cur, 3, reads), partial=batched_partial.append, **kwargs)
    assert batched.to_json() == whole.to_json()
    assert batched_partial[0].to_json() == whole_partial[0].to_json()
    # no read held more than a batch of features (and the timestamps that check the order)
    assert max(len(set(r) - {"ts", "request_id"}) for r in reads) <= 3
    assert whole.multivariate is not None and whole.feature("x0").windows[0].ks is not None
    assert any(
        w.exact == ("all" if limit > PER_DAY else "sample") for w in whole.feature("x3").windows
    )
    # without a partial result the counts come from their own pass: the same integers
    alone = analyze_drift(ref, _reader(cur, 4, []), **kwargs)
    assert alone.to_json() == whole.to_json()


def test_the_streamed_exact_statistics_give_freed_memory_back_between_batches(
    data, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch of columns is let go and the allocator's free memory returned before the
    next one once the process has grown by ``GROWTH_BYTES``, and once after the counting:
    glibc and Arrow kept what a column's statistics freed, and the process grew with it (the
    CLI at 4,000,000 rows × 41 features: peak 1.36 GB without, 1.12-1.14 GB with). A trim
    after every batch whatever the growth cost 2.5 s at 500 features × 730,000 rows."""
    import watchkeeper.core.memory as memory

    if memory._malloc_trim() is None:
        pytest.skip("no glibc malloc_trim here: nothing to count")
    ref, cur = data
    numerical = 12  # x0..x8, a, b, score: batches of 3
    trims = []
    for growth in (0, 1 << 40):  # every batch grew enough / none did
        monkeypatch.setattr(memory, "GROWTH_BYTES", growth)
        before = memory.trims_done()
        analyze_drift(ref, _reader(cur, 3, []), window=parse_window("1d"), categorical=["c"])
        trims.append(memory.trims_done() - before)
    assert trims[0] >= 1 + numerical // 3
    assert trims[1] <= 2  # after the counting, and the first ask if none was made before


def test_a_reader_whose_rows_move_is_refused(data) -> None:
    ref, cur = data
    calls = {"n": 0}

    def read(names: Sequence[str]) -> pa.Table:
        calls["n"] += 1
        t = cur.select(list(names))
        return t if calls["n"] == 1 else t.take(pa.array(np.arange(t.num_rows)[::-1]))

    reader = ColumnReader(tuple(cur.column_names), read, lambda names, rows: iter(()), 4)
    with pytest.raises(DriftError, match="different order"):
        analyze_drift(ref, reader, window=parse_window("1d"), categorical=["c"])


def test_read_ahead_hands_over_items_errors_and_stops_when_closed() -> None:
    """The batches come in order; an error in the reader is raised where the batch is taken;
    closing early stops the reading thread (no thread left reading behind the analysis)."""
    import threading
    import time

    from watchkeeper.core.drift.engine import read_ahead

    assert list(read_ahead(iter(range(5)))) == [0, 1, 2, 3, 4]

    def failing():
        yield 1
        raise ValueError("the database went away")

    got = read_ahead(failing())
    assert next(got) == 1
    with pytest.raises(ValueError, match="went away"):
        next(got)

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = read_ahead(endless())
    assert [next(it), next(it)] == [0, 1]
    # while the caller holds item 1, exactly one more is made ahead, and no further one:
    # two batches of columns in memory, not three
    time.sleep(0.3)
    assert produced == [0, 1, 2]
    it.close()
    assert not any(t.name == "watchkeeper-read-ahead" for t in threading.enumerate())
    assert produced == [0, 1, 2]
