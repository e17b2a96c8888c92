"""Reference profiles: the bins, vocabularies and counts a drift analysis compares against.

A profile is computed once per reference (a training snapshot or a baseline window) and reused;
records cite its :attr:`ReferenceProfile.digest` (``watchkeeper.core.evidence.digest`` of its
JSON form, without the digest itself).

Bins of one feature, in order (the last bin is always *missing*):

- numerical: value bins cut at the reference's quantiles ``i/bins`` (finite values only,
  duplicates removed) — or, when the reference takes at most ``bins`` distinct values, one
  bin per value and one per gap between values — with open outer edges:
  ``(-inf, e1) [e1, e2) ... [e_k, +inf]``. A value ``x`` is in bin ``i`` when
  ``e_i <= x < e_{i+1}``; ``±inf`` fall in the outer bins; NaN and nulls are missing.
- categorical: the ``max_categories`` most frequent reference categories (ties by value), then
  *other* (reference categories beyond the top), then *unseen* (not in the reference
  vocabulary at all), then *missing*. The vocabulary beyond the top is kept up to
  ``vocabulary_limit`` values; when the reference has more distinct values than that,
  ``vocabulary_complete`` is false and anything outside the stored vocabulary counts as
  *other* (unseen cannot be told apart, and the unseen rate is reported as null).

A categorical feature is *high-cardinality* when its reference has more than
``high_cardinality`` distinct values; it gets its own thresholds.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.drift.data import (
    CATEGORICAL,
    NUMERICAL,
    as_table,
    finite_mean_std,
    numeric_values,
    resolve_features,
    worker_threads,
)
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.evidence import digest as _digest

__all__ = ["PROFILE_FORMAT", "FeatureProfile", "ReferenceProfile", "build_profile"]

PROFILE_FORMAT = 1
DEFAULT_VOCABULARY_LIMIT = 1000


@dataclass(frozen=True)
class FeatureProfile:
    """One feature of a reference profile. ``counts`` are the reference counts per bin."""

    name: str
    kind: str
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[Any, ...] = ()
    other: tuple[Any, ...] = ()
    vocabulary_complete: bool = True
    cardinality: int | None = None
    high_cardinality: bool = False
    mean: float | None = None
    std: float | None = None

    @property
    def n_bins(self) -> int:
        return len(self.counts)

    @property
    def rows(self) -> int:
        return int(sum(self.counts))

    @property
    def missing(self) -> int:
        return int(self.counts[-1])

    @property
    def missing_rate(self) -> float | None:
        return self.missing / self.rows if self.rows else None

    @property
    def value_bins(self) -> int:
        """Bins holding values (numerical: all but missing; categorical: top + other + unseen)."""
        return self.n_bins - 1

    @property
    def unseen_bin(self) -> int | None:
        return len(self.categories) + 1 if self.kind == CATEGORICAL else None

    @property
    def labels(self) -> tuple[str, ...]:
        if self.kind == NUMERICAL:
            cuts = [-math.inf, *self.edges, math.inf]
            value = []
            for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
                if i == 0:
                    value.append(f"(-inf, {_fmt(hi)})")
                elif hi == math.nextafter(lo, math.inf):
                    value.append(f"= {lo!r}")  # a single value of a discrete reference
                else:
                    value.append(f"[{_fmt(lo)}, {_fmt(hi)})")
            value[-1] = value[-1][:-1] + "]" if len(value) > 1 else "(-inf, inf]"
            return (*value, "missing")
        return (*(str(c) for c in self.categories), "other", "unseen", "missing")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "counts": list(self.counts),
            "edges": list(self.edges),
            "categories": list(self.categories),
            "other": list(self.other),
            "vocabulary_complete": self.vocabulary_complete,
            "cardinality": self.cardinality,
            "high_cardinality": self.high_cardinality,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureProfile:
        kind = d["kind"]
        if kind not in (NUMERICAL, CATEGORICAL):
            raise DriftError(f"profile feature {d.get('name')!r}: unknown kind {kind!r}")
        fp = cls(
            name=str(d["name"]),
            kind=kind,
            counts=tuple(int(c) for c in d["counts"]),
            edges=tuple(float(e) for e in d.get("edges", ())),
            categories=tuple(d.get("categories", ())),
            other=tuple(d.get("other", ())),
            vocabulary_complete=bool(d.get("vocabulary_complete", True)),
            cardinality=d.get("cardinality"),
            high_cardinality=bool(d.get("high_cardinality", False)),
            mean=d.get("mean"),
            std=d.get("std"),
        )
        expected = len(fp.edges) + 2 if kind == NUMERICAL else len(fp.categories) + 3
        if fp.n_bins != expected:
            raise DriftError(f"profile feature {fp.name!r}: {fp.n_bins} counts for {expected} bins")
        return fp


def _fmt(x: float) -> str:
    return f"{x:.6g}"


@dataclass(frozen=True)
class ReferenceProfile:
    """A profiled reference: per-feature bins and counts, the options used, and its digest."""

    rows: int
    features: tuple[FeatureProfile, ...]
    bins: int = 10
    max_categories: int = 50
    high_cardinality: int = 100
    vocabulary_limit: int = DEFAULT_VOCABULARY_LIMIT
    digest: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", _digest(self._content()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> FeatureProfile:
        for f in self.features:
            if f.name == name:
                return f
        raise DriftError(f"the reference profile has no feature {name!r}")

    def select(self, names: Sequence[str]) -> ReferenceProfile:
        """The same profile restricted to ``names`` (a new digest)."""
        return replace(self, features=tuple(self.feature(n) for n in names), digest="")

    def _content(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "rows": self.rows,
            "bins": self.bins,
            "max_categories": self.max_categories,
            "high_cardinality": self.high_cardinality,
            "vocabulary_limit": self.vocabulary_limit,
            "features": [f.to_dict() for f in self.features],
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self._content(), "digest": self.digest}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReferenceProfile:
        try:
            if d.get("format") != PROFILE_FORMAT:
                raise DriftError(f"unsupported reference profile format {d.get('format')!r}")
            profile = cls(
                rows=int(d["rows"]),
                features=tuple(FeatureProfile.from_dict(f) for f in d["features"]),
                bins=int(d["bins"]),
                max_categories=int(d["max_categories"]),
                high_cardinality=int(d["high_cardinality"]),
                vocabulary_limit=int(d["vocabulary_limit"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DriftError(f"not a reference profile: {exc}") from None
        stated = d.get("digest")
        if stated and stated != profile.digest:
            raise DriftError(
                f"reference profile digest mismatch: it says {stated}, its content is "
                f"{profile.digest} (edited or corrupted)"
            )
        return profile

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DriftError(f"reference profile is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise DriftError("reference profile is not a JSON object")
        return cls.from_dict(data)


def _numeric_profile(name: str, x: np.ndarray, bins: int) -> FeatureProfile:
    # Sorted, so that the profile (its mean and spread too) does not depend on row order.
    # One sort serves everything: distinct values, quantiles, the mean and the bin counts.
    ordered = np.sort(x)  # -inf first, +inf then NaN last
    numbers = int(np.searchsorted(ordered, np.nan, side="left"))
    lo = int(np.searchsorted(ordered[:numbers], -np.inf, side="right"))
    hi = int(np.searchsorted(ordered[:numbers], np.inf, side="left"))
    finite = ordered[lo:hi]
    if finite.size:
        new_value = np.empty(finite.size, dtype=bool)
        new_value[0] = True
        np.not_equal(finite[1:], finite[:-1], out=new_value[1:])
        if np.count_nonzero(new_value) <= bins:
            distinct = finite[new_value]
            # Few distinct values (a constant, a flag, a small count): one bin per value and
            # one per gap, so a value the reference never took is seen, e.g. 3 → 4.
            above = np.nextafter(distinct, np.inf)
            edges = tuple(float(e) for e in np.unique(np.concatenate([distinct, above])))
        else:
            qs = np.quantile(finite, np.arange(1, bins) / bins)
            edges = tuple(float(e) for e in np.unique(qs))
        del new_value
        mean, std = finite_mean_std(finite)
    else:
        edges, mean, std = (), None, None
    # bin i holds e_i <= x < e_(i+1) (see bin_numeric): counts from the sorted numbers
    at = np.searchsorted(ordered[:numbers], np.asarray(edges, dtype=np.float64), side="left")
    counts = np.diff(np.concatenate([[0], at, [numbers, x.size]]))
    return FeatureProfile(
        name, NUMERICAL, tuple(int(c) for c in counts), edges=edges, mean=mean, std=std
    )


def _categorical_profile(
    name: str,
    col: pa.ChunkedArray,
    *,
    max_categories: int,
    high_cardinality: int,
    vocabulary_limit: int,
) -> FeatureProfile:
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_null(col.type):
        col = col.cast(pa.string())
    missing_mask = pc.is_null(col, nan_is_null=True)
    missing = int(pc.sum(missing_mask).as_py() or 0)
    present = col.filter(pc.invert(missing_mask))
    vc = pc.value_counts(present)
    values = vc.field("values").to_pylist()
    counts = np.asarray(vc.field("counts").to_numpy(zero_copy_only=False), dtype=np.int64)
    # Most frequent first; ties by value so the profile does not depend on row order.
    order = sorted(range(len(values)), key=lambda i: (-int(counts[i]), _sort_key(values[i])))
    values = [values[i] for i in order]
    counts = counts[order] if len(order) else counts
    k = min(max_categories, len(values))
    top, rest = values[:k], values[k:]
    complete = len(values) <= vocabulary_limit
    other_vocab = rest[: max(0, vocabulary_limit - k)]
    bin_counts = [*(int(c) for c in counts[:k]), int(counts[k:].sum()), 0, missing]
    return FeatureProfile(
        name,
        CATEGORICAL,
        tuple(bin_counts),
        categories=tuple(top),
        other=tuple(other_vocab),
        vocabulary_complete=complete,
        cardinality=len(values),
        high_cardinality=len(values) > high_cardinality,
    )


def _sort_key(v: Any) -> tuple[str, str]:
    return (type(v).__name__, repr(v))


def build_profile(
    data: Any,
    features: Sequence[str] | None = None,
    *,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    exclude: Iterable[str] = (),
    bins: int = 10,
    max_categories: int = 50,
    high_cardinality: int = 100,
    vocabulary_limit: int = DEFAULT_VOCABULARY_LIMIT,
) -> ReferenceProfile:
    """Profile reference data (an Arrow table, a DataFrame or a mapping of arrays)."""
    if bins < 2:
        raise DriftError(f"bins must be at least 2, got {bins}")
    if max_categories < 1:
        raise DriftError(f"max_categories must be at least 1, got {max_categories}")
    vocabulary_limit = max(vocabulary_limit, max_categories)
    table = as_table(data, "reference")
    kinds = resolve_features(
        table,
        features,
        categorical=categorical,
        numerical=numerical,
        exclude=exclude,
        what="reference",
    )

    def one(item: tuple[str, str]) -> FeatureProfile:
        name, kind = item
        col = table.column(name)
        if kind == NUMERICAL:
            return _numeric_profile(name, numeric_values(col, name), bins)
        return _categorical_profile(
            name,
            col,
            max_categories=max_categories,
            high_cardinality=high_cardinality,
            vocabulary_limit=vocabulary_limit,
        )

    # one column per thread: numpy's sort and Arrow's kernels release the GIL
    with ThreadPoolExecutor(worker_threads()) as pool:
        out = list(pool.map(one, kinds.items()))
    return ReferenceProfile(
        rows=table.num_rows,
        features=tuple(out),
        bins=bins,
        max_categories=max_categories,
        high_cardinality=high_cardinality,
        vocabulary_limit=vocabulary_limit,
    )
