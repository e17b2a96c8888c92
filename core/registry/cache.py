"""The last registry state seen, kept on disk so an unreachable registry still shows something.

Each successful :func:`refresh` writes the snapshot as JSON (one file per redacted registry URI
and model filter) under ``data_dir()/registry-cache``; when the registry cannot be reached,
:func:`refresh` answers with the newest stored snapshot that covers the request, marked
``stale=True`` with the time it was fetched and why the live registry did not answer.

Only :class:`RegistryUnreachable` falls back to the cache: refused credentials, a missing
model or any other answer from the registry is raised as it is. Files hold the redacted URI
only (never a password); writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from watchkeeper.core.paths import data_dir
from watchkeeper.core.registry.client import Registry
from watchkeeper.core.registry.errors import RegistryUnreachable
from watchkeeper.core.registry.model import RegistrySnapshot

__all__ = ["RegistryCache", "refresh"]

FORMAT = 1


def _default_root() -> Path:
    return data_dir() / "registry-cache"


class RegistryCache:
    """Snapshots on disk, keyed by redacted registry URI and model filter."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else _default_root()

    def _path(self, uri: str, model: str | None, lineage: bool = True) -> Path:
        key = f"{uri}\n{model or ''}" + ("" if lineage else "\nno-lineage")
        return self.root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def save(self, snapshot: RegistrySnapshot) -> Path:
        path = self._path(snapshot.uri, snapshot.model_filter, snapshot.lineage)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": FORMAT, "snapshot": snapshot.to_dict()}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def _read(self, uri: str, model: str | None, lineage: bool = True) -> RegistrySnapshot | None:
        path = self._path(uri, model, lineage)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                return None
            snap = RegistrySnapshot.from_dict(doc["snapshot"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: as if never seen
        return snap if snap.uri == uri else None

    def load(
        self, uri: str, model: str | None = None, *, lineage: bool = True
    ) -> RegistrySnapshot | None:
        """The newest stored snapshot answering ``(uri, model)``, as stored (not yet stale).

        For one model, a full snapshot that includes it serves as well as a per-model one;
        without ``lineage``, snapshots with or without it serve.
        """
        kinds = (True,) if lineage else (True, False)
        candidates = [self._read(uri, model, k) for k in kinds]
        if model is not None:
            for k in kinds:
                full = self._read(uri, None, k)
                if full is not None and full.model(model) is not None:
                    candidates.append(full.only(model))
        found = [c for c in candidates if c is not None]
        return max(found, key=lambda s: s.fetched_at) if found else None


def refresh(
    registry: Registry,
    cache: RegistryCache | None = None,
    model: str | None = None,
    *,
    artifacts: bool = False,
    lineage: bool = True,
) -> RegistrySnapshot:
    """A live snapshot (and store it), or the cached one marked stale if unreachable.

    Raises :class:`RegistryUnreachable` when the registry is unreachable and nothing was
    ever cached for it.
    """
    cache = cache or RegistryCache()
    try:
        snap = registry.snapshot(model, artifacts=artifacts, lineage=lineage)
    except RegistryUnreachable as exc:
        cached = cache.load(registry.uri, model, lineage=lineage)
        if cached is None:
            raise RegistryUnreachable(
                f"{exc} (and no earlier state of it is cached)", uri=exc.uri, seconds=exc.seconds
            ) from None
        return cached.as_stale(str(exc))
    cache.save(snap)
    return snap
