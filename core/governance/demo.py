"""A plausible, signed governance history for the demo workspace's ``governance.db``.

The story, for the demo's ``fraud-detector`` (telemetry starts 2026-01-01): its monitor specs
are imported; Dana (model owner) writes the model card of version 1; Lee (risk) approves
version 1 as champion on its evidence; version 2 is approved and promoted, then an incident
(an upstream feature arriving empty) has Sam (on call) roll back to version 1 — the decision,
its application, and an incident note citing both; version 2's card records the lesson and it
returns as the shadow-scored challenger.

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
    start: dt.datetime = dt.datetime(2025, 11, 3, 9, 0, tzinfo=dt.UTC),
) -> DemoHistory:
    """Create the SQLite governance database at ``url`` (if needed) and write the history.

    ``champion_evidence`` is the champion's approval evidence (pass a real gate result once
    promotion gates exist; a plausible placeholder otherwise).
    """
    counter = itertools.count()
    clock = _Clock(start)

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
            "critical_slices": {"new_merchant": 0.861, "card_not_present": 0.897},
            "threshold": 0.5,
            "passed": True,
        }
    )
    day = dt.timedelta(days=1)
    with as_("owner") as owner:
        # Recorded under a workspace-relative name: records are immutable, and the demo is
        # built in a staging folder whose absolute path must not end up in them.
        specs = sum(
            1
            for f in spec_files
            if owner.import_spec_text(
                Path(f).read_text(encoding="utf-8-sig"), source=f"specs/{Path(f).name}"
            )
        )
        clock.set(start + day)
        owner.save_card(model, champion, _card(champion, lesson=None), base_revision=None)
    with as_("risk") as risk:
        clock.set(start + 3 * day + dt.timedelta(hours=6))
        risk.record_approval(
            model,
            champion,
            evidence=evidence_v1,
            role="champion",
            policy={"primary_metric": "roc_auc", "min_improvement": 0.0, "alpha": 0.05},
            comment="Meets the gate on every critical slice. Approved as champion.",
            require_verified=False,
        )
        clock.set(start + 25 * day)
    with as_("owner") as owner:
        owner.save_card(model, challenger, _card(challenger, lesson=None), base_revision=None)
    with as_("risk") as risk:
        clock.set(start + 28 * day + dt.timedelta(hours=5))
        promoted = risk.record_approval(
            model,
            challenger,
            role="champion",
            evidence={
                "kind": "shadow comparison",
                "primary_metric": "roc_auc",
                "champion": {"version": champion, "roc_auc": 0.912},
                "challenger": {"version": challenger, "roc_auc": 0.921},
                "p_value": 0.012,
                "passed": True,
            },
            policy={"primary_metric": "roc_auc", "min_improvement": 0.005, "alpha": 0.05},
            comment="Shadow-scored for two weeks; better overall, no critical slice worse.",
            require_verified=False,
        )
    with as_("oncall") as oncall:
        clock.set(start + 30 * day + dt.timedelta(hours=2, minutes=50))
        rollback = oncall.record_rollback(
            model,
            challenger,
            champion,
            reason_class="sudden_incident",
            incident_ref="INC-1042",
            reason="merchant_category arrived empty after an upstream schema change; version 2 "
            "leans on it and its alert rate tripled within an hour.",
            evidence={
                "psi": {"merchant_category": 3.7},
                "alert_rate": {"before": 0.021, "after": 0.066},
            },
            require_verified=False,
        )
        applied = oncall.record_rollback_applied(
            rollback.id,
            result="succeeded",
            detail=f"alias champion moved {challenger} -> {champion}",
        )
        clock.set(start + 30 * day + dt.timedelta(hours=6, minutes=30))
        oncall.record_incident_note(
            model,
            starts_at=start + dt.timedelta(days=30, hours=2),
            ends_at=start + dt.timedelta(days=30, hours=5, minutes=40),
            title="INC-1042: empty merchant_category after upstream schema change",
            body="Upstream renamed the field; the feature pipeline filled it with nulls. Version "
            f"{champion} handles the missing value; version {challenger} did not. Fixed "
            "upstream the same day.",
            links=[promoted, rollback, applied],
        )
    with as_("owner") as owner:
        clock.set(start + 33 * day + dt.timedelta(hours=4))
        owner.save_card(model, challenger, _card(challenger, lesson="INC-1042"), base_revision=1)
        report_head = owner.audit_entries()[-1].entry_hash
    return DemoHistory(
        specs=specs, approvals=2, rollbacks=1, cards=3, incident_notes=1, head_hash=report_head
    )


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
    limitations = "Weaker on merchants younger than 30 days (few labels)."
    ood = "Scores drift upward when merchant_category is missing; alerts watch its missing rate."
    if lesson:
        limitations += f" Depends on merchant_category more than version 1 (see {lesson})."
        ood = (
            "Since the fix after " + lesson + ", a missing merchant_category is imputed "
            "before scoring; the missing-rate alert pages on-call above 2 %."
        )
    return {
        "owner": f"{PERSONAS['owner']} (fraud analytics)",
        "intended_use": "Rank card transactions for manual fraud review in real time.",
        "out_of_scope_use": "Automatic declines without review; credit decisions.",
        "limitations": limitations,
        "out_of_distribution_behaviour": ood,
        "training_data_version": f"transactions-2025-09 (model version {version})",
        "training_data_digest": "sha256:" + ("3b" if version == "1" else "7e") * 32,
        "evaluation_summary": "ROC AUC 0.91 on the October hold-out; stable across channels.",
        "evaluation_slices": [
            {"slice": "new_merchant", "roc_auc": 0.861, "critical": True},
            {"slice": "card_not_present", "roc_auc": 0.897, "critical": True},
        ],
        "monitoring_thresholds": {"psi_watch": 0.1, "psi_drift": 0.2, "min_rows": 500},
        "rollback_procedure": "Record the decision in Watchkeeper, move alias champion back, "
        "record the application.",
        "escalation_path": "#fraud-ml on-call, then the model risk committee.",
    }
