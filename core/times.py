"""Time values as Watchkeeper reads them: ISO-8601, and a time without a zone is UTC.

Every reader, command and record parses times here, so "naive means UTC" is decided once.
"""

from __future__ import annotations

import datetime as dt
from typing import overload

from watchkeeper.core.errors import WatchkeeperError

__all__ = ["EPOCH", "as_utc", "naive_utc", "parse_time", "to_us", "us_to_datetime"]

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def as_utc(value: dt.datetime | dt.date) -> dt.datetime:
    """An aware UTC datetime: a date is its midnight UTC, a naive time is taken as UTC."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def naive_utc(value: dt.datetime | dt.date) -> dt.datetime:
    """The same moment as a naive UTC datetime (what a zone-less column stores)."""
    return as_utc(value).replace(tzinfo=None)


@overload
def parse_time(value: None, what: str = ...) -> None: ...
@overload
def parse_time(value: str | dt.datetime | dt.date, what: str = ...) -> dt.datetime: ...
def parse_time(value: str | dt.datetime | dt.date | None, what: str = "time") -> dt.datetime | None:
    """An ISO-8601 date or time (``Z`` allowed; naive = UTC) as an aware UTC datetime.

    ``what`` names the value in the error (``--start``, ``[reference] end``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise WatchkeeperError(f"{what}: {text!r} is not an ISO-8601 date or time") from None
    return as_utc(value)


@overload
def to_us(value: None) -> None: ...
@overload
def to_us(value: str | dt.datetime | dt.date) -> int: ...
def to_us(value: str | dt.datetime | dt.date | None) -> int | None:
    """A time (see :func:`parse_time`) as integer epoch microseconds, exactly."""
    moment = parse_time(value)
    if moment is None:
        return None
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_datetime(us: int) -> dt.datetime:
    """Epoch microseconds as an aware UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=int(us))
