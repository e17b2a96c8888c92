"""The events a Slices analysis reads, within a memory bound — no Qt.

Slice metrics need every event of the window, but of it only the time, the outputs (score
and label; a multiclass model's columns) and the slices' own columns. The worst-slice search
needs every feature, but only of a seeded sample of at most :data:`~.worst_slices.SEARCH_ROWS`
searched events a period. A window whose every column fits in :data:`WINDOW_BYTES` is read
once, whole, as it always was. A larger one is read as two bounded parts:

- the window's narrow columns, every event (the slices' metrics are exact);
- the search's columns of the window and of the reference period, a batch at a time,
  sampled as they stream (:func:`~.data.sample_events`).

Measured on a DuckDB table of 6,000,000 events x 50 features (3,000,000 in the window, as
many in the reference), the Slices view read both periods whole: its process peaked at
4.19 GiB. The bound (the window's narrow columns, two samples of 200,000 events, one batch)
does not grow with the features, and grows with the window's events only by its narrow
columns.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from watchkeeper.core.evaluation.data import read_events, sample_events
from watchkeeper.core.progress import CancelCheck, check_cancelled

__all__ = ["WINDOW_BYTES", "SliceWindow", "read_slice_window"]

#: A window whose columns take more than this (events x columns x 8 bytes) is read as two
#: bounded parts (the module's doc). The wide demo's window (62,000 events x 503 columns,
#: 250 MB) is read whole, and its builder counts any column without a read.
WINDOW_BYTES = 256 << 20


@dataclass(frozen=True)
class SliceWindow:
    """What a Slices analysis reads of its window and of the reference period."""

    #: every event of the window: every column, or (``bounded``) time, outputs and slices
    current: pa.Table
    #: the events the worst-slice search takes (``current`` itself, or a seeded sample)
    search: pa.Table
    #: the reference period's events for the search (whole, or a sample); None: no period
    baseline: pa.Table | None
    #: the reference period's events before any sampling (0: none there)
    baseline_rows: int
    #: the samples drawn, said plainly (:func:`~.worst_slices.sample_note`)
    notes: tuple[str, ...] = ()
    bounded: bool = False


def read_slice_window(
    src: Any,
    *,
    model: str | None,
    version: str,
    start: dt.datetime,
    end: dt.datetime,
    outputs: Sequence[str],
    features: Sequence[str],
    slice_columns: Sequence[str],
    reference: tuple[str, dt.datetime, dt.datetime] | None,
    search: bool = True,
    outcomes: Any = None,
    label_column: str | None = None,
    prediction_column: str | None = None,
    cancelled: CancelCheck | None = None,
    window_bytes: int | None = None,
) -> SliceWindow:
    """The window's events and the search's, whole or in two bounded parts (module doc).

    ``reference``: ``(version, start, end)`` of the period the worst slices are compared
    with; ``search`` False: the search is not run (nothing of the reference is read).
    ``window_bytes``: the bound (default :data:`WINDOW_BYTES`).
    """
    from watchkeeper.core.evaluation import worst_slices
    from watchkeeper.core.evaluation.worst_slices import sample_note, searched_rows
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    narrow = list(dict.fromkeys(["ts", *outputs, *slice_columns]))
    every = list(dict.fromkeys([*narrow, *features]))
    selected = TelemetryQuery(model=model, versions=(version,), start=start, end=end)
    events = src.count(selected)
    check_cancelled(cancelled)
    limit = WINDOW_BYTES if window_bytes is None else window_bytes
    bounded = events * len(every) * 8 > limit and bool(features)
    if bounded:
        from watchkeeper.core.telemetry.sql import bound_duckdb_cache

        bound_duckdb_cache(src)  # else DuckDB caches each block it streams, up to 2 GB
    current = read_events(
        src,
        model=model,
        versions=[version],
        start=start,
        end=end,
        columns=narrow if bounded else every,
        cancelled=cancelled,
    )
    baseline, baseline_rows = None, 0
    if search and reference is not None:
        check_cancelled(cancelled)  # a replaced analysis reads no second wide window
        ref_version, ref_start, ref_end = reference
        if bounded:
            period = TelemetryQuery(
                model=model, versions=(ref_version,), start=ref_start, end=ref_end
            )
            baseline_rows = src.count(period)
        else:
            baseline = read_events(
                src,
                model=model,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=every,
                cancelled=cancelled,
            )
            baseline_rows = baseline.num_rows
    if not bounded:
        return SliceWindow(current, current, baseline, baseline_rows)
    kept = functools.partial(
        searched_rows,
        outcomes=outcomes,
        label_column=label_column,
        prediction_column=prediction_column,
    )
    searched = [*outputs, *features]
    notes: list[str] = []
    sample = current.slice(0, 0)
    if search:
        sample, total = sample_events(
            src,
            model=model,
            versions=[version],
            start=start,
            end=end,
            columns=searched,
            kept=kept,
            max_rows=worst_slices.SEARCH_ROWS,
            seed=0,
            cancelled=cancelled,
        )
        if total > worst_slices.SEARCH_ROWS:
            notes.append(sample_note(worst_slices.SEARCH_ROWS, total, "events"))
        if reference is not None and baseline_rows:
            ref_version, ref_start, ref_end = reference
            baseline, total = sample_events(
                src,
                model=model,
                versions=[ref_version],
                start=ref_start,
                end=ref_end,
                columns=searched,
                kept=kept,
                max_rows=worst_slices.SEARCH_ROWS,
                seed=1,
                cancelled=cancelled,
            )
            if total > worst_slices.SEARCH_ROWS:
                notes.append(sample_note(worst_slices.SEARCH_ROWS, total, "baseline"))
    return SliceWindow(current, sample, baseline, baseline_rows, tuple(notes), bounded=True)
