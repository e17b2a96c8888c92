"""The outbox: notes, model-card drafts and decisions made offline, kept inside the bundle.

Each entry is one member ``outbox/<id>.json`` appended to the bundle file (copy, append,
rename: a crash keeps the old file or the new), in its place in the outbox chain (its
``seq`` and the digest of the member before it, ``prev``; see :mod:`.format`). Its ``id``
is a random 128-bit hex chosen when the entry is made and never changed:
:func:`~.sync.sync_bundle` stores the shared database's record under that same id, which
is what makes syncing idempotent. The entry is signed offline by its author's Ed25519 key
(from the OS keyring) over every other field, including the digest of the bundle's
manifest, so it cannot be edited or moved to another bundle unnoticed.

Kinds and their payloads (checked here, before anything is written):

* ``incident_note`` — ``title``, ``body``, ``starts_at``, ``ends_at`` (ISO times), ``links``
  ([{"record": table, "id": id}] of records in the bundle);
* ``model_card`` — ``model_version``, ``content`` (card sections), ``base_revision`` (the
  revision the draft started from; None for a new card);
* ``approval`` — ``model_version``, ``decision`` (approve / reject), ``role``, ``evidence``,
  ``policy``, ``comment``;
* ``rollback`` — ``from_version``, ``to_version``, ``reason_class``, ``incident_ref``,
  ``reason``, ``evidence``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle import seen
from watchkeeper.core.bundle.open import OutboxEntry, open_bundle
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import to_jsonable
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.times import parse_time

__all__ = [
    "KINDS",
    "add_card_draft",
    "add_decision",
    "add_entry",
    "add_incident_note",
    "append_entry",
]

KINDS = ("incident_note", "model_card", "approval", "rollback")


def _iso(value: dt.datetime | str | None, name: str) -> str | None:
    return None if value is None else to_jsonable(parse_time(value, name))


def _link(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(value.get(k), str) for k in ("record", "id")
    ):
        raise WatchkeeperError(f"a link is {{'record': table, 'id': record id}}, got {value!r}")
    return {"record": value["record"], "id": value["id"]}


def check_payload(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload in its stored form; refuses what the shared database would refuse."""
    from watchkeeper.core.governance.records import check_text
    from watchkeeper.core.governance.store import DECISIONS, REASON_CLASSES, normalize_card

    p = dict(payload)
    if kind == "incident_note":
        out = {
            "title": check_text("title", p.get("title", ""), allow_empty=False),
            "body": check_text("body", p.get("body", "")),
            "starts_at": _iso(p.get("starts_at"), "starts_at"),
            "ends_at": _iso(p.get("ends_at"), "ends_at"),
            "links": [_link(x) for x in p.get("links", ())],
        }
        if out["starts_at"] is None:
            raise WatchkeeperError("an incident note needs starts_at")
        return out
    if kind == "model_card":
        base = p.get("base_revision")
        if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
            raise WatchkeeperError(f"base_revision must be a revision number, got {base!r}")
        return {
            "model_version": check_text(
                "model version", str(p["model_version"]), allow_empty=False
            ),
            "content": normalize_card(p.get("content", {})),
            "base_revision": base,
        }
    if kind == "approval":
        if p.get("decision", "approve") not in DECISIONS:
            raise WatchkeeperError(f"decision must be one of {', '.join(DECISIONS)}")
        return {
            "model_version": check_text(
                "model version", str(p["model_version"]), allow_empty=False
            ),
            "decision": p.get("decision", "approve"),
            "role": check_text("role", p.get("role", "champion"), allow_empty=False),
            "evidence": to_jsonable(p.get("evidence", {})),
            "policy": to_jsonable(p.get("policy", {})),
            "comment": check_text("comment", p.get("comment", "")),
        }
    if kind == "rollback":
        if p.get("reason_class") not in REASON_CLASSES:
            raise WatchkeeperError(f"reason class must be one of {', '.join(REASON_CLASSES)}")
        return {
            "from_version": check_text("from version", str(p["from_version"]), allow_empty=False),
            "to_version": check_text("to version", str(p["to_version"]), allow_empty=False),
            "reason_class": p["reason_class"],
            "incident_ref": check_text("incident reference", p.get("incident_ref", "")),
            "reason": check_text("reason", p.get("reason", "")),
            "evidence": to_jsonable(p.get("evidence", {})),
        }
    raise WatchkeeperError(f"an outbox entry is one of {', '.join(KINDS)}, not {kind!r}")


def add_entry(
    path: Path | str,
    kind: str,
    payload: Mapping[str, Any],
    *,
    signer: Signer,
    author: str | None = None,
    entry_id: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxEntry:
    """Sign an entry with ``signer`` (the author's key) and append it to the bundle."""
    from watchkeeper.core.governance.identity import os_login

    path = Path(path)
    try:
        clean = check_payload(kind, payload)
    except KeyError as exc:
        raise WatchkeeperError(f"a {kind} entry needs {exc.args[0]}") from None
    with open_bundle(path, extract=False) as bundle:
        manifest_digest = bundle.manifest_digest
        model = bundle.model
    entry_id = entry_id or uuid.uuid4().hex
    if not fmt.ENTRY_ID.match(entry_id):
        raise WatchkeeperError(f"an outbox entry id is 32 lowercase hex digits, got {entry_id!r}")
    created = to_jsonable((now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    author = author or os_login()

    def build(head: fmt.ChainHead) -> OutboxEntry:
        return OutboxEntry(
            id=entry_id,
            kind=kind,
            model=model,
            payload=clean,
            created_at=created,
            author=author,
            key_id=signer.key_id,
            public_key=signer.public_key,
            bundle=manifest_digest,
            seq=head.seq + 1,
            prev=head.digest,
            signature="",
        )

    entry = append_entry(path, manifest_digest, build, signer)
    return dataclasses.replace(entry, signer=author)  # made with the caller's own key


def append_entry(
    path: Path,
    manifest_digest: str,
    build: Callable[[fmt.ChainHead], OutboxEntry],
    signer: Signer,
) -> OutboxEntry:
    """Sign the entry ``build`` makes on the head of the bundle's outbox chain and append it,
    all under the bundle's lock (so two writers never claim the same place)."""
    made: list[OutboxEntry] = []

    def members(head: fmt.ChainHead) -> dict[str, bytes]:
        unsigned = build(head)
        block = fmt.sign_document(unsigned.document(), signer)
        made.append(dataclasses.replace(unsigned, signature=block["signature"]))
        return {f"outbox/{made[-1].id}.json": fmt.json_bytes(made[-1].to_dict())}

    written = fmt.append_members(path, members, manifest_digest)
    entry = made[-1]
    data = written[f"outbox/{entry.id}.json"]
    seen.note(manifest_digest, fmt.ChainHead(entry.seq, fmt.bytes_digest(data)))
    return entry


def add_incident_note(
    path: Path | str,
    *,
    title: str,
    starts_at: dt.datetime | str,
    ends_at: dt.datetime | str | None = None,
    body: str = "",
    links: Sequence[Mapping[str, str]] = (),
    signer: Signer,
    author: str | None = None,
) -> OutboxEntry:
    payload: dict[str, object] = {
        "title": title,
        "body": body,
        "starts_at": starts_at,
        "ends_at": ends_at,
    }
    payload["links"] = list(links)
    return add_entry(path, "incident_note", payload, signer=signer, author=author)


def add_card_draft(
    path: Path | str,
    *,
    model_version: str,
    content: Mapping[str, Any],
    base_revision: int | None,
    signer: Signer,
    author: str | None = None,
) -> OutboxEntry:
    payload = {"model_version": model_version, "content": content, "base_revision": base_revision}
    return add_entry(path, "model_card", payload, signer=signer, author=author)


def add_decision(
    path: Path | str,
    kind: str,
    payload: Mapping[str, Any],
    *,
    signer: Signer,
    author: str | None = None,
) -> OutboxEntry:
    """An approval or rollback decision made offline."""
    if kind not in ("approval", "rollback"):
        raise WatchkeeperError(f"a decision is an approval or a rollback, not {kind!r}")
    return add_entry(path, kind, payload, signer=signer, author=author)
