"""Backtest of an alert rule (core/workbench/backtest.py): a hand-built history whose
answer follows from the definitions, incidents read from a real governance store, and the
demo's own rules through ``watchkeeper check --backtest``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from watchkeeper.core.workbench.backtest import (
    Incident,
    RuleWindow,
    backtest,
    incidents_from,
)

DAY0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _day(d: float) -> dt.datetime:
    return DAY0 + dt.timedelta(days=d)


def test_known_history_hits_misses_and_lead_times() -> None:
    alerting = {3, 4, 10, 14}  # runs: days 3-4 (A), 10 (B), 14 (C)
    windows = [
        RuleWindow(_day(d), _day(d + 1), d in alerting, ("x",) if d in alerting else ())
        for d in range(20)
    ]
    incidents = [
        Incident("incident", "I1", _day(5), _day(6), _day(5.5)),  # A ran up to day 5
        Incident("rollback", "I2", _day(12), _day(12), _day(12.25)),  # B, 2 days before
        Incident("incident", "I3", _day(18), None, _day(18)),  # C ended 3 days before
        Incident("incident", "before", _day(-30), _day(-29), _day(-29)),  # outside the data
    ]
    bt = backtest(windows, incidents, horizon=dt.timedelta(days=2))
    assert [(a.start, a.raised_at, a.windows) for a in bt.alerts] == [
        (_day(3), _day(4), 2),
        (_day(10), _day(11), 1),
        (_day(14), _day(15), 1),
    ]
    assert [i.title for i in bt.incidents] == ["I1", "I2", "I3"]
    # lead = known_at - raised_at: I1 5.5 - 4 days, I2 12.25 - 11 days
    assert [(h.incident.title, h.lead) for h in bt.hits] == [
        ("I1", dt.timedelta(days=1.5)),
        ("I2", dt.timedelta(days=1.25)),
    ]
    assert [i.title for i in bt.misses] == ["I3"]
    assert [a.start for a in bt.unmatched] == [_day(14)]
    assert bt.median_lead == dt.timedelta(days=1.375)
    doc = bt.to_dict()
    assert doc["misses"] == ["I3"] and doc["median_lead_hours"] == pytest.approx(33.0)
    # a week's horizon reaches back from I3 to C: then every incident is hit
    wide = backtest(windows, incidents, horizon=dt.timedelta(days=7))
    assert not wide.misses and not wide.unmatched and len(wide.hits) == 3


def test_incidents_from_a_governance_store(tmp_path: Path) -> None:
    from watchkeeper.core.governance.signing import Signer
    from watchkeeper.core.governance.store import GovernanceStore

    url = f"sqlite:///{tmp_path / 'governance.db'}"
    clock = iter(_day(10) + dt.timedelta(hours=k) for k in range(10))
    with GovernanceStore.open(
        url, create=True, actor="sam", signer=Signer.from_seed("sam"), clock=lambda: next(clock)
    ) as store:
        cited = store.record_rollback(
            "m", "2", "1", reason_class="sudden_incident", reason="slow", require_verified=False
        )
        store.record_incident_note("m", starts_at=_day(9), title="INC-1: slow", links=[cited])
        store.record_rollback(
            "m", "3", "2", reason_class="other", incident_ref="INC-2", reason="worse",
            require_verified=False,
        )  # fmt: skip
        notes, rollbacks = store.incident_notes("m"), store.rollbacks("m")
    found = incidents_from(notes, rollbacks)
    # the cited rollback is the note's incident; the other one stands alone, as a moment
    assert [(i.kind, i.start) for i in found] == [
        ("incident", _day(9)),
        ("rollback", _day(10) + dt.timedelta(hours=2)),
    ]
    assert found[0].known_at == _day(10) + dt.timedelta(hours=1) and found[0].end is None
    assert found[1].title.startswith("INC-2") and found[1].end == found[1].start


def test_check_backtest_on_the_demo(
    demo_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from watchkeeper.app import cli

    spec = demo_workspace / "specs" / "fraud-detector.toml"
    code = cli.main(["check", "--spec", str(spec), "--backtest", "--json"])
    out, _ = capsys.readouterr()
    (model,) = json.loads(out)["models"]
    bt = model["backtest"]
    titles = [i["title"] for i in bt["drift"]["incidents"]]
    # the logging incident (INC-1057) is in the telemetry: the default drift rule hits it
    # before the on-call note was written; the latency rollback (INC-1042) is not drift
    assert any(t.startswith("INC-1057") for t in titles)
    hit = {h["incident"][:8]: h for h in bt["drift"]["hits"]}
    assert "INC-1057" in hit and hit["INC-1057"]["lead_hours"] > 0
    assert any(m.startswith("INC-1042") for m in bt["drift"]["misses"])
    assert bt["note"] is None and code in (0, 1)
    text = cli.main(["check", "--spec", str(spec), "--backtest"])
    printed = capsys.readouterr().out
    assert text == code and "[drift]" in printed and "INC-1057" in printed
