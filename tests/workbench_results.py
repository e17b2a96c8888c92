"""Real core results on the demo workspace, for the widget and panel tests of the workbench."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def fraud_entry(workspace: Path) -> Any:
    """The demo's fraud-detector as the portfolio lists it (spec loaded)."""
    from watchkeeper.core.workbench.portfolio import load_portfolio

    entry = load_portfolio(workspace).model("fraud-detector")
    assert entry is not None and entry.spec is not None
    return entry


def fraud_drift(workspace: Path) -> Any:
    """Drift of fraud-detector version 1 against its January reference, daily windows."""
    from watchkeeper.core.workbench.analyses import run_drift

    return run_drift(fraud_entry(workspace), "1", None)


def fraud_performance(workspace: Path) -> Any:
    """Realized and estimated ROC AUC of fraud-detector version 1, daily windows."""
    from watchkeeper.core.workbench.analyses import run_performance

    return run_performance(fraud_entry(workspace), "1", None)
