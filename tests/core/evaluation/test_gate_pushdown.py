"""The promotion gate with the champion–challenger pairs joined in the database (one JOIN on
the request id, only the pairs back) gives the document the in-memory join gives."""

from __future__ import annotations

from pathlib import Path

from watchkeeper.core.evaluation.compare_sql import shadow_pairs_sql
from watchkeeper.core.evaluation.gate import gate_from_spec
from watchkeeper.core.telemetry.source import open_source
from watchkeeper.core.telemetry.sql_statements import recorded_statements, scans
from watchkeeper.core.workbench.portfolio import portfolio_of_spec


def gate_document(spec, *, in_database: bool) -> tuple[dict, list[str]]:
    with recorded_statements() as seen:
        gate = gate_from_spec(
            spec, champion="1", challenger="2", in_database=in_database, n_boot=50
        )
    doc = gate.document()
    doc["inputs"].pop("source")  # the URL: differs between engines
    return doc, scans(seen, "predictions")


def test_the_gate_on_pairs_joined_in_duckdb_equals_the_in_memory_join(
    demo_workspace: Path,
) -> None:
    (entry,) = portfolio_of_spec(demo_workspace / "specs" / "fraud-detector.toml").models
    memory, _ = gate_document(entry.spec, in_database=False)
    joined, statements = gate_document(entry.spec, in_database=True)
    assert joined == memory
    assert memory["inputs"]["data"]["pairs"] > 10_000
    # the shadow period's span, then the pairs: one statement each
    assert len(statements) == 2, statements


def test_pairs_beyond_the_cap_are_a_stated_seeded_sample(demo_workspace: Path) -> None:
    location = f"duckdb:///{demo_workspace / 'telemetry.duckdb'}#predictions"
    from watchkeeper.core.telemetry.contract import ColumnMapping

    with open_source(location, ColumnMapping()) as src:
        kw = {"model": "fraud-detector", "champion": "1", "challenger": "2"}
        whole = shadow_pairs_sql(src, start=None, end=None, **kw)
        cut = shadow_pairs_sql(src, start=None, end=None, limit=1000, **kw)
        again = shadow_pairs_sql(src, start=None, end=None, limit=1000, **kw)
    assert not whole.sampled and whole.total == whole.table.num_rows > 10_000
    assert cut.sampled and cut.total == whole.total and cut.table.num_rows == 1000
    assert cut.table.equals(again.table)  # seeded: the same pairs every time
    ids = cut.table.column("request_id").to_pylist()
    assert ids == sorted(ids) and set(ids) <= set(whole.table.column("request_id").to_pylist())
    # spread over the request-id order, not its first thousand
    assert ids[-1] > whole.table.column("request_id")[whole.total // 2].as_py()
