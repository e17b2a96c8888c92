"""The Slices view of a window too large to read whole (evaluation/slice_window): the window's
narrow columns read whole, the search's columns sampled as they stream. On the demo's
workspace with the bound lowered to nothing, it equals the view read whole — every slice's
metrics and interval, every worst-slice candidate — since the demo's window holds fewer
searched events than the sample; the builder reads the columns it lacks again; the report
takes the same path. The sampler itself: all of a small selection, in order; a uniform,
seeded, ordered sample of a large one; refusals and cancellation between batches."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from watchkeeper.core.evaluation import slice_window, worst_slices
from watchkeeper.core.evaluation.data import sample_events
from watchkeeper.core.evaluation.metrics import EvaluationError
from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.evaluation.report import slice_report
from watchkeeper.core.evaluation.worst_slices import searched_rows
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.workbench.common import spec_of
from watchkeeper.core.workbench.portfolio import portfolio_of_spec
from watchkeeper.core.workbench.slices import count_slice, recompute_slices, run_slices


def _same_estimates(a, b, what: str) -> None:
    assert (a.support, a.labeled, a.positives) == (b.support, b.labeled, b.positives), what
    assert a.metrics.keys() == b.metrics.keys(), what
    for k, e in b.metrics.items():
        x = a.metrics[k]
        assert (x.value, x.lower, x.upper) == (e.value, e.lower, e.upper), f"{what} {k}"


@pytest.mark.parametrize("model", ["fraud-detector", "risk-tier"])
def test_a_bounded_read_gives_the_view_read_whole(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    (entry,) = portfolio_of_spec(demo_workspace / "specs" / f"{model}.toml").models
    version = "1"
    first = run_slices(entry, version)
    levels = next(c for c in reversed(first.columns) if c.levels)
    # a slice of the user's too (risk-tier's spec has none): its column is read whole
    given = SlicePredicate("given", (Condition(levels.name, "eq", levels.levels[0]),))
    whole = run_slices(entry, version, (given,))
    assert whole.reread is None
    monkeypatch.setattr(slice_window, "WINDOW_BYTES", 0)
    bounded = run_slices(entry, version, (given,))
    assert bounded.reread is entry
    features = spec_of(entry).telemetry.columns.features
    held = set(bounded.table.column_names)
    assert not held & (set(features) - {c for p in bounded.predicates for c in p.columns})
    assert bounded.table.num_rows == whole.table.num_rows > 0
    assert bounded.notes == whole.notes  # fewer searched events than the sample: no note

    a, b = bounded.slices, whole.slices
    assert len(a.rows) == len(b.rows) > 0
    for x, e in zip(a.rows, b.rows, strict=True):
        _same_estimates(x, e, x.predicate.name)
    assert bounded.worst is not None and whole.worst is not None
    assert bounded.worst.tested == whole.worst.tested > 0
    got = [(w.predicate.label, w.estimate, w.support) for w in bounded.worst.candidates]
    want = [(w.predicate.label, w.estimate, w.support) for w in whole.worst.candidates]
    assert got == want
    assert [c.name for c in bounded.columns] == [c.name for c in whole.columns]

    # the builder: a slice on a feature the bounded view does not hold reads it again
    column = next(c for c in whole.columns if c.name not in held)
    if column.kind == "categorical":
        condition = Condition(column.name, "eq", column.levels[0])
    else:
        condition = Condition(column.name, "range", ((column.low + column.high) / 2, None))
    mine = SlicePredicate("mine", (condition,))
    counted = count_slice(bounded, mine)
    assert counted == count_slice(whole, mine)
    assert 0 < counted[0] < counted[1]
    again, want_again = recompute_slices(bounded, [mine]), recompute_slices(whole, [mine])
    _same_estimates(again.slices.row("mine"), want_again.slices.row("mine"), "mine")
    assert column.name in again.table.column_names
    odd = SlicePredicate("odd", (Condition("no such column", "eq", "x"),))
    with pytest.raises(Exception, match="no such column"):
        recompute_slices(bounded, [odd])


def test_the_report_reads_the_window_in_bounded_parts_and_says_so(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_of(portfolio_of_spec(demo_workspace / "specs" / "fraud-detector.toml").models[0])
    whole = slice_report(spec, version="1")
    monkeypatch.setattr(slice_window, "WINDOW_BYTES", 0)
    monkeypatch.setattr(worst_slices, "SEARCH_ROWS", 5_000)
    bounded = slice_report(spec, version="1")
    for x, e in zip(bounded.slices.rows, whole.slices.rows, strict=True):
        _same_estimates(x, e, x.predicate.name)
    assert bounded.worst is not None and bounded.worst.tested > 0
    events, baseline = bounded.worst.notes[:2]
    assert events.startswith("worst slices searched on a seeded sample of 5,000 of ")
    assert baseline.startswith("worst slices searched on a seeded sample of 5,000 of ")
    assert events.endswith(" events") and baseline.endswith(" baseline")
    assert events in bounded.notes


def _table_source(tmp_path: Path, rows: int, *, odd_at: int | None = None):
    """A DuckDB table of ``rows`` events: ``i`` the event's number, a label on 4 of 5."""
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"""CREATE TABLE p AS SELECT i,
                TIMESTAMPTZ '2026-01-01' + to_microseconds(i * 1000) AS ts,
                CASE WHEN i % 5 = 4 THEN NULL
                     WHEN i = {odd_at if odd_at is not None else -1} THEN 7.0
                     ELSE CAST(i % 2 AS DOUBLE) END AS label,
                (i % 1000) / 1000.0 AS score
              FROM range({rows}) t(i)"""
        )
    mapping = ColumnMapping(
        request_id=None,
        model=None,
        model_version=None,
        prediction=None,
        label_ts=None,
        features=("i",),
    )
    return open_source(f"duckdb:///{path}#p", mapping)


def _sample(src, max_rows: int, seed: int = 0, cancelled=None):
    return sample_events(
        src,
        model=None,
        versions=(),
        start=None,
        end=None,
        columns=["score", "label", "i"],
        kept=functools.partial(searched_rows),
        max_rows=max_rows,
        seed=seed,
        cancelled=cancelled,
    )


def test_the_sampler_keeps_a_small_selection_whole_and_in_order(tmp_path: Path) -> None:
    with _table_source(tmp_path, 100_000) as src:
        got, total = _sample(src, 80_000)
        everything = searched_rows(src.read(columns=["score", "label", "i"]))
    assert total == everything.num_rows == 80_000
    assert got.equals(everything)


def test_the_sampler_draws_a_uniform_seeded_ordered_sample(tmp_path: Path) -> None:
    rows, size = 5 * 65_536, 20_000  # five batches of 65,536 rows
    with _table_source(tmp_path, rows) as src:
        got, total = _sample(src, size, seed=3)
        same, _ = _sample(src, size, seed=3)
        other, _ = _sample(src, size, seed=4)
    assert total == rows * 4 // 5 and got.num_rows == size
    i = got.column("i").to_numpy()
    assert np.all(np.diff(i) > 0)  # the source's order, no event twice
    assert not np.any(i % 5 == 4)  # only searched (labeled) events
    assert got.equals(same) and not got.equals(other)
    # uniform over the selection: every tenth of it holds a tenth of the sample
    counts = np.bincount(i * 10 // rows, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3, counts
    # and within every batch: positions in a batch of 65,536 rows spread evenly too
    assert stats.kstest((i % 65_536) / 65_536, "uniform").pvalue > 1e-3


def test_the_sampler_refuses_an_odd_label_and_stops_when_cancelled(tmp_path: Path) -> None:
    with _table_source(tmp_path, 200_000, odd_at=150_000) as src:
        with pytest.raises(EvaluationError, match="label"):
            _sample(src, 1_000)
        checks = []

        def cancelled() -> bool:
            checks.append(1)
            return len(checks) > 2

        with pytest.raises(Cancelled):
            _sample(src, 1_000, cancelled=cancelled)
    assert len(checks) == 3  # stopped at the third batch's check


def test_the_sampler_of_an_empty_selection_gives_the_columns(tmp_path: Path) -> None:
    with _table_source(tmp_path, 1_000) as src:
        got, total = sample_events(
            src,
            model=None,
            versions=(),
            start=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
            end=None,
            columns=["score", "label", "i"],
            kept=functools.partial(searched_rows),
            max_rows=10,
            seed=0,
        )
    assert total == 0 and got.num_rows == 0
    assert got.column_names == ["score", "label", "i"]
    assert isinstance(got, pa.Table)


_CHILD = r"""
import datetime as dt, json, resource, sys
cap = 4096 << 20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from watchkeeper.core.evaluation.slice_window import read_slice_window
from watchkeeper.core.telemetry.contract import ColumnMapping
from watchkeeper.core.telemetry.source import open_source
features = [f"x{i}" for i in range(40)]
mapping = ColumnMapping(request_id=None, model=None, model_version=None, prediction=None,
                        label_ts=None, features=tuple(features))
def status(key):  # VmHWM, not ru_maxrss: that keeps the forking parent's peak across exec
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) >> 10
before = status("VmRSS")
start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
end = start + dt.timedelta(milliseconds=int(sys.argv[3]))
with open_source(sys.argv[1], mapping) as src:
    got = read_slice_window(
        src, model=None, version="1", start=start, end=end, outputs=["score", "label"],
        features=features, slice_columns=["x0"], reference=None,
        window_bytes=int(sys.argv[2]))
peak = status("VmHWM")
print(json.dumps({"before": before, "peak": peak, "bounded": got.bounded,
                  "rows": got.current.num_rows, "searched": got.search.num_rows,
                  "notes": list(got.notes)}))
"""


def test_a_bounded_read_does_not_grow_with_the_window_in_a_child_process(
    tmp_path: Path,
) -> None:
    """1,500,000 events x 40 features in Parquet, a window of a third of them and of all,
    each read in a child process under an address-space cap: read whole, the peak grows by
    the added events' columns (330 MB as float64); read bounded, by their narrow columns."""
    import pyarrow.parquet as pq
    from child_process import json_child

    rows = 1_500_000
    rng = np.random.default_rng(5)
    columns = {
        "ts": pa.array(
            np.datetime64("2026-03-01", "us") + np.arange(rows) * 1000, pa.timestamp("us", "UTC")
        ),
        "score": rng.random(rows),
        "label": np.where(rng.random(rows) < 0.8, (rng.random(rows) < 0.3) * 1.0, np.nan),
        **{f"x{i}": rng.normal(size=rows) for i in range(40)},
    }
    path = tmp_path / "tall.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=65_536)
    del columns
    added_mb = (rows - rows // 3) * 43 * 8 / 2**20

    def child(events: int, window_bytes: int) -> dict:
        got = json_child("-c", _CHILD, str(path), str(window_bytes), str(events))
        assert got["rows"] == events
        return got

    bound = 64 << 20  # both windows are over it (a third: 164 MB)
    small, large = child(rows // 3, bound), child(rows, bound)
    assert small["bounded"] and large["bounded"]
    assert small["searched"] == large["searched"] == worst_slices.SEARCH_ROWS
    assert large["notes"][0].startswith("worst slices searched on a seeded sample of 200,000")
    whole_small, whole_large = child(rows // 3, 1 << 40), child(rows, 1 << 40)
    assert not whole_small["bounded"]
    grown_whole = whole_large["peak"] - whole_small["peak"]
    grown_bounded = large["peak"] - small["peak"]
    assert grown_whole > 0.9 * added_mb, (grown_whole, added_mb)
    assert grown_bounded < 0.25 * added_mb, (grown_bounded, added_mb)
