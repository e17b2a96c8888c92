"""The Slices view counted in the database equals the one read into memory (the demo's
DuckDB workspace with the row threshold lowered so the SQL path runs): slice counts
identical, metrics to 1e-9, the same worst-slice candidates with ROC AUC within the stated
bin bound; the builder's recompute and the slice report count again without reading rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.telemetry.sql_statements import recorded_statements
from watchkeeper.core.workbench import analyses, slices_pushed
from watchkeeper.core.workbench.portfolio import portfolio_of_spec
from watchkeeper.core.workbench.slices import recompute_slices, run_slices, write_slice_report
from watchkeeper.core.workbench.slices_pushed import PUSHED_NOTE


def _reads(statements: list[str]) -> list[str]:
    """The statements reading the events (a column of the table named; the catalog's
    queries opening a source name none)."""
    return [s for s in statements if "predictions." in s]


def _close(x: float | None, e: float | None, what: str) -> None:
    assert (x is None) == (e is None), what
    if e is not None:
        assert x == pytest.approx(e, rel=1e-9, abs=1e-12), what


def test_slices_view_counted_in_duckdb_equals_in_memory(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (entry,) = portfolio_of_spec(demo_workspace / "specs" / "fraud-detector.toml").models
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    memory = run_slices(entry, "1")  # DuckDB is not counted there unless listed
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    with recorded_statements() as seen:
        counted = run_slices(entry, "1")
    assert PUSHED_NOTE in counted.notes and PUSHED_NOTE not in memory.notes
    assert counted.table is None and (counted.start, counted.end) == (memory.start, memory.end)
    # window, slices, reference count, levels (2), singles, score range, pairs
    assert len(_reads(seen)) <= 8, _reads(seen)
    a, b = counted.slices, memory.slices
    assert (a.events, a.labeled, a.positives) == (b.events, b.labeled, b.positives)
    assert len(a.rows) == len(b.rows) > 0
    for x, e in zip(a.rows, b.rows, strict=True):
        assert (x.support, x.labeled, x.positives) == (e.support, e.labeled, e.positives)
        for k, est in e.metrics.items():
            _close(x.metrics[k].value, est.value, f"{x.predicate.name} {k}")
            if k != "pr_auc":
                _close(x.metrics[k].lower, est.lower, f"{x.predicate.name} {k} lower")
    # the search: the same candidates and counts; ROC AUC per score bin, within its bound
    assert counted.worst is not None and memory.worst is not None
    assert counted.worst.tested == memory.worst.tested > 0
    theirs = {w.predicate.label: w for w in memory.worst.candidates}
    assert {w.predicate.label for w in counted.worst.candidates} == theirs.keys()
    (note,) = [n for n in counted.notes if "score bins" in n]
    bound = float(note.split("within ")[1].split(" ")[0])
    for w in counted.worst.candidates:
        e = theirs[w.predicate.label]
        assert (w.support, w.positives) == (e.support, e.positives)
        assert abs(w.estimate.value - e.estimate.value) <= bound + 1e-12
    assert {c.name for c in counted.columns} == {c.name for c in memory.columns}
    for c in counted.columns:
        m = memory.column(c.name)
        assert (c.kind, c.integer) == (m.kind, m.integer), c.name

    # the builder: a slice of the user's, counted in the database again (one statement)
    column = next(c for c in counted.columns if c.kind == "categorical")
    mine = SlicePredicate("mine", (Condition(column.name, "eq", column.levels[0]),))
    with recorded_statements() as seen:
        again = recompute_slices(counted, [mine])
    assert len(_reads(seen)) == 1
    want = recompute_slices(memory, [mine])
    x, e = again.slices.row("mine"), want.slices.row("mine")
    assert (x.support, x.labeled, x.positives) == (e.support, e.labeled, e.positives) > (0, 0, 0)
    _close(x.metrics["roc_auc"].value, e.metrics["roc_auc"].value, "mine roc_auc")

    # the builder's live count: one statement, the in-memory mask's count (a range condition
    # too: bound values compared in the database as in numpy)
    numeric = next(c for c in counted.columns if c.kind == "numerical")
    middle = float(np.nanmedian(memory.table[numeric.name].to_numpy(zero_copy_only=False)))
    ranged = SlicePredicate(
        "ranged", (*mine.conditions, Condition(numeric.name, "range", (middle, None)))
    )
    for predicate in (mine, ranged):
        with recorded_statements() as seen:
            got = slices_pushed.count_pushed(counted, predicate, None)
        assert len(_reads(seen)) == 1
        assert got == (int(predicate.mask(memory.table).sum()), memory.table.num_rows)
    assert 0 < got[0] < got[1], (numeric.name, middle, column.name, column.levels[0])
    from watchkeeper.core.evaluation.metrics import EvaluationError

    odd = SlicePredicate("odd", (Condition("no such column", "eq", "x"),))
    with pytest.raises(EvaluationError, match="no column 'no such column'"):
        slices_pushed.count_pushed(counted, odd, None)

    # the workbook from the view: no event read for the slices (drift reads its own)
    out = write_slice_report(entry, "1", tmp_path / "slices.xlsx", known=counted)
    assert out.is_file() and out.stat().st_size > 5000
    assert not math.isnan(counted.data["score_sum"])
    # ``report slices`` (no view): the report's slices counted in the database too
    import openpyxl

    cli = write_slice_report(entry, "1", tmp_path / "cli.xlsx")
    text = " ".join(
        str(c.value) for row in openpyxl.load_workbook(cli).worksheets[0].iter_rows() for c in row
    )
    assert "counted in the database" in text
    assert counted.data["rows"] == memory.table.num_rows


@pytest.mark.spark
def test_live_count_on_spark_equals_duckdb(
    spark, demo_workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The builder's live count of a pushed view, sent to the Spark Thrift server: one
    statement, the counts DuckDB gives for the same events and predicates (equality, a set,
    a half-open numeric range, missing values, and their conjunction)."""
    import dataclasses
    import os
    import re

    import duckdb

    data = tmp_path / "predictions"
    data.mkdir()
    with duckdb.connect(str(demo_workspace / "telemetry.duckdb"), read_only=True) as con:
        con.sql(f"COPY predictions TO '{data / 'part-0.parquet'}' (FORMAT parquet)")
    table = f"slicecount_{os.getpid()}"
    location = spark.table_from_parquet(table, data)
    text = (demo_workspace / "specs" / "fraud-detector.toml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///../", f"sqlite:///{demo_workspace}/")
    spec = tmp_path / "fraud-spark.toml"
    spec.write_text(re.sub(r'source = "[^"]*"', f'source = "{location}"', text), "utf-8")
    (on_spark,) = portfolio_of_spec(spec).models

    (entry,) = portfolio_of_spec(demo_workspace / "specs" / "fraud-detector.toml").models
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    counted = run_slices(entry, "1")
    assert counted.pushed is not None and counted.table is None
    spark_view = dataclasses.replace(counted, pushed=on_spark)

    categorical = next(c for c in counted.columns if c.kind == "categorical")
    numeric = next(c for c in counted.columns if c.kind == "numerical" and not c.integer)
    assert numeric.low is not None and numeric.high is not None
    cut = 0.5 * (numeric.low + numeric.high)
    conditions = {
        "eq": Condition(categorical.name, "eq", categorical.levels[0]),
        "in": Condition(categorical.name, "in", tuple(categorical.levels[:2])),
        "range": Condition(numeric.name, "range", (cut, None)),
        "null": Condition(numeric.name, "null", None),
    }
    predicates = [SlicePredicate(k, (c,)) for k, c in conditions.items()]
    predicates.append(SlicePredicate("both", (conditions["in"], conditions["range"])))
    for predicate in predicates:
        want = slices_pushed.count_pushed(counted, predicate, None)
        with recorded_statements() as seen:
            got = slices_pushed.count_pushed(spark_view, predicate, None)
        assert [s for s in seen if table in s and s.lstrip().upper().startswith("SELECT")], seen
        assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1, seen
        assert got == want, predicate.name
    counts = [slices_pushed.count_pushed(counted, p, None) for p in predicates]
    assert any(0 < c < t for c, t in counts), counts  # a predicate that splits the window
