"""The demo's analyses as plain numbers, recorded before a refactoring and compared after.

``python tests/core/workbench/golden_demo.py OUT.json`` records them on a freshly built demo
workspace of 3,000 fraud events a day (the test suite's); ``test_golden_demo.py`` recomputes
them through the workbench and compares, so moving code cannot move a number unnoticed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("demo_golden.json")


def _num(x: Any) -> Any:
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else round(x, 9)


def summarise(workspace: Path) -> dict[str, Any]:
    """Drift, performance, slices and the champion–challenger comparison of the demo."""
    from watchkeeper.core.workbench.analyses import run_drift, run_performance
    from watchkeeper.core.workbench.challenger import run_challenger
    from watchkeeper.core.workbench.portfolio import load_portfolio
    from watchkeeper.core.workbench.slices import run_slices

    portfolio = load_portfolio(workspace)
    out: dict[str, Any] = {}
    for model, version, window in (
        ("fraud-detector", "1", "7d"),
        ("fraud-detector", "2", "1d"),
        ("churn-model", None, "7d"),
    ):
        entry = portfolio.model(model)
        assert entry is not None
        version = version or entry.champion
        key = f"{model}/{version}/{window}"
        drift = run_drift(entry, version, window)
        out[f"drift {key}"] = {
            "windows": [[w.rows] for w in drift.windows],
            "features": {
                f.name: [[w.decision, _num(w.psi), _num(w.p_value)] for w in f.windows]
                for f in drift.features
            },
        }
        perf = run_performance(entry, version, window)
        out[f"performance {key}"] = {
            "baseline": _num(perf.baseline.value) if perf.baseline is not None else None,
            "realized": [_num(v) for v in perf.realized.series(perf.metric)[:, 0]],
            "estimated": [_num(v) for v in perf.estimated_series()[:, 0]],
        }
    fraud = portfolio.model("fraud-detector")
    slices = run_slices(fraud, "1")
    frame = slices.metrics_frame()
    out["slices fraud-detector/1"] = {
        "columns": [str(c) for c in frame.columns],
        "rows": [
            [_num(v) if isinstance(v, float) else str(v) for v in row]
            for row in frame.itertuples(index=False)
        ],
    }
    view = run_challenger(fraud, "1", "2", n_boot=50)
    out["challenger fraud-detector 1 vs 2"] = {
        "pairs": view.pairs,
        "passed": bool(view.gate.passed),
        "criteria": [[c.type, c.target, _num(c.value), bool(c.passed)] for c in view.gate.criteria],
    }
    return out


if __name__ == "__main__":
    from watchkeeper.core.demo import ensure_workspace

    root = ensure_workspace(
        Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/wk-golden/ws"), events_per_day=3000
    ).root
    Path(sys.argv[1]).write_text(json.dumps(summarise(root), indent=1, sort_keys=True))
