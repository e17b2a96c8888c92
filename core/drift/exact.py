"""Exact statistics per window: KS and Wasserstein on raw values, all or a seeded sample.

They need raw values on both sides: the reference's finite values sorted once per feature
(:func:`~watchkeeper.core.drift.reference.sorted_reference`), each window's values sorted
once. A window with at most ``exact_sample_limit`` values is measured on all of them
(``"all"``), a larger one on a seeded sample of that many (``"sample"``); each window says
which, with the sizes used. In memory the sample is a seeded random one with replacement
(:class:`WindowSampler`); from a SQL table the engine fetches a seeded systematic one
(:func:`~watchkeeper.core.drift.sql_counts.sample_statement`) and measures each window with
:meth:`ExactStats.measure` as it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.data import numeric_values
from watchkeeper.core.drift.exact_batch import SortedReference, ks_wasserstein_windows

__all__ = [
    "EXACT_VALUES",
    "ExactStats",
    "WindowSampler",
    "exact_limit",
    "exact_statistics",
]

#: The exact statistics' budget: at most about this many current values (numerical features
#: × rows) are measured in one analysis. The cost is linear in it (a search of each value in
#: the sorted reference); 500 features × 730,000 rows is 300 million values, minutes.
EXACT_VALUES = 60_000_000
#: ... but never fewer than this many rows per window (a KS test needs a sample).
MIN_EXACT_ROWS = 500


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
    sampler: WindowSampler,
    n_windows: int,
    std: float | None,
    edges: np.ndarray | None = None,
) -> tuple[ExactStats, np.ndarray | None]:
    """Exact statistics per window; with ``edges``, also the window's bin counts.

    ``ref`` is the reference sorted (once for all windows), ``ref_mode`` how it was taken;
    ``sampler`` gives each window's values, whole or a seeded sample (see
    :class:`WindowSampler`). Each window's values are sorted once: the finite ones give KS and
    Wasserstein, and the bin counts are ``searchsorted`` of the edges in the same sorted array
    — so a feature whose windows all fit under the limit needs no separate counting pass.
    ``edges`` is only honoured when no window is sampled. The sampled windows are drawn,
    taken and sorted together (one ``(windows, limit)`` block, sorted along its rows): a
    loop over 365 windows × 400 features cost seconds of Python holding the GIL.
    """
    stats = ExactStats.empty(n_windows)
    counts = None
    if edges is not None:
        counts = np.zeros((n_windows, edges.size + 2), dtype=np.int64)
        cuts = np.concatenate([[-np.inf], edges])  # value bins start at these
    parts: list[np.ndarray] = [_EMPTY] * n_windows
    modes: list[str] = [ref_mode] * n_windows
    big = sampler.sampled()
    for i in np.flatnonzero(~big[:n_windows]).tolist():
        x = np.sort(sampler.whole(i))  # NaN last; -inf first, +inf last of the numbers
        if counts is not None:
            numbers = int(np.searchsorted(x, np.nan, side="left"))
            at = np.searchsorted(x[:numbers], cuts, side="left")
            counts[i, :-2] = np.diff(at)
            counts[i, -2] = numbers - at[-1]
            counts[i, -1] = x.size - numbers
        lo = int(np.searchsorted(x, -np.inf, side="right"))
        hi = int(np.searchsorted(x, np.inf, side="left"))
        parts[i] = x[lo:hi]
    ids = np.flatnonzero(big[:n_windows])
    if ids.size:
        block = sampler.samples(ids)
        block.sort(axis=1)
        finite = np.isfinite(block)
        flat = block[finite]  # row by row: each window's finite values, still sorted
        ends = np.cumsum(finite.sum(axis=1))
        del block, finite
        for j, i in enumerate(ids.tolist()):
            parts[i] = flat[(ends[j - 1] if j else 0) : ends[j]]
            modes[i] = "sample"
    # every window against the reference at once (exact_batch.py: not one merge per window)
    splits = np.zeros(n_windows + 1, dtype=np.int64)
    np.cumsum([x.size for x in parts], out=splits[1:])
    values = np.concatenate(parts) if parts else np.zeros(0)
    del parts
    sorted_ref = SortedReference.of(ref)
    stats.measure_windows(np.arange(n_windows), sorted_ref, values, splits, modes, std)
    return stats, counts


_EMPTY = np.zeros(0)


class WindowSampler:
    """Window ``i``'s values: all of them, or a seeded random sample (with replacement) of
    ``limit`` when it has more.

    The rows of window ``i`` are ``order[splits[i]:splits[i + 1]]`` (``order`` None: the
    table's own order). ``values`` is the whole column as floats in that order, when the
    caller has it; else only the rows needed are taken from ``column``. The sample of every
    sampled window of a feature comes from one generator seeded by ``(seed, feature_index)``,
    drawn at once — the same rows whatever the batch or the engine's path.
    """

    def __init__(
        self,
        column: pa.ChunkedArray,
        name: str,
        values: np.ndarray | None,
        order: np.ndarray | None,
        splits: np.ndarray,
        limit: int,
        seed: int,
        feature_index: int,
    ) -> None:
        self.column, self.name, self.values, self.order = column, name, values, order
        self.splits = np.asarray(splits, dtype=np.int64)
        self.sizes = np.diff(self.splits)
        self.limit, self.seed, self.feature_index = limit, seed, feature_index

    def sampled(self) -> np.ndarray:
        """Which windows are measured on a sample (more rows than the limit)."""
        return self.sizes > self.limit

    def whole(self, i: int) -> np.ndarray:
        """Every value of window ``i``."""
        lo, hi = int(self.splits[i]), int(self.splits[i + 1])
        if self.values is not None:
            return self.values[lo:hi]
        if self.order is None:
            return numeric_values(self.column.slice(lo, hi - lo), self.name)
        return numeric_values(self.column.take(self.order[lo:hi]), self.name)

    def samples(self, windows: np.ndarray) -> np.ndarray:
        """``(len(windows), limit)``: the seeded sample of each of ``windows`` (sampled ones)."""
        rng = np.random.default_rng([self.seed, self.feature_index])
        sizes = self.sizes[windows][:, None]
        pos = rng.integers(0, sizes, size=(windows.size, self.limit))
        pos += self.splits[windows][:, None]
        flat = pos.ravel()
        if self.values is not None:
            x = self.values[flat]
        else:
            rows = flat if self.order is None else self.order[flat]
            x = numeric_values(self.column.take(rows), self.name)
        return np.array(x, dtype=np.float64).reshape(windows.size, self.limit)
