"""A multiclass model's workbook: summary, metrics with intervals, per-class metrics, and the
confusion matrix (counts, and shares of each true class) as a colour-scaled sheet.

Built with the slice report's helpers (:mod:`.excel`), so it looks and prints alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from watchkeeper.core.evaluation.excel import (
    _DECIMAL,
    _FONT,
    _INTEGER,
    _header,
    _print_setup,
    _put,
    _summary,
    _widths,
)

__all__ = ["confusion_sheet", "metrics_sheet", "write_multiclass_report"]

_PERCENT = "0.0%"


def confusion_sheet(ws: Any, confusion: Any, title: str = "") -> None:
    """Counts (rows: true class, columns: predicted) and, beneath, the row shares."""
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    classes = list(confusion.classes)
    k = len(classes)
    ws["A1"] = title or "Confusion matrix: rows are the true class, columns the predicted one"
    ws["A1"].font = Font(name=_FONT, bold=True, size=12)
    blocks = (
        ("Counts", confusion.counts, _INTEGER),
        ("Share of each true class (rows sum to 100%)", confusion.shares(), _PERCENT),
    )
    row = 3
    for name, values, fmt in blocks:
        ws.cell(row=row, column=1, value=name).font = Font(name=_FONT, bold=True)
        row += 1
        _header(ws, row, ["true \\ predicted", *classes, "total"])
        for i, klass in enumerate(classes):
            ws.cell(row=row + 1 + i, column=1, value=klass).font = Font(name=_FONT, bold=True)
            for j in range(k):
                _put(ws, row + 1 + i, 2 + j, values[i][j], fmt)
            _put(ws, row + 1 + i, 2 + k, sum(confusion.counts[i]), _INTEGER)
        last = get_column_letter(1 + k)
        ws.conditional_formatting.add(
            f"B{row + 1}:{last}{row + k}",
            ColorScaleRule(
                start_type="min", start_color="FFFFFF", end_type="max", end_color="2F6EBA"
            ),
        )
        row += k + 3
    _widths(ws, [20, *([14] * k), 12])
    _print_setup(ws)


def metrics_sheet(ws: Any, metrics: Any) -> None:
    """The metrics with intervals and, beneath, each class's precision, recall and support."""
    from openpyxl.styles import Font

    _header(ws, 1, ["metric", "value", "lower", "upper", "interval", "events"])
    row = 2
    for name, est in metrics.metrics.items():
        ws.cell(row=row, column=1, value=name).font = Font(name=_FONT, bold=True)
        for col, value in enumerate((est.value, est.lower, est.upper), start=2):
            _put(ws, row, col, value, _DECIMAL)
        ws.cell(row=row, column=5, value=est.method)
        _put(ws, row, 6, est.n, _INTEGER)
        row += 1
    row += 1
    _header(
        ws, row, ["class", "precision", "lower", "upper", "recall", "lower", "upper", "support"]
    )
    for klass, per in metrics.per_class.items():
        row += 1
        ws.cell(row=row, column=1, value=klass).font = Font(name=_FONT, bold=True)
        p, r = per["precision"], per["recall"]
        for col, value in enumerate((p.value, p.lower, p.upper, r.value, r.lower, r.upper), 2):
            _put(ws, row, col, value, _DECIMAL)
        _put(ws, row, 8, per["support"].n, _INTEGER)
    _widths(ws, [22, 11, 11, 11, 11, 11, 11, 11])
    _print_setup(ws)


def write_multiclass_report(path: Path | str, *, summary: Mapping[str, Any], metrics: Any) -> Path:
    """The workbook of a :class:`~.multiclass.MulticlassMetrics` at ``path``."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    _summary(ws, summary)
    ws["A1"] = "Watchkeeper multiclass report"
    metrics_sheet(wb.create_sheet("Metrics"), metrics)
    confusion_sheet(wb.create_sheet("Confusion matrix"), metrics.confusion)
    path = Path(path)
    wb.save(path)
    return path
