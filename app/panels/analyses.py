"""The views' analyses — now in :mod:`watchkeeper.core.workbench`, re-exported here.

The orchestration "analyse a model from its spec" (portfolio, drift, performance, health)
moved to the Qt-free core so the command line and the window share it; the names stay
importable from here for the panels that import them.
"""

from __future__ import annotations

from watchkeeper.core.workbench.analyses import (
    DEFAULT_TOLERANCE,
    ESTIMATE_BELOW_COVERAGE,
    IN_MEMORY_ROWS,
    HealthSummary,
    PerformanceView,
    assess_model,
    effective_window,
    run_drift,
    run_health,
    run_performance,
)
from watchkeeper.core.workbench.common import (
    READ_LOCK,
    Cancelled,
    Progress,
    WorkCancelled,
    check,
    spec_of,
    stage,
)
from watchkeeper.core.workbench.portfolio import (
    ModelEntry,
    Portfolio,
    VersionEntry,
    load_portfolio,
    read_manifest,
)

# The former private names, for modules that still import them.
_READ_LOCK = READ_LOCK
_check = check
_spec_of = spec_of
_stage = stage

__all__ = [
    "DEFAULT_TOLERANCE",
    "ESTIMATE_BELOW_COVERAGE",
    "IN_MEMORY_ROWS",
    "Cancelled",
    "HealthSummary",
    "ModelEntry",
    "PerformanceView",
    "Portfolio",
    "Progress",
    "VersionEntry",
    "WorkCancelled",
    "assess_model",
    "effective_window",
    "load_portfolio",
    "read_manifest",
    "run_drift",
    "run_health",
    "run_performance",
]
