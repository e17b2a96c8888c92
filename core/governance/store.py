"""The governance store: signed, append-only records and the audit chain over them.

``GovernanceStore.open(url)`` connects (SQLite file or PostgreSQL), migrates the database to
the newest revision when it may, and learns who is writing (:mod:`.identity`). Every write
is one transaction that

1. serialises with every other writer — on PostgreSQL a table lock only writers may take
   (:data:`CHAIN_LOCK_STATEMENT`), waited for at most :data:`LOCK_TIMEOUT_SECONDS`; on
   SQLite ``BEGIN IMMEDIATE`` — so the audit chain stays linear however many clients write
   at once;
2. takes the time from the server (PostgreSQL's ``clock_timestamp()``; a trigger checks it);
3. registers the writer's public key on first use (itself a signed, audited record);
4. inserts the record with its hash and Ed25519 signature over every other stored field;
5. appends the audit entry chained to the previous one by hash;

and once committed, keeps a signed anchor of the new chain head outside the database
(:mod:`.anchors`), against which verify catches entries later cut off the log's end.

Nothing is ever updated: a new spec or model-card text is a new version; applying a
rollback is a new entry. Model-card saves use optimistic concurrency (:class:`CardConflict`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa

from watchkeeper.core.errors import NegativeFinding, WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance import anchors, db, schema
from watchkeeper.core.governance.identity import Identity, load_signer, resolve_identity
from watchkeeper.core.governance.records import (
    Approval,
    AuditEntry,
    IncidentNote,
    ModelCard,
    Rollback,
    RollbackApplication,
    SignedRecord,
    SpecVersion,
    audit_entry_hash,
    check_text,
    record_document,
    record_text,
)
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.times import as_utc

__all__ = [
    "CARD_FIELDS",
    "DECISIONS",
    "REASON_CLASSES",
    "CardConflict",
    "GovernanceStore",
]

#: Every PostgreSQL writer takes this lock before touching the chain; COMMIT or ROLLBACK
#: releases it. Not an advisory lock: anyone who can connect may take one of those and hang
#: every writer. This mode needs UPDATE on the table, which only writers are granted
#: (migration 0004), and it conflicts with itself but not with readers.
CHAIN_LOCK_STATEMENT = "LOCK TABLE audit_chain_lock IN SHARE ROW EXCLUSIVE MODE"
#: How long a writer waits for the lock (and any other lock) before giving up with a message
#: saying who holds it; a writer that hangs, or an attacker holding the lock, costs others
#: this much per attempt, not forever.
LOCK_TIMEOUT_SECONDS = 5

_LOCK_HOLDERS = sa.text(
    "SELECT a.usename, l.pid FROM pg_locks AS l "
    "LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() "
    "AND l.relation = to_regclass('audit_chain_lock') "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "ORDER BY l.pid"
)

#: Key in a connection's ``info`` holding the audit entry its transaction appended last.
_APPENDED = "watchkeeper_appended_entry"

log = logging.getLogger(__name__)

DECISIONS = ("approve", "reject")
REASON_CLASSES = ("sudden_incident", "gradual_drift", "other")
APPLICATION_RESULTS = ("succeeded", "failed")

#: The sections of a model card, in the order the card shows them.
CARD_FIELDS: tuple[str, ...] = (
    "owner",
    "intended_use",
    "out_of_scope_use",
    "limitations",
    "out_of_distribution_behaviour",
    "training_data_version",
    "training_data_digest",
    "evaluation_summary",
    "evaluation_slices",
    "monitoring_thresholds",
    "rollback_procedure",
    "escalation_path",
)
_CARD_DEFAULTS: dict[str, Any] = {"evaluation_slices": [], "monitoring_thresholds": {}}


class CardConflict(NegativeFinding):
    """A model-card save over a newer revision than the one the edit started from.

    Neither edit is lost: ``current`` is the newer stored revision (untouched) and ``draft``
    the refused content, for the user to merge and save again on ``current.revision``.
    """

    def __init__(self, current: ModelCard | None, draft: dict[str, Any], base_revision: int | None):
        self.current = current
        self.draft = draft
        self.base_revision = base_revision
        if current is None:  # pragma: no cover - a card cannot vanish: rows are never deleted
            message = "the model card you edited no longer exists"
        else:
            started = "a new card" if base_revision is None else f"revision {base_revision}"
            message = (
                f"model card {current.model} version {current.model_version} was changed by "
                f"{current.actor} at {current.created_at:%Y-%m-%d %H:%M:%S} UTC (revision "
                f"{current.revision}) after you started editing {started}; your edit was not "
                f"saved and is kept, so you can merge it and save again over revision "
                f"{current.revision}"
            )
        super().__init__(message)


class GovernanceStore:
    """Records and audit chain in one governance database. Open with :meth:`open`."""

    def __init__(
        self,
        engine: sa.Engine,
        url: str,
        identity: Identity,
        signer: Signer | None,
        clock: Callable[[], dt.datetime] | None,
        ids: Callable[[], str] | None = None,
    ) -> None:
        self._engine = engine
        self._ids = ids or (lambda: uuid.uuid4().hex)
        self.url = url
        self.identity = identity
        self._signer = signer
        self._clock = clock
        self._key_registered = False
        self.dialect = engine.dialect.name

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        create: bool = False,
        upgrade: bool = True,
        signer: Signer | None = None,
        actor: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        ids: Callable[[], str] | None = None,
    ) -> Self:
        """Connect, migrate to the newest revision when allowed, learn the identity.

        ``create`` allows making a new SQLite file. ``signer`` replaces the key from the OS
        keyring (the demo history uses derived keys). ``actor`` and ``clock`` exist for a
        SQLite demo history only: on PostgreSQL the server decides who and when. ``ids``
        makes record ids (default: random UUIDs); a demo uses it to be reproducible.
        """
        url = db.normalize_url(url)
        engine = db.create_engine(url, must_exist=not create)
        try:
            with db.translate_errors(url, "open the governance database"):
                if engine.dialect.name == "postgresql" and (actor is not None or clock is not None):
                    raise WatchkeeperError(
                        "on PostgreSQL the server records who wrote and when; actor and clock "
                        "cannot be chosen"
                    )
                head = db.head_revision()
                current = db.current_revision(engine)
                if current != head:
                    if not upgrade:
                        raise WatchkeeperError(
                            f"{db.masked(url)} is at revision {current or 'none'}, this "
                            f"Watchkeeper needs {head}: run `watchkeeper db upgrade --db URL`"
                        )
                    try:
                        db.migrate(engine, url=url)
                    except WatchkeeperError as exc:
                        raise WatchkeeperError(
                            f"{db.masked(url)} is at revision {current or 'none'} and this "
                            f"Watchkeeper needs {head}, but it could not be upgraded ({exc}); "
                            "ask its admin to run `watchkeeper db upgrade --db URL`"
                        ) from None
                with engine.connect() as conn:
                    identity = resolve_identity(conn)
        except BaseException:
            engine.dispose()
            raise
        if actor is not None:
            identity = Identity(check_text("actor", actor, allow_empty=False), verified=False)
        return cls(engine, url, identity, signer, clock, ids)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = load_signer(self.identity.name)
        return self._signer

    # --- the write path -----------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[tuple[sa.Connection, dt.datetime]]:
        _ = self.signer  # read the keyring (which may prompt) before holding the chain lock
        with db.translate_errors(self.url, doing):
            conn_cm = self._engine.connect().execution_options(**{db.WRITE: True})
            with conn_cm as conn:
                conn.info.pop(_APPENDED, None)
                with conn.begin():
                    yield from self._write_transaction(conn, doing)
                head = conn.info.pop(_APPENDED, None)
        self._key_registered = True  # committed: the key is on record from now on
        if head is not None:
            self._anchor(head)

    def _write_transaction(
        self, conn: sa.Connection, doing: str
    ) -> Iterator[tuple[sa.Connection, dt.datetime]]:
        if self.dialect == "postgresql":
            self._lock_chain(conn, doing)
            now: dt.datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        else:
            now = (self._clock or _utcnow)()
            if now.tzinfo is None:
                raise WatchkeeperError("the clock must give timezone-aware times")
            now = now.astimezone(dt.UTC)
        if not self._key_registered:
            self._ensure_key(conn, now)
        yield conn, now

    def _anchor(self, head: Mapping[str, Any]) -> None:
        """Note the committed head outside the database (:mod:`.anchors`), so that cutting
        entries off the log's end later is caught by verify on this machine."""
        try:
            anchors.record_anchor(
                self.url, head["seq"], head["entry_hash"], head["created_at"], self.signer
            )
        except (OSError, WatchkeeperError) as exc:
            # The record is committed; failing the write now would only make the user retry
            # a write that already happened.
            log.warning("could not keep an anchor of audit entry #%s: %s", head["seq"], exc)

    def _lock_chain(self, conn: sa.Connection, doing: str) -> None:
        conn.execute(
            sa.select(sa.func.set_config("lock_timeout", f"{LOCK_TIMEOUT_SECONDS}s", True))
        )
        try:
            conn.execute(sa.text(CHAIN_LOCK_STATEMENT))
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            holders = self._lock_holders()
            who = ", ".join(f"role {name or '(hidden)'}, pid {pid}" for name, pid in holders)
            raise WatchkeeperError(
                f"{db.masked(self.url)}: could not {doing} within {LOCK_TIMEOUT_SECONDS} s: "
                f"another writer{f' ({who})' if who else ''} holds the audit log; try again"
            ) from None

    def _lock_holders(self) -> list[tuple[str | None, int]]:
        """Who holds the chain lock, as far as this role may see (pid always, name usually)."""
        try:
            with self._engine.connect() as conn:
                return [(r.usename, r.pid) for r in conn.execute(_LOCK_HOLDERS)]
        except sa.exc.DBAPIError:  # the message is still useful without the names
            return []

    def _ensure_key(self, conn: sa.Connection, now: dt.datetime) -> None:
        signer = self.signer
        t = schema.identities
        owner = conn.execute(sa.select(t.c.actor).where(t.c.key_id == signer.key_id)).scalar()
        if owner is not None:
            if owner != self.identity.name:
                raise WatchkeeperError(
                    f"your signing key {signer.key_id} is registered to {owner!r}, not to "
                    f"{self.identity.name!r}; each person signs with their own key"
                )
            return
        self._insert(conn, now, t, {"public_key": signer.public_key}, "identity.registered")

    def _insert(
        self,
        conn: sa.Connection,
        now: dt.datetime,
        table: sa.Table,
        values: Mapping[str, Any],
        action: str,
    ) -> dict[str, Any]:
        signer = self.signer
        row: dict[str, Any] = {
            "id": self._ids(),
            "created_at": now,
            "actor": self.identity.name,
            "actor_verified": self.identity.verified,
            "key_id": signer.key_id,
            **values,
        }
        missing = {c.name for c in table.columns} - schema.UNHASHED - set(row)
        if missing:  # pragma: no cover - a programming error, not user input
            raise AssertionError(f"{table.name}: no value for {sorted(missing)}")
        row["record_hash"] = digest(record_document(table, row))
        row["signature"] = signer.sign(record_text(table, row))
        conn.execute(table.insert().values(**row))
        self._append_audit(conn, now, action, table.name, row["id"], row["record_hash"])
        return row

    def _append_audit(
        self,
        conn: sa.Connection,
        now: dt.datetime,
        action: str,
        table_name: str,
        record_id: str,
        record_hash: str,
    ) -> None:
        a = schema.audit_log
        head = conn.execute(
            sa.select(a.c.seq, a.c.entry_hash).order_by(a.c.seq.desc()).limit(1)
        ).first()
        entry = {
            "seq": 1 if head is None else head.seq + 1,
            "created_at": now,
            "actor": self.identity.name,
            "actor_verified": self.identity.verified,
            "action": action,
            "table_name": table_name,
            "record_id": record_id,
            "record_hash": record_hash,
            "prev_hash": schema.GENESIS_HASH if head is None else head.entry_hash,
        }
        entry["entry_hash"] = audit_entry_hash(entry)
        conn.execute(a.insert().values(**entry))
        conn.info[_APPENDED] = entry  # the head to anchor once the transaction commits

    def _record(
        self,
        table: sa.Table,
        values: Mapping[str, Any],
        action: str,
        doing: str,
        check: Callable[[sa.Connection], Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        with self._write(doing) as (conn, now):
            extra = check(conn) if check is not None else {}
            return self._insert(conn, now, table, {**values, **extra}, action)

    # --- reading ------------------------------------------------------------------------

    def _select(
        self, record_type: type[SignedRecord], *where: Any, order: Sequence[Any] = ()
    ) -> list[Any]:
        t = record_type.table
        query = sa.select(t).where(*where).order_by(*(order or (t.c.created_at, t.c.id)))
        with db.translate_errors(self.url, f"read {t.name}"), self._engine.connect() as conn:
            return [record_type.from_row(r._mapping) for r in conn.execute(query)]

    def audit_entries(self) -> list[AuditEntry]:
        a = schema.audit_log
        with db.translate_errors(self.url, "read the audit log"), self._engine.connect() as conn:
            return [
                AuditEntry.from_row(r._mapping)
                for r in conn.execute(sa.select(a).order_by(a.c.seq))
            ]

    # --- monitor specs ------------------------------------------------------------------

    def import_spec(self, path: Path | str) -> SpecVersion:
        """Store the spec file's text as the model's next version (unchanged text: no-op)."""
        from watchkeeper.core.spec import load_spec

        path = Path(path)
        spec = load_spec(path)  # validates; refuses with the key path and value
        text = path.read_bytes().decode("utf-8-sig")
        return self._import_spec_text(spec.model.name, text, str(path.resolve()))

    def import_spec_text(self, text: str, *, source: str = "<text>") -> SpecVersion:
        from watchkeeper.core.spec import parse_spec

        spec = parse_spec(text, origin=source)
        return self._import_spec_text(spec.model.name, text, source)

    def _import_spec_text(self, model: str, text: str, source: str) -> SpecVersion:
        check_text("spec text", text)
        check_text("spec source", source)
        t = schema.monitor_specs
        text_digest = digest(text)

        def check(conn: sa.Connection) -> dict[str, Any]:
            latest = conn.execute(
                sa.select(t.c.version, t.c.toml_digest)
                .where(t.c.model == model)
                .order_by(t.c.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.toml_digest == text_digest:
                raise _Unchanged(latest.version)
            return {"version": 1 if latest is None else latest.version + 1}

        values = {"model": model, "source": source, "toml": text, "toml_digest": text_digest}
        try:
            row = self._record(
                t, values, "spec.imported", f"store the monitor spec of {model}", check
            )
        except _Unchanged as same:
            found = self.spec_version(model, same.version)
            assert found is not None
            return found
        return SpecVersion.from_row(row)

    def spec_versions(self, model: str) -> list[SpecVersion]:
        t = schema.monitor_specs
        return self._select(SpecVersion, t.c.model == model, order=(t.c.version,))

    def spec_version(self, model: str, version: int | None = None) -> SpecVersion | None:
        """One version of a model's spec; the newest when ``version`` is None."""
        versions = self.spec_versions(model)
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)

    def export_spec(self, model: str, path: Path | str, version: int | None = None) -> Path:
        """Write the stored TOML text (byte for byte as imported) to ``path``."""
        found = self.spec_version(model, version)
        if found is None:
            which = "any version" if version is None else f"version {version}"
            raise WatchkeeperError(
                f"no monitor spec of {model!r} ({which}) in {db.masked(self.url)}"
            )
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(found.toml.encode("utf-8"))
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise WatchkeeperError(f"cannot write {path}: {exc.strerror}") from None
        return path

    # --- approvals ----------------------------------------------------------------------

    def record_approval(
        self,
        model: str,
        model_version: str,
        *,
        evidence: Mapping[str, Any],
        decision: str = "approve",
        role: str = "champion",
        policy: Mapping[str, Any] | None = None,
        comment: str = "",
        require_verified: bool | None = None,
    ) -> Approval:
        """Approve (or reject) ``model_version`` for ``role`` on ``evidence``.

        ``require_verified`` None follows the model's newest stored monitor spec
        (``[governance] require_verified_identity``).
        """
        if decision not in DECISIONS:
            raise WatchkeeperError(
                f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}"
            )
        self._require_verified(model, require_verified, "approvals")
        evidence_json = _canonical("evidence", evidence)
        values = {
            "model": check_text("model", model, allow_empty=False),
            "model_version": check_text("model version", str(model_version), allow_empty=False),
            "role": check_text("role", role, allow_empty=False),
            "decision": decision,
            "policy": _canonical("policy", policy or {}),
            "evidence": evidence_json,
            "evidence_digest": digest(evidence),
            "comment": check_text("comment", comment),
        }
        row = self._record(
            schema.approvals,
            values,
            f"approval.{decision}",
            f"record an approval of {model} version {model_version}",
        )
        return Approval.from_row(row)

    def approvals(self, model: str | None = None) -> list[Approval]:
        t = schema.approvals
        return self._select(Approval, *([t.c.model == model] if model is not None else []))

    def _require_verified(self, model: str, required: bool | None, what: str) -> None:
        if self.identity.verified:
            return
        if required is None:
            latest = self.spec_version(model)
            required = bool(latest and latest.spec().governance.require_verified_identity)
        if required:
            raise WatchkeeperError(
                f"{what} of {model} require a verified identity ([governance] "
                f"require_verified_identity = true), but this database knows you only as "
                f"{self.identity.describe()}; record it in the team's PostgreSQL database"
            )

    # --- rollbacks ----------------------------------------------------------------------

    def record_rollback(
        self,
        model: str,
        from_version: str,
        to_version: str,
        *,
        reason_class: str,
        incident_ref: str = "",
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
        require_verified: bool | None = None,
    ) -> Rollback:
        """The decision to roll ``model`` back; applying it is :meth:`record_rollback_applied`."""
        if reason_class not in REASON_CLASSES:
            raise WatchkeeperError(
                f"reason class must be one of {', '.join(REASON_CLASSES)}, got {reason_class!r}"
            )
        self._require_verified(model, require_verified, "rollback decisions")
        evidence = evidence or {}
        values = {
            "model": check_text("model", model, allow_empty=False),
            "from_version": check_text("from version", str(from_version), allow_empty=False),
            "to_version": check_text("to version", str(to_version), allow_empty=False),
            "reason_class": reason_class,
            "incident_ref": check_text("incident reference", incident_ref),
            "reason": check_text("reason", reason),
            "evidence": _canonical("evidence", evidence),
            "evidence_digest": digest(evidence),
        }
        row = self._record(
            schema.rollbacks, values, "rollback.decided", f"record a rollback of {model}"
        )
        return Rollback.from_row(row)

    def record_rollback_applied(
        self, rollback_id: str, *, result: str, detail: str = ""
    ) -> RollbackApplication:
        """Record that the registry change of a rollback decision was made (or failed)."""
        if result not in APPLICATION_RESULTS:
            raise WatchkeeperError(
                f"result must be one of {', '.join(APPLICATION_RESULTS)}, got {result!r}"
            )
        t = schema.rollbacks

        def check(conn: sa.Connection) -> dict[str, Any]:
            if conn.execute(sa.select(t.c.id).where(t.c.id == rollback_id)).first() is None:
                raise WatchkeeperError(f"no rollback decision {rollback_id!r} to apply")
            return {}

        values = {
            "rollback_id": rollback_id,
            "result": result,
            "detail": check_text("detail", detail),
        }
        row = self._record(
            schema.rollback_applications,
            values,
            f"rollback.{result}",
            "record a rollback's application",
            check,
        )
        return RollbackApplication.from_row(row)

    def rollbacks(self, model: str | None = None) -> list[Rollback]:
        t = schema.rollbacks
        return self._select(Rollback, *([t.c.model == model] if model is not None else []))

    def rollback_applications(self, rollback_id: str | None = None) -> list[RollbackApplication]:
        t = schema.rollback_applications
        where = [t.c.rollback_id == rollback_id] if rollback_id is not None else []
        return self._select(RollbackApplication, *where)

    # --- model cards --------------------------------------------------------------------

    def save_card(
        self,
        model: str,
        model_version: str,
        content: Mapping[str, Any],
        *,
        base_revision: int | None,
    ) -> ModelCard:
        """Save a new revision of a model card, edited from ``base_revision`` (None: new card).

        Refused with :class:`CardConflict` when someone saved a newer revision meanwhile.
        """
        card = normalize_card(content)
        model = check_text("model", model, allow_empty=False)
        model_version = check_text("model version", str(model_version), allow_empty=False)
        t = schema.model_cards

        def check(conn: sa.Connection) -> dict[str, Any]:
            latest = conn.execute(
                sa.select(t.c.revision)
                .where(t.c.model == model, t.c.model_version == model_version)
                .order_by(t.c.revision.desc())
                .limit(1)
            ).scalar()
            if latest != base_revision:
                raise _Stale()
            return {"revision": 1 if latest is None else latest + 1}

        values = {
            "model": model,
            "model_version": model_version,
            "base_revision": base_revision,
            "content": canonical_json(card),
            "content_digest": digest(card),
        }
        try:
            row = self._record(
                t,
                values,
                "model_card.saved",
                f"save the model card of {model} version {model_version}",
                check,
            )
        except _Stale:
            raise CardConflict(self.card(model, model_version), card, base_revision) from None
        return ModelCard.from_row(row)

    def card(self, model: str, model_version: str, revision: int | None = None) -> ModelCard | None:
        history = self.card_history(model, model_version)
        if revision is None:
            return history[-1] if history else None
        return next((c for c in history if c.revision == revision), None)

    def card_history(self, model: str, model_version: str) -> list[ModelCard]:
        t = schema.model_cards
        return self._select(
            ModelCard,
            t.c.model == model,
            t.c.model_version == str(model_version),
            order=(t.c.revision,),
        )

    # --- incident notes -----------------------------------------------------------------

    def record_incident_note(
        self,
        model: str,
        *,
        starts_at: dt.datetime,
        ends_at: dt.datetime | None = None,
        title: str,
        body: str = "",
        links: Sequence[SignedRecord | tuple[str, str]] = (),
    ) -> IncidentNote:
        """A note on an incident of ``model`` over a time range, optionally citing decisions."""
        starts = _aware("starts_at", starts_at)
        ends = None if ends_at is None else _aware("ends_at", ends_at)
        if ends is not None and ends < starts:
            raise WatchkeeperError("an incident cannot end before it starts")
        refs = []
        for link in links:
            table, rid = (link.table.name, link.id) if isinstance(link, SignedRecord) else link
            if table not in schema.RECORD_TABLE_BY_NAME:
                raise WatchkeeperError(f"an incident note cannot link to {table!r} records")
            refs.append({"record": table, "id": rid})

        def check(conn: sa.Connection) -> dict[str, Any]:
            for ref in refs:
                t = schema.RECORD_TABLE_BY_NAME[ref["record"]]
                if conn.execute(sa.select(t.c.id).where(t.c.id == ref["id"])).first() is None:
                    raise WatchkeeperError(f"no {ref['record']} record {ref['id']!r} to link to")
            return {}

        values = {
            "model": check_text("model", model, allow_empty=False),
            "starts_at": starts,
            "ends_at": ends,
            "title": check_text("title", title, allow_empty=False),
            "body": check_text("body", body),
            "links": canonical_json(refs),
        }
        row = self._record(
            schema.incident_notes,
            values,
            "incident_note.recorded",
            f"record an incident note on {model}",
            check,
        )
        return IncidentNote.from_row(row)

    def incident_notes(self, model: str | None = None) -> list[IncidentNote]:
        t = schema.incident_notes
        return self._select(IncidentNote, *([t.c.model == model] if model is not None else []))


def normalize_card(content: Mapping[str, Any]) -> dict[str, Any]:
    """Every card section present; unknown sections refused with a close match."""
    if not isinstance(content, Mapping):
        raise WatchkeeperError("a model card is a table of sections")
    unknown = [k for k in content if k not in CARD_FIELDS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), CARD_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise WatchkeeperError(f"model card: unknown section {unknown[0]!r}{hint}")
    card = {k: content.get(k, _CARD_DEFAULTS.get(k, "")) for k in CARD_FIELDS}
    _canonical("model card", card)
    return card


def _canonical(what: str, value: Any) -> str:
    try:
        text = canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise WatchkeeperError(f"{what} cannot be stored as JSON: {exc}") from None
    check_text(what, text)
    return text


def _aware(name: str, value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise WatchkeeperError(f"{name} must be a date and time, got {value!r}")
    return as_utc(value)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Unchanged(Exception):
    def __init__(self, version: int) -> None:
        self.version = version


class _Stale(Exception):
    pass
