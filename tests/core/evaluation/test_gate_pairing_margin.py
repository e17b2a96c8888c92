"""A shadow deployment that scores asynchronously logs the challenger's row after the
champion's: here a batch job scores every six hours the requests the champion answered
since its last run. The shadow window starts at the challenger's first row, so the first
batch's champion rows lie before it; read within the window alone, those requests lost
their pairs. ``[gate] pairing_margin`` reads the champion's rows that far beyond the window:
every request the challenger scored is paired, on every engine, in memory and in the
database, and an explicit window keeps exactly the requests whose challenger row is in it
and whose champion row is within the margin (plain Python's answer)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from watchkeeper.core.evaluation.gate import gate_from_spec, read_shadow_pairs
from watchkeeper.core.spec import load_spec
from watchkeeper.core.workbench.challenger import run_challenger
from watchkeeper.core.workbench.portfolio import portfolio_of_spec

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAYS, REQUESTS = 12, 2_400
SHADOW_FROM = START + dt.timedelta(days=8, hours=3)  # not a batch time: a partial batch
BATCH = dt.timedelta(hours=6)

SPEC = """\
[model]
name = "m"

[telemetry]
source = "{source}"

[telemetry.columns]
model = ""
features = ["x"]

[reference]
kind = "window"
version = "1"
start = 2026-03-01
end = 2026-03-05

[gate]
min_labeled = 10
{margin}
"""


def _log() -> tuple[pa.Table, dict[str, tuple[dt.datetime, dt.datetime]]]:
    """Version 1 answering requests over twelve days; version 2 scoring those from
    ``SHADOW_FROM`` on, each at the next six-hour batch after it; and each shadow request's
    (champion time, challenger time)."""
    rng = np.random.default_rng(11)
    secs = np.sort(rng.choice(DAYS * 86_400, REQUESTS, replace=False))
    ts = [START + dt.timedelta(seconds=int(s)) for s in secs]
    ids = [f"q{i:05d}" for i in range(REQUESTS)]
    y = (rng.random(REQUESTS) < 0.3).astype(float)
    x = rng.normal(size=REQUESTS)
    s_a = 1 / (1 + np.exp(-(rng.normal(-1, 1, REQUESTS) + 1.5 * y)))
    s_b = 1 / (1 + np.exp(-(rng.normal(-1, 1, REQUESTS) + 2.0 * y)))
    shadow = [i for i, t in enumerate(ts) if t >= SHADOW_FROM]
    batch_us = BATCH // dt.timedelta(microseconds=1)

    def scored(t: dt.datetime) -> dt.datetime:
        us = (t - START) // dt.timedelta(microseconds=1)
        return START + dt.timedelta(microseconds=(us // batch_us + 1) * batch_us)

    later = [scored(ts[i]) for i in shadow]
    times = {ids[i]: (ts[i], t) for i, t in zip(shadow, later, strict=True)}
    stamp = pa.timestamp("us", tz="UTC")
    champion = pa.table(
        {
            "request_id": ids,
            "ts": pa.array(ts, stamp),
            "model_version": ["1"] * REQUESTS,
            "x": x,
            "score": s_a,
            "label": y,
        }
    )
    challenger = pa.table(
        {
            "request_id": [ids[i] for i in shadow],
            "ts": pa.array(later, stamp),
            "model_version": ["2"] * len(shadow),
            "x": x[shadow],
            "score": s_b[shadow],
            "label": y[shadow],
        }
    )
    return pa.concat_tables([champion, challenger]), times


_DATABASES = itertools.count()


def _store(engine: str, table: pa.Table, root: Path, request: Any) -> str:
    root.mkdir(parents=True, exist_ok=True)
    if engine == "parquet":
        pq.write_table(table, root / "log.parquet")
        return str(root / "log.parquet")
    if engine == "spark":
        folder = root / "spark-log"
        folder.mkdir()
        pq.write_table(table, folder / "part-0.parquet")
        name = f"margin_{os.getpid()}_{next(_DATABASES)}"
        return str(request.getfixturevalue("spark").table_from_parquet(name, folder))
    if engine == "duckdb":
        path = root / "log.duckdb"
        with duckdb.connect(str(path)) as con:
            con.register("t", table)
            con.sql("CREATE TABLE events AS SELECT * FROM t")
        return f"duckdb:///{path}#events"
    if engine == "sqlite":
        path = root / "log.db"
        names = table.schema.names
        rows = [
            tuple(v.isoformat() if isinstance(v, dt.datetime) else v for v in r.values())
            for r in table.to_pylist()
        ]
        types = {"ts": "TIMESTAMP", "x": "REAL", "score": "REAL", "label": "REAL"}
        with sqlite3.connect(path) as con:
            columns = ", ".join(f"{n} {types.get(n, 'TEXT')}" for n in names)
            con.execute(f"CREATE TABLE events ({columns})")
            con.executemany(f"INSERT INTO events VALUES ({','.join('?' * len(names))})", rows)
        con.close()
        return f"sqlite:///{path}#events"
    from sqlalchemy.dialects import postgresql

    name = f"wk_margin_{os.getpid()}_{next(_DATABASES)}"
    url = str(request.getfixturevalue("postgres").create_database(name))
    kinds = {"ts": postgresql.TIMESTAMP(timezone=True), "x": sa.Double, "score": sa.Double}
    kinds["label"] = sa.Double
    events = sa.Table(
        "events", sa.MetaData(), *[sa.Column(n, kinds.get(n, sa.Text)) for n in table.schema.names]
    )
    engine_ = sa.create_engine(url)
    with engine_.begin() as conn:
        events.create(conn)
        conn.execute(events.insert(), table.to_pylist())
    engine_.dispose()
    return f"{url}#events"


def _spec(root: Path, source: str, margin: str | None = None) -> Path:
    path = root / ("m.toml" if margin is None else f"m-{margin}.toml")
    line = "" if margin is None else f'pairing_margin = "{margin}"'
    path.write_text(SPEC.format(source=source, margin=line))
    return path


def _expected(
    times: dict[str, tuple[dt.datetime, dt.datetime]],
    start: dt.datetime,
    end: dt.datetime,
    margin: dt.timedelta,
) -> list[str]:
    """Plain Python: the requests whose challenger row is in ``[start, end)`` and whose
    champion row is within ``margin`` of it."""
    return sorted(
        rid
        for rid, (a, b) in times.items()
        if start <= b < end and start - margin <= a < end + margin
    )


POSTGRES = pytest.param("postgresql", marks=pytest.mark.postgres)
ENGINES = [("parquet", False), ("duckdb", False), ("duckdb", True), ("sqlite", False)]
ENGINES += [("sqlite", True), pytest.param("postgresql", False, marks=pytest.mark.postgres)]
ENGINES += [pytest.param("postgresql", True, marks=pytest.mark.postgres)]
# Spark pairs in the warehouse (SqlSource.warehouse), on the run's one Thrift server
ENGINES += [pytest.param("spark", True, marks=pytest.mark.spark)]


@pytest.mark.parametrize(("engine", "inside"), ENGINES)
def test_requests_scored_in_a_later_batch_keep_their_pairs(
    engine: str, inside: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    table, times = _log()
    source = _store(engine, table, tmp_path, request)
    spec = load_spec(_spec(tmp_path, source))
    pairs = read_shadow_pairs(spec, champion="1", challenger="2", in_database=inside)
    got = pairs.joined.column("request_id").to_pylist()
    first = min(b for _, b in times.values())
    # the default window: the challenger's first row to just after its last
    assert pairs.start == first and pairs.end == max(b for _, b in times.values()) + dt.timedelta(
        microseconds=1
    )
    assert got == sorted(times)  # every request the challenger scored
    # the point of the fixture: the first batch's champion rows lie before the window
    early = [rid for rid, (a, _) in times.items() if a < first]
    assert len(early) > 20
    assert pairs.joined.column("score_a").null_count == 0
    # an explicit window, and a margin shorter than a batch: plain Python's pairs
    start, end = START + dt.timedelta(days=9, hours=5), START + dt.timedelta(days=11)
    spec = load_spec(_spec(tmp_path, source, "2h"))
    cut = read_shadow_pairs(
        spec, champion="1", challenger="2", start=start, end=end, in_database=inside
    )
    want = _expected(times, start, end, dt.timedelta(hours=2))
    assert cut.joined.column("request_id").to_pylist() == want
    assert 0 < len(want) < len(_expected(times, start, end, BATCH))


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", POSTGRES])
def test_the_gate_is_the_same_document_in_memory_and_in_the_database(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    table, times = _log()
    spec = load_spec(_spec(tmp_path, _store(engine, table, tmp_path, request)))
    memory, counted = (
        gate_from_spec(spec, champion="1", challenger="2", in_database=inside, n_boot=30)
        for inside in (False, True)
    )
    a, b = memory.document(), counted.document()
    assert a == b
    assert memory.comparison.pairs == len(times)


def test_the_champion_view_lists_early_requests_with_their_features(tmp_path: Path) -> None:
    """The Champion vs challenger view pairs the first batch too, and reads the features of
    the disagreements it shows from the champion's rows before the window."""
    table, times = _log()
    spec = _spec(tmp_path, _store("duckdb", table, tmp_path, None))
    (entry,) = portfolio_of_spec(spec).models
    view = run_challenger(entry, "1", "2", n_boot=20)
    assert view.pairs == len(times)
    shown = view.disagreements
    first = min(b for _, b in times.values())
    early = {rid for rid, (a, _) in times.items() if a < first}
    listed = shown[shown["request_id"].isin(early)]
    assert len(listed) > 0  # some of the first batch's requests disagree and are shown
    assert not shown["x"].isna().any()
    ids, xs = table.column("request_id").to_pylist(), table.column("x").to_pylist()
    by_id = dict(zip(ids, xs, strict=True))
    assert [by_id[r] for r in listed["request_id"]] == listed["x"].tolist()
