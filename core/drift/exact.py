"""Exact statistics per window: KS and Wasserstein on raw values, all or a seeded sample.

They need raw values on both sides: the reference's finite values sorted once per feature
(:func:`~watchkeeper.core.drift.reference.sorted_reference`), each window's values sorted
once. A window with at most ``exact_sample_limit`` values is measured on all of them
(``"all"``), a larger one on a seeded sample of that many (``"sample"``); each window says
which, with the sizes used. In memory the sample is a seeded random one with replacement
(:func:`window_sampler`); from a SQL table the engine fetches a seeded systematic one
(:func:`~watchkeeper.core.drift.sql_counts.sample_statement`) and measures each window with
:meth:`ExactStats.measure` as it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.data import numeric_values
from watchkeeper.core.drift.exact_batch import SortedReference, ks_wasserstein_windows

__all__ = [
    "EXACT_VALUES",
    "ExactStats",
    "WindowValues",
    "exact_limit",
    "exact_statistics",
    "window_sampler",
]

#: The exact statistics' budget: at most about this many current values (numerical features
#: × rows) are measured in one analysis. The cost is linear in it (a search of each value in
#: the sorted reference); 500 features × 730,000 rows is 300 million values, minutes.
EXACT_VALUES = 60_000_000
#: ... but never fewer than this many rows per window (a KS test needs a sample).
MIN_EXACT_ROWS = 500

#: ``get(i)``: window ``i``'s values and whether they are a sample of them.
WindowValues = Callable[[int], tuple[np.ndarray, bool]]


@dataclass(frozen=True)
class ExactStats:
    """One feature's exact statistics per window (NaN / None where not measured).

    The arrays are filled window by window while the analysis runs (:meth:`measure`), then
    only read.
    """

    ks: np.ndarray
    ks_p: np.ndarray
    w1: np.ndarray
    w1n: np.ndarray  # Wasserstein ÷ the reference's standard deviation
    mode: list[str | None]  # "all", "sample" or None (not measured)
    sizes: list[tuple[int, int] | None]  # (reference, window) values used

    @classmethod
    def empty(cls, n_windows: int) -> ExactStats:
        return cls(
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            [None] * n_windows,
            [None] * n_windows,
        )

    def measure(self, i: int, ref: np.ndarray, x: np.ndarray, mode: str, std: float | None) -> None:
        """Window ``i`` from the sorted finite ``ref`` and ``x`` (nothing when one is empty)."""
        x = np.sort(x)
        self.measure_windows(
            np.array([i]), SortedReference.of(ref), x, np.array([0, x.size]), [mode], std
        )

    def measure_windows(
        self,
        windows: np.ndarray,
        ref: SortedReference,
        values: np.ndarray,
        splits: np.ndarray,
        modes: list[str],
        std: float | None,
    ) -> None:
        """Windows ``windows`` at once: window ``windows[j]``'s sorted finite values are
        ``values[splits[j]:splits[j + 1]]``, measured as ``modes[j]`` (nothing when empty)."""
        d, p, w1, sizes = ks_wasserstein_windows(ref, values, splits)
        n_ref = int(ref.values.size)
        for j, i in enumerate(windows.tolist()):
            if sizes[j] == 0 or n_ref == 0:
                continue
            self.ks[i], self.ks_p[i], self.w1[i] = d[j], p[j], w1[j]
            if std:
                self.w1n[i] = self.w1[i] / std
            self.mode[i] = modes[j]
            self.sizes[i] = (n_ref, int(sizes[j]))


def exact_limit(limit: int, numerical: int, rows: int, windows: int) -> tuple[int, str | None]:
    """The rows per window the exact statistics (and the multivariate check) measure: the
    spec's ``exact_sample_limit``, lowered when ``numerical`` features × ``rows`` exceed
    :data:`EXACT_VALUES` so the whole analysis stays within it; and the note saying so."""
    if numerical * rows <= EXACT_VALUES or windows <= 0:
        return limit, None
    bounded = max(MIN_EXACT_ROWS, EXACT_VALUES // (numerical * windows))
    if bounded >= limit:
        return limit, None
    return bounded, (
        f"exact statistics and the multivariate check on a seeded sample of {bounded:,} rows "
        f"per window ({numerical:,} numerical features × {rows:,} rows is over the budget of "
        f"{EXACT_VALUES:,} values; exact_sample_limit {limit:,})"
    )


def exact_statistics(
    ref: np.ndarray,
    ref_mode: str,
    window_values: WindowValues,
    n_windows: int,
    std: float | None,
    edges: np.ndarray | None = None,
) -> tuple[ExactStats, np.ndarray | None]:
    """Exact statistics per window; with ``edges``, also the window's bin counts.

    ``ref`` is the reference sorted (once for all windows), ``ref_mode`` how it was taken;
    ``window_values(i)`` gives window ``i``'s values and whether they are a sample (see
    :func:`window_sampler`). Each window's values are sorted once: the finite ones give KS and
    Wasserstein, and the bin counts are ``searchsorted`` of the edges in the same sorted array
    — so a feature whose windows all fit under the limit needs no separate counting pass.
    ``edges`` is only honoured when no window is sampled.
    """
    stats = ExactStats.empty(n_windows)
    counts = None
    if edges is not None:
        counts = np.zeros((n_windows, edges.size + 2), dtype=np.int64)
        cuts = np.concatenate([[-np.inf], edges])  # value bins start at these
    parts: list[np.ndarray] = []
    modes: list[str] = []
    for i in range(n_windows):
        x, sampled = window_values(i)
        mode = ref_mode
        if sampled:
            mode = "sample"
            x = x[np.isfinite(x)]  # a fresh array: sorted in place
            x.sort()
        else:
            x = np.sort(x)  # NaN last; -inf first, +inf last of the numbers
            if counts is not None:
                numbers = int(np.searchsorted(x, np.nan, side="left"))
                at = np.searchsorted(x[:numbers], cuts, side="left")
                counts[i, :-2] = np.diff(at)
                counts[i, -2] = numbers - at[-1]
                counts[i, -1] = x.size - numbers
            lo = int(np.searchsorted(x, -np.inf, side="right"))
            hi = int(np.searchsorted(x, np.inf, side="left"))
            x = x[lo:hi]
        parts.append(x)
        modes.append(mode)
    # every window against the reference at once (exact_batch.py: not one merge per window)
    splits = np.zeros(n_windows + 1, dtype=np.int64)
    np.cumsum([x.size for x in parts], out=splits[1:])
    values = np.concatenate(parts) if parts else np.zeros(0)
    del parts
    sorted_ref = SortedReference.of(ref)
    stats.measure_windows(np.arange(n_windows), sorted_ref, values, splits, modes, std)
    return stats, counts


def window_sampler(
    column: pa.ChunkedArray,
    name: str,
    values: np.ndarray | None,
    order: np.ndarray | None,
    splits: np.ndarray,
    limit: int,
    seed: int,
    feature_index: int,
) -> WindowValues:
    """``get(i)``: window ``i``'s values, or a seeded random sample (with replacement) of
    ``limit`` of them when it has more, and whether they are that sample.

    The rows of window ``i`` are ``order[splits[i]:splits[i + 1]]`` (``order`` None: the
    table's own order). ``values`` is the whole column as floats in that order, when the
    caller has it; else only the rows needed are taken from ``column``.
    """

    def get(i: int) -> tuple[np.ndarray, bool]:
        lo, hi = int(splits[i]), int(splits[i + 1])
        size = hi - lo
        pos = None
        if size > limit:
            rng = np.random.default_rng([seed, feature_index, i])
            pos = rng.integers(0, size, limit)
        if values is not None:
            x = values[lo:hi]
            return (x, False) if pos is None else (x[pos], True)
        if pos is None:
            if order is None:
                return numeric_values(column.slice(lo, size), name), False
            rows = order[lo:hi]
        else:
            pos += lo
            rows = pos if order is None else order[pos]
        return numeric_values(column.take(rows), name), pos is not None

    return get
