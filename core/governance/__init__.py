"""The governance store: who decided what, on which evidence, when — signed and chained.

Records (monitor specs, approvals, rollback decisions and their applications, model cards,
incident notes) live in a shared database — SQLite for one person, PostgreSQL for a team —
created and upgraded by the Alembic migrations shipped in ``migrations/``. Every record is
hashed and Ed25519-signed over all its stored fields; every write appends to a hash-chained
audit log that :func:`verify_audit` checks. Nothing here imports Qt.
"""

from __future__ import annotations

from watchkeeper.core.governance.identity import Identity
from watchkeeper.core.governance.records import (
    Approval,
    AuditEntry,
    IncidentNote,
    ModelCard,
    Rollback,
    RollbackApplication,
    SpecVersion,
)
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.store import (
    CARD_FIELDS,
    DECISIONS,
    REASON_CLASSES,
    CardConflict,
    GovernanceStore,
)
from watchkeeper.core.governance.verify import AuditProblem, AuditReport, verify_audit

__all__ = [
    "CARD_FIELDS",
    "DECISIONS",
    "REASON_CLASSES",
    "Approval",
    "AuditEntry",
    "AuditProblem",
    "AuditReport",
    "CardConflict",
    "GovernanceStore",
    "Identity",
    "IncidentNote",
    "ModelCard",
    "Rollback",
    "RollbackApplication",
    "Signer",
    "SpecVersion",
    "verify_audit",
]
