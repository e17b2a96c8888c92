"""The Slices and Champion-vs-challenger work — now in
:mod:`watchkeeper.core.workbench.evaluation`, re-exported here for the panels."""

from __future__ import annotations

from watchkeeper.core.workbench.evaluation import (
    BUILDER_LEVELS,
    DENSITY_BINS,
    DISAGREEMENT_ROWS,
    SCATTER_POINTS,
    SLICE_METRICS,
    ChallengerView,
    ColumnInfo,
    SlicesView,
    challenger_of,
    export_slice_report,
    predicate_to_slice_spec,
    recompute_slices,
    roc_points,
    run_challenger,
    run_slices,
    score_density,
)

__all__ = [
    "BUILDER_LEVELS",
    "DENSITY_BINS",
    "DISAGREEMENT_ROWS",
    "SCATTER_POINTS",
    "SLICE_METRICS",
    "ChallengerView",
    "ColumnInfo",
    "SlicesView",
    "challenger_of",
    "export_slice_report",
    "predicate_to_slice_spec",
    "recompute_slices",
    "roc_points",
    "run_challenger",
    "run_slices",
    "score_density",
]
