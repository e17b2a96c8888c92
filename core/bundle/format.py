"""The bundle file: a zip archive with a fixed layout, a signed manifest and strict limits.

Layout (every name is fixed or follows one pattern; nothing else is accepted)::

    manifest.json               canonical JSON: what the bundle holds (below)
    manifest.sig                JSON: Ed25519 signature of manifest.json by the exporter
    spec/monitor.toml           the monitor spec, byte for byte as exported
    telemetry/events.parquet    the events of the model and range (canonical column names)
    profiles/reference-N.json   reference profile N (canonical JSON; N from 0)
    registry/snapshot.json      {"snapshot": the registry snapshot or null, "reason": why not}
    governance/records.json     approvals, rollbacks (+ applications), model cards, incident
                                notes of the model and the public keys that signed them
    outbox/<id>.json            entries made offline, each signed by its author (appended)
    synced/<id>.json            receipts of entries pushed to a shared database (appended)

A part's ``digest`` is ``sha256:<hex>`` of its bytes. JSON parts are written as canonical
JSON, so for them this is exactly :func:`~watchkeeper.core.evidence.digest` of their value.
The manifest lists every part with its digest and size; the exporter signs the canonical
JSON of the manifest (the bytes of ``manifest.json``) with their Ed25519 key and puts the
public key beside the signature. Outbox entries are signed by their own author and bound to
the manifest's digest, so an entry cannot be moved into another bundle.

Members are stored, not deflated (the Parquet part is already compressed): every byte of
a member's data is then covered by its CRC and digest. On open, every byte of the file is
accounted for — local headers must agree with the central directory field by field, members
must follow each other with no gap, nothing may trail the end record — so a flipped byte
anywhere is refused, not only one inside a part.

Outbox entries and sync receipts form one hash chain of their own: each appended member
carries its position ``seq`` (1, 2, …) and ``prev``, the digest of the member before it (the
manifest's digest for the first), under its signer's signature. A member removed from the
middle leaves a gap the next member's signature still names; members cut off the end are
caught against what this computer last saw of the bundle (:mod:`.seen`). Removing members
from the end of a copy this computer never saw cannot be detected offline; sync then pushes
only what the file holds, and the database, not the file, decides what is recorded.

Writes that add to a bundle (outbox entries, sync receipts) lock the bundle file itself,
read the chain's head from it, copy it, append to the copy and rename it over the original: a
crash leaves the old bundle or the new, never half, and two writers take turns. No lock file
is left beside the bundle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance.signing import Signer, key_id_of, verify_signature

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "BundleError",
    "ChainHead",
    "append_members",
    "chain_head",
    "check_member_name",
    "json_bytes",
    "sign_document",
    "verify_document",
]

FORMAT = "watchkeeper-incident-bundle"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SPEC = "spec/monitor.toml"
TELEMETRY = "telemetry/events.parquet"
REGISTRY = "registry/snapshot.json"
GOVERNANCE = "governance/records.json"
PROFILE_PATTERN = re.compile(r"^profiles/reference-(0|[1-9][0-9]{0,3})\.json$")
ENTRY_ID = re.compile(r"^[0-9a-f]{32}$")
OUTBOX_PATTERN = re.compile(r"^outbox/([0-9a-f]{32})\.json$")
SYNCED_PATTERN = re.compile(r"^synced/([0-9a-f]{32})\.json$")
FIXED_PARTS = (SPEC, TELEMETRY, REGISTRY, GOVERNANCE)

# Limits: a hostile file must not make us read gigabytes into memory or fill the disk.
MAX_MEMBERS = 20_000
MAX_NAME = 120
MAX_MANIFEST_BYTES = 4 << 20
MAX_JSON_PART_BYTES = 256 << 20  # a JSON part is parsed in memory
MAX_ENTRY_BYTES = 4 << 20  # one outbox entry or receipt
MAX_JSON_DEPTH = 64  # nesting of any JSON member; every document we write stays far below
MAX_PART_BYTES = 16 << 30  # the telemetry part is streamed to a temporary file
MAX_TOTAL_BYTES = 32 << 30

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20


class BundleError(WatchkeeperError):
    """A bundle that cannot be trusted or read: the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}; the bundle was refused")


def json_bytes(value: Any) -> bytes:
    """The canonical JSON bytes of ``value`` (what a JSON part holds)."""
    return canonical_json(value).encode("utf-8")


def bytes_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_member_name(path: Path | str, name: str) -> None:
    """Refuse names that could escape a folder or hide: absolute, ``..``, backslashes, odd
    characters, over-long. (The reader never extracts by a member's name; this is a second
    wall for anyone who unzips a bundle by hand.)"""
    if (
        len(name) > MAX_NAME
        or not _SAFE_NAME.match(name)
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise BundleError(path, f"the archive holds a member with a forbidden name {name!r}")


def sign_document(document: Mapping[str, Any], signer: Signer) -> dict[str, str]:
    """The signature block of a document: Ed25519 over its canonical JSON."""
    return {
        "algorithm": "Ed25519",
        "public_key": signer.public_key,
        "key_id": signer.key_id,
        "signature": signer.sign(canonical_json(document)),
    }


def verify_document(document: Mapping[str, Any], block: Any) -> str | None:
    """None when ``block`` is a valid signature of ``document``; else what is wrong."""
    if not isinstance(block, Mapping):
        return "the signature block is not an object"
    if block.get("algorithm") != "Ed25519":
        return f"unknown signature algorithm {block.get('algorithm')!r}"
    public_key, key_id, signature = (block.get(k) for k in ("public_key", "key_id", "signature"))
    if not (isinstance(public_key, str) and isinstance(key_id, str) and isinstance(signature, str)):
        return "the signature block lacks its public key, key id or signature"
    if key_id_of(public_key) != key_id:
        return "the signature's key id does not name its public key"
    if not verify_signature(public_key, canonical_json(document), signature):
        return f"the signature by key {key_id} does not match the signed content"
    return None


def _zipinfo(name: str) -> zipfile.ZipInfo:
    # Stored, never deflated: every byte of a member is then covered by its CRC and digest
    # (a deflate stream has bits that change nothing, e.g. a flipped "final block" flag).
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def write_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    zf.writestr(_zipinfo(name), data)


def write_member_from_file(zf: zipfile.ZipFile, name: str, source: Path) -> None:
    with source.open("rb") as src, zf.open(_zipinfo(name), "w", force_zip64=True) as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path``, renamed over it when the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def bundle_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the bundle file itself: two writers (the window adding a
    note while ``bundle sync`` appends receipts) take turns, so neither addition is lost.

    A writer replaces the file by renaming a new one over it, so a lock won on the old inode
    guards nothing: after winning it, check that the path still names the locked file, and
    otherwise try again on the new one."""
    while True:
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise WatchkeeperError(f"{path}: cannot lock the bundle: {exc.strerror}") from None
        with fh:
            if sys.platform == "win32":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except OSError:
                current = None
            mine = os.fstat(fh.fileno())
            if current is not None and (current.st_dev, current.st_ino) == (
                mine.st_dev,
                mine.st_ino,
            ):
                yield  # released when the file is closed
                return


@dataclass(frozen=True)
class ChainHead:
    """Where a bundle's outbox chain ends: the last member's position and digest (position 0
    is the manifest itself)."""

    seq: int
    digest: str


def chain_head(path: Path, zf: zipfile.ZipFile, manifest_digest: str) -> ChainHead:
    """The head of the outbox chain in an open archive (members parsed, not verified: the
    caller opened and verified the bundle before taking the lock)."""
    head = ChainHead(0, manifest_digest)
    for name in zf.namelist():
        if OUTBOX_PATTERN.match(name) or SYNCED_PATTERN.match(name):
            with zf.open(name) as stream:
                data, _ = read_limited(stream, MAX_ENTRY_BYTES)
            value = load_json(path, name, data)
            seq = value.get("seq") if isinstance(value, dict) else None
            if isinstance(seq, int) and seq > head.seq:
                head = ChainHead(seq, bytes_digest(data))
    return head


def append_members(
    path: Path,
    members: Mapping[str, bytes] | Callable[[ChainHead], Mapping[str, bytes]],
    manifest_digest: str | None = None,
) -> dict[str, bytes]:
    """Add members to the bundle at ``path``: lock, copy, append to the copy, rename over it.

    ``members`` may be a function of the chain's head, called under the lock, so that chained
    members are built on the head of the file they are appended to (``manifest_digest`` is
    then the bundle's). Returns the members written."""
    with bundle_lock(path), atomic_path(path) as tmp:
        try:
            shutil.copyfile(path, tmp)
            with zipfile.ZipFile(tmp, "a") as zf:
                if callable(members):
                    assert manifest_digest is not None
                    members = members(chain_head(path, zf, manifest_digest))
                existing = set(zf.namelist())
                for name, data in members.items():
                    check_member_name(path, name)
                    if name in existing:
                        raise BundleError(path, f"it already holds {name}")
                    write_member(zf, name, data)
        except OSError as exc:
            raise WatchkeeperError(f"{path}: cannot write the bundle: {exc.strerror}") from None
    return dict(members)


def read_limited(stream: IO[bytes], limit: int, out: IO[bytes] | None = None) -> tuple[bytes, int]:
    """Read a member, refusing more than ``limit`` bytes; returns (data or b'', size)."""
    size = 0
    chunks = []
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise _TooBig(size)
        if out is not None:
            out.write(chunk)
        else:
            chunks.append(chunk)
    return b"".join(chunks), size


class _TooBig(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


# Errors the zip and zlib modules raise on damaged data.
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, KeyError)


def load_json(path: Path | str, name: str, data: bytes) -> Any:
    """A member's JSON value; refuses invalid JSON and nesting deeper than MAX_JSON_DEPTH
    (which would otherwise end in a RecursionError here or in whatever walks the value)."""
    if _nesting(data) > MAX_JSON_DEPTH:
        raise BundleError(path, f"{name} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BundleError(path, f"{name} is not valid JSON") from None
    return value


_BRACKETS = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def _nesting(data: bytes) -> int:
    """The deepest bracket nesting of JSON text, brackets inside strings skipped (counted
    before parsing: the parser itself recurses)."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(data):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    return digest(manifest)
