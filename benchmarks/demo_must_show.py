"""Issue 16's "Must show", on the demo: each planted fault found, ranked, explained and hit.

For fraud-detector (the demo's champion, version 1; version 2 for the skew), with the spec's
defaults (daily windows, the January reference, ``[drift] thresholds = "calibrated"``):

- the gradual drift in ``amount``: the first day it is called ``watch`` / ``drift``, days
  after its planted start, under absolute and calibrated thresholds;
- the logging incident (``device_type`` renamed, ``distance_from_home_km`` missing): first
  ``drift`` day of each feature;
- the web concept change: the first and the worst window whose metric moved after it, and
  the slice that carries most of the drop there (``explain_drop``);
- the training–serving skew of version 2: the features it calls skewed;
- each fault's features' rank by drift × importance (``rank_drift``: decision, then
  importance × capped PSI) with the importance's source, and the Spearman rank agreement of
  the pyfunc model's permutation importance with the model-agnostic score MI;
- the default rules' backtest (``run_backtest``): the first alert after each fault's start
  carrying its feature, and the recorded incidents hit;
- the stable features (in no planted event): every window they were called watch/drift.

Prints one table; no assertions (tests/app/test_window_explain_drop.py and
tests/app/test_check_cli.py hold the line on the same demo).

    .venv/bin/python benchmarks/demo_must_show.py [--workspace PATH] [--events-per-day N]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

DAY0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _day(t: dt.datetime | None) -> int | None:
    return None if t is None else (t - DAY0).days


def _first(drift: Any, feature: str, labels: tuple[str, ...], from_day: int = 0) -> int | None:
    for w, fw in zip(drift.windows, drift.feature(feature).windows, strict=True):
        d = _day(w.start)
        if d is not None and d >= from_day and fw.decision in labels:
            return d
    return None


def _plus(day: int | None, start: int) -> str:
    return "never" if day is None else f"day {day} (+{day - start})"


def main() -> None:
    from scipy.stats import spearmanr

    from watchkeeper.core.demo import ensure_workspace
    from watchkeeper.core.drift.importance import importance_from_score
    from watchkeeper.core.workbench.analyses import run_drift, run_performance
    from watchkeeper.core.workbench.backtest import run_backtest
    from watchkeeper.core.workbench.model_checks import (
        _reference_frame,
        explain_drop,
        moved_windows,
        rank_drift,
        run_importance,
        run_skew,
    )
    from watchkeeper.core.workbench.portfolio import load_portfolio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/watchkeeper-demo-3000"))
    parser.add_argument("--events-per-day", type=int, default=3000)
    args = parser.parse_args()
    started = time.perf_counter()
    ws = ensure_workspace(args.workspace, events_per_day=args.events_per_day)
    events = {e["id"]: e for e in ws.manifest["events"] if e["model"] == "fraud-detector"}
    (skew_planted,) = ws.manifest["registry"]["skews"]
    entry = load_portfolio(ws.root).model("fraud-detector")
    assert entry is not None and entry.spec is not None
    version = entry.champion or "1"
    features = list(entry.spec.telemetry.columns.features)
    planted_features = {f for e in events.values() for f in e["features"]}
    stable = [f for f in features if f not in planted_features]
    print(
        f"demo at {args.events_per_day:,} events/day; fraud-detector v{version}; "
        f"[drift] thresholds default = {entry.spec.drift.thresholds!r}"
    )

    drifts = {}
    for mode in ("absolute", "calibrated"):
        spec = entry.spec.model_copy(
            update={"drift": entry.spec.drift.model_copy(update={"thresholds": mode})}
        )
        drifts[mode] = run_drift(dataclasses.replace(entry, spec=spec), version, "1d")
    drift = drifts["calibrated"]
    importance = run_importance(entry, version)
    ref = _reference_frame(entry, version, ["score", *features])
    mi = importance_from_score(ref, features)
    pyfunc_share = importance.as_mapping()
    mi_share = mi.as_mapping()
    rho = spearmanr([pyfunc_share[f] for f in features], [mi_share[f] for f in features])
    ranked = rank_drift(drift, importance)
    rank = {d.name: i + 1 for i, d in enumerate(ranked)}
    perf = run_performance(entry, version, None)
    moved = moved_windows(perf)
    health_bt, drift_bt, bt_note = run_backtest(entry)
    skew = run_skew(entry, skew_planted["version"])

    def alert_after(start_day: int, feats: list[str]) -> str:
        """The first default-rule alert still open after ``start_day`` that carries one of
        ``feats`` (drift rule), else the first health alert open after it."""
        for a in drift_bt.alerts:
            if (_day(a.end) or 0) > start_day and set(feats) & set(a.features):
                return (
                    f"drift rule: alert raised day {_day(a.raised_at)}, open to day {_day(a.end)}"
                )
        for a in health_bt.alerts:
            if (_day(a.end) or 0) > start_day:
                return f"health rule: alert raised day {_day(a.raised_at)}"
        return "no alert"

    rows = []
    # gradual drift
    g = events["fraud-amount-drift"]
    s = g["start_day"]
    first_abs = _first(drifts["absolute"], "amount", ("drift",), s)
    first_cal = _first(drift, "amount", ("drift",), s)
    rows.append((
        "gradual drift: amount",
        f"drift abs {_plus(first_abs, s)}; cal {_plus(first_cal, s)}",
        f"amount #{rank['amount']}",
        "—",
        alert_after(s, ["amount"]),
    ))  # fmt: skip
    # logging incident
    inc = events["fraud-pipeline-incident"]
    s = inc["start_day"]
    found = "; ".join(f"{f} {_plus(_first(drift, f, ('drift',), s), s)}" for f in inc["features"])
    incident_windows = [i for i in moved if _day(perf.realized.windows[i].start) >= s]
    explained = "—"
    if incident_windows:
        e = explain_drop(entry, version, perf, drift, importance, incident_windows[0])
        top = [f.name for f in e.features[:3]]
        explained = f"{e.after[:10]}: top features {', '.join(top)}"
    rows.append((
        "logging incident",
        found,
        ", ".join(f"{f} #{rank[f]}" for f in inc["features"]),
        explained,
        alert_after(s, inc["features"]),
    ))  # fmt: skip
    # concept change
    cc = events["fraud-web-concept-change"]
    s = cc["start_day"]
    ((channel, value),) = cc["slice"].items()
    after_cc = [i for i in moved if _day(perf.realized.windows[i].start) >= s]
    first_moved = min(after_cc, default=None)
    first_cc_day = "—" if first_moved is None else _day(perf.realized.windows[first_moved].start)
    lines = []
    for label, idx in (("first", first_moved), ("worst", after_cc[0] if after_cc else None)):
        if idx is None:
            continue
        e = explain_drop(entry, version, perf, drift, importance, idx)
        top = e.slices[0]
        lines.append(
            f"{label} {e.after[:10]} ({e.metric} {e.change:+.3f}): {top.name} {top.total:+.3f}"
        )
    rows.append((
        f"concept change: {channel}={value}",
        f"labels only (no input moves); {perf.metric} moved first on day {first_cc_day}",
        f"amount #{rank['amount']}",
        " | ".join(lines) or "—",
        alert_after(s, []),
    ))  # fmt: skip
    # skew
    rows.append((
        f"skew: {skew_planted['feature']} ×{skew_planted['factor']:g} (v{skew_planted['version']})",
        "skewed: " + (", ".join(f.name for f in skew.skewed) if skew else "not measured"),
        "—",
        "" if skew is None else "; ".join(
            f"{f.name} PSI {f.psi:.2f}, median ratio ×{f.median_ratio:.3g}"
            for f in skew.skewed if f.psi is not None and f.median_ratio is not None
        ),
        "(the skew is its own section, not a rule)",
    ))  # fmt: skip
    head = ("planted", "found", "rank (drift × importance)", "explained", "backtest, default rules")
    print()
    for row in (head, *rows):
        print(" | ".join(row))
    print()
    print(f"importance: {importance.source}; vs {mi.source}: Spearman ρ = {rho.statistic:.3f}")
    print("ranking (calibrated, whole history): " + ", ".join(
        f"{d.name} [{d.decision}, PSI {d.psi:.2f}, imp {d.importance:.1%}]" for d in ranked
    ))  # fmt: skip
    for bt in (health_bt, drift_bt):
        for a in bt.alerts:
            print(
                f"  {bt.rule} alert: raised day {_day(a.raised_at)}, to day {_day(a.end)}, "
                f"features {', '.join(a.features) or '-'}"
            )
    print(f"backtest health: {health_bt.summary()}")
    print(f"backtest drift:  {drift_bt.summary()}")
    for h in (*health_bt.hits, *drift_bt.hits):
        print(f"  hit: {h.incident.title} (lead {h.lead})")
    if bt_note:
        print(f"  note: {bt_note}")
    print("stable features (in no planted event), windows called watch/drift:")
    for mode, d in drifts.items():
        calls = {
            f: [
                (_day(w.start), fw.decision)
                for w, fw in zip(d.windows, d.feature(f).windows, strict=True)
                if fw.decision in ("watch", "drift")
            ]
            for f in stable
        }
        bad = {f: c for f, c in calls.items() if c}
        print(f"  {mode:>10}: {bad or 'none'}")
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
