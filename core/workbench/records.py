"""A bundle's governance records (JSON values) as the store's record types — no database."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchkeeper.core.times import parse_time

if TYPE_CHECKING:
    from watchkeeper.core.governance.records import ModelCard

__all__ = ["GovernanceRecords", "records_from_bundle"]

_TIMES = ("created_at", "starts_at", "ends_at")


@dataclass(frozen=True)
class GovernanceRecords:
    """One model's records, as the shared database would return them."""

    approvals: tuple[Any, ...] = ()
    rollbacks: tuple[Any, ...] = ()
    applications: tuple[Any, ...] = ()
    cards: tuple[Any, ...] = ()  # every revision of every version, oldest first
    notes: tuple[Any, ...] = ()

    def card_history(self, version: str) -> tuple[Any, ...]:
        """The revisions of ``version``'s card, oldest first."""
        mine = [c for c in self.cards if c.model_version == str(version)]
        return tuple(sorted(mine, key=lambda c: c.revision))

    def card(self, version: str) -> ModelCard | None:
        """The latest revision of ``version``'s card, or None."""
        history = self.card_history(version)
        return history[-1] if history else None


def _record(cls: type, value: Mapping[str, Any]) -> Any:
    values = {}
    for f in dataclasses.fields(cls):
        v = value[f.name]
        if f.name in _TIMES and isinstance(v, str):
            v = parse_time(v, f.name)
        values[f.name] = v
    return cls(**values)


def _many(cls: type, values: Sequence[Mapping[str, Any]] | None) -> tuple[Any, ...]:
    return tuple(_record(cls, v) for v in values or ())


def records_from_bundle(governance: Mapping[str, Any]) -> GovernanceRecords:
    """The records in a bundle's ``governance/records.json`` as record objects.

    A record that does not have its type's fields raises ``KeyError``/``TypeError``/
    ``ValueError``; the caller turns that into a message (the bundle was validated, so that
    means a bundle of another Watchkeeper version).
    """
    from watchkeeper.core.governance.records import (
        Approval,
        IncidentNote,
        ModelCard,
        Rollback,
        RollbackApplication,
    )

    return GovernanceRecords(
        approvals=_many(Approval, governance.get("approvals")),
        rollbacks=_many(Rollback, governance.get("rollbacks")),
        applications=_many(RollbackApplication, governance.get("rollback_applications")),
        cards=_many(ModelCard, governance.get("model_cards")),
        notes=_many(IncidentNote, governance.get("incident_notes")),
    )
