"""On PostgreSQL the server records who synced; a viewer cannot push, another key is refused."""

from __future__ import annotations

import os
from pathlib import Path

from watchkeeper.core.bundle.outbox import add_decision, add_incident_note
from watchkeeper.core.bundle.sync import sync_bundle
from watchkeeper.core.governance import GovernanceStore, db
from watchkeeper.core.governance.roles import add_user, create_groups, init_roles
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.verify import verify_audit

PASSWORD = "wk-bundle-pw"
PEOPLE = {"bndl_alice": "approver", "bndl_bob": "viewer"}


def test_sync_records_the_server_identity(bundle_file: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    admin = postgres.url("postgres")
    create_groups(admin)
    for name, role in PEOPLE.items():
        add_user(admin, name, role, PASSWORD)
    name = f"wk_bundle_{os.getpid()}"
    owner = postgres.create_database(name)
    db.upgrade(owner)
    init_roles(owner)
    alice_url = postgres.url(name, "bndl_alice", PASSWORD)
    bob_url = postgres.url(name, "bndl_bob", PASSWORD)
    alice, bob = Signer.from_seed("pg alice"), Signer.from_seed("pg bob")

    note = add_incident_note(
        bundle_file, title="from the train", starts_at="2026-04-01", signer=alice
    )
    decision = add_decision(
        bundle_file, "approval", {"model_version": "2", "evidence": {"x": 1}}, signer=alice
    )
    bobs = add_incident_note(bundle_file, title="bob's", starts_at="2026-04-01", signer=bob)

    first = sync_bundle(bundle_file, alice_url, signer=alice)
    assert sorted(first.synced) == sorted([note.id, decision.id])
    assert "verified by the server" in first.identity and list(first.refused) == [bobs.id]
    again = sync_bundle(bundle_file, alice_url, signer=alice)
    assert again.synced == [] and len(again.already_synced) == 2

    viewer = sync_bundle(bundle_file, bob_url, signer=bob)  # bob may read, not write
    assert viewer.synced == [] and bobs.id in viewer.refused
    assert "refused" in viewer.refused[bobs.id]

    with GovernanceStore.open(owner) as store:
        notes = store.incident_notes("fraud-detector")
        approvals = store.approvals("fraud-detector")
    assert [(n.id, n.actor, n.actor_verified) for n in notes] == [(note.id, "bndl_alice", True)]
    assert [(a.id, a.actor) for a in approvals] == [(decision.id, "bndl_alice")]
    assert verify_audit(owner).ok
    _drop(postgres, name)


def _drop(postgres, name: str) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    dsn = f"host=127.0.0.1 port={postgres.port} user=postgres password={postgres.password}"
    with psycopg.connect(dsn + " dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
