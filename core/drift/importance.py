"""How much the model uses each feature, measured on the reference: which drifts matter.

Two sources, and the result always says which one it came from:

- ``permutation``: the registered model itself (anything with ``predict(DataFrame)``, e.g. an
  MLflow pyfunc). On a seeded sample of at most :data:`PERMUTATION_MAX_ROWS` reference rows,
  each feature's column is shuffled and the importance is the mean absolute change in the
  model's score. No labels are needed, so it works on any reference.
- ``mutual information``: model-agnostic, from the score logged with each reference row —
  the binned mutual information (in bits) between the feature and the score, with the
  Miller–Madow bias correction so a feature with many bins is not favoured by chance.

Both handle categorical columns (top values + "other"), missing values (a bin of their own)
and constant columns (importance 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MI_SCORE_BINS",
    "PERMUTATION_MAX_ROWS",
    "PSI_CAP",
    "FeatureImportance",
    "ImportanceResult",
    "importance_from_model",
    "importance_from_score",
    "load_pyfunc",
    "mutual_information_bits",
]

#: Rows of the reference the permutation importance scores (a seeded sample above it).
PERMUTATION_MAX_ROWS = 5_000
#: Quantile bins of the score and of a numeric feature for the mutual information.
MI_SCORE_BINS = 10
MI_FEATURE_BINS = 10
#: Categorical values kept as their own bin; the rest share one.
MI_TOP_VALUES = 30

#: PSI counted in the ranking at most this much. Beyond it the two distributions barely
#: overlap and PSI's size measures how empty the bins are (a renamed category reads ~10,
#: a 100× unit change ~8), not how much more the model's input moved; uncapped, a renamed
#: category on a feature the model hardly uses would rank above a real shift in its most
#: important one.
PSI_CAP = 1.0


@dataclass(frozen=True)
class FeatureImportance:
    name: str
    importance: float  # in the source's unit (mean |Δscore| or bits)
    share: float  # importance / sum of importances (0 when all are 0)
    rank: int  # 1 = most important


@dataclass(frozen=True)
class ImportanceResult:
    """Per-feature importance on the reference and where it came from."""

    method: str  # "permutation" or "mutual_information"
    rows: int  # reference rows it was computed on
    features: tuple[FeatureImportance, ...]  # most important first
    unit: str
    note: str = ""  # why the model itself was not used, where it was not

    @property
    def source(self) -> str:
        """The one line the views and ``check`` show beside every importance."""
        if self.method == "permutation":
            return f"model: permutation, n={self.rows:,} (mean |Δscore|)"
        return f"from score: mutual information, n={self.rows:,} (bits)"

    def share_of(self, name: str) -> float | None:
        for f in self.features:
            if f.name == name:
                return f.share
        return None

    def as_mapping(self) -> dict[str, float]:
        return {f.name: f.share for f in self.features}

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "source": self.source,
            "rows": self.rows,
            "unit": self.unit,
            "note": self.note,
            "features": [
                {"name": f.name, "importance": f.importance, "share": f.share, "rank": f.rank}
                for f in self.features
            ],
        }


def _result(method: str, rows: int, raw: Mapping[str, float], unit: str) -> ImportanceResult:
    clean = {k: max(0.0, float(v)) if np.isfinite(v) else 0.0 for k, v in raw.items()}
    total = sum(clean.values())
    # Ties keep the caller's feature order, so equal (e.g. all-zero) importances are stable.
    order = sorted(clean, key=lambda k: -clean[k])
    features = tuple(
        FeatureImportance(k, clean[k], clean[k] / total if total > 0 else 0.0, i + 1)
        for i, k in enumerate(order)
    )
    return ImportanceResult(method=method, rows=rows, features=features, unit=unit)


def _codes(values: pd.Series, bins: int) -> np.ndarray:
    """Small integer codes for a column: quantile bins or top values, NaN its own code."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = x[~missing]
        codes = np.zeros(len(x), dtype=np.int64)
        if len(finite):
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            if len(np.unique(finite)) <= bins:  # few values: one code per value
                edges = np.unique(finite)[1:]
            codes[~missing] = np.searchsorted(edges, finite, side="right")
    else:
        text = values.astype("string")
        counts = text[~missing].value_counts()
        keep = {v: i for i, v in enumerate(counts.index[:MI_TOP_VALUES])}
        other = len(keep)
        codes = np.array(
            [keep.get(v, other) if not m else 0 for v, m in zip(text, missing, strict=True)],
            dtype=np.int64,
        )
    codes[missing] = codes.max(initial=0) + 1
    return codes


def mutual_information_bits(x: np.ndarray, y: np.ndarray) -> float:
    """Plug-in mutual information of two code arrays in bits, Miller–Madow corrected.

    The plug-in estimate is biased upward by about ``(Kx−1)(Ky−1) / (2 n ln 2)`` bits for
    independent variables; subtracting it keeps an irrelevant many-valued feature near 0.
    """
    n = len(x)
    if n == 0:
        return 0.0
    _, xi = np.unique(x, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    kx, ky = int(xi.max()) + 1, int(yi.max()) + 1
    joint = np.bincount(xi * ky + yi, minlength=kx * ky).reshape(kx, ky).astype(np.float64)
    p = joint / n
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    mi = float((p[nz] * np.log2(p[nz] / (px @ py)[nz])).sum())
    occupied_x, occupied_y = int((px > 0).sum()), int((py > 0).sum())
    bias = (occupied_x - 1) * (occupied_y - 1) / (2.0 * n * np.log(2.0))
    return float(max(0.0, mi - bias))


def importance_from_score(
    reference: pd.DataFrame, features: Sequence[str], score: str = "score"
) -> ImportanceResult:
    """Model-agnostic importance: binned mutual information between feature and score."""
    rows = reference[reference[score].notna()]
    y = _codes(rows[score].astype(np.float64), MI_SCORE_BINS)
    raw = {f: mutual_information_bits(_codes(rows[f], MI_FEATURE_BINS), y) for f in features}
    return _result("mutual_information", len(rows), raw, "bits")


def importance_from_model(
    predict: Callable[[pd.DataFrame], Any],
    reference: pd.DataFrame,
    features: Sequence[str],
    *,
    max_rows: int = PERMUTATION_MAX_ROWS,
    seed: int = 0,
) -> ImportanceResult:
    """Permutation importance of ``predict`` on a seeded sample of ``reference``.

    The importance of a feature is the mean absolute change of the model's score when that
    column alone is shuffled (the others, and the sample, stay fixed).
    """
    rng = np.random.default_rng(seed)
    frame = reference.loc[:, list(features)]
    if len(frame) > max_rows:
        frame = frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]
    frame = frame.reset_index(drop=True)
    base = _scores(predict(frame))
    raw: dict[str, float] = {}
    for f in features:
        shuffled = frame.copy()
        shuffled[f] = frame[f].to_numpy()[rng.permutation(len(frame))]
        raw[f] = float(np.nanmean(np.abs(_scores(predict(shuffled)) - base)))
    return _result("permutation", len(frame), raw, "mean |Δscore|")


def _scores(out: Any) -> np.ndarray:
    """A model's output as one float per row (the positive class's column of a 2-D answer)."""
    if isinstance(out, pd.DataFrame):
        out = out.to_numpy()
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, -1]
    return arr.reshape(-1)


def load_pyfunc(model_uri: str, tracking_uri: str | None = None) -> Callable[[pd.DataFrame], Any]:
    """The ``predict`` of an MLflow pyfunc model (``models:/name/version``, a run URI, a path).

    Raises whatever MLflow raises when the artifact is not a loadable pyfunc model; the
    caller then falls back on :func:`importance_from_score`.
    """
    import contextlib
    import warnings

    import mlflow.pyfunc

    from watchkeeper.core.registry.client import pinned_tracking_uri

    pin = pinned_tracking_uri(tracking_uri) if tracking_uri else contextlib.nullcontext()
    with pin, warnings.catch_warnings():
        # MLflow advises type hints on predict; a loaded model's code is not ours to change.
        warnings.simplefilter("ignore", UserWarning)
        model = mlflow.pyfunc.load_model(model_uri)
    return model.predict
