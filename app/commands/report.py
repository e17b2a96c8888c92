"""``watchkeeper report slices``: the slice report workbook of a model version.

Defaults: the champion (the registry alias, else the demo manifest; see
:mod:`watchkeeper.core.evaluation.versions`) and the last 30 days of its data. When a
challenger scored the same requests in the window, the champion–challenger and gate sheets
are filled too. Exit 0 when written, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write reports (slices: an Excel workbook of slice metrics)",
        description="Write a report. 'slices': per-slice metrics with confidence intervals, "
        "worst slices, drift, champion vs challenger and the gate, as an Excel workbook.",
    )
    sub = p.add_subparsers(dest="report", metavar="REPORT", parser_class=type(p))
    sub.required = True
    s = sub.add_parser(
        "slices",
        help="the slice report workbook (.xlsx)",
        description="Slice metrics with confidence intervals, worst slices, drift, champion "
        "vs challenger and the gate of one model version, as an Excel workbook.",
    )
    s.add_argument("--spec", required=True, type=Path, metavar="FILE", help="the monitor spec")
    s.add_argument("--version", metavar="V", help="model version (default: the champion)")
    s.add_argument("--start", metavar="T", help="from T (default: 30 days before --end)")
    s.add_argument("--end", metavar="T", help="before T (default: the version's last event)")
    s.add_argument("--xlsx", required=True, type=Path, metavar="FILE", help="workbook to write")
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.evaluation.metrics import EvaluationError
    from watchkeeper.core.evaluation.versions import resolve_versions
    from watchkeeper.core.times import parse_time
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec
    from watchkeeper.core.workbench.slices import write_slice_report

    start = parse_time(args.start, "--start")
    end = parse_time(args.end, "--end")
    out = args.xlsx.expanduser()
    if out.suffix.lower() != ".xlsx":
        raise EvaluationError(f"{out}: the workbook must be an .xlsx file")
    if not out.parent.is_dir():
        raise EvaluationError(f"{out.parent}: no such folder for the workbook")
    (entry,) = portfolio_of_spec(args.spec).models
    spec = entry.spec
    if args.version:
        version, challenger, how = str(args.version), None, "the command line"
        try:
            champion, challenger, _ = resolve_versions(spec, None, None)
            if challenger == version:
                challenger = champion if champion != version else None
        except EvaluationError:
            challenger = None
    else:
        version, challenger, how = resolve_versions(spec, None, None, need_challenger=False)
    print(f"version {version} (from {how}); challenger {challenger or 'none'}", file=sys.stderr)
    write_slice_report(entry, version, out, challenger=challenger, start=start, end=end)
    print(f"wrote {out}")
    return 0
