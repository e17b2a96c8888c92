"""``analyze_drift``: reference vs current data in memory, per feature and window.

The pieces: the reference resolved (:func:`~watchkeeper.core.drift.reference.resolve_reference`:
data, a profile or a prepared reference), windows over the current data
(:mod:`~watchkeeper.core.telemetry.windows`), per-window counts from one pass
(:func:`~watchkeeper.core.drift.counting.count_windows`), the exact statistics
(:mod:`~watchkeeper.core.drift.exact`), on the numerical features the multivariate check
(:mod:`~watchkeeper.core.drift.multivariate`), and from all of it the statistics and decisions
(:func:`~watchkeeper.core.drift.derive.derive_result`). The same analysis with the current
data in a SQL table is :func:`~watchkeeper.core.drift.engine_sql.analyze_drift_sql`.

The exact statistics are computed when the reference is data (not only a profile). Here a
window above ``exact_sample_limit`` rows is measured on a seeded random sample (with
replacement) of that many. The reference is sorted once per feature, each window's values
once: that sort gives KS, Wasserstein and, when no window is sampled, the feature's bin
counts too (no separate counting pass for it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.counting import WindowCounts, count_windows, worker_threads
from watchkeeper.core.drift.data import NUMERICAL, as_table, numeric_values, timestamps_us
from watchkeeper.core.drift.derive import derive_result, warm_cutoffs
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.exact import (
    ExactStats,
    WindowSampler,
    exact_limit,
    exact_statistics,
)
from watchkeeper.core.drift.multivariate import (
    MultivariateDrift,
    multivariate_features,
    score_windows,
)
from watchkeeper.core.drift.profile import ReferenceProfile
from watchkeeper.core.drift.reference import (
    PreparedReference,
    pca_model_of,
    resolve_reference,
    sorted_values_of,
)
from watchkeeper.core.drift.result import DriftResult
from watchkeeper.core.memory import return_free_memory, return_free_memory_if_grown
from watchkeeper.core.progress import Cancelled, Progress
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import Windows, WindowSpec, assign_windows, plan_windows
from watchkeeper.core.times import to_us, us_to_datetime

__all__ = ["ColumnReader", "analyze_drift"]


@dataclass(frozen=True)
class ColumnReader:
    """Current data too large to hold at once, read a few columns at a time.

    ``read(columns)`` returns those columns of every current row; ``stream(columns, rows)``
    yields them in record batches of at most ``rows`` rows. Every call must return the rows
    in the same order (the engine checks the timestamps of each read against the first).
    ``batch_columns`` columns are held at once, so the memory is bounded by a batch, not by
    the width of the model: 500 features × 730,000 rows are 2.9 GB as float64, a batch of
    16 of them under 100 MB.
    """

    column_names: tuple[str, ...]
    read: Callable[[Sequence[str]], pa.Table]
    stream: Callable[[Sequence[str], int], Iterable[pa.RecordBatch]]
    batch_columns: int = 16


def analyze_drift(
    reference: Any,
    current: Any,
    *,
    window: WindowSpec,
    features: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    start: dt.datetime | dt.date | str | None = None,
    end: dt.datetime | dt.date | str | None = None,
    settings: DriftSection | None = None,
    prediction: str | None = "auto",
    order_by: str | None = "request_id",
    exact: bool = True,
    multivariate: bool = True,
    profile: ReferenceProfile | None = None,
    seed: int = 0,
    chunk_rows: int = 1 << 16,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    partial: Callable[[DriftResult], None] | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` per feature and window.

    ``reference`` is data (Arrow table, DataFrame, mapping of arrays), a
    :class:`ReferenceProfile` or a :class:`PreparedReference`
    (:func:`~watchkeeper.core.drift.reference.prepare_reference`: the same results as its data
    with its profile, without redoing the reference's work); ``current`` is data.
    ``window`` is a parsed window (:func:`~watchkeeper.core.telemetry.windows.parse_window`:
    ``1d``, ``6h``, ``7d``, ``5000rows``; ``parse_window(None)`` is one window over
    everything) — the caller parses it, also the spec's ``[drift] window``, which this
    function does not read. ``features`` defaults to every usable column that plays no
    telemetry role (``CANONICAL_ROLES``) and is not ``timestamp``; ``prediction`` names the
    score column analysed as prediction drift (``"auto"``: ``score`` when both sides have it;
    ``None``: none). ``start``/``end`` (naive = UTC) restrict the current data to
    ``[start, end)``. ``settings`` is the monitor spec's ``[drift]`` section (defaults when
    ``None``). ``profile`` is a profile of ``reference`` made earlier (reused as is; the
    reference data then serves only the exact statistics and the multivariate check).
    ``partial``, when given, first receives the result of the counts alone (every feature's
    binned statistics and decisions, no exact statistics or multivariate check yet, a note
    says so): every feature is counted before the exact statistics start, so a view can rank
    the features while they run.
    """
    s = settings or DriftSection()
    report = progress or (lambda f, m: None)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("drift analysis was cancelled")

    reader = current if isinstance(current, ColumnReader) else None
    if reader is not None:
        # only the columns every row needs (its window, its order); features come in batches
        names: Sequence[str] = reader.column_names
        cur = reader.read([c for c in dict.fromkeys((timestamp, order_by)) if c and c in names])
    else:
        cur = as_table(current, "current")
        names = cur.column_names
    spec = window
    if timestamp is not None and timestamp not in names:
        if spec.kind == "time" or start is not None or end is not None or timestamp != "ts":
            raise DriftError(
                f"current: no timestamp column {timestamp!r} (columns: {', '.join(names[:20])})"
            )
        timestamp = None  # the default name is absent: no timestamps, one window or rows
    ts = timestamps_us(cur.column(timestamp), timestamp) if timestamp else None
    start_us, end_us = to_us(start), to_us(end)
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise DriftError("the time range is empty: end is not after start")

    # Reference profile
    prepared = reference if isinstance(reference, PreparedReference) else None
    ref_table, profile, pred_name = resolve_reference(
        reference,
        s,
        names,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        prediction=prediction,
        what="current",
        profile=profile,
    )
    report(0.05, "reference profiled")
    check()

    # Windows
    n = cur.num_rows
    in_range = None
    if ts is not None and (start_us is not None or end_us is not None):
        in_range = np.ones(n, dtype=bool)
        if start_us is not None:
            in_range &= ts >= start_us
        if end_us is not None:
            in_range &= ts < end_us
        in_range &= ts != np.iinfo(np.int64).min
    valid_ts = (
        ts[(ts != np.iinfo(np.int64).min) if in_range is None else in_range]
        if (ts is not None)
        else None
    )
    ts_min = int(valid_ts.min()) if valid_ts is not None and valid_ts.size else None
    ts_max = int(valid_ts.max()) if valid_ts is not None and valid_ts.size else None
    n_in = int(in_range.sum()) if in_range is not None else n
    wins = plan_windows(spec, ts_min, ts_max, n_rows=n_in, start=start_us, end=end_us)
    order = None
    if spec.kind == "rows" and ts is not None:
        cand = (
            np.flatnonzero(in_range)
            if in_range is not None
            else np.flatnonzero(ts != np.iinfo(np.int64).min)
        )
        if order_by and order_by in names:
            tie = cur.column(order_by).take(pa.array(cand)).to_numpy(zero_copy_only=False)
            order = cand[np.lexsort((tie, ts[cand]))]
        else:
            order = cand[np.argsort(ts[cand], kind="stable")]
    if spec.kind == "rows" and ts is None:
        w = assign_windows(wins, None, np.arange(n))
    else:
        w = assign_windows(wins, ts if ts is not None else np.zeros(n, np.int64), order)
    if in_range is not None and spec.kind != "rows":
        w[~in_range] = -1
    if spec.kind == "rows":
        wins = _row_windows_ts(wins, ts, w)
    check()

    # Count once. A numerical feature whose exact statistics see every row of every window
    # gets its counts from the same sorted values (no second pass over its column); the
    # other features are counted in one pass here.
    n_windows = len(wins)
    in_window = w >= 0
    rows = np.bincount(w[in_window], minlength=n_windows)[:n_windows].astype(np.int64)
    notes: list[str] = []
    numeric = [fp for fp in profile.features if fp.kind == NUMERICAL]
    do_exact = bool(exact and ref_table is not None and numeric)
    if exact and numeric and ref_table is None:
        notes.append("exact KS and Wasserstein not computed: the reference is a profile only")
    # every window whole (none sampled): each feature's column is read once, and unless a
    # partial result comes first (counts before everything) its counts come from that sort
    limit, bounded = exact_limit(
        s.exact_sample_limit, len(numeric) if do_exact else 0, int(rows.sum()), n_windows
    )
    if bounded:
        notes.append(bounded)
    whole = do_exact and (n_windows == 0 or int(rows.max()) <= limit)
    # read in batches, the counts come from their own pass (the same integers)
    fused = partial is None and whole and reader is None
    rest = [fp.name for fp in profile.features if not (fused and fp.kind == NUMERICAL)]

    def count_progress(f: float, m: str) -> None:
        report(0.05 + 0.4 * f, m)

    def columns(wanted: Sequence[str]) -> Iterator[tuple[list[str], pa.Table]]:
        """``wanted`` with the table holding them: all at once in memory, else a batch of
        the reader's at a time (each read checked to be the same rows in the same order)."""
        if reader is None:
            yield list(wanted), cur
            return
        step = max(1, reader.batch_columns)

        def reads() -> Iterator[tuple[list[str], pa.Table]]:
            for lo in range(0, len(wanted), step):
                batch = list(wanted[lo : lo + step])
                extra = [timestamp] if timestamp is not None and timestamp not in batch else []
                table = reader.read([*batch, *extra])
                _check_same_rows(table, n, ts, timestamp)
                yield batch, table
                del table

        # the next batch is read while this one is measured (one batch more in memory)
        yield from read_ahead(reads())

    def count(wanted: Sequence[str]) -> None:
        done = 0
        for batch, table in columns(wanted):

            def batch_progress(f: float, m: str, done: int = done, size: int = len(batch)) -> None:
                count_progress((done + f * size) / max(1, len(wanted)), m)

            counted = count_windows(
                table,
                profile,
                w,
                n_windows,
                features=batch,
                chunk_rows=chunk_rows,
                progress=batch_progress,
                cancelled=cancelled,
            )
            by_name.update(zip(counted.features, counted.counts, strict=True))
            done += len(batch)

    # The exact statistics (per numerical feature) and the multivariate check run on a small
    # thread pool while this thread counts the other features: numpy's sorts, searches and
    # arithmetic and Arrow's kernels release the GIL.
    by_name: dict[str, np.ndarray] = {}
    exact_stats: dict[str, ExactStats] = {}
    mv_names, mv_note = multivariate_features([fp.name for fp in numeric if fp.name != pred_name])
    do_mv = bool(multivariate and ref_table is not None and len(mv_names) >= 2)
    if do_mv and mv_note:
        notes.append(mv_note)
    stop = threading.Event()  # tells the multivariate task to give up (cancelled)
    warm = None
    if partial is not None and s.thresholds == "calibrated":
        # the cut-offs need only the reference and the windows' sizes: made beside the
        # counting, the first ranking does not wait for them (0.5 s at 500 features)
        warm = threading.Thread(
            target=warm_cutoffs, args=(profile, rows, s), name="watchkeeper-cutoffs", daemon=True
        )
        warm.start()
    if partial is not None or reader is not None:
        # every feature counted (all of the CPU for it), the ranking sent, then the rest
        if rest:
            count(rest)
            if reader is not None:
                return_free_memory()  # the counting's freed batches, before the columns' reads
            rest = []
        check()
    if warm is not None:
        warm.join()
    if partial is not None:
        counted_all = WindowCounts(profile.names, tuple(by_name[n] for n in profile.names), rows)
        pending = [
            *(["exact statistics"] if do_exact else []),
            *(["the multivariate check"] if do_mv else []),
        ]
        partial(
            derive_result(
                profile,
                wins.with_rows(counted_all.rows),
                counted_all,
                s,
                prediction=pred_name,
                notes=[*notes, f"still running: {' and '.join(pending)}"] if pending else notes,
            )
        )
        report(0.45, f"ranked {len(profile.names):,} features; exact statistics next")
    pool = ThreadPoolExecutor(worker_threads()) if do_exact or do_mv else None
    futures: list[Future] = []
    try:
        if do_exact:
            assert pool is not None
            if n <= 1 or bool(np.all(w[1:] >= w[:-1])):
                idx = None
                wsorted = w
            else:
                # window indices fit 32 bits (MAX_WINDOWS): a cheaper stable sort than int64
                idx = np.argsort(w.astype(np.int32), kind="stable")
                wsorted = w[idx]
            first = np.searchsorted(wsorted, 0, side="left")
            splits = np.searchsorted(wsorted, np.arange(n_windows + 1), side="left")
            splits = np.maximum(splits, first)
            del wsorted

            def one(k: int, column: pa.ChunkedArray) -> tuple[ExactStats, np.ndarray | None]:
                fp = numeric[k]
                # the reference as the spec says (the budget bounds the current windows)
                ref, ref_mode = sorted_values_of(
                    prepared, ref_table, fp.name, k, s.exact_sample_limit, seed
                )
                values = None
                if whole or bounded:  # the whole column once (or the most of it)
                    values = numeric_values(column, fp.name)
                    if idx is not None:
                        values = values[idx]
                sampler = WindowSampler(column, fp.name, values, idx, splits, limit, seed, k)
                edges = np.asarray(fp.edges, dtype=np.float64) if fused else None
                return exact_statistics(ref, ref_mode, sampler, n_windows, fp.std, edges)

            if reader is None:
                futures = [pool.submit(one, k, cur.column(fp.name)) for k, fp in enumerate(numeric)]
        mv_future = None
        if do_mv:
            assert pool is not None

            def multivariate_task() -> MultivariateDrift | None:
                model = pca_model_of(prepared, ref_table, mv_names, seed)
                if model is None:
                    return None
                # Like the exact statistics: every row up to the limit per window, else a
                # seeded random sample of about that many (each window says which).
                big = rows > limit
                rows_sel = None
                if big.any():
                    rows_sel = np.flatnonzero(in_window)
                    share = np.where(big, limit / np.maximum(rows, 1), 1.0)
                    rng = np.random.default_rng([seed, 1 << 31])
                    rows_sel = rows_sel[rng.random(rows_sel.size) < share[w[rows_sel]]]
                chunks = (
                    _row_chunks(cur, mv_names, w, rows_sel)
                    if reader is None
                    else _streamed_row_chunks(reader, mv_names, w, rows_sel, ts, timestamp)
                )
                return score_windows(
                    model,
                    chunks,
                    n_windows,
                    min_rows=s.min_rows,
                    sampled=big,
                    window_rows=rows,
                    cancelled=stop.is_set,
                )

            mv_future = pool.submit(multivariate_task)
        if rest:
            count(rest)
            if reader is not None:
                return_free_memory()  # the counting's freed batches, before the columns' reads
        if partial is None:  # else the ranking's message stays until the exact statistics
            report(0.45, "counted")
        check()

        def collect(k: int, fut: Future) -> None:
            ex, c = fut.result()
            exact_stats[numeric[k].name] = ex
            if c is not None:
                by_name[numeric[k].name] = c
            report(
                0.45 + 0.45 * (k + 1) / len(numeric),
                f"exact statistics {k + 1:,}/{len(numeric):,} features",
            )
            check()

        for k, fut in enumerate(futures):
            collect(k, fut)
        if reader is not None and do_exact:
            assert pool is not None
            # a batch of columns at a time: its features measured, then the batch let go
            k = 0
            for batch, table in columns([fp.name for fp in numeric]):
                futures = [pool.submit(one, k + j, table.column(nm)) for j, nm in enumerate(batch)]
                for j, fut in enumerate(futures):
                    collect(k + j, fut)
                k += len(batch)
                futures = []
                del table
                # freed blocks pile up across the threads' heaps at millions of rows; a trim
                # after every batch cost 2.5 s for nothing at 730,000 (memory.py)
                return_free_memory_if_grown()
        mv = None
        if mv_future is not None:
            mv = mv_future.result()
            if mv is None:
                notes.append("multivariate drift not computed: too few reference rows")
    finally:
        stop.set()
        for fut in futures:
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    counts = WindowCounts(profile.names, tuple(by_name[name] for name in profile.names), rows)
    wins = wins.with_rows(counts.rows)
    report(0.98, "deciding")
    result = derive_result(
        profile,
        wins,
        counts,
        s,
        prediction=pred_name,
        exact=exact_stats,
        multivariate=mv,
        notes=notes,
    )
    report(1.0, "done")
    return result


def _row_chunks(
    table: pa.Table,
    names: Sequence[str],
    w: np.ndarray,
    rows: np.ndarray | None,
    chunk_rows: int = 1 << 15,
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``(values (m, d), window (m,))`` of the numerical ``names``, a few thousand rows at a
    time: of every row (``rows`` is None) or of the sorted row numbers ``rows``."""
    columns = [table.column(c) for c in names]
    if rows is not None:
        # rows are sorted: per block of the table, the chosen rows inside it
        step = max(chunk_rows, 1 << 16)
        for lo in range(0, table.num_rows, step):
            a, b = np.searchsorted(rows, [lo, lo + step])
            if a == b:
                continue
            # only the chosen rows are taken from Arrow (not the whole block converted)
            for s in range(a, b, chunk_rows):
                sub = rows[s : min(s + chunk_rows, b)]
                x = np.empty((sub.size, len(names)))
                for j, (c, name) in enumerate(zip(columns, names, strict=True)):
                    x[:, j] = numeric_values(c.take(sub), name)
                yield x, w[sub]
        return
    for lo in range(0, table.num_rows, chunk_rows):
        n = min(chunk_rows, table.num_rows - lo)
        x = np.empty((n, len(names)))
        for j, (c, name) in enumerate(zip(columns, names, strict=True)):
            x[:, j] = numeric_values(c.slice(lo, n), name)
        yield x, w[lo : lo + n]


def _check_same_rows(
    table: pa.Table, rows: int | None, ts: np.ndarray | None, timestamp: str | None, lo: int = 0
) -> None:
    """A batch read must hold the rows of the first read, in its order: ``rows`` of them
    (None: a block from row ``lo`` on), their timestamps those of ``ts``."""
    same = rows is None or table.num_rows == rows
    if same and ts is not None and timestamp is not None:
        got = timestamps_us(table.column(timestamp), timestamp)
        same = bool(np.array_equal(got, ts[lo : lo + got.size]))
    if not same:
        raise DriftError(
            "the current data came back in a different order between two reads; "
            "it cannot be analysed a few columns at a time"
        )


def _streamed_row_chunks(
    reader: ColumnReader,
    names: Sequence[str],
    w: np.ndarray,
    rows: np.ndarray | None,
    ts: np.ndarray | None,
    timestamp: str | None,
    chunk_rows: int = 1 << 15,
    batch_rows: int = 1 << 13,
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """:func:`_row_chunks` of the reader's rows, streamed: the same pieces, value for value
    (so the same sums), filled from small batches of ``names`` as they arrive, so only one
    piece and one batch are in memory at a time (not a block of every row of ``names``)."""
    n = len(w)
    chosen = np.arange(n) if rows is None else rows
    # the pieces _row_chunks cuts, as (first, end) positions in ``chosen``
    pieces: list[tuple[int, int]] = []
    step = chunk_rows if rows is None else max(chunk_rows, 1 << 16)
    for lo in range(0, n, step):
        if rows is None:
            a, b = lo, min(lo + step, n)
        else:
            a, b = (int(v) for v in np.searchsorted(rows, [lo, lo + step]))
        pieces.extend((s, min(s + chunk_rows, b)) for s in range(a, b, chunk_rows))
    if not pieces:
        return
    extra = [timestamp] if timestamp is not None and timestamp not in names else []
    k = 0  # the next position of ``chosen`` to fill
    piece = 0
    x = np.empty((pieces[0][1] - pieces[0][0], len(names)))
    pos = 0  # the batch's first row
    for batch in reader.stream([*names, *extra], batch_rows):
        _check_same_rows(pa.Table.from_batches([batch]), None, ts, timestamp, pos)
        end = pos + batch.num_rows
        stop = int(np.searchsorted(chosen, end))
        while k < stop:
            first, last = pieces[piece]
            upto = min(stop, last)
            local = pa.array(chosen[k:upto] - pos)
            for j, name in enumerate(names):
                x[k - first : upto - first, j] = numeric_values(
                    batch.column(name).take(local), name
                )
            k = upto
            if k == last:
                yield x, w[chosen[first:last]]
                piece += 1
                if piece == len(pieces):
                    return
                x = np.empty((pieces[piece][1] - pieces[piece][0], len(names)))
        pos = end
    raise DriftError("the current data ended early on a second read")


def _row_windows_ts(windows: Windows, ts: np.ndarray | None, w: np.ndarray) -> Windows:
    """Start/end of row windows: the first and last event time in each."""
    if ts is None or len(windows) == 0:
        return windows
    n = len(windows)
    ok = (w >= 0) & (ts != np.iinfo(np.int64).min)
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(lo, w[ok], ts[ok])
    np.maximum.at(hi, w[ok], ts[ok])
    starts = tuple(us_to_datetime(x) if x != np.iinfo(np.int64).max else None for x in lo)
    ends = tuple(us_to_datetime(x) if x != np.iinfo(np.int64).min else None for x in hi)
    return Windows(windows.spec, starts, ends, windows.bounds, windows.rows)


def read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, the next one produced on a thread of its own while the caller works on the
    current one: reading a batch of columns (DuckDB, Arrow: the GIL released) overlaps with
    measuring the previous batch. Two items at most are alive: the caller's and the one
    made ahead (the next is not started until the caller takes that one). An error in
    ``items`` is raised where the caller takes the item; closing the generator stops the
    thread."""
    import contextlib
    import queue

    box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(1)  # released when the caller takes the item made ahead
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            it = iter(items)
            while True:
                while not taken.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(it, end)
                box.put((True, item))  # never blocks: the box was emptied before `taken`
                if item is end:
                    return
                del item
        except BaseException as exc:  # handed to the consumer
            box.put((False, exc))

    thread = threading.Thread(target=produce, name="watchkeeper-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = box.get()
            taken.release()
            if not ok:
                raise item
            if item is end:
                return
            yield item
            del item
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full box finish
            with contextlib.suppress(queue.Empty):
                box.get_nowait()
            thread.join(timeout=0.05)
