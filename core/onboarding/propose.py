"""From guesses and the source's extent to a proposed monitor: reference, windows, slices.

The extent (row count, first and last event time, rows per version) is read from the whole
source through its reader with the guessed mapping — only the time and version columns, so
memory stays bounded. The proposal sizes everything to that data:

- reference: the first quarter of the time range, rounded out to whole days (whole hours
  for less than four days of data) — the earliest data is the closest a log has to "what
  the model was trained and validated on"; or, with a registry, the champion's version;
- drift window: the shortest of 1d, 7d, 30d whose windows hold about
  :data:`TARGET_WINDOW_ROWS` events on average (a drift test needs a few hundred rows to
  say anything), else one window over everything. A window shorter than a day (1h, 6h)
  only when less than :data:`SUBDAY_BELOW_DAYS` days follow the reference: against a
  reference of whole days, an hour's window drifts with the time of day, and a busy
  two-month log (6,000,000 events) was cut into 1,440 hourly windows;
- slices: every value of up to three low-cardinality categorical features (at most four
  values each), and the lower and upper quartiles of up to two numerical features.

Pure: :func:`propose` takes the guesses and the extent and returns a frozen proposal.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.onboarding.guess import CATEGORY_LIMIT, Guesses
from watchkeeper.core.telemetry.contract import DEFAULT_VERSION, ColumnKind, ColumnMapping
from watchkeeper.core.telemetry.source import TelemetrySource

__all__ = [
    "REFERENCE_SHARE",
    "TARGET_WINDOW_ROWS",
    "Extent",
    "Proposal",
    "RowHistogram",
    "SliceProposal",
    "extent_of",
    "mapping_of",
    "model_name_for",
    "propose",
    "row_histogram",
    "snap_reference",
]

REFERENCE_SHARE = 0.25
TARGET_WINDOW_ROWS = 2_000
MIN_ROWS = 500  # [drift] min_rows' default
_HOUR_US = 3_600_000_000
_WINDOWS = (("1h", 3600), ("6h", 6 * 3600), ("1d", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400))
#: Windows shorter than a day are proposed only when fewer days than this follow the
#: reference (a log of a few days): otherwise days, which hold every hour of one.
SUBDAY_BELOW_DAYS = 7


@dataclass(frozen=True)
class Extent:
    """How much data the source holds: rows, first and last event, rows per version."""

    rows: int
    start: dt.datetime | None
    end: dt.datetime | None  # the last event's time (inclusive)
    versions: tuple[tuple[str, int], ...] = ()  # most rows first
    models: tuple[tuple[str, int], ...] = ()
    #: rows per UTC hour, (hour's start in epoch seconds, rows), in time order: enough to
    #: draw the data over time (the wizard's reference picker) without a second pass
    hours: tuple[tuple[int, int], ...] = ()
    #: each version's first and last event (the versions of a log follow one another: a
    #: reference period is sized within its version's own time)
    version_spans: tuple[tuple[str, dt.datetime, dt.datetime], ...] = ()


@dataclass(frozen=True)
class SliceProposal:
    name: str
    where: dict[str, object]
    reason: str


@dataclass(frozen=True)
class Proposal:
    """Everything a spec needs, each choice with its reason."""

    model: str
    guesses: Guesses
    extent: Extent
    mapping: ColumnMapping
    reference_start: dt.datetime | dt.date
    reference_end: dt.datetime | dt.date
    reference_version: str
    reference_reason: str
    window: str | None
    window_reason: str
    health_window: str | None
    health_reason: str
    slices: tuple[SliceProposal, ...]
    registry_uri: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def task(self) -> str:
        return self.guesses.task


def mapping_of(guesses: Guesses) -> ColumnMapping:
    """The column mapping the guesses describe (a role without a guess is absent: no request
    id, or one version, ``"1"``)."""
    role = guesses.column_of
    kinds = {c.name: c.kind for c in guesses.features if c.kind is not None}
    return ColumnMapping(
        request_id=role("request_id"),
        ts=role("ts") or "ts",
        model=role("model"),
        model_version=role("model_version"),
        score=role("score"),
        prediction=role("prediction"),
        label=role("label"),
        label_ts=role("label_ts"),
        features=tuple(c.name for c in guesses.features),
        extras=tuple(c.name for c in guesses.of_role("extra")),
        kinds=kinds,
        class_probabilities=dict(guesses.class_probabilities),
    )


def extent_of(
    source: TelemetrySource,
    model: str | None = None,
    *,
    progress: object = None,
) -> Extent:
    """Rows, time range and rows per version of the whole source (one pass, two columns)."""
    from watchkeeper.core.telemetry.contract import TelemetryQuery

    names = source.schema().names
    columns = [
        "ts",
        *(["model_version"] if "model_version" in names else []),
        *(["model"] if "model" in names else []),
    ]
    rows, lo, hi = 0, None, None
    versions: Counter[str] = Counter()
    models: Counter[str] = Counter()
    hours: Counter[int] = Counter()
    spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for batch in source.batches(TelemetryQuery(), columns=columns, batch_rows=262_144):
        rows += batch.num_rows
        us = pc.cast(batch.column("ts").drop_null(), pa.int64()).to_numpy(zero_copy_only=False)
        hour, n = np.unique(us // _HOUR_US, return_counts=True)
        hours.update(dict(zip(hour.tolist(), n.tolist(), strict=True)))
        mm = pc.min_max(batch.column("ts")).as_py()
        if mm["min"] is not None:
            lo = mm["min"] if lo is None else min(lo, mm["min"])
            hi = mm["max"] if hi is None else max(hi, mm["max"])
        for name, counter in (("model_version", versions), ("model", models)):
            if name in columns:
                for d in pc.value_counts(batch.column(name)).to_pylist():
                    counter[str(d["values"])] += d["counts"]
        if "model_version" in columns:
            grouped = (
                pa.table(
                    {
                        "v": batch.column("model_version"),
                        "t": batch.column("ts"),
                    }
                )
                .group_by("v")
                .aggregate([("t", "min"), ("t", "max")])
            )
            for v, a, b in zip(
                *(grouped.column(c).to_pylist() for c in ("v", "t_min", "t_max")), strict=True
            ):
                if a is None:
                    continue
                was = spans.get(str(v))
                spans[str(v)] = (a, b) if was is None else (min(was[0], a), max(was[1], b))
    if rows == 0:
        raise WatchkeeperError(f"{source.description}: the source holds no rows")
    if lo is None:
        raise WatchkeeperError(f"{source.description}: no row has an event time")
    return Extent(
        rows,
        lo,
        hi,
        tuple(versions.most_common()),
        tuple(models.most_common()),
        tuple((h * 3600, hours[h]) for h in sorted(hours)),
        tuple((v, a, b) for v, (a, b) in spans.items()),
    )


@dataclass(frozen=True)
class RowHistogram:
    """Rows per bin over time: ``edges`` in epoch seconds (one more than ``counts``)."""

    edges: np.ndarray
    counts: np.ndarray
    unit: str  # "hour" | "day" | "week"


def row_histogram(extent: Extent, max_bins: int = 120) -> RowHistogram:
    """The extent's rows per hour, day or week — the finest of those giving at most
    ``max_bins`` bins — from the hourly counts :func:`extent_of` kept."""
    if not extent.hours:
        return RowHistogram(np.zeros(1), np.zeros(0, dtype=np.int64), "day")
    starts = np.array([h for h, _ in extent.hours], dtype=np.int64)
    counts = np.array([n for _, n in extent.hours], dtype=np.int64)
    first, last = int(starts[0]), int(starts[-1])
    for unit, step in (("hour", 3600), ("day", 86400), ("week", 7 * 86400)):
        # weeks start on Monday, as drift's week windows do (the epoch was a Thursday)
        origin = (first // step) * step if unit != "week" else _monday(first)
        bins = (last - origin) // step + 1
        if bins <= max_bins or unit == "week":
            break
    index = (starts - origin) // step
    out = np.bincount(index, weights=counts, minlength=bins).astype(np.int64)
    edges = origin + step * np.arange(bins + 1, dtype=np.int64)
    return RowHistogram(edges.astype(np.float64), out, unit)


def _monday(epoch_s: int) -> int:
    day = epoch_s // 86400
    return int((day - (day + 3) % 7) * 86400)


def snap_reference(
    extent: Extent, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """A reference period picked by hand, rounded to whole days (whole hours for less than
    four days of data, as :func:`propose` sizes it) and kept within the data: at least one
    unit long."""
    assert extent.start is not None and extent.end is not None
    span = (extent.end - extent.start).total_seconds()
    unit = dt.timedelta(days=1) if span >= 4 * 86400 else dt.timedelta(hours=1)
    lo, hi = _floor(extent.start, span), _ceil(extent.end + dt.timedelta(microseconds=1), span)

    def nearest(t: dt.datetime) -> dt.datetime:
        down = _floor(t, span)
        return down + unit if (t - down) * 2 >= unit else down

    a = min(max(nearest(start), lo), hi - unit)
    b = min(max(nearest(end), a + unit), hi)
    return a, b


def model_name_for(guesses: Guesses, extent: Extent, given: str | None, fallback: str) -> str:
    """``--model``, else the most frequent value of the model column, else the source's name."""
    if given:
        return given
    if extent.models:
        return extent.models[0][0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", fallback).strip("-.") or "model"
    return name


def propose(
    guesses: Guesses,
    extent: Extent,
    *,
    model: str,
    registry_uri: str | None = None,
    champion: str | None = None,
    reference_until: dt.datetime | None = None,
    window: str | None = None,
    reference_start: dt.datetime | None = None,
) -> Proposal:
    """The proposed monitor for ``guesses`` over data of ``extent``.

    ``champion`` (from a registry) chooses the reference version; ``reference_until`` and
    ``window`` replace the sized choices; ``reference_start`` (with ``reference_until``)
    starts the reference later than the first event.
    """
    assert extent.start is not None and extent.end is not None
    notes: list[str] = []
    start, end = extent.start, extent.end
    span = (end - start).total_seconds()
    ref_version, version_reason = _reference_version(extent, champion, notes)
    own = {v: (a, b) for v, a, b in extent.version_spans}.get(ref_version)
    # the data's first quarter, unless the reference version's events do not cover it —
    # versions of a log follow one another, and it held none of a version that came later:
    # then the first quarter of that version's own time
    quarter = _ceil(start + (end - start) * REFERENCE_SHARE, span)
    within = (
        own is not None
        and len(extent.versions) > 1
        and (own[0] > start + (quarter - start) / 2 or own[1] < quarter)
    )
    if reference_until is not None:
        ref_start, ref_end = _floor(start, span), reference_until
        if reference_start is not None:
            ref_start = max(reference_start, ref_start)
        if ref_end <= max(start, ref_start):
            raise WatchkeeperError(
                f"--reference-until {reference_until.isoformat()} is before the first event "
                f"({max(start, ref_start).isoformat()})"
            )
        ref_reason = (
            "given on the command line"
            if reference_start is None
            else f"chosen by hand: {(ref_end - ref_start).total_seconds() / 86400:.3g} days"
        )
    else:
        first, last = own if within and own is not None else (start, end)
        ref_start, ref_end = (
            _floor(first, span),
            _ceil(first + (last - first) * REFERENCE_SHARE, span),
        )
        if ref_end <= first:
            ref_end = _ceil(first + dt.timedelta(seconds=1), span)
        days = (ref_end - ref_start).total_seconds() / 86400
        whose = f"version {ref_version}'s" if within else "the data's"
        ref_reason = (
            f"the first {REFERENCE_SHARE:.0%} of {whose} time range "
            f"({_show(first)} to {_show(last)}), rounded to whole "
            + ("days" if span >= 4 * 86400 else "hours")
            + f": {days:.3g} days"
        )
    ref_reason += version_reason
    ref_rows = _rows_between(extent, ref_start, ref_end)
    if within and own is not None:
        # the hourly counts are every version's: this version's share of its own time
        rows_v = dict(extent.versions).get(ref_version, 0)
        lo, hi = max(ref_start, own[0]), min(ref_end, own[1])
        whole = max((own[1] - own[0]).total_seconds(), 1.0)
        ref_rows = rows_v * max((hi - lo).total_seconds(), 0.0) / whole
        if hi <= lo:
            notes.append(
                f"version {ref_version} has no events in the reference period "
                f"({_show(ref_start)} to {_show(ref_end)}; its events run from "
                f"{_show(own[0])} to {_show(own[1])}): choose a period within them"
            )
    if ref_rows < MIN_ROWS:
        notes.append(
            f"the reference holds about {ref_rows:,.0f} events, fewer than the {MIN_ROWS} a "
            "drift decision needs by default ([drift] min_rows): drift will read "
            "'insufficient' until more data (or a later --reference-until) is there"
        )
    if registry_uri:
        notes.append(
            "the reference is a time window of the telemetry: analyses do not read a "
            'registered version\'s logged dataset yet ([reference] kind = "artifact" is '
            "accepted by the spec but not analysed)"
        )
    win, win_reason = _window(extent, ref_end, window)
    health, health_reason = None, ""
    if win == "30d":
        health, health_reason = win, "as long as the drift window: a week holds too few events"
    elif win is not None and win != "7d" and span < 14 * 86400:
        # the default 7d health window would hold one or two windows only
        health, health_reason = win, "the drift window: the data is too short for weekly health"
    return Proposal(
        model=model,
        guesses=guesses,
        extent=extent,
        mapping=mapping_of(guesses),
        reference_start=_as_date(ref_start),
        reference_end=_as_date(ref_end),
        reference_version=ref_version,
        reference_reason=ref_reason,
        window=win,
        window_reason=win_reason,
        health_window=health,
        health_reason=health_reason,
        slices=_slices(guesses),
        registry_uri=registry_uri,
        notes=tuple(notes),
    )


def _reference_version(extent: Extent, champion: str | None, notes: list[str]) -> tuple[str, str]:
    """The reference version and the words saying why (appended to the period's reason)."""
    versions = [v for v, _ in extent.versions]
    if champion is not None:
        if champion not in versions and versions:
            notes.append(
                f"the registry's champion is version {champion}, but the telemetry holds "
                f"versions {', '.join(versions[:5])}: the reference window may be empty"
            )
        return champion, f"; version {champion}, the registry's champion"
    if versions:
        why = ""
        if len(versions) > 1:
            why = (
                f"; version {versions[0]}, the one with the most rows "
                f"({extent.versions[0][1]:,} of {extent.rows:,})"
            )
        return versions[0], why
    return DEFAULT_VERSION, ""


def _rows_between(extent: Extent, start: dt.datetime, end: dt.datetime) -> float:
    """Events in [start, end): from the hourly counts when kept, else the time share."""
    assert extent.start is not None and extent.end is not None
    if extent.hours:
        lo, hi = _epoch(start), _epoch(end)
        return float(sum(n for h, n in extent.hours if lo <= h < hi))
    span = (extent.end - extent.start).total_seconds()
    return extent.rows * (end - extent.start).total_seconds() / max(span, 1.0)


def _epoch(t: dt.datetime) -> float:
    """Seconds since the epoch; a naive time is UTC (as everywhere in core)."""
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def _show(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def _floor(t: dt.datetime, span: float) -> dt.datetime:
    if span >= 4 * 86400:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil(t: dt.datetime, span: float) -> dt.datetime:
    down = _floor(t, span)
    if down == t:
        return t
    return down + (dt.timedelta(days=1) if span >= 4 * 86400 else dt.timedelta(hours=1))


def _as_date(t: dt.datetime) -> dt.datetime | dt.date:
    """A date when the time is midnight: the spec then reads ``2026-01-01``."""
    if (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0):
        return t.date()
    return t


def _window(extent: Extent, ref_end: dt.datetime, given: str | None) -> tuple[str | None, str]:
    if given is not None:
        return given or None, "given on the command line"
    assert extent.start is not None and extent.end is not None
    span = max((extent.end - extent.start).total_seconds(), 1.0)
    after = max((extent.end - ref_end).total_seconds(), 0.0)
    short_log = after < SUBDAY_BELOW_DAYS * 86400
    for text, seconds in _WINDOWS:
        if seconds < 86400 and not short_log:
            continue
        per_window = extent.rows * seconds / span
        windows = after / seconds
        if per_window >= TARGET_WINDOW_ROWS and windows >= 2:
            return text, (
                f"about {per_window:,.0f} events per {text} window "
                f"({extent.rows:,} events over {span / 86400:.3g} days); a drift test needs "
                "a few hundred per window"
            )
    return None, (
        f"{extent.rows:,} events over {span / 86400:.3g} days are too few to cut into windows "
        f"of {TARGET_WINDOW_ROWS:,}: one window over the whole period"
    )


def _slices(guesses: Guesses) -> tuple[SliceProposal, ...]:
    out: list[SliceProposal] = []
    categorical = [
        c
        for c in guesses.features
        if c.kind == ColumnKind.CATEGORICAL and 2 <= len(c.values) <= CATEGORY_LIMIT
    ]
    for c in sorted(categorical, key=lambda c: len(c.values))[:3]:
        for value in c.values[:4]:
            if isinstance(value, bool | int | float | str):
                out.append(
                    SliceProposal(
                        f"{c.name} = {value}",
                        {c.name: value},
                        f"{c.name!r} has {len(c.values)} values in the sample",
                    )
                )
    numerical = [
        c for c in guesses.features if c.kind == ColumnKind.NUMERICAL and len(c.quantiles) == 3
    ]
    for c in numerical[:2]:
        q1, _, q3 = c.quantiles
        if not (math.isfinite(q1) and math.isfinite(q3)) or q1 >= q3:
            continue
        lo, hi = _round(q1), _round(q3)
        out.append(
            SliceProposal(
                f"{c.name} < {lo:g}", {c.name: {"max": lo}}, f"the lower quartile of {c.name!r}"
            )
        )
        out.append(
            SliceProposal(
                f"{c.name} >= {hi:g}", {c.name: {"min": hi}}, f"the upper quartile of {c.name!r}"
            )
        )
    return tuple(out)


def _round(x: float) -> float:
    """Three significant digits: a slice bound a person can read."""
    if x == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(x)))
    return round(x, digits)
