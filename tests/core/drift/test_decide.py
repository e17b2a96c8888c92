"""Decisions: multiple-testing corrections, thresholds, minimum size, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.drift.decide import Thresholds, adjust_p, decide


def _holm_by_hand(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_bonferroni_bh_none() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(25) ** 3
    assert np.allclose(adjust_p(p, "holm"), _holm_by_hand(list(p)))
    assert np.allclose(adjust_p(p, "bonferroni"), np.minimum(1, p * 25))
    assert np.allclose(adjust_p(p, "none"), p)
    bh = adjust_p(p, "fdr_bh")
    order = np.argsort(p)
    assert np.all(np.diff(bh[order]) >= -1e-15) and np.all(bh >= p)


def test_nan_cells_are_not_in_the_family() -> None:
    p = np.array([[0.01, np.nan], [0.02, np.nan]])
    adj = adjust_p(p, "holm")
    assert np.isnan(adj[:, 1]).all()
    assert adj[0, 0] == pytest.approx(0.02) and adj[1, 0] == pytest.approx(0.02)


def test_effect_and_significance_both_needed() -> None:
    t = Thresholds(0.1, 0.2, 0.05, 500, 1)
    psi = np.array([0.5, 0.5, 0.15, 0.05, 0.5, 0.5])
    padj = np.array([0.001, 0.2, 0.001, 0.001, 0.001, np.nan])
    rows = np.array([1000, 1000, 1000, 1000, 10, 1000])
    got = decide(psi, padj, rows, 10_000, t).tolist()
    assert got == ["drift", "ok", "watch", "ok", "insufficient", "ok"]
    assert decide(psi, padj, rows, 100, t).tolist() == ["insufficient"] * 6


def test_persistence() -> None:
    t = Thresholds(0.1, 0.2, 0.05, 1, 2)
    psi = np.array([0.5, 0.01, 0.5, 0.5, 0.5])
    padj = np.full(5, 1e-6)
    assert decide(psi, padj, np.full(5, 100), 100, t).tolist() == [
        "watch",
        "ok",
        "watch",
        "drift",
        "drift",
    ]
