"""Prepared references kept on disk, so that a reference is prepared once per machine.

:func:`cached_reference` is what the command line (``watchkeeper drift``), ``check`` and the
window call with the reference table they have read: it returns the
:class:`~watchkeeper.core.drift.reference.PreparedReference` from
``cache_dir()/prepared-references`` when one was stored for the same data and settings, else
prepares it and stores it.

The key is a SHA-256 over the reference table's Arrow buffers (its schema, and each chunk's
offset, length and buffers) — computed from the table already in memory, so the data is
never read twice (24 ms for 44 MB), and a database whose rows changed under the same query
gives a new key, which a file's size and mtime could not say for SQL — together with every
argument and setting that changes what is prepared (the whole ``[drift]`` section, the
features, kinds, seed, what is prepared) and :data:`FORMAT`.

:func:`cached_reference_in_batches` is the same for a reference too large to hold, prepared a
few columns at a time: its key's digest is taken over the batches as they are read (one pass
more over the data, about a third of the preparation's time), and the file holds no column.

A cache file is one uncompressed ``.npz`` (no pickles) holding a JSON header (the format,
the key, the profile, the PCA's scalars) and the arrays. A file that is truncated, corrupt,
of another format or another key is ignored, removed and rebuilt; writers write to a
private temporary name and rename it into place (atomic), so concurrent writers leave one
whole file. The folder is bounded (:data:`CACHE_BYTES`): after a write the least recently
used files (a hit touches its file) are removed until it fits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import weakref
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import PCAModel
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile
from watchkeeper.core.drift.reference import PreparedReference, SortedReference, prepare_reference
from watchkeeper.core.paths import cache_dir
from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.spec import DriftSection

__all__ = [
    "CACHE_BYTES",
    "FORMAT",
    "StoredSortedValues",
    "cached_reference",
    "cached_reference_in_batches",
    "reference_cache_dir",
    "table_digest",
]

FORMAT = 2  # raise when what is stored, or how it is computed, changes
CACHE_BYTES = 512 << 20
_SUFFIX = ".wkref.npz"


def reference_cache_dir() -> Path:
    return cache_dir() / "prepared-references"


def table_digest(table: pa.Table) -> str:
    """SHA-256 of an Arrow table's schema and buffers (as laid out in memory)."""
    h = hashlib.sha256(str(table.schema).encode())
    h.update(str(table.num_rows).encode())
    for column in table.columns:
        for chunk in column.chunks:
            _hash_array(h, chunk)
    return h.hexdigest()


def _hash_array(h: Any, array: pa.Array) -> None:
    h.update(f"|{array.offset},{len(array)}|".encode())
    for buf in array.buffers():
        if buf is None:
            h.update(b"-")
        else:
            h.update(memoryview(buf))
    if isinstance(array, pa.DictionaryArray):
        _hash_array(h, array.dictionary)


def _key(digest: str, settings: DriftSection, options: dict[str, Any]) -> str:
    text = json.dumps(
        {
            "format": FORMAT,
            "data": digest,
            "settings": settings.model_dump(mode="json"),
            "options": options,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def cached_reference(
    table: pa.Table,
    *,
    features: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    settings: DriftSection | None = None,
    prediction: str | None = "auto",
    seed: int = 0,
    folder: Path | None = None,
    max_bytes: int = CACHE_BYTES,
) -> PreparedReference:
    """:func:`prepare_reference` of ``table`` (same arguments), from the disk cache if there.

    The result is the one ``prepare_reference`` gives, bit for bit; the cache only saves
    the time. A cache that cannot be written (read-only home, full disk) is skipped.
    """
    s = settings or DriftSection()
    chosen = list(features) if features is not None else None
    cats, nums = sorted(categorical), sorted(numerical)
    options = {
        "features": chosen,
        "categorical": cats,
        "numerical": nums,
        "timestamp": timestamp,
        "prediction": prediction,
        "seed": seed,
    }
    where = folder or reference_cache_dir()
    key = _key(table_digest(table), s, options)
    path = where / f"{key}{_SUFFIX}"
    found = _load(path, key, table)
    if found is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: evicted last
        return found
    prepared = prepare_reference(
        table,
        features=chosen,
        categorical=cats,
        numerical=nums,
        timestamp=timestamp,
        settings=s,
        prediction=prediction,
        seed=seed,
    )
    try:
        _store(path, key, prepared)
        _evict(where, max_bytes, keep=path)
    except OSError:
        return prepared  # a cache is an optimisation: the analysis goes on without it
    # the sorted values read back one feature at a time, as on a hit, not all held
    return _load(path, key, table) or prepared


def cached_reference_in_batches(
    read: Callable[[Sequence[str]], pa.Table],
    rows: int,
    *,
    features: Sequence[str],
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    prediction: str | None = None,
    settings: DriftSection | None = None,
    seed: int = 0,
    batch_columns: int = 16,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
    folder: Path | None = None,
    max_bytes: int = CACHE_BYTES,
) -> PreparedReference:
    """:func:`~.reference_batches.prepare_reference_in_batches` (same arguments), from the
    disk cache if there.

    The key's digest is taken over the batches as they are read — a pass that holds one
    batch at a time, as the preparation does (2,200,000 rows × 40 features from Parquet:
    about 3 s, against about 8.5 s to prepare). On a miss the preparation reads them again
    and hashes what it reads, and the result is stored under that digest: the data it was
    prepared from, even if the data changed between the two passes."""
    from watchkeeper.core.drift.reference_batches import (
        column_batches,
        prepare_reference_in_batches,
    )

    s = settings or DriftSection()
    report = progress or (lambda _f, _m: None)
    cats, nums = sorted(categorical), sorted(numerical)  # iterables: taken once
    options = {
        "batched": True,  # a reference without its columns: never a whole read's
        "features": list(features),
        "categorical": cats,
        "numerical": nums,
        "prediction": prediction,
        "seed": seed,
    }
    where = folder or reference_cache_dir()
    batches = column_batches(features, prediction, batch_columns)
    first = _BatchesDigest(rows)
    # the next batch read while this one is hashed (both release the GIL), as the
    # preparation reads ahead
    with ThreadPoolExecutor(1) as reader:
        ahead = reader.submit(read, batches[0])
        for b in range(len(batches)):
            table = ahead.result()
            check_cancelled(cancelled)
            if b + 1 < len(batches):
                ahead = reader.submit(read, batches[b + 1])
            report(0.2 * b / len(batches), "looking for the prepared reference in the cache")
            first.add(table)
            del table
    check_cancelled(cancelled)
    held = pa.table({"rows": pa.nulls(rows)}).select([])  # what the preparation holds
    key = _key(first.hexdigest(), s, options)
    path = where / f"{key}{_SUFFIX}"
    found = _load(path, key, held)
    if found is not None:
        with contextlib.suppress(OSError):
            os.utime(path)
        return found
    second = _BatchesDigest(rows)

    def hashed(names: Sequence[str]) -> pa.Table:
        table = read(names)
        second.add(table)  # the preparation's reader thread: one batch after the other
        return table

    prepared = prepare_reference_in_batches(
        hashed,
        rows,
        features=features,
        categorical=cats,
        numerical=nums,
        prediction=prediction,
        settings=s,
        seed=seed,
        batch_columns=batch_columns,
        progress=lambda f, m: report(0.2 + 0.8 * f, m),
        cancelled=cancelled,
    )
    key = _key(second.hexdigest(), s, options)
    path = where / f"{key}{_SUFFIX}"
    try:
        _store(path, key, prepared)
        _evict(where, max_bytes, keep=path)
    except OSError:
        return prepared
    return _load(path, key, prepared.table) or prepared


class _BatchesDigest:
    """SHA-256 of batches of columns read one after the other (as :func:`table_digest`
    hashes a table's); a batch of another number of rows is refused, as the preparation
    refuses it."""

    def __init__(self, rows: int) -> None:
        self._rows = rows
        self._h = hashlib.sha256(f"batches of {rows} rows".encode())

    def add(self, table: pa.Table) -> None:
        from watchkeeper.core.drift.reference_batches import require_rows

        require_rows(table, self._rows)
        self._h.update(str(table.schema).encode())
        for column in table.columns:
            for chunk in column.chunks:
                _hash_array(self._h, chunk)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


class StoredSortedValues(Mapping[str, SortedReference]):
    """The sorted reference values of a cache file, each feature's read when asked.

    An analysis measures a few features at a time, so holding every feature's sorted values
    for the whole analysis is memory for nothing: 190 MiB for the wide demo's 401 numerical
    columns of 62,000 reference rows, all alive at its peak. Each look-up reads that
    feature's array from the file (kept open; an uncompressed member, ~0.5 MB); the caller
    drops it when done. Read-only like the dict it replaces; pickles as its path (reopened
    where it is unpickled).
    """

    def __init__(
        self,
        path: Path,
        entries: Mapping[str, tuple[str, str, int, int, int]],
        opened: Any = None,
    ) -> None:
        self._path = path
        self._entries = dict(entries)  # name -> (member, mode, feature_index, limit, seed)
        self._lock = threading.Lock()  # one reader of the zip at a time (pool threads ask)
        self._file: Any = None  # np.load's NpzFile of ``path``, opened on first use
        if opened is not None:  # (NpzFile, the file object under it), closed with this
            self._file = opened[0]
            weakref.finalize(self, opened[1].close)

    def __getitem__(self, name: str) -> SortedReference:
        member, mode, index, limit, seed = self._entries[name]
        try:
            with self._lock:
                if self._file is None:
                    fh = self._path.open("rb")
                    weakref.finalize(self, fh.close)
                    self._file = np.load(fh, allow_pickle=False)
                values = np.asarray(self._file[member], dtype=np.float64)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            # damaged since it was opened: dropped, so that the next analysis prepares it again
            self._path.unlink(missing_ok=True)
            raise DriftError(
                f"the prepared reference's cache file {self._path.name} could not be read "
                f"({exc}); it was removed: run the analysis again"
            ) from None
        values.flags.writeable = False
        return SortedReference(values, mode, index, limit, seed)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoredSortedValues, (self._path, self._entries))


# -- the file -------------------------------------------------------------------------------


def _store(path: Path, key: str, p: PreparedReference) -> None:
    arrays: dict[str, np.ndarray] = {}
    sorted_meta = []
    for i, (name, sr) in enumerate(p.sorted_values.items()):
        arrays[f"s{i}"] = sr.values
        sorted_meta.append([name, sr.mode, sr.feature_index, sr.limit, sr.seed])
    pca = None
    if p.pca is not None:
        m = p.pca
        arrays["pca_mean"], arrays["pca_scale"] = m.mean, m.scale
        arrays["pca_components"] = m.components
        if m.residual_axes is not None:
            arrays["pca_residual_axes"] = m.residual_axes
        pca = {
            "features": list(m.features),
            "explained_variance": m.explained_variance,
            "reference_error": m.reference_error,
            "chunk_sd": m.chunk_sd,
            "chunk_rows": m.chunk_rows,
            "z": m.z,
            "min_effect": m.min_effect,
            "error_cap": repr(m.error_cap),  # may be inf: JSON has no inf
        }
    header = {
        "format": FORMAT,
        "key": key,
        "profile": p.profile.to_dict(),
        "profiled_with": p.profiled_with,
        "sorted": sorted_meta,
        "predictions": [[n, b, fp.to_dict()] for (n, b), fp in p.predictions.items()],
        "pca_features": list(p.pca_features) if p.pca_features is not None else None,
        "pca": pca,
        "seed": p.seed,
    }
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)  # atomic: readers see the old file, or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, table: pa.Table) -> PreparedReference | None:
    """The prepared reference stored at ``path``, or None (absent, damaged, foreign)."""
    if not path.is_file():
        return None
    try:
        fh = path.open("rb")  # ours to close: np.load leaks its own when a zip is damaged
        with contextlib.ExitStack() as unless_kept:
            unless_kept.callback(fh.close)
            z = np.load(fh, allow_pickle=False)
            header = json.loads(bytes(z["header"]).decode())
            if header.get("format") != FORMAT or header.get("key") != key:
                raise ValueError("another format or key")
            entries = {
                str(name): (f"s{i}", str(mode), int(index), int(limit), int(seed))
                for i, (name, mode, index, limit, seed) in enumerate(header["sorted"])
            }
            if any(member not in z.files for member, *_ in entries.values()):
                raise ValueError("a feature's sorted values are missing")
            # kept open for them: a file evicted or replaced meanwhile is still this one
            sorted_values = StoredSortedValues(path, entries, (z, fh))
            unless_kept.pop_all()
            pca = None
            if header["pca"] is not None:
                h = header["pca"]
                pca = PCAModel(
                    features=tuple(h["features"]),
                    mean=np.array(z["pca_mean"]),
                    scale=np.array(z["pca_scale"]),
                    components=np.array(z["pca_components"]),
                    explained_variance=float(h["explained_variance"]),
                    reference_error=float(h["reference_error"]),
                    chunk_sd=float(h["chunk_sd"]),
                    chunk_rows=int(h["chunk_rows"]),
                    z=float(h["z"]),
                    min_effect=float(h["min_effect"]),
                    error_cap=float(h["error_cap"]),
                    residual_axes=(
                        np.array(z["pca_residual_axes"]) if "pca_residual_axes" in z else None
                    ),
                )
        profile = ReferenceProfile.from_dict(header["profile"])
        if profile.rows != table.num_rows:
            raise ValueError("not this table's profile")
        built = header["profiled_with"]
        profiled_with: tuple[int, int, int] | None = None
        if built is not None:
            profiled_with = (int(built[0]), int(built[1]), int(built[2]))
        return PreparedReference(
            table=table,
            profile=profile,
            profiled_with=profiled_with,
            sorted_values=sorted_values,
            predictions=MappingProxyType(
                {(str(n), int(b)): FeatureProfile.from_dict(d) for n, b, d in header["predictions"]}
            ),
            pca_features=(
                tuple(header["pca_features"]) if header["pca_features"] is not None else None
            ),
            pca=pca,
            seed=int(header["seed"]),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile, EOFError):
        # damaged or foreign: drop it, so that it is rebuilt below (where it can be removed)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return None


def _evict(folder: Path, max_bytes: int, keep: Path) -> None:
    """Remove the least recently used cache files until the folder holds ``max_bytes``."""
    files = []
    for f in folder.glob(f"*{_SUFFIX}"):
        try:
            st = f.stat()
        except OSError:
            continue  # removed by another process meanwhile
        files.append((st.st_mtime_ns, st.st_size, f))
    total = sum(size for _, size, _ in files)
    for _, size, f in sorted(files, key=lambda t: t[0]):
        if total <= max_bytes:
            break
        if f == keep:
            continue
        f.unlink(missing_ok=True)
        total -= size
