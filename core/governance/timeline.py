"""Governance records as marks on a time axis: what a performance plot shows beside its curve.

A drop in a metric is read against what people decided and noticed at the time. This module
turns a model's governance records into :class:`TimelineEvent` values — an approval or a
rejection and a rollback are *moments* (a labelled vertical line), an incident note is a
*period* from ``starts_at`` to ``ends_at`` (a shaded region; open when it has no end yet).
Each event carries the exact time (UTC), who recorded it and what it says, for a tooltip.

:func:`timeline_events` is pure (records in, frozen events out; no database, no Qt), so it is
tested on hand-made records. :func:`read_timeline_events` opens the store read-only for the
one model and calls it; a database that is missing or unreachable is *not* an error for a
plot — it comes back as :attr:`TimelineLoad.note`, for a quiet line under the plot.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper.core.governance.records import (
    Approval,
    IncidentNote,
    Rollback,
    RollbackApplication,
)

__all__ = [
    "EVENT_KINDS",
    "TOOLTIP_WIDTH",
    "TimelineEvent",
    "TimelineLoad",
    "format_time",
    "read_timeline_events",
    "spec_database_url",
    "timeline_events",
]

#: Kinds of event, as :attr:`TimelineEvent.kind` names them.
EVENT_KINDS = ("approval", "rejection", "rollback", "incident")

#: Characters per tooltip line (a tooltip does not wrap by itself).
TOOLTIP_WIDTH = 78
_REASONS = {"sudden_incident": "sudden incident", "gradual_drift": "gradual drift"}


def format_time(moment: dt.datetime) -> str:
    """A moment as the tooltips show it: UTC, to the second."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class TimelineEvent:
    """One mark on the time axis.

    ``start`` is the moment (a line) or the start of the period (a region); ``end`` is the
    period's end, None for a moment *and* for an incident still open (see :attr:`is_open`).
    ``label`` is the short text drawn on the plot; ``title`` is what it is about (comment,
    reason, incident title); ``details`` are further lines for the tooltip.
    """

    kind: str
    start: dt.datetime
    end: dt.datetime | None
    label: str
    actor: str
    actor_verified: bool
    title: str
    record_id: str
    details: tuple[str, ...] = ()

    @property
    def is_period(self) -> bool:
        """Drawn as a region (an incident), not a line."""
        return self.kind == "incident"

    @property
    def is_open(self) -> bool:
        """An incident with no end recorded yet: it lasts to the end of the axis."""
        return self.is_period and self.end is None

    def span(self, open_until: float | None = None) -> tuple[float, float]:
        """Start and end in epoch seconds; an open incident ends at ``open_until`` (or its
        start when none is given), a moment is one point."""
        lo = self.start.timestamp()
        if self.end is not None:
            return lo, self.end.timestamp()
        if self.is_open and open_until is not None:
            return lo, max(lo, float(open_until))
        return lo, lo

    def overlaps(self, lo: float, hi: float, open_until: float | None = None) -> bool:
        """Whether any of the event lies in ``[lo, hi]`` (epoch seconds)."""
        start, end = self.span(open_until if open_until is not None else hi)
        return start <= hi and end >= lo

    @property
    def who(self) -> str:
        return f"{self.actor} ({'verified' if self.actor_verified else 'unverified'})"

    def tooltip(self) -> str:
        """Plain text: what, exactly when, who, and why."""
        if self.is_period:
            until = "still open" if self.end is None else format_time(self.end)
            when = f"from {format_time(self.start)}\nto {until}"
        else:
            when = f"at {format_time(self.start)}"
        lines = [self.label, when, f"by {self.who}"]
        if self.title:
            lines.extend(textwrap.wrap(self.title, TOOLTIP_WIDTH) or [""])
        for detail in self.details:
            lines.extend(textwrap.wrap(detail, TOOLTIP_WIDTH) or [""])
        return "\n".join(lines)


@dataclass(frozen=True)
class TimelineLoad:
    """What :func:`read_timeline_events` found: the events, or why there are none."""

    events: tuple[TimelineEvent, ...]
    database: str | None = None  # the masked URL read
    note: str | None = None  # why no events could be read (a quiet line, not an error)


def timeline_events(records: Iterable[Any], model: str) -> tuple[TimelineEvent, ...]:
    """The time-axis marks of ``model`` from governance records of any kind, by time.

    Approvals become ``approval`` or ``rejection`` moments, rollbacks ``rollback`` moments
    (their applications, matched by ``rollback_id``, add a line to the tooltip), incident
    notes ``incident`` periods. Records of other models and other kinds (cards, specs,
    identities) are ignored.
    """
    records = list(records)
    applied: dict[str, list[RollbackApplication]] = {}
    for r in records:
        if isinstance(r, RollbackApplication):
            applied.setdefault(r.rollback_id, []).append(r)
    events: list[TimelineEvent] = []
    for r in records:
        if isinstance(r, RollbackApplication) or getattr(r, "model", None) != model:
            continue
        if isinstance(r, Approval):
            events.append(_approval(r))
        elif isinstance(r, Rollback):
            events.append(_rollback(r, applied.get(r.id, [])))
        elif isinstance(r, IncidentNote):
            events.append(_incident(r))
    events.sort(key=lambda e: (e.start, e.record_id))
    return tuple(events)


def _approval(r: Approval) -> TimelineEvent:
    approved = r.decision == "approve"
    verb = "approved" if approved else "rejected"
    role = f" as {r.role}" if r.role else ""
    return TimelineEvent(
        kind="approval" if approved else "rejection",
        start=r.created_at,
        end=None,
        label=f"v{r.model_version} {verb}{role}",
        actor=r.actor,
        actor_verified=r.actor_verified,
        title=r.comment.strip(),
        record_id=r.id,
    )


def _rollback(r: Rollback, applications: list[RollbackApplication]) -> TimelineEvent:
    reason = _REASONS.get(r.reason_class, r.reason_class.replace("_", " "))
    ref = f" · {r.incident_ref}" if r.incident_ref else ""
    details = [f"reason class: {reason}{ref}"]
    for a in sorted(applications, key=lambda a: a.created_at):
        detail = f" ({a.detail})" if a.detail else ""
        details.append(f"applied {format_time(a.created_at)} by {a.actor}: {a.result}{detail}")
    if not applications:
        details.append("not applied yet")
    return TimelineEvent(
        kind="rollback",
        start=r.created_at,
        end=None,
        label=f"rollback v{r.from_version} → v{r.to_version}",
        actor=r.actor,
        actor_verified=r.actor_verified,
        title=r.reason.strip(),
        record_id=r.id,
        details=tuple(details),
    )


def _incident(r: IncidentNote) -> TimelineEvent:
    ref = r.title.split(":", 1)[0].strip() if ":" in r.title else ""
    short = ref if ref and len(ref) <= 16 else "incident"
    return TimelineEvent(
        kind="incident",
        start=r.starts_at,
        end=r.ends_at,
        label=short,
        actor=r.actor,
        actor_verified=r.actor_verified,
        title=r.title.strip(),
        record_id=r.id,
        details=(f"noted {format_time(r.created_at)}",),
    )


def spec_database_url(spec: Any) -> str | None:
    """The governance database a monitor spec names (``[governance] database``), with a
    relative SQLite path resolved against the spec's folder, as telemetry paths are."""
    section = getattr(spec, "governance", None)
    url = getattr(section, "database", None)
    if not url:
        return None
    url = str(url).strip()
    base = Path(getattr(spec, "base_dir", "."))
    if "://" not in url:
        path = Path(url).expanduser()
        return f"sqlite:///{path if path.is_absolute() else (base / path).resolve()}"
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:":
            return f"{prefix}{(base / Path(rest).expanduser()).resolve()}"
    return url


def read_timeline_events(
    database_url: str | None,
    model: str,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> TimelineLoad:
    """The model's events from the governance store at ``database_url``, read-only.

    Never migrates, never writes, needs no signing key. A missing, unreachable or outdated
    database gives no events and a :attr:`TimelineLoad.note` saying why.
    """
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.governance.db import masked
    from watchkeeper.core.governance.store import GovernanceStore

    if not database_url:
        return TimelineLoad((), None, "no governance database is configured for this model")
    shown = masked(database_url)
    if progress is not None:
        progress(0.1, "reading the governance records")
    try:
        store = GovernanceStore.open(database_url, upgrade=False)
    except WatchkeeperError as exc:
        return TimelineLoad((), shown, f"governance records not shown: {exc}")
    try:
        records: list[Any] = []
        for read in (store.approvals, store.rollbacks, store.incident_notes):
            if cancelled is not None and cancelled():
                return TimelineLoad((), shown, "cancelled")
            records.extend(read(model))
        rollback_ids = {r.id for r in records if isinstance(r, Rollback)}
        if rollback_ids:
            records.extend(
                a for a in store.rollback_applications() if a.rollback_id in rollback_ids
            )
    except WatchkeeperError as exc:
        return TimelineLoad((), shown, f"governance records not shown: {exc}")
    finally:
        store.close()
    return TimelineLoad(timeline_events(records, model), shown)
