"""The outbox syncs to the shared database once: twice, after a crash, with conflicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle import sync as sync_module
from watchkeeper.core.bundle.open import open_bundle
from watchkeeper.core.bundle.outbox import (
    add_card_draft,
    add_decision,
    add_entry,
    add_incident_note,
)
from watchkeeper.core.bundle.sync import sync_bundle
from watchkeeper.core.errors import NegativeFinding, WatchkeeperError
from watchkeeper.core.governance import GovernanceStore, schema
from watchkeeper.core.governance.identity import load_signer, os_login
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.verify import verify_audit

ALICE = Signer.from_seed("bundle tests: alice")


def _count(url: str, table: sa.Table, ids: list[str] | None = None) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            q = sa.select(sa.func.count()).select_from(table)
            if ids is not None:
                q = q.where(table.c.id.in_(ids))
            return conn.execute(q).scalar_one()
    finally:
        engine.dispose()


def _latest_card_revision(bundle: Path, version: str) -> int:
    with open_bundle(bundle, extract=False) as b:
        return max(
            c["revision"] for c in b.governance["model_cards"] if c["model_version"] == version
        )


def _three_entries(bundle: Path, signer: Signer = ALICE) -> list[Any]:
    base = _latest_card_revision(bundle, "2")
    return [
        add_incident_note(
            bundle,
            title="latency spike seen on the train",
            starts_at="2026-04-01T06:00:00Z",
            ends_at="2026-04-01T09:00:00Z",
            body="p99 doubled",
            signer=signer,
        ),
        add_card_draft(
            bundle,
            model_version="2",
            base_revision=base,
            signer=signer,
            content={"owner": "fraud team", "limitations": "weak on new merchants"},
        ),
        add_decision(
            bundle,
            "approval",
            {
                "model_version": "2",
                "decision": "reject",
                "role": "champion",
                "evidence": {"note": "offline review"},
                "comment": "not yet",
            },
            signer=signer,
        ),
    ]


def _tables_by_count(url: str) -> dict[str, int]:
    return {t.name: _count(url, t) for t in sync_module.TABLES.values()}


def test_sync_twice_records_each_entry_once(bundle_file: Path, shared_db: str) -> None:
    entries = _three_entries(bundle_file)
    before = _tables_by_count(shared_db)
    first = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert first.synced == [e.id for e in sorted(entries, key=lambda e: (e.created_at, e.id))]
    assert first.complete and first.receipts_written == 3
    after = _tables_by_count(shared_db)
    assert {k: after[k] - before[k] for k in after} == {
        "incident_notes": 1,
        "model_cards": 1,
        "approvals": 1,
        "rollbacks": 0,
    }
    second = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert second.synced == [] and sorted(second.already_synced) == sorted(e.id for e in entries)
    assert second.receipts_written == 0
    assert _tables_by_count(shared_db) == after
    # the records carry the entries' ids, and who synced them
    with GovernanceStore.open(shared_db) as store:
        note = next(n for n in store.incident_notes("fraud-detector") if n.id == entries[0].id)
        assert note.title == "latency spike seen on the train"
        assert note.actor == os_login() and note.key_id == ALICE.key_id
        card = store.card("fraud-detector", "2")
        assert card.id == entries[1].id and card.content["owner"] == "fraud team"
    assert verify_audit(shared_db).ok
    with open_bundle(bundle_file, extract=False) as b:
        assert set(b.synced) == {e.id for e in entries} and b.pending() == []
        assert "0 not yet synced" in b.summary()


class _Crash(Exception):
    pass


def test_interrupted_sync_loses_and_duplicates_nothing(
    bundle_file: Path, shared_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = _three_entries(bundle_file)
    ids = [e.id for e in entries]
    real_push = sync_module._push
    calls = []

    def crash_on_second(store: Any, entry: Any) -> Any:
        calls.append(entry.id)
        if len(calls) == 2:
            raise _Crash("power cut")
        return real_push(store, entry)

    monkeypatch.setattr(sync_module, "_push", crash_on_second)
    with pytest.raises(_Crash):
        sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert sum(_count(shared_db, t, ids) for t in sync_module.TABLES.values()) == 1
    monkeypatch.setattr(sync_module, "_push", real_push)
    again = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert len(again.synced) == 2 and len(again.already_synced) == 1
    assert sum(_count(shared_db, t, ids) for t in sync_module.TABLES.values()) == 3
    assert verify_audit(shared_db).ok


def test_crash_after_commit_before_receipts(
    bundle_file: Path, shared_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database, not the receipts, decides what is synced."""
    entries = _three_entries(bundle_file)
    ids = [e.id for e in entries]

    def crash(*args: object) -> None:
        raise _Crash("killed before the receipts")

    monkeypatch.setattr(fmt, "append_members", crash)
    with pytest.raises(_Crash):
        sync_bundle(bundle_file, shared_db, signer=ALICE)
    monkeypatch.undo()
    with open_bundle(bundle_file, extract=False) as b:
        assert b.synced == {} and len(b.pending()) == 3
    again = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert again.synced == [] and len(again.already_synced) == 3 and again.receipts_written == 3
    assert sum(_count(shared_db, t, ids) for t in sync_module.TABLES.values()) == 3


def test_card_draft_over_a_newer_revision_is_reported(bundle_file: Path, shared_db: str) -> None:
    base = _latest_card_revision(bundle_file, "2")
    draft = add_card_draft(
        bundle_file,
        model_version="2",
        base_revision=base,
        signer=ALICE,
        content={"owner": "me, offline"},
    )
    with GovernanceStore.open(shared_db, signer=Signer.from_seed("carol"), actor="carol") as other:
        newer = other.save_card("fraud-detector", "2", {"owner": "carol"}, base_revision=base)
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(report.conflicts) == [draft.id] and report.synced == []
    assert f"revision {newer.revision}" in report.conflicts[draft.id]
    with pytest.raises(NegativeFinding) as caught:
        report.raise_for_outcome()
    assert caught.value.exit_code == 1
    with GovernanceStore.open(shared_db) as store:
        assert store.card("fraud-detector", "2").content["owner"] == "carol"  # not overwritten
    again = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(again.conflicts) == [draft.id]
    with open_bundle(bundle_file, extract=False) as b:
        assert [e.id for e in b.pending()] == [draft.id]  # kept, to merge and decide again


def test_decision_after_a_newer_decision_is_reported(bundle_file: Path, shared_db: str) -> None:
    mine = add_decision(
        bundle_file,
        "rollback",
        {"from_version": "2", "to_version": "1", "reason_class": "sudden_incident"},
        signer=ALICE,
    )
    with GovernanceStore.open(shared_db, signer=Signer.from_seed("dave"), actor="dave") as other:
        other.record_approval("fraud-detector", "2", evidence={"ok": True}, comment="meanwhile")
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(report.conflicts) == [mine.id]
    assert (
        "dave" in report.conflicts[mine.id]
        and "after this bundle was frozen" in (report.conflicts[mine.id])
    )
    assert _count(shared_db, schema.rollbacks, [mine.id]) == 0


def test_entry_signed_by_someone_else_is_refused(bundle_file: Path, shared_db: str) -> None:
    bob = Signer.from_seed("bundle tests: bob")
    forged = add_incident_note(
        bundle_file, title="bob's words", starts_at="2026-04-01", signer=bob, author="bob"
    )
    mine = add_incident_note(bundle_file, title="mine", starts_at="2026-04-01", signer=ALICE)
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert report.synced == [mine.id] and list(report.refused) == [forged.id]
    reason = report.refused[forged.id]
    assert bob.key_id in reason and ALICE.key_id in reason and "only its author" in reason
    with pytest.raises(WatchkeeperError) as caught:
        report.raise_for_outcome()
    assert caught.value.exit_code == 2
    assert _count(shared_db, schema.incident_notes, [forged.id]) == 0


def test_key_registered_to_another_identity_is_refused(bundle_file: Path, shared_db: str) -> None:
    # Alice's key is already on record for "alice"; the signed-in identity (the OS login)
    # cannot push entries signed with it.
    with GovernanceStore.open(shared_db, signer=ALICE, actor="alice") as store:
        store.record_incident_note("fraud-detector", starts_at=_t(), title="alice online")
    entry = add_incident_note(bundle_file, title="offline", starts_at="2026-04-01", signer=ALICE)
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert (
        list(report.refused) == [entry.id] and "registered to 'alice'" in report.refused[entry.id]
    )


def _t():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def test_cli_sync(bundle_file: Path, shared_db: str, cli, capsys) -> None:  # type: ignore[no-untyped-def]
    me = load_signer(os_login())  # the keyring's key of the signed-in identity
    add_incident_note(bundle_file, title="from the train", starts_at="2026-04-01", signer=me)
    assert cli("bundle", "sync", str(bundle_file), "--db", shared_db) == 0
    assert "1 entries pushed" in capsys.readouterr().out
    assert cli("bundle", "sync", str(bundle_file), "--db", shared_db) == 0
    assert "0 entries pushed, 1 already there" in capsys.readouterr().out
    base = _latest_card_revision(bundle_file, "1")
    add_card_draft(bundle_file, model_version="1", base_revision=base - 1, content={}, signer=me)
    assert cli("bundle", "sync", str(bundle_file), "--db", shared_db) == 1
    assert "conflict" in capsys.readouterr().err
    assert cli("bundle", "sync", str(bundle_file), "--db", "sqlite:////nonexistent/x.db") == 2


def test_concurrent_outbox_writers_lose_nothing(bundle_file: Path) -> None:
    import threading

    errors: list[BaseException] = []

    def write(who: str) -> None:
        try:
            for i in range(4):
                add_incident_note(bundle_file, title=f"{who} {i}", starts_at=_t(), signer=ALICE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_bundle(bundle_file, extract=False) as b:
        assert sorted(e.payload["title"] for e in b.outbox) == sorted(
            f"{w} {i}" for w in "abc" for i in range(4)
        )
        # one chain, every place taken once: the lock covers reading the head and appending
        assert b.outbox_problems == [] and [e.seq for e in b.outbox] == list(range(1, 13))
    assert sorted(p.name for p in bundle_file.parent.iterdir()) == [bundle_file.name]


def test_an_unrelated_record_under_the_entry_id_is_not_taken_for_synced(
    bundle_file: Path, shared_db: str
) -> None:
    taken = "ab" * 16
    with GovernanceStore.open(
        shared_db, signer=Signer.from_seed("carol"), actor="carol", ids=lambda: taken
    ) as other:
        other.record_incident_note("fraud-detector", starts_at=_t(), title="carol's")
    add_entry(
        bundle_file,
        "incident_note",
        {"title": "mine", "starts_at": _t()},
        signer=ALICE,
        entry_id=taken,
    )
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(report.refused) == [taken] and "different record" in report.refused[taken]
    assert report.already_synced == []


def test_a_self_signed_malformed_entry_is_refused_not_crashed(
    bundle_file: Path, shared_db: str
) -> None:
    from watchkeeper.core.bundle.open import OutboxEntry
    from watchkeeper.core.bundle.outbox import append_entry

    with open_bundle(bundle_file, extract=False) as b:
        digest = b.manifest_digest

    def build(head: fmt.ChainHead) -> OutboxEntry:
        return OutboxEntry(
            id="cd" * 16,
            kind="approval",
            model="fraud-detector",
            payload={"decision": 7},
            created_at="2026-04-01T00:00:00Z",
            author="me",
            key_id=ALICE.key_id,
            public_key=ALICE.public_key,
            bundle=digest,
            seq=head.seq + 1,
            prev=head.digest,
            signature="",
        )

    entry = append_entry(bundle_file, digest, build, ALICE)
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(report.refused) == [entry.id] and "not a valid entry" in report.refused[entry.id]
    with pytest.raises(WatchkeeperError, match="link is"):
        add_incident_note(
            bundle_file, title="t", starts_at=_t(), links=[{"record": 1}], signer=ALICE
        )
