"""The outbox is a signed chain: removals, forged receipts, strangers' entries and id
collisions are found at open and refused at sync (issue 17, findings 4, 5, 7 and 11)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle.open import OutboxEntry, open_bundle
from watchkeeper.core.bundle.outbox import add_decision, add_incident_note, append_entry
from watchkeeper.core.bundle.sync import sync_bundle
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance import GovernanceStore, schema
from watchkeeper.core.governance.signing import Signer

ALICE = Signer.from_seed("bundle tests: alice")
MALLORY = Signer.from_seed("bundle tests: mallory")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    """The file rewritten as a hand with a zip tool would: same members minus what was cut."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                fmt.write_member(zf, name, data)


def _notes(bundle: Path, n: int) -> list[OutboxEntry]:
    return [
        add_incident_note(bundle, title=f"note {i}", starts_at="2026-04-01", signer=ALICE)
        for i in range(n)
    ]


def _count(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def _forget_what_this_computer_saw() -> None:
    from watchkeeper.core.paths import data_dir

    shutil.rmtree(data_dir() / "anchors" / "bundles", ignore_errors=True)


def test_removing_an_entry_from_the_middle_is_found_at_open_and_refused_at_sync(
    bundle_file: Path, shared_db: str
) -> None:
    entries = _notes(bundle_file, 3)
    members = _members(bundle_file)
    del members[f"outbox/{entries[1].id}.json"]
    _rewrite(bundle_file, members)
    _forget_what_this_computer_saw()  # the chain alone shows it, on any computer
    with open_bundle(bundle_file, extract=False) as b:
        assert [e.id for e in b.outbox] == [entries[0].id, entries[2].id]
        assert len(b.outbox_problems) == 1 and "removed" in b.outbox_problems[0]
        assert "OUTBOX DAMAGED" in b.summary()
    notes_before = _count(shared_db, schema.incident_notes)
    with pytest.raises(WatchkeeperError, match=r"outbox is damaged.*nothing was synced"):
        sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert _count(shared_db, schema.incident_notes) == notes_before


@pytest.mark.parametrize("cut", [1, 2])
def test_entries_cut_off_the_end_are_found_by_what_this_computer_saw(
    bundle_file: Path, shared_db: str, cut: int
) -> None:
    entries = _notes(bundle_file, 3)
    members = _members(bundle_file)
    for e in entries[-cut:]:
        del members[f"outbox/{e.id}.json"]
    _rewrite(bundle_file, members)
    with open_bundle(bundle_file, extract=False) as b:
        assert len(b.outbox) == 3 - cut
        (problem,) = b.outbox_problems
        assert "has seen 3 outbox member(s)" in problem and f"holds {3 - cut}" in problem
    with pytest.raises(WatchkeeperError, match="outbox is damaged"):
        sync_bundle(bundle_file, shared_db, signer=ALICE)


def test_a_copy_never_seen_here_cannot_show_a_cut_end(bundle_file: Path) -> None:
    """What stays undetectable offline (ARCHITECTURE.md says so): the last entries cut off a
    copy this computer never saw leave a whole, shorter chain."""
    entries = _notes(bundle_file, 2)
    members = _members(bundle_file)
    del members[f"outbox/{entries[-1].id}.json"]
    _rewrite(bundle_file, members)
    _forget_what_this_computer_saw()
    with open_bundle(bundle_file, extract=False) as b:
        assert b.outbox_problems == [] and [e.id for e in b.outbox] == [entries[0].id]


def test_an_older_copy_opened_after_a_newer_one_is_reported(
    bundle_file: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older.wkbundle"
    _notes(bundle_file, 1)
    shutil.copyfile(bundle_file, older)
    _notes(bundle_file, 1)
    with open_bundle(older, extract=False) as b:
        assert b.outbox_problems and "older copy" in b.outbox_problems[0]


def test_cli_open_exits_1_on_a_damaged_outbox(bundle_file: Path, cli, capsys) -> None:  # type: ignore[no-untyped-def]
    entries = _notes(bundle_file, 2)
    members = _members(bundle_file)
    del members[f"outbox/{entries[0].id}.json"]
    _rewrite(bundle_file, members)
    assert cli("open", str(bundle_file), "--no-gui") == 1
    out = capsys.readouterr()
    assert "OUTBOX DAMAGED" in out.out and "outbox is damaged" in out.err


def test_an_unsigned_receipt_is_refused(bundle_file: Path) -> None:
    (entry,) = _notes(bundle_file, 1)
    fake = {"entry": entry.id, "table": "incident_notes", "record_id": entry.id, "how": "written"}
    fmt.append_members(bundle_file, {f"synced/{entry.id}.json": fmt.json_bytes(fake)})
    with pytest.raises(WatchkeeperError, match="not a signed sync receipt"):
        open_bundle(bundle_file, extract=False)


def _receipt_by(bundle: Path, entry: OutboxEntry, signer: Signer) -> None:
    """A receipt correctly signed and chained, by ``signer``."""
    from watchkeeper.core.bundle.open import receipt_document

    with open_bundle(bundle, extract=False) as b:
        digest = b.manifest_digest

    def members(head: fmt.ChainHead) -> dict[str, bytes]:
        doc = receipt_document(
            {
                "entry": entry.id,
                "table": "incident_notes",
                "record_id": entry.id,
                "store": "sqlite:///elsewhere.db",
                "synced_by": "alice",
                "identity_verified": True,
                "how": "written",
                "synced_at": "2026-04-02T00:00:00Z",
                "key_id": signer.key_id,
                "public_key": signer.public_key,
                "bundle": digest,
                "seq": head.seq + 1,
                "prev": head.digest,
            }
        )
        block = fmt.sign_document(doc, signer)
        return {f"synced/{entry.id}.json": fmt.json_bytes({**doc, "signature": block["signature"]})}

    fmt.append_members(bundle, members, digest)


def test_a_strangers_receipt_does_not_make_an_entry_look_synced(bundle_file: Path) -> None:
    (entry,) = _notes(bundle_file, 1)
    _receipt_by(bundle_file, entry, MALLORY)
    with open_bundle(bundle_file, extract=False) as b:
        assert b.synced[entry.id]["signer"] is None
        assert [e.id for e in b.pending()] == [entry.id]


def test_the_authors_own_receipt_counts(bundle_file: Path) -> None:
    (entry,) = _notes(bundle_file, 1)
    _receipt_by(bundle_file, entry, ALICE)
    with open_bundle(bundle_file, extract=False) as b:
        assert b.pending() == [] and b.outbox_problems == []


def test_an_entry_by_an_unknown_key_is_not_listed_under_its_claimed_author(
    bundle_file: Path,
) -> None:
    add_incident_note(
        bundle_file, title="I am alice", starts_at="2026-04-01", signer=MALLORY, author="alice"
    )
    with open_bundle(bundle_file, extract=False) as b:
        (entry,) = b.outbox
        assert entry.signer is None
        assert entry.by.startswith("an unknown signer") and MALLORY.key_id in entry.by
        assert "by alice" not in entry.describe()
        assert "does not know" in b.summary()
    # the same key, known to the caller, is named by the caller's name for it
    with open_bundle(bundle_file, extract=False, known_keys={MALLORY.key_id: "mallory"}) as b:
        assert b.outbox[0].by.startswith("mallory") and "claims 'alice'" in b.outbox[0].by


def test_the_exporters_key_is_known(bundle_file: Path, exporter_key: Signer) -> None:
    add_incident_note(
        bundle_file,
        title="from the exporter",
        starts_at="2026-04-01",
        signer=exporter_key,
        author="exporter",
    )
    with open_bundle(bundle_file, extract=False) as b:
        assert b.outbox[0].signer == "exporter" and b.outbox[0].by == "exporter"


def test_an_entry_reusing_a_records_id_is_refused(bundle_file: Path) -> None:
    with open_bundle(bundle_file, extract=False) as b:
        taken = b.governance["approvals"][0]["id"]
    add_incident_note(bundle_file, title="x", starts_at="2026-04-01", signer=ALICE)
    # add_entry takes only fresh hex ids; a hand-made entry can carry any 32-hex id
    if not fmt.ENTRY_ID.match(taken):
        pytest.skip("the demo's record ids are not outbox-shaped ids")
    from watchkeeper.core.bundle.outbox import add_entry

    add_entry(
        bundle_file,
        "incident_note",
        {"title": "y", "starts_at": "2026-04-01"},
        signer=ALICE,
        entry_id=taken,
    )
    with pytest.raises(WatchkeeperError, match="reuses the id of a record"):
        open_bundle(bundle_file, extract=False)


def test_two_members_claiming_one_place_are_refused(bundle_file: Path) -> None:
    (entry,) = _notes(bundle_file, 1)
    with open_bundle(bundle_file, extract=False) as b:
        digest = b.manifest_digest

    def again(head: fmt.ChainHead) -> OutboxEntry:
        return OutboxEntry(
            **{
                **entry.__dict__,
                "id": "ef" * 16,
                "seq": 1,
                "prev": digest,
                "signature": "",
                "signer": None,
            }
        )

    append_entry(bundle_file, digest, again, ALICE)
    with pytest.raises(WatchkeeperError, match="both claim outbox place 1"):
        open_bundle(bundle_file, extract=False)


def test_a_claimed_id_cannot_hide_a_newer_decision(bundle_file: Path, shared_db: str) -> None:
    """Finding 5: an entry carrying the id of a decision recorded after the export made sync
    treat that decision as known, so a stale offline approval was recorded."""
    with GovernanceStore.open(shared_db, signer=Signer.from_seed("dave"), actor="dave") as other:
        newer = other.record_approval("fraud-detector", "2", evidence={"ok": 1}, comment="now")
    from watchkeeper.core.bundle.outbox import add_entry

    decoy = add_entry(
        bundle_file,
        "incident_note",
        {"title": "decoy", "starts_at": "2026-04-01"},
        signer=MALLORY,
        author="alice",
        entry_id=newer.id if fmt.ENTRY_ID.match(newer.id) else None,
    )
    assert decoy.id == newer.id, "the store's ids are outbox-shaped (32 hex digits)"
    stale = add_decision(
        bundle_file, "approval", {"model_version": "1", "decision": "approve"}, signer=ALICE
    )
    report = sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert list(report.conflicts) == [stale.id] and "dave" in report.conflicts[stale.id]
    assert decoy.id in report.refused
    engine = sa.create_engine(shared_db)
    try:
        with engine.connect() as conn:
            t = schema.approvals
            assert conn.execute(sa.select(t.c.id).where(t.c.id == stale.id)).first() is None
    finally:
        engine.dispose()


def test_deeply_nested_json_is_one_clear_refusal(bundle_file: Path) -> None:
    name = "outbox/" + "ab" * 16 + ".json"
    fmt.append_members(bundle_file, {name: b"[" * 100_000 + b"]" * 100_000})
    with pytest.raises(WatchkeeperError, match="nested more than 64 levels"):
        open_bundle(bundle_file, extract=False)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    deep_text = json.dumps({"body": "[" * 1000 + '\\"{' * 500}).encode()
    assert fmt._nesting(deep_text) == 1
    assert fmt.load_json("x", "m", deep_text)["body"].startswith("[[[")


def test_no_lock_file_is_left_beside_the_bundle(bundle_file: Path, shared_db: str) -> None:
    _notes(bundle_file, 2)
    sync_bundle(bundle_file, shared_db, signer=ALICE)
    assert sorted(os.listdir(bundle_file.parent)) == sorted(
        [bundle_file.name, Path(shared_db.removeprefix("sqlite:///")).name]
    )


def test_a_writer_in_another_process_takes_its_turn(bundle_file: Path) -> None:
    """Two processes append at once: the file lock (not a sidecar file) serialises them, and
    a writer that waited re-locks the renamed file rather than the old one."""
    code = (
        "import sys\n"
        "from watchkeeper.core.bundle.outbox import add_incident_note\n"
        "from watchkeeper.core.governance.signing import Signer\n"
        "s = Signer.from_seed('bundle tests: alice')\n"
        "for i in range(5):\n"
        "    add_incident_note(sys.argv[1], title=f'{sys.argv[2]} {i}', "
        "starts_at='2026-04-01', signer=s)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(bundle_file), who]) for who in ("p", "q")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with open_bundle(bundle_file, extract=False) as b:
        assert len(b.outbox) == 10 and b.outbox_problems == []
    assert os.listdir(bundle_file.parent) == [bundle_file.name]
