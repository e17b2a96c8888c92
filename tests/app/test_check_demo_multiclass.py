"""``watchkeeper check`` finds the demo's planted multiclass events (risk-tier, manifest.json).

The prior shift must show as drift of the predicted class and the class probabilities at or
after its day and never before; the concept change in ``medium`` as a realized macro-F1 drop
from its day, while the estimate (CBPE, calibrated on January) stays at the baseline — it
cannot see a change in the probability–label relation, by construction.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from watchkeeper.app import cli
from watchkeeper.core.times import parse_time
from watchkeeper.core.workbench.analyses import run_performance
from watchkeeper.core.workbench.portfolio import load_portfolio

MODEL = "risk-tier"


def _event(manifest: dict, kind: str) -> dict:
    (found,) = [e for e in manifest["events"] if e["model"] == MODEL and e["kind"] == kind]
    return found


def test_check_finds_the_prior_shift_and_the_concept_change(
    demo_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((demo_workspace / "manifest.json").read_text())
    shift, concept = _event(manifest, "prior_shift"), _event(manifest, "concept_change")
    code = cli.main(["check", "--spec", str(demo_workspace / "specs" / f"{MODEL}.toml"), "--json"])
    (doc,) = json.loads(capsys.readouterr().out)["models"]
    assert code == 1 and doc["verdict"] == "alert", doc["reasons"]
    windows = [
        {**w, "start": parse_time(w["start"]), "end": parse_time(w["end"])} for w in doc["windows"]
    ]

    # the prior shift: the predicted class and the class probabilities drift, from its day on
    onset = parse_time(shift["start"])
    called = [w for w in windows if {"prediction", "p_low", "p_high"} <= set(w["drift_features"])]
    assert called and all(w["end"] > onset for w in called)
    first = called[0]
    assert first["start"] - onset < dt.timedelta(days=7)  # the first full week after it
    assert all(w in called for w in windows if w["start"] >= first["start"])
    before = [w for w in windows if w["end"] <= onset]
    assert not any(
        f in w["drift_features"] for w in before for f in ("prediction", "p_low", "p_medium")
    )

    # the concept change: realized macro-F1 falls from its day; the estimate does not
    view = run_performance(load_portfolio(demo_workspace).model(MODEL), "1", "7d")
    baseline = view.baseline.value
    line = baseline - view.tolerance
    day = parse_time(concept["start"])
    realized = [w for w in windows if w["source"] == "realized" and not w["carried"]]
    clearly_below = [w for w in realized if w["upper"] < line]
    assert clearly_below and clearly_below[0]["start"] >= day
    after = [w["value"] for w in realized if w["start"] >= day]
    before_values = [w["value"] for w in realized if w["end"] <= day]
    drop = sum(before_values) / len(before_values) - sum(after) / len(after)
    assert drop > 0.05
    both = [
        (r, e.metrics[view.metric].value)
        for r, e in zip(view.realized.series(view.metric)[:, 0], view.estimated, strict=True)
        if e is not None and r == r and view.metric in e.metrics  # r == r: not NaN
    ]
    assert both
    for realized_value, estimated_value in both:
        assert abs(estimated_value - baseline) < 0.03
        assert realized_value < baseline - 0.08
    print(
        f"prior shift (day {shift['start_day']}, {onset:%Y-%m-%d}): first called window "
        f"{first['start']:%Y-%m-%d}..{first['end']:%Y-%m-%d} "
        f"({(first['start'] - onset).days} to {(first['end'] - onset).days} days after onset); "
        f"concept change (day {concept['start_day']}): first window clearly below "
        f"{clearly_below[0]['start']:%Y-%m-%d} ({(clearly_below[0]['start'] - day).days} days "
        f"after), macro-F1 {baseline:.3f} -> mean {sum(after) / len(after):.3f} after; "
        f"estimate vs realized where both: {[(round(r, 3), round(e, 3)) for r, e in both]}"
    )
