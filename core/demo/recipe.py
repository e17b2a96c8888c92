"""Shared pieces of the demo recipe: the calendar, the model description, vectorised draws.

The demo's telemetry is synthetic but must behave like the real thing for every analysis
built on it, and must be byte-for-byte the same on every machine for a given recipe version
and parameters, so tests of later analyses can rely on what was planted. Everything here is
vectorised numpy on explicit :class:`numpy.random.Generator` streams (never the global
state), and categorical draws use our own inverse-CDF (``draw_codes``) rather than
``Generator.choice``, whose algorithm numpy may change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.evidence import digest

#: Telemetry starts here (CONTRACT.md); day ``d`` (counted from 0) is ``START + d days``.
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: How many days of telemetry the demo holds.
DAYS = 120
#: The demo's "now": the end of the last day. Labels that arrive later are still missing.
AS_OF = START + dt.timedelta(days=DAYS)
#: The seed every demo workspace is generated from.
SEED = 20260101

#: Columns every model's telemetry has, before and after its features.
ROLE_COLUMNS = ("request_id", "ts", "model", "model_version")
OUTCOME_COLUMNS = ("score", "prediction", "label", "label_ts", "latency_ms")

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
START_US = int(START.timestamp()) * 1_000_000
AS_OF_US = START_US + DAYS * US_PER_DAY
TS_TYPE = pa.timestamp("us", tz="UTC")


def day_start(day: float) -> dt.datetime:
    """The UTC instant at which demo day ``day`` (from 0) begins."""
    return START + dt.timedelta(days=day)


@dataclass(frozen=True)
class Generated:
    """One model's telemetry and the truth about it (events with measured magnitudes)."""

    table: pa.Table
    events: tuple[dict[str, Any], ...]
    versions: Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class DemoModel:
    """A model of the demo portfolio: what its telemetry holds and how its spec reads.

    ``features`` maps each feature column to its kind (``numerical`` / ``categorical``) in
    table order. ``volume_ratio`` scales the workspace's ``events_per_day`` to this model's
    champion rows per day. ``generate(rows_per_day, seed)`` draws the telemetry.

    ``outcomes`` are the columns after the features. A binary model uses the shared
    :data:`OUTCOME_COLUMNS`; a multiclass one has its own (one probability column per class,
    ``class_probabilities``, and string ``prediction`` / ``label`` columns, typed in
    ``outcome_types``), and the shared ``score`` / ``prediction`` / ``label`` are NULL in
    its rows of the workspace's one table.
    """

    name: str
    task: str
    versions: Mapping[str, str]  # version -> role (champion / challenger)
    features: Mapping[str, str]
    feature_types: Mapping[str, pa.DataType]
    threshold: float
    reference_version: str
    volume_ratio: float
    slices: tuple[dict[str, Any], ...]
    gate: Mapping[str, Any]
    description: str
    generate: Callable[[int, int], Generated] = field(repr=False)
    outcomes: tuple[str, ...] = OUTCOME_COLUMNS
    outcome_types: Mapping[str, pa.DataType] = field(default_factory=dict)
    class_probabilities: Mapping[str, str] = field(default_factory=dict)
    prediction: str = "prediction"
    label: str = "label"

    def rows_per_day(self, events_per_day: int) -> int:
        return max(1, round(events_per_day * self.volume_ratio))


def model_streams(seed: int, model: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent streams for a model: its fixed world (catalogues) and its events.

    The world stream does not depend on the volume, so merchant ids and risks are the same
    whatever ``events_per_day`` is; crc32 (not ``hash``) keeps the seed stable across runs.
    """
    world, events = np.random.SeedSequence([seed, zlib.crc32(model.encode())]).spawn(2)
    return np.random.default_rng(world), np.random.default_rng(events)


def bernoulli(rng: np.random.Generator, p: float | np.ndarray, n: int) -> np.ndarray:
    """``n`` coin flips with probability ``p`` (float32 uniforms: twice as fast, 2^-24 fine)."""
    return rng.random(n, dtype=np.float32) < p


def alias_table(probs: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) for O(1) categorical draws."""
    p = np.asarray(probs, dtype=np.float64)
    p = p * len(p) / p.sum()
    accept, alias = np.ones(len(p)), np.arange(len(p))
    small = [i for i in range(len(p)) if p[i] < 1.0]
    large = [i for i in range(len(p)) if p[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s], alias[s] = p[s], g
        p[g] -= 1.0 - p[s]
        (small if p[g] < 1.0 else large).append(g)
    return accept, alias


def draw_codes(rng: np.random.Generator, probs: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    """``n`` category codes drawn with the given probabilities (alias method, int32).

    Our own method rather than ``Generator.choice``, whose algorithm numpy may change, and
    constant time per draw even for thousands of categories (merchants).
    """
    accept, alias = alias_table(probs)
    column = rng.integers(0, len(accept), n, dtype=np.int32)
    keep = rng.random(n, dtype=np.float32) < accept[column]
    return np.where(keep, column, alias[column]).astype(np.int32)


def draw_conditional_codes(
    rng: np.random.Generator, probs: np.ndarray, given: np.ndarray
) -> np.ndarray:
    """Codes drawn from row ``probs[given[i]]`` of a conditional probability table."""
    codes = np.empty(len(given), dtype=np.int32)
    for g, row in enumerate(probs):
        rows = np.flatnonzero(given == g)
        codes[rows] = draw_codes(rng, row, len(rows))
    return codes


def interp_uniform(x: np.ndarray, lo: float, hi: float, values: np.ndarray) -> np.ndarray:
    """``np.interp`` for a uniform grid on [lo, hi], by index arithmetic (no binary search)."""
    k = len(values) - 1
    pos = np.clip((x - lo) * (k / (hi - lo)), 0.0, k)
    i = np.minimum(pos.astype(np.int64), k - 1)
    return values[i] + (pos - i) * (values[i + 1] - values[i])


def zipf_probs(k: int, exponent: float) -> np.ndarray:
    """Zipf-like popularity of ``k`` categories: the r-th most common has weight r^-s."""
    weights = np.arange(1, k + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def diurnal_timestamps(rng: np.random.Generator, per_day: int, peak_hour: float) -> np.ndarray:
    """Sorted event times (µs since the epoch), exactly ``per_day`` each day, daily cycle.

    The intensity ``1 + 0.8 cos(2π (h - peak) / 24)`` is nine times higher at the peak hour
    than twelve hours later; times are drawn by inverse CDF (tabulated on a fine grid).
    """
    grid = np.linspace(0.0, 24.0, 24 * 60 + 1)
    intensity = 1.0 + 0.8 * np.cos(2.0 * np.pi * (grid - peak_hour) / 24.0)
    cdf = np.concatenate([[0.0], np.cumsum((intensity[1:] + intensity[:-1]) / 2.0)])
    inverse = np.interp(np.linspace(0.0, 1.0, 2**16 + 1), cdf / cdf[-1], grid)
    hours = interp_uniform(rng.random((DAYS, per_day)), 0.0, 1.0, inverse)
    hours.sort(axis=1)
    offsets = np.minimum((hours * US_PER_HOUR).astype(np.int64), US_PER_DAY - 1)
    days = np.arange(DAYS, dtype=np.int64)[:, None] * US_PER_DAY
    return (START_US + days + offsets).ravel()


def arrival(
    rng: np.random.Generator, ts_us: np.ndarray, min_days: float, max_days: float
) -> np.ndarray:
    """When each label arrives: ``ts + min + (max - min) * (U1 + U2) / 2`` days, in µs.

    The mean of two uniforms is triangular on [0, 1]: most labels come mid-range, few at
    the extremes, and it is cheaper to draw than a Beta.
    """
    share = (rng.random(len(ts_us)) + rng.random(len(ts_us))) / 2.0
    return ts_us + ((min_days + (max_days - min_days) * share) * US_PER_DAY).astype(np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrated(m: np.ndarray, noise_sd: float) -> np.ndarray:
    """``E[sigmoid(m + e)]`` for ``e ~ N(0, noise_sd²)``: the calibrated score of ``m``.

    A model that knows ``m`` but not ``e`` is calibrated (P(label = 1 | score) = score) when
    it answers this. The probit shrinkage ``sigmoid(m / sqrt(1 + π sd² / 8))`` is close in
    the middle but overstates small probabilities by a third at fraud-like rates, so the
    expectation is computed exactly (Gauss–Hermite, 40 nodes) on a grid and interpolated.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    grid = np.linspace(-20.0, 20.0, 8001)
    values = sigmoid(grid[:, None] + noise_sd * nodes[None, :]) @ (weights / weights.sum())
    return interp_uniform(m, -20.0, 20.0, values)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum formula (ties in score get average ranks)."""
    labels = np.asarray(labels, dtype=bool)
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        return None
    order = np.argsort(scores, kind="stable")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    # average the ranks of tied scores
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    if (counts > 1).any():
        mean_rank = first + (counts + 1) / 2.0
        ranks[order] = np.repeat(mean_rank, counts)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def precision(labels: np.ndarray, predictions: np.ndarray) -> float | None:
    """Share of positive predictions whose label is positive (None when nothing flagged)."""
    flagged = np.asarray(predictions, dtype=bool)
    return float(np.asarray(labels)[flagged].mean()) if flagged.any() else None


def hex_ids(prefix: str, index: np.ndarray, width: int = 10) -> pa.Array:
    """Unique, random-looking request ids ``<prefix><hex>``, built without Python strings.

    ``index * A + B mod 16^width`` with odd ``A`` is a bijection, so distinct indexes give
    distinct ids; the fixed-width bytes go straight into an Arrow string buffer.
    """
    scrambled = index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x1F123BB5)
    alphabet = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    head = prefix.encode("ascii")
    row = len(head) + width
    data = np.empty((len(index), row), dtype=np.uint8)
    data[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    for j in range(width):  # one vectorised pass per hex digit, lowest 4*width bits
        shift = np.uint64(4 * (width - 1 - j))
        data[:, len(head) + j] = alphabet[(scrambled >> shift) & np.uint64(0xF)]
    offsets = np.arange(0, (len(index) + 1) * row, row, dtype=np.int32)  # < 2^31 for 16M rows
    return pa.StringArray.from_buffers(len(index), pa.py_buffer(offsets), pa.py_buffer(data))


def categorical(codes: np.ndarray, dictionary: Sequence[str], missing: np.ndarray) -> pa.Array:
    """A plain string column from category codes, NULL where ``missing``."""
    indices = pa.array(codes.astype(np.int32), mask=missing)
    return pc.take(pa.array(list(dictionary), pa.string()), indices)


def constant(value: str, n: int) -> pa.Array:
    return pc.take(pa.array([value], pa.string()), pa.array(np.zeros(n, np.int32)))


def timestamps(us: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.int64(), mask=missing).cast(TS_TYPE)


def expand_shadow(n: int, shadow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order with a shadow row right after each shadowed champion row.

    Returns the champion index of every output row and whether it is the shadow copy.
    """
    index = np.repeat(np.arange(n), 1 + shadow.astype(np.int64))
    is_shadow = np.zeros(len(index), dtype=bool)
    is_shadow[1:] = index[1:] == index[:-1]
    return index, is_shadow


def _column_fingerprint(column: pa.ChunkedArray | pa.Array) -> dict[str, Any]:
    """Exact content of a column, insensitive to chunking and to string/timestamp flavours.

    Hashes the validity, then the values with nulls read as 0 / "" (what lies under a null
    slot is not content): strings as their lengths and bytes, timestamps as µs integers.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    h = hashlib.sha256()
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    h.update(np.packbits(valid).tobytes())
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            arr = arr.cast(pa.large_string())
        if arr.null_count:
            arr = pc.fill_null(arr, "")
        width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        offsets = np.frombuffer(arr.buffers()[1], width)[arr.offset : arr.offset + len(arr) + 1]
        h.update(np.diff(offsets).astype(np.int64).tobytes())
        data = arr.buffers()[2]
        if data is not None:
            h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
        kind = "string"
    elif pa.types.is_timestamp(t):
        values = arr.cast(pa.timestamp("us")).cast(pa.int64())
        h.update(pc.fill_null(values, 0).to_numpy().tobytes())
        kind = "timestamp[us]"
    else:
        values = (pc.fill_null(arr, 0) if arr.null_count else arr).to_numpy(zero_copy_only=False)
        h.update(values.tobytes())
        kind = str(values.dtype)
    return {"type": kind, "nulls": int(len(arr) - valid.sum()), "sha256": h.hexdigest()}


def table_digest(table: pa.Table) -> str:
    """``sha256:`` digest of a table's exact content (rows in order, every column)."""
    columns = {name: _column_fingerprint(table.column(name)) for name in table.column_names}
    return digest({"rows": table.num_rows, "columns": columns})


def event(
    event_id: str,
    model: str,
    kind: str,
    start_day: float,
    end_day: float,
    *,
    features: Sequence[str] = (),
    slice_: Mapping[str, Any] | None = None,
    versions: Sequence[str] = (),
    magnitude: Mapping[str, Any],
    measured: Mapping[str, Any],
    description: str,
) -> dict[str, Any]:
    """One planted event as the manifest records it (days from 0, end exclusive)."""
    return {
        "id": event_id,
        "model": model,
        "kind": kind,
        "start_day": start_day,
        "end_day": end_day,
        "start": day_start(start_day),
        "end": day_start(end_day),
        "features": list(features),
        "slice": dict(slice_) if slice_ is not None else None,
        "versions": list(versions),
        "magnitude": dict(magnitude),
        "measured": dict(measured),
        "description": description,
    }


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
