"""Drift cut-offs calibrated on the reference: how far PSI moves by chance at a window's size.

A fixed PSI cut-off is one rule for every feature and window size: at a few hundred rows
sampling noise alone reaches it, at millions of rows a shift far outside anything the
reference shows stays under it. Here, per feature and window row count ``N``, the null
distribution of PSI is resampled from the reference's own binned counts: the reference's
proportions ``p`` stand for the truth, a reference of its own size and a window of ``N`` rows
are drawn from ``Multinomial(p)`` (both sides vary, as in the real comparison), and PSI is
measured between them. Its ``quantile`` (0.99 by default) is how far the statistic moves
between windows of that size within the reference.

Only counts are needed, so this works the same whether the data was counted in memory or
by a SQL warehouse (only counts cross the wire). The resampling is seeded by the feature's
name, so an analysis repeats exactly.

The cut-offs (``[drift] thresholds = "calibrated"``): ``watch`` at
``max(psi_watch_floor, q)``, ``drift`` at ``max(psi_floor, calibration_margin × q)``; the
significance test and its multiple-testing correction still apply on top
(:mod:`~watchkeeper.core.drift.decide`).
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from watchkeeper.core.drift.statistics import psi

__all__ = ["Cutoffs", "calibrated_cutoffs", "null_psi_quantile"]

#: Resamples per window size: the 0.99 quantile from 600 draws has a standard error of about
#: 5 % of its value, well inside the margin. (Cost: ~3 ms per size for ten bins; a 300-feature
#: analysis pays it per feature.)
RESAMPLES = 600
#: At most this many window sizes are resampled per feature; between them the quantile is
#: interpolated in log–log (it falls smoothly, close to ``1/N``, with the window's rows).
GRID = 4


@dataclass(frozen=True)
class Cutoffs:
    """Per window: the reference's own PSI quantile at its size and the cut-offs from it."""

    null_quantile: np.ndarray  # (W,), NaN where the window is too small to be tested
    watch: np.ndarray  # (W,)
    drift: np.ndarray  # (W,)


def _seed(name: str) -> int:
    # crc32, not hash(): stable across processes, so a result repeats
    return zlib.crc32(name.encode("utf-8"))


def null_psi_quantile(
    reference_counts: np.ndarray,
    window_rows: np.ndarray,
    *,
    quantile: float = 0.99,
    resamples: int = RESAMPLES,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """The ``quantile`` of PSI between two samples drawn from the reference's proportions,
    one of the reference's size and one of each ``window_rows`` size (NaN for sizes < 1 or
    an empty reference)."""
    r = np.asarray(reference_counts, dtype=np.float64)
    n = np.asarray(window_rows, dtype=np.int64)
    out = np.full(n.shape, np.nan)
    total = int(r.sum())
    if total <= 0 or n.size == 0:
        return out
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = r / total
    used = p > 0
    p = p[used] / p[used].sum()  # bins never seen in the reference cannot be drawn
    ref = rng.multinomial(total, p, size=resamples)
    for i, size in enumerate(n):
        if size < 1:
            continue
        cur = rng.multinomial(int(size), p, size=resamples)
        out[i] = float(np.quantile(psi(ref, cur), quantile))
    return out


def _grid(rows: np.ndarray) -> np.ndarray:
    sizes = np.unique(rows[rows >= 1])
    if sizes.size <= GRID:
        return sizes
    return np.unique(np.round(np.geomspace(sizes[0], sizes[-1], GRID)).astype(np.int64))


def calibrated_cutoffs(
    reference_counts: np.ndarray,
    window_rows: np.ndarray,
    *,
    name: str,
    quantile: float,
    margin: float,
    watch_floor: float,
    drift_floor: float,
    min_rows: int = 1,
    resamples: int = RESAMPLES,
) -> Cutoffs:
    """Cut-offs of one feature for each window (see the module doc).

    Remembered (the last :data:`MEMO_SIZE` asked for): an analysis derives its result twice
    from the same counts (the ranking first, then the whole result), and the health sweep
    and the window ask again for the same windows; the resampling is seeded, so a repeat
    is the same answer.
    """
    rows = np.asarray(window_rows, dtype=np.int64)
    ref = np.asarray(reference_counts)
    key = (
        name,
        ref.dtype.str,
        ref.tobytes(),
        rows.tobytes(),
        quantile,
        margin,
        watch_floor,
        drift_floor,
        min_rows,
        resamples,
    )
    with _MEMO_LOCK:
        found = _MEMO.get(key)
        if found is not None:
            _MEMO.move_to_end(key)
            return found
    cut = _cutoffs(ref, rows, name, quantile, margin, watch_floor, drift_floor, min_rows, resamples)
    for a in (cut.null_quantile, cut.watch, cut.drift):
        a.flags.writeable = False  # shared by every result that asks again
    with _MEMO_LOCK:
        _MEMO[key] = cut
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    return cut


#: How many features' cut-offs :func:`calibrated_cutoffs` remembers (a few KB each).
MEMO_SIZE = 2_048
_MEMO: OrderedDict[tuple[Any, ...], Cutoffs] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def _cutoffs(
    reference_counts: np.ndarray,
    rows: np.ndarray,
    name: str,
    quantile: float,
    margin: float,
    watch_floor: float,
    drift_floor: float,
    min_rows: int,
    resamples: int,
) -> Cutoffs:
    q = np.full(rows.shape, np.nan)
    tested = rows >= max(min_rows, 1)
    if tested.any():
        grid = _grid(rows[tested])
        qg = null_psi_quantile(
            reference_counts, grid, quantile=quantile, resamples=resamples, seed=_seed(name)
        )
        ok = np.isfinite(qg) & (qg > 0)
        if ok.sum() == 1 or (ok.any() and grid.size == 1):
            q[tested] = qg[ok][0]
        elif ok.any():
            q[tested] = np.exp(np.interp(np.log(rows[tested]), np.log(grid[ok]), np.log(qg[ok])))
    with np.errstate(invalid="ignore"):
        watch = np.fmax(q, watch_floor)
        drift = np.fmax(q * margin, drift_floor)
    return Cutoffs(q, watch, drift)
