"""Why did the metric drop: which slices' change adds up to it, which drifts matter.

A metric that is a ratio of counts (precision: true positives over predicted positives;
recall: over actual positives; accuracy: over rows) is, over any partition of the rows into
cells, the share-weighted mean of the cells' metric: ``M = Σ s_i m_i`` with ``s_i`` the
cell's share of the metric's denominator. Its change between two periods then splits
exactly into per-cell contributions (the symmetric shift-share decomposition)::

    ΔM = Σ_i [ s̄_i (m'_i − m_i)  +  (s'_i − s_i) (m̄_i − M̄) ]
              performance effect    mix effect

with ``s̄``, ``m̄`` the two periods' means and ``M̄`` the mean of the overall metric in the
two periods. Centring the mix effect on ``M̄`` changes no sum (the shares' changes add to
zero) but makes each cell's part say what it means: a cell that grows while better than
average helps, one that grows while worse hurts (uncentred, every growing cell would look
like it helps and a shrinking good cell would carry the blame). The contributions of one
partition sum to ``ΔM`` to rounding, so a cell carrying −0.05 of a −0.06 drop explains
most of it.

Without labels the same split holds for the CBPE estimate: with ``p`` the reference-calibrated
P(y=1 | score), CBPE's precision is ``Σ_{flagged} p / #flagged`` — a ratio of expected
counts — so :func:`ratio_cells` given ``p`` in place of 0/1 labels decomposes the estimated
metric's change the same way (its cells hold expected counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CellChange", "Contribution", "decompose_change", "ratio_cells"]


@dataclass(frozen=True)
class CellChange:
    """One cell of a partition: the metric's denominator and numerator in both periods."""

    name: str
    denominator_before: float
    numerator_before: float
    denominator_after: float
    numerator_after: float


@dataclass(frozen=True)
class Contribution:
    name: str
    share_before: float
    share_after: float
    metric_before: float | None
    metric_after: float | None
    performance: float  # s̄ Δm
    mix: float  # Δs (m̄ − M̄)
    total: float  # performance + mix: this cell's part of the overall change


def decompose_change(cells: Sequence[CellChange]) -> tuple[float, tuple[Contribution, ...]]:
    """The overall metric change and each cell's contribution, most negative first.

    A cell empty in one period has no metric there; its metric is taken as the other
    period's (so it contributes through the mix alone), keeping the sum exact.
    """
    d0 = np.array([c.denominator_before for c in cells], dtype=np.float64)
    d1 = np.array([c.denominator_after for c in cells], dtype=np.float64)
    n0 = np.array([c.numerator_before for c in cells], dtype=np.float64)
    n1 = np.array([c.numerator_after for c in cells], dtype=np.float64)
    if d0.sum() <= 0 or d1.sum() <= 0:
        return float("nan"), ()
    s0, s1 = d0 / d0.sum(), d1 / d1.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        m0, m1 = n0 / d0, n1 / d1
    m0f = np.where(d0 > 0, m0, np.where(d1 > 0, m1, 0.0))
    m1f = np.where(d1 > 0, m1, m0f)
    overall0, overall1 = n0.sum() / d0.sum(), n1.sum() / d1.sum()
    perf = (s0 + s1) / 2 * (m1f - m0f)
    mix = (s1 - s0) * ((m0f + m1f) / 2 - (overall0 + overall1) / 2)
    change = float(overall1 - overall0)
    out = [
        Contribution(
            c.name,
            float(s0[i]),
            float(s1[i]),
            float(m0[i]) if d0[i] > 0 else None,
            float(m1[i]) if d1[i] > 0 else None,
            float(perf[i]),
            float(mix[i]),
            float(perf[i] + mix[i]),
        )
        for i, c in enumerate(cells)
    ]
    return change, tuple(sorted(out, key=lambda c: c.total))


def ratio_cells(
    metric: str,
    cell: Sequence[object],
    labels: np.ndarray,
    predicted: np.ndarray,
    period: np.ndarray,
) -> list[CellChange]:
    """Cells of a partition for ``precision``, ``recall`` or ``accuracy`` from rows.

    ``cell`` names each row's cell, ``period`` is False before and True after; ``predicted``
    is 0/1. ``labels`` are 0/1, or P(y=1) per row for an estimate (the cells then hold
    CBPE's expected counts; a period may mix both, e.g. a labeled reference before).
    """
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(predicted, dtype=bool).astype(np.float64)
    after = np.asarray(period, dtype=bool)
    keys = np.asarray(cell, dtype=object)
    if metric == "precision":
        den, num = p, p * y
    elif metric == "recall":
        den, num = y, p * y
    elif metric == "accuracy":
        den, num = np.ones_like(y), p * y + (1 - p) * (1 - y)
    else:
        raise ValueError(f"{metric!r} is not a ratio of counts (precision, recall, accuracy)")
    out = []
    for name in sorted({str(k) for k in keys}):
        rows = keys.astype(str) == name
        b, a = rows & ~after, rows & after
        out.append(
            CellChange(
                name,
                float(den[b].sum()),
                float(num[b].sum()),
                float(den[a].sum()),
                float(num[a].sum()),
            )
        )
    return out
