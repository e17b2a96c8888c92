"""A truncated, corrupted, altered or hostile bundle is refused with a message naming why."""

from __future__ import annotations

import json
import stat
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle.open import open_bundle
from watchkeeper.core.bundle.outbox import add_incident_note
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.governance.signing import Signer


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path: Path, members: list[tuple[str, bytes]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicated names
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members:
                fmt.write_member(zf, name, data)


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(WatchkeeperError) as caught:
        open_bundle(path).close()
    message = str(caught.value)
    assert str(path) in message and "refused" in message
    for word in words:
        assert word in message, message
    return message


def test_rewritten_with_our_writer_is_still_valid(bundle_file: Path, tmp_path: Path) -> None:
    """The helpers below change only what each test says."""
    copy = tmp_path / "same.wkb"
    _write(copy, list(_members(bundle_file).items()))
    open_bundle(copy).close()


def test_flipped_bytes_anywhere_are_refused(bundle_file: Path, tmp_path: Path) -> None:
    data = bundle_file.read_bytes()
    with zipfile.ZipFile(bundle_file) as zf:
        infos = zf.infolist()
        cd_offset = zf.start_dir
    positions = {len(data) - k for k in range(1, 23)}  # the end record
    positions |= {cd_offset + k for k in range(0, 46 * 2, 3)}  # directory entries
    for info in infos:  # each member's header fields, name and data
        positions |= {info.header_offset + k for k in (0, 4, 6, 8, 10, 12, 14, 16, 22, 26, 28, 31)}
        body = info.header_offset + 30 + len(info.filename)
        positions |= {body + 1, body + info.file_size // 2, body + info.file_size - 1}
    for pos in sorted(p for p in positions if 0 <= p < len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x01
        target = tmp_path / "flipped.wkb"
        target.write_bytes(bytes(damaged))
        try:
            open_bundle(target, extract=False).close()
        except WatchkeeperError as exc:
            assert "refused" in str(exc)
        else:
            pytest.fail(f"a flipped byte at {pos} of {len(data)} was not noticed")


@pytest.mark.parametrize("keep", [0, 1, 21, 0.5, -1, -22, -23])
def test_truncated_bundle_is_refused(bundle_file: Path, keep: float) -> None:
    data = bundle_file.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bundle_file.write_bytes(data[:n])
    _refused(bundle_file)


def test_altered_part_with_recomputed_digests_is_refused(bundle_file: Path) -> None:
    members = _members(bundle_file)
    records = json.loads(members["governance/records.json"])
    records["approvals"] = records["approvals"][1:]  # hide a decision
    altered = fmt.json_bytes(records)
    manifest = json.loads(members["manifest.json"])
    for part in manifest["parts"]:
        if part["name"] == "governance/records.json":
            part["digest"], part["size"] = fmt.bytes_digest(altered), len(altered)
    members["governance/records.json"] = altered
    members["manifest.json"] = fmt.json_bytes(manifest)
    _write(bundle_file, list(members.items()))
    _refused(bundle_file, "signature", "does not match")


def test_altered_part_without_new_digests_is_refused(bundle_file: Path) -> None:
    members = _members(bundle_file)
    members["spec/monitor.toml"] = members["spec/monitor.toml"].replace(b"0.", b"9.", 1)
    _write(bundle_file, list(members.items()))
    _refused(bundle_file, "spec/monitor.toml", "digest")


def test_re_signed_by_another_key_needs_trust(bundle_file: Path, exporter_key: Signer) -> None:
    members = _members(bundle_file)
    manifest = json.loads(members["manifest.json"])
    forger = Signer.from_seed("forger")
    manifest["exporter"].update(public_key=forger.public_key, key_id=forger.key_id)
    members["manifest.json"] = fmt.json_bytes(manifest)
    members["manifest.sig"] = fmt.json_bytes(fmt.sign_document(manifest, forger))
    _write(bundle_file, list(members.items()))
    with open_bundle(bundle_file) as b:  # valid, but says whose key it is
        assert b.exporter_key_id == forger.key_id != exporter_key.key_id
    with pytest.raises(WatchkeeperError, match="not one of your trusted keys"):
        open_bundle(bundle_file, trusted_keys=[exporter_key.key_id])
    with open_bundle(bundle_file, trusted_keys=[forger.key_id]):
        pass


def test_extra_or_missing_parts_are_refused(bundle_file: Path, tmp_path: Path) -> None:
    members = _members(bundle_file)
    extra = tmp_path / "extra.wkb"
    _write(extra, [*members.items(), ("notes.txt", b"hello")])
    _refused(extra, "notes.txt", "does not list")
    missing = tmp_path / "missing.wkb"
    _write(missing, [(n, d) for n, d in members.items() if n != "registry/snapshot.json"])
    _refused(missing, "lacks registry/snapshot.json")
    no_sig = tmp_path / "nosig.wkb"
    _write(no_sig, [(n, d) for n, d in members.items() if n != "manifest.sig"])
    _refused(no_sig, "manifest.sig")


@pytest.mark.parametrize(
    "name",
    [
        "../evil.json",
        "/etc/cron.d/evil",
        "outbox/../../evil.json",
        "profiles\\..\\evil.json",
        "Outbox/EVIL.json",
        "spec//monitor.toml",
        "./manifest.json",
        "a" * 200,
    ],
)
def test_hostile_names_are_refused(bundle_file: Path, tmp_path: Path, name: str) -> None:
    target = tmp_path / "hostile.wkb"
    _write(target, [*_members(bundle_file).items(), (name, b"{}")])
    _refused(target, "forbidden name")


def test_duplicated_or_linked_members_are_refused(bundle_file: Path, tmp_path: Path) -> None:
    members = _members(bundle_file)
    twice = tmp_path / "twice.wkb"
    _write(twice, [*members.items(), ("spec/monitor.toml", b"[model]\nname='x'\n")])
    _refused(twice, "spec/monitor.toml twice")
    link = tmp_path / "link.wkb"
    with zipfile.ZipFile(link, "w") as zf:
        for name, data in members.items():
            fmt.write_member(zf, name, data)
        info = zipfile.ZipInfo("outbox/" + "0" * 32 + ".json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    _refused(link, "link")


def test_edited_or_moved_outbox_entry_is_refused(
    bundle_file: Path, tmp_path: Path, base_bundle: Path
) -> None:
    signer = Signer.from_seed("alice")
    entry = add_incident_note(
        bundle_file, title="seen offline", starts_at="2026-04-01", signer=signer
    )
    name = f"outbox/{entry.id}.json"
    members = _members(bundle_file)
    edited = json.loads(members[name])
    edited["payload"]["title"] = "something else"
    members[name] = fmt.json_bytes(edited)
    target = tmp_path / "edited.wkb"
    _write(target, list(members.items()))
    _refused(target, entry.id, "signature")
    # the untouched entry signed for this bundle, moved into another bundle
    other = tmp_path / "other.wkb"
    other_members = _members(base_bundle)
    manifest = json.loads(other_members["manifest.json"])
    manifest["exported_at"] = "2026-05-01T00:00:00Z"
    key = Signer.from_seed("bundle tests: exporter")
    other_members["manifest.json"] = fmt.json_bytes(manifest)
    other_members["manifest.sig"] = fmt.json_bytes(fmt.sign_document(manifest, key))
    other_members[name] = _members(bundle_file)[name]
    _write(other, list(other_members.items()))
    _refused(other, "made in another bundle")


def test_not_a_bundle(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a zip", encoding="utf-8")
    _refused(text, "not a complete bundle")
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("hello.txt", "hi")
    _refused(plain)
    _refused(tmp_path / "nothing.wkb", "no such file")


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(exporter="someone"),
        lambda m: m.update(parts="all of them"),
        lambda m: m["parts"].append({"name": "spec/monitor.toml", "size": 1, "digest": "x"}),
        lambda m: m["parts"][0].update(size="big"),
        lambda m: m.pop("telemetry"),
        lambda m: m.update(format_version=99),
        lambda m: m.update(profiles=[{"part": "profiles/reference-7.json", "version": "1"}]),
        lambda m: m["telemetry"].update(mapping={"features": 3}),
    ],
)
def test_nonsense_manifest_signed_by_anyone_is_refused_cleanly(
    bundle_file: Path, change: Any
) -> None:
    members = _members(bundle_file)
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    signer = Signer.from_seed("whoever")
    if isinstance(manifest.get("exporter"), dict):
        manifest["exporter"].update(public_key=signer.public_key, key_id=signer.key_id)
    members["manifest.json"] = fmt.json_bytes(manifest)
    members["manifest.sig"] = fmt.json_bytes(fmt.sign_document(manifest, signer))
    _write(bundle_file, list(members.items()))
    _refused(bundle_file)


def test_size_limits(bundle_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "MAX_PART_BYTES", 10_000)
    _refused(bundle_file, "is larger than a bundle may be")
    monkeypatch.undo()
    monkeypatch.setattr(fmt, "MAX_MEMBERS", 3)
    _refused(bundle_file, "members (at most 3)")
    monkeypatch.undo()
    monkeypatch.setattr(fmt, "MAX_JSON_PART_BYTES", 100)
    _refused(bundle_file, "is larger than 100 bytes")
