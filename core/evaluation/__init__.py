"""Model performance: metrics with intervals, over time, per slice, champion vs challenger.

Modules (import from them, e.g. ``from watchkeeper.core.evaluation.metrics import ...``):

- ``intervals`` — :class:`Estimate` (a value with its interval) and the interval methods:
  Wilson for proportions, the normal (CLT) interval for means, DeLong for ROC AUC, and the
  weighted bootstrap every other metric uses.
- ``metrics`` — binary (ROC AUC, PR AUC, precision / recall / F1 at a threshold, log loss,
  Brier, ECE) and regression (MAE, RMSE, bias) metrics with intervals and label coverage.
- ``performance`` — realized performance per window (windows as the drift engine cuts them).
- ``estimation`` — CBPE-style estimated performance for windows whose labels are missing.
- ``health`` — the health rule combining drift decisions and performance moves.
- ``predicates`` — slice predicates: numpy masks and SQL WHERE clauses, built from the spec.
- ``slices`` — metrics per slice, in memory or read where the data lives.
- ``slice_sql`` — a selection's WHERE clauses over a SQL source, DuckDB results as Arrow.
- ``binned`` — slice metrics from per-score-bin counts, counted by the database.
- ``worst_slices`` — worst-slice discovery with false-discovery control.
- ``compare`` — champion vs challenger on the same requests: paired statistics.
- ``gate`` — the promotion gate and its evidence document.
- ``excel`` — the slice report workbook.

Nothing here imports Qt; every analysis returns a frozen result.
"""
