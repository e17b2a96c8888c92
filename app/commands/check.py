"""``watchkeeper check``: the health of every model, for cron and CI.

The verdicts are the window's health lights (:mod:`watchkeeper.core.workbench.health`, the
one definition): ``ok``, ``watch``, ``alert`` or ``unknown``, each with its reasons and the
digest of the evidence it rests on. Exit 0 when no model is ``alert`` (``watch`` and
``unknown`` allowed), 1 when any is (or, with ``--strict``, when any is ``watch`` or
``unknown``), 2 on bad input — a spec that does not load, a workspace without specs, a
model whose telemetry cannot be read — after every model has been reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from watchkeeper.core.text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check",
        help="judge every model's health (exit 0 ok, 1 alert; for cron and CI)",
        description="Judge the health of each model (drift and performance together, by its "
        "spec's [health] rule) the way the window's health lights do. Exit 0 when no model is "
        "in alert, 1 when one is (with --strict also on watch or unknown), 2 on bad input.",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--spec", type=Path, metavar="FILE", help="one model's monitor spec")
    where.add_argument(
        "--workspace", type=Path, metavar="DIR", help="every spec in DIR/specs/*.toml"
    )
    p.add_argument(
        "--as-of",
        metavar="T",
        help="judge what was known at T: events before it, labels arrived by it (ISO-8601)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 on watch and unknown too, not only alert"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument(
        "--backtest",
        action="store_true",
        help="also replay each model's [health] and [drift] rules over its whole history: "
        "the alerts they would have raised, matched with the incidents and rollbacks of the "
        "governance database (hits, misses, alerts with no incident, median lead time)",
    )
    p.add_argument(
        "--why",
        action="store_true",
        help="also list drift ranked by feature importance, training-serving skew and what "
        "explains a metric drop (loads the registered models; slower)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.errors import SpecError, WatchkeeperError
    from watchkeeper.core.evidence import canonical_json, to_jsonable
    from watchkeeper.core.times import parse_time
    from watchkeeper.core.workbench.health import run_health
    from watchkeeper.core.workbench.portfolio import load_portfolio, portfolio_of_spec

    as_of = parse_time(args.as_of, "--as-of")
    if args.spec is not None:
        portfolio = portfolio_of_spec(args.spec)
    else:
        root = args.workspace.expanduser()
        if not root.is_dir():
            raise WatchkeeperError(f"{root}: no such workspace folder")
        if not any((root / "specs").glob("*.toml")):
            raise WatchkeeperError(f"{root}: no monitor specs in {root / 'specs'}")
        portfolio = load_portfolio(root)
    results = run_health(portfolio, as_of=as_of)
    judged_at = as_of or dt.datetime.now(dt.UTC)
    models = [results[m.name][0] for m in portfolio.models if m.name in results]
    backtests = _backtests(portfolio, results, as_of) if getattr(args, "backtest", False) else {}
    why = _findings(portfolio, results) if getattr(args, "why", False) else {}
    if args.json:
        doc = {
            "as_of": judged_at,
            "models": [
                {
                    **h.to_dict(),
                    "evidence": h.evidence,
                    **({"backtest": backtests[h.model]} if h.model in backtests else {}),
                    **(_why_keys(why[h.model]) if h.model in why else {}),
                }
                for h in models
            ],
        }
        print(canonical_json(to_jsonable(doc)))
    else:
        _print(models, judged_at)
        _print_backtests(backtests)
        for f in why.values():
            _print_why(f)
    spec_errors = [m.spec_error for m in portfolio.models if m.spec is None and m.spec_error]
    failed = [h for h in models if h.error is not None]
    if spec_errors or failed:
        first = spec_errors[0] if spec_errors else f"{failed[0].model}: {failed[0].error}"
        raise SpecError(first) if spec_errors else WatchkeeperError(first)
    alert = [h.model for h in models if h.verdict == "alert"]
    doubtful = [h.model for h in models if h.verdict in ("watch", "unknown")]
    if alert or (args.strict and doubtful):
        names = ", ".join(alert + (doubtful if args.strict else []))
        print(printable(f"watchkeeper check: needs attention: {names}"), file=sys.stderr)
        return 1
    return 0


def _findings(portfolio: Any, results: dict[str, Any]) -> dict[str, Any]:
    from watchkeeper.core.workbench.model_checks import find_what_matters

    out = {}
    for entry in portfolio.models:
        health, drift, perf = results.get(entry.name, (None, None, None))
        if entry.spec is None or health is None or not health.version:
            continue
        out[entry.name] = find_what_matters(entry, health.version, drift, perf)
    return out


def _print_why(f: Any) -> None:
    """The ``--why`` block of one model: a few indented lines, most important first."""
    lines = [f"{f.model} v{f.version}:"]
    if f.importance is not None:
        lines.append(
            f"  importance ({f.importance.source}"
            + (f"; {f.importance.note}" if f.importance.note else "")
            + ")"
        )
        top = ", ".join(f"{x.name} {x.share:.0%}" for x in f.importance.features[:5])
        lines.append(f"    {top}")
        if f.drifting:
            lines.append("  drifting, by decision, then importance x PSI (PSI capped at 1):")
            lines += [
                f"    {d.name:<24} {d.decision:<6} PSI {d.psi:7.3f}  importance {d.importance:4.0%}"
                for d in f.drifting
            ]
    for sk in f.skews:
        found = ", ".join(f"{x.name} (PSI {x.psi:.2f})" for x in sk.skewed) or "none"
        lines.append(
            f"  training-serving skew v{sk.version} ({sk.dataset} vs served "
            f"{sk.serving_span}): {found}"
        )
    if f.drop is not None:
        d = f.drop
        what = "estimated " if d.estimated else ""
        lines.append(
            f"  metric drop {d.after} ({what}{d.metric} {d.change:+.3f} against {d.before}):"
        )
        lines += [f"    slice {c.name:<28} {c.total:+.3f}" for c in d.slices[:3]]
        lines += [f"    feature {x.name:<26} impact {x.impact:.3f}" for x in d.features[:3]]
        lines += [f"    note: {n}" for n in d.notes]
    lines += [f"  could not: {e}" for e in f.errors]
    for line in lines:
        print(printable(line))


def _print(models: list[Any], judged_at: dt.datetime) -> None:
    print(f"health as of {judged_at:%Y-%m-%d %H:%M} UTC")
    width = max((len(printable(h.model)) for h in models), default=0)
    for h in models:
        version = "-" if not h.version else f"v{h.version}" if h.version.isdigit() else h.version
        why = "; ".join(h.reasons) or "nothing to report"
        window = f" ({h.window.text} windows)" if h.window is not None else ""
        line = f"  {h.verdict.upper():<7} {printable(h.model):<{width}} {version:<5}{window} {why}"
        print(printable(line))


def _why_keys(findings: Any) -> dict[str, Any]:
    """``--why``'s keys of a model in ``check --json``: ``importance`` and ``skew`` beside the
    verdict, as CONTRACT.md names them; the ranking and the explained drop under ``why``."""
    doc = findings.to_dict()
    return {
        "importance": doc.pop("importance"),
        "skew": doc.pop("skew"),
        "why": doc,
    }


def _backtests(portfolio: Any, results: dict[str, Any], as_of: Any) -> dict[str, dict[str, Any]]:
    """Per judged model: its rules replayed (core/workbench/backtest.py), as JSON values."""
    from watchkeeper.core.workbench.backtest import run_backtest

    out: dict[str, dict[str, Any]] = {}
    for entry in portfolio.models:
        health, drift, _ = results.get(entry.name, (None, None, None))
        if entry.spec is None or drift is None:
            continue
        by_health, by_drift, note = run_backtest(entry, as_of=as_of, judged=(health, drift))
        out[entry.name] = {
            "health": by_health.to_dict(),
            "drift": by_drift.to_dict(),
            "summary": {"health": by_health.summary(), "drift": by_drift.summary()},
            "note": note,
        }
    return out


def _print_backtests(backtests: dict[str, dict[str, Any]]) -> None:
    if not backtests:
        return
    print("backtest of each rule over the whole history (incidents from the governance database)")
    for model, bt in backtests.items():
        for rule in ("health", "drift"):
            print(printable(f"  {model} [{rule}]: {bt['summary'][rule]}"))
            for hit in bt[rule]["hits"]:
                lead = hit["lead_hours"]
                print(printable(f"      hit  {hit['incident']} (lead {lead:+.1f} h)"))
            for miss in bt[rule]["misses"]:
                print(printable(f"      miss {miss}"))
        if bt["note"]:
            print(printable(f"      note: {bt['note']}"))
