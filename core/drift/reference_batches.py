"""A reference too large to hold, prepared a few of its columns at a time.

:func:`~watchkeeper.core.drift.reference.prepare_reference` takes the reference as one table:
a 3,000,000-event reference of 50 features read from DuckDB held 2.0-2.5 GiB of the Drift
view's 3.2 GiB peak, although what an analysis keeps of it — the profile, each numerical
feature's sorted values (at most ``exact_sample_limit`` of them), the PCA model — is a few
tens of MB. :func:`prepare_reference_in_batches` reads the reference ``batch_columns``
columns at a time (a source that returns the same rows in the same order on every read:
DuckDB, Parquet), keeps what the analyses need of each batch and drops the batch, so the
process holds one batch of columns, never the table.

Every part is what the whole table gives, bit for bit: each feature's profile and sorted
values depend on its column alone; the prediction column is read last, so its position among
the numerical columns (which seeds its sample) is the one it has in the whole table; the PCA
is fitted on the rows :func:`~watchkeeper.core.drift.multivariate.pca_rows` chooses, taken
from each column as it passes (``fit_pca(rows_of=)``). The result keeps no column of the
reference (its ``table`` has the rows and no column): an analysis with other features or
settings than the preparation's fails with a :class:`DriftError` naming what it lacks. The
disk cache keeps it too (:func:`~watchkeeper.core.drift.reference_cache.
cached_reference_in_batches`), keyed by a digest of the batches as they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.data import NUMERICAL, numeric_values
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import fit_pca, multivariate_features, pca_rows
from watchkeeper.core.drift.profile import (
    DEFAULT_VOCABULARY_LIMIT,
    FeatureProfile,
    ReferenceProfile,
    build_profile,
)
from watchkeeper.core.drift.reference import PreparedReference, SortedReference, reference_sorted
from watchkeeper.core.progress import CancelCheck, Progress, check_cancelled
from watchkeeper.core.spec import DriftSection

__all__ = ["column_batches", "prepare_reference_in_batches", "require_rows"]


def column_batches(
    features: Sequence[str], prediction: str | None, batch_columns: int
) -> list[list[str]]:
    """The columns :func:`prepare_reference_in_batches` reads, ``batch_columns`` at a time:
    the features, then the prediction column (last, as in the whole table) unless a feature."""
    pred = prediction if prediction is not None and prediction not in set(features) else None
    names = [*features, *([pred] if pred else [])]
    step = max(1, batch_columns)
    return [names[i : i + step] for i in range(0, len(names), step)]


def require_rows(table: pa.Table, rows: int) -> None:
    """Refuse a batch of another number of rows than the reference's first count."""
    if table.num_rows != rows:
        raise DriftError(
            f"the reference changed while it was read: {rows:,} rows, then "
            f"{table.num_rows:,} (read it again)"
        )


def prepare_reference_in_batches(
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
) -> PreparedReference:
    """What ``prepare_reference(table, features=..., prediction="auto")`` gives for the table
    of ``rows`` rows that ``read(columns)`` returns a few columns of at a time.

    ``prediction`` names the prediction column when the reference has one (the caller knows:
    it is a column of the source). A read that returns another number of rows than ``rows``
    (the data changed meanwhile) is refused.
    """
    if not features:
        raise DriftError("a reference is prepared in batches only for named features")
    if rows < 1:
        raise DriftError("the reference has no rows")
    if len(set(features)) != len(features):  # a batch sees only its own columns
        raise DriftError("a feature is listed twice")
    s = settings or DriftSection()
    cats, nums = list(categorical), list(numerical)
    wanted = set(features)
    pred = prediction if prediction is not None and prediction not in wanted else None
    step = max(1, batch_columns)
    batches = column_batches(features, prediction, batch_columns)
    limit = s.exact_sample_limit
    sel = pca_rows(rows, seed)
    profiles: list[FeatureProfile] = []
    pred_profile: FeatureProfile | None = None
    sorted_values: dict[str, SortedReference] = {}
    pca_columns: dict[str, np.ndarray] = {}
    numeric_index = 0  # a numerical column's position among them seeds its sample
    # the next batch is read while this one is prepared (both release the GIL): one batch
    # more in memory, and both cores busy, as when the whole table is profiled
    with ThreadPoolExecutor(1) as reader:
        ahead = reader.submit(read, batches[0])
        for b, batch in enumerate(batches):
            table = ahead.result()
            check_cancelled(cancelled)
            if b + 1 < len(batches):
                ahead = reader.submit(read, batches[b + 1])
            if progress is not None:
                first, last = b * step + 1, b * step + len(batch)
                progress(b / len(batches), f"reading the reference: columns {first:,}-{last:,}")
            require_rows(table, rows)
            feats = [n for n in batch if n in wanted]
            numeric: list[str] = []
            if feats:
                part = build_profile(
                    table,
                    feats,
                    categorical=cats,
                    numerical=nums,
                    bins=s.bins,
                    max_categories=s.max_categories,
                    high_cardinality=s.high_cardinality,
                )
                profiles.extend(part.features)
                numeric = [fp.name for fp in part.features if fp.kind == NUMERICAL]
            if pred is not None and pred in batch:
                (pred_profile,) = build_profile(
                    table, [pred], numerical=[pred], bins=s.bins
                ).features
                numeric.append(pred)
            for name in numeric:
                values = numeric_values(table.column(name), name)
                if name != prediction:  # never in the PCA, also when among the features
                    pca_columns[name] = values.copy() if sel is None else values[sel]
                ref, mode = reference_sorted(values, limit, seed, numeric_index)
                ref.flags.writeable = False
                sorted_values[name] = SortedReference(ref, mode, numeric_index, limit, seed)
                numeric_index += 1
                del values
            del table
    check_cancelled(cancelled)
    profile = ReferenceProfile(
        rows=rows,
        features=tuple(profiles),
        bins=s.bins,
        max_categories=s.max_categories,
        high_cardinality=s.high_cardinality,
        vocabulary_limit=max(DEFAULT_VOCABULARY_LIMIT, s.max_categories),  # build_profile's
    )
    mv_names, _ = multivariate_features([n for n in pca_columns])
    pca_features = None
    model = None
    if len(mv_names) >= 2:
        pca_features = tuple(mv_names)
        model = fit_pca(mv_names, [pca_columns[n] for n in mv_names], seed=seed, rows_of=rows)
    pca_columns.clear()
    # the rows without a column: a reference of ``rows`` rows that holds none of them
    held = pa.table({"rows": pa.nulls(rows)}).select([])
    return PreparedReference(
        table=held,
        profile=profile,
        profiled_with=(s.bins, s.max_categories, s.high_cardinality),
        sorted_values=MappingProxyType(sorted_values),
        predictions=MappingProxyType(
            {(pred, s.bins): pred_profile} if pred is not None and pred_profile else {}
        ),
        pca_features=pca_features,
        pca=model,
        seed=seed,
    )
