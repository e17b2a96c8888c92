"""Chain-head anchors: signed notes, kept outside the database, of where the audit log reached.

A chain that holds by itself proves nothing about entries cut off its end: deleting the newest
entries with their records (the PostgreSQL admin with ``allow_changes``, anyone holding a
SQLite file) leaves a shorter chain that verifies. So after every committed write the store
notes the chain's head — seq, entry hash, the entry's time and the signer's key id, signed
with the writer's key — in ``data_dir()/anchors/<database fingerprint>.json``, a folder of
the user's own that the database's admin does not control. The newest :data:`KEEP` are kept;
the file is replaced atomically. :func:`~.verify.verify_audit` checks that the database still
holds every kept anchor.

The fingerprint names the database's location without credentials (SQLite: the resolved file
path; PostgreSQL: host, port and database name), so every role on a machine shares one file
for one database. What anchors cannot catch is said in ARCHITECTURE.md (Governance).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.governance import db
from watchkeeper.core.governance.signing import Signer, key_id_of, verify_signature

__all__ = [
    "KEEP",
    "Anchor",
    "anchor_path",
    "database_location",
    "read_anchors",
    "record_anchor",
]

#: Anchors kept per database: the newest catches any truncation; older ones still catch a
#: chain rebuilt from some entry on even if the newest was lost with a half-written file.
KEEP = 10
FORMAT = "watchkeeper-anchors/1"

log = logging.getLogger(__name__)
# One read-modify-write of an anchor file at a time per process; between processes the atomic
# replace keeps the file whole, and a lost update costs one anchor, never the file.
_file_lock = threading.Lock()


@dataclass(frozen=True)
class Anchor:
    """One signed chain head: entry ``seq`` of ``database`` had hash ``entry_hash``."""

    database: str
    seq: int
    entry_hash: str
    created_at: str
    key_id: str
    public_key: str
    signature: str

    def signed_text(self) -> str:
        fields = asdict(self)
        del fields["signature"]
        return canonical_json(fields)

    def valid(self) -> bool:
        return key_id_of(self.public_key) == self.key_id and verify_signature(
            self.public_key, self.signed_text(), self.signature
        )

    def describe(self) -> str:
        return f"entry #{self.seq} ({self.entry_hash}, written {self.created_at})"


def database_location(url: str) -> str:
    """Where the database lives, without user or password: the same for every role."""
    parsed = sa.make_url(db.normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:{Path(parsed.database or '').expanduser().resolve()}"
    host = (parsed.host or "localhost").lower()
    return f"{parsed.get_backend_name()}://{host}:{parsed.port or 5432}/{parsed.database}"


def anchor_path(url: str) -> Path:
    """The file holding this machine's anchors for the database at ``url``."""
    from watchkeeper.core.paths import data_dir

    fingerprint = digest(database_location(url)).removeprefix("sha256:")[:32]
    return data_dir() / "anchors" / f"{fingerprint}.json"


def record_anchor(
    url: str, seq: int, entry_hash: str, created_at: dt.datetime, signer: Signer
) -> Path:
    """Add a signed anchor for entry ``seq`` to the database's anchor file; keep the newest."""
    location = database_location(url)
    unsigned = Anchor(
        location,
        seq,
        entry_hash,
        created_at.astimezone(dt.UTC).isoformat(),
        signer.key_id,
        signer.public_key,
        "",
    )
    anchor = Anchor(**{**asdict(unsigned), "signature": signer.sign(unsigned.signed_text())})
    path = anchor_path(url)
    with _file_lock:
        try:
            kept = _load(path)[0] if path.exists() else []
        except WatchkeeperError:  # a damaged file is replaced; verify reported it already
            kept = []
        by_seq = {a.seq: a for a in kept if a.database == location}
        by_seq[seq] = anchor
        newest = [by_seq[s] for s in sorted(by_seq)[-KEEP:]]
        document = {
            "format": FORMAT,
            "database": location,
            "anchors": [asdict(a) for a in newest],
        }
        _write_atomically(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
    return path


def read_anchors(path: Path) -> tuple[list[Anchor], list[str]]:
    """The validly signed anchors of a file, and a sentence for each one that is not.

    A missing file has no anchors. A file that cannot be read raises WatchkeeperError.
    """
    if not path.exists():
        return [], []
    return _load(path)


def _load(path: Path) -> tuple[list[Anchor], list[str]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        rows = document["anchors"]
        if not isinstance(rows, list):
            raise TypeError("anchors is not a list")
        parsed = [_anchor(row) for row in rows]
    except OSError as exc:
        raise WatchkeeperError(f"cannot read the anchor file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise WatchkeeperError(f"the anchor file {path} is damaged ({exc})") from None
    good = [a for a in parsed if a.valid()]
    bad = [
        f"the anchor of entry #{a.seq} in {path} is not validly signed (the file was edited); "
        "it was not used"
        for a in parsed
        if not a.valid()
    ]
    return good, bad


def _anchor(row: Mapping[str, Any]) -> Anchor:
    fields = {name: row[name] for name in Anchor.__dataclass_fields__}
    if not isinstance(fields["seq"], int) or not all(
        isinstance(v, str) for k, v in fields.items() if k != "seq"
    ):
        raise TypeError("an anchor has a field of the wrong type")
    return Anchor(**fields)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
