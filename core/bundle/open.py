"""Open an incident bundle: validate everything, then serve it with no network and no database.

:func:`open_bundle` refuses (with a :class:`~.format.BundleError` naming the problem) a file
that is not a complete zip, holds a member with a forbidden or duplicated name, a symlink,
an encrypted or over-sized member, a member the manifest does not list (outside the outbox
and receipts), misses a listed part, has a part whose size or digest differs from the
manifest, or whose manifest signature does not verify — which catches an alterer who
recomputed the digests. Outbox entries must carry their author's valid signature and name
this bundle's manifest.

A valid signature proves the bundle is as its exporter wrote it; *who* the exporter is, is
their key (``Bundle.exporter_key_id``). Pass ``trusted_keys`` to also require the key to be one
you know; ``sync_bundle`` checks the key against the shared database's registered keys.

Nothing here opens a socket or a database: the registry snapshot and governance records are
read from the bundle; the spec's registry and governance URLs are never contacted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.bundle import seen
from watchkeeper.core.bundle.format import BundleError
from watchkeeper.core.times import parse_time

if TYPE_CHECKING:
    from watchkeeper.core.drift.profile import ReferenceProfile
    from watchkeeper.core.telemetry.source import TelemetrySource

__all__ = ["Bundle", "OutboxEntry", "open_bundle"]


ENTRY_FORMAT = "watchkeeper-outbox-entry"
RECEIPT_FORMAT = "watchkeeper-sync-receipt"
CHAIN_VERSION = 2  # members carry seq and prev (format 1 had neither and is not read)


@dataclass(frozen=True)
class OutboxEntry:
    """An entry made offline: its stable id, kind, payload, its place in the outbox chain
    and its author's signature. ``signer`` is who this bundle knows the key as (None: a key
    the bundle does not know, whatever ``author`` claims); it is not part of the document."""

    id: str
    kind: str
    model: str
    payload: Mapping[str, Any]
    created_at: str
    author: str
    key_id: str
    public_key: str
    bundle: str
    seq: int
    prev: str
    signature: str
    signer: str | None = field(default=None, compare=False)

    def document(self) -> dict[str, Any]:
        """The signed fields (everything but the signature)."""
        return {
            "format": ENTRY_FORMAT,
            "format_version": CHAIN_VERSION,
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "payload": dict(self.payload),
            "created_at": self.created_at,
            "author": self.author,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "bundle": self.bundle,
            "seq": self.seq,
            "prev": self.prev,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.document(), "signature": self.signature}

    @property
    def by(self) -> str:
        """Who made the entry, as far as this bundle can tell: never only a claimed name."""
        return signer_label(self.author, self.signer, self.key_id)

    def describe(self) -> str:
        p = self.payload
        what = {
            "incident_note": f"incident note {p.get('title', '')!r}",
            "model_card": f"model card draft of version {p.get('model_version')} "
            f"(from revision {p.get('base_revision')})",
            "approval": f"{p.get('decision', 'approve')} of version {p.get('model_version')} "
            f"as {p.get('role', 'champion')}",
            "rollback": f"rollback {p.get('from_version')} -> {p.get('to_version')}",
        }.get(self.kind, self.kind)
        return f"{self.id[:8]} {what} by {self.by}"


def signer_label(claimed: str, known: str | None, key_id: str) -> str:
    """A signer for display: the name the key is known under; a claimed name only beside it."""
    if known is None:
        return f"an unknown signer (key {key_id}, claims to be {claimed!r})"
    if known != claimed:
        return f"{known} (key {key_id}; the entry claims {claimed!r})"
    return known


@dataclass
class Bundle:
    """A validated bundle. Close it (or use ``with``) to remove its temporary Parquet file."""

    path: Path
    manifest: dict[str, Any]
    manifest_digest: str
    spec_text: str
    spec: Any  # MonitorSpec reading the bundled Parquet, with no registry or database to call
    profiles: dict[str | None, ReferenceProfile]  # version (None: not version-specific)
    registry: Any  # RegistrySnapshot, or None (registry_reason says why)
    registry_reason: str | None
    governance: dict[str, list[dict[str, Any]]]
    outbox: list[OutboxEntry]
    synced: dict[str, dict[str, Any]]  # entry id -> its signed receipt (+ "signer": known name)
    telemetry_path: Path
    outbox_problems: list[str] = field(default_factory=list)  # removals, stale copy
    chain: dict[int, str] = field(default_factory=dict)  # outbox place -> member digest
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def as_of(self) -> dt.datetime:
        """When the evidence was frozen (the export time)."""
        return parse_time(self.manifest["as_of"], "the bundle's as_of")

    @property
    def exporter(self) -> str:
        return self.manifest["exporter"]["identity"]

    @property
    def exporter_key_id(self) -> str:
        return self.manifest["exporter"]["key_id"]

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(self.manifest["versions"])

    @property
    def sampling(self) -> dict[str, Any]:
        return self.manifest["telemetry"]["sampling"]

    def source(self) -> TelemetrySource:
        """The bundled telemetry as a TelemetrySource (the spec's mapping, canonical names)."""
        from watchkeeper.core.telemetry.source import open_source

        return open_source(str(self.telemetry_path), self.spec.telemetry.mapping())

    def pending(self) -> list[OutboxEntry]:
        """Outbox entries with no sync receipt in this file that vouches for itself: signed
        by the entry's own key or by a key the bundle knows (a stranger's receipt does not
        make an entry look synced)."""
        return [e for e in self.outbox if not self._receipted(e)]

    def _receipted(self, entry: OutboxEntry) -> bool:
        receipt = self.synced.get(entry.id)
        return receipt is not None and (
            receipt["key_id"] == entry.key_id or receipt.get("signer") is not None
        )

    def summary(self) -> str:
        m = self.manifest
        r = m["range"]
        s = self.sampling
        rows = f"{m['telemetry']['rows']:,} events"
        if s["method"] != "all":
            rows += f" (stratified sample of {s['rows_in_range']:,}, seed {s['seed']})"
        lines = [
            f"bundle {self.path}",
            f"  frozen bundle as of {m['as_of']} (exported by {self.exporter}, "
            f"key {self.exporter_key_id})",
            f"  model {self.model}, versions {', '.join(self.versions)}, "
            f"{r['start'] or 'start'} to {r['end'] or 'end'}: {rows}",
            f"  reference profiles: {len(self.profiles)}"
            + "".join(f"; {n}" for n in m.get("profile_notes", [])),
            "  registry snapshot: "
            + (
                "included"
                if self.registry is not None
                else f"not included ({self.registry_reason})"
            ),
            "  governance records: "
            + ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in self.governance.items())
            + (f" ({m['governance']['reason']})" if m["governance"]["reason"] else ""),
            f"  outbox: {len(self.outbox)} entries, {len(self.pending())} not yet synced",
            f"  signature: valid ({len(m['parts'])} parts, digests and sizes checked)",
        ]
        lines += [
            f"  outbox: {e.describe()} is signed by a key this bundle does not know"
            for e in self.outbox
            if e.signer is None
        ]
        lines += [f"  OUTBOX DAMAGED: {p}" for p in self.outbox_problems]
        return "\n".join(lines)

    def known_keys(self) -> dict[str, str]:
        """Key id -> name of every key this bundle vouches for: the exporter's (signed into
        the manifest) and those of the identities in its governance records."""
        known = {
            str(i["key_id"]): str(i["actor"])
            for i in self.governance.get("identities", [])
            if isinstance(i, Mapping) and "key_id" in i and "actor" in i
        }
        known[self.exporter_key_id] = self.exporter
        return known

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_members(path: Path, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > fmt.MAX_MEMBERS:
        raise BundleError(path, f"it holds {len(infos)} members (at most {fmt.MAX_MEMBERS})")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        fmt.check_member_name(path, name)
        if name in members:
            raise BundleError(path, f"it holds {name} twice")
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            raise BundleError(path, f"{name} is a folder or a link, not a file")
        if info.flag_bits & 0x1:
            raise BundleError(path, f"{name} is encrypted")
        total += info.file_size
        if info.file_size > fmt.MAX_PART_BYTES or total > fmt.MAX_TOTAL_BYTES:
            raise BundleError(path, f"{name} is larger than a bundle may be")
        members[name] = info
    return members


_EXPECTED_ATTR = (stat.S_IFREG | 0o644) << 16
_VERSIONS = {20, 45}  # what zipfile writes (plain, zip64)


def _dos(date_time: tuple[int, ...]) -> tuple[int, int]:
    y, mo, d, h, mi, sec = date_time
    return (h << 11) | (mi << 5) | (sec // 2), ((y - 1980) << 9) | (mo << 5) | d


def _check_structure(path: Path, zf: zipfile.ZipFile, fh: Any) -> None:
    """Every byte of the file accounted for: local headers agree with the central directory,
    members follow each other with no gap, the directory follows them, nothing trails it.
    (zipfile alone ignores many header fields, so a flipped byte there would pass.)"""
    damaged = "the archive's structure is damaged ({}); it was truncated, corrupted or edited"
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    size = os.fstat(fh.fileno()).st_size
    fh.seek(max(size - 22, 0))
    eocd = fh.read(22)
    if len(eocd) != 22 or eocd[:4] != b"PK\x05\x06":
        raise BundleError(path, damaged.format("bytes after the end record"))
    disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment = struct.unpack(
        "<HHHHIIH", eocd[4:]
    )
    end_of_cd = size - 22
    if 0xFFFF in (n_disk, n_total) or 0xFFFFFFFF in (cd_size, cd_offset):
        fh.seek(size - 42)
        loc = fh.read(20)
        if loc[:4] != b"PK\x06\x07":
            raise BundleError(path, damaged.format("zip64 locator"))
        end_of_cd = struct.unpack("<Q", loc[8:16])[0]
        fh.seek(end_of_cd)
        z64 = fh.read(56)
        if z64[:4] != b"PK\x06\x06" or end_of_cd + 56 != size - 42:
            raise BundleError(path, damaged.format("zip64 end record"))
        n_disk, n_total, cd_size, cd_offset = struct.unpack("<QQQQ", z64[24:56])
    if (disk, cd_disk, comment) != (0, 0, 0) or n_disk != n_total or n_total != len(infos):
        raise BundleError(path, damaged.format("end record"))
    if cd_offset + cd_size != end_of_cd:
        raise BundleError(path, damaged.format("central directory size"))
    # The central directory, entry by entry (zipfile forgives lengths that overrun it).
    fh.seek(cd_offset)
    cd = fh.read(cd_size)
    at = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        entry = cd[at : at + 46]
        if len(entry) != 46 or entry[:4] != b"PK\x01\x02":
            raise BundleError(path, damaged.format("central directory"))
        fields = struct.unpack("<BBHHHHHIIIHHHHHII", entry[4:])
        name = info.filename.encode("utf-8")
        expected = (
            info.create_version,
            info.create_system,
            info.extract_version,
            info.flag_bits,
            info.compress_type,
            *_dos(info.date_time),
            info.CRC,
            min(info.compress_size, 0xFFFFFFFF),
            min(info.file_size, 0xFFFFFFFF),
            len(name),
            len(info.extra),
            0,
            0,
            0,
            _EXPECTED_ATTR,
            min(info.header_offset, 0xFFFFFFFF),
        )
        if fields != expected or cd[at + 46 : at + 46 + len(name)] != name:
            raise BundleError(path, damaged.format(f"directory entry of {info.filename}"))
        at += 46 + len(name) + len(info.extra)
    if at != len(cd):
        raise BundleError(path, damaged.format("central directory length"))
    pos = 0
    for info in infos:
        if info.header_offset != pos:
            raise BundleError(path, damaged.format(f"gap before {info.filename}"))
        if (
            info.create_version not in _VERSIONS
            or info.extract_version not in _VERSIONS
            or info.create_system not in (0, 3)
            or (info.volume, info.internal_attr, info.reserved) != (0, 0, 0)
            or info.comment
            or info.external_attr != _EXPECTED_ATTR
            or (info.extra and info.file_size < 0xFFFFFFFF and info.header_offset < 0xFFFFFFFF)
            or info.flag_bits & ~0x800
            or info.compress_type != zipfile.ZIP_STORED
            or info.compress_size != info.file_size
        ):
            raise BundleError(path, damaged.format(f"directory entry of {info.filename}"))
        fh.seek(pos)
        head = fh.read(30)
        if len(head) != 30:
            raise BundleError(path, damaged.format(f"header of {info.filename}"))
        sig, ver, flags, comp, mtime, mdate, crc, csize, usize, nlen, elen = struct.unpack(
            "<4sHHHHHIIIHH", head
        )
        name = fh.read(nlen)
        extra = fh.read(elen)
        if elen:  # only the zip64 sizes field is written, and it must agree
            hid, hsize = struct.unpack("<HH", extra[:4])
            if hid != 1 or hsize != 16 or len(extra) != 20:
                raise BundleError(path, damaged.format(f"header of {info.filename}"))
            if (csize, usize) != (0xFFFFFFFF, 0xFFFFFFFF):
                raise BundleError(path, damaged.format(f"header of {info.filename}"))
            usize, csize = struct.unpack("<QQ", extra[4:20])
        if (
            sig != b"PK\x03\x04"
            or ver not in _VERSIONS
            or flags != info.flag_bits
            or comp != info.compress_type
            or (mtime, mdate) != _dos(info.date_time)
            or crc != info.CRC
            or name != info.filename.encode("utf-8")
            or csize != info.compress_size
            or usize != info.file_size
        ):
            raise BundleError(path, damaged.format(f"header of {info.filename}"))
        pos += 30 + nlen + elen + info.compress_size
    if pos != cd_offset:
        raise BundleError(path, damaged.format("bytes between the members and the directory"))


def _read(path: Path, zf: zipfile.ZipFile, name: str, limit: int, out: Any = None) -> bytes:
    try:
        with zf.open(name) as stream:
            data, _ = fmt.read_limited(stream, limit, out)
    except fmt._TooBig:
        raise BundleError(path, f"{name} is larger than {limit:,} bytes") from None
    except fmt.DAMAGE as exc:
        raise BundleError(path, f"{name} is damaged ({exc})") from None
    return data


def _manifest(path: Path, zf: zipfile.ZipFile, members: Mapping[str, Any]) -> dict[str, Any]:
    for name in (fmt.MANIFEST, fmt.SIGNATURE):
        if name not in members:
            raise BundleError(path, f"it has no {name}: not a Watchkeeper bundle, or damaged")
    data = _read(path, zf, fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES)
    manifest = fmt.load_json(path, fmt.MANIFEST, data)
    block = fmt.load_json(path, fmt.SIGNATURE, _read(path, zf, fmt.SIGNATURE, 64 << 10))
    if not isinstance(manifest, dict) or manifest.get("format") != fmt.FORMAT:
        raise BundleError(path, "manifest.json is not a Watchkeeper bundle manifest")
    if manifest.get("format_version") != fmt.FORMAT_VERSION:
        raise BundleError(
            path,
            f"bundle format version {manifest.get('format_version')!r} is not one this "
            f"Watchkeeper reads ({fmt.FORMAT_VERSION})",
        )
    problem = fmt.verify_document(manifest, block)
    if problem:
        raise BundleError(path, f"the manifest signature is not valid: {problem}")
    if fmt.json_bytes(manifest) != data:
        raise BundleError(path, "manifest.json is not in its signed canonical form")
    exporter = manifest.get("exporter", {})
    if exporter.get("key_id") != block["key_id"] or exporter.get("public_key") != block.get(
        "public_key"
    ):
        raise BundleError(path, "the manifest is signed by a key other than its exporter's")
    return manifest


def _expected_parts(path: Path, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    parts = manifest.get("parts")
    if not isinstance(parts, list):
        raise BundleError(path, "the manifest lists no parts")
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str) or not (
            name in fmt.FIXED_PARTS or fmt.PROFILE_PATTERN.match(name)
        ):
            raise BundleError(path, f"the manifest lists an unknown part {name!r}")
        if name in out:
            raise BundleError(path, f"the manifest lists {name} twice")
        if not isinstance(part.get("size"), int) or not isinstance(part.get("digest"), str):
            raise BundleError(path, f"the manifest gives no size or digest for {name}")
        out[name] = part
    missing = [n for n in fmt.FIXED_PARTS if n not in out]
    if missing:
        raise BundleError(path, f"the manifest lists no {missing[0]}")
    return out


def _check_part(path: Path, name: str, part: Mapping[str, Any], data_digest: str, size: int):
    if size != part["size"]:
        raise BundleError(
            path, f"{name} has {size:,} bytes where the manifest says {part['size']:,}"
        )
    if data_digest != part["digest"]:
        raise BundleError(path, f"{name} does not match its digest in the manifest (altered)")


RECEIPT_KEYS = (
    "entry",
    "table",
    "record_id",
    "store",
    "synced_by",
    "identity_verified",
    "how",
    "synced_at",
    "key_id",
    "public_key",
    "bundle",
    "seq",
    "prev",
)


def receipt_document(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The signed fields of a sync receipt."""
    return {
        "format": RECEIPT_FORMAT,
        "format_version": CHAIN_VERSION,
        **{k: fields[k] for k in RECEIPT_KEYS},
    }


def _verify(path: Path, name: str, document: Mapping[str, Any], value: Mapping[str, Any]) -> None:
    block = {
        "algorithm": "Ed25519",
        "public_key": value.get("public_key"),
        "key_id": value.get("key_id"),
        "signature": value.get("signature"),
    }
    problem = fmt.verify_document(document, block)
    if problem:
        raise BundleError(path, f"{name}: {problem}")


def _entries(
    path: Path, zf: zipfile.ZipFile, names: Iterable[str], manifest_digest: str
) -> tuple[list[OutboxEntry], dict[str, dict[str, Any]], list[str], dict[int, str]]:
    """The outbox entries and receipts, each signature checked, and what is wrong with the
    chain they form (members missing from it)."""
    outbox: list[OutboxEntry] = []
    receipts: dict[str, dict[str, Any]] = {}
    chain: dict[int, tuple[str, str, str]] = {}  # seq -> (name, prev, digest of the member)
    for name in sorted(names):
        data = _read(path, zf, name, fmt.MAX_ENTRY_BYTES)
        value = fmt.load_json(path, name, data)
        if m := fmt.OUTBOX_PATTERN.match(name):
            entry = _entry(path, name, m.group(1), value, manifest_digest)
            outbox.append(entry)
            seq, prev = entry.seq, entry.prev
        else:
            m = fmt.SYNCED_PATTERN.match(name)
            assert m is not None
            receipt = _receipt(path, name, m.group(1), value, manifest_digest)
            receipts[m.group(1)] = receipt
            seq, prev = receipt["seq"], receipt["prev"]
        if seq in chain:
            raise BundleError(path, f"{name} and {chain[seq][0]} both claim outbox place {seq}")
        chain[seq] = (name, prev, fmt.bytes_digest(data))
    outbox.sort(key=lambda e: e.seq)
    orphans = sorted(set(receipts) - {e.id for e in outbox})
    if orphans:
        raise BundleError(path, f"synced/{orphans[0]}.json is a receipt of no outbox entry")
    digests = {seq: member[2] for seq, member in chain.items()}
    return outbox, receipts, _chain_problems(chain, manifest_digest), digests


def _chain_problems(chain: Mapping[int, tuple[str, str, str]], manifest_digest: str) -> list[str]:
    problems = []
    for seq in sorted(chain):
        name, prev, _ = chain[seq]
        before = chain.get(seq - 1)
        expected = manifest_digest if seq == 1 else (before[2] if before else None)
        if expected is None:
            missing = seq - 1 - max((s for s in chain if s < seq), default=0)
            problems.append(
                f"{missing} outbox member(s) before {name} (place {seq}) were removed from the file"
            )
        elif prev != expected:
            problems.append(
                f"{name} (place {seq}) follows a member this file does not hold: the outbox "
                "was rewritten or members were replaced"
            )
    return problems


def _entry(path: Path, name: str, entry_id: str, value: Any, manifest_digest: str) -> OutboxEntry:
    keys: tuple[str, ...] = ("id", "kind", "model", "payload", "created_at", "author", "key_id")
    keys += ("public_key", "bundle", "seq", "prev", "signature")
    if isinstance(value, dict) and value.get("format_version") == 1:
        raise BundleError(
            path,
            f"{name} was made by an older Watchkeeper whose outbox entries are not chained; "
            "its removal could not be detected, so it is not read",
        )
    if not isinstance(value, dict) or set(value) != {*keys, "format", "format_version"}:
        raise BundleError(path, f"{name} is not an outbox entry")
    if not isinstance(value["seq"], int) or isinstance(value["seq"], bool) or value["seq"] < 1:
        raise BundleError(path, f"{name} has no place in the outbox chain")
    try:
        entry = OutboxEntry(**{k: value[k] for k in keys})
    except TypeError:  # pragma: no cover - keys checked above
        raise BundleError(path, f"{name} is not an outbox entry") from None
    if entry.id != entry_id or not isinstance(entry.payload, dict):
        raise BundleError(path, f"{name} holds an entry with another id")
    if entry.document() != {k: v for k, v in value.items() if k != "signature"}:
        raise BundleError(path, f"{name} is not an outbox entry of format {CHAIN_VERSION}")
    _verify(path, f"outbox entry {entry_id} ({entry.author!r})", entry.document(), value)
    if entry.bundle != manifest_digest:
        raise BundleError(path, f"outbox entry {entry_id} was made in another bundle")
    return entry


def _receipt(
    path: Path, name: str, entry_id: str, value: Any, manifest_digest: str
) -> dict[str, Any]:
    if (
        not isinstance(value, dict)
        or value.get("format") != RECEIPT_FORMAT
        or set(value) != {*RECEIPT_KEYS, "format", "format_version", "signature"}
    ):
        raise BundleError(path, f"{name} is not a signed sync receipt")
    if value.get("entry") != entry_id:
        raise BundleError(path, f"{name} is not a sync receipt of entry {entry_id}")
    seq = value["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise BundleError(path, f"{name} has no place in the outbox chain")
    document = receipt_document(value)
    if {**document, "signature": value["signature"]} != value:
        raise BundleError(path, f"{name} is not a sync receipt of format {CHAIN_VERSION}")
    _verify(path, f"sync receipt of entry {entry_id}", document, value)
    if value["bundle"] != manifest_digest:
        raise BundleError(path, f"{name} was written for another bundle")
    return dict(value)


def open_bundle(
    path: Path | str,
    *,
    trusted_keys: Iterable[str] | None = None,
    extract: bool = True,
    known_keys: Mapping[str, str] | None = None,
) -> Bundle:
    """Validate the bundle at ``path`` and return it; refuse it with a clear BundleError.

    ``extract`` False checks the telemetry part's digest without keeping a copy (no
    ``telemetry_path``); the outbox uses it before appending. ``known_keys`` (key id -> name)
    adds signers the caller knows (the user's own key) to those the bundle vouches for.
    Members missing from the outbox do not refuse the bundle — its evidence is intact — but
    are listed in ``Bundle.outbox_problems``; sync refuses such a bundle.
    """
    path = Path(path)
    if not path.is_file():
        raise BundleError(path, "no such file")
    tmp = tempfile.TemporaryDirectory(prefix="wk-bundle-")
    try:
        bundle = _open(path, Path(tmp.name), trusted_keys, extract, known_keys)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        # A manifest may be validly signed by anyone's key and still be nonsense.
        tmp.cleanup()
        raise BundleError(path, f"its manifest is not in the expected form ({exc!r})") from None
    except BaseException:
        tmp.cleanup()
        raise
    bundle._tmp = tmp
    return bundle


def _open(
    path: Path,
    tmp: Path,
    trusted_keys: Iterable[str] | None,
    extract: bool,
    known_keys: Mapping[str, str] | None,
) -> Bundle:
    try:  # one handle for everything: a writer may rename a new file over the path meanwhile
        raw = path.open("rb")
    except OSError as exc:
        raise BundleError(path, f"cannot be read: {exc.strerror}") from None
    try:
        zf = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raw.close()
        raise BundleError(path, f"not a complete bundle (truncated or damaged: {exc})") from None
    with raw, zf:
        members = _check_members(path, zf)
        try:
            _check_structure(path, zf, raw)
        except (struct.error, OSError) as exc:
            raise BundleError(path, f"the archive's structure is damaged ({exc})") from None
        manifest = _manifest(path, zf, members)
        digest_ = fmt.manifest_digest(manifest)
        if trusted_keys is not None and manifest["exporter"]["key_id"] not in set(trusted_keys):
            raise BundleError(
                path,
                f"it is signed by key {manifest['exporter']['key_id']} "
                f"({manifest['exporter']['identity']}), which is not one of your trusted keys",
            )
        parts = _expected_parts(path, manifest)
        extra = [
            n
            for n in members
            if n not in parts
            and n not in (fmt.MANIFEST, fmt.SIGNATURE)
            and not fmt.OUTBOX_PATTERN.match(n)
            and not fmt.SYNCED_PATTERN.match(n)
        ]
        if extra:
            raise BundleError(path, f"it holds {extra[0]}, which its manifest does not list")
        absent = [n for n in parts if n not in members]
        if absent:
            raise BundleError(path, f"it lacks {absent[0]}, which its manifest lists")
        data: dict[str, bytes] = {}
        for name, part in parts.items():
            if members[name].file_size != part["size"]:
                _check_part(path, name, part, "", members[name].file_size)
            if name == fmt.TELEMETRY:
                target = tmp / "events.parquet"
                h = _HashingWriter(target if extract else None)
                with h:
                    _read(path, zf, name, part["size"], h)
                _check_part(path, name, part, h.digest(), h.size)
            else:
                blob = _read(path, zf, name, min(part["size"], fmt.MAX_JSON_PART_BYTES))
                _check_part(path, name, part, fmt.bytes_digest(blob), len(blob))
                data[name] = blob
        entry_names = [
            n for n in members if fmt.OUTBOX_PATTERN.match(n) or fmt.SYNCED_PATTERN.match(n)
        ]
        outbox, receipts, problems, chain = _entries(path, zf, entry_names, digest_)
    bundle = _assemble(path, manifest, digest_, data, outbox, receipts, tmp / "events.parquet")
    bundle.chain = chain
    _attach_signers(bundle, known_keys)
    bundle.outbox_problems = problems + seen.check_and_note(bundle)
    return bundle


def _attach_signers(bundle: Bundle, extra: Mapping[str, str] | None) -> None:
    """Name every outbox signer by the key the bundle vouches for, never by its claim; and
    refuse an entry that reuses the id of a record the bundle holds (it would pass for it)."""
    known = {**bundle.known_keys(), **(extra or {})}
    bundle.outbox = [
        OutboxEntry(**{**e.__dict__, "signer": known.get(e.key_id)}) for e in bundle.outbox
    ]
    for receipt in bundle.synced.values():
        receipt["signer"] = known.get(receipt["key_id"])
    records = {
        str(r.get("id"))
        for rows in bundle.governance.values()
        if isinstance(rows, list)
        for r in rows
        if isinstance(r, Mapping)
    }
    for e in bundle.outbox:
        if e.id in records:
            raise BundleError(
                bundle.path, f"outbox entry {e.id} reuses the id of a record the bundle holds"
            )


class _HashingWriter:
    def __init__(self, target: Path | None) -> None:
        self._h = hashlib.sha256()
        self.size = 0
        self._fh = target.open("wb") if target is not None else None

    def write(self, chunk: bytes) -> None:
        self._h.update(chunk)
        self.size += len(chunk)
        if self._fh is not None:
            self._fh.write(chunk)

    def digest(self) -> str:
        return "sha256:" + self._h.hexdigest()

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()


def _assemble(
    path: Path,
    manifest: dict[str, Any],
    manifest_digest: str,
    data: Mapping[str, bytes],
    outbox: list[OutboxEntry],
    receipts: dict[str, dict[str, Any]],
    parquet: Path,
) -> Bundle:
    from watchkeeper.core.drift.profile import ReferenceProfile
    from watchkeeper.core.errors import WatchkeeperError
    from watchkeeper.core.registry.model import RegistrySnapshot
    from watchkeeper.core.spec import parse_spec

    try:
        spec_text = data[fmt.SPEC].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BundleError(path, f"{fmt.SPEC} is not UTF-8 text") from None
    try:
        original = parse_spec(spec_text, origin=f"{path.name}:{fmt.SPEC}")
        mapping = manifest["telemetry"]["mapping"]
        cols = original.telemetry.columns
        columns = type(cols).model_validate({**cols.model_dump(), **mapping})  # checks types
        telemetry = original.telemetry.model_copy(
            update={"source": str(parquet), "columns": columns}
        )
        spec = original.model_copy(
            update={
                "telemetry": telemetry,
                "model": original.model.model_copy(update={"registry_uri": None}),
                "governance": original.governance.model_copy(update={"database": None}),
                "base_dir": parquet.parent,
            }
        )
        profiles = {}
        for entry in manifest.get("profiles", []):
            profile = ReferenceProfile.from_json(data[entry["part"]].decode("utf-8"))
            profiles[entry["version"]] = profile
        reg = fmt.load_json(path, fmt.REGISTRY, data[fmt.REGISTRY])
        registry = RegistrySnapshot.from_dict(reg["snapshot"]) if reg.get("snapshot") else None
        governance = fmt.load_json(path, fmt.GOVERNANCE, data[fmt.GOVERNANCE])
    except WatchkeeperError as exc:
        raise BundleError(path, f"a part cannot be read: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(path, f"a part is not in the expected form ({exc!r})") from None
    return Bundle(
        path=path,
        manifest=manifest,
        manifest_digest=manifest_digest,
        spec_text=spec_text,
        spec=spec,
        profiles=profiles,
        registry=registry,
        registry_reason=reg.get("reason"),
        governance=governance,
        outbox=outbox,
        synced=receipts,
        telemetry_path=parquet,
    )
