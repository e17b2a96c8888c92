"""A reference window prepared where it lives: its profile built in the database, its raw
values a bounded seeded sample.

:func:`prepare_reference_sql` gives what
:func:`~watchkeeper.core.drift.reference.prepare_reference` gives on the rows of the
reference window, without reading them:

- the profile from :func:`~watchkeeper.core.drift.profile_sql.build_profile_sql` (every
  count, edge and category equal to the in-memory profile; mean and spread to ~1e-15) — the
  prediction column's profile too;
- the exact statistics' sorted reference values and the multivariate check's PCA from at
  most ``exact_sample_limit`` reference rows, fetched with the statement that samples the
  current data's windows (:func:`~watchkeeper.core.drift.sql_counts.sample_statement`, one
  window over the reference): a reference of at most that many rows comes back whole and
  its sorted values are the in-memory ones (``mode = "all"``, the same numbers); a larger
  one as a seeded systematic sample of exactly that many rows (``mode = "sample"``, as in
  memory above the limit, where each feature's finite values are resampled with
  replacement instead: the same size, another draw, so the exact statistics agree within
  their sampling error and not bit for bit).

The result is a :class:`~watchkeeper.core.drift.reference.PreparedReference` whose ``table``
is the fetched rows (the numerical features and the prediction column, as float64) and
``sampled_from`` the reference's size when they are a sample; its ``notes`` say so, and
:func:`~watchkeeper.core.drift.engine_sql.analyze_drift_sql` carries them into the result.
It is not kept in the disk cache (:mod:`~watchkeeper.core.drift.reference_cache`): see
ARCHITECTURE.md (Drift).

By default the workbench comes here only for a reference larger than ``exact_sample_limit``
on a server (``analyses.REFERENCE_IN_DATABASE``): one within it is read as rows, since every
one of its rows would be fetched anyway, and one read measured faster on Spark than the
profile's statements and the sample's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from watchkeeper.core.drift.data import NUMERICAL
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import multivariate_features
from watchkeeper.core.drift.profile import FeatureProfile
from watchkeeper.core.drift.profile_sql import build_profile_sql, exact_quantiles
from watchkeeper.core.drift.reference import (
    PreparedReference,
    SortedReference,
    pca_model_of,
    reference_sorted,
)
from watchkeeper.core.drift.sql_counts import fetch_float_blocks, sample_statement
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES
from watchkeeper.core.telemetry.windows import WindowSpec, plan_windows

__all__ = ["fetch_reference_sample", "prepare_reference_sql", "profiles_in_database"]


def profiles_in_database(source: Any) -> bool:
    """Whether ``source``'s database can profile a reference exactly (exact quantiles:
    DuckDB, PostgreSQL, Spark); elsewhere (SQLite) the reference is read as rows."""
    return exact_quantiles(source.engine.dialect.name)


def fetch_reference_sample(
    conn: sa.Connection,
    table: sa.FromClause,
    names: Sequence[str],
    *,
    limit: int,
    seed: int = 0,
    timestamp: str | None = "ts",
    where: Any = None,
    order_by: Sequence[str] = (),
    fetched: Callable[[int], None] | None = None,
) -> pa.Table:
    """At most ``limit`` rows of ``names`` (float64, NULL as NaN) of the selected rows: all
    of them when they fit, else a seeded systematic sample of ``limit`` rows
    (:func:`~watchkeeper.core.drift.sql_counts.sample_statement` over one window); in time
    order (ties by ``order_by``). ``fetched(n)`` hears each block's row count as it
    arrives."""
    cols = [c.name for c in table.c]
    ties = [c for c in order_by if c in cols]
    one = plan_windows(WindowSpec("all"), None, None)
    stmt = sample_statement(
        table,
        one,
        list(names),
        limit=limit,
        seed=seed,
        timestamp=timestamp,
        where=where,
        order_by=ties,
    )
    parts: list[np.ndarray] = []
    held = 0
    blocks = fetch_float_blocks(conn, stmt, len(names) + 1)
    try:
        for block in blocks:
            if fetched is not None:
                fetched(block.shape[0])
            held += block.shape[0]
            if held > limit:  # by construction never: a guard on the bound itself
                raise DriftError(f"the reference sample returned over {limit:,} rows")
            parts.append(block[:, 1:])
    finally:
        blocks.close()
    x = np.concatenate(parts) if parts else np.empty((0, len(names)))
    return pa.table({n: pa.array(x[:, j], pa.float64()) for j, n in enumerate(names)})


def prepare_reference_sql(
    source: Any,
    query: Any,
    conn: sa.Connection,
    table: sa.FromClause,
    *,
    where: Any,
    features: Sequence[str],
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    settings: DriftSection | None = None,
    prediction: str | None = "score",
    order_by: Sequence[str] = ("request_id",),
    exact: bool = True,
    multivariate: bool = True,
    seed: int = 0,
    fetched: Callable[[int], None] | None = None,
) -> PreparedReference | None:
    """The reference window ``query`` of ``source`` (a
    :class:`~watchkeeper.core.telemetry.sql.SqlSource`) prepared in its database (see the
    module's description); ``None`` when the window holds no event.

    ``conn``, ``table`` and ``where`` are the connection, the reflected table and the
    ``WHERE`` selecting the same events, as the pushed-down analysis uses them; ``features``
    must be named. ``prediction``: the prediction column, profiled and sampled when the
    source has it (``None``: none). ``fetched`` as for :func:`fetch_reference_sample`.
    """
    s = settings or DriftSection()
    cats, nums = list(categorical), list(numerical)
    have = set(source.schema().names)
    pred = prediction if prediction and prediction in have and prediction not in features else None
    # the prediction column profiled with the features, as the in-memory engine profiles it
    # (numerical, the settings' bins; a numerical profile depends on no other argument)
    asked = [*features, *([pred] if pred else [])]
    full = build_profile_sql(
        source,
        query,
        asked,
        categorical=[c for c in cats if c != pred],
        numerical=[*(n for n in nums if n != pred), *([pred] if pred else [])],
        exclude={*CANONICAL_ROLES, *((timestamp,) if timestamp else ())},
        bins=s.bins,
        max_categories=s.max_categories,
        high_cardinality=s.high_cardinality,
    )
    if full is None:
        return None
    base = full.select(list(features))
    numeric = [fp for fp in full.features if fp.kind == NUMERICAL]
    names = [fp.name for fp in numeric]
    # the prediction column is not a model input: never in the multivariate check
    mv_names, _ = multivariate_features([n for n in names if n != prediction])
    want_mv = multivariate and len(mv_names) >= 2
    limit = s.exact_sample_limit
    sample = None
    if names and (exact or want_mv):
        sample = fetch_reference_sample(
            conn,
            table,
            names,
            limit=limit,
            seed=seed,
            timestamp=timestamp,
            where=where,
            order_by=order_by,
            fetched=fetched,
        )
    if sample is None:
        sample = pa.table({n: pa.array([], pa.float64()) for n in names})
    sampled = full.rows > sample.num_rows
    sorted_values: dict[str, SortedReference] = {}
    if exact and names:
        for k, n in enumerate(names):
            values = sample.column(n).to_numpy()
            ref, mode = reference_sorted(values, limit, seed, k)
            ref.flags.writeable = False
            sorted_values[n] = SortedReference(ref, "sample" if sampled else mode, k, limit, seed)
    predictions: dict[tuple[str, int], FeatureProfile] = {}
    if pred is not None:
        predictions[(pred, s.bins)] = full.feature(pred)
    model = pca_model_of(None, sample, mv_names, seed) if want_mv else None
    notes = [
        f"reference profiled in the database ({full.rows:,} rows)"
        + (
            f"; its exact statistics and the multivariate check on a seeded systematic sample "
            f"of {sample.num_rows:,} of its rows (exact_sample_limit)"
            if sampled and sample.num_rows
            else ""
        )
    ]
    return PreparedReference(
        table=sample,
        profile=base,
        profiled_with=(s.bins, s.max_categories, s.high_cardinality),
        sorted_values=MappingProxyType(sorted_values),
        predictions=MappingProxyType(predictions),
        pca_features=tuple(mv_names) if want_mv else None,
        pca=model,
        seed=seed,
        sampled_from=full.rows if sampled else None,
        notes=tuple(notes),
    )
