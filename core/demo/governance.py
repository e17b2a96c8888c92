"""A plausible, signed governance history for the demo workspace's ``governance.db``.

The story fits the demo's telemetry (2026-01-01 to 2026-05-01) and registry (version 1 trained
2026-02-02, version 2 trained 2026-03-20) for ``fraud-detector``: its monitor specs are
imported; Dana (model owner) writes the model card of version 1; Lee (risk) approves version 1
as champion on its evidence; version 2 gets its card and is approved and promoted on
2026-03-30, and within hours Sam (on call) rolls back to version 1 because version 2's
latency breaches the serving SLO (the demo's version 2 is the slower one) — the decision, its
application, and an incident note citing both; version 2 then runs in shadow as challenger
from 2026-04-01, as the telemetry shows, and its card records the lesson. On 2026-04-06 the
logging pipeline breaks (the telemetry's planted ``device_type``/``distance_from_home_km``
incident) and on-call opens an incident note for it, still open at the demo's as-of date.

The few hours version 2 served as champion are not in the demo telemetry (every request there
is scored by version 1, with version 2 in shadow from day 90): a simplification of the demo.

Reproducible: a scripted clock, record ids derived from a counter, and demo keys derived from
the personas' names — so the same inputs give the same file. Demo keys are **not secret** (anyone
can derive them) and the identities are unverified SQLite ones, as the UI will say.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.store import GovernanceStore

__all__ = ["PERSONAS", "DemoHistory", "write_demo_history"]

#: Who acts in the demo history (SQLite: unverified names, demo keys).
PERSONAS = {"owner": "dana.okafor", "risk": "lee.chen", "oncall": "sam.reyes"}

_NAMESPACE = uuid.UUID("6f0c5a57-7a1e-4c55-9a0e-2f3c1b7d9e01")


@dataclass(frozen=True)
class DemoHistory:
    """What was written: counts by kind and the audit head, for a manifest."""

    specs: int
    approvals: int
    rollbacks: int
    cards: int
    incident_notes: int
    head_hash: str | None


def write_demo_history(
    url: str,
    *,
    model: str = "fraud-detector",
    champion: str = "1",
    challenger: str = "2",
    spec_files: Sequence[Path | str] = (),
    champion_evidence: Mapping[str, Any] | None = None,
) -> DemoHistory:
    """Create the SQLite governance database at ``url`` (if needed) and write the history.

    ``champion_evidence`` is the champion's approval evidence (the demo passes its real
    metrics on the reference month; a plausible placeholder otherwise).
    """
    counter = itertools.count()
    clock = _Clock(_at("2026-02-03 09:00"))

    def ids() -> str:
        return uuid.uuid5(_NAMESPACE, f"{model}:{next(counter)}").hex

    def as_(persona: str) -> GovernanceStore:
        name = PERSONAS[persona]
        return GovernanceStore.open(
            url, create=True, actor=name, signer=Signer.from_seed(name), clock=clock, ids=ids
        )

    evidence_v1 = dict(
        champion_evidence
        or {
            "kind": "offline evaluation",
            "primary_metric": "roc_auc",
            "champion": {"version": champion, "roc_auc": 0.912, "labeled": 48_211},
            "threshold": 0.2,
            "passed": True,
        }
    )
    with as_("owner") as owner:
        # Recorded under a workspace-relative name: records are immutable, and the demo is
        # built in a staging folder whose absolute path must not end up in them.
        specs = 0
        for f in spec_files:
            owner.import_spec_text(
                Path(f).read_text(encoding="utf-8-sig"), source=f"specs/{Path(f).name}"
            )
            specs += 1
        clock.set(_at("2026-02-04 10:30"))
        owner.save_card(model, champion, _card(champion, lesson=None), base_revision=None)
    with as_("risk") as risk:
        clock.set(_at("2026-02-06 15:10"))
        risk.record_approval(
            model,
            champion,
            evidence=evidence_v1,
            role="champion",
            policy={"primary_metric": "roc_auc", "min_improvement": 0.0, "alpha": 0.05},
            comment="Meets the gate on every critical slice. Approved as champion.",
            require_verified=False,
        )
    with as_("owner") as owner:
        clock.set(_at("2026-03-23 11:00"))
        owner.save_card(model, challenger, _card(challenger, lesson=None), base_revision=None)
    with as_("risk") as risk:
        clock.set(_at("2026-03-30 13:45"))
        promoted = risk.record_approval(
            model,
            challenger,
            role="champion",
            evidence={
                "kind": "offline evaluation on the March hold-out",
                "primary_metric": "roc_auc",
                "champion": {"version": champion, "roc_auc": 0.912},
                "challenger": {"version": challenger, "roc_auc": 0.921},
                "p_value": 0.012,
                "passed": True,
            },
            policy={"primary_metric": "roc_auc", "min_improvement": 0.005, "alpha": 0.05},
            comment="Better overall on the hold-out; promote, watch latency after the switch.",
            require_verified=False,
        )
    with as_("oncall") as oncall:
        clock.set(_at("2026-03-30 16:50"))
        rollback = oncall.record_rollback(
            model,
            challenger,
            champion,
            reason_class="sudden_incident",
            incident_ref="INC-1042",
            reason=f"Version {challenger} breached the 50 ms p99 latency SLO at the afternoon "
            f"peak (p99 71 ms); checkout timeouts rose. Back to version {champion}; version "
            f"{challenger} goes to shadow scoring until serving is resized.",
            evidence={
                "latency_ms_p99": {"slo": 50, champion: 44, challenger: 71},
                "checkout_timeouts_per_min": {"before": 0.4, "after": 3.1},
            },
            require_verified=False,
        )
        applied = oncall.record_rollback_applied(
            rollback.id,
            result="succeeded",
            detail=f"alias champion moved {challenger} -> {champion}",
        )
        clock.set(_at("2026-03-30 19:20"))
        oncall.record_incident_note(
            model,
            starts_at=_at("2026-03-30 14:05"),
            ends_at=_at("2026-03-30 16:55"),
            title="INC-1042: version 2 too slow at peak after promotion",
            body=f"Version {challenger} went live at 14:05 and its p99 latency crossed the 50 ms "
            f"SLO from 15:40; rolled back to version {champion} at 16:50. Version "
            f"{challenger} stays in shadow (from 2026-04-01) until serving is resized.",
            links=[promoted, rollback, applied],
        )
    with as_("owner") as owner:
        clock.set(_at("2026-04-02 10:00"))
        owner.save_card(model, challenger, _card(challenger, lesson="INC-1042"), base_revision=1)
    with as_("oncall") as oncall:
        clock.set(_at("2026-04-07 09:30"))
        oncall.record_incident_note(
            model,
            starts_at=_at("2026-04-06 00:00"),
            title="INC-1057: device_type 'Mobile' and missing distance in the prediction log",
            body="Since the event-collector release of 2026-04-05 the log writes device_type "
            "'mobile' as 'Mobile' and drops distance_from_home_km for about 30 % of requests. "
            "Scoring reads the raw event, so scores are unaffected; the log is wrong. Ticket "
            "open with the data platform team; until it is fixed, read drift on those two "
            "features with care.",
        )
        report_head = oncall.audit_entries()[-1].entry_hash
    return DemoHistory(
        specs=specs, approvals=2, rollbacks=1, cards=3, incident_notes=2, head_hash=report_head
    )


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


class _Clock:
    """The scripted time: each write takes the current moment, then time moves on a minute."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start

    def set(self, moment: dt.datetime) -> None:
        self._now = moment

    def __call__(self) -> dt.datetime:
        now, self._now = self._now, self._now + dt.timedelta(minutes=1, seconds=7)
        return now


def _card(version: str, *, lesson: str | None) -> dict[str, Any]:
    limitations = "Weaker on accounts younger than 30 days (few labels)."
    ood = (
        "An unseen device_type or country scores as the 'other' category; alerts watch the "
        "unseen share and the missing rates."
    )
    if version != "1":
        limitations += " Point-of-sale (channel pos) is a critical slice: check it in shadow."
    if lesson:
        limitations += f" Slower than version 1: p99 latency above the SLO at peak (see {lesson})."
    return {
        "owner": f"{PERSONAS['owner']} (fraud analytics)",
        "intended_use": "Rank card transactions for manual fraud review in real time.",
        "out_of_scope_use": "Automatic declines without review; credit decisions.",
        "limitations": limitations,
        "out_of_distribution_behaviour": ood,
        "training_data_version": "transactions-2026-01"
        if version == "1"
        else "transactions-2026-01..2026-03",
        "training_data_digest": "sha256:" + ("3b" if version == "1" else "7e") * 32,
        "evaluation_summary": "ROC AUC 0.91 on the January 2026 hold-out; the approval record "
        "holds the measured evidence with intervals.",
        "evaluation_slices": [
            {"slice": "pos", "critical": True},
            {"slice": "web", "critical": False},
            {"slice": "app", "critical": False},
        ],
        "monitoring_thresholds": {"psi_watch": 0.1, "psi_drift": 0.2, "min_rows": 500},
        "rollback_procedure": "Record the decision in Watchkeeper, move alias champion back, "
        "record the application.",
        "escalation_path": "#fraud-ml on-call, then the model risk committee.",
    }
