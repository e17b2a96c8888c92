"""The slice report workbook (openpyxl): summary, slices, worst slices, drift, champion vs
challenger, gate.

Sheets:

- **Summary** — model, versions, window, who generated it and with what, input digests.
- **Slices** — overall and per-slice metrics with intervals, support, difference from the
  overall value; conditional formatting (a red–white–green scale on the differences, bold
  red where the whole interval lies below the overall value); a native bar chart of the
  primary metric per slice with its interval as custom error bars.
- **Worst slices** — discovery results, when given.
- **Drift** — per feature and window: decision, PSI, adjusted p-value (a ``drift --json``
  document), when given.
- **Champion-Challenger** — each version's metrics, the paired differences, McNemar,
  agreement, correlation, per-slice differences, when given.
- **Gate** — the verdict, every criterion (pass green / fail red) and the evidence digest.

Cells hold numbers (never NaN: a missing number is an empty cell); values are written
as-is, with number formats for display.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER

__all__ = ["write_slice_report"]

_HEADER_FILL = "DDE4EE"
_GREEN, _RED = "C6EFCE", "FFC7CE"
_DECIMAL, _INTEGER, _SCIENTIFIC = "0.0000", "#,##0", "0.00E+00"
_PVALUE = '[<0.0001]"<0.0001";0.0000'
#: The workbook's font (openpyxl's default body font): bold cells named without it would
#: fall back to a serif face in LibreOffice.
_FONT = "Calibri"
#: The chart's bars: the slices, and the overall value in grey beside them.
BAR_COLOR, OVERALL_COLOR = "2F6EBA", "8C8C8C"
#: At most this many slices in the chart (the worst by the primary metric beyond that).
CHART_SLICES = 30
_WORST_WIDTHS = (10, 10, 9, 9, 9, 10, 9, 12, 10, 10, 11, 22)


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, float) and x != x:  # NaN
        return None
    return x


def _header(ws: Any, row: int, values: Sequence[str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    for j, v in enumerate(values, start=1):
        c = ws.cell(row=row, column=j, value=v)
        c.font = Font(name=_FONT, bold=True)
        c.fill = PatternFill("solid", fgColor=_HEADER_FILL)
        c.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    # room for two lines: long headers wrap instead of being cut at the column's edge
    ws.row_dimensions[row].height = 30


def _widths(ws: Any, widths: Sequence[float]) -> None:
    from openpyxl.utils import get_column_letter

    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w


def _put(ws: Any, row: int, column: int, value: Any, fmt: str = _DECIMAL) -> Any:
    """One cell: a number gets ``fmt`` (floats) or a thousands separator (integers)."""
    cell = ws.cell(row=row, column=column, value=_num(value))
    if isinstance(value, bool):
        return cell
    if isinstance(value, float) and not (value.is_integer() and abs(value) >= 100):
        cell.number_format = fmt
    elif isinstance(value, (int, float)):
        cell.number_format = _INTEGER  # counts, also when they come as floats
    return cell


def _align(ws: Any, columns: str, first: int, last: int, how: str = "center") -> None:
    from openpyxl.styles import Alignment
    from openpyxl.utils import column_index_from_string

    alignment = Alignment(horizontal=how)  # one object: its style entry is found once
    for col in columns:
        j = column_index_from_string(col)
        for row in range(first, last + 1):
            ws.cell(row=row, column=j).alignment = alignment


def _print_setup(
    ws: Any, *, fit_width: bool = True, title_rows: str | None = None, title_cols: str | None = None
) -> None:
    """Landscape A4; one page wide (else the pages repeat ``title_cols``)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    if fit_width:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols


def _summary(ws: Any, summary: Mapping[str, Any]) -> None:
    from openpyxl.styles import Alignment, Font

    ws["A1"] = "Watchkeeper slice report"
    ws["A1"].font = Font(name=_FONT, bold=True, size=14)
    row = 3
    for key, value in summary.items():
        ws.cell(row=row, column=1, value=str(key)).font = Font(name=_FONT, bold=True)
        if isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value)
        elif isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        elif isinstance(value, Mapping):
            value = "; ".join(f"{k}: {v}" for k, v in value.items())
        cell = ws.cell(row=row, column=2, value=_num(value))
        # values read left to right like the labels (a number is not pushed to the far edge)
        cell.alignment = Alignment(horizontal="left", vertical="top", wrap_text=True)
        row += 1
    _widths(ws, [26, 84])
    _print_setup(ws)


#: What the Slices sheet says when the spec names no slice.
NO_SLICES = (
    "No [[slices]] in the monitor spec: only all events are measured here. Add [[slices]] "
    "(a name and a where table) to see each segment's metrics with their intervals; the "
    "Worst slices sheet searches segments by itself."
)


def _slices(ws: Any, result: Any, metric: str, metrics: Sequence[str]) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.data_source import NumDataSource, NumRef
    from openpyxl.chart.error_bar import ErrorBars
    from openpyxl.chart.marker import DataPoint
    from openpyxl.chart.shapes import GraphicalProperties
    from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    head = ["slice", "condition", "critical", "support", "labeled", "positives"]
    for m in metrics:
        head += [m, f"{m} lower", f"{m} upper", f"{m} Δ overall"]
    n_table = len(head)
    head += ["chart slice", "chart value", "chart err+", "chart err-"]
    _header(ws, 1, head)
    overall = result.overall
    rows: list[list[Any]] = [
        ["(all)", "", "", result.events, result.labeled, getattr(result, "positives", None)]
        + [x for m in metrics for x in (overall[m].value, overall[m].lower, overall[m].upper, 0.0)]
    ]
    for r in result.rows:
        line = [
            r.predicate.name,
            r.predicate.label,
            "yes" if r.predicate.critical else "",
            r.support,
            r.labeled,
            r.positives,
        ]
        for m in metrics:
            e = r.metrics[m]
            line += [e.value, e.lower, e.upper, r.delta.get(m)]
        rows.append(line)
    k = 6 + 4 * metrics.index(metric)  # 0-based column of the primary metric's value
    good_high = HIGHER_IS_BETTER.get(metric, True)
    for i, line in enumerate(rows, start=2):
        for j, v in enumerate(line, start=1):
            _put(ws, i, j, v)
        _align(ws, "EG", i, i)
    # The chart's own columns (hidden): the overall value, then the slices in table order —
    # or, past CHART_SLICES, the worst ones by the primary metric — with the interval as
    # distances from the value (what custom error bars take).
    charted = list(range(1, len(rows)))
    if len(charted) > CHART_SLICES:
        known = [i for i in charted if rows[i][k] is not None]
        known.sort(key=lambda i: rows[i][k] if good_high else -rows[i][k])
        charted = known[:CHART_SLICES]
    lows, highs = [], []
    for n, i in enumerate([0, *charted], start=2):
        value, lo, hi = rows[i][k], rows[i][k + 1], rows[i][k + 2]
        plus = None if value is None or hi is None else hi - value
        minus = None if value is None or lo is None else value - lo
        for j, v in enumerate((rows[i][0], value, plus, minus), start=n_table + 1):
            _put(ws, n, j, v)
        if value is not None:
            lows.append(value if lo is None else lo)
            highs.append(value if hi is None else hi)
    last = len(rows) + 1
    chart_last = len(charted) + 2
    for c in ws[2]:
        c.font = Font(name=_FONT, bold=True)
    _align(ws, "C", 2, last)
    if last < 3:
        # a spec without [[slices]]: openpyxl refuses the empty ranges below ("J3:J2"), and
        # a table of one row needs a word on what the sheet would hold
        _put(ws, 4, 1, NO_SLICES)
        ws.cell(row=4, column=1).font = Font(name=_FONT, italic=True)
        _widths(ws, [14, 14, 8, 10, 10, 10] + [9.5] * (n_table - 6))
        for j in range(n_table + 1, len(head) + 1):
            ws.column_dimensions[get_column_letter(j)].hidden = True
        _print_setup(ws, fit_width=False, title_rows="1:1", title_cols="A:A")
        return
    # conditional formatting: differences on a colour scale; whole interval worse in red
    for m in metrics:
        col = get_column_letter(6 + 4 * metrics.index(m) + 4)
        lo_c, hi_c = ("FFC7CE", "C6EFCE") if HIGHER_IS_BETTER.get(m, True) else ("C6EFCE", "FFC7CE")
        ws.conditional_formatting.add(
            f"{col}3:{col}{last}",
            ColorScaleRule(
                start_type="min",
                start_color=lo_c,
                mid_type="num",
                mid_value=0,
                mid_color="FFFFFF",
                end_type="max",
                end_color=hi_c,
            ),
        )
    v_col = get_column_letter(k + 1)
    bound = get_column_letter(k + 3 if good_high else k + 2)  # upper (or lower for a loss)
    op = "<" if good_high else ">"
    ws.conditional_formatting.add(
        f"A3:{get_column_letter(n_table)}{last}",
        FormulaRule(
            formula=[f"AND(ISNUMBER(${bound}3),${bound}3{op}${v_col}$2)"],
            font=Font(name=_FONT, bold=True, color="9C0006"),
        ),
    )
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{get_column_letter(n_table)}{last}"
    names = max((len(str(line[0])) for line in rows), default=5)
    conditions = max((len(str(line[1])) for line in rows), default=9)
    _widths(
        ws,
        [min(max(names + 2, 10), 40), min(max(conditions + 2, 12), 48), 8, 10, 10, 10]
        + [9.5] * (n_table - 6),
    )
    for j in range(n_table + 1, len(head) + 1):
        ws.column_dimensions[get_column_letter(j)].hidden = True
    # the chart: primary metric per slice with its interval, below the table
    shown = len(charted)
    title = f"{metric} per slice, {round(result.overall[metric].confidence * 100)}% intervals"
    if shown < len(rows) - 1:
        title += f" ({shown} worst of {len(rows) - 1} slices)"
    chart = BarChart()
    chart.type = "col"
    chart.title = title
    chart.y_axis.title = metric
    chart.x_axis.title = "slice (grey: all events)"
    chart.visible_cells_only = False  # its columns are hidden
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.y_axis.number_format = "0.00"
    if lows and metric != "log_loss":
        # metrics on [0, 1]: the axis spans the intervals (with a margin), so they can be told
        # apart; it is labelled, and the overall bar stands beside the slices for scale
        lo_axis = max(0.0, math.floor(min(lows) * 10) / 10 - 0.1)
        hi_axis = min(1.0, math.ceil(max(highs) * 10) / 10)
        if hi_axis > lo_axis:
            chart.y_axis.scaling.min, chart.y_axis.scaling.max = lo_axis, hi_axis
    data = Reference(ws, min_col=n_table + 2, min_row=1, max_row=chart_last)
    cats = Reference(ws, min_col=n_table + 1, min_row=2, max_row=chart_last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    series = chart.series[0]
    series.graphicalProperties = GraphicalProperties(solidFill=BAR_COLOR)
    series.graphicalProperties.line.solidFill = BAR_COLOR
    series.dPt = [DataPoint(idx=0, spPr=GraphicalProperties(solidFill=OVERALL_COLOR))]
    plus_col, minus_col = get_column_letter(n_table + 3), get_column_letter(n_table + 4)
    sheet = ws.title.replace("'", "''")
    series.errBars = ErrorBars(
        errDir="y",
        errBarType="both",
        errValType="cust",
        noEndCap=False,
        plus=NumDataSource(numRef=NumRef(f=f"'{sheet}'!${plus_col}$2:${plus_col}${chart_last}")),
        minus=NumDataSource(numRef=NumRef(f=f"'{sheet}'!${minus_col}$2:${minus_col}${chart_last}")),
    )
    chart.legend = None
    chart.height, chart.width = 9.5, min(25.0, max(20.0, 3.0 + 1.4 * (shown + 1)))
    # anchored right of column A: pages repeat column A, and a chart there would repeat too
    ws.add_chart(chart, f"B{last + 3}")
    _print_setup(ws, fit_width=False, title_rows="1:1", title_cols="A:A")
    ws.page_setup.scale = 85


def _worst(ws: Any, worst: Any) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    ws["A1"] = (
        f"{worst.metric}: {worst.tested} candidate slices tested against the "
        f"{worst.compared_with}; false-discovery rate {worst.fdr:g} (Benjamini–Hochberg)"
    )
    head = [
        "slice",
        "features",
        "labeled",
        "positives",
        "value",
        "lower",
        "upper",
        "compared with",
        "Δ",
        "conservative Δ",
        "p",
        "q",
        "significant",
        "explained by",
    ]
    _header(ws, 3, head)
    for i, c in enumerate(worst.candidates, start=4):
        e = c.estimate
        compared = c.baseline_value if c.baseline_value is not None else worst.overall.value
        line = [
            c.predicate.label,
            " & ".join(c.features),
            c.support,
            c.positives,
            e.value,
            e.lower,
            e.upper,
            compared,
            c.delta,
            c.conservative_delta,
            c.p_value,
            c.q_value,
            "yes" if c.significant else "no",
            getattr(c, "explained_by", None),
        ]
        for j, v in enumerate(line, start=1):
            _put(ws, i, j, v, _DECIMAL if j < 11 else _SCIENTIFIC)
    last = 3 + len(worst.candidates)
    ws.conditional_formatting.add(
        f"M4:M{max(last, 4)}",
        CellIsRule(operator="equal", formula=['"yes"'], fill=PatternFill("solid", fgColor=_RED)),
    )
    ws.freeze_panes = "B4"
    label = max((len(c.predicate.label) for c in worst.candidates), default=10)
    features = max((len(" & ".join(c.features)) for c in worst.candidates), default=10)
    _widths(
        ws,
        [min(max(label + 2, 12), 56), min(max(features + 2, 10), 40), *_WORST_WIDTHS],
    )
    _print_setup(ws, title_rows="3:3")


def _drift(ws: Any, drift: Mapping[str, Any] | None) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    if not drift:
        ws["A1"] = "No drift analysis was included in this report."
        _print_setup(ws)
        return
    ref = drift.get("reference", {})
    rows = ref.get("rows")
    shown = f"{rows:,}" if isinstance(rows, int) else rows
    ws["A1"] = f"Reference: {shown} rows, digest {ref.get('digest')}"
    head = [
        "feature",
        "kind",
        "window",
        "start",
        "rows",
        "decision",
        "psi",
        "js",
        "p_value",
        "p_adjusted",
        "missing_rate",
        "unseen_rate",
    ]
    _header(ws, 3, head)
    windows = {w["index"]: w for w in drift.get("windows", [])}
    row = 4
    features = list(drift.get("features", []))
    if drift.get("prediction"):
        features.append(drift["prediction"])
    for f in features:
        for w in f.get("windows", []):
            info = windows.get(w["index"], {})
            line = [
                f.get("name"),
                f.get("kind"),
                w["index"],
                info.get("start"),
                info.get("rows"),
                w.get("decision"),
                w.get("psi"),
                w.get("js"),
                w.get("p_value"),
                w.get("p_adjusted"),
                w.get("missing_rate"),
                w.get("unseen_rate"),
            ]
            for j, v in enumerate(line, start=1):
                _put(ws, row, j, v, _PVALUE if j in (9, 10) else _DECIMAL)
            row += 1
    for word, color in (("drift", _RED), ("watch", "FFEB9C")):
        ws.conditional_formatting.add(
            f"F4:F{max(row - 1, 4)}",
            CellIsRule(
                operator="equal", formula=[f'"{word}"'], fill=PatternFill("solid", fgColor=color)
            ),
        )
    ws.freeze_panes = "B4"
    _align(ws, "CDF", 4, row - 1)
    _widths(ws, [24, 12, 8, 24, 9, 10, 9, 9, 10, 11, 13, 13])
    _print_setup(ws, title_rows="3:3")


def _comparison(ws: Any, comparison: Any, champion: str, challenger: str) -> None:
    if comparison is None:
        ws["A1"] = "No challenger was compared in this window."
        _print_setup(ws)
        return
    ws["A1"] = (
        f"Challenger {challenger} vs champion {champion}: {comparison.pairs:,} paired requests, "
        f"{comparison.labeled:,} labeled; differences are challenger − champion"
    )
    _header(ws, 3, ["metric", "champion", "challenger", "difference", "lower", "upper", "method"])
    row = 4
    for m, d in comparison.differences.items():
        line = [
            m,
            comparison.champion[m].value,
            comparison.challenger[m].value,
            d.value,
            d.lower,
            d.upper,
            d.method,
        ]
        for j, v in enumerate(line, start=1):
            _put(ws, row, j, v)
        _align(ws, "G", row, row)
        row += 1
    row += 1
    mcnemar = [
        ("McNemar: only the champion right", comparison.mcnemar.champion_only),
        ("McNemar: only the challenger right", comparison.mcnemar.challenger_only),
        ("McNemar p-value", comparison.mcnemar.p_value),
    ]
    if getattr(comparison, "classes", ()):  # multiclass: no one score, no threshold
        stats = [*mcnemar, ("agreement (same predicted class)", comparison.agreement)]
    else:
        stats = [
            ("DeLong p-value (ROC AUC)", comparison.delong_p),
            *mcnemar,
            ("agreement at the threshold", comparison.agreement),
            ("score correlation (Pearson)", comparison.pearson),
            ("score correlation (Spearman)", comparison.spearman),
        ]
    if comparison.expected_cost:
        cost = comparison.expected_cost
        stats += [
            ("expected cost, champion", cost["champion"]),
            ("expected cost, challenger", cost["challenger"]),
        ]
    if comparison.latency_p95:
        lat = comparison.latency_p95
        stats += [
            ("latency p95, champion", lat["champion"]),
            ("latency p95, challenger", lat["challenger"]),
        ]
    for name, v in stats:
        ws.cell(row=row, column=1, value=name)
        _put(ws, row, 2, v, _PVALUE if "p-value" in name else _DECIMAL)
        row += 1
    row += 1
    _header(
        ws,
        row,
        [
            "slice",
            "condition",
            "critical",
            "labeled",
            "positives",
            "champion",
            "challenger",
            "difference",
            "lower",
            "upper",
            "p",
        ],
    )
    for s in comparison.slices:
        row += 1
        d = s.difference
        line = [
            s.predicate.name,
            s.predicate.label,
            "yes" if s.predicate.critical else "",
            s.labeled,
            s.positives,
            s.champion,
            s.challenger,
            d.value,
            d.lower,
            d.upper,
            s.p_value,
        ]
        for j, v in enumerate(line, start=1):
            _put(ws, row, j, v, _PVALUE if j == 11 else _DECIMAL)
        _align(ws, "C", row, row)
    _widths(ws, [36, 30, 11, 11, 10, 11, 11, 11, 10, 10, 10])
    _print_setup(ws)


def _gate(ws: Any, gate: Any, evidence_digest: str | None) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill

    if gate is None:
        ws["A1"] = "No promotion gate was evaluated in this report."
        _print_setup(ws)
        return
    ws["A1"] = f"Gate {'PASSED' if gate.passed else 'FAILED'}"
    ws["A1"].font = Font(
        name=_FONT, bold=True, size=14, color="006100" if gate.passed else "9C0006"
    )
    ws["A2"] = f"evidence digest: {evidence_digest}"
    _header(ws, 4, ["criterion", "type", "target", "value", "comparison", "threshold", "result"])
    for i, c in enumerate(gate.criteria, start=5):
        line = [
            c.id,
            c.type,
            c.target,
            c.value,
            c.comparison,
            c.threshold,
            "pass" if c.passed else "FAIL",
        ]
        for j, v in enumerate(line, start=1):
            _put(ws, i, j, v)
        _align(ws, "EG", i, i)
    last = 4 + len(gate.criteria)
    for word, color in (("pass", _GREEN), ("FAIL", _RED)):
        ws.conditional_formatting.add(
            f"G5:G{max(last, 5)}",
            CellIsRule(
                operator="equal", formula=[f'"{word}"'], fill=PatternFill("solid", fgColor=color)
            ),
        )
    _widths(ws, [36, 16, 24, 12, 11, 11, 9])
    _print_setup(ws)


def write_slice_report(
    path: Path | str,
    *,
    summary: Mapping[str, Any],
    slices: Any,
    metric: str = "roc_auc",
    metrics: Sequence[str] | None = None,
    worst: Any = None,
    drift: Mapping[str, Any] | None = None,
    comparison: Any = None,
    champion: str = "",
    challenger: str = "",
    gate: Any = None,
    multiclass: Any = None,
) -> Path:
    """Write the workbook to ``path`` and return it.

    ``multiclass``: a multiclass model's :class:`~.multiclass.MulticlassMetrics` of the
    window, written as a per-class sheet and a confusion-matrix sheet (:mod:`.excel_multiclass`).

    ``slices`` is a :class:`~.slices.SliceResult` whose metrics include ``metric``;
    ``worst`` a :class:`~.worst_slices.WorstSlices`; ``drift`` a drift analysis document
    (``DriftResult.to_dict()``); ``comparison`` a :class:`~.compare.Comparison`; ``gate`` a
    :class:`~.gate.GateResult`.
    """
    from openpyxl import Workbook

    chosen = list(metrics or slices.overall.keys())
    if metric not in chosen:
        chosen.insert(0, metric)
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    evidence_digest = gate.to_evidence().digest if gate is not None else None
    full = dict(summary)
    if evidence_digest:
        full.setdefault("gate evidence digest", evidence_digest)
    _summary(ws, full)
    _slices(wb.create_sheet("Slices"), slices, metric, chosen)
    if worst is not None:
        _worst(wb.create_sheet("Worst slices"), worst)
    if multiclass is not None:
        from watchkeeper.core.evaluation.excel_multiclass import confusion_sheet, metrics_sheet

        metrics_sheet(wb.create_sheet("Per class"), multiclass)
        confusion_sheet(wb.create_sheet("Confusion matrix"), multiclass.confusion)
    _drift(wb.create_sheet("Drift"), drift)
    _comparison(wb.create_sheet("Champion-Challenger"), comparison, champion, challenger)
    _gate(wb.create_sheet("Gate"), gate, evidence_digest)
    path = Path(path)
    wb.save(path)
    return path
