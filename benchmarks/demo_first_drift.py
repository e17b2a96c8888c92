"""On the demo: how many days after the planted gradual drift in ``amount`` begins is it
first called ``watch`` and ``drift``, under absolute and calibrated thresholds, and which
other features ever alert.

The Drift view's analysis (``run_drift``: fraud-detector's champion, the spec's daily
windows, its January reference), once per ``[drift] thresholds`` mode.

    .venv/bin/python benchmarks/demo_first_drift.py [--workspace PATH] [--events-per-day N]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from pathlib import Path

from watchkeeper.core.demo import ensure_workspace
from watchkeeper.core.workbench.analyses import run_drift
from watchkeeper.core.workbench.portfolio import load_portfolio

DAY0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/watchkeeper-demo"))
    parser.add_argument("--events-per-day", type=int, default=20_000)
    args = parser.parse_args()
    ws = ensure_workspace(args.workspace, events_per_day=args.events_per_day)
    event = next(
        e
        for e in ws.manifest["events"]
        if e["model"] == "fraud-detector" and e["kind"] == "gradual_drift"
    )
    begin = (dt.datetime.fromisoformat(event["start"].replace("Z", "+00:00")) - DAY0).days
    entry = load_portfolio(ws.root).model("fraud-detector")
    assert entry is not None and entry.spec is not None
    version = entry.champion or "1"
    print(f"gradual drift in amount planted from day {begin}; version {version}, 1d windows")
    print(
        f"{'thresholds':>11} {'first watch':>12} {'first drift':>12} "
        f"{'others alerting':>30} {'s':>5}"
    )
    for mode in ("absolute", "calibrated"):
        spec = entry.spec.model_copy(
            update={"drift": entry.spec.drift.model_copy(update={"thresholds": mode})}
        )
        started = time.perf_counter()
        r = run_drift(dataclasses.replace(entry, spec=spec), version, "1d")
        took = time.perf_counter() - started
        days = [(w.start - DAY0).days if w.start else None for w in r.windows]
        dec = r.decisions()

        def first(label: str, dec=dec, days=days) -> str:
            hit = [d for d, x in zip(days, dec["amount"], strict=True) if x in label]
            return f"day {hit[0]} (+{hit[0] - begin})" if hit else "never"

        others = sorted(
            f for f in dec if f != "amount" and any(x in ("watch", "drift") for x in dec[f])
        )
        print(
            f"{mode:>11} {first('watch drift'):>12} {first('drift'):>12} "
            f"{', '.join(others) or '-':>30} {took:>5.1f}"
        )
        for f in others:
            alerts = [
                f"{d}:{x}" for d, x in zip(days, dec[f], strict=True) if x in ("watch", "drift")
            ]
            print(f"{'':>11} {f}: {' '.join(alerts[:12])}{' …' if len(alerts) > 12 else ''}")


if __name__ == "__main__":
    main()
