"""The Performance view marks the model's governance events, read through the TaskRunner;
a governance database that is missing is a quiet line, not an error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from workbench_results import fraud_entry

from watchkeeper.app.panels.performance import EVENTS_KEY, PerformancePanel, events_note
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.governance.timeline import (
    TimelineLoad,
    read_timeline_events,
    spec_database_url,
)
from watchkeeper.core.workbench.portfolio import ModelEntry


def finished(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> ModelEntry:
    return fraud_entry(demo_workspace)


def test_events_are_read_in_the_background_and_marked(qtbot, fraud: ModelEntry) -> None:
    url = spec_database_url(fraud.spec)
    assert url is not None and url.endswith("governance.db")
    expected = read_timeline_events(url, "fraud-detector")
    assert expected.note is None
    assert {e.kind for e in expected.events} >= {"approval", "rollback", "incident"}
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    keys = ("performance", EVENTS_KEY)
    with qtbot.waitSignals(
        [runner.task_finished, runner.task_finished],
        timeout=60_000,
        check_params_cbs=[finished(k) for k in keys],
        order="none",
    ):
        panel.set_selection(fraud, "1")
        assert EVENTS_KEY in runner.active()  # off the GUI thread
    assert panel.state.status == "ready", panel.state.error
    assert panel.events == expected
    timeline = panel.timeline
    lo, hi = timeline.data.extent()
    inside = [e for e in expected.events if e.overlaps(lo, hi, open_until=hi)]
    assert inside, "the demo's governance history falls inside its telemetry"
    assert timeline.shown_events == tuple(inside)
    lines = sorted(line.value() for line in timeline.event_lines if line.isVisible())
    assert lines == sorted(e.start.timestamp() for e in inside if not e.is_period)
    regions = [r for r in timeline.event_regions if r.isVisible()]
    assert len(regions) == sum(e.is_period for e in inside)
    # the tooltip of a rollback says when, who and why
    rollback = next(e for e in inside if e.kind == "rollback")
    tip = timeline.describe_at(rollback.start.timestamp(), 0.8, reach=(3600.0, 0.01))
    assert rollback.tooltip() in tip and "sam.reyes" in tip and "UTC" in tip
    assert panel.events_label.isVisible()
    assert panel.events_label.text() == events_note(expected, len(inside))
    assert not panel.banner.isVisible()
    # the same model again: no second read
    panel.set_selection(fraud, "2")
    assert EVENTS_KEY not in runner.active()
    qtbot.waitUntil(lambda: panel.state.status == "ready", timeout=60_000)


def test_a_missing_database_is_a_quiet_note(qtbot, fraud: ModelEntry, tmp_path: Path) -> None:
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(
        runner.task_finished, timeout=60_000, check_params_cb=finished(EVENTS_KEY)
    ):
        panel.set_governance_database(f"sqlite:///{tmp_path / 'gone' / 'governance.db'}")
        panel.set_selection(fraud, "1")
    assert panel.events.events == ()
    assert "no governance database" in panel.events_label.text()
    assert panel.events_label.isVisible()
    assert not any(line.isVisible() for line in panel.timeline.event_lines)
    assert not (tmp_path / "gone").exists()
    # an unreachable server: the same quiet line, never the error banner
    with qtbot.waitSignal(
        runner.task_finished, timeout=60_000, check_params_cb=finished(EVENTS_KEY)
    ):
        panel.set_governance_database("postgresql://nobody@127.0.0.1:9/none")
    assert "governance records not shown" in panel.events_label.text()
    qtbot.waitUntil(lambda: panel.state.status == "ready", timeout=60_000)
    assert not panel.banner.isVisible()


def test_a_spec_without_a_governance_database(qtbot, fraud: ModelEntry) -> None:
    spec = fraud.spec.model_copy(
        update={"governance": fraud.spec.governance.model_copy(update={"database": None})}
    )
    entry = dataclasses.replace(fraud, spec=spec)
    runner = TaskRunner()
    panel = PerformancePanel(runner)
    qtbot.addWidget(panel)
    panel.set_selection(entry, "1")
    assert EVENTS_KEY not in runner.active()  # a hidden view reads nothing
    assert panel.events is None
    with qtbot.waitSignal(
        runner.task_finished, timeout=60_000, check_params_cb=finished(EVENTS_KEY)
    ):
        panel.show()  # shown: the read it owes starts
    assert panel.events == TimelineLoad(
        (), None, "no governance database is configured for this model"
    )
    assert panel.events_label.text() == panel.events.note
    panel.set_selection(None, None)
    assert not panel.events_label.isVisible()
    assert panel.timeline.events == ()
    qtbot.waitUntil(lambda: "performance" not in runner.active(), timeout=60_000)
