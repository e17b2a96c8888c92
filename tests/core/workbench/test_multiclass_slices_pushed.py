"""A multiclass model's Slices view counted in the database equals the one read into memory
(the triage world in DuckDB, the row threshold lowered so the SQL path runs): slice counts,
point metrics to 1e-9, the same worst-slice candidates with the same supports; the builder's
recompute and live count, and the workbook, without reading an event."""

from __future__ import annotations

from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
from multiclass_world import SPEC, events

from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
from watchkeeper.core.workbench import analyses, slices_pushed
from watchkeeper.core.workbench.portfolio import portfolio_of_spec
from watchkeeper.core.workbench.slices import (
    count_slice,
    recompute_slices,
    run_slices,
    write_slice_report,
)

MINE = (
    SlicePredicate("web", (Condition("channel", "eq", "web"),)),
    SlicePredicate("low x1", (Condition("x1", "range", (None, 0.0)),)),
)


def _close(x: float | None, e: float | None, what: str) -> None:
    assert (x is None) == (e is None), what
    if e is not None:
        assert x == pytest.approx(e, rel=1e-9, abs=1e-12), what


def _duckdb_spec(tmp_path: Path, primary: str = "macro_f1") -> Path:
    """The triage world's events in a DuckDB table, and a spec reading it."""
    path = tmp_path / "t.duckdb"
    pq.write_table(events().sort_by("ts"), tmp_path / "e.parquet")
    with duckdb.connect(str(path)) as con:
        con.sql(f"CREATE TABLE events AS SELECT * FROM read_parquet('{tmp_path / 'e.parquet'}')")
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "triage.toml"
    text = SPEC.replace('source = "../telemetry.parquet"', f'source = "duckdb:///{path}#events"')
    assert 'primary_metric = "macro_f1"' in text
    spec.write_text(text.replace('primary_metric = "macro_f1"', f'primary_metric = "{primary}"'))
    return spec


def test_multiclass_slices_view_counted_in_duckdb_equals_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _duckdb_spec(tmp_path)
    (entry,) = portfolio_of_spec(spec).models
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    memory = run_slices(entry, "1", MINE)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    with recorded_statements() as seen:
        counted = run_slices(entry, "1", MINE)
    assert slices_pushed.MULTICLASS_NOTE in counted.notes
    assert counted.table is None and counted.multiclass and counted.metric == "macro_f1"
    assert not any("not counted" in n for n in counted.notes)  # ROC AUC too
    assert all("roc_auc" in r.metrics for r in counted.slices.rows)
    # window, slices (counts, ROC AUC's rank sums and sample), reference count, levels (2),
    # singles, pairs
    assert len(scans(seen, "events")) <= 9, scans(seen, "events")
    a, b = counted.slices, memory.slices
    assert (a.events, a.labeled) == (b.events, b.labeled)
    for x, e in zip(a.rows, b.rows, strict=True):
        assert (x.support, x.labeled, x.positives) == (e.support, e.labeled, None)
        for k, est in x.metrics.items():
            _close(est.value, e.metrics[k].value, f"{x.predicate.name} {k}")
    assert counted.worst is not None and memory.worst is not None
    assert counted.worst.tested == memory.worst.tested > 0
    theirs = {w.predicate.label: w for w in memory.worst.candidates}
    assert {w.predicate.label for w in counted.worst.candidates} == theirs.keys()
    for w in counted.worst.candidates:
        e = theirs[w.predicate.label]
        assert (w.support, w.positives) == (e.support, e.positives)
        _close(w.estimate.value, e.estimate.value, w.predicate.label)
    assert {c.name for c in counted.columns} == {c.name for c in memory.columns}
    frame = counted.worst_frame()
    assert "predicted right" in frame.columns and len(frame)

    # the builder: recomputed (three statements with ROC AUC) and counted (one) in the database
    extra = SlicePredicate("phone", (Condition("channel", "eq", "phone"),))
    with recorded_statements() as seen:
        again = recompute_slices(counted, [*MINE, extra])
    assert len(scans(seen, "events")) == 3
    want = recompute_slices(memory, [*MINE, extra]).slices.row("phone")
    got = again.slices.row("phone")
    assert (got.support, got.labeled) == (want.support, want.labeled) > (0, 0)
    _close(got.metrics["macro_f1"].value, want.metrics["macro_f1"].value, "phone")
    assert count_slice(counted, extra) == count_slice(memory, extra)

    # the workbook: its per-class and confusion sheets from the counts
    out = write_slice_report(entry, "1", tmp_path / "slices.xlsx", custom=MINE, known=counted)
    book = openpyxl.load_workbook(out)
    assert {"Per class", "Confusion matrix"} <= set(book.sheetnames)
    sheet = book["Confusion matrix"]
    counts = [[sheet.cell(row=5 + i, column=2 + j).value for j in range(3)] for i in range(3)]
    from watchkeeper.core.evaluation.multiclass import metrics_of_codes

    mc = memory.outcomes.read(memory.table)
    whole = metrics_of_codes(mc.classes, mc.codes, mc.p, mc.predicted, metrics=("accuracy",))
    assert counts == [list(r) for r in whole.confusion.counts]
    assert sum(map(sum, counts)) > 1000


def test_a_view_on_roc_auc_shows_it_and_says_why_the_search_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec's primary metric ROC AUC: counted per slice (its values against memory's:
    the test above), and the worst-slice search, which cannot be counted on it, not run,
    with the reason."""
    from watchkeeper.core.evaluation.multiclass_slices_sql import NOT_SEARCHED

    spec = _duckdb_spec(tmp_path, "roc_auc")
    (entry,) = portfolio_of_spec(spec).models
    monkeypatch.setattr(analyses, "IN_MEMORY_ROWS", 0)
    monkeypatch.setattr(slices_pushed, "PUSHED_DIALECTS", ("duckdb",))
    counted = run_slices(entry, "1", MINE)
    assert counted.table is None and counted.metric == "roc_auc" and counted.worst is None
    assert f"worst slices not computed: {NOT_SEARCHED}" in counted.notes
    shown = counted.metrics_frame()
    assert shown["roc_auc"].notna().all() and len(shown) == 1 + len(MINE)
