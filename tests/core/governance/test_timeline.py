"""Governance records → time-axis marks: pure on hand-made records, then read from a store."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.core.governance.records import (
    Approval,
    IncidentNote,
    ModelCard,
    Rollback,
    RollbackApplication,
)
from watchkeeper.core.governance.timeline import (
    TimelineEvent,
    read_timeline_events,
    spec_database_url,
    timeline_events,
)

_ids = itertools.count()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def signed(created: str, actor: str = "lee.chen", verified: bool = False) -> dict[str, Any]:
    return {
        "id": f"r{next(_ids)}",
        "created_at": at(created),
        "actor": actor,
        "actor_verified": verified,
        "key_id": "k",
        "record_hash": "sha256:0",
        "signature": "s",
    }


def approval(created: str, version: str, decision: str = "approve", model: str = "m") -> Approval:
    return Approval(
        **signed(created),
        model=model,
        model_version=version,
        role="champion",
        decision=decision,
        policy={},
        evidence={},
        evidence_digest="sha256:0",
        comment="Meets the gate.",
    )


def rollback(created: str) -> Rollback:
    return Rollback(
        **signed(created, actor="sam.reyes"),
        model="m",
        from_version="2",
        to_version="1",
        reason_class="sudden_incident",
        incident_ref="INC-1042",
        reason="p99 latency above the SLO",
        evidence={},
        evidence_digest="sha256:0",
    )


def note(starts: str, ends: str | None, title: str = "INC-1042: slow v2") -> IncidentNote:
    return IncidentNote(
        **signed("2026-03-30 19:20:00", actor="sam.reyes"),
        model="m",
        starts_at=at(starts),
        ends_at=None if ends is None else at(ends),
        title=title,
        body="",
        links=[],
    )


def test_records_become_lines_and_regions_in_time_order() -> None:
    rb = rollback("2026-03-30 16:50:00")
    applied = RollbackApplication(
        **signed("2026-03-30 16:51:07", actor="sam.reyes"),
        rollback_id=rb.id,
        result="succeeded",
        detail="alias champion moved 2 -> 1",
    )
    card = ModelCard(
        **signed("2026-02-04 10:30:00"),
        model="m",
        model_version="1",
        revision=1,
        base_revision=None,
        content={},
        content_digest="sha256:0",
    )
    records = [
        note("2026-03-30 14:00:00", "2026-03-30 17:40:00"),
        applied,
        rb,
        approval("2026-03-30 13:45:00", "2"),
        approval("2026-02-06 15:10:00", "1"),
        approval("2026-02-07 09:00:00", "3", decision="reject"),
        approval("2026-02-08 09:00:00", "1", model="other"),  # another model: not shown
        card,  # cards are not marks
    ]
    events = timeline_events(records, "m")
    assert [e.kind for e in events] == [
        "approval",
        "rejection",
        "approval",
        "incident",
        "rollback",
    ]
    assert all(isinstance(e, TimelineEvent) for e in events)
    first = events[0]
    assert first.label == "v1 approved as champion"
    assert first.start == at("2026-02-06 15:10:00") and first.end is None
    assert not first.is_period
    tip = first.tooltip()
    assert "2026-02-06 15:10:00 UTC" in tip and "lee.chen (unverified)" in tip
    assert "Meets the gate." in tip
    assert events[1].label == "v3 rejected as champion"
    incident = events[3]
    assert incident.is_period and not incident.is_open and incident.label == "INC-1042"
    assert incident.span() == (
        at("2026-03-30 14:00").timestamp(),
        at("2026-03-30 17:40").timestamp(),
    )
    assert "to 2026-03-30 17:40:00 UTC" in incident.tooltip()
    assert "INC-1042: slow v2" in incident.tooltip()
    back = events[4]
    assert back.label == "rollback v2 → v1" and back.actor == "sam.reyes"
    assert "p99 latency above the SLO" in back.tooltip()
    assert "applied 2026-03-30 16:51:07 UTC by sam.reyes: succeeded" in back.tooltip()
    with pytest.raises(AttributeError):
        back.label = "changed"  # type: ignore[misc]


def test_open_incidents_last_to_the_axis_end_and_ranges_are_checked() -> None:
    (open_note,) = timeline_events([note("2026-04-06 00:00:00", None, "no colon here")], "m")
    assert open_note.is_open and open_note.label == "incident"
    start = at("2026-04-06").timestamp()
    assert open_note.span() == (start, start)
    assert open_note.span(open_until=start + 3600) == (start, start + 3600)
    assert "still open" in open_note.tooltip()
    # an open incident overlaps any range reaching past its start
    assert open_note.overlaps(start + 86400, start + 2 * 86400)
    assert not open_note.overlaps(start - 2 * 86400, start - 86400)
    (line,) = timeline_events([approval("2025-11-06 09:00:00", "1")], "m")
    january, may = at("2026-01-01").timestamp(), at("2026-05-01").timestamp()
    assert not line.overlaps(january, may)  # before the telemetry: not drawn
    assert timeline_events([], "m") == ()


def test_rollback_not_applied_says_so() -> None:
    (event,) = timeline_events([rollback("2026-03-30 16:50:00")], "m")
    assert "not applied yet" in event.tooltip()


def test_spec_database_urls_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    class Section:
        def __init__(self, database: str | None) -> None:
            self.database = database

    class Spec:
        def __init__(self, database: str | None) -> None:
            self.governance = Section(database)
            self.base_dir = tmp_path / "specs"

    root = tmp_path.resolve()
    assert (
        spec_database_url(Spec("sqlite:///../governance.db")) == f"sqlite:///{root}/governance.db"
    )
    assert spec_database_url(Spec("gov.db")) == f"sqlite:///{root}/specs/gov.db"
    assert spec_database_url(Spec("sqlite:////abs/g.db")) == "sqlite:////abs/g.db"
    assert spec_database_url(Spec("postgresql://h/db")) == "postgresql://h/db"
    assert spec_database_url(Spec(None)) is None


def test_reading_a_store_and_a_missing_database(tmp_path: Path) -> None:
    from watchkeeper.core.governance.signing import Signer
    from watchkeeper.core.governance.store import GovernanceStore

    url = f"sqlite:///{tmp_path / 'governance.db'}"
    clock = iter(at("2026-03-30 16:50:00") + dt.timedelta(minutes=k) for k in range(10))
    with GovernanceStore.open(
        url,
        create=True,
        actor="sam.reyes",
        signer=Signer.from_seed("sam"),
        clock=lambda: next(clock),
    ) as store:
        rb = store.record_rollback(
            "m", "2", "1", reason_class="sudden_incident", reason="slow", require_verified=False
        )
        store.record_rollback_applied(rb.id, result="succeeded")
        store.record_incident_note(
            "m", starts_at=at("2026-03-30 14:00"), ends_at=at("2026-03-30 17:40"), title="slow"
        )
        store.record_incident_note("other", starts_at=at("2026-03-30 14:00"), title="elsewhere")
    load = read_timeline_events(url, "m")
    assert load.note is None and "governance.db" in (load.database or "")
    assert [e.kind for e in load.events] == ["incident", "rollback"]
    assert "succeeded" in load.events[1].tooltip()

    missing = read_timeline_events(f"sqlite:///{tmp_path / 'nope.db'}", "m")
    assert missing.events == () and "no governance database" in (missing.note or "")
    assert not (tmp_path / "nope.db").exists()  # reading never creates one
    assert "no governance database" in (read_timeline_events(None, "m").note or "")
