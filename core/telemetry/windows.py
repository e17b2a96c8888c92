"""Windows over the current data: by calendar time in UTC, by row count, or one window.

A window spec is ``None`` (one window over everything), ``<n>m``, ``<n>h``, ``<n>d``, ``<n>w``
(minutes, hours, days, weeks of calendar time) or ``<n>rows``. Time windows are aligned in
UTC: hours and minutes on the start of the UTC day of the first event (so ``6h`` gives 00:00,
06:00, 12:00, 18:00), days on midnight, and whole weeks (``7d``, ``1w``) on Monday 00:00.
Windows run from the one holding the first event (or ``start``) to the one holding the last
event (or ``end``, exclusive); empty windows in between are kept, and a partial last window
is kept with its row count. ``start``/``end`` clip the first and last window.

Row windows take ``n`` consecutive events in timestamp order (ties broken by the order given,
e.g. the request id); the last one may be shorter.

Timestamps are ``int64`` microseconds since the Unix epoch, UTC, everywhere in this package.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.times import us_to_datetime

__all__ = [
    "NULL_TS",
    "WindowError",
    "WindowSpec",
    "Windows",
    "assign_windows",
    "parse_window",
    "plan_windows",
]

_US = {"m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 7 * 86_400_000_000}
_DAY = _US["d"]
_WEEK = _US["w"]
_MONDAY0 = 4 * _DAY  # 1970-01-05, the first Monday after the epoch
_PATTERN = re.compile(r"^\s*(\d+)\s*(rows|m|h|d|w)\s*$", re.IGNORECASE)
MAX_WINDOWS = 100_000
#: The longest time window and the most rows in one row window a spec or --window may ask
#: for: beyond a year (or a billion rows) a "window" is a typo, not a monitoring choice.
MAX_STEP_US = 366 * _DAY
MAX_WINDOW_ROWS = 1_000_000_000
NULL_TS = np.iinfo(np.int64).min  # a missing timestamp


class WindowError(WatchkeeperError):
    """A window spec or time range that cannot cut windows; the message says why."""


@dataclass(frozen=True)
class WindowSpec:
    """A parsed ``--window``: ``kind`` is ``"all"``, ``"time"`` or ``"rows"``."""

    kind: str
    text: str | None = None
    step_us: int = 0  # time windows
    rows: int = 0  # row windows


def parse_window(text: str | WindowSpec | None) -> WindowSpec:
    """``None``/``""`` → one window; ``6h``, ``1d``, ``7d``, ``2w``, ``5000rows``.

    A :class:`WindowSpec` is returned as it is, so a value parsed once (the spec's) can
    pass through code that also takes text (``--window``).
    """
    if isinstance(text, WindowSpec):
        return text
    if text is None or not str(text).strip():
        return WindowSpec("all")
    m = _PATTERN.match(str(text))
    if not m:
        raise WindowError(
            f"window {text!r} is not a window spec: use e.g. 6h, 1d, 7d, 1w, 30m or 5000rows"
        )
    n, unit = int(m.group(1)), m.group(2).lower()
    if n <= 0:
        raise WindowError(f"window {text!r} must be at least 1 {unit}")
    if unit == "rows":
        if n > MAX_WINDOW_ROWS:
            raise WindowError(f"window {text!r} is over {MAX_WINDOW_ROWS:,} rows")
        return WindowSpec("rows", text=f"{n}rows", rows=n)
    if n * _US[unit] > MAX_STEP_US:
        raise WindowError(f"window {text!r} is longer than 366 days")
    return WindowSpec("time", text=f"{n}{unit}", step_us=n * _US[unit])


def _align(t: int, step: int) -> int:
    if step % _WEEK == 0:
        return (t - _MONDAY0) // _WEEK * _WEEK + _MONDAY0
    day = t // _DAY * _DAY
    if step >= _DAY:
        return day
    return day + (t - day) // step * step


@dataclass(frozen=True)
class Windows:
    """The windows of an analysis, in order.

    ``bounds`` (time windows) holds ``len + 1`` boundaries in epoch µs: window ``i`` is
    ``[bounds[i], bounds[i+1])``. ``starts``/``ends`` are what a report shows (for row windows
    and the single window: the first and last event's time, or ``None`` without timestamps).
    ``rows`` is filled in after counting.
    """

    spec: WindowSpec
    starts: tuple[dt.datetime | None, ...]
    ends: tuple[dt.datetime | None, ...]
    bounds: tuple[int, ...] = ()
    rows: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.starts)

    def with_rows(self, rows: np.ndarray | tuple[int, ...]) -> Windows:
        return Windows(self.spec, self.starts, self.ends, self.bounds, tuple(int(r) for r in rows))


def plan_windows(
    spec: WindowSpec,
    ts_min: int | None,
    ts_max: int | None,
    *,
    n_rows: int = 0,
    start: int | None = None,
    end: int | None = None,
) -> Windows:
    """The windows for data whose timestamps span ``[ts_min, ts_max]`` (µs, or None)."""
    if spec.kind == "all":
        lo = start if start is not None else ts_min
        hi = end if end is not None else ts_max
        return Windows(
            spec,
            (None if lo is None else us_to_datetime(lo),),
            (None if hi is None else us_to_datetime(hi),),
        )
    if spec.kind == "rows":
        count = max(1, -(-n_rows // spec.rows))
        return Windows(spec, (None,) * count, (None,) * count)
    lo = start if start is not None else ts_min
    if lo is None:
        raise WindowError(
            f"time windows ({spec.text}) need timestamps, and the current data has no rows "
            "with a timestamp (give --start and --end to report empty windows)"
        )
    if end is not None:
        hi_excl = end
    elif ts_max is not None:
        hi_excl = ts_max + 1
    else:
        hi_excl = lo + 1
    if hi_excl <= lo:
        raise WindowError("the time range is empty: end is not after start")
    first = _align(lo, spec.step_us)
    count = -(-(hi_excl - first) // spec.step_us)
    if count > MAX_WINDOWS:
        raise WindowError(
            f"window {spec.text} cuts the time range into {count:,} windows "
            f"(at most {MAX_WINDOWS:,}); choose a longer window"
        )
    bounds = [first + i * spec.step_us for i in range(count + 1)]
    if start is not None:
        bounds[0] = max(bounds[0], start)
    if end is not None:
        bounds[-1] = min(bounds[-1], end)
    dts = [us_to_datetime(b) for b in bounds]
    return Windows(spec, tuple(dts[:-1]), tuple(dts[1:]), tuple(bounds))


def assign_windows(
    windows: Windows,
    ts: np.ndarray | None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """The window index of every row (``-1``: outside every window), as ``int64``.

    ``ts`` is epoch µs (``int64``) with nulls as ``np.iinfo(np.int64).min``. For row windows,
    ``order`` may give the row order (an argsort); by default timestamps, stably.
    """
    kind = windows.spec.kind
    if kind == "all":
        n = 0 if ts is None else len(ts)
        return np.zeros(n, dtype=np.int64)
    if kind == "rows":
        if ts is None:
            return np.arange(0 if order is None else len(order), dtype=np.int64) // (
                windows.spec.rows
            )
        valid = np.flatnonzero(ts != NULL_TS)
        if order is None:
            order = valid[np.argsort(ts[valid], kind="stable")]
        idx = np.full(len(ts), -1, dtype=np.int64)
        idx[order] = np.arange(len(order), dtype=np.int64) // windows.spec.rows
        return idx
    if ts is None:
        raise WindowError(f"windows of {windows.spec.text} need a timestamp column")
    bounds = np.asarray(windows.bounds, dtype=np.int64)
    idx = np.searchsorted(bounds, ts, side="right").astype(np.int64) - 1
    idx[(idx >= len(bounds) - 1) | (ts == NULL_TS)] = -1
    return idx
