"""A reference prepared once for many drift analyses.

Everything an analysis derives from the reference alone — the profile (bins, vocabularies,
counts), each numerical feature's finite values sorted (or their seeded sample, for the exact
KS and Wasserstein statistics), the profile of the prediction column, and the PCA model with
its threshold (the multivariate check) — is computed by
:func:`~watchkeeper.core.drift.analysis.prepare_reference` and held here, read-only, so that
an analysis against it does only the current data's work. The window and the command line
analyse the same reference again and again (other windows, slices, time ranges).

A :class:`PreparedReference` is used exactly like the reference data with ``profile=`` given:
the results are the same, bit for bit. Whatever the analysis asks that the prepared reference
does not hold (another seed, another sample limit, other features) is computed from the
reference table it keeps, as without preparation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.multivariate import PCAModel
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile

__all__ = ["PreparedReference", "SortedReference", "reference_sorted"]


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
    :func:`~watchkeeper.core.drift.analysis.prepare_reference` or built there with the
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

    def pca_model(self, features: Sequence[str], seed: int) -> tuple[bool, PCAModel | None]:
        """``(True, model)`` when the PCA of ``features`` with ``seed`` was prepared."""
        if self.pca_features is None or tuple(features) != self.pca_features:
            return False, None
        if seed != self.seed:
            return False, None
        return True, self.pca
