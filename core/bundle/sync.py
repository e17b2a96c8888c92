"""Push a bundle's outbox to the shared database, idempotently.

The shared database stores each outbox entry as a record whose id IS the entry's id. Before
writing, sync looks the id up: a record already there means the entry was synced (by an
earlier run, or by a run that crashed after its commit but before it wrote its receipt) and
is skipped. The primary key makes a duplicate impossible even when two syncs race. So
syncing twice, or again after a crash at any point, neither loses nor duplicates an entry.
Receipts (``synced/<id>.json``) are appended to the bundle for the person holding it, each
signed by the syncing user's key in its place in the outbox chain; the database, not the
receipts, decides what is synced. A bundle whose outbox chain lost members (removed from the
middle, or cut off the end this computer saw) is refused whole: pushing the rest would
record a partial story as if it were complete.

The record is written by the store as every other record: its actor is the signed-in
identity (the PostgreSQL role, or the unverified OS login on SQLite), the time is the
server's, the signature the syncing user's key. An entry is only pushed by its own author:
its offline signature must be by the key the syncing user signs with (and which the
database has registered to the signed-in identity); otherwise it is refused, with the
reason. A decision (approval, rollback) conflicts when the database holds a decision on the
model that the bundle did not know (made after the export by someone else); a card draft
conflicts when the card has a newer revision than the draft's base. Conflicts are reported
and nothing is overwritten; the entry stays in the outbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle.open import Bundle, OutboxEntry, open_bundle
from watchkeeper.core.errors import NegativeFinding, WatchkeeperError
from watchkeeper.core.evidence import to_jsonable
from watchkeeper.core.governance import db, schema
from watchkeeper.core.governance.records import Approval, Rollback
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.store import CardConflict, GovernanceStore
from watchkeeper.core.times import parse_time

__all__ = ["SyncReport", "sync_bundle"]

TABLES = {
    "incident_note": schema.incident_notes,
    "model_card": schema.model_cards,
    "approval": schema.approvals,
    "rollback": schema.rollbacks,
}


@dataclass
class SyncReport:
    """What one sync did, entry by entry (ids are the outbox entries' ids)."""

    bundle: Path
    store: str
    identity: str
    synced: list[str] = field(default_factory=list)
    already_synced: list[str] = field(default_factory=list)
    conflicts: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    exporter_known: str | None = None  # who the bundle's key belongs to in the store
    receipts_written: int = 0

    @property
    def complete(self) -> bool:
        return not self.conflicts and not self.refused

    def lines(self) -> list[str]:
        out = [
            f"synced {self.bundle} to {self.store} as {self.identity}",
            f"  {len(self.synced)} entries pushed, {len(self.already_synced)} already there",
        ]
        if self.exporter_known is None:
            out.append("  note: the bundle's signing key is not registered in this database")
        out += [f"  conflict {i}: {why}" for i, why in self.conflicts.items()]
        out += [f"  refused {i}: {why}" for i, why in self.refused.items()]
        return out

    def raise_for_outcome(self) -> None:
        """Refused entries: WatchkeeperError (exit 2); conflicts: NegativeFinding (exit 1)."""
        if self.refused:
            first, why = next(iter(self.refused.items()))
            raise WatchkeeperError(
                f"{len(self.refused)} outbox entries refused (first: {first}: {why})"
            )
        if self.conflicts:
            first, why = next(iter(self.conflicts.items()))
            raise NegativeFinding(
                f"{len(self.conflicts)} outbox entries conflict with newer records and were not "
                f"recorded (first: {first}: {why})"
            )


class _SyncStore(GovernanceStore):
    """The governance store, writing the next record of one table under a chosen id."""

    _next: tuple[str, str] | None = None

    def _insert(
        self,
        conn: sa.Connection,
        now: dt.datetime,
        table: sa.Table,
        values: Mapping[str, Any],
        action: str,
    ) -> dict[str, Any]:
        if self._next is not None and table.name == self._next[0]:
            values = {"id": self._next[1], **values}
            self._next = None
        return super()._insert(conn, now, table, values, action)


def _exists(store: GovernanceStore, table: sa.Table, entry: OutboxEntry) -> bool:
    """Whether the entry's record is in the database (a record of another author or model
    under the same id is not it: that is refused, never taken for "already synced")."""
    query = sa.select(table.c.key_id, table.c.model).where(table.c.id == entry.id)
    with db.translate_errors(store.url, f"read {table.name}"), store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return False
    if (row.key_id, row.model) != (entry.key_id, entry.model):
        raise _Unrelated(f"{table.name} already holds a different record under id {entry.id}")
    return True


class _Unrelated(Exception):
    pass


def _push(store: _SyncStore, entry: OutboxEntry) -> Any:
    """Write one entry as its record (id = entry id)."""
    p = entry.payload
    store._next = (TABLES[entry.kind].name, entry.id)
    try:
        if entry.kind == "incident_note":
            links = [(link["record"], link["id"]) for link in p["links"]]
            return store.record_incident_note(
                entry.model,
                starts_at=parse_time(p["starts_at"]),
                ends_at=parse_time(p["ends_at"]),
                title=p["title"],
                body=p["body"],
                links=links,
            )
        if entry.kind == "model_card":
            return store.save_card(
                entry.model, p["model_version"], p["content"], base_revision=p["base_revision"]
            )
        if entry.kind == "approval":
            return store.record_approval(
                entry.model,
                p["model_version"],
                evidence=p["evidence"],
                decision=p["decision"],
                role=p["role"],
                policy=p["policy"],
                comment=p["comment"],
            )
        return store.record_rollback(
            entry.model,
            p["from_version"],
            p["to_version"],
            reason_class=p["reason_class"],
            incident_ref=p["incident_ref"],
            reason=p["reason"],
            evidence=p["evidence"],
        )
    finally:
        store._next = None


def _decision_conflict(store: GovernanceStore, bundle: Bundle, known: set[str]) -> str | None:
    decisions: list[Approval | Rollback] = [
        *store.approvals(bundle.model),
        *store.rollbacks(bundle.model),
    ]
    newer = [r for r in decisions if r.id not in known]
    if not newer:
        return None
    last = max(newer, key=lambda r: r.created_at)
    what = "rollback" if isinstance(last, Rollback) else f"{last.decision} approval"
    return (
        f"a {what} of {bundle.model} by {last.actor} at {last.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(record {last.id}) was recorded after this bundle was frozen "
        f"({bundle.manifest['as_of']}); your offline decision was not recorded — review it "
        "against the current state and decide again"
    )


def _key_owner(store: GovernanceStore, key_id: str) -> str | None:
    t = schema.identities
    with db.translate_errors(store.url, "read identities"), store.engine.connect() as conn:
        return conn.execute(sa.select(t.c.actor).where(t.c.key_id == key_id)).scalar()


def sync_bundle(path: Path | str, store_url: str, *, signer: Signer | None = None) -> SyncReport:
    """Push the outbox of the bundle at ``path`` to the database at ``store_url``.

    ``signer`` is the signed-in user's key (default: theirs from the OS keyring). Returns a
    report; call :meth:`SyncReport.raise_for_outcome` for the CLI's exit semantics.
    """
    path = Path(path)
    with open_bundle(path, extract=False) as bundle:
        pass  # validated; the parsed parts stay usable after the temporary folder goes
    if bundle.outbox_problems:
        raise WatchkeeperError(
            f"{path}: the bundle's outbox is damaged ({bundle.outbox_problems[0]}); nothing was "
            "synced — sync the complete copy of the bundle"
        )
    url = db.normalize_url(store_url)
    with _SyncStore.open(url, signer=signer) as store:
        me = store.signer  # the keyring's key for the signed-in identity, unless given
        owner = _key_owner(store, me.key_id)
        report = SyncReport(
            bundle=path,
            store=db.masked(url),
            identity=store.identity.describe(),
            exporter_known=_key_owner(store, bundle.exporter_key_id),
        )
        # Decisions the bundle knew of: those its exporter signed into it, and the outbox's
        # own once the database shows them recorded under their author's key (in chain
        # order). An entry's claimed id alone vouches for nothing: it could name someone
        # else's newer decision and hide the conflict.
        known = {r["id"] for k in ("approvals", "rollbacks") for r in bundle.governance[k]}
        receipts: dict[str, dict[str, Any]] = {}
        try:
            for entry in bundle.outbox:
                _sync_entry(store, bundle, entry, me, owner, known, report, receipts)
        finally:
            if receipts:
                _write_receipts(path, bundle.manifest_digest, receipts, me)
                report.receipts_written = len(receipts)
    return report


def _write_receipts(
    path: Path, manifest_digest: str, receipts: Mapping[str, Mapping[str, Any]], me: Signer
) -> None:
    """Sign each receipt in its place in the outbox chain and append them under the lock."""
    from watchkeeper.core.bundle import seen
    from watchkeeper.core.bundle.open import receipt_document

    heads: list[fmt.ChainHead] = []

    def members(head: fmt.ChainHead) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for entry_id, fields in receipts.items():
            document = receipt_document(
                {
                    **fields,
                    "key_id": me.key_id,
                    "public_key": me.public_key,
                    "bundle": manifest_digest,
                    "seq": head.seq + 1,
                    "prev": head.digest,
                }
            )
            block = fmt.sign_document(document, me)
            data = fmt.json_bytes({**document, "signature": block["signature"]})
            out[f"synced/{entry_id}.json"] = data
            head = fmt.ChainHead(head.seq + 1, fmt.bytes_digest(data))
        heads.append(head)
        return out

    fmt.append_members(path, members, manifest_digest)
    seen.note(manifest_digest, heads[-1])


def _sync_entry(
    store: _SyncStore,
    bundle: Bundle,
    entry: OutboxEntry,
    me: Signer,
    owner: str | None,
    known: set[str],
    report: SyncReport,
    receipts: dict[str, dict[str, Any]],
) -> None:
    from watchkeeper.core.bundle.outbox import check_payload

    if entry.kind not in TABLES:
        report.refused[entry.id] = f"{entry.describe()}: unknown kind of entry {entry.kind!r}"
        return
    try:
        check_payload(entry.kind, entry.payload)
    except (WatchkeeperError, KeyError, TypeError, ValueError, AttributeError) as exc:
        report.refused[entry.id] = f"{entry.describe()}: not a valid entry ({exc})"
        return
    table = TABLES[entry.kind]
    try:
        found = _exists(store, table, entry)
    except _Unrelated as exc:
        report.refused[entry.id] = f"{entry.describe()}: {exc}"
        return
    if found:
        report.already_synced.append(entry.id)
        known.add(entry.id)
        if entry.id not in bundle.synced:
            receipts[entry.id] = _receipt(store, entry, table, "found")
        return
    name = store.identity.name
    if entry.key_id != me.key_id:
        report.refused[entry.id] = (
            f"only its author can sync {entry.describe()}: it was signed offline by key "
            f"{entry.key_id}, and you, signed in as {name!r}, sign with key {me.key_id}"
        )
        return
    if owner is not None and owner != name:
        report.refused[entry.id] = (
            f"{entry.describe()} is signed by key {entry.key_id}, which this database has "
            f"registered to {owner!r}, not to the signed-in identity {name!r}"
        )
        return
    if entry.kind in ("approval", "rollback"):
        why = _decision_conflict(store, bundle, known)
        if why:
            report.conflicts[entry.id] = why
            return
    try:
        _push(store, entry)
    except CardConflict as exc:
        report.conflicts[entry.id] = str(exc)
        return
    except WatchkeeperError as exc:
        found = False
        with contextlib.suppress(_Unrelated):
            found = _exists(store, table, entry)  # a concurrent sync may have written it
        if found:
            report.already_synced.append(entry.id)
            known.add(entry.id)
            return
        report.refused[entry.id] = f"{entry.describe()}: the database refused it: {exc}"
        return
    report.synced.append(entry.id)
    known.add(entry.id)
    if entry.id not in bundle.synced:
        receipts[entry.id] = _receipt(store, entry, table, "written")


def _receipt(
    store: GovernanceStore, entry: OutboxEntry, table: sa.Table, how: str
) -> dict[str, Any]:
    """A receipt's content; :func:`_write_receipts` signs it into its place in the chain."""
    return {
        "entry": entry.id,
        "table": table.name,
        "record_id": entry.id,
        "store": db.masked(store.url),
        "synced_by": store.identity.name,
        "identity_verified": store.identity.verified,
        "how": how,
        "synced_at": to_jsonable(dt.datetime.now(dt.UTC)),
    }
