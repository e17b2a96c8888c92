"""``analyze_drift``: reference vs current, per feature and window, with decisions.

The pieces: a :class:`~watchkeeper.core.drift.profile.ReferenceProfile` (built here from
reference data, or given), windows over the current data
(:mod:`~watchkeeper.core.telemetry.windows`), per-window counts from one pass
(:func:`~watchkeeper.core.drift.counting.count_windows`, or pushed down to SQL by
:mod:`~watchkeeper.core.drift.sql_counts` and handed in as ``counts``), the statistics
(:mod:`~watchkeeper.core.drift.statistics`), the decisions (:mod:`~watchkeeper.core.drift.decide`)
and, on the numerical features, the multivariate check
(:mod:`~watchkeeper.core.drift.multivariate`).

Exact statistics (KS, Wasserstein) need raw values on both sides: they are computed when the
reference is data (not only a profile), on every finite value up to ``exact_sample_limit`` per
window and side, else on a sample of that many — each window says which (``exact``: ``"all"``
or ``"sample"``, with the sizes). In memory the sample is a seeded random one (with
replacement); from a SQL table, a seeded systematic one fetched window by window
(:func:`~watchkeeper.core.drift.sql_counts.sample_statement`). The reference is sorted once per
feature, each window's values once: that sort gives KS, Wasserstein and, when no window is
sampled, the feature's bin counts too (no separate counting pass for it).

What depends on the reference alone — its profile, its sorted values, the PCA model — can be
computed once by :func:`prepare_reference` and handed to any number of analyses as
``reference`` (:class:`~watchkeeper.core.drift.reference.PreparedReference`): the same results,
bit for bit, with only the current data's work left per analysis.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa

from watchkeeper.core.drift.counting import WindowCounts, _threads, count_windows
from watchkeeper.core.drift.data import (
    CATEGORICAL,
    NUMERICAL,
    as_table,
    numeric_values,
    timestamps_us,
)
from watchkeeper.core.drift.decide import Thresholds, adjust_p, decide
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.multivariate import (
    MultivariateDrift,
    PCAModel,
    decide_windows,
    fit_pca,
    score_windows,
)
from watchkeeper.core.drift.profile import FeatureProfile, ReferenceProfile, build_profile
from watchkeeper.core.drift.reference import PreparedReference, SortedReference, reference_sorted
from watchkeeper.core.drift.statistics import (
    PSI_PSEUDOCOUNT,
    binned_stats,
    ks_wasserstein_sorted,
)
from watchkeeper.core.progress import Cancelled, Progress
from watchkeeper.core.spec import DriftSection
from watchkeeper.core.telemetry.windows import Windows, assign_windows, parse_window, plan_windows
from watchkeeper.core.times import to_us

__all__ = [
    "ROLE_COLUMNS",
    "DriftResult",
    "FeatureDrift",
    "FeatureWindow",
    "PreparedReference",
    "WindowInfo",
    "analyze_drift",
    "analyze_drift_sql",
    "derive_result",
    "prepare_reference",
]

#: Telemetry role columns never taken as features unless named.
ROLE_COLUMNS = (
    "request_id",
    "ts",
    "model",
    "model_version",
    "score",
    "prediction",
    "label",
    "label_ts",
)


@dataclass(frozen=True)
class FeatureWindow:
    """Everything measured for one feature in one window (None: does not exist)."""

    index: int
    rows: int
    decision: str
    psi: float | None
    js: float | None
    chi2: float | None
    dof: int | None
    p_value: float | None  # of the test used for the decision
    p_adjusted: float | None
    ks_binned: float | None
    ks: float | None
    ks_p_value: float | None
    wasserstein: float | None
    wasserstein_normalized: float | None
    exact: str | None  # "all", "sample" or None (not computed)
    exact_rows: tuple[int, int] | None  # (reference, current) values the exact stats used
    missing_rate: float | None
    missing_rate_change: float | None
    unseen_rate: float | None


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    cardinality: int | None
    high_cardinality: bool
    psi_watch: float
    psi_drift: float
    labels: tuple[str, ...]
    reference_counts: np.ndarray  # (bins,)
    counts: np.ndarray  # (windows, bins)
    windows: tuple[FeatureWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "cardinality": self.cardinality,
            "windows": [_window_dict(w) for w in self.windows],
        }


def _window_dict(w: FeatureWindow) -> dict[str, Any]:
    return {
        "index": w.index,
        "decision": w.decision,
        "psi": w.psi,
        "js": w.js,
        "p_value": w.p_value,
        "p_adjusted": w.p_adjusted,
        "missing_rate": w.missing_rate,
        "unseen_rate": w.unseen_rate,
        # Beyond CONTRACT.md's minimum: the other statistics and how they were obtained.
        "rows": w.rows,
        "chi2": w.chi2,
        "dof": w.dof,
        "ks_binned": w.ks_binned,
        "ks": w.ks,
        "ks_p_value": w.ks_p_value,
        "wasserstein": w.wasserstein,
        "wasserstein_normalized": w.wasserstein_normalized,
        "exact": w.exact,
        "exact_rows": list(w.exact_rows) if w.exact_rows else None,
        "missing_rate_change": w.missing_rate_change,
    }


@dataclass(frozen=True)
class WindowInfo:
    index: int
    start: dt.datetime | None
    end: dt.datetime | None
    rows: int


@dataclass(frozen=True)
class DriftResult:
    """A drift analysis: the reference, the windows, per-feature results, the settings."""

    reference_rows: int
    reference_digest: str
    window_spec: str | None
    windows: tuple[WindowInfo, ...]
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None
    multivariate: MultivariateDrift | None
    settings: DriftSection
    notes: tuple[str, ...] = ()

    def feature(self, name: str) -> FeatureDrift:
        for f in (*self.features, *((self.prediction,) if self.prediction else ())):
            if f.name == name:
                return f
        raise KeyError(name)

    def decisions(self) -> dict[str, tuple[str, ...]]:
        """``{feature: (decision per window)}``, the prediction included."""
        out = {f.name: tuple(w.decision for w in f.windows) for f in self.features}
        if self.prediction is not None:
            out[self.prediction.name] = tuple(w.decision for w in self.prediction.windows)
        return out

    def thresholds(self) -> dict[str, Any]:
        s = self.settings
        return {
            "psi_watch": s.psi_watch,
            "psi_drift": s.psi_drift,
            "high_cardinality": s.high_cardinality,
            "high_cardinality_psi_watch": s.high_cardinality_psi_watch,
            "high_cardinality_psi_drift": s.high_cardinality_psi_drift,
            "p_value": s.p_value,
            "test": s.test,
            "correction": s.correction,
            "min_rows": s.min_rows,
            "persistence": s.persistence,
            "bins": s.bins,
            "max_categories": s.max_categories,
            "exact_sample_limit": s.exact_sample_limit,
            "psi_smoothing": f"{PSI_PSEUDOCOUNT} pseudo-count per bin used on either side",
            "ks_binned_resolution": "reference-quantile bin edges",
            "wasserstein_normalized_by": "reference standard deviation",
        }

    def to_dict(self) -> dict[str, Any]:
        """CONTRACT.md's ``drift --json`` document (plus extra keys); no NaN anywhere."""
        doc = {
            "reference": {"rows": self.reference_rows, "digest": self.reference_digest},
            "windows": [
                {"index": w.index, "start": _iso(w.start), "end": _iso(w.end), "rows": w.rows}
                for w in self.windows
            ],
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
            "thresholds": self.thresholds(),
            "notes": list(self.notes),
        }
        return _clean(doc)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _opt(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _thresholds_for(fp: FeatureProfile, s: DriftSection) -> tuple[float, float]:
    if fp.kind == CATEGORICAL and fp.high_cardinality:
        return s.high_cardinality_psi_watch, s.high_cardinality_psi_drift
    return s.psi_watch, s.psi_drift


@dataclass(frozen=True)
class _Exact:
    ks: np.ndarray
    ks_p: np.ndarray
    w1: np.ndarray
    w1n: np.ndarray
    mode: list[str | None]
    sizes: list[tuple[int, int] | None]


def _exact_for(
    ref: np.ndarray,
    ref_mode: str,
    window_values: Callable[[int], tuple[np.ndarray, bool]],
    n_windows: int,
    std: float | None,
    edges: np.ndarray | None = None,
) -> tuple[_Exact, np.ndarray | None]:
    """Exact statistics per window; with ``edges``, also the window's bin counts.

    ``ref`` is the reference sorted (:func:`reference_sorted`, once for all windows);
    ``window_values(i)`` gives window ``i``'s values and whether they are a sample (see
    :func:`_window_values`). Each window's values are sorted once: the finite ones give KS and
    Wasserstein, and the bin counts are ``searchsorted`` of the edges in the same sorted array
    — so a feature whose windows all fit under the limit needs no separate counting pass.
    ``edges`` is only honoured when no window is sampled.
    """
    ks = np.full(n_windows, np.nan)
    ks_p = np.full(n_windows, np.nan)
    w1 = np.full(n_windows, np.nan)
    w1n = np.full(n_windows, np.nan)
    modes: list[str | None] = [None] * n_windows
    sizes: list[tuple[int, int] | None] = [None] * n_windows
    counts = None
    if edges is not None:
        counts = np.zeros((n_windows, edges.size + 2), dtype=np.int64)
        cuts = np.concatenate([[-np.inf], edges])  # value bins start at these
    for i in range(n_windows):
        x, sampled = window_values(i)
        mode = ref_mode
        if sampled:
            mode = "sample"
            x = x[np.isfinite(x)]  # a fresh array: sorted in place
            x.sort()
        else:
            x = np.sort(x)  # NaN last; -inf first, +inf last of the numbers
            if counts is not None:
                numbers = int(np.searchsorted(x, np.nan, side="left"))
                at = np.searchsorted(x[:numbers], cuts, side="left")
                counts[i, :-2] = np.diff(at)
                counts[i, -2] = numbers - at[-1]
                counts[i, -1] = x.size - numbers
            lo = int(np.searchsorted(x, -np.inf, side="right"))
            hi = int(np.searchsorted(x, np.inf, side="left"))
            x = x[lo:hi]
        if x.size == 0 or ref.size == 0:
            continue
        ks[i], ks_p[i], w1[i] = ks_wasserstein_sorted(ref, x)
        if std:
            w1n[i] = w1[i] / std
        modes[i] = mode
        sizes[i] = (int(ref.size), int(x.size))
    return _Exact(ks, ks_p, w1, w1n, modes, sizes), counts


def _window_values(
    column: pa.ChunkedArray,
    name: str,
    values: np.ndarray | None,
    order: np.ndarray | None,
    splits: np.ndarray,
    limit: int,
    seed: int,
    feature_index: int,
) -> Callable[[int], tuple[np.ndarray, bool]]:
    """``get(i)``: window ``i``'s values, or a seeded random sample (with replacement) of
    ``limit`` of them when it has more, and whether they are that sample.

    The rows of window ``i`` are ``order[splits[i]:splits[i + 1]]`` (``order`` None: the
    table's own order). ``values`` is the whole column as floats in that order, when the
    caller has it; else only the rows needed are taken from ``column``.
    """

    def get(i: int) -> tuple[np.ndarray, bool]:
        lo, hi = int(splits[i]), int(splits[i + 1])
        size = hi - lo
        pos = None
        if size > limit:
            rng = np.random.default_rng([seed, feature_index, i])
            pos = rng.integers(0, size, limit)
        if values is not None:
            x = values[lo:hi]
            return (x, False) if pos is None else (x[pos], True)
        if pos is None:
            if order is None:
                return numeric_values(column.slice(lo, size), name), False
            rows = order[lo:hi]
        else:
            pos += lo
            rows = pos if order is None else order[pos]
        return numeric_values(column.take(rows), name), pos is not None

    return get


def _row_chunks(
    table: pa.Table,
    names: Sequence[str],
    w: np.ndarray,
    rows: np.ndarray | None,
    chunk_rows: int = 1 << 15,
) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """``(values (m, d), window (m,))`` of the numerical ``names``, a few thousand rows at a
    time: of every row (``rows`` is None) or of the sorted row numbers ``rows``."""
    columns = [table.column(c) for c in names]
    if rows is not None:
        # rows are sorted: per block of the table, the chosen rows inside it
        step = max(chunk_rows, 1 << 16)
        for lo in range(0, table.num_rows, step):
            a, b = np.searchsorted(rows, [lo, lo + step])
            if a == b:
                continue
            # only the chosen rows are taken from Arrow (not the whole block converted)
            for s in range(a, b, chunk_rows):
                sub = rows[s : min(s + chunk_rows, b)]
                x = np.empty((sub.size, len(names)))
                for j, (c, name) in enumerate(zip(columns, names, strict=True)):
                    x[:, j] = numeric_values(c.take(sub), name)
                yield x, w[sub]
        return
    for lo in range(0, table.num_rows, chunk_rows):
        n = min(chunk_rows, table.num_rows - lo)
        x = np.empty((n, len(names)))
        for j, (c, name) in enumerate(zip(columns, names, strict=True)):
            x[:, j] = numeric_values(c.slice(lo, n), name)
        yield x, w[lo : lo + n]


def derive_result(
    profile: ReferenceProfile,
    windows: Windows,
    counts: WindowCounts,
    settings: DriftSection,
    *,
    prediction: str | None = None,
    exact: dict[str, _Exact] | None = None,
    multivariate: MultivariateDrift | None = None,
    notes: Sequence[str] = (),
) -> DriftResult:
    """Statistics and decisions from counts (however they were counted)."""
    s = settings
    exact = exact or {}
    notes = list(notes)
    per: list[tuple[FeatureProfile, Any, np.ndarray]] = []
    p_all = []
    for name in counts.features:
        fp = profile.feature(name)
        c = counts.of(name)
        bs = binned_stats(
            np.asarray(fp.counts),
            c,
            numerical=fp.kind == NUMERICAL,
            unseen_bin=fp.unseen_bin if fp.vocabulary_complete else None,
        )
        p = bs.p_chi2
        if s.test == "ks" and fp.kind == NUMERICAL:
            if name in exact:
                p = exact[name].ks_p
            elif "ks test" not in " ".join(notes):
                notes.append("ks test: exact values unavailable, chi-square used instead")
        p = np.where(counts.rows < s.min_rows, np.nan, p)
        if fp.rows < s.min_rows:
            p = np.full_like(p, np.nan)
        per.append((fp, bs, p))
        p_all.append(p)
    n_windows = len(windows)
    adjusted = adjust_p(np.vstack(p_all), s.correction) if per else np.zeros((0, n_windows))
    results = []
    for k, (fp, bs, p) in enumerate(per):
        watch, drift = _thresholds_for(fp, s)
        th = Thresholds(watch, drift, s.p_value, s.min_rows, s.persistence)
        dec = decide(bs.psi, adjusted[k], counts.rows, fp.rows, th)
        ex = exact.get(fp.name)
        ref_missing = fp.missing_rate
        wins = []
        for i in range(n_windows):
            mr = _opt(bs.missing_rate[i])
            wins.append(
                FeatureWindow(
                    index=i,
                    rows=int(counts.rows[i]),
                    decision=str(dec[i]),
                    psi=_opt(bs.psi[i]),
                    js=_opt(bs.js[i]),
                    chi2=_opt(bs.chi2[i]),
                    dof=int(bs.dof[i]) if np.isfinite(bs.chi2[i]) else None,
                    p_value=_opt(p[i]),
                    p_adjusted=_opt(adjusted[k, i]),
                    ks_binned=_opt(bs.ks_binned[i]),
                    ks=_opt(ex.ks[i]) if ex else None,
                    ks_p_value=_opt(ex.ks_p[i]) if ex else None,
                    wasserstein=_opt(ex.w1[i]) if ex else None,
                    wasserstein_normalized=_opt(ex.w1n[i]) if ex else None,
                    exact=ex.mode[i] if ex else None,
                    exact_rows=ex.sizes[i] if ex else None,
                    missing_rate=mr,
                    missing_rate_change=(
                        None if mr is None or ref_missing is None else mr - ref_missing
                    ),
                    unseen_rate=_opt(bs.unseen_rate[i]),
                )
            )
        results.append(
            FeatureDrift(
                name=fp.name,
                kind=fp.kind,
                cardinality=fp.cardinality if fp.kind == CATEGORICAL else None,
                high_cardinality=fp.high_cardinality,
                psi_watch=watch,
                psi_drift=drift,
                labels=fp.labels,
                reference_counts=np.asarray(fp.counts),
                counts=counts.of(fp.name),
                windows=tuple(wins),
            )
        )
    pred = None
    if prediction is not None:
        pred = next((f for f in results if f.name == prediction), None)
        results = [f for f in results if f.name != prediction]
    infos = tuple(
        WindowInfo(i, windows.starts[i], windows.ends[i], int(counts.rows[i]))
        for i in range(n_windows)
    )
    return DriftResult(
        reference_rows=profile.rows,
        reference_digest=profile.digest,
        window_spec=windows.spec.text,
        windows=infos,
        features=tuple(results),
        prediction=pred,
        multivariate=multivariate,
        settings=s,
        notes=tuple(notes),
    )


def _row_windows_ts(windows: Windows, ts: np.ndarray | None, w: np.ndarray) -> Windows:
    """Start/end of row windows: the first and last event time in each."""
    if ts is None or len(windows) == 0:
        return windows
    n = len(windows)
    ok = (w >= 0) & (ts != np.iinfo(np.int64).min)
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(lo, w[ok], ts[ok])
    np.maximum.at(hi, w[ok], ts[ok])
    from watchkeeper.core.times import us_to_datetime

    starts = tuple(us_to_datetime(x) if x != np.iinfo(np.int64).max else None for x in lo)
    ends = tuple(us_to_datetime(x) if x != np.iinfo(np.int64).min else None for x in hi)
    return Windows(windows.spec, starts, ends, windows.bounds, windows.rows)


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
    elif isinstance(reference, ReferenceProfile) or profile is not None:
        if isinstance(reference, ReferenceProfile):
            profile = reference
        else:
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
            exclude={*ROLE_COLUMNS, *(x for x in (timestamp,) if x)},
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
        has_ref = ref_table is not None and prediction in ref_table.column_names
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


def _prepare_reference(
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
    """The reference as a table (or None) and its profile, with the prediction column."""
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


def _sorted_reference(
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
        values = numeric_values(ref_table.column(name), name)
        got = reference_sorted(values, limit, seed, feature_index)
    return got


def _pca_model(
    prepared: PreparedReference | None, ref_table: pa.Table, names: Sequence[str], seed: int
) -> PCAModel | None:
    """:func:`fit_pca` on the reference's ``names``: prepared, or fitted now."""
    if prepared is not None:
        found, model = prepared.pca_model(names, seed)
        if found:
            return model
    ref_cols = [numeric_values(ref_table.column(c), c) for c in names]
    return fit_pca(names, ref_cols, seed=seed)


def _native_errors(conn: Any) -> tuple[type[BaseException], ...]:
    """The driver's own error classes where rows are read past SQLAlchemy (DuckDB's stream)."""
    if conn.dialect.name == "duckdb":
        import duckdb

        return (duckdb.Error,)
    return ()


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
    """Reference data made ready for many :func:`analyze_drift` / :func:`analyze_drift_sql`.

    The arguments mean what they mean to :func:`analyze_drift` (``profile``: a profile of
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
    ref_table, base = _base_profile(
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

        with ThreadPoolExecutor(_threads()) as pool:
            for k, got in enumerate(pool.map(one, range(len(numeric)))):
                sorted_values[numeric[k].name] = got
    predictions = {}
    if pred_name is not None and pred_name not in base.names:
        predictions[(pred_name, s.bins)] = full.features[-1]
    pca_features = None
    model = None
    mv_names = [fp.name for fp in numeric if fp.name != pred_name]
    if multivariate and len(mv_names) >= 2:
        pca_features = tuple(mv_names)
        model = _pca_model(None, ref_table, mv_names, seed)
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


def analyze_drift(
    reference: Any,
    current: Any,
    *,
    features: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    window: str | None = None,
    start: dt.datetime | dt.date | str | None = None,
    end: dt.datetime | dt.date | str | None = None,
    settings: DriftSection | None = None,
    prediction: str | None = "auto",
    order_by: str | None = "request_id",
    exact: bool = True,
    multivariate: bool = True,
    profile: ReferenceProfile | None = None,
    seed: int = 0,
    chunk_rows: int = 1 << 16,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DriftResult:
    """Compare ``current`` with ``reference`` per feature and window.

    ``reference`` is data (Arrow table, DataFrame, mapping of arrays), a
    :class:`ReferenceProfile` or a :class:`PreparedReference` (:func:`prepare_reference`: the
    same results as its data with its profile, without redoing the reference's work);
    ``current`` is data. ``features`` defaults to every usable
    column that plays no telemetry role (:data:`ROLE_COLUMNS`) and is not ``timestamp``;
    ``prediction`` names the score column analysed as prediction drift (``"auto"``: ``score``
    when both sides have it; ``None``: none). ``window`` is a spec (``1d``, ``6h``, ``7d``,
    ``5000rows``) or ``None`` for one window; ``start``/``end`` (naive = UTC) restrict the
    current data to ``[start, end)``. ``settings`` is the monitor spec's ``[drift]`` section
    (defaults when ``None``; ``settings.window`` is used when ``window`` is not given).
    ``profile`` is a profile of ``reference`` made earlier (reused as is; the reference data
    then serves only the exact statistics and the multivariate check).
    """
    s = settings or DriftSection()
    report = progress or (lambda f, m: None)

    def check() -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("drift analysis was cancelled")

    cur = as_table(current, "current")
    spec = parse_window(window if window is not None else s.window)
    if timestamp is not None and timestamp not in cur.column_names:
        if spec.kind == "time" or start is not None or end is not None or timestamp != "ts":
            raise DriftError(
                f"current: no timestamp column {timestamp!r} "
                f"(columns: {', '.join(cur.column_names[:20])})"
            )
        timestamp = None  # the default name is absent: no timestamps, one window or rows
    ts = timestamps_us(cur.column(timestamp), timestamp) if timestamp else None
    start_us, end_us = to_us(start), to_us(end)
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise DriftError("the time range is empty: end is not after start")

    # Reference profile
    prepared = reference if isinstance(reference, PreparedReference) else None
    ref_table, profile, pred_name = _prepare_reference(
        reference,
        s,
        cur.column_names,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        prediction=prediction,
        what="current",
        profile=profile,
    )
    report(0.05, "reference profiled")
    check()

    # Windows
    n = cur.num_rows
    in_range = None
    if ts is not None and (start_us is not None or end_us is not None):
        in_range = np.ones(n, dtype=bool)
        if start_us is not None:
            in_range &= ts >= start_us
        if end_us is not None:
            in_range &= ts < end_us
        in_range &= ts != np.iinfo(np.int64).min
    valid_ts = (
        ts[(ts != np.iinfo(np.int64).min) if in_range is None else in_range]
        if (ts is not None)
        else None
    )
    ts_min = int(valid_ts.min()) if valid_ts is not None and valid_ts.size else None
    ts_max = int(valid_ts.max()) if valid_ts is not None and valid_ts.size else None
    n_in = int(in_range.sum()) if in_range is not None else n
    wins = plan_windows(spec, ts_min, ts_max, n_rows=n_in, start=start_us, end=end_us)
    order = None
    if spec.kind == "rows" and ts is not None:
        cand = (
            np.flatnonzero(in_range)
            if in_range is not None
            else np.flatnonzero(ts != np.iinfo(np.int64).min)
        )
        if order_by and order_by in cur.column_names:
            tie = cur.column(order_by).take(pa.array(cand)).to_numpy(zero_copy_only=False)
            order = cand[np.lexsort((tie, ts[cand]))]
        else:
            order = cand[np.argsort(ts[cand], kind="stable")]
    if spec.kind == "rows" and ts is None:
        w = assign_windows(wins, None, np.arange(n))
    else:
        w = assign_windows(wins, ts if ts is not None else np.zeros(n, np.int64), order)
    if in_range is not None and spec.kind != "rows":
        w[~in_range] = -1
    if spec.kind == "rows":
        wins = _row_windows_ts(wins, ts, w)
    check()

    # Count once. A numerical feature whose exact statistics see every row of every window
    # gets its counts from the same sorted values (no second pass over its column); the
    # other features are counted in one pass here.
    n_windows = len(wins)
    in_window = w >= 0
    rows = np.bincount(w[in_window], minlength=n_windows)[:n_windows].astype(np.int64)
    notes: list[str] = []
    numeric = [fp for fp in profile.features if fp.kind == NUMERICAL]
    do_exact = bool(exact and ref_table is not None and numeric)
    if exact and numeric and ref_table is None:
        notes.append("exact KS and Wasserstein not computed: the reference is a profile only")
    fused = do_exact and (n_windows == 0 or int(rows.max()) <= s.exact_sample_limit)
    rest = [fp.name for fp in profile.features if not (fused and fp.kind == NUMERICAL)]

    def count_progress(f: float, m: str) -> None:
        report(0.05 + 0.4 * f, m)

    # The exact statistics (per numerical feature) and the multivariate check run on a small
    # thread pool while this thread counts the other features: numpy's sorts, searches and
    # arithmetic and Arrow's kernels release the GIL.
    by_name: dict[str, np.ndarray] = {}
    exact_stats: dict[str, _Exact] = {}
    mv_names = [fp.name for fp in numeric if fp.name != pred_name]
    do_mv = bool(multivariate and ref_table is not None and len(mv_names) >= 2)
    limit = s.exact_sample_limit
    stop = threading.Event()  # tells the multivariate task to give up (cancelled)
    pool = ThreadPoolExecutor(_threads()) if do_exact or do_mv else None
    futures: list[Future] = []
    try:
        if do_exact:
            assert pool is not None
            if n <= 1 or bool(np.all(w[1:] >= w[:-1])):
                idx = None
                wsorted = w
            else:
                # window indices fit 32 bits (MAX_WINDOWS): a cheaper stable sort than int64
                idx = np.argsort(w.astype(np.int32), kind="stable")
                wsorted = w[idx]
            first = np.searchsorted(wsorted, 0, side="left")
            splits = np.searchsorted(wsorted, np.arange(n_windows + 1), side="left")
            splits = np.maximum(splits, first)
            del wsorted

            def one(k: int) -> tuple[_Exact, np.ndarray | None]:
                fp = numeric[k]
                ref, ref_mode = _sorted_reference(prepared, ref_table, fp.name, k, limit, seed)
                column = cur.column(fp.name)
                values = None
                if fused:  # every row of every window: the whole column, once
                    values = numeric_values(column, fp.name)
                    if idx is not None:
                        values = values[idx]
                get = _window_values(column, fp.name, values, idx, splits, limit, seed, k)
                edges = np.asarray(fp.edges, dtype=np.float64) if fused else None
                return _exact_for(ref, ref_mode, get, n_windows, fp.std, edges)

            futures = [pool.submit(one, k) for k in range(len(numeric))]
        mv_future = None
        if do_mv:
            assert pool is not None

            def multivariate_task() -> MultivariateDrift | None:
                model = _pca_model(prepared, ref_table, mv_names, seed)
                if model is None:
                    return None
                # Like the exact statistics: every row up to the limit per window, else a
                # seeded random sample of about that many (each window says which).
                big = rows > limit
                rows_sel = None
                if big.any():
                    rows_sel = np.flatnonzero(in_window)
                    share = np.where(big, limit / np.maximum(rows, 1), 1.0)
                    rng = np.random.default_rng([seed, 1 << 31])
                    rows_sel = rows_sel[rng.random(rows_sel.size) < share[w[rows_sel]]]
                return score_windows(
                    model,
                    _row_chunks(cur, mv_names, w, rows_sel),
                    n_windows,
                    min_rows=s.min_rows,
                    sampled=big,
                    cancelled=stop.is_set,
                )

            mv_future = pool.submit(multivariate_task)
        if rest:
            counted = count_windows(
                cur,
                profile,
                w,
                n_windows,
                features=rest,
                chunk_rows=chunk_rows,
                progress=count_progress,
                cancelled=cancelled,
            )
            by_name.update(zip(counted.features, counted.counts, strict=True))
        report(0.45, "counted")
        check()
        for k, fut in enumerate(futures):
            ex, c = fut.result()
            exact_stats[numeric[k].name] = ex
            if c is not None:
                by_name[numeric[k].name] = c
            report(0.45 + 0.45 * (k + 1) / len(numeric), "exact statistics")
            check()
        mv = None
        if mv_future is not None:
            mv = mv_future.result()
            if mv is None:
                notes.append("multivariate drift not computed: too few reference rows")
    finally:
        stop.set()
        for fut in futures:
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
    counts = WindowCounts(profile.names, tuple(by_name[name] for name in profile.names), rows)
    wins = wins.with_rows(counts.rows)
    report(0.98, "deciding")
    result = derive_result(
        profile,
        wins,
        counts,
        s,
        prediction=pred_name,
        exact=exact_stats,
        multivariate=mv,
        notes=notes,
    )
    report(1.0, "done")
    return result


def analyze_drift_sql(
    reference: Any,
    conn: Any,
    table: Any,
    *,
    features: Sequence[str] | None = None,
    categorical: Iterable[str] = (),
    numerical: Iterable[str] = (),
    timestamp: str | None = "ts",
    window: str | None = None,
    start: dt.datetime | dt.date | str | None = None,
    end: dt.datetime | dt.date | str | None = None,
    settings: DriftSection | None = None,
    prediction: str | None = "auto",
    where: Any = None,
    order_by: Sequence[str] = ("request_id",),
    exact: bool = True,
    multivariate: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DriftResult:
    """:func:`analyze_drift` with the current data in a SQL table, counted where it lives.

    ``reference`` as for :func:`analyze_drift` (data, a profile, or a prepared reference).
    ``conn`` is a SQLAlchemy ``Connection``; ``table`` a table name (``schema.table``) or a
    SQLAlchemy table; ``where`` an optional extra filter on it (e.g. model and version).
    The counts come back from one statement. The exact statistics (KS, Wasserstein) and the
    multivariate check need raw rows: when the reference is data (not only a profile), a
    second statement fetches the numerical features of at most ``exact_sample_limit`` rows
    per window (:func:`~watchkeeper.core.drift.sql_counts.sample_statement`: a window that
    fits comes back whole, ``exact = "all"``; a larger one as a seeded systematic sample,
    ``exact = "sample"``), one window at a time, so memory holds one window's sample.
    """
    from watchkeeper.core.drift.sql_counts import count_windows_sql, plan_windows_sql
    from watchkeeper.core.telemetry.sql import reflect_table

    s = settings or DriftSection()
    report = progress or (lambda f, m: None)
    t = reflect_table(conn, table) if isinstance(table, str) else table
    cols = [c.name for c in t.c]
    if timestamp is not None and timestamp not in cols:
        raise DriftError(f"current: no timestamp column {timestamp!r} in the table")
    spec = parse_window(window if window is not None else s.window)
    start_us, end_us = to_us(start), to_us(end)
    if start_us is not None and end_us is not None and end_us <= start_us:
        raise DriftError("the time range is empty: end is not after start")
    ref_table, profile, pred_name = _prepare_reference(
        reference,
        s,
        cols,
        features=features,
        categorical=categorical,
        numerical=numerical,
        timestamp=timestamp,
        prediction=prediction,
        what="current table",
    )
    report(0.05, "reference profiled")
    wins = plan_windows_sql(
        conn, t, spec, timestamp=timestamp, start=start_us, end=end_us, where=where
    )
    ties = [c for c in order_by if c in cols]
    numeric = [fp for fp in profile.features if fp.kind == NUMERICAL]
    mv_names = [fp.name for fp in numeric if fp.name != pred_name]
    want_exact = bool(exact and numeric)
    want_mv = bool(multivariate and len(mv_names) >= 2)
    fetch = ref_table is not None and (want_exact or want_mv)
    share = 0.6 if fetch else 0.9

    def count_progress(f: float, m: str) -> None:
        report(0.05 + share * f, m)

    counts = count_windows_sql(
        conn,
        t,
        profile,
        wins,
        timestamp=timestamp,
        where=where,
        order_by=ties,
        start=start_us,
        end=end_us,
        progress=count_progress,
        cancelled=cancelled,
    )
    wins = wins.with_rows(counts.rows)
    notes: list[str] = []
    exact_stats: dict[str, _Exact] = {}
    mv = None
    if fetch:
        exact_stats, mv, more = _exact_from_sql(
            conn,
            t,
            wins,
            counts.rows,
            ref_table,
            numeric,
            mv_names if want_mv else [],
            exact=want_exact,
            settings=s,
            seed=seed,
            timestamp=timestamp,
            where=where,
            order_by=ties,
            start=start_us,
            end=end_us,
            progress=lambda f, m: report(0.65 + 0.3 * f, m),
            cancelled=cancelled,
            prepared=reference if isinstance(reference, PreparedReference) else None,
        )
        notes += more
    elif want_exact or want_mv:
        notes.append(
            "counts pushed down to the database; the reference is a profile only, so exact "
            "KS, Wasserstein and the multivariate check (which need raw reference values) "
            "were not computed"
        )
    result = derive_result(
        profile,
        wins,
        counts,
        s,
        prediction=pred_name,
        exact=exact_stats,
        multivariate=mv,
        notes=notes,
    )
    report(1.0, "done")
    return result


def _exact_from_sql(
    conn: Any,
    table: Any,
    wins: Windows,
    rows: np.ndarray,
    ref_table: pa.Table,
    numeric: Sequence[FeatureProfile],
    mv_names: Sequence[str],
    *,
    exact: bool,
    settings: DriftSection,
    seed: int,
    timestamp: str | None,
    where: Any,
    order_by: Sequence[str],
    start: int | None,
    end: int | None,
    progress: Progress,
    cancelled: Callable[[], bool] | None,
    prepared: PreparedReference | None = None,
) -> tuple[dict[str, _Exact], MultivariateDrift | None, list[str]]:
    """Exact statistics and the multivariate check on rows fetched window by window."""
    import sqlalchemy as sa

    from watchkeeper.core.drift.sql_counts import fetch_float_blocks, sample_statement

    limit = settings.exact_sample_limit
    n_windows = len(wins)
    notes: list[str] = []
    names = [fp.name for fp in numeric]
    model = None
    if mv_names:
        model = _pca_model(prepared, ref_table, mv_names, seed)
        if model is None:
            notes.append("multivariate drift not computed: too few reference rows")
    if not exact and model is None:
        return {}, None, notes
    refs = [_sorted_reference(prepared, ref_table, n, k, limit, seed) for k, n in enumerate(names)]
    stats = [
        (
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            np.full(n_windows, np.nan),
            [None] * n_windows,
            [None] * n_windows,
        )
        for _ in names
    ]
    mv_at = [names.index(c) for c in mv_names] if model is not None else []
    sums = np.zeros(n_windows)
    scored = np.zeros(n_windows, dtype=np.int64)
    stmt = sample_statement(
        table,
        wins,
        names,
        limit=limit,
        seed=seed,
        timestamp=timestamp,
        where=where,
        order_by=order_by,
        start=start,
        end=end,
    )

    def window_done(i: int, x: np.ndarray, pool: ThreadPoolExecutor) -> None:
        fetched_all = rows[i] <= limit

        def one(k: int) -> None:
            ref, ref_mode = refs[k]
            v = np.sort(x[:, k])
            v = v[np.isfinite(v)]
            if v.size == 0 or ref.size == 0:
                return
            ks, ks_p, w1, w1n, modes, sizes = stats[k]
            ks[i], ks_p[i], w1[i] = ks_wasserstein_sorted(ref, v)
            if numeric[k].std:
                w1n[i] = w1[i] / numeric[k].std
            modes[i] = ref_mode if fetched_all else "sample"
            sizes[i] = (int(ref.size), int(v.size))

        if exact:
            list(pool.map(one, range(len(names))))
        if model is not None and x.shape[0]:
            sums[i] = model.errors(x[:, mv_at]).sum()
            scored[i] = x.shape[0]

    progress(0.0, "fetching a sample of rows")
    blocks = fetch_float_blocks(conn, stmt, len(names) + 1)
    try:
        with ThreadPoolExecutor(_threads()) as pool:
            current, parts, done = -1, [], 0
            for arr in blocks:
                if cancelled is not None and cancelled():
                    raise Cancelled("drift analysis was cancelled")
                w = arr[:, 0].astype(np.int64)
                # rows come ordered by window: cut the block where the window changes
                cuts = np.flatnonzero(w[1:] != w[:-1]) + 1
                for lo, hi in zip(
                    np.concatenate([[0], cuts]), np.concatenate([cuts, [len(w)]]), strict=True
                ):
                    if w[lo] != current:
                        if parts:
                            window_done(current, np.concatenate(parts), pool)
                            done += 1
                            progress(done / max(n_windows, 1), "exact statistics")
                        current, parts = int(w[lo]), []
                    parts.append(arr[lo:hi, 1:])
            if parts:
                window_done(current, np.concatenate(parts), pool)
    except (sa.exc.DBAPIError, *_native_errors(conn)) as exc:
        conn.rollback()
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise DriftError(
            f"the database refused the sample query: {first[0] if first else exc}"
        ) from None
    finally:
        blocks.close()
    exact_stats = {n: _Exact(*stats[k]) for k, n in enumerate(names)} if exact else {}
    mv = (
        decide_windows(model, sums, scored, min_rows=settings.min_rows, sampled=rows > limit)
        if model is not None
        else None
    )
    sampled = int(np.count_nonzero(rows > limit))
    notes.append(
        "counts pushed down to the database; exact statistics and the multivariate check "
        "on rows fetched from it: "
        + (
            f"{sampled} window(s) above {limit:,} rows on a seeded systematic sample of "
            f"{limit:,} rows, the others on every row"
            if sampled
            else "every row"
        )
    )
    return exact_stats, mv, notes
