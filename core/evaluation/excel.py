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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.core.evaluation.metrics import HIGHER_IS_BETTER

__all__ = ["write_slice_report"]

_HEADER_FILL = "DDE4EE"
_GREEN, _RED = "C6EFCE", "FFC7CE"


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, float) and x != x:  # NaN
        return None
    return x


def _header(ws: Any, row: int, values: Sequence[str]) -> None:
    from openpyxl.styles import Font, PatternFill

    for j, v in enumerate(values, start=1):
        c = ws.cell(row=row, column=j, value=v)
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor=_HEADER_FILL)


def _widths(ws: Any, widths: Sequence[int]) -> None:
    from openpyxl.utils import get_column_letter

    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w


def _summary(ws: Any, summary: Mapping[str, Any]) -> None:
    from openpyxl.styles import Font

    ws["A1"] = "Watchkeeper slice report"
    ws["A1"].font = Font(bold=True, size=14)
    row = 3
    for key, value in summary.items():
        ws.cell(row=row, column=1, value=str(key)).font = Font(bold=True)
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        elif isinstance(value, Mapping):
            value = "; ".join(f"{k}: {v}" for k, v in value.items())
        ws.cell(row=row, column=2, value=value)
        row += 1
    _widths(ws, [28, 90])


def _slices(ws: Any, result: Any, metric: str, metrics: Sequence[str]) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.data_source import NumDataSource, NumRef
    from openpyxl.chart.error_bar import ErrorBars
    from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    head = ["slice", "condition", "critical", "support", "labeled", "positives"]
    for m in metrics:
        head += [m, f"{m} lower", f"{m} upper", f"{m} Δ overall"]
    head += ["chart value", "chart err+", "chart err-"]
    _header(ws, 1, head)
    overall = result.overall
    rows: list[list[Any]] = [
        ["(all)", "", "", result.events, result.labeled, None]
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
    for i, line in enumerate(rows, start=2):
        value, lo, hi = line[k], line[k + 1], line[k + 2]
        chart = [
            value,
            None if value is None or hi is None else hi - value,
            None if value is None or lo is None else value - lo,
        ]
        for j, v in enumerate([*line, *chart], start=1):
            c = ws.cell(row=i, column=j, value=_num(v))
            if isinstance(v, float):
                c.number_format = "0.0000"
    last = len(rows) + 1
    for c in ws[2]:
        c.font = Font(bold=True)
    # conditional formatting: differences on a colour scale; whole interval worse in red
    good_high = HIGHER_IS_BETTER.get(metric, True)
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
        f"A3:{get_column_letter(len(head) - 3)}{last}",
        FormulaRule(
            formula=[f"AND(ISNUMBER(${bound}3),${bound}3{op}${v_col}$2)"],
            font=Font(bold=True, color="9C0006"),
        ),
    )
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(head))}{last}"
    _widths(ws, [22, 34, 8, 10, 10, 10] + [11] * (len(head) - 6))
    # the chart: primary metric per slice with its interval
    n_cols = len(head)
    chart = BarChart()
    chart.type = "col"
    chart.title = f"{metric} per slice ({round(result.overall[metric].confidence * 100)}% interval)"
    chart.y_axis.title = metric
    chart.x_axis.title = "slice"
    data = Reference(ws, min_col=n_cols - 2, min_row=1, max_row=last)
    cats = Reference(ws, min_col=1, min_row=2, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    series = chart.series[0]
    plus_col, minus_col = get_column_letter(n_cols - 1), get_column_letter(n_cols)
    sheet = ws.title.replace("'", "''")
    series.errBars = ErrorBars(
        errDir="y",
        errBarType="both",
        errValType="cust",
        plus=NumDataSource(numRef=NumRef(f=f"'{sheet}'!${plus_col}$2:${plus_col}${last}")),
        minus=NumDataSource(numRef=NumRef(f=f"'{sheet}'!${minus_col}$2:${minus_col}${last}")),
    )
    chart.legend = None
    chart.height, chart.width = 9, max(16, min(40, 1.2 * len(rows)))
    ws.add_chart(chart, f"{get_column_letter(n_cols + 2)}2")


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
        ]
        for j, v in enumerate(line, start=1):
            cell = ws.cell(row=i, column=j, value=_num(v))
            if isinstance(v, float):
                cell.number_format = "0.0000" if j < 11 else "0.00E+00"
    last = 3 + len(worst.candidates)
    ws.conditional_formatting.add(
        f"M4:M{max(last, 4)}",
        CellIsRule(operator="equal", formula=['"yes"'], fill=PatternFill("solid", fgColor=_RED)),
    )
    ws.freeze_panes = "B4"
    _widths(ws, [48, 30, 10, 10, 9, 9, 9, 13, 9, 14, 10, 10, 11])


def _drift(ws: Any, drift: Mapping[str, Any] | None) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    if not drift:
        ws["A1"] = "No drift analysis was included in this report."
        return
    ref = drift.get("reference", {})
    ws["A1"] = f"Reference: {ref.get('rows')} rows, digest {ref.get('digest')}"
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
                cell = ws.cell(row=row, column=j, value=_num(v))
                if isinstance(v, float):
                    cell.number_format = "0.0000"
            row += 1
    for word, color in (("drift", _RED), ("watch", "FFEB9C")):
        ws.conditional_formatting.add(
            f"F4:F{max(row - 1, 4)}",
            CellIsRule(
                operator="equal", formula=[f'"{word}"'], fill=PatternFill("solid", fgColor=color)
            ),
        )
    ws.freeze_panes = "B4"
    _widths(ws, [24, 12, 8, 22, 9, 12, 9, 9, 10, 11, 12, 12])


def _comparison(ws: Any, comparison: Any, champion: str, challenger: str) -> None:
    if comparison is None:
        ws["A1"] = "No challenger was compared in this window."
        return
    ws["A1"] = (
        f"Challenger {challenger} vs champion {champion}: {comparison.pairs} paired requests, "
        f"{comparison.labeled} labeled; differences are challenger − champion"
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
            c = ws.cell(row=row, column=j, value=_num(v))
            if isinstance(v, float):
                c.number_format = "0.0000"
        row += 1
    row += 1
    stats = [
        ("DeLong p-value (ROC AUC)", comparison.delong_p),
        ("McNemar: only the champion right", comparison.mcnemar.champion_only),
        ("McNemar: only the challenger right", comparison.mcnemar.challenger_only),
        ("McNemar p-value", comparison.mcnemar.p_value),
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
        ws.cell(row=row, column=2, value=_num(v))
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
            c = ws.cell(row=row, column=j, value=_num(v))
            if isinstance(v, float):
                c.number_format = "0.0000"
    _widths(ws, [36, 28, 12, 12, 10, 11, 11, 11, 10, 10, 10])


def _gate(ws: Any, gate: Any, evidence_digest: str | None) -> None:
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill

    if gate is None:
        ws["A1"] = "No promotion gate was evaluated in this report."
        return
    ws["A1"] = f"Gate {'PASSED' if gate.passed else 'FAILED'}"
    ws["A1"].font = Font(bold=True, size=14, color="006100" if gate.passed else "9C0006")
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
            cell = ws.cell(row=i, column=j, value=_num(v))
            if isinstance(v, float):
                cell.number_format = "0.0000"
    last = 4 + len(gate.criteria)
    for word, color in (("pass", _GREEN), ("FAIL", _RED)):
        ws.conditional_formatting.add(
            f"G5:G{max(last, 5)}",
            CellIsRule(
                operator="equal", formula=[f'"{word}"'], fill=PatternFill("solid", fgColor=color)
            ),
        )
    _widths(ws, [36, 16, 22, 12, 11, 11, 9])


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
) -> Path:
    """Write the workbook to ``path`` and return it.

    ``slices`` is a :class:`~.slices.SliceResult` whose metrics include ``metric``;
    ``worst`` a :class:`~.slices.WorstSlices`; ``drift`` a drift analysis document
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
    _drift(wb.create_sheet("Drift"), drift)
    _comparison(wb.create_sheet("Champion-Challenger"), comparison, champion, challenger)
    _gate(wb.create_sheet("Gate"), gate, evidence_digest)
    path = Path(path)
    wb.save(path)
    return path
