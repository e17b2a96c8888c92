"""PostgreSQL alone: roles, grants, server-recorded identity and the append-only guards.

alice and carol are approvers, bob a viewer, admin an admin (conftest ``team``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance import GovernanceStore, schema, verify_audit
from watchkeeper.core.governance.roles import allow_changes

pytestmark = pytest.mark.postgres


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def _run(url: str, statement: str, params: dict | None = None, *, allow: bool = False) -> int:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if allow:
                allow_changes(conn)
            return conn.execute(sa.text(statement), params or {}).rowcount
    finally:
        engine.dispose()


def _raw_approval(actor: str, **overrides) -> dict:
    row = {
        "id": uuid.uuid4().hex,
        "actor": actor,
        "actor_verified": True,
        "key_id": "sha256:x",
        "record_hash": "sha256:x",
        "signature": "x",
        "model": "m",
        "model_version": "9",
        "role": "champion",
        "decision": "approve",
        "policy": "{}",
        "evidence": "{}",
        "evidence_digest": "sha256:x",
        "comment": "",
    }
    row.update(overrides)
    return row


INSERT = (
    "INSERT INTO approvals (id, created_at, actor, actor_verified, key_id, record_hash, "
    "signature, model, model_version, role, decision, policy, evidence, evidence_digest, "
    "comment) VALUES (:id, {created_at}, :actor, :actor_verified, :key_id, :record_hash, "
    ":signature, :model, :model_version, :role, :decision, :policy, :evidence, "
    ":evidence_digest, :comment)"
)


def test_alice_approves_as_herself_verified_by_the_server(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        a = alice.record_approval("fraud-detector", "2", evidence={"auc": 0.9})
    assert (a.actor, a.actor_verified) == ("alice", True)
    with GovernanceStore.open(team_db["bob"]) as bob:
        assert bob.approvals() == [a]  # viewers read
    assert verify_audit(team_db["bob"]).ok  # and verify


def test_bob_the_viewer_cannot_insert_an_approval(team_db):
    with GovernanceStore.open(team_db["bob"]) as bob:
        with pytest.raises(WatchkeeperError, match="permission denied"):
            bob.record_approval("fraud-detector", "2", evidence={})
        assert bob.approvals() == [] and bob.audit_entries() == []
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied for table approvals"):
        _run(team_db["bob"], INSERT.format(created_at="now()"), _raw_approval("bob"))


def test_alice_cannot_update_or_delete_an_approval_even_asking_to(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        a = alice.record_approval("fraud-detector", "2", evidence={}, comment="first")
    for statement in (
        "UPDATE approvals SET comment = 'edited'",
        "DELETE FROM approvals",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET actor = 'bob'",
        "TRUNCATE approvals CASCADE",
    ):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            _run(team_db["alice"], statement, allow=True)
    with GovernanceStore.open(team_db["bob"]) as bob:
        assert bob.approvals() == [a]


def test_the_admin_is_refused_by_the_trigger_unless_changes_are_allowed_explicitly(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        a = alice.record_approval("fraud-detector", "2", evidence={}, comment="first")
    for statement in ("UPDATE approvals SET comment = 'edited'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            _run(team_db["admin"], statement)
    # nobody is granted TRUNCATE; even the owner (a superuser here) meets the trigger
    with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
        _run(team_db["admin"], "TRUNCATE audit_log")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        _run(team_db["owner"], "TRUNCATE audit_log CASCADE")
    assert verify_audit(team_db["admin"]).ok
    # the explicit, transaction-scoped permission lets the admin change a row...
    assert (
        _run(
            team_db["admin"],
            "UPDATE approvals SET comment = 'edited' WHERE id = :id",
            {"id": a.id},
            allow=True,
        )
        == 1
    )
    # ...and audit verify reports it
    report = verify_audit(team_db["bob"])
    assert report.first_broken.record_id == a.id
    # the permission does not outlive its transaction
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        _run(team_db["admin"], "UPDATE approvals SET comment = 'again'")


def test_identity_cannot_be_forged_by_the_client(team_db):
    alice_url = team_db["alice"]
    # claiming to be bob in a hand-made row
    with pytest.raises(
        sa.exc.DBAPIError, match="signed in as alice, cannot record in approvals as bob"
    ):
        _run(alice_url, INSERT.format(created_at="clock_timestamp()"), _raw_approval("bob"))
    # claiming an unverified identity, or a time that is not the server's
    with pytest.raises(sa.exc.DBAPIError, match="actor_verified must be true"):
        _run(
            alice_url,
            INSERT.format(created_at="clock_timestamp()"),
            _raw_approval("alice", actor_verified=False),
        )
    with pytest.raises(sa.exc.DBAPIError, match="not the server's time"):
        _run(
            alice_url,
            INSERT.format(created_at="now() - interval '30 days'"),
            _raw_approval("alice"),
        )
    with pytest.raises(sa.exc.DBAPIError, match="not the server's time"):
        _run(
            alice_url, INSERT.format(created_at="now() + interval '1 hour'"), _raw_approval("alice")
        )
    # nor by a client that lies about itself
    with GovernanceStore.open(alice_url) as alice:
        object.__setattr__(alice, "identity", type(alice.identity)("bob", True))
        with pytest.raises(WatchkeeperError, match=r"signed in as alice.*as bob"):
            alice.record_approval("fraud-detector", "2", evidence={})
    # nor register a key in someone else's name
    engine = _engine(alice_url)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="signed in as alice"), engine.begin() as c:
            c.execute(
                schema.identities.insert().values(
                    id=uuid.uuid4().hex,
                    created_at=sa.func.clock_timestamp(),
                    actor="bob",
                    actor_verified=True,
                    key_id="sha256:k",
                    record_hash="sha256:h",
                    signature="s",
                    public_key="p",
                )
            )
    finally:
        engine.dispose()
    # the client cannot choose who or when on PostgreSQL at all
    with pytest.raises(WatchkeeperError, match="server records who wrote and when"):
        GovernanceStore.open(alice_url, actor="bob")
    with pytest.raises(WatchkeeperError, match="server records who wrote and when"):
        GovernanceStore.open(alice_url, clock=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with GovernanceStore.open(team_db["bob"]) as bob:
        assert bob.approvals() == [] and bob.audit_entries() == []


def test_a_key_registered_to_someone_else_is_refused(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        alice.record_approval("m", "1", evidence={})
        alices_key = alice.signer
    with (
        GovernanceStore.open(team_db["carol"], signer=alices_key) as carol,
        pytest.raises(WatchkeeperError, match="registered to 'alice'"),
    ):
        carol.record_approval("m", "2", evidence={})


def test_an_outdated_database_is_reported_to_a_user_who_cannot_upgrade_it(team_db, postgres):
    from watchkeeper.core.governance import db

    db.downgrade(team_db["owner"], "0002_decisions")
    with pytest.raises(
        WatchkeeperError,
        match=r"at revision 0002_decisions.*needs 0005_chain_constraints.*"
        r"db upgrade",
    ):
        GovernanceStore.open(team_db["alice"])
    assert db.upgrade(team_db["owner"]) == "0005_chain_constraints"
    # the upgrade granted the approvers the writers' lock, which their roles predate
    with GovernanceStore.open(team_db["alice"]) as alice:
        alice.record_approval("m", "1", evidence={})


def test_refusals_and_connection_failures_are_explained_in_one_line(team_db, postgres):
    with GovernanceStore.open(team_db["bob"]) as bob, pytest.raises(WatchkeeperError) as info:
        bob.record_approval("fraud-detector", "2", evidence={})
    message = str(info.value)
    assert "permission denied while trying to record an approval" in message
    assert "watchkeeper_approver" in message and "bob:***@" in message
    down = postgres.url("postgres", "nobody", "s3cret").replace(str(postgres.port), "1")
    with pytest.raises(WatchkeeperError, match=r"cannot connect: .*Connection refused") as info:
        GovernanceStore.open(down)
    assert "s3cret" not in str(info.value)
    with pytest.raises(WatchkeeperError, match=r"cannot connect: .*password authentication failed"):
        GovernanceStore.open(postgres.url("postgres", "alice", "wrong"))


#: The advisory-lock key writers used to serialise on ("wkaudit"); anyone who could connect
#: could take it.
_OLD_CHAIN_LOCK_KEY = int.from_bytes(b"wkaudit", "big")


def _hold(url: str, statement: str) -> tuple[sa.Engine, sa.Connection]:
    """A connection inside an open transaction that ran ``statement``; close it to release."""
    engine = _engine(url)
    conn = engine.connect()
    conn.begin()
    conn.execute(sa.text(statement))
    return engine, conn


def test_a_viewer_holding_the_old_advisory_lock_no_longer_blocks_writers(team_db):
    import threading

    engine, conn = _hold(team_db["bob"], f"SELECT pg_advisory_lock({_OLD_CHAIN_LOCK_KEY})")
    done = threading.Event()

    def write() -> None:
        with GovernanceStore.open(team_db["alice"]) as alice:
            alice.record_approval("fraud-detector", "2", evidence={})
        done.set()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        assert done.wait(timeout=15), "alice's write waited on bob's advisory lock"
    finally:
        conn.close()
        engine.dispose()
        writer.join(timeout=30)


def test_only_writers_can_take_the_lock_that_serialises_the_chain(team_db, postgres):
    from watchkeeper.core.governance.store import CHAIN_LOCK_STATEMENT

    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _hold(team_db["bob"], CHAIN_LOCK_STATEMENT)
    # nor can a role in no group, which may still connect
    _run(
        team_db["owner"],
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nogroup') THEN "
        "CREATE ROLE nogroup LOGIN PASSWORD 'pw'; END IF; END $$",
    )
    database = sa.make_url(team_db["owner"]).database
    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
        _hold(postgres.url(database, "nogroup", "pw"), CHAIN_LOCK_STATEMENT)


def test_a_writer_holding_the_lock_delays_another_at_most_the_timeout(team_db):
    import time

    from watchkeeper.core.governance.store import CHAIN_LOCK_STATEMENT, LOCK_TIMEOUT_SECONDS

    engine, conn = _hold(team_db["carol"], CHAIN_LOCK_STATEMENT)
    try:
        carol_pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with GovernanceStore.open(team_db["alice"]) as alice:
            started = time.monotonic()
            with pytest.raises(WatchkeeperError) as info:
                alice.record_approval("fraud-detector", "2", evidence={})
            waited = time.monotonic() - started
    finally:
        conn.close()
        engine.dispose()
    assert LOCK_TIMEOUT_SECONDS - 0.5 <= waited <= LOCK_TIMEOUT_SECONDS + 3
    message = str(info.value)
    assert f"another writer (role carol, pid {carol_pid}) holds the audit log; try again" in message
    assert "\n" not in message and "wk-team-pw" not in message
    with GovernanceStore.open(team_db["alice"]) as alice:  # released: writes go through again
        alice.record_approval("fraud-detector", "2", evidence={})
        assert len(alice.audit_entries()) == 2


def _raw_audit(conn: sa.Connection, actor: str, prev_hash: str, entry_hash: str) -> None:
    a = schema.audit_log
    seq = conn.execute(sa.select(sa.func.coalesce(sa.func.max(a.c.seq), 0))).scalar_one() + 1
    conn.execute(
        a.insert().values(
            seq=seq,
            created_at=sa.func.clock_timestamp(),
            actor=actor,
            actor_verified=True,
            action="approval.approve",
            table_name="approvals",
            record_id=uuid.uuid4().hex,
            record_hash="sha256:" + "1" * 64,
            prev_hash=prev_hash,
            entry_hash=entry_hash,
        )
    )


def test_an_approver_cannot_jam_the_chain_with_a_hand_made_entry(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        alice.record_approval("fraud-detector", "1", evidence={})
        head = alice.audit_entries()[-1].entry_hash
    loop = "sha256:" + "f" * 64
    attempts = {
        "references itself": (loop, loop),  # the next writer's prev_hash would collide
        "the genesis hash": (head, schema.GENESIS_HASH),  # entry #1's prev_hash already
        "the chain's head": ("sha256:" + "e" * 64, "sha256:" + "d" * 64),  # a fork
    }
    engine = _engine(team_db["carol"])
    try:
        for why, (prev_hash, entry_hash) in attempts.items():
            with pytest.raises(sa.exc.DBAPIError, match=why), engine.begin() as conn:
                _raw_audit(conn, "carol", prev_hash, entry_hash)
    finally:
        engine.dispose()
    with GovernanceStore.open(team_db["alice"]) as alice:  # writes still go through
        alice.record_approval("fraud-detector", "2", evidence={})
    assert verify_audit(team_db["bob"]).ok


def test_an_approver_cannot_register_someone_elses_key_id(team_db):
    with GovernanceStore.open(team_db["alice"]) as alice:
        alice.record_approval("fraud-detector", "1", evidence={})
        alices_key = alice.signer.key_id
    engine = _engine(team_db["carol"])
    try:
        with (
            pytest.raises(sa.exc.IntegrityError, match="uq_identities_key_id"),
            engine.begin() as c,
        ):
            c.execute(
                schema.identities.insert().values(
                    id=uuid.uuid4().hex,
                    created_at=sa.func.clock_timestamp(),
                    actor="carol",
                    actor_verified=True,
                    key_id=alices_key,
                    record_hash="sha256:h",
                    signature="s",
                    public_key="p",
                )
            )
    finally:
        engine.dispose()
    assert verify_audit(team_db["bob"]).ok
