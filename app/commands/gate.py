"""``watchkeeper gate``: does the challenger meet the monitor spec's promotion policy?

Champion and challenger default to the registry's aliases (``[model]`` ``champion_alias`` /
``challenger_alias``) in the spec's ``registry_uri``; when the registry cannot answer, the
demo workspace's ``manifest.json`` next to the spec folder is read, and failing both the
command asks for ``--champion`` / ``--challenger`` (see
:mod:`watchkeeper.core.evaluation.versions`). Where the versions came from is said on stderr.

The window defaults to the shadow period (the challenger's rows). Records nothing. Exit 0
when the gate passes, 1 when it fails, 2 on bad input. ``--json`` prints exactly the
evidence document (canonical JSON) on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gate",
        help="check a challenger against the spec's promotion gate (exit 0 pass, 1 fail)",
        description="Compare champion and challenger on the requests both scored (shadow "
        "traffic) and check the monitor spec's [gate] policy: improvement of the primary "
        "metric with its confidence interval above zero, no critical slice regressing beyond "
        "the allowed drop, enough labeled requests, latency within budget. Exit code 0 when "
        "the gate passes, 1 when it fails, 2 on bad input.",
    )
    p.add_argument("--spec", required=True, type=Path, metavar="FILE", help="the monitor spec")
    p.add_argument("--challenger", metavar="V", help="challenger version (default: alias)")
    p.add_argument("--champion", metavar="V", help="champion version (default: alias)")
    p.add_argument("--start", metavar="T", help="from T (ISO-8601, UTC if no zone)")
    p.add_argument("--end", metavar="T", help="before T (default: the shadow period's end)")
    p.add_argument("--json", action="store_true", help="print the evidence document (JSON)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.evaluation.versions import resolve_versions
    from watchkeeper.core.times import parse_time
    from watchkeeper.core.workbench.challenger import run_gate
    from watchkeeper.core.workbench.portfolio import portfolio_of_spec

    start = parse_time(args.start, "--start")
    end = parse_time(args.end, "--end")
    (entry,) = portfolio_of_spec(args.spec).models
    champion, challenger, how = resolve_versions(entry.spec, args.champion, args.challenger)
    if champion == challenger:
        from watchkeeper.core.evaluation.metrics import EvaluationError

        raise EvaluationError(f"champion and challenger are the same version ({champion})")
    print(f"champion {champion}, challenger {challenger} (from {how})", file=sys.stderr)
    result = run_gate(entry, champion, challenger, start=start, end=end)
    evidence = result.to_evidence()
    if args.json:
        print(evidence.text)
    else:
        _print_table(result, evidence.digest)
    if not result.passed:
        failed = ", ".join(c.id for c in result.failed)
        print(f"watchkeeper gate: the gate failed: {failed}", file=sys.stderr)
        return 1
    return 0


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{int(x):,}" if float(x).is_integer() and abs(x) >= 1000 else f"{x:.4g}"


def _print_table(result: Any, digest: str) -> None:
    start, end = result.window
    print(
        f"{result.model}: challenger {result.challenger} vs champion {result.champion}, "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, "
        f"{result.comparison.labeled:,} labeled of {result.comparison.pairs:,} paired requests"
    )
    width = max(len(c.id) for c in result.criteria)
    for c in result.criteria:
        verdict = "pass" if c.passed else "FAIL"
        print(
            f"  {verdict}  {c.id:<{width}}  {_fmt(c.value):>10} {c.comparison} {_fmt(c.threshold)}"
        )
    print(f"gate {'PASSED' if result.passed else 'FAILED'}; evidence {digest}")
