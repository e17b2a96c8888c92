"""Model health per window: drift and performance together.

The rule:

- ``alert`` when, in this window and the ``persistence − 1`` windows before it, the drift
  decision is ``drift`` AND performance (realized, or estimated where labels are missing)
  moved beyond its tolerance in the bad direction;
- ``watch`` when either holds in this window alone (or both, not yet for long enough);
- ``ok`` when neither holds;
- ``insufficient`` when neither can be judged (drift ``insufficient`` and no performance).

Drift decisions come from the drift engine (one per window, e.g. the worst feature's); the
performance move is decided by :func:`performance_moved` from values and a baseline. Both
are plain inputs, so any source of either can be combined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from watchkeeper.core.evaluation.intervals import Estimate
from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER, EvaluationError

__all__ = ["HEALTH_STATES", "HealthResult", "assess_health", "performance_moved", "worst_decision"]

HEALTH_STATES = ("ok", "watch", "alert", "insufficient")
_DRIFT_ORDER = {"insufficient": 0, "ok": 1, "watch": 2, "drift": 3}


def worst_decision(decisions: Sequence[str]) -> str:
    """The most severe of several features' decisions for one window."""
    if not decisions:
        return "insufficient"
    return max(decisions, key=lambda d: _DRIFT_ORDER[d])


def performance_moved(
    values: Sequence[Estimate | float | None],
    baseline: float,
    tolerance: float,
    metric: str,
    *,
    use_interval: bool = False,
) -> tuple[bool | None, ...]:
    """Whether each window's performance is worse than ``baseline`` by more than ``tolerance``.

    With ``use_interval`` the whole interval must lie beyond the tolerance (the move is
    then significant, not only seen). ``None`` where a window has no value.
    """
    if metric not in HIGHER_IS_BETTER:
        raise EvaluationError(f"unknown metric {metric!r}")
    higher = HIGHER_IS_BETTER[metric]
    out: list[bool | None] = []
    for v in values:
        est = v if isinstance(v, Estimate) else Estimate(v)
        if est.value is None:
            out.append(None)
            continue
        x = est.value
        if use_interval:
            bound = est.upper if higher else est.lower
            if bound is None:
                out.append(None)
                continue
            x = bound
        if metric == "bias":
            out.append(abs(x) - abs(baseline) > tolerance)
        else:
            out.append((baseline - x > tolerance) if higher else (x - baseline > tolerance))
    return tuple(out)


@dataclass(frozen=True)
class HealthResult:
    """Per window: the state, and the two flags it came from (``None``: unknown)."""

    states: tuple[str, ...]
    drift: tuple[bool | None, ...]
    performance: tuple[bool | None, ...]
    persistence: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "persistence": self.persistence,
            "windows": [
                {"index": i, "state": s, "drift": d, "performance_moved": p}
                for i, (s, d, p) in enumerate(
                    zip(self.states, self.drift, self.performance, strict=True)
                )
            ],
        }


def assess_health(
    drift_decisions: Sequence[str],
    moved: Sequence[bool | None],
    *,
    persistence: int = 1,
) -> HealthResult:
    """The health state of each window (see the module docstring)."""
    if len(drift_decisions) != len(moved):
        raise EvaluationError(
            f"{len(drift_decisions)} drift decisions but {len(moved)} performance windows"
        )
    if persistence < 1:
        raise EvaluationError("persistence must be at least 1 window")
    for decision in drift_decisions:
        if decision not in _DRIFT_ORDER:
            raise EvaluationError(f"unknown drift decision {decision!r}")
    drift = tuple(None if d == "insufficient" else d == "drift" for d in drift_decisions)
    states, run = [], 0
    for d, p in zip(drift, moved, strict=True):
        both = bool(d) and bool(p)
        run = run + 1 if both else 0
        if d is None and p is None:
            states.append("insufficient")
        elif both and run >= persistence:
            states.append("alert")
        elif d or p:
            states.append("watch")
        else:
            states.append("ok")
    return HealthResult(tuple(states), drift, tuple(moved), persistence)
