"""Backtest of an alert rule: replay a drafted ``[drift]``/``[health]`` rule over the whole
history and line its would-be alerts up with the incidents and rollbacks people recorded.

An *alert* is a run of consecutive alerting windows (one page, however long it lasts); it is
*raised* at the end of its first window, when that window's data is complete. An alert
*matches* an incident when the run overlaps the incident's time (from ``horizon`` before its
start to its end; an incident without an end is still open). Then:

- **hits**: incidents matched by at least one alert; the *lead time* is when the incident was
  recorded (``known_at``: the note's or rollback's creation) minus when the earliest matching
  alert would have been raised — positive: the rule would have told people first;
- **misses**: incidents inside the analysed period that no alert matches;
- **alerts with no incident**: alerts that match no recorded incident (a false alarm, or an
  event nobody recorded: the backtest cannot tell which).

Incidents are the governance store's incident notes and its rollbacks (a rollback cited by a
note is the note's incident, counted once). Pure functions: the caller brings the windows
(:func:`health_rule_windows`, :func:`drift_rule_windows`) and the records.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from watchkeeper.core.progress import CancelCheck, Progress

__all__ = [
    "DEFAULT_HORIZON",
    "Backtest",
    "BacktestHit",
    "Incident",
    "RuleWindow",
    "WouldBeAlert",
    "backtest",
    "drift_rule_windows",
    "health_rule_windows",
    "incidents_from",
    "run_backtest",
]

#: An alert up to a week before an incident started counts as announcing it.
DEFAULT_HORIZON = dt.timedelta(days=7)


@dataclass(frozen=True)
class RuleWindow:
    """One window as the rule judged it."""

    start: dt.datetime
    end: dt.datetime
    alerting: bool
    features: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incident:
    """An incident or rollback from the governance store."""

    kind: str  # "incident" | "rollback"
    title: str
    start: dt.datetime
    end: dt.datetime | None  # None: still open
    known_at: dt.datetime  # when it was recorded

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "known_at": self.known_at,
        }


@dataclass(frozen=True)
class WouldBeAlert:
    start: dt.datetime  # start of its first window
    raised_at: dt.datetime  # end of its first window
    end: dt.datetime  # end of its last window
    windows: int
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "raised_at": self.raised_at,
            "end": self.end,
            "windows": self.windows,
            "features": list(self.features),
        }


@dataclass(frozen=True)
class BacktestHit:
    incident: Incident
    alert: WouldBeAlert  # the earliest matching alert
    lead: dt.timedelta  # incident.known_at - alert.raised_at


@dataclass(frozen=True)
class Backtest:
    """What a rule would have done over the history."""

    rule: str  # "health" or "drift"
    period: tuple[dt.datetime, dt.datetime] | None
    alerts: tuple[WouldBeAlert, ...]
    incidents: tuple[Incident, ...]  # those inside the period
    hits: tuple[BacktestHit, ...]
    misses: tuple[Incident, ...]
    unmatched: tuple[WouldBeAlert, ...]  # alerts with no incident
    median_lead: dt.timedelta | None
    horizon: dt.timedelta

    def summary(self) -> str:
        lead = "-" if self.median_lead is None else _span(self.median_lead)
        return (
            f"{len(self.alerts)} alerts; {len(self.hits)} of {len(self.incidents)} incidents "
            f"hit, {len(self.misses)} missed; {len(self.unmatched)} alerts with no incident; "
            f"median lead time {lead}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "period": list(self.period) if self.period else None,
            "horizon_days": self.horizon / dt.timedelta(days=1),
            "alerts": [a.to_dict() for a in self.alerts],
            "incidents": [i.to_dict() for i in self.incidents],
            "hits": [
                {
                    "incident": h.incident.title,
                    "alert_raised_at": h.alert.raised_at,
                    "lead_hours": h.lead / dt.timedelta(hours=1),
                }
                for h in self.hits
            ],
            "misses": [i.title for i in self.misses],
            "alerts_with_no_incident": [a.raised_at for a in self.unmatched],
            "median_lead_hours": (
                None if self.median_lead is None else self.median_lead / dt.timedelta(hours=1)
            ),
        }


def _span(t: dt.timedelta) -> str:
    hours = t / dt.timedelta(hours=1)
    sign = "-" if hours < 0 else ""
    hours = abs(hours)
    return f"{sign}{hours / 24:.1f} days" if hours >= 48 else f"{sign}{hours:.1f} h"


def _alerts(windows: Sequence[RuleWindow]) -> list[WouldBeAlert]:
    out: list[WouldBeAlert] = []
    run: list[RuleWindow] = []
    for w in [*windows, None]:
        if w is not None and w.alerting and (not run or run[-1].end >= w.start):
            run.append(w)
            continue
        if run:
            feats = tuple(dict.fromkeys(f for x in run for f in x.features))
            out.append(WouldBeAlert(run[0].start, run[0].end, run[-1].end, len(run), feats))
            run = []
        if w is not None and w.alerting:
            run = [w]
    return out


def backtest(
    windows: Sequence[RuleWindow],
    incidents: Iterable[Incident],
    *,
    rule: str = "health",
    horizon: dt.timedelta = DEFAULT_HORIZON,
) -> Backtest:
    """Replay: the alerts ``windows`` raise, matched with ``incidents`` (module doc)."""
    ordered = sorted(windows, key=lambda w: w.start)
    alerts = _alerts(ordered)
    period = (ordered[0].start, ordered[-1].end) if ordered else None
    inside = tuple(
        sorted(
            (i for i in incidents if period is not None and period[0] <= i.start < period[1]),
            key=lambda i: i.start,
        )
    )
    hits: list[BacktestHit] = []
    misses: list[Incident] = []
    matched: set[int] = set()
    for inc in inside:
        lo = inc.start - horizon
        mine = [
            k
            for k, a in enumerate(alerts)
            if a.end > lo and (inc.end is None or a.start <= inc.end)
        ]
        matched.update(mine)
        if mine:
            first = alerts[mine[0]]
            hits.append(BacktestHit(inc, first, inc.known_at - first.raised_at))
        else:
            misses.append(inc)
    leads = [h.lead / dt.timedelta(seconds=1) for h in hits]
    median = dt.timedelta(seconds=statistics.median(leads)) if leads else None
    return Backtest(
        rule=rule,
        period=period,
        alerts=tuple(alerts),
        incidents=inside,
        hits=tuple(hits),
        misses=tuple(misses),
        unmatched=tuple(a for k, a in enumerate(alerts) if k not in matched),
        median_lead=median,
        horizon=horizon,
    )


def health_rule_windows(health: Any) -> list[RuleWindow]:
    """A :class:`~watchkeeper.core.workbench.health.ModelHealth`'s windows: ``alert`` pages."""
    return [
        RuleWindow(w.start, w.end, w.state == "alert", w.drift_features)
        for w in health.windows
        if w.start is not None and w.end is not None
    ]


def drift_rule_windows(drift: Any) -> list[RuleWindow]:
    """A :class:`~watchkeeper.core.drift.result.DriftResult`'s windows: any feature at
    ``drift`` pages (the prediction is not a feature here)."""
    out = []
    decisions = [(f.name, f.decisions()) for f in drift.features]
    for i, info in enumerate(drift.windows):
        if info.start is None or info.end is None:
            continue
        feats = tuple(name for name, d in decisions if d[i] == "drift")
        out.append(RuleWindow(info.start, info.end, bool(feats), feats))
    return out


def incidents_from(notes: Iterable[Any], rollbacks: Iterable[Any]) -> list[Incident]:
    """Incident notes and rollbacks as incidents; a rollback a note links to is that note's."""
    notes = list(notes)
    cited = {
        link.get("id")
        for n in notes
        for link in (n.links or ())
        if isinstance(link, dict) and link.get("record") == "rollbacks"
    }
    out = [Incident("incident", n.title, n.starts_at, n.ends_at, n.created_at) for n in notes]
    for r in rollbacks:
        if r.id in cited:
            continue
        title = f"rollback {r.from_version} -> {r.to_version}: {r.reason_class}"
        if r.incident_ref:
            title = f"{r.incident_ref}: {title}"
        # a rollback is a moment, not an open incident
        out.append(Incident("rollback", title, r.created_at, r.created_at, r.created_at))
    return out


# -- the runner: the drafted rule over a model's history ----------------------------------


def _records(entry: Any, spec: Any) -> tuple[list[Any], list[Any], str | None]:
    """(incident notes, rollbacks, why there are none) of the entry's model."""
    from watchkeeper.core.errors import WatchkeeperError

    model = spec.model.name
    if entry.evidence is not None and hasattr(entry.evidence, "records"):
        rec = entry.evidence.records()
        return list(rec.notes), list(rec.rollbacks), None
    from watchkeeper.core.governance import GovernanceStore
    from watchkeeper.core.governance.timeline import spec_database_url

    url = spec_database_url(spec)
    if not url:
        return [], [], "the spec names no governance database"
    try:
        with GovernanceStore.open(url, upgrade=False) as store:
            return store.incident_notes(model), store.rollbacks(model), None
    except WatchkeeperError as exc:
        return [], [], f"the governance database did not answer: {exc}"


def run_backtest(
    entry: Any,
    spec: Any = None,
    *,
    as_of: dt.datetime | None = None,
    horizon: dt.timedelta = DEFAULT_HORIZON,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    judged: tuple[Any, Any] | None = None,
) -> tuple[Backtest, Backtest, str | None]:
    """The ``[health]`` rule (on ``[health] window``) and the ``[drift]`` rule (any feature at
    ``drift`` on ``[drift] window``) of ``spec`` (a draft; default the entry's own)
    replayed over the entry's history: ``(health backtest, drift backtest, note)``; ``note``
    says why no incidents could be read, if so. ``judged``: the ``(ModelHealth,
    DriftResult)`` of that same spec when already computed (``check`` has them)."""
    import dataclasses

    from watchkeeper.core.progress import stage
    from watchkeeper.core.workbench.analyses import run_drift, window_for
    from watchkeeper.core.workbench.health import judge_model

    draft = spec if spec is not None else entry.spec
    subject = dataclasses.replace(entry, spec=draft)
    if judged is None:
        health, drift, _ = judge_model(
            subject, as_of=as_of, progress=stage(progress, 0.0, 0.6), cancelled=cancelled
        )
    else:
        health, drift = judged
    # the [drift] rule pages on the [drift] window (the Drift view's), not the health one
    window = window_for(subject, None)
    if drift.window_spec != window and health.version:
        drift = run_drift(
            subject,
            health.version,
            window,
            stage(progress, 0.6, 1.0),
            cancelled,
            as_of=as_of,
            decisions_only=True,  # the rule reads decisions
        )
    notes, rollbacks, why = _records(entry, draft)
    incidents = incidents_from(notes, rollbacks)
    return (
        backtest(health_rule_windows(health), incidents, rule="health", horizon=horizon),
        backtest(drift_rule_windows(drift), incidents, rule="drift", horizon=horizon),
        why,
    )
