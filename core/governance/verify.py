"""``verify_audit``: does every record and audit entry still hold?

Checks, in audit order: entries numbered 1, 2, 3... with no gap; each entry chained to the
previous one (``prev_hash``) and matching its own hash; the record each entry names exists
and carries the hash the entry holds; the record's fields still match its hash; its
signature verifies with a registered key that belongs to the record's actor; its evidence,
card content or spec text matches its digest; its identity claim fits the engine (verified
only on PostgreSQL). Then: no record without an audit entry.

Limits, said plainly: someone able to rewrite *every* row (the PostgreSQL admin with the
guards switched off, or anyone holding a SQLite file) and willing to sign with a key they
register can rebuild a consistent chain; cutting off the newest entries together with their
records likewise leaves a consistent, shorter chain. Both are caught against anchors: the
signed chain heads every write keeps in the user's data folder (:mod:`.anchors`), checked by
default, and any head hash noted elsewhere (``anchor``, ``AuditReport.head_hash``). What no
anchor can catch is in ARCHITECTURE.md (Governance).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance import anchors, db, schema
from watchkeeper.core.governance.records import audit_entry_hash, record_document, record_text
from watchkeeper.core.governance.signing import key_id_of, verify_signature

__all__ = ["AuditProblem", "AuditReport", "verify_audit"]

# column holding canonical JSON -> column holding its digest
_DIGESTS = {
    "approvals": (("evidence", "evidence_digest"),),
    "rollbacks": (("evidence", "evidence_digest"),),
    "model_cards": (("content", "content_digest"),),
}


@dataclass(frozen=True)
class AuditProblem:
    """One thing that does not hold, and where."""

    message: str
    seq: int | None = None
    table: str | None = None
    record_id: str | None = None

    def where(self) -> str:
        parts = []
        if self.seq is not None:
            parts.append(f"audit entry #{self.seq}")
        if self.table is not None:
            parts.append(f"{self.table} record {self.record_id}")
        return " / ".join(parts) or "audit log"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


@dataclass(frozen=True)
class AuditReport:
    """What :func:`verify_audit` found. ``ok`` when ``problems`` is empty."""

    database: str
    entries: int
    records: int
    unverified: int
    head_hash: str | None
    problems: tuple[AuditProblem, ...]
    #: Anchors checked (:mod:`.anchors`), and the newest entry they reach when all hold.
    anchors: int = 0
    anchored_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> AuditProblem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        if self.ok:
            note = (
                f"; {self.unverified} by unverified (OS login) identities"
                if self.unverified
                else ""
            )
            anchored = (
                f"; matches the anchor of entry #{self.anchored_seq} kept outside the database"
                if self.anchored_seq is not None
                else "; no anchor kept outside the database to check truncation against"
            )
            return (
                f"{self.database}: audit chain of {self.entries} entries and {self.records} "
                f"signed records holds{note}; head {self.head_hash or '(empty)'}{anchored}"
            )
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        return f"{self.database}: first broken: {self.first_broken}{tail}"


def verify_audit(
    url: str,
    *,
    anchor: str | None = None,
    anchor_file: Path | None = None,
    kept_anchors: bool = True,
) -> AuditReport:
    """Check the hash chain and every signature of the governance database at ``url``.

    Also checks the database still reaches every anchor (:mod:`.anchors`): ``anchor``, an
    entry hash noted earlier; ``anchor_file``, an anchor file (say, copied from another
    machine); and, unless ``kept_anchors`` is false, the anchors this machine's writes kept.
    """
    url = db.normalize_url(url)
    sources: list[Path] = []
    if kept_anchors:
        sources.append(anchors.anchor_path(url))
    if anchor_file is not None:
        sources.append(Path(anchor_file))
    kept: list[anchors.Anchor] = []
    unsigned: list[str] = []
    for source in sources:
        try:
            good, bad = anchors.read_anchors(source)
        except WatchkeeperError as exc:  # a damaged file may be the attack: a finding
            unsigned.append(str(exc))
            continue
        kept += good
        unsigned += bad
    engine = db.create_engine(url)
    try:
        with (
            db.translate_errors(url, "read the governance database"),
            _snapshot(engine) as conn,
        ):
            present = set(sa.inspect(conn).get_table_names())
            if "audit_log" not in present:
                raise WatchkeeperError(
                    f"{db.masked(url)} is not a Watchkeeper governance database (no audit_log "
                    "table); create one with `watchkeeper db init --db URL`"
                )
            a = schema.audit_log
            entries = [dict(r._mapping) for r in conn.execute(sa.select(a).order_by(a.c.seq))]
            records: dict[tuple[str, str], dict[str, Any]] = {}
            for table in schema.RECORD_TABLES:
                if table.name in present:
                    for r in conn.execute(sa.select(table)):
                        records[(table.name, r.id)] = dict(r._mapping)
            verified_engine = conn.dialect.name == "postgresql"
    finally:
        engine.dispose()
    report = _check(db.masked(url), entries, records, verified_engine, anchor)
    problems = [AuditProblem(message) for message in unsigned]
    problems += _anchor_problems(entries, kept, sources)
    reached = max((a.seq for a in kept), default=None)
    return replace(
        report,
        problems=report.problems + tuple(problems),
        anchors=len(kept),
        anchored_seq=reached if not problems else None,
    )


def _anchor_problems(
    entries: list[dict[str, Any]], kept: list[anchors.Anchor], sources: list[Path]
) -> list[AuditProblem]:
    """Truncation (an anchor past the log's end) and rewriting (an anchored entry changed)."""
    by_seq = {e["seq"]: e for e in entries}
    last = max(by_seq, default=0)
    out = []
    beyond = [a for a in kept if a.seq > last]
    if beyond:
        newest = max(beyond, key=lambda a: a.seq)
        ends = f"the log ends at entry #{last}" if last else "the log is empty"
        where = " or ".join(str(p) for p in sources)
        out.append(
            AuditProblem(
                f"{ends}, but {newest.describe()} was anchored on this machine ({where}): "
                f"entries after #{last} were removed (the log was truncated)"
            )
        )
    for a in sorted(
        {(a.seq, a.entry_hash): a for a in kept if a.seq <= last}.values(), key=lambda a: a.seq
    ):
        if by_seq.get(a.seq, {}).get("entry_hash") != a.entry_hash:
            out.append(
                AuditProblem(
                    f"is not the {a.describe()} anchored on this machine: the chain was "
                    "rewritten from there or earlier",
                    seq=a.seq,
                )
            )
    return out


@contextlib.contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One read-only transaction that sees one moment of the database.

    The log and the record tables are read by separate statements; under READ COMMITTED a
    write committing between them shows a record without its audit entry, which verify would
    report as tampering. REPEATABLE READ gives every statement the transaction's snapshot.
    A SQLite transaction holds its read lock (or WAL snapshot) from the first read to the end.
    """
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def _check(
    database: str,
    entries: list[dict[str, Any]],
    records: dict[tuple[str, str], dict[str, Any]],
    verified_engine: bool,
    anchor: str | None,
) -> AuditReport:
    problems: list[AuditProblem] = []
    keys = _registered_keys(entries, records)
    expected_seq, prev = 1, schema.GENESIS_HASH
    seen: set[tuple[str, str]] = set()
    for e in entries:
        seq = e["seq"]

        def problem(
            message: str, *, table: str | None = None, rid: str | None = None, seq: int = seq
        ) -> None:
            problems.append(AuditProblem(message, seq=seq, table=table, record_id=rid))

        if seq > expected_seq:
            gap = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}-#{seq - 1}"
            problem(f"entries {gap} before it are missing (removed from the log)")
        elif seq < expected_seq:  # pragma: no cover - seq is the primary key
            problem("is out of order")
        if e["prev_hash"] != prev:
            problem(
                f"does not chain to the entry before it (prev_hash {e['prev_hash']}, "
                f"expected {prev})"
            )
        if audit_entry_hash(e) != e["entry_hash"]:
            problem("was altered: its contents no longer match its hash")
        expected_seq, prev = seq + 1, e["entry_hash"]

        key = (e["table_name"], e["record_id"])
        if e["table_name"] not in schema.RECORD_TABLE_BY_NAME:
            problem(f"names an unknown table {e['table_name']!r}")
            continue
        row = records.get(key)
        if row is None:
            problem("the record it logs is missing (deleted)", table=key[0], rid=key[1])
            continue
        if key in seen:
            problem("logs a record that an earlier entry already logged", table=key[0], rid=key[1])
        seen.add(key)
        if row["record_hash"] != e["record_hash"]:
            problem(
                "the record's hash differs from the one its audit entry holds",
                table=key[0],
                rid=key[1],
            )
        if row["actor"] != e["actor"]:
            problem(
                f"the record names {row['actor']!r} but the audit entry {e['actor']!r}",
                table=key[0],
                rid=key[1],
            )
        for message in _record_problems(key[0], row, keys, verified_engine):
            problem(message, table=key[0], rid=key[1])

    for key in sorted(set(records) - seen):
        problems.append(
            AuditProblem(
                "has no audit entry (inserted around the log)", table=key[0], record_id=key[1]
            )
        )
    head = entries[-1]["entry_hash"] if entries else None
    if anchor is not None and anchor not in {e["entry_hash"] for e in entries}:
        problems.append(
            AuditProblem(
                f"the anchor {anchor} noted earlier is no longer in the chain (entries were "
                "removed or the chain was rebuilt)"
            )
        )
    unverified = sum(1 for row in records.values() if not row["actor_verified"])
    return AuditReport(database, len(entries), len(records), unverified, head, tuple(problems))


def _registered_keys(
    entries: list[dict[str, Any]], records: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, tuple[str, str, str]]:
    """Key id -> (owner, public key, identities record id), from registrations in the chain.

    Only a registration the log holds counts, the first for a key id wins, and its public key
    must hash to its key id: a row planted beside the log, or a later claim on someone's key
    id, is then reported on that row, and never turns the owner's genuine records into
    "signed with someone else's key".
    """
    keys: dict[str, tuple[str, str, str]] = {}
    for e in entries:
        row = records.get((e["table_name"], e["record_id"]))
        if e["table_name"] != "identities" or row is None:
            continue
        if key_id_of(row["public_key"]) == row["key_id"] and row["key_id"] not in keys:
            keys[row["key_id"]] = (row["actor"], row["public_key"], row["id"])
    return keys


def _record_problems(
    table_name: str,
    row: Mapping[str, Any],
    keys: Mapping[str, tuple[str, str, str]],
    verified_engine: bool,
) -> list[str]:
    table = schema.RECORD_TABLE_BY_NAME[table_name]
    out = []
    if digest(record_document(table, row)) != row["record_hash"]:
        out.append("was altered: its stored fields no longer match its hash")
    owner, public_key, registration = keys.get(row["key_id"], (None, None, None))
    if table_name == "identities" and registration != row["id"]:
        if registration is not None:
            out.append(
                f"claims key {row['key_id']}, which identities record {registration} "
                f"registered to {owner!r} earlier"
            )
        owner, public_key = row["actor"], row["public_key"]  # judged by its own claim alone
    if public_key is None:
        out.append(f"is signed with key {row['key_id']}, which is not registered")
    else:
        if owner != row["actor"]:
            out.append(f"is recorded as {row['actor']!r} but signed with the key of {owner!r}")
        if not verify_signature(public_key, record_text(table, row), row["signature"]):
            out.append(f"its signature does not verify with the key of {owner!r}")
    if table_name == "identities" and key_id_of(row["public_key"]) != row["key_id"]:
        out.append("its public key does not match its key id")
    if table_name == "monitor_specs" and digest(row["toml"]) != row["toml_digest"]:
        out.append("its spec text does not match its digest")
    for text_col, digest_col in _DIGESTS.get(table_name, ()):
        try:
            value = json.loads(row[text_col])
            same = canonical_json(value) == row[text_col] and digest(value) == row[digest_col]
        except (ValueError, TypeError):
            same = False
        if not same:
            out.append(f"its {text_col} does not match its digest")
    if row["actor_verified"] and not verified_engine:
        out.append("claims a server-verified identity, which a SQLite database cannot give")
    if not row["actor_verified"] and verified_engine:
        out.append("claims an unverified identity on PostgreSQL, where the server verifies")
    return out
