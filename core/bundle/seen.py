"""What this computer last saw of each bundle's outbox: the anchor that catches a cut-off end.

The outbox chain (:mod:`.format`) shows a member removed from the middle, not members cut
off the end together: the shorter chain is whole. So every time this computer appends to a
bundle or opens one, it notes the chain's head — its place and digest — in
``data_dir()/anchors/bundles/<manifest digest>.json``, a folder of the user's own. Opening a
file whose chain does not reach the noted head, or holds another member there, is reported:
members were removed, or this is an older copy of the bundle.

A copy this computer never saw has no note, so members cut off its end before it arrived
cannot be detected here; the shared database decides at sync what is recorded.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from watchkeeper.core.bundle.format import ChainHead

if TYPE_CHECKING:
    from watchkeeper.core.bundle.open import Bundle

__all__ = ["check_and_note", "note", "seen_path"]

FORMAT = "watchkeeper-bundle-seen/1"
_lock = threading.Lock()


def seen_path(manifest_digest: str) -> Path:
    from watchkeeper.core.paths import data_dir

    name = manifest_digest.removeprefix("sha256:")
    return data_dir() / "anchors" / "bundles" / f"{name}.json"


def _read(manifest_digest: str) -> ChainHead | None:
    try:
        value = json.loads(seen_path(manifest_digest).read_text(encoding="utf-8"))
        if value.get("format") == FORMAT and value.get("bundle") == manifest_digest:
            return ChainHead(int(value["seq"]), str(value["head"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # no note, or an unreadable one: nothing to hold the file to
    return None


def note(manifest_digest: str, head: ChainHead) -> None:
    """Remember ``head`` as the furthest this computer has seen (never moves back)."""
    target = seen_path(manifest_digest)
    with _lock:
        current = _read(manifest_digest)
        if current is not None and current.seq >= head.seq:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "format": FORMAT,
                        "bundle": manifest_digest,
                        "seq": head.seq,
                        "head": head.digest,
                    }
                ),
                encoding="utf-8",
            )
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only home loses the anchor, not the user's work


def check_and_note(bundle: Bundle) -> list[str]:
    """What the bundle's outbox lost since this computer saw it; notes a longer chain."""
    seen = _read(bundle.manifest_digest)
    chain = bundle.chain
    top = max(chain, default=0)
    if seen is not None and seen.seq > 0 and chain.get(seen.seq) != seen.digest:
        held = f"holds {top}" if top < seen.seq else f"holds another member at place {seen.seq}"
        return [
            f"this computer has seen {seen.seq} outbox member(s) in this bundle and the file "
            f"{held}: members were removed, or this is an older copy of the bundle"
        ]
    if top and (seen is None or top > seen.seq):
        note(bundle.manifest_digest, ChainHead(top, chain[top]))
    return []
