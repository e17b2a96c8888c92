"""What a record is: its canonical document, its hash, and the typed views readers get.

A record's document is ``{"record": <table>, "fields": {<every column but record_hash and
signature>}}``; ``record_hash`` is :func:`~watchkeeper.core.evidence.digest` of it and the
signature is Ed25519 over its canonical JSON. So the hash and signature cover every stored
field, including the id, the actor, the server time and the key that signed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance import schema
from watchkeeper.core.times import as_utc

if TYPE_CHECKING:  # core.spec imports pydantic; records stay light until a spec is parsed
    from watchkeeper.core.spec import MonitorSpec

__all__ = [
    "Approval",
    "AuditEntry",
    "IdentityRecord",
    "IncidentNote",
    "ModelCard",
    "Rollback",
    "RollbackApplication",
    "SignedRecord",
    "SpecVersion",
    "audit_entry_hash",
    "check_text",
    "record_document",
    "record_text",
]


def hashed_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if c.name not in schema.UNHASHED]


def record_document(table: sa.Table, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"record": table.name, "fields": {name: row[name] for name in hashed_columns(table)}}


def record_text(table: sa.Table, row: Mapping[str, Any]) -> str:
    """The canonical JSON a record's hash and signature are computed over."""
    return canonical_json(record_document(table, row))


def audit_entry_hash(entry: Mapping[str, Any]) -> str:
    return digest(
        {
            "audit": {
                c.name: entry[c.name] for c in schema.audit_log.columns if c.name != "entry_hash"
            }
        }
    )


def check_text(field: str, value: Any, *, allow_empty: bool = True) -> str:
    """Text is stored verbatim — except what no engine can store: NUL and lone surrogates."""
    if not isinstance(value, str):
        raise WatchkeeperError(f"{field} must be text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise WatchkeeperError(f"{field} must not be empty")
    if "\x00" in value:
        raise WatchkeeperError(
            f"{field} contains a NUL character (\\x00) at position {value.index(chr(0))}, "
            "which PostgreSQL cannot store; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WatchkeeperError(
            f"{field} contains an unpaired surrogate at position {exc.start}, which is not text"
        ) from None
    return value


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True)
class SignedRecord:
    """Fields every record has."""

    table: ClassVar[sa.Table]
    json_fields: ClassVar[tuple[str, ...]] = ()

    id: str
    created_at: dt.datetime
    actor: str
    actor_verified: bool
    key_id: str
    record_hash: str
    signature: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Any:
        values = {}
        for f in fields(cls):
            value = row[f.name]
            if f.name in cls.json_fields:
                value = json.loads(value)
            elif isinstance(value, dt.datetime):
                value = _utc(value)
            values[f.name] = value
        return cls(**values)

    @property
    def identity_note(self) -> str:
        """How far to trust ``actor``, in words for the UI."""
        if self.actor_verified:
            return f"{self.actor} (verified by the database server)"
        return f"{self.actor} (unverified OS login)"


@dataclass(frozen=True)
class IdentityRecord(SignedRecord):
    table = schema.identities
    public_key: str


@dataclass(frozen=True)
class SpecVersion(SignedRecord):
    table = schema.monitor_specs
    model: str
    version: int
    source: str
    toml: str
    toml_digest: str

    def spec(self) -> MonitorSpec:
        """The stored spec, parsed (relative paths resolve against the original file's folder)."""
        from pathlib import Path

        from watchkeeper.core.spec import parse_spec

        base = Path(self.source).parent if not self.source.startswith("<") else Path(".")
        return parse_spec(self.toml, base_dir=base, origin=f"{self.model} spec v{self.version}")


@dataclass(frozen=True)
class Approval(SignedRecord):
    table = schema.approvals
    json_fields = ("policy", "evidence")
    model: str
    model_version: str
    role: str
    decision: str
    policy: Any
    evidence: Any
    evidence_digest: str
    comment: str


@dataclass(frozen=True)
class Rollback(SignedRecord):
    table = schema.rollbacks
    json_fields = ("evidence",)
    model: str
    from_version: str
    to_version: str
    reason_class: str
    incident_ref: str
    reason: str
    evidence: Any
    evidence_digest: str


@dataclass(frozen=True)
class RollbackApplication(SignedRecord):
    table = schema.rollback_applications
    rollback_id: str
    result: str
    detail: str


@dataclass(frozen=True)
class ModelCard(SignedRecord):
    table = schema.model_cards
    json_fields = ("content",)
    model: str
    model_version: str
    revision: int
    base_revision: int | None
    content: Any
    content_digest: str


@dataclass(frozen=True)
class IncidentNote(SignedRecord):
    table = schema.incident_notes
    json_fields = ("links",)
    model: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    title: str
    body: str
    links: Any


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    created_at: dt.datetime
    actor: str
    actor_verified: bool
    action: str
    table_name: str
    record_id: str
    record_hash: str
    prev_hash: str
    entry_hash: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> AuditEntry:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["created_at"] = _utc(values["created_at"])
        return cls(**values)


RECORD_TYPES: dict[str, type[SignedRecord]] = {
    cls.table.name: cls
    for cls in (
        IdentityRecord,
        SpecVersion,
        Approval,
        Rollback,
        RollbackApplication,
        ModelCard,
        IncidentNote,
    )
}
