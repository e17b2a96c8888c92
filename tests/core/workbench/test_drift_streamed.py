"""A wide model's drift read a batch of features at a time (``run_drift`` above
``STREAM_BYTES``) gives the result of the whole table, from Parquet and from DuckDB (there
with more rows than ``IN_MEMORY_ROWS``: a wide DuckDB table is read in batches, not counted
by one statement): each run in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))

from wide_workspace import MODEL, build  # noqa: E402

FEATURES, ROWS, DAYS = 200, 60_000, 20

# Runs in the child: the drift of version 1 as the window runs it, streamed or not.
_CHILD = r"""
import hashlib, json, sys
from pathlib import Path
import watchkeeper.core.workbench.analyses as analyses
from watchkeeper.core.workbench.portfolio import portfolio_of_spec
spec, mode = Path(sys.argv[1]), sys.argv[2]
analyses.STREAM_BYTES = 1 << 62 if mode == "whole" else 0
if mode == "above":  # more rows than are analysed in memory, more features than one
    analyses.IN_MEMORY_ROWS = 1_000  # statement counts well in DuckDB: still read in batches
(entry,) = portfolio_of_spec(spec).models
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = peak()
said = []
r = analyses.run_drift(entry, "1", None, lambda f, m="": said.append(m))
doc = r.to_json()
print(json.dumps({
    "digest": hashlib.sha256(doc.encode()).hexdigest(),
    "grew_mb": peak() - before,
    "drifted": sorted(f.name for f in r.features if "drift" in f.decisions()),
    "multivariate": r.multivariate is not None,
    "notes": list(r.notes),
    "batched": any("a batch of features at a time" in m for m in said),
}))
"""


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import duckdb

    parquet = build(tmp_path_factory.mktemp("wide"), features=FEATURES, rows=ROWS, days=DAYS)
    ws = parquet.parent.parent
    con = duckdb.connect(str(ws / "telemetry.duckdb"))
    con.execute(f"CREATE TABLE events AS SELECT * FROM '{ws / 'telemetry.parquet'}'")
    con.close()
    text = parquet.read_text().replace(
        'source = "../telemetry.parquet"', 'source = "duckdb:///../telemetry.duckdb#events"'
    )
    in_duckdb = parquet.with_name(f"{MODEL}-duckdb.toml")
    in_duckdb.write_text(text)
    return {"parquet": parquet, "duckdb": in_duckdb}


def _run(spec: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(spec), mode],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_streamed_drift_is_the_whole_tables_and_holds_less(specs: dict[str, Path]) -> None:
    whole = _run(specs["parquet"], "whole")
    assert whole["drifted"] == ["x000", "x001", "x002"] and whole["multivariate"]
    assert not whole["batched"]
    for source, mode in (("parquet", "streamed"), ("duckdb", "above")):
        streamed = _run(specs[source], mode)
        assert streamed["batched"], (source, streamed)
        assert streamed["digest"] == whole["digest"], (source, streamed, whole)
    # How much less it holds is measured by benchmarks/ui.py --wide (500 × 365: the analysis
    # alone 4.2 → 1.6 GB): at this test's size the table (77 MB) is within the allocators'
    # noise (the same run grew 513-637 MB from one try to the next), so it is not asserted.
