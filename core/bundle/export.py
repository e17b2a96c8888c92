"""Write an incident bundle: the evidence of one model over a time range, signed.

:func:`export_bundle` reads the spec's telemetry for the model, versions and half-open
range ``[start, end)``, profiles the reference (a warehouse's in the warehouse, from
aggregates: :func:`~watchkeeper.core.drift.profile_sql.build_profile_sql`), snapshots the
registry (when it answers; otherwise the bundle says why), copies the model's governance
records, and writes one zip file in the layout of :mod:`.format` with a manifest signed by
the exporter.

Sampling. With ``max_rows`` below the number of events in range, the bundle keeps a
stratified sample: strata are (model version × UTC day); each stratum gets a share of
``max_rows`` proportional to its size (largest remainders; every non-empty stratum keeps at
least one row while ``max_rows`` allows). Within a stratum the kept rows are those with the
smallest keyed hash (pandas' SipHash, key from ``seed``) of (request id, version): uniform
without replacement, reproducible, and independent of the order a database returns rows
in. Two streaming passes (counts, then selection) hold at most a few times ``max_rows``
rows. Kept rows are written in (ts, version, request id) order. The manifest states the
method and the per-stratum counts, so an analysis can weight them back. Without a cap every
row is streamed to the Parquet part in the source's order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchkeeper.core.bundle import format as fmt
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.evidence import to_jsonable
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES
from watchkeeper.core.times import parse_time

__all__ = ["WAREHOUSE_ROWS", "BundleInfo", "export_bundle", "resolve_url"]

#: The events a bundle of a warehouse (Spark SQL) holds without ``--max-rows``: its rows
#: are counted there and sampled there, never streamed (see :func:`_warehouse_sample`).
WAREHOUSE_ROWS = 200_000


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`export_bundle` wrote."""

    path: Path
    model: str
    versions: tuple[str, ...]
    rows: int
    rows_in_range: int
    sampled: bool
    size: int
    manifest_digest: str
    registry_reason: str | None
    governance_reason: str | None


def _time(value: dt.datetime | dt.date | str | None, name: str) -> dt.datetime | None:
    return parse_time(value, f"--{name}")


def resolve_url(url: str, base_dir: Path) -> str:
    """A ``sqlite:///`` or ``duckdb:///`` URL with a relative path made absolute (spec rule)."""
    for scheme in ("sqlite:///", "duckdb:///"):
        if url.startswith(scheme) and not url.startswith(scheme + "/"):
            rest = url[len(scheme) :]
            if rest and rest != ":memory:":
                return scheme + str((base_dir / rest).resolve())
    return url


def _allocate(sizes: Any, max_rows: int) -> Any:
    """Rows kept per stratum: proportional, largest remainders, at least one where possible."""
    import numpy as np

    total = int(sizes.sum())
    quota = sizes * max_rows / total
    kept = np.minimum(np.floor(quota).astype(np.int64), sizes)
    if max_rows >= len(sizes):
        kept = np.maximum(kept, 1)
    while int(kept.sum()) > max_rows:  # the at-least-one rule overshot: trim the largest
        kept[int(np.argmax(kept))] -= 1
    left = max_rows - int(kept.sum())
    if left > 0:
        room = np.where(kept < sizes, quota - np.floor(quota), -1.0)
        for j in np.argsort(-room, kind="stable"):
            if left == 0:
                break
            if kept[j] < sizes[j]:
                kept[j] += 1
                left -= 1
    return kept


class _Strata:
    """Stratum codes of rows: (model version, UTC day) packed into one int64."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def codes(self, batch: Any) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(pc.fill_null(batch["model_version"], ""))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        ids = np.array(
            [self.versions.setdefault(str(v), len(self.versions)) for v in encoded.dictionary],
            dtype=np.int64,
        )
        local = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
        version = ids[local] if len(ids) else np.zeros(len(local), dtype=np.int64)
        us = pc.fill_null(pc.cast(batch["ts"], pa.int64()), 0).to_numpy(zero_copy_only=False)
        day = np.floor_divide(us, 86_400_000_000) + (1 << 31)
        return (version << 32) | day

    def describe(self, code: int) -> tuple[str, str]:
        names = {v: k for k, v in self.versions.items()}
        day = dt.date(1970, 1, 1) + dt.timedelta(days=(int(code) & 0xFFFFFFFF) - (1 << 31))
        return names[int(code) >> 32], day.isoformat()


def _hash_keys(batch: Any, seed: int) -> Any:
    """A keyed hash per row of (request id, version): the order-independent random key."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # without a request id column, the time stands in: still a property of the row, not of
    # where it sits in the read
    key = "request_id" if "request_id" in batch.schema.names else "ts"
    rid = pc.fill_null(pc.cast(batch[key], pa.string()), "")
    ver = pc.fill_null(pc.cast(batch["model_version"], pa.string()), "")
    joined = pc.binary_join_element_wise(rid, ver, "\x00").to_numpy(zero_copy_only=False)
    return pd.util.hash_array(joined, hash_key=f"wk{seed & 0xFFFFFFFFFFFFFF:014x}")


def _prune(table: Any, codes: Any, keys: Any, quota: dict[int, int]) -> tuple[Any, Any, Any]:
    """Keep, per stratum, the rows with the smallest keys (at most its quota)."""
    import numpy as np
    import pyarrow as pa

    order = np.lexsort((keys, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    first = np.zeros(len(order), dtype=np.int64)
    first[starts] = starts
    rank = np.arange(len(order)) - np.maximum.accumulate(first)
    limit = np.array([quota.get(int(c), 0) for c in sorted_codes[starts]], dtype=np.int64)
    limits = np.repeat(limit, np.diff(np.r_[starts, len(order)]))
    chosen = np.sort(order[rank < limits])
    return table.take(pa.array(chosen)), codes[chosen], keys[chosen]


def _stream_sample(
    source: Any, query: Any, max_rows: int, seed: int
) -> tuple[Any, dict[str, Any]] | None:
    """The stratified sample in two streaming passes (None: everything fits, no sample)."""
    import numpy as np
    import pyarrow as pa

    strata = _Strata()
    counts: dict[int, int] = {}
    for batch in source.batches(query, columns=["model_version", "ts"]):
        if batch.num_rows:
            values, n = np.unique(strata.codes(batch), return_counts=True)
            for c, k in zip(values.tolist(), n.tolist(), strict=True):
                counts[c] = counts.get(c, 0) + k
    total = sum(counts.values())
    if total <= max_rows:
        return None
    order = sorted(counts, key=strata.describe)
    kept = _allocate(np.array([counts[c] for c in order], dtype=np.int64), max_rows)
    quota = {c: int(k) for c, k in zip(order, kept, strict=True)}
    tables: list[Any] = []
    code_parts: list[Any] = []
    key_parts: list[Any] = []
    held = 0
    for batch in source.batches(query):
        if not batch.num_rows:
            continue
        tables.append(pa.Table.from_batches([batch]))
        code_parts.append(strata.codes(batch))
        key_parts.append(_hash_keys(batch, seed))
        held += batch.num_rows
        if held > 2 * max_rows:  # memory stays within a few times max_rows
            table, codes, keys = _prune(
                pa.concat_tables(tables),
                np.concatenate(code_parts),
                np.concatenate(key_parts),
                quota,
            )
            tables, code_parts, key_parts, held = [table], [codes], [keys], table.num_rows
    table, codes, _ = _prune(
        pa.concat_tables(tables), np.concatenate(code_parts), np.concatenate(key_parts), quota
    )
    got = dict(zip(*np.unique(codes, return_counts=True), strict=True))
    per_stratum = []
    for c in order:
        version, day = strata.describe(c)
        per_stratum.append(
            {"version": version, "day": day, "rows": counts[c], "kept": int(got.get(c, 0))}
        )
    keys = [
        (k, "ascending") for k in ("ts", "model_version", "request_id") if k in table.schema.names
    ]
    table = table.sort_by(keys)
    return table, {
        "method": "stratified",
        "strata": "model_version x UTC day",
        "allocation": "proportional to stratum size, largest remainders, at least one row "
        "per non-empty stratum while max_rows allows",
        "within_stratum": "the rows with the smallest keyed hash of (request id, model "
        "version) — pandas' SipHash, key from the seed: uniform without replacement and "
        "independent of the order rows are read in",
        "passes": "two streaming passes (counts, then selection); memory bounded by max_rows",
        "seed": seed,
        "max_rows": max_rows,
        "rows": table.num_rows,
        "rows_in_range": total,
        "per_stratum": per_stratum,
    }


def _warehouse_sample(
    source: Any, query: Any, max_rows: int, seed: int
) -> tuple[Any, dict[str, Any]]:
    """A warehouse's events as aggregates and a bounded sample, never streamed: the events
    per (version, UTC day) counted there (frozen in the manifest's ``per_stratum``), the
    same allocation as :func:`_stream_sample`, and the rows chosen there by a seeded hash
    rank per stratum (:meth:`~watchkeeper.core.telemetry.sql.SqlSource.stratified_sample`):
    at most ``max_rows`` rows cross the wire."""
    import numpy as np

    counts = source.strata_counts(query)
    order = sorted(counts)
    total = sum(counts.values())
    sizes = np.array([counts[k] for k in order], dtype=np.int64)
    kept = _allocate(sizes, max_rows) if total > max_rows else sizes
    quota = {k: int(n) for k, n in zip(order, kept, strict=True)}
    table = source.stratified_sample(query, quota, seed) if total else None
    if table is None:
        table = source.read(query)  # nothing selected: the empty table, typed
    keys = [
        (k, "ascending") for k in ("ts", "model_version", "request_id") if k in table.schema.names
    ]
    table = table.sort_by(keys)
    per_stratum = [
        {"version": v, "day": d, "rows": counts[(v, d)], "kept": quota[(v, d)]} for v, d in order
    ]
    return table, {
        "method": "stratified" if total > max_rows else "all",
        "strata": "model_version x UTC day",
        "allocation": "proportional to stratum size, largest remainders, at least one row "
        "per non-empty stratum while max_rows allows",
        "within_stratum": "the rows with the smallest xxhash64 of (seed, request id, model "
        "version), ranked in the warehouse: uniform without replacement and independent of "
        "the order rows are read in",
        "passes": "counted in the warehouse (one GROUP BY), the sample chosen "
        "there; at most max_rows rows read",
        "seed": seed,
        "max_rows": max_rows,
        "rows": table.num_rows,
        "rows_in_range": total,
        "per_stratum": per_stratum,
    }


def _profiles(spec: Any, source: Any, versions: Sequence[str]) -> tuple[list[Any], list[str]]:
    """[(version, how, ReferenceProfile)], [notes on references not bundled]."""
    from watchkeeper.core.drift.profile import build_profile
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    ref = spec.reference
    cols = spec.telemetry.columns
    features = list(cols.features) or None
    options = {
        "categorical": cols.categorical,
        "numerical": cols.numerical,
        "exclude": (*CANONICAL_ROLES, *cols.extras),
        "bins": spec.drift.bins,
        "max_categories": spec.drift.max_categories,
        "high_cardinality": spec.drift.high_cardinality,
    }
    if ref is None:
        return [], ["the spec names no reference"]
    if ref.kind == "artifact":
        return [], [f"the reference is a registry artifact ({ref.artifact}); it is not bundled"]
    if ref.kind == "file":
        from watchkeeper.core.workbench.reference_file import read_reference_file

        # read as the analyses read it (blank CSV fields missing, roles under either name)
        table = read_reference_file(spec, features)
        how = f"file {Path(ref.path).name}"
        return [(ref.version, how, build_profile(table, features, **options))], []
    start, end = spec.reference_range()
    # a warehouse's reference is profiled there: aggregates cross the wire, never its rows
    warehouse = getattr(source, "warehouse", False)
    out = []
    for version in [ref.version] if ref.version else list(versions):
        q = TelemetryQuery(model=spec.model.name, versions=(version,), start=start, end=end)
        how = f"window {start:%Y-%m-%dT%H:%M:%SZ} to {end:%Y-%m-%dT%H:%M:%SZ} of version {version}"
        if warehouse:
            from watchkeeper.core.drift.profile_sql import build_profile_sql

            profile = build_profile_sql(source, q, features, **options)
            if profile is not None:
                out.append((version, how + ", profiled in the warehouse", profile))
            continue
        table = source.read(q)
        if table.num_rows == 0:
            continue
        out.append((version, how, build_profile(table, features, **options)))
    return out, [] if out else ["the reference window holds no events"]


def _registry(spec: Any, timeout: int) -> tuple[dict[str, Any] | None, str | None, str | None]:
    uri = spec.model.registry_uri
    if not uri:
        return None, None, "the spec names no registry_uri"
    uri = resolve_url(uri, spec.base_dir)
    from watchkeeper.core.registry.client import open_registry
    from watchkeeper.core.registry.credentials import redact_uri

    try:
        with open_registry(uri, timeout=timeout) as registry:
            snap = registry.snapshot(spec.model.name)
    except WatchkeeperError as exc:
        return None, redact_uri(uri), f"the registry did not answer at export: {exc}"
    return snap.to_dict(), redact_uri(uri), None


def governance_records(store: Any, model: str) -> dict[str, list[dict[str, Any]]]:
    """The model's records as JSON values, plus the public keys that signed them."""
    import sqlalchemy as sa

    from watchkeeper.core.governance import schema
    from watchkeeper.core.governance.records import IdentityRecord, ModelCard

    def plain(records: Sequence[Any]) -> list[dict[str, Any]]:
        return [to_jsonable(dataclasses.asdict(r)) for r in records]

    rollbacks = store.rollbacks(model)
    applications = [a for r in rollbacks for a in store.rollback_applications(r.id)]
    t = schema.model_cards
    with store.engine.connect() as conn:
        cards = [
            ModelCard.from_row(r._mapping)
            for r in conn.execute(
                sa.select(t).where(t.c.model == model).order_by(t.c.created_at, t.c.id)
            )
        ]
        records = [*store.approvals(model), *rollbacks, *applications, *cards]
        records += store.incident_notes(model)
        keys = sorted({r.key_id for r in records})
        i = schema.identities
        identities = [
            IdentityRecord.from_row(r._mapping)
            for r in conn.execute(sa.select(i).where(i.c.key_id.in_(keys)).order_by(i.c.id))
        ]
    return {
        "approvals": plain(store.approvals(model)),
        "rollbacks": plain(rollbacks),
        "rollback_applications": plain(applications),
        "model_cards": plain(cards),
        "incident_notes": plain(store.incident_notes(model)),
        "identities": plain(identities),
    }


def _governance(spec: Any, url: str | None) -> tuple[dict[str, Any], str | None, str | None]:
    empty: dict[str, Any] = {
        k: []
        for k in (
            "approvals",
            "rollbacks",
            "rollback_applications",
            "model_cards",
            "incident_notes",
            "identities",
        )
    }
    url = url or spec.governance.database
    if not url:
        return empty, None, "the spec names no governance database"
    from watchkeeper.core.governance import GovernanceStore, db

    url = resolve_url(db.normalize_url(url), spec.base_dir)
    try:
        with GovernanceStore.open(url, upgrade=False) as store:
            return governance_records(store, spec.model.name), db.masked(url), None
    except WatchkeeperError as exc:
        return empty, db.masked(url), f"the governance database did not answer at export: {exc}"


def _canonical_spec(spec: Any) -> dict[str, Any]:
    """The telemetry mapping of the bundled Parquet: canonical role names, same features."""
    cols = spec.telemetry.columns
    roles = ("request_id", "ts", "model", "model_version", "score", "prediction", "label")
    mapping = {r: (r if getattr(cols, r) else None) for r in (*roles, "label_ts")}
    return {
        **mapping,
        "features": list(cols.features),
        "extras": list(cols.extras),
        "numerical": list(cols.numerical),
        "categorical": list(cols.categorical),
    }


def export_bundle(
    spec_path: Path | str,
    out_path: Path | str,
    *,
    start: dt.datetime | dt.date | str | None,
    end: dt.datetime | dt.date | str | None,
    versions: Sequence[str] | None = None,
    max_rows: int | None = None,
    seed: int = 0,
    signer: Signer,
    exporter: str | None = None,
    governance_url: str | None = None,
    registry_timeout: int = 4,
    now: dt.datetime | None = None,
) -> BundleInfo:
    """Write the bundle of the spec's model over ``[start, end)`` to ``out_path``."""
    from watchkeeper.core.governance.identity import os_login
    from watchkeeper.core.spec import load_spec
    from watchkeeper.core.telemetry.contract import TelemetryQuery
    from watchkeeper.core.telemetry.source import open_source

    spec_path = Path(spec_path)
    out_path = Path(out_path)
    if max_rows is not None and max_rows < 1:
        raise WatchkeeperError(f"--max-rows must be at least 1, got {max_rows}")
    spec = load_spec(spec_path)
    spec_bytes = spec_path.read_bytes()
    t0, t1 = _time(start, "start"), _time(end, "end")
    model = spec.model.name
    exported_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        workdir = tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".wk-bundle-")
    except OSError as exc:
        raise WatchkeeperError(f"{out_path}: cannot write there: {exc.strerror}") from None
    with workdir as tmp:
        parquet = Path(tmp) / "events.parquet"
        with open_source(
            spec.telemetry.source, spec.telemetry.mapping(), base_dir=spec.base_dir
        ) as source:
            query = TelemetryQuery(model=model, versions=tuple(versions or ()), start=t0, end=t1)
            rows, found, sampling = _write_telemetry(source, query, parquet, max_rows, seed)
            chosen = tuple(str(v) for v in versions) if versions else tuple(sorted(found))
            if rows == 0:
                raise WatchkeeperError(
                    f"no events of {model} (versions {', '.join(chosen) or 'any'}) between "
                    f"{t0 or 'the start'} and {t1 or 'the end'} in {spec.telemetry.source}"
                )
            profiles, profile_notes = _profiles(spec, source, chosen)
        snapshot, registry_uri, registry_reason = _registry(spec, registry_timeout)
        records, governance_db, governance_reason = _governance(spec, governance_url)

        parts: dict[str, bytes] = {
            fmt.SPEC: spec_bytes,
            fmt.REGISTRY: fmt.json_bytes({"snapshot": snapshot, "reason": registry_reason}),
            fmt.GOVERNANCE: fmt.json_bytes(records),
        }
        profile_entries = []
        for n, (version, how, profile) in enumerate(profiles):
            name = f"profiles/reference-{n}.json"
            parts[name] = fmt.json_bytes(profile.to_dict())
            profile_entries.append(
                {"part": name, "version": version, "source": how, "digest": profile.digest}
            )
        entries = [
            {
                "name": fmt.TELEMETRY,
                "digest": _file_digest(parquet),
                "size": parquet.stat().st_size,
                "media_type": "application/vnd.apache.parquet",
            }
        ]
        media = {fmt.SPEC: "application/toml"}
        for name, data in parts.items():
            entries.append(
                {
                    "name": name,
                    "digest": fmt.bytes_digest(data),
                    "size": len(data),
                    "media_type": media.get(name, "application/json"),
                }
            )
        manifest = {
            "format": fmt.FORMAT,
            "format_version": fmt.FORMAT_VERSION,
            "model": model,
            "range": {"start": t0, "end": t1},
            "versions": list(chosen),
            "exported_at": exported_at,
            "as_of": exported_at,
            "exporter": {
                "identity": exporter or os_login(),
                "identity_verified": False,
                "key_id": signer.key_id,
                "public_key": signer.public_key,
            },
            "telemetry": {
                "part": fmt.TELEMETRY,
                "rows": rows,
                "columns": columns_of(parquet),
                "mapping": _canonical_spec(spec),
                "sampling": sampling,
            },
            "spec": {"part": fmt.SPEC, "file": spec_path.name},
            "profiles": profile_entries,
            "profile_notes": profile_notes,
            "registry": {"uri": registry_uri, "included": snapshot is not None},
            "registry_reason": registry_reason,
            "governance": {"database": governance_db, "reason": governance_reason},
            "parts": sorted(entries, key=lambda e: str(e["name"])),
        }
        manifest = to_jsonable(manifest)
        with fmt.atomic_path(out_path) as target:
            try:
                with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
                    fmt.write_member(zf, fmt.MANIFEST, fmt.json_bytes(manifest))
                    fmt.write_member(
                        zf, fmt.SIGNATURE, fmt.json_bytes(fmt.sign_document(manifest, signer))
                    )
                    for name in sorted(parts):
                        fmt.write_member(zf, name, parts[name])
                    fmt.write_member_from_file(zf, fmt.TELEMETRY, parquet)
            except OSError as exc:
                raise WatchkeeperError(f"{out_path}: cannot write the bundle: {exc}") from None
    return BundleInfo(
        path=out_path,
        model=model,
        versions=chosen,
        rows=rows,
        rows_in_range=int(sampling.get("rows_in_range", rows)),
        sampled=sampling["method"] != "all",
        size=out_path.stat().st_size,
        manifest_digest=fmt.manifest_digest(manifest),
        registry_reason=registry_reason,
        governance_reason=governance_reason,
    )


def _write_telemetry(
    source: Any, query: Any, parquet: Path, max_rows: int | None, seed: int
) -> tuple[int, set[str], dict[str, Any]]:
    """Write the selected events to ``parquet``: (rows, versions seen, sampling record).

    All rows are streamed batch by batch (bounded memory, in the source's order); a capped
    export reads the source twice (counts per stratum, then the selection), holding at most
    a few times ``max_rows`` rows.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if getattr(source, "warehouse", False):
        table, sampling = _warehouse_sample(source, query, max_rows or WAREHOUSE_ROWS, seed)
        if table.num_rows:
            pq.write_table(table, parquet, compression="zstd")
        versions = {str(v) for v in pc.unique(table["model_version"]).to_pylist()}
        return table.num_rows, versions, sampling
    if max_rows is None:
        writer = None
        rows = 0
        found: set[str] = set()
        try:
            for batch in source.batches(query):
                if batch.num_rows == 0:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(str(parquet), batch.schema, compression="zstd")
                writer.write_batch(batch)
                rows += batch.num_rows
                found.update(str(v) for v in pc.unique(batch["model_version"]).to_pylist())
        finally:
            if writer is not None:
                writer.close()
        return rows, found, {"method": "all", "rows": rows}
    sampled = _stream_sample(source, query, max_rows, seed)
    if sampled is None:
        return _write_telemetry(source, query, parquet, None, seed)
    table, sampling = sampled
    found = {str(v) for v in pc.unique(table["model_version"]).to_pylist()}
    if table.num_rows:
        pq.write_table(table, parquet, compression="zstd")
    return table.num_rows, found, sampling


def columns_of(parquet: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(parquet).names)


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
