"""Synthetic slice data with a planted weak slice, shared by the slice and worst-slice tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def planted_world(rng: np.random.Generator, n: int, bad: bool) -> pa.Table:
    """Columns a, b, c, label, score; with ``bad`` the slice ``a == "z"`` scores poorly."""
    a = rng.choice(["x", "y", "z", "w"], n)
    b = rng.normal(size=n)
    c = rng.choice(["p", "q"], n)
    y = (rng.random(n) < 0.3).astype(float)
    signal = np.where(bad & (a == "z"), 0.1, 1.2)  # the planted weak slice: a == "z"
    s = rng.normal(size=n) + signal * y
    return pa.table({"a": a, "b": b, "c": c, "label": y, "score": s})
