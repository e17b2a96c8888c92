"""The reference side of a drift analysis, resolved per analysis or prepared once for many.

:func:`resolve_reference` turns what an engine is given as ``reference`` — data, a
:class:`~watchkeeper.core.drift.profile.ReferenceProfile`, or a :class:`PreparedReference` —
into the reference table (or ``None``: a profile only), the profile restricted to the
features asked for (telemetry role columns are never features unless named) and, when both
sides have it, the prediction column's profile.

Everything an analysis derives from the reference alone — the profile (bins, vocabularies,
counts), each numerical feature's finite values sorted (or their seeded sample, for the exact
KS and Wasserstein statistics), the profile of the prediction column, and the PCA model with
its threshold (the multivariate check) — is computed by :func:`prepare_reference` and held
here, read-only, so that an analysis against it does only the current data's work. The
window and the command line analyse the same reference again and again (other windows,
slices, time ranges).

A :class:`PreparedReference` is used exactly like the reference data with ``profile=`` given:
the results are the same, bit for bit. Whatever the analysis asks that the prepared reference
does not hold (another seed, another sample limit, other features) is computed from the
reference table it keeps, as without preparation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.counting import worker_threads
from watchkeeper.core.drift.data import NUMERICAL, as_table, numeric_values, resolve_features
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import PCAModel, fit_pca, multivariate_features
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile, build_profile
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.contract import CANONICAL_ROLES

__all__ = [
    "PreparedReference",
    "SortedReference",
    "default_features",
    "pca_model_of",
    "prepare_reference",
    "reference_sorted",
    "resolve_reference",
    "sorted_values_of",
]


def reference_sorted(
    values: np.ndarray, limit: int, seed: int, feature_index: int
) -> tuple[np.ndarray, str]:
    """The reference's finite values (a seeded sample of ``limit`` above it), sorted."""
    ref = values[np.isfinite(values)]
    mode = "all"
    if ref.size > limit:
        rng = np.random.default_rng([seed, feature_index, 1 << 30])
        ref = ref[rng.integers(0, ref.size, limit)]
        mode = "sample"
    ref.sort()  # a fresh array (filtered or sampled): sorted in place
    return ref, mode


@dataclass(frozen=True, eq=False)
class SortedReference:
    """One feature's sorted reference values as :func:`reference_sorted` made them."""

    values: np.ndarray  # read-only
    mode: str  # "all" or "sample"
    feature_index: int
    limit: int
    seed: int

    def fits(self, feature_index: int, limit: int, seed: int) -> bool:
        """Whether :func:`reference_sorted` with these arguments gives exactly ``values``."""
        if self.mode == "all":  # every finite value, whatever the seed and the position
            return self.values.size <= limit
        return (feature_index, limit, seed) == (self.feature_index, self.limit, self.seed)


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """The reference data and what every analysis against it needs, computed once.

    ``table`` is the reference data (kept, not copied); ``profile`` its profile — given to
    :func:`prepare_reference` or built there with the
    settings' ``bins``, ``max_categories`` and ``high_cardinality`` (``profiled_with``;
    ``None`` when given). Results cite ``profile.digest``.
    """

    table: pa.Table
    profile: ReferenceProfile
    profiled_with: tuple[int, int, int] | None
    sorted_values: Mapping[str, SortedReference]
    predictions: Mapping[tuple[str, int], FeatureProfile]  # (column, bins) → profile
    pca_features: tuple[str, ...] | None  # None: no PCA model prepared
    pca: PCAModel | None  # None with pca_features: too few reference rows
    seed: int
    #: The reference's rows when ``table`` is a seeded sample of them (prepared in the
    #: database: :mod:`~watchkeeper.core.drift.reference_sql`); None: ``table`` is the data.
    sampled_from: int | None = None
    #: What the preparation says about itself, carried into the analyses' notes.
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        return self.profile.digest

    @property
    def rows(self) -> int:
        return self.profile.rows

    def sorted_reference(
        self, name: str, feature_index: int, limit: int, seed: int
    ) -> tuple[np.ndarray, str] | None:
        """:func:`reference_sorted` of feature ``name`` when prepared, else ``None``."""
        got = self.sorted_values.get(name)
        if got is None or not got.fits(feature_index, limit, seed):
            return None
        return got.values, got.mode

    def prediction_profile(self, name: str, bins: int) -> FeatureProfile | None:
        return self.predictions.get((name, bins))

    def without_prepared_columns(self) -> PreparedReference:
        """This reference with only the table's columns it has not prepared, copied.

        An analysis against a prepared reference reads from its table only what was not
        prepared: a numerical feature whose sorted values and PCA are held here is never
        read again, yet the table read from a database kept it (the wide demo's reference,
        62,000 rows × 500 features: 229 MiB beside the 190 MiB of sorted values). The kept
        columns are copied so that the read's buffers, which Arrow's C import frees only
        when every column of a batch is gone, go back. The prediction columns stay (whether
        the reference has one is read from the table). Meant for an analysis with the
        preparation's own features and settings (``run_drift``): one that would fall back
        to a dropped column fails with a :class:`DriftError` naming it.
        """
        if self.pca_features is None:  # a multivariate check would fit its PCA from the table
            return self
        predictions = {name for name, _ in self.predictions}
        drop = {n for n in self.sorted_values if n not in predictions}
        keep = [n for n in self.table.column_names if n not in drop]
        if len(keep) == self.table.num_columns:
            return self
        schema = pa.schema([self.table.schema.field(n) for n in keep])
        table = pa.table([_copied(self.table.column(n)) for n in keep], schema=schema)
        return dataclasses.replace(self, table=table)

    def pca_model(self, features: Sequence[str], seed: int) -> tuple[bool, PCAModel | None]:
        """``(True, model)`` when the PCA of ``features`` with ``seed`` was prepared."""
        if self.pca_features is None or tuple(features) != self.pca_features:
            return False, None
        if seed != self.seed:
            return False, None
        return True, self.pca


def _copied(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` in buffers of its own (one chunk): not sharing a read's batch buffers."""
    if column.num_chunks == 0:
        return column
    return pa.chunked_array([pa.concat_arrays(column.chunks)], column.type)


def _reference_column(ref_table: pa.Table, name: str) -> np.ndarray:
    if name not in ref_table.column_names:
        raise DriftError(
            f"the reference has no column {name!r} any more: it was prepared for other "
            "features or settings than this analysis's (prepare it again for these)"
        )
    return numeric_values(ref_table.column(name), name)


def default_features(
    schema: pa.Schema,
    *,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
) -> list[str]:
    """The features :func:`prepare_reference` profiles when none are named: every column of a
    usable type but the roles and the timestamp — decided by the schema alone, so a reference
    prepared a few columns at a time can name them before reading any."""
    empty = schema.empty_table()
    kinds = resolve_features(
        empty,
        None,
        categorical=categorical,
        numerical=numerical,
        exclude=_not_features(timestamp),
        what="reference",
    )
    return list(kinds)


def _not_features(timestamp: str | None) -> set[str]:
    return {*CANONICAL_ROLES, *(x for x in (timestamp,) if x)}


def _base_profile(
    reference: Any,
    s: DriftSection,
    *,
    features: Sequence[str] | None,
    categorical: Iterable[str],
    numerical: Iterable[str],
    timestamp: str | None,
    profile: ReferenceProfile | None = None,
) -> tuple[pa.Table | None, ReferenceProfile]:
    """The reference as a table (or None) and its profile, restricted to ``features``."""
    ref_table: pa.Table | None = None
    if isinstance(reference, PreparedReference):
        prepared = reference
        ref_table = prepared.table
        if profile is not None and profile.digest != prepared.digest:
            raise DriftError(
                f"the profile given ({profile.digest}) is not the prepared reference's "
                f"({prepared.digest}): prepare the reference with that profile"
            )
        built = prepared.profiled_with
        if profile is None and built is not None:
            wanted = (s.bins, s.max_categories, s.high_cardinality)
            if built != wanted:
                raise DriftError(
                    "the prepared reference was profiled with bins, max_categories, "
                    f"high_cardinality = {built}, the settings ask for {wanted}: "
                    "prepare it again with these settings"
                )
        profile = prepared.profile
        if features:
            profile = profile.select([*features])
    elif isinstance(reference, ReferenceProfile):
        profile = reference.select([*features]) if features else reference
    elif profile is not None:
        ref_table = as_table(reference, "reference")
        if features:
            profile = profile.select([*features])
    else:
        ref_table = as_table(reference, "reference")
        profile = build_profile(
            ref_table,
            features,
            categorical=categorical,
            numerical=numerical,
            exclude=_not_features(timestamp),
            bins=s.bins,
            max_categories=s.max_categories,
            high_cardinality=s.high_cardinality,
        )
    return ref_table, profile


def _with_prediction(
    ref_table: pa.Table | None,
    profile: ReferenceProfile,
    s: DriftSection,
    current_columns: Sequence[str],
    prediction: str | None,
    prepared: PreparedReference | None,
) -> tuple[ReferenceProfile, str | None]:
    """The profile with the prediction column appended when both sides have it."""
    names = list(profile.names)
    pred_name = None
    auto = prediction == "auto"
    if auto:
        prediction = "score"
    if prediction is not None:
        held = prepared is not None and prepared.prediction_profile(prediction, s.bins) is not None
        has_ref = held or (ref_table is not None and prediction in ref_table.column_names)
        has_cur = prediction in current_columns
        if has_ref and has_cur and prediction not in names:
            pf = prepared.prediction_profile(prediction, s.bins) if prepared else None
            if pf is None:
                pp = build_profile(ref_table, [prediction], numerical=[prediction], bins=s.bins)
                pf = pp.features[0]
            profile = ReferenceProfile(
                rows=profile.rows,
                features=(*profile.features, pf),
                bins=profile.bins,
                max_categories=profile.max_categories,
                high_cardinality=profile.high_cardinality,
                vocabulary_limit=profile.vocabulary_limit,
            )
            pred_name = prediction
        elif prediction in names:
            pred_name = prediction
        elif not auto:
            raise DriftError(f"prediction column {prediction!r} is not in both datasets")
    return profile, pred_name


def resolve_reference(
    reference: Any,
    s: DriftSection,
    current_columns: Sequence[str],
    *,
    features: Sequence[str] | None,
    categorical: Iterable[str],
    numerical: Iterable[str],
    timestamp: str | None,
    prediction: str | None,
    what: str,
    profile: ReferenceProfile | None = None,
) -> tuple[pa.Table | None, ReferenceProfile, str | None]:
    """The reference as a table (or None) and its profile, with the prediction column.

    ``current_columns`` are the current data's columns (every profiled feature must be one);
    ``what`` names the current data in errors. The other arguments are the engines'.
    """
    ref_table, profile = _base_profile(
        reference,
        s,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        profile=profile,
    )
    missing = [n for n in profile.names if n not in current_columns]
    if missing:
        raise DriftError(
            f"{what}: no column {missing[0]!r}, which the reference has "
            f"({what} columns: {', '.join(list(current_columns)[:20])})"
        )
    prepared = reference if isinstance(reference, PreparedReference) else None
    profile, pred_name = _with_prediction(
        ref_table, profile, s, current_columns, prediction, prepared
    )
    return ref_table, profile, pred_name


def sorted_values_of(
    prepared: PreparedReference | None,
    ref_table: pa.Table,
    name: str,
    feature_index: int,
    limit: int,
    seed: int,
) -> tuple[np.ndarray, str]:
    """:func:`reference_sorted` of one feature: prepared, or computed now."""
    got = prepared.sorted_reference(name, feature_index, limit, seed) if prepared else None
    if got is None:
        values = _reference_column(ref_table, name)
        got = reference_sorted(values, limit, seed, feature_index)
        if prepared is not None and prepared.sampled_from is not None:
            got = (got[0], "sample")  # the table is a sample of the reference already
    return got


def pca_model_of(
    prepared: PreparedReference | None, ref_table: pa.Table, names: Sequence[str], seed: int
) -> PCAModel | None:
    """:func:`fit_pca` on the reference's ``names``: prepared, or fitted now."""
    if prepared is not None:
        found, model = prepared.pca_model(names, seed)
        if found:
            return model
    ref_cols = [_reference_column(ref_table, c) for c in names]
    return fit_pca(names, ref_cols, seed=seed)


def prepare_reference(
    reference: Any,
    *,
    features: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    settings: DriftSection | None = None,
    prediction: str | None = "auto",
    profile: ReferenceProfile | None = None,
    exact: bool = True,
    multivariate: bool = True,
    seed: int = 0,
) -> PreparedReference:
    """Reference data made ready for many analyses
    (:func:`~watchkeeper.core.drift.engine.analyze_drift`,
    :func:`~watchkeeper.core.drift.engine_sql.analyze_drift_sql`).

    The arguments mean what they mean to the engines (``profile``: a profile of
    ``reference`` made earlier, used as is; else one is built with ``settings``). Pass the
    result as ``reference``: the analyses then give exactly the results they give with the
    data and this profile, without profiling, sorting the reference values or fitting the
    PCA again. ``exact`` / ``multivariate`` False skip preparing what those need.
    """
    if isinstance(reference, PreparedReference):
        return reference
    if isinstance(reference, ReferenceProfile):
        raise DriftError(
            "a profile alone cannot be prepared: the exact statistics and the multivariate "
            "check need the reference data"
        )
    s = settings or DriftSection()
    ref_table = as_table(reference, "reference")
    if profile is not None:
        absent = [n for n in profile.names if n not in ref_table.column_names]
        if absent or profile.rows != ref_table.num_rows:
            raise DriftError(
                f"the profile ({profile.rows:,} rows) does not describe this reference "
                f"({ref_table.num_rows:,} rows"
                + (f", no column {absent[0]!r}" if absent else "")
                + ")"
            )
    # a table in comes back as the same table: keep the one known not to be None
    _, base = _base_profile(
        ref_table,
        s,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        profile=profile,
    )
    # as an analysis whose current data has every reference column would see it
    full, pred_name = _with_prediction(ref_table, base, s, ref_table.column_names, prediction, None)
    numeric = [fp for fp in full.features if fp.kind == NUMERICAL]
    limit = s.exact_sample_limit
    sorted_values: dict[str, SortedReference] = {}
    if exact and numeric:

        def one(k: int) -> SortedReference:
            values = numeric_values(ref_table.column(numeric[k].name), numeric[k].name)
            ref, mode = reference_sorted(values, limit, seed, k)
            ref.flags.writeable = False
            return SortedReference(ref, mode, k, limit, seed)

        with ThreadPoolExecutor(worker_threads()) as pool:
            for k, got in enumerate(pool.map(one, range(len(numeric)))):
                sorted_values[numeric[k].name] = got
    predictions = {}
    if pred_name is not None and pred_name not in base.names:
        predictions[(pred_name, s.bins)] = full.features[-1]
    pca_features = None
    model = None
    mv_names, _ = multivariate_features([fp.name for fp in numeric if fp.name != pred_name])
    if multivariate and len(mv_names) >= 2:
        pca_features = tuple(mv_names)
        model = pca_model_of(None, ref_table, mv_names, seed)
    return PreparedReference(
        table=ref_table,
        profile=base,
        profiled_with=(
            None if profile is not None else (s.bins, s.max_categories, s.high_cardinality)
        ),
        sorted_values=MappingProxyType(sorted_values),
        predictions=MappingProxyType(predictions),
        pca_features=pca_features,
        pca=model,
        seed=seed,
    )
