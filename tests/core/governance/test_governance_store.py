"""The store on SQLite and on PostgreSQL: the same tests, both engines."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.core.errors import SpecError, WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance import (
    CARD_FIELDS,
    CardConflict,
    GovernanceStore,
    schema,
    verify_audit,
)
from watchkeeper.core.governance.records import record_text
from watchkeeper.core.governance.signing import verify_signature

SPEC = """\
[model]
name = "fraud-detector"

[telemetry]
source = "../telemetry.duckdb#predictions"

[governance]
require_verified_identity = {required}
"""

EVIDENCE = {
    "gate": {"passed": True, "primary_metric": "roc_auc", "delta": 0.0123},
    "reference_digest": "sha256:" + "ab" * 32,
    "window_digest": "sha256:" + "cd" * 32,
}


def _write_everything(store: GovernanceStore, tmp_path: Path) -> dict:
    spec_file = tmp_path / "fraud-detector.toml"
    spec_file.write_text(SPEC.format(required="false"), encoding="utf-8")
    spec = store.import_spec(spec_file)
    approval = store.record_approval(
        "fraud-detector",
        "2",
        evidence=EVIDENCE,
        policy={"min_improvement": 0.0},
        comment="meets the gate",
    )
    rollback = store.record_rollback(
        "fraud-detector",
        "2",
        "1",
        reason_class="sudden_incident",
        incident_ref="INC-42",
        reason="score distribution collapsed",
        evidence={"psi": 0.41},
    )
    applied = store.record_rollback_applied(rollback.id, result="succeeded", detail="alias moved")
    card = store.save_card("fraud-detector", "2", {"owner": "risk team"}, base_revision=None)
    note = store.record_incident_note(
        "fraud-detector",
        starts_at=dt.datetime(2026, 1, 20, 3, 0, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 1, 20, 9, 30),
        title="score collapse",
        body="upstream feature went null",
        links=[rollback, approval],
    )
    return {
        "spec": spec,
        "approval": approval,
        "rollback": rollback,
        "applied": applied,
        "card": card,
        "note": note,
    }


def test_every_record_kind_round_trips_and_the_chain_holds(store, tmp_path):
    written = _write_everything(store, tmp_path)
    approval = store.approvals("fraud-detector")[0]
    assert approval == written["approval"]
    assert approval.evidence == EVIDENCE
    assert approval.evidence_digest == digest(EVIDENCE)
    assert store.rollbacks()[0] == written["rollback"]
    assert store.rollback_applications(written["rollback"].id) == [written["applied"]]
    assert store.card("fraud-detector", "2") == written["card"]
    note = store.incident_notes("fraud-detector")[0]
    assert note == written["note"]
    assert note.links == [
        {"record": "rollbacks", "id": written["rollback"].id},
        {"record": "approvals", "id": written["approval"].id},
    ]
    assert note.ends_at == dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC)

    entries = store.audit_entries()
    # the key registration, then one entry per write, in order, chained
    assert [e.action for e in entries] == [
        "identity.registered",
        "spec.imported",
        "approval.approve",
        "rollback.decided",
        "rollback.succeeded",
        "model_card.saved",
        "incident_note.recorded",
    ]
    assert [e.seq for e in entries] == list(range(1, 8))
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert entries[0].prev_hash == schema.GENESIS_HASH

    report = verify_audit(store.url)
    assert report.ok, report.problems
    assert (report.entries, report.records) == (7, 7)
    assert report.head_hash == entries[-1].entry_hash


def test_identity_is_the_server_role_on_postgres_and_the_unverified_os_login_on_sqlite(store):
    a = store.record_approval("m", "1", evidence={})
    if store.dialect == "postgresql":
        assert (a.actor, a.actor_verified) == ("postgres", True)
        assert "verified by the database server" in a.identity_note
    else:
        import getpass

        assert (a.actor, a.actor_verified) == (getpass.getuser(), False)
        assert "unverified" in a.identity_note
        assert "unverified" in store.identity.describe()
    # server time: close to now, timezone-aware UTC
    assert abs(a.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_the_hash_and_signature_cover_every_stored_column():
    for table in schema.RECORD_TABLES:
        covered = {c.name for c in table.columns} - schema.UNHASHED
        assert covered | schema.UNHASHED == {c.name for c in table.columns}
        assert {"id", "created_at", "actor", "actor_verified", "key_id"} <= covered


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if not value:
        return "x"
    return value[:-1] + ("0" if value[-1] != "0" else "1")  # same length: fits VARCHAR(n)


@pytest.mark.parametrize("table", ["approvals", "rollbacks", "model_cards", "incident_notes"])
def test_changing_any_single_stored_field_is_caught_and_names_the_record(
    store, tmp_path, table, tamper
):
    written = _write_everything(store, tmp_path)
    record = {
        "approvals": written["approval"],
        "rollbacks": written["rollback"],
        "model_cards": written["card"],
        "incident_notes": written["note"],
    }[table]
    t = schema.RECORD_TABLE_BY_NAME[table]
    engine = sa.create_engine(store.url)
    with engine.connect() as conn:
        original = dict(conn.execute(sa.select(t).where(t.c.id == record.id)).one()._mapping)
    engine.dispose()
    for column in t.columns:
        if column.name == "id" or original[column.name] is None:
            continue
        stmt = f"UPDATE {table} SET {column.name} = :v WHERE id = :id"
        if isinstance(original[column.name], dt.datetime) and store.dialect == "sqlite":
            new = _changed(original[column.name]).strftime("%Y-%m-%d %H:%M:%S.%f")
        else:
            new = _changed(original[column.name])
        assert tamper(store.url, stmt, {"v": new, "id": record.id}) == 1
        report = verify_audit(store.url)
        assert not report.ok, f"changing {table}.{column.name} went unnoticed"
        assert report.first_broken.record_id == record.id, (column.name, report.problems)
        old = original[column.name]
        if isinstance(old, dt.datetime) and store.dialect == "sqlite":
            old = old.strftime("%Y-%m-%d %H:%M:%S.%f")
        tamper(store.url, stmt, {"v": old, "id": record.id})
        assert verify_audit(store.url).ok, f"restoring {table}.{column.name}"


def test_edited_evidence_json_and_edited_signature_are_caught(store, tamper):
    keep = store.record_approval("m", "1", evidence={"auc": 0.8})
    target = store.record_approval("m", "2", evidence={"auc": 0.9}, comment="go")
    tamper(
        store.url,
        "UPDATE approvals SET evidence = :e WHERE id = :id",
        {"e": canonical_json({"auc": 0.99}), "id": target.id},
    )
    report = verify_audit(store.url)
    assert not report.ok
    assert report.first_broken.record_id == target.id
    assert "altered" in report.first_broken.message
    assert any("evidence does not match its digest" in p.message for p in report.problems)
    assert keep.id not in {p.record_id for p in report.problems}
    tamper(
        store.url,
        "UPDATE approvals SET evidence = :e WHERE id = :id",
        {"e": canonical_json({"auc": 0.9}), "id": target.id},
    )
    assert verify_audit(store.url).ok

    # another valid-looking signature (of a different record) is still wrong
    tamper(
        store.url,
        "UPDATE approvals SET signature = :s WHERE id = :id",
        {"s": keep.signature, "id": target.id},
    )
    report = verify_audit(store.url)
    assert report.first_broken.record_id == target.id
    assert "signature does not verify" in report.first_broken.message


def test_a_deleted_audit_entry_or_record_is_caught(store, tamper):
    first = store.record_approval("m", "1", evidence={})
    second = store.record_approval("m", "2", evidence={})
    store.record_approval("m", "3", evidence={})
    entries = store.audit_entries()
    middle = next(e for e in entries if e.record_id == second.id)
    tamper(store.url, "DELETE FROM audit_log WHERE seq = :s", {"s": middle.seq})
    report = verify_audit(store.url)
    assert not report.ok
    assert report.first_broken.seq == middle.seq + 1
    assert f"#{middle.seq}" in report.first_broken.message and "missing" in str(report.first_broken)
    assert any(p.record_id == second.id and "no audit entry" in p.message for p in report.problems)

    # the last entry and its record removed together leave a consistent but shorter chain:
    # caught against an anchor noted earlier
    anchor = entries[-1].entry_hash
    tamper(store.url, "DELETE FROM approvals WHERE id = :id", {"id": first.id})
    report = verify_audit(store.url, anchor=anchor)
    assert any(p.record_id == first.id and "missing" in p.message for p in report.problems)


def test_a_signature_made_with_another_users_key_is_caught(url, tmp_path, tamper):
    from watchkeeper.core.governance.signing import Signer

    with GovernanceStore.open(url, create=True) as mine:
        target = mine.record_approval("m", "2", evidence={"auc": 0.9})
    other = Signer.generate()
    if url.startswith("sqlite"):
        with GovernanceStore.open(url, actor="mallory", signer=other) as theirs:
            theirs.record_approval("m", "1", evidence={})
    else:  # on PostgreSQL another login role registers its key
        from watchkeeper.core.governance.roles import add_user, init_roles

        init_roles(url)
        add_user(url, "mallory", "approver", "pw-m")
        with GovernanceStore.open(
            sa.make_url(url)
            .set(username="mallory", password="pw-m")
            .render_as_string(hide_password=False),
            signer=other,
        ) as theirs:
            theirs.record_approval("m", "1", evidence={})
    assert verify_audit(url).ok

    # forge: re-sign alice's approval with mallory's key, fixing the record's own hash
    t = schema.approvals
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = dict(conn.execute(sa.select(t).where(t.c.id == target.id)).one()._mapping)
    engine.dispose()
    row["key_id"] = other.key_id
    text = record_text(t, row)
    row["record_hash"] = digest(json.loads(text))
    row["signature"] = other.sign(text)
    assert verify_signature(other.public_key, text, row["signature"])
    tamper(
        url,
        "UPDATE approvals SET key_id = :k, record_hash = :h, signature = :s WHERE id = :id",
        {"k": row["key_id"], "h": row["record_hash"], "s": row["signature"], "id": target.id},
    )
    report = verify_audit(url)
    assert report.first_broken.record_id == target.id
    messages = " | ".join(p.message for p in report.problems)
    assert "signed with the key of 'mallory'" in messages


HOSTILE = [
    'it\'s "quoted" `back` \\ slash',
    "'); DROP TABLE approvals; --",
    "Robert'); DELETE FROM audit_log WHERE ('1'='1",
    "".join(chr(c) for c in range(1, 32)) + "\x7f\u2028\u2029\u200b\u202e",
    "line1\r\nline2\rline3\n",
    "emoji 🛡️ and CJK 監査 and combining é",
    "%s %(x)s {0} ${x} :param ?",
]


def test_hostile_text_is_stored_and_read_back_verbatim(store):
    big = ("x'\"; -- \x01\n" * 100_000)[:1_000_000]
    for text in [*HOSTILE, big]:
        a = store.record_approval(
            text[:150] or "m", text[:150], evidence={"note": text}, comment=text, role="champion"
        )
        back = next(x for x in store.approvals() if x.id == a.id)
        assert back.comment == text
        assert back.evidence == {"note": text}
        assert back.model == text[:150]
    note = store.record_incident_note(
        "m", starts_at=dt.datetime(2026, 1, 1), title=HOSTILE[1], body=big
    )
    assert store.incident_notes("m")[0].body == big == note.body
    assert verify_audit(store.url).ok


def test_text_no_engine_can_store_is_refused_clearly_and_nothing_is_written(store):
    with pytest.raises(WatchkeeperError, match=r"comment contains a NUL character.*position 3"):
        store.record_approval("m", "1", evidence={}, comment="abc\x00def")
    with pytest.raises(WatchkeeperError, match="unpaired surrogate"):
        store.record_approval("m", "1", evidence={"x": "\ud800"})
    with pytest.raises(WatchkeeperError, match="cannot be stored as JSON"):
        store.record_approval("m", "1", evidence={"x": float("nan")})
    assert store.approvals() == [] and store.audit_entries() == []


def test_a_stale_model_card_save_is_refused_and_neither_edit_is_lost(url):
    with GovernanceStore.open(url, create=True) as a, GovernanceStore.open(url) as b:
        first = a.save_card("fraud-detector", "2", {"owner": "risk"}, base_revision=None)
        # both open revision 1 and edit
        mine = {**first.content, "limitations": "weak on new merchants"}
        theirs = {**first.content, "escalation_path": "page on-call"}
        saved = a.save_card("fraud-detector", "2", mine, base_revision=first.revision)
        with pytest.raises(CardConflict) as info:
            b.save_card("fraud-detector", "2", theirs, base_revision=first.revision)
        conflict = info.value
        assert conflict.exit_code == 1
        assert "revision 2" in str(conflict) and "not saved" in str(conflict)
        assert conflict.current == saved
        assert conflict.draft["escalation_path"] == "page on-call"
        # nothing was written by the refused save
        assert [c.revision for c in a.card_history("fraud-detector", "2")] == [1, 2]
        # merge and save on the newest revision: both edits present
        merged = {**conflict.current.content, "escalation_path": conflict.draft["escalation_path"]}
        third = b.save_card("fraud-detector", "2", merged, base_revision=conflict.current.revision)
        assert third.revision == 3 and third.base_revision == 2
        assert third.content["limitations"] == "weak on new merchants"
        assert third.content["escalation_path"] == "page on-call"
        assert set(third.content) == set(CARD_FIELDS)
        # a second "new card" is a conflict too
        with pytest.raises(CardConflict):
            a.save_card("fraud-detector", "2", {"owner": "x"}, base_revision=None)
        with pytest.raises(WatchkeeperError, match="did you mean 'limitations'"):
            a.save_card("fraud-detector", "2", {"limitation": "x"}, base_revision=3)
    assert verify_audit(url).ok


def test_specs_are_versioned_and_export_byte_for_byte(store, tmp_path):
    f = tmp_path / "fraud.toml"
    f.write_text(SPEC.format(required="false") + "# a comment, kept\n", encoding="utf-8")
    v1 = store.import_spec(f)
    assert (v1.model, v1.version) == ("fraud-detector", 1)
    assert store.import_spec(f) == v1  # unchanged text: no new version
    f.write_text(SPEC.format(required="true"), encoding="utf-8")
    v2 = store.import_spec(f)
    assert v2.version == 2 and v2.spec().governance.require_verified_identity
    out = store.export_spec("fraud-detector", tmp_path / "out.toml", version=1)
    assert out.read_bytes() == (SPEC.format(required="false") + "# a comment, kept\n").encode()
    assert store.spec_version("fraud-detector").version == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "x"\nnmae = 1\n[telemetry]\nsource = "a.csv"\n')
    with pytest.raises(SpecError, match="unknown key"):
        store.import_spec(bad)
    with pytest.raises(WatchkeeperError, match="no monitor spec of 'nope'"):
        store.export_spec("nope", tmp_path / "x.toml")
    assert [v.version for v in store.spec_versions("fraud-detector")] == [1, 2]


def test_a_spec_requiring_verified_identity_refuses_an_unverified_approval(store, tmp_path):
    store.import_spec_text(SPEC.format(required="true"), source=str(tmp_path / "s.toml"))
    if store.identity.verified:
        assert store.record_approval("fraud-detector", "2", evidence={}).actor_verified
    else:
        with pytest.raises(WatchkeeperError, match=r"require a verified identity.*unverified"):
            store.record_approval("fraud-detector", "2", evidence={})
        assert store.approvals() == []
        # other models, and an explicit override, are not affected
        store.record_approval("other", "1", evidence={})
    with pytest.raises(WatchkeeperError, match="reason class must be one of"):
        store.record_rollback("m", "2", "1", reason_class="bad vibes")


def test_links_and_ranges_of_incident_notes_are_checked(store):
    with pytest.raises(WatchkeeperError, match="no approvals record 'nope'"):
        store.record_incident_note(
            "m", starts_at=dt.datetime(2026, 1, 2), title="t", links=[("approvals", "nope")]
        )
    with pytest.raises(WatchkeeperError, match="cannot end before it starts"):
        store.record_incident_note(
            "m", starts_at=dt.datetime(2026, 1, 2), ends_at=dt.datetime(2026, 1, 1), title="t"
        )
    with pytest.raises(WatchkeeperError, match="no rollback decision"):
        store.record_rollback_applied("nope", result="succeeded")
    assert store.audit_entries() == []


def test_append_only_guards_refuse_update_and_delete(store):
    a = store.record_approval("m", "1", evidence={})
    engine = sa.create_engine(store.url)
    try:
        for statement in (
            "UPDATE approvals SET comment = 'x'",
            "DELETE FROM approvals",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'x'",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert store.approvals() == [a]
    assert verify_audit(store.url).ok


def test_verify_blames_a_planted_identity_row_not_the_key_owner(tmp_path, tamper):
    """A row outside the chain carrying alice's key id must not make her records look forged."""
    import uuid

    url = f"sqlite:///{tmp_path / 'g.db'}"
    with GovernanceStore.open(url, create=True, actor="alice") as alice:
        genuine = alice.record_approval("m", "1", evidence={"auc": 0.9})
        alices_key = alice.signer.key_id
    planted = uuid.uuid4().hex
    # the attacker holding the file drops whatever guards stand in the way
    tamper(url, "DROP INDEX IF EXISTS uq_identities_key_id")
    tamper(
        url,
        "INSERT INTO identities (id, created_at, actor, actor_verified, key_id, record_hash, "
        "signature, public_key) VALUES (:id, '2026-01-01 00:00:00', 'mallory', 0, :key, "
        "'sha256:x', 'x', 'cA==')",
        {"id": planted, "key": alices_key},
    )
    report = verify_audit(url)
    assert not report.ok
    assert {p.record_id for p in report.problems} == {planted}, report.problems
    assert genuine.id not in str([str(p) for p in report.problems])
