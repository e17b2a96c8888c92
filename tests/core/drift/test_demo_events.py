"""The demo's planted events: the drifted features are found, the stable ones are not.

In memory and pushed down to the demo's DuckDB file, which must agree.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from watchkeeper.core.drift.engine import analyze_drift
from watchkeeper.core.drift.engine_sql import analyze_drift_sql
from watchkeeper.core.spec import load_spec
from watchkeeper.core.telemetry.contract import TelemetryQuery
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql import reflect_table
from watchkeeper.core.telemetry.windows import parse_window


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    from watchkeeper.core.demo import ensure_workspace

    ws = ensure_workspace(tmp_path_factory.mktemp("demo") / "ws", events_per_day=1000)
    return ws


def test_fraud_detector_planted_events(demo) -> None:
    root = Path(demo.root)
    manifest = demo.manifest
    spec = load_spec(root / "specs" / "fraud-detector.toml")
    cols = spec.telemetry.columns
    url = f"duckdb:///{root / 'telemetry.duckdb'}#predictions"
    with open_source(url, spec.telemetry.mapping()) as src:
        current = src.read(TelemetryQuery(model="fraud-detector", versions=("1",)))
        reference = src.read(
            TelemetryQuery(
                model="fraud-detector",
                versions=("1",),
                start=dt.datetime(2026, 1, 1),
                end=dt.datetime(2026, 1, 31),
            )
        )
    r = analyze_drift(
        reference,
        current,
        features=list(cols.features),
        categorical=list(cols.categorical),
        window=parse_window("7d"),
    )
    events = [
        e
        for e in manifest["events"]
        if e["model"] == "fraud-detector" and e["kind"] in ("gradual_drift", "pipeline_incident")
    ]
    planted = {f for e in events for f in e["features"]}
    assert planted == {"amount", "device_type", "distance_from_home_km"}
    dec = r.decisions()
    starts = [w.start for w in r.windows]
    for e in events:
        begin = dt.datetime.fromisoformat(e["start"].replace("Z", "+00:00"))
        for f in e["features"]:
            before = [d for s, d in zip(starts, dec[f], strict=True) if s < begin - dt.timedelta(7)]
            assert set(before) == {"ok"}, (f, dec[f])
            assert dec[f][-1] == "drift", (f, dec[f])
    for f in set(cols.features) - planted:
        assert set(dec[f]) == {"ok"}, (f, dec[f])
    # the same, counted by DuckDB
    import sqlalchemy as sa

    engine = sa.create_engine(
        f"duckdb:///{root / 'telemetry.duckdb'}", connect_args={"read_only": True}
    )
    with engine.connect() as conn:
        t = reflect_table(conn, "predictions")
        pushed = analyze_drift_sql(
            reference,
            conn,
            t,
            features=list(cols.features),
            categorical=list(cols.categorical),
            window=parse_window("7d"),
            where=sa.and_(t.c.model == "fraud-detector", t.c.model_version == "1"),
        )
    engine.dispose()
    assert pushed.decisions() == dec
    assert pushed.to_dict()["windows"] == r.to_dict()["windows"]
    for a, b in zip(pushed.features, r.features, strict=True):
        assert (a.counts == b.counts).all()
