"""``analyze_drift_sql``: :func:`~watchkeeper.core.drift.engine.analyze_drift` with the current
data in a SQL table, counted where it lives.

The counts come back from one statement
(:func:`~watchkeeper.core.drift.sql_counts.count_windows_sql`: at most features × windows ×
bins rows). The exact statistics (KS, Wasserstein) and the multivariate check need raw rows:
when the reference is data (not only a profile), a second statement fetches the numerical
features of at most ``exact_sample_limit`` rows per window
(:func:`~watchkeeper.core.drift.sql_counts.sample_statement`: a window that fits comes back
whole, ``exact = "all"``; a larger one as a seeded systematic sample, ``exact = "sample"``),
ordered by window, and each window is measured as its rows arrive — memory holds one window's
sample. Statistics and decisions are then derived as in memory
(:func:`~watchkeeper.core.drift.derive.derive_result`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from watchkeeper.core.drift.counting import worker_threads
from watchkeeper.core.drift.data import NUMERICAL
from watchkeeper.core.drift.derive import derive_result
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.exact import ExactStats, exact_limit
from watchkeeper.core.drift.exact_batch import SortedReference
from watchkeeper.core.drift.multivariate import (
    MultivariateDrift,
    decide_windows,
    multivariate_features,
)
from watchkeeper.core.drift.profile import FeatureProfile
from watchkeeper.core.drift.reference import (
    PreparedReference,
    pca_model_of,
    resolve_reference,
    sorted_values_of,
)
from watchkeeper.core.drift.result import DriftResult
from watchkeeper.core.drift.sql_counts import (
    count_windows_sql,
    fetch_float_blocks,
    plan_windows_sql,
    sample_statement,
)
from watchkeeper.core.progress import Cancelled, Progress
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.sql import reflect_table
from watchkeeper.core.telemetry.windows import Windows, WindowSpec
from watchkeeper.core.times import to_us

__all__ = ["analyze_drift_sql"]

#: Fetched values (rows × numerical features) held before the exact statistics measure them.
#: Each feature's batch makes about ten temporaries of its size in ``ks_wasserstein_windows``,
#: on each worker thread: at 8,000,000 the demo's drift (2.4M events pushed down) peaked at
#: 1.20-1.22 GiB, 0.6 GiB of it numpy's (tracemalloc); at 2,000,000 0.91-0.93 GiB, and it
#: took 5.3-6.3 s against 7.2-7.5 s (two runs each, load ~6).
BUFFER_VALUES = 2_000_000


def analyze_drift_sql(
    reference: Any,
    conn: Any,
    table: Any,
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
    where: Any = None,
    order_by: Sequence[str] = ("request_id",),
    exact: bool = True,
    multivariate: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    partial: Callable[[DriftResult], None] | None = None,
) -> DriftResult:
    """Compare the rows of ``table`` with ``reference`` per feature and window (see the
    module's description).

    ``reference``, ``window`` and the other arguments as for
    :func:`~watchkeeper.core.drift.engine.analyze_drift`. ``conn`` is a SQLAlchemy
    ``Connection``; ``table`` a table name (``schema.table``) or a SQLAlchemy table; ``where``
    an optional extra filter on it (e.g. model and version); ``order_by`` the columns that
    break timestamp ties (row windows, the sample's order). ``partial`` as for
    :func:`~watchkeeper.core.drift.engine.analyze_drift`: the counts' result before the rows
    are fetched for the exact statistics.
    """
    s = settings or DriftSection()
    report = progress or (lambda f, m: None)
    t = reflect_table(conn, table) if isinstance(table, str) else table
    cols = [c.name for c in t.c]
    if timestamp is not None and timestamp not in cols:
        raise DriftError(f"current: no timestamp column {timestamp!r} in the table")
    start_us, end_us = to_us(start), to_us(end)
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise DriftError("the time range is empty: end is not after start")
    ref_table, profile, pred_name = resolve_reference(
        reference,
        s,
        cols,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        prediction=prediction,
        what="current table",
    )
    report(0.05, "reference profiled")
    wins = plan_windows_sql(
        conn, t, window, timestamp=timestamp, start=start_us, end=end_us, where=where
    )
    ties = [c for c in order_by if c in cols]
    numeric = [fp for fp in profile.features if fp.kind == NUMERICAL]
    mv_names, mv_note = multivariate_features([fp.name for fp in numeric if fp.name != pred_name])
    want_exact = bool(exact and numeric)
    want_mv = bool(multivariate and len(mv_names) >= 2)
    fetch = ref_table is not None and (want_exact or want_mv)
    share = 0.6 if fetch else 0.9

    def count_progress(f: float, m: str) -> None:
        report(0.05 + share * f, m)

    counts = count_windows_sql(
        conn,
        t,
        profile,
        wins,
        timestamp=timestamp,
        where=where,
        order_by=ties,
        start=start_us,
        end=end_us,
        progress=count_progress,
        cancelled=cancelled,
    )
    wins = wins.with_rows(counts.rows)
    # a reference prepared in the database says so (reference_sql)
    notes: list[str] = list(reference.notes) if isinstance(reference, PreparedReference) else []
    exact_stats: dict[str, ExactStats] = {}
    mv = None
    if fetch and partial is not None:
        partial(
            derive_result(
                profile,
                wins,
                counts,
                s,
                prediction=pred_name,
                notes=["still running: the exact statistics and the multivariate check"],
            )
        )
    if fetch:
        exact_stats, mv, more = _exact_from_sql(
            conn,
            t,
            wins,
            counts.rows,
            ref_table,
            numeric,
            mv_names if want_mv else [],
            exact=want_exact,
            settings=s,
            seed=seed,
            timestamp=timestamp,
            where=where,
            order_by=ties,
            start=start_us,
            end=end_us,
            progress=lambda f, m: report(0.65 + 0.3 * f, m),
            cancelled=cancelled,
            prepared=reference if isinstance(reference, PreparedReference) else None,
        )
        notes += more
        if want_mv and mv_note:
            notes.append(mv_note)
    elif want_exact or want_mv:
        notes.append(
            "counts pushed down to the database; the reference is a profile only, so exact "
            "KS, Wasserstein and the multivariate check (which need raw reference values) "
            "were not computed"
        )
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


def _exact_from_sql(
    conn: Any,
    table: Any,
    wins: Windows,
    rows: np.ndarray,
    ref_table: pa.Table,
    numeric: Sequence[FeatureProfile],
    mv_names: Sequence[str],
    *,
    exact: bool,
    settings: DriftSection,
    seed: int,
    timestamp: str | None,
    where: Any,
    order_by: Sequence[str],
    start: int | None,
    end: int | None,
    progress: Progress,
    cancelled: Callable[[], bool] | None,
    prepared: PreparedReference | None = None,
) -> tuple[dict[str, ExactStats], MultivariateDrift | None, list[str]]:
    """Exact statistics and the multivariate check on rows fetched window by window."""
    limit, bounded = exact_limit(
        settings.exact_sample_limit, len(numeric) if exact else 0, int(rows.sum()), len(wins)
    )
    n_windows = len(wins)
    notes: list[str] = [bounded] if bounded else []
    names = [fp.name for fp in numeric]
    model = None
    if mv_names:
        model = pca_model_of(prepared, ref_table, mv_names, seed)
        if model is None:
            notes.append("multivariate drift not computed: too few reference rows")
    if not exact and model is None:
        return {}, None, notes
    ref_limit = settings.exact_sample_limit  # the budget bounds the current windows only
    refs = [
        sorted_values_of(prepared, ref_table, n, k, ref_limit, seed) for k, n in enumerate(names)
    ]
    stats = [ExactStats.empty(n_windows) for _ in names]
    mv_at = [names.index(c) for c in mv_names] if model is not None else []
    sums = np.zeros(n_windows)
    scored = np.zeros(n_windows, dtype=np.int64)
    stmt = sample_statement(
        table,
        wins,
        names,
        limit=limit,
        seed=seed,
        timestamp=timestamp,
        where=where,
        order_by=order_by,
        start=start,
        end=end,
    )

    sorted_refs = [SortedReference.of(ref) for ref, _ in refs]
    # windows wait here until about BUFFER_VALUES values are fetched, then each feature
    # measures all of them at once (exact_batch.py); bounded memory, few calls
    waiting: list[tuple[int, np.ndarray]] = []

    def measure_waiting(pool: ThreadPoolExecutor) -> None:
        if not waiting:
            return
        index = np.array([i for i, _ in waiting])

        def one(k: int) -> None:
            parts = []
            for _, x in waiting:
                v = np.sort(x[:, k])
                parts.append(v[np.isfinite(v)])
            at = np.zeros(len(parts) + 1, dtype=np.int64)
            np.cumsum([v.size for v in parts], out=at[1:])
            modes = [refs[k][1] if rows[i] <= limit else "sample" for i, _ in waiting]
            stats[k].measure_windows(
                index, sorted_refs[k], np.concatenate(parts), at, modes, numeric[k].std
            )

        if exact:
            list(pool.map(one, range(len(names))))
        waiting.clear()

    def window_done(i: int, x: np.ndarray, pool: ThreadPoolExecutor) -> None:
        if exact:
            waiting.append((i, x))
            if sum(v.shape[0] for _, v in waiting) * max(len(names), 1) >= BUFFER_VALUES:
                measure_waiting(pool)
        if model is not None and x.shape[0]:
            sums[i] = model.errors(x[:, mv_at]).sum()
            scored[i] = x.shape[0]

    progress(0.0, "fetching a sample of rows")
    blocks = fetch_float_blocks(conn, stmt, len(names) + 1)
    refused: tuple[type[BaseException], ...] = (sa.exc.DBAPIError, *_native_errors(conn))
    try:
        with ThreadPoolExecutor(worker_threads()) as pool:
            current, done = -1, 0
            parts: list[np.ndarray] = []
            for arr in blocks:
                if cancelled is not None and cancelled():
                    raise Cancelled("drift analysis was cancelled")
                w = arr[:, 0].astype(np.int64)
                # rows come ordered by window: cut the block where the window changes
                cuts = np.flatnonzero(w[1:] != w[:-1]) + 1
                for lo, hi in zip(
                    np.concatenate([[0], cuts]), np.concatenate([cuts, [len(w)]]), strict=True
                ):
                    if w[lo] != current:
                        if parts:
                            window_done(current, np.concatenate(parts), pool)
                            done += 1
                            progress(done / max(n_windows, 1), "exact statistics")
                        current, parts = int(w[lo]), []
                    parts.append(arr[lo:hi, 1:])
            if parts:
                window_done(current, np.concatenate(parts), pool)
            measure_waiting(pool)
    except refused as exc:
        conn.rollback()
        from watchkeeper.core.telemetry.sql_values import short_error

        raise DriftError(f"the database refused the sample query: {short_error(exc)}") from None
    finally:
        blocks.close()
    exact_stats = dict(zip(names, stats, strict=True)) if exact else {}
    mv = (
        decide_windows(
            model,
            sums,
            scored,
            min_rows=settings.min_rows,
            sampled=rows > limit,
            window_rows=rows,
        )
        if model is not None
        else None
    )
    sampled = int(np.count_nonzero(rows > limit))
    notes.append(
        "counts pushed down to the database; exact statistics and the multivariate check "
        "on rows fetched from it: "
        + (
            f"{sampled} window(s) above {limit:,} rows on a seeded systematic sample of "
            f"{limit:,} rows, the others on every row"
            if sampled
            else "every row"
        )
    )
    return exact_stats, mv, notes


def _native_errors(conn: Any) -> tuple[type[BaseException], ...]:
    """The driver's own error classes where rows are read past SQLAlchemy (DuckDB's stream)."""
    if conn.dialect.name == "duckdb":
        import duckdb

        return (duckdb.Error,)
    return ()
