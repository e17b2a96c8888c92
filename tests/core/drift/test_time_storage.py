"""Windows counted in the database agree with windows assigned to the rows a read returns.

Issue 17, finding 10: a SQLite table whose times were ISO-8601 text in several shapes counted
3,936 of 4,000 rows with ``--window 2h`` (SQLite compared the text letter by letter). Here
every engine × way of storing a time is counted both ways — pushed down (the reader's own
filter, drift's window statement) and in memory (read every row, parse it with the reader,
assign windows in Python) — and the totals and every window's count must be equal. Where the
database cannot compare the values as times, the pushdown must refuse in one line.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from watchkeeper.core.drift.counting import count_windows
from watchkeeper.core.drift.data import timestamps_us
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.drift.profile import build_profile
from watchkeeper.core.drift.sql_counts import count_windows_sql, plan_windows_sql
from watchkeeper.core.errors import TelemetryError
from watchkeeper.core.telemetry.contract import ColumnMapping, TelemetryQuery
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql import reflect_table
from watchkeeper.core.telemetry.windows import assign_windows, parse_window, plan_windows
from watchkeeper.core.times import to_us

N = 4000
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MAPPING = ColumnMapping(
    model=None, score=None, prediction=None, label=None, label_ts=None, features=("x",)
)


def _moments() -> list[dt.datetime]:
    """4,000 moments over 500 two-hour windows, with the traps: exact window bounds, a
    tenth of a millisecond before a bound, microseconds."""
    rng = np.random.default_rng(10)
    out = []
    for i in range(N):
        window = i % 500
        base = T0 + dt.timedelta(hours=2 * window)
        kind = i % 8
        if kind == 0:
            moment = base  # exactly on the bound
        elif kind == 1:
            moment = base + dt.timedelta(hours=2, microseconds=-400)  # 01:59:59.9996
        elif kind == 2:
            moment = base + dt.timedelta(hours=2, microseconds=-1)
        else:
            moment = base + dt.timedelta(microseconds=int(rng.integers(0, 7_200_000_000)))
        out.append(moment)
    return out


def _iso_text(i: int, moment: dt.datetime) -> str:
    """The shapes writers choose: naive with a space or a T, Z, an offset, fractions."""
    shape = i % 6
    naive = moment.replace(tzinfo=None)
    if shape == 0:
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f")
    if shape == 1:
        return naive.isoformat(timespec="microseconds").replace("+00:00", "") + "Z"
    if shape == 2:
        local = moment.astimezone(dt.timezone(dt.timedelta(hours=2)))
        return local.isoformat(timespec="microseconds")
    if shape == 3:
        local = moment.astimezone(dt.timezone(dt.timedelta(hours=-5, minutes=-30)))
        return local.isoformat()
    if shape == 4:
        return naive.isoformat()
    text = naive.isoformat(timespec="microseconds")
    return text.rstrip("0").rstrip(".") if "." in text else text  # "…:07.25"


def _write(engine: sa.Engine, storage: str) -> None:
    column_type: sa.types.TypeEngine = {
        "text": sa.String(),
        "naive": sa.DateTime(timezone=False),
        "zoned": sa.DateTime(timezone=True),
    }[storage]
    md = sa.MetaData()
    t = sa.Table(
        "events",
        md,
        sa.Column("request_id", sa.String),
        sa.Column("model_version", sa.String),
        sa.Column("ts", column_type),
        sa.Column("x", sa.Double),
    )
    md.create_all(engine)
    rng = np.random.default_rng(3)
    rows = []
    for i, moment in enumerate(_moments()):
        value: object = moment
        if storage == "text":
            value = _iso_text(i, moment)
        elif storage == "naive":
            value = moment.replace(tzinfo=None)
        rows.append({"request_id": f"r{i}", "model_version": "1", "ts": value,
                     "x": float(rng.normal())})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(t.insert(), rows)


CASES = [
    ("sqlite", "text"),
    ("sqlite", "naive"),
    ("duckdb", "text"),
    ("duckdb", "naive"),
    ("duckdb", "zoned"),
    ("postgresql", "text"),
    ("postgresql", "naive"),
    ("postgresql", "zoned"),
]


@pytest.fixture(params=CASES, ids=[f"{e}-{s}" for e, s in CASES])
def stored(request, tmp_path):
    engine_name, storage = request.param
    if engine_name == "duckdb":
        url = f"duckdb:///{tmp_path / 't.duckdb'}"
    elif engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 't.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    try:
        _write(engine, storage)
    finally:
        engine.dispose()
    return url, engine_name, storage


def _in_memory(url: str, spec: str, start: int | None = None, end: int | None = None):
    """Every row read and parsed by the telemetry reader, windows assigned in Python."""
    with open_source(f"{url}#events", MAPPING) as src:
        table = src.read()
    ts = timestamps_us(table.column("ts"))
    keep = np.ones(len(ts), dtype=bool)
    if start is not None:
        keep &= ts >= start
    if end is not None:
        keep &= ts < end
    ts = ts[keep]
    windows = plan_windows(parse_window(spec), int(ts.min()), int(ts.max()), n_rows=len(ts),
                           start=start, end=end)  # fmt: skip
    index = assign_windows(windows, ts)
    counts = np.bincount(index[index >= 0], minlength=len(windows))
    return windows, counts, table.filter(pa.array(keep))


def _pushed_down(url: str, spec: str, reference: pa.Table, start=None, end=None):
    """Windows planned and counted by the database, through the reader's own filter."""
    profile = build_profile(reference.select(["x"]))
    query = TelemetryQuery(
        versions=("1",),
        start=None if start is None else dt.datetime.fromtimestamp(start / 1e6, dt.UTC),
        end=None if end is None else dt.datetime.fromtimestamp(end / 1e6, dt.UTC),
    )
    with open_source(f"{url}#events", MAPPING) as src:
        with src.engine.connect() as conn:
            table = reflect_table(conn, src.table_name)
            where = sa.and_(*src.where(table, query))
            windows = plan_windows_sql(conn, table, parse_window(spec), timestamp="ts",
                                       where=where, start=start, end=end)  # fmt: skip
            counts = count_windows_sql(conn, table, profile, windows, timestamp="ts",
                                       where=where, start=start, end=end)  # fmt: skip
        selected = src.count(query)
    return windows, counts, profile, selected


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("2h", None, None),
        ("1d", to_us("2026-01-03T01:59:59.9996Z"), to_us("2026-01-20T00:00:00.000001Z")),
    ],
)
def test_pushed_down_windows_count_what_a_read_assigns(stored, spec, start, end) -> None:
    url, engine_name, storage = stored
    windows, expected, rows = _in_memory(url, spec, start, end)
    if start is None:
        assert expected.sum() == N and len(windows) == 500 and (expected > 0).all()
    if storage == "text" and engine_name != "sqlite":
        # A text column elsewhere cannot be compared as times there: one clear refusal.
        with pytest.raises((DriftError, TelemetryError)) as info:
            _pushed_down(url, spec, rows, start, end)
        message = str(info.value)
        assert "\n" not in message and ("'ts'" in message or "pushed down" in message)
        return
    got_windows, counts, profile, selected = _pushed_down(url, spec, rows, start, end)
    assert got_windows.bounds == windows.bounds
    assert counts.rows.tolist() == expected.tolist()
    assert int(counts.rows.sum()) == int(expected.sum()) == selected == rows.num_rows
    # and the bins agree too: the same rows landed in each window
    index = assign_windows(windows, timestamps_us(rows.column("ts")))
    numpy = count_windows(rows, profile, index, len(windows))
    for got, want in zip(counts.counts, numpy.counts, strict=True):
        assert np.array_equal(got, want)


def test_sqlite_text_sqlite_cannot_read_is_refused_not_skipped(tmp_path) -> None:
    """A value Python reads but SQLite's date functions do not (a basic-format offset): the
    pushdown says so instead of dropping the row."""
    url = f"sqlite:///{tmp_path / 't.sqlite'}"
    engine = sa.create_engine(url)
    _write(engine, "text")
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE events SET ts = '2026-01-05T10:00:00+0200' WHERE request_id = 'r7'")
        )
    engine.dispose()
    _, expected, rows = _in_memory(url, "2h")
    assert expected.sum() == N  # the read takes it
    with pytest.raises(DriftError) as info:
        _pushed_down(url, "2h", rows)
    message = str(info.value)
    assert "'2026-01-05T10:00:00+0200'" in message and "1 value(s)" in message
    assert "\n" not in message
