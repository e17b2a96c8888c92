"""The pushed-down drift's reference prepared in the database (``reference_sql``): the same
counts, PSI and decisions as the reference read as rows; the exact statistics equal when the
reference fits ``exact_sample_limit`` and within their sampling error when it does not; never
more than that many reference rows fetched, none read as events."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from watchkeeper.core.drift import reference_sql
from watchkeeper.core.drift.errors import DriftError
from watchkeeper.core.spec import parse_spec
from watchkeeper.core.telemetry.sql import SqlSource
from watchkeeper.core.workbench import analyses
from watchkeeper.core.workbench.portfolio import ModelEntry, VersionEntry

REF_ROWS = 6000  # ten reference days
CUR_ROWS = 1500  # three current days, one feature shifted
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _table() -> pa.Table:
    """Events in (ts, request_id) order — the order the sample reads them in, so the PCA
    sees the rows as the in-memory read does. Hostile reference values: NaN, ±inf, NULL; a
    categorical column that is NULL on every reference row."""
    rng = np.random.default_rng(5)
    n = REF_ROWS + CUR_ROWS
    ref = np.arange(n) < REF_ROWS
    secs = np.where(ref, rng.integers(0, 10 * 86400, n), 10 * 86400 + rng.integers(0, 3 * 86400, n))
    order = np.argsort(secs, kind="stable")
    secs, ref = secs[order], ref[order]
    a = rng.normal(size=n) + np.where(ref, 0.0, 0.8)  # drifts
    b = rng.gamma(2.0, size=n)
    c = a * 0.5 + rng.normal(size=n)  # correlated with a
    a[::97] = np.nan
    b[5] = math.inf
    b[17] = -math.inf
    score = rng.random(n)
    ts = [T0 + dt.timedelta(seconds=int(s), microseconds=i) for i, s in enumerate(secs)]
    return pa.table(
        {
            "request_id": [f"r{i:06d}" for i in range(n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model_version": ["1"] * n,
            "score": score,
            "a": pa.array(a, mask=rng.random(n) < 0.02),
            "b": b,
            "c": c,
            "city": pa.array(rng.choice(["x", "y", "z"], n).tolist()),
            "gone": pa.array([None if r else "q" for r in ref.tolist()], pa.string()),
        }
    )


def _entry(
    tmp_path: Path,
    drift: str = "",
    reference: str = "2026-01-01, 2026-01-11",
    source: str = "duckdb:///t.duckdb#events",
) -> ModelEntry:
    db = tmp_path / "t.duckdb"
    if source.startswith("duckdb") and not db.exists():
        table = _table()
        with duckdb.connect(str(db)) as conn:
            conn.register("t", table)
            conn.execute("CREATE TABLE events AS SELECT * FROM t")
    start, end = reference.split(", ")
    spec = parse_spec(
        f'[model]\nname = "m"\n[telemetry]\nsource = "{source}"\n'
        '[telemetry.columns]\nfeatures = ["a", "b", "c", "city", "gone"]\n'
        'categorical = ["city", "gone"]\n'
        f"[reference]\nstart = {start}\nend = {end}\n" + '[drift]\nwindow = "1d"\n' + drift,
        base_dir=tmp_path,
    )
    return ModelEntry(name="m", task="binary", versions=(VersionEntry("1"),), spec=spec)


class _Spy:
    """Counts the rows that really cross the wire: the reference sample's blocks and any
    events read as rows (the functions wrapped, not replaced)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sampled = 0
        self.scanned = 0
        fetch, scan = reference_sql.fetch_float_blocks, SqlSource._scan

        def fetch_spy(*args: Any, **kw: Any) -> Any:
            for block in fetch(*args, **kw):
                self.sampled += block.shape[0]
                yield block

        def scan_spy(src: Any, *args: Any, **kw: Any) -> Any:
            for batch in scan(src, *args, **kw):
                self.scanned += batch.batch.num_rows
                yield batch

        monkeypatch.setattr(reference_sql, "fetch_float_blocks", fetch_spy)
        monkeypatch.setattr(SqlSource, "_scan", scan_spy)


def _pushed(
    entry: ModelEntry, monkeypatch: pytest.MonkeyPatch, where: str = "always"
) -> tuple[Any, _Spy]:
    """The pushed-down analysis, the reference prepared in the database even though DuckDB
    runs in this process (``where="always"``), or as the default decides (``"server"``), or
    by the server's rule applied to DuckDB (``"larger"``: counted, rows within the limit)."""
    with monkeypatch.context() as m:
        m.setattr(analyses, "IN_MEMORY_ROWS", 0)
        m.setattr(analyses, "REFERENCE_IN_DATABASE", where)
        spy = _Spy(m)
        return analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=10)), spy


def _windows(result: Any) -> dict[str, list[dict[str, Any]]]:
    doc = result.to_dict()
    return {f["name"]: f["windows"] for f in [*doc["features"], doc["prediction"]]}


def test_reference_profiled_in_the_database_equals_the_rows_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _entry(tmp_path)
    memory = analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=10))
    pushed, spy = _pushed(entry, monkeypatch)
    assert spy.scanned == 0  # no reference (nor current) row read as an event
    assert spy.sampled == REF_ROWS  # it fits exact_sample_limit: every reference row, once
    assert any(n.startswith("reference profiled in the database (6,000") for n in pushed.notes)
    assert not any("sample of" in n for n in pushed.notes if n.startswith("reference"))
    assert pushed.decisions() == memory.decisions()
    got, want = _windows(pushed), _windows(memory)
    assert list(got) == list(want) == ["a", "b", "c", "city", "gone", "score"]
    assert any(w["decision"] == "drift" for w in got["a"])
    for name in got:
        for g, w in zip(got[name], want[name], strict=True):
            assert g["rows"] == w["rows"] and g["decision"] == w["decision"], name
            assert g["psi"] == w["psi"], name  # counts and edges equal: PSI bit for bit
            assert g.get("exact") == w.get("exact"), name
            # the normalized Wasserstein ÷ the database's std (equal to numpy's to ~1e-15)
            for k in ("ks", "ks_p_value", "wasserstein", "wasserstein_normalized"):
                if w[k] is None:  # categorical: not measured on either side
                    assert g[k] is None, (name, k)
                else:
                    assert g[k] == pytest.approx(w[k], rel=1e-9, abs=1e-12), (name, k)
    mv_p, mv_m = pushed.to_dict()["multivariate"], memory.to_dict()["multivariate"]
    for g, w in zip(mv_p["windows"], mv_m["windows"], strict=True):
        assert g["decision"] == w["decision"]
        assert g["error"] == pytest.approx(w["error"], rel=1e-9)
        assert g["threshold"] == pytest.approx(w["threshold"], rel=1e-9)


def test_a_reference_above_the_limit_is_a_bounded_seeded_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """exact_sample_limit 2,000 of 6,000 reference rows: 2,000 rows fetched, the same counts,
    PSI and decisions; KS within twice the DKW bound of two 2,000-value samples of the same
    reference (each sample's ECDF within sqrt(ln(2/1e-6) / 4000) = 0.06 of the reference's,
    but for a one-in-a-million draw), Wasserstein ÷ std within 0.1 (five times the ~0.02 by
    which a 2,000-value sample's own distance to its population typically differs)."""
    entry = _entry(tmp_path, "exact_sample_limit = 2000\n")
    memory = analyses.run_drift(entry, "1", None, start=T0 + dt.timedelta(days=10))
    pushed, spy = _pushed(entry, monkeypatch)
    assert spy.scanned == 0 and spy.sampled == 2000
    assert any(
        "reference profiled in the database (6,000 rows); its exact statistics and the "
        "multivariate check on a seeded systematic sample of 2,000" in n
        for n in pushed.notes
    )
    assert pushed.decisions() == memory.decisions()
    bound = 2 * math.sqrt(math.log(2 / 1e-6) / (2 * 2000))
    got, want = _windows(pushed), _windows(memory)
    for name in ("a", "b", "c", "score"):
        for g, w in zip(got[name], want[name], strict=True):
            assert g["psi"] == w["psi"]
            assert g["exact"] == w["exact"] == "sample"
            assert abs(g["ks"] - w["ks"]) <= bound, name
            assert abs(g["wasserstein_normalized"] - w["wasserstein_normalized"]) <= 0.1, name
    # the same statement on the same rows: the same sample, so the same statistics again
    again, _ = _pushed(entry, monkeypatch)
    assert _windows(again) == got


def test_duckdb_in_this_process_reads_its_reference_as_rows_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default only a database outside the process prepares the reference: DuckDB's
    quantiles and sample would cost this process's memory as the rows do, and more time."""
    entry = _entry(tmp_path)
    pushed, spy = _pushed(entry, monkeypatch, where="server")
    assert spy.sampled == 0 and spy.scanned >= REF_ROWS  # read as rows, none sampled
    assert any(n.startswith("counts pushed down to the database") for n in pushed.notes)
    assert not any(n.startswith("reference profiled in the database") for n in pushed.notes)


def test_an_empty_reference_window_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = _entry(tmp_path, reference="2025-01-01, 2025-02-01")
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    for where in ("always", "server"):  # prepared in the database, and read as rows
        monkeypatch.setattr(analyses, "REFERENCE_IN_DATABASE", where)
        with pytest.raises(DriftError, match=r"the reference \(version 1, 2025-01-01 .* no rows"):
            analyses.run_drift(empty, "1", None)


def test_the_hybrid_reads_a_reference_within_the_limit_as_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6,000 reference events and exact_sample_limit 6,000: every row would be fetched for the
    exact statistics anyway, so they are read as rows and prepared as the rows path prepares
    them — the rows path's result, bit for bit (the profile's digest too), and its disk
    cache; at 5,999 the database prepares it, as "always" does."""
    from watchkeeper.core.drift.reference_cache import reference_cache_dir

    within = _entry(tmp_path, f"exact_sample_limit = {REF_ROWS}\n")
    got, spy = _pushed(within, monkeypatch, where="larger")
    assert spy.sampled == 0 and spy.scanned >= REF_ROWS  # read as rows, none sampled
    assert len(list(reference_cache_dir().glob("*.wkref.npz"))) == 1  # the rows path's cache
    assert not any(n.startswith("reference profiled in the database") for n in got.notes)
    shutil.rmtree(reference_cache_dir())  # the rows path prepares its own, not the cached one
    want, _ = _pushed(within, monkeypatch, where="never")
    assert got.to_dict() == want.to_dict()

    above = _entry(tmp_path, f"exact_sample_limit = {REF_ROWS - 1}\n")
    got, spy = _pushed(above, monkeypatch, where="larger")
    want, _ = _pushed(above, monkeypatch, where="always")
    assert spy.scanned == 0 and spy.sampled == REF_ROWS - 1  # prepared in the database
    assert any(n.startswith("reference profiled in the database (6,000") for n in got.notes)
    assert got.to_dict() == want.to_dict()


def _write_postgres(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    table = _table()
    text, double = sa.Text, postgresql.DOUBLE_PRECISION
    kinds = {"ts": postgresql.TIMESTAMP(timezone=True), "score": double}
    kinds |= {n: double for n in ("a", "b", "c")}
    columns = [sa.Column(n, kinds.get(n, text)) for n in table.schema.names]
    target = sa.Table("events", sa.MetaData(), *columns)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        target.create(conn)
        conn.execute(target.insert(), table.to_pylist())
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_counts_the_reference_then_reads_or_prepares_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """By default on PostgreSQL (a server) the reference is counted first — one statement more
    than either path alone — then read as rows within exact_sample_limit (the rows path's
    result, bit for bit) and prepared in the database above it ("always"'s result)."""
    from watchkeeper.core.drift.reference_cache import reference_cache_dir
    from watchkeeper.core.telemetry.sql_statements import recorded_statements

    _write_postgres(postgres_url)

    def sent(entry: ModelEntry, where: str) -> tuple[Any, _Spy, list[str]]:
        with recorded_statements() as statements:
            result, spy = _pushed(entry, monkeypatch, where=where)
        return result, spy, [" ".join(s.split()) for s in statements]

    for limit, other in ((REF_ROWS, "never"), (REF_ROWS - 1, "always")):
        entry = _entry(tmp_path, f"exact_sample_limit = {limit}\n", source=f"{postgres_url}#events")
        got, spy, hybrid = sent(entry, "server")
        shutil.rmtree(reference_cache_dir(), ignore_errors=True)  # prepared afresh below
        want, _, alone = sent(entry, other)
        assert got.to_dict() == want.to_dict(), other
        assert len(hybrid) == len(alone) + 1, other
        counts = [s for s in hybrid if s.upper().startswith("SELECT COUNT(*)")]
        assert len(counts) == len([s for s in alone if s.upper().startswith("SELECT COUNT(*)")]) + 1
        if other == "never":
            assert spy.sampled == 0 and spy.scanned >= REF_ROWS
        else:
            assert spy.scanned == 0 and spy.sampled == REF_ROWS - 1
