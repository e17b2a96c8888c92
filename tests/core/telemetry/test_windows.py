"""Window specs: calendar-aligned UTC time windows, row windows, one window."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.telemetry.windows import (
    NULL_TS,
    WindowError,
    assign_windows,
    parse_window,
    plan_windows,
)
from watchkeeper.core.times import to_us


def _utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["1d", "6h", "7d", "5000rows", "30m", "2w", " 1D "])
def test_parse_accepts(text: str) -> None:
    assert parse_window(text).kind in ("time", "rows")


@pytest.mark.parametrize("text", ["", None])
def test_no_window_is_one_window(text: str | None) -> None:
    assert parse_window(text).kind == "all"


@pytest.mark.parametrize("text", ["0d", "1y", "d", "-1d", "5000 lines", "1.5h", "6h;drop"])
def test_parse_refuses_with_a_clear_error(text: str) -> None:
    with pytest.raises(WindowError, match="window"):
        parse_window(text)


def test_six_hour_windows_align_on_the_utc_day_and_keep_the_partial_last() -> None:
    ts = np.array(
        [
            to_us(_utc(2026, 1, 1, 3, 10)),
            to_us(_utc(2026, 1, 1, 7)),
            to_us(_utc(2026, 1, 2, 1, 30)),
        ],
        dtype=np.int64,
    )
    w = plan_windows(parse_window("6h"), int(ts.min()), int(ts.max()))
    assert w.starts[0] == _utc(2026, 1, 1, 0)
    assert w.ends[-1] == _utc(2026, 1, 2, 6)
    assert len(w) == 5
    assert assign_windows(w, ts).tolist() == [0, 1, 4]


def test_week_windows_start_on_monday() -> None:
    t = to_us(_utc(2026, 1, 1, 12))  # a Thursday
    w = plan_windows(parse_window("7d"), t, t + 10 * 86_400_000_000)
    assert w.starts[0] == _utc(2025, 12, 29)  # Monday
    assert w.starts[0].weekday() == 0 and w.starts[1] == _utc(2026, 1, 5)


def test_start_and_end_clip_the_windows() -> None:
    w = plan_windows(
        parse_window("1d"),
        None,
        None,
        start=to_us(_utc(2026, 1, 1, 12)),
        end=to_us(_utc(2026, 1, 3, 6)),
    )
    assert w.starts == (_utc(2026, 1, 1, 12), _utc(2026, 1, 2), _utc(2026, 1, 3))
    assert w.ends[-1] == _utc(2026, 1, 3, 6)


def test_time_windows_without_any_timestamp_are_refused() -> None:
    with pytest.raises(WindowError, match="timestamp"):
        plan_windows(parse_window("1d"), None, None)


def test_too_many_windows_are_refused() -> None:
    with pytest.raises(WindowError, match="windows"):
        plan_windows(parse_window("1m"), 0, 10**18)


def test_row_windows_follow_time_order_and_skip_missing_timestamps() -> None:
    ts = np.array([5, 1, NULL_TS, 3, 2], dtype=np.int64)
    w = plan_windows(parse_window("2rows"), 1, 5, n_rows=4)
    assert len(w) == 2
    assert assign_windows(w, ts).tolist() == [1, 0, -1, 1, 0]


def test_iso_parsing_of_bounds() -> None:
    assert to_us("2026-01-01") == to_us(_utc(2026, 1, 1))
    assert to_us("2026-01-01T01:00:00+01:00") == to_us(_utc(2026, 1, 1))
    with pytest.raises(WatchkeeperError, match="ISO-8601"):
        to_us("yesterday")
