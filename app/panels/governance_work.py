"""The governance view's state and the work it hands to the TaskRunner — no Qt here.

Every function below runs on a worker thread (``progress``/``cancelled`` as the TaskRunner
passes them), opens the governance store or the registry for the one thing it does, and
closes it again: a store is never shared between threads. Outcomes a person must act on
are *returned*, not raised, so the dialog can show both sides: a card conflict keeps both
texts (:class:`CardSave`), a rollback whose alias move failed says so after recording the
failure (:class:`RollbackOutcome`).

On an offline bundle the target is a :class:`BundleTarget`: records are read from the
bundle (no database), and notes, card drafts and decisions are signed with the user's key
and appended to the bundle's outbox; :func:`sync_outbox` later pushes them to a shared
database (``core/bundle/sync.py``). A rollback made on a bundle is a recorded decision only:
no alias moves offline, and syncing records it as not yet applied.

The state object lives here rather than in ``state.py`` because only this view uses it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from watchkeeper.app.panels.state import TaskStatus
from watchkeeper.core.progress import CancelCheck, Progress

__all__ = [
    "JSON_CARD_FIELDS",
    "REASON_LABELS",
    "BundleTarget",
    "CardSave",
    "GovernanceState",
    "GovernanceTarget",
    "GovernanceView",
    "RollbackOutcome",
    "add_incident_note",
    "audit_frame",
    "decisions_frame",
    "load_governance",
    "record_decision",
    "roll_back",
    "save_card",
    "sync_outbox",
    "verify",
]

#: Card sections holding structured values (edited as JSON text).
JSON_CARD_FIELDS = ("evaluation_slices", "monitoring_thresholds")
#: The reason classes of a rollback as a person reads them.
REASON_LABELS = {
    "sudden_incident": "sudden incident",
    "gradual_drift": "gradual drift",
    "other": "other",
}
CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class GovernanceTarget:
    """Where decisions are recorded and which registry their alias moves go to.

    ``signer`` replaces the signing key from the OS keyring (tests, demos); credentials stay
    in this object, never in the environment.
    """

    offline: ClassVar[bool] = False

    database_url: str
    registry_uri: str | None = None
    registry_credentials: Any = None  # core.registry.credentials.Credentials
    signer: Any = None  # core.governance.signing.Signer
    label: str = "workspace defaults"

    @classmethod
    def from_workspace(cls, workspace: Path, **kwargs: Any) -> GovernanceTarget:
        """The demo layout: ``governance.db`` and ``registry/mlflow.db`` in the workspace."""
        registry = workspace / "registry" / "mlflow.db"
        return cls(
            database_url=f"sqlite:///{workspace / 'governance.db'}",
            registry_uri=f"sqlite:///{registry}" if registry.exists() else None,
            **kwargs,
        )

    def open_store(self) -> Any:
        """The store, never migrated from the window: a database behind this version is an
        error naming ``watchkeeper db upgrade`` (a shared database is its admin's to move)."""
        from watchkeeper.core.governance.store import GovernanceStore

        return GovernanceStore.open(self.database_url, signer=self.signer, upgrade=False)

    def open_registry(self) -> Any:
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.registry.client import open_registry

        if not self.registry_uri:
            raise WatchkeeperError(
                "no model registry is configured for this connection; choose a profile with "
                "a registry URI (File → Connect…)"
            )
        return open_registry(self.registry_uri, credentials=self.registry_credentials)


@dataclass(frozen=True)
class BundleTarget:
    """An opened bundle: records read from it, decisions appended to its outbox, signed
    with ``signer`` (default: the user's key from the OS keyring, as the store uses)."""

    offline: ClassVar[bool] = True
    registry_uri: ClassVar[None] = None

    evidence: Any  # core.workbench.evidence.BundleEvidence
    signer: Any = None
    author: str | None = None  # default: the OS login (what a SQLite sync records)

    @property
    def path(self) -> Path:
        return Path(self.evidence.path)

    @property
    def label(self) -> str:
        return f"the outbox of {self.path.name}"

    def identity(self) -> Any:
        from watchkeeper.core.governance.identity import Identity, os_login

        return Identity(self.author or os_login(), verified=False)

    def signing_key(self) -> Any:
        """The key outbox entries are signed with (read from the keyring on a worker)."""
        from watchkeeper.core.governance.identity import load_signer

        return self.signer if self.signer is not None else load_signer(self.identity().name)


@dataclass(frozen=True)
class GovernanceView:
    """Everything the panel shows for one model version, read in one go."""

    model: str
    version: str
    identity: Any  # core.governance.identity.Identity
    database: str
    champion: str | None
    challenger: str | None
    aliases_from: str
    require_verified: bool
    approvals: tuple[Any, ...]
    rollbacks: tuple[Any, ...]
    applications: Mapping[str, tuple[Any, ...]]
    card: Any  # ModelCard | None
    card_history: tuple[Any, ...]
    notes: tuple[Any, ...]
    audit: tuple[Any, ...]
    key_warning: str | None = None  # the signing key sits in a plain-text keyring
    offline: bool = False  # read from a bundle: writes go to its outbox
    outbox: tuple[Any, ...] = ()  # the bundle's outbox entries (OutboxEntry)
    synced: frozenset[str] = frozenset()  # ids of outbox entries with a sync receipt

    @property
    def pending(self) -> tuple[Any, ...]:
        """Outbox entries not yet synced."""
        return tuple(e for e in self.outbox if e.id not in self.synced)


@dataclass(frozen=True)
class CardSave:
    """A card save: the new revision, or the conflict with both versions kept."""

    saved: Any = None  # ModelCard
    conflict: Any = None  # CardConflict (its .current is theirs, .draft is yours)
    pending: Any = None  # OutboxEntry: a draft written to a bundle's outbox


@dataclass(frozen=True)
class RollbackOutcome:
    """The recorded decision, the recorded application and, when it moved, the alias move."""

    rollback: Any
    application: Any
    move: Any = None  # AliasMove
    error: str | None = None
    pending: bool = False  # written to a bundle's outbox: no alias moved (offline)

    @property
    def succeeded(self) -> bool:
        return self.error is None


class GovernanceState(TaskStatus):
    """The governance view: which model version, what the store holds, the last check."""

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.version: str | None = None
        self.view: GovernanceView | None = None
        self.report: Any = None  # AuditReport of the last Verify
        self.verify_status = "idle"  # idle | running | ok | broken | failed
        self.notice: tuple[str, str] | None = None  # (level, text) after a write


# -- reading ---------------------------------------------------------------------------


def requires_verified(entry: Any) -> bool:
    spec = getattr(entry, "spec", None)
    return bool(spec is not None and spec.governance.require_verified_identity)


def load_governance(
    target: GovernanceTarget,
    entry: Any,
    version: str,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> GovernanceView:
    """Read the records of ``entry``'s model and the champion/challenger aliases."""
    from watchkeeper.core.errors import WatchkeeperError

    if target.offline:
        return _load_bundle_governance(target, entry, version, progress)
    report = progress or (lambda f, m: None)
    model = entry.name
    champion = challenger = None
    aliases_from = "portfolio"
    for v in entry.versions:
        if "champion" in v.aliases:
            champion = v.version
        if "challenger" in v.aliases:
            challenger = v.version
    if target.registry_uri:
        report(0.1, "reading the registry aliases")
        try:
            with target.open_registry() as registry:
                champion = registry.alias_version(model, CHAMPION_ALIAS)
                challenger = registry.alias_version(model, "challenger")
            aliases_from = "registry"
        except WatchkeeperError:
            aliases_from = "portfolio (registry unreachable)"
    key_warning = None
    if target.signer is None:  # the key comes from the OS keyring: say if it is unprotected
        from watchkeeper.core.governance.identity import keyring_warning

        try:
            key_warning = keyring_warning()
        except Exception:  # no keyring at all: signing will say so when it needs the key
            key_warning = None
    report(0.4, "reading the governance records")
    store = target.open_store()
    try:
        rollbacks = tuple(store.rollbacks(model))
        applications: dict[str, list[Any]] = {}
        for app in store.rollback_applications():
            applications.setdefault(app.rollback_id, []).append(app)
        stored_spec = store.spec_version(model)
        required = requires_verified(entry) or bool(
            stored_spec is not None and stored_spec.spec().governance.require_verified_identity
        )
        return GovernanceView(
            model=model,
            version=str(version),
            identity=store.identity,
            database=_masked(store.url),
            champion=champion,
            challenger=challenger,
            aliases_from=aliases_from,
            require_verified=required,
            approvals=tuple(store.approvals(model)),
            rollbacks=rollbacks,
            applications={k: tuple(v) for k, v in applications.items()},
            card=store.card(model, str(version)),
            card_history=tuple(store.card_history(model, str(version))),
            notes=tuple(store.incident_notes(model)),
            audit=tuple(store.audit_entries()),
            key_warning=key_warning,
        )
    finally:
        store.close()


def _load_bundle_governance(
    target: BundleTarget, entry: Any, version: str, progress: Progress | None
) -> GovernanceView:
    """The records frozen in the bundle and its outbox as the file holds it now."""
    from watchkeeper.core.bundle.open import open_bundle
    from watchkeeper.core.governance.identity import keyring_warning

    report = progress or (lambda f, m: None)
    report(0.2, "reading the bundle's records and outbox")
    records = target.evidence.records()
    with open_bundle(target.path, extract=False) as current:
        outbox = tuple(e for e in current.outbox if e.model == entry.name)
        pending = {e.id for e in current.pending()}
        synced = frozenset(e.id for e in current.outbox if e.id not in pending)
    champion = challenger = None
    for v in entry.versions:
        if "champion" in v.aliases:
            champion = v.version
        if "challenger" in v.aliases:
            challenger = v.version
    applications: dict[str, list[Any]] = {}
    for app in records.applications:
        applications.setdefault(app.rollback_id, []).append(app)
    try:
        key_warning = keyring_warning() if target.signer is None else None
    except Exception:  # no keyring at all: signing will say so when it needs the key
        key_warning = None
    return GovernanceView(
        model=entry.name,
        version=str(version),
        identity=target.identity(),
        database=f"bundle {target.path.name} (offline; writes go to its outbox)",
        champion=champion,
        challenger=challenger,
        aliases_from="bundle's " + _portfolio_roles(entry),
        require_verified=requires_verified(entry),
        approvals=tuple(a for a in records.approvals if a.model == entry.name),
        rollbacks=tuple(r for r in records.rollbacks if r.model == entry.name),
        applications={k: tuple(v) for k, v in applications.items()},
        card=records.card(str(version)),
        card_history=records.card_history(str(version)),
        notes=tuple(n for n in records.notes if n.model == entry.name),
        audit=(),
        key_warning=key_warning,
        offline=True,
        outbox=outbox,
        synced=synced,
    )


def _portfolio_roles(entry: Any) -> str:
    ev = getattr(entry, "evidence", None)
    bundle = getattr(ev, "bundle", None)
    return "registry snapshot" if bundle is not None and bundle.registry else "records"


def _masked(url: str) -> str:
    from watchkeeper.core.governance.db import masked

    return masked(url)


# -- the gate --------------------------------------------------------------------------


# -- writing ---------------------------------------------------------------------------


def record_decision(
    target: GovernanceTarget,
    entry: Any,
    version: str,
    *,
    decision: str,
    evidence: Mapping[str, Any],
    policy: Mapping[str, Any] | None,
    comment: str,
) -> Any:
    """Sign and record an approval or rejection of ``version`` as champion (on a bundle: an
    outbox entry, returned as the :class:`OutboxEntry`)."""
    if target.offline:
        from watchkeeper.core.bundle.outbox import add_decision

        payload = {
            "model_version": str(version),
            "decision": decision,
            "role": CHAMPION_ALIAS,
            "evidence": dict(evidence),
            "policy": dict(policy or {}),
            "comment": comment,
        }
        return add_decision(
            target.path,
            "approval",
            payload,
            signer=target.signing_key(),
            author=target.identity().name,
        )
    store = target.open_store()
    try:
        return store.record_approval(
            entry.name,
            str(version),
            evidence=evidence,
            decision=decision,
            role=CHAMPION_ALIAS,
            policy=policy,
            comment=comment,
            require_verified=True if requires_verified(entry) else None,
        )
    finally:
        store.close()


def roll_back(
    target: GovernanceTarget,
    entry: Any,
    *,
    from_version: str,
    to_version: str,
    reason_class: str,
    incident_ref: str,
    reason: str,
) -> RollbackOutcome:
    """Record the decision, move ``champion`` through the guarded move, record the result.

    A refused move (someone else moved the alias, the registry is unreachable) is recorded
    as a failed application with the registry's message and returned, not raised: the
    decision stands in the log either way.
    """
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.evidence import canonical_json
    from watchkeeper.core.registry.aliases import move_alias

    if target.offline:  # a decision in the outbox; no alias moves from a bundle
        from watchkeeper.core.bundle.outbox import add_decision

        entry_ = add_decision(
            target.path,
            "rollback",
            {
                "from_version": str(from_version),
                "to_version": str(to_version),
                "reason_class": reason_class,
                "incident_ref": incident_ref,
                "reason": reason,
                "evidence": {},
            },
            signer=target.signing_key(),
            author=target.identity().name,
        )
        return RollbackOutcome(entry_, None, None, None, pending=True)
    store = target.open_store()
    try:
        decision = store.record_rollback(
            entry.name,
            str(from_version),
            str(to_version),
            reason_class=reason_class,
            incident_ref=incident_ref,
            reason=reason,
            require_verified=True if requires_verified(entry) else None,
        )
        move = None
        error = None
        try:
            with target.open_registry() as registry:
                move = move_alias(
                    registry,
                    entry.name,
                    CHAMPION_ALIAS,
                    expected=str(from_version),
                    target=str(to_version),
                )
        except WatchkeeperError as exc:
            error = str(exc)
        if move is not None:
            application = store.record_rollback_applied(
                decision.id, result="succeeded", detail=canonical_json(move.to_dict())
            )
        else:
            application = store.record_rollback_applied(
                decision.id, result="failed", detail=error or ""
            )
        return RollbackOutcome(decision, application, move, error)
    finally:
        store.close()


def save_card(
    target: GovernanceTarget,
    model: str,
    version: str,
    content: Mapping[str, Any],
    base_revision: int | None,
) -> CardSave:
    """Save a new card revision; a conflict comes back with both versions. On a bundle, the
    draft goes to the outbox (a conflict, if any, shows when it is synced)."""
    from watchkeeper.core.governance.store import CardConflict

    if target.offline:
        from watchkeeper.core.bundle.outbox import add_card_draft

        return CardSave(
            pending=add_card_draft(
                target.path,
                model_version=str(version),
                content=content,
                base_revision=base_revision,
                signer=target.signing_key(),
                author=target.identity().name,
            )
        )
    store = target.open_store()
    try:
        return CardSave(saved=store.save_card(model, version, content, base_revision=base_revision))
    except CardConflict as conflict:
        return CardSave(conflict=conflict)
    finally:
        store.close()


def add_incident_note(
    target: GovernanceTarget,
    model: str,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime | None,
    title: str,
    body: str,
) -> Any:
    if target.offline:
        from watchkeeper.core.bundle import outbox

        return outbox.add_incident_note(
            target.path,
            title=title,
            starts_at=starts_at,
            ends_at=ends_at,
            body=body,
            signer=target.signing_key(),
            author=target.identity().name,
        )
    store = target.open_store()
    try:
        return store.record_incident_note(
            model, starts_at=starts_at, ends_at=ends_at, title=title, body=body
        )
    finally:
        store.close()


def verify(
    target: GovernanceTarget, progress: Progress | None = None, cancelled: Any = None
) -> Any:
    from watchkeeper.core.governance.verify import verify_audit

    return verify_audit(target.database_url)


def sync_outbox(
    bundle: Path,
    target: GovernanceTarget,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> Any:
    """Push the bundle's outbox to ``target``'s database (a :class:`SyncReport`).

    Idempotent (:mod:`watchkeeper.core.bundle.sync`): entries already there are skipped,
    conflicts and refusals are reported, never overwritten.
    """
    from watchkeeper.core.bundle.sync import sync_bundle

    if progress is not None:
        progress(0.1, f"syncing the outbox of {Path(bundle).name}")
    return sync_bundle(bundle, target.database_url, signer=target.signer)


# -- tables ----------------------------------------------------------------------------


def _stamp(value: dt.datetime) -> str:
    """A record's time as a table shows it (sorts as text, too)."""
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"


def _who(record: Any) -> str:
    return f"{record.actor}{'' if record.actor_verified else ' (unverified)'}"


def decisions_frame(view: GovernanceView) -> Any:
    """Approvals, rejections and rollbacks of the model, newest first."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for a in view.approvals:
        rows.append(
            {
                "time (UTC)": _stamp(a.created_at),
                "decision": a.decision,
                "version": f"v{a.model_version} as {a.role}",
                "by": _who(a),
                "note": a.comment,
                "evidence": a.evidence_digest,
            }
        )
    for r in view.rollbacks:
        apps = view.applications.get(r.id, ())
        applied = apps[-1].result if apps else "not applied"
        ref = f"{r.incident_ref}: " if r.incident_ref else ""
        rows.append(
            {
                "time (UTC)": _stamp(r.created_at),
                "decision": f"rollback ({applied})",
                "version": f"v{r.from_version} → v{r.to_version}",
                "by": _who(r),
                "note": f"{REASON_LABELS.get(r.reason_class, r.reason_class)} · {ref}{r.reason}",
                "evidence": r.evidence_digest,
            }
        )
    frame = pd.DataFrame(
        rows, columns=["time (UTC)", "decision", "version", "by", "note", "evidence"]
    )
    return frame.sort_values("time (UTC)", ascending=False, kind="stable")


def audit_frame(entries: tuple[Any, ...]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "#": [e.seq for e in entries],
            "time (UTC)": [_stamp(e.created_at) for e in entries],
            "action": [e.action for e in entries],
            "by": [_who(e) for e in entries],
            "record": [f"{e.table_name} {e.record_id[:12]}" for e in entries],
            "entry hash": [e.entry_hash for e in entries],
        }
    )


def card_to_texts(content: Mapping[str, Any] | None) -> dict[str, str]:
    """Each card section as the text its editor shows (JSON sections pretty-printed)."""
    from watchkeeper.core.governance.store import CARD_FIELDS

    out = {}
    for name in CARD_FIELDS:
        value = (content or {}).get(name)
        if name in JSON_CARD_FIELDS:
            default: Any = [] if name == "evaluation_slices" else {}
            out[name] = json.dumps(
                default if value is None else value, indent=2, ensure_ascii=False
            )
        else:
            out[name] = "" if value is None else str(value)
    return out


def texts_to_card(texts: Mapping[str, str]) -> dict[str, Any]:
    """The editors' texts as card content; a JSON section that does not parse is refused."""
    from watchkeeper.core.errors import WatchkeeperError

    out: dict[str, Any] = {}
    for name, text in texts.items():
        if name in JSON_CARD_FIELDS:
            try:
                out[name] = json.loads(text) if text.strip() else None
            except ValueError as exc:
                raise WatchkeeperError(
                    f"model card section {name!r} must be JSON ({exc}); fix it and save again"
                ) from None
            if out[name] is None:
                out[name] = [] if name == "evaluation_slices" else {}
        else:
            out[name] = text
    return out
