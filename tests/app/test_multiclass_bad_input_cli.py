"""Bad multiclass telemetry through ``gate`` and ``report slices``: one plain line naming what
is wrong and where (exit 2), never a traceback; odd column names just work.

The world is ``tests/multiclass_shadow.py`` (champion ``1``, challenger ``2`` in shadow).
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from multiclass_shadow import SPEC, shadow_events

from watchkeeper.app import cli

VERSIONS = ["--champion", "1", "--challenger", "2"]


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return shadow_events()


def _workspace(root: Path, table: pa.Table, spec: str = SPEC) -> Path:
    (root / "specs").mkdir(parents=True)
    pq.write_table(table, root / "telemetry.parquet")
    path = root / "specs" / "triage.toml"
    path.write_text(spec, encoding="utf-8")
    return path


def _replaced(table: pa.Table, column: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def _gate_error(spec: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main(["gate", "--spec", str(spec), *VERSIONS])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()[-1:]
    return line


def test_a_class_without_its_probability_column_is_named(
    tmp_path: Path, events: pa.Table, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _workspace(tmp_path, events.drop_columns(["p_high"]))
    line = _gate_error(spec, capsys)
    assert "'p_high'" in line and "the probability of class 'high'" in line, line
    assert "class_probabilities" in line


def test_a_probability_that_is_not_a_number_is_named(
    tmp_path: Path, events: pa.Table, capsys: pytest.CaptureFixture[str]
) -> None:
    # numbers stored as text read as numbers; one that is no number is refused by name
    values = [str(v) for v in events.column("p_low").to_pylist()]
    values[6001] = "n/a"
    spec = _workspace(tmp_path, _replaced(events, "p_low", values))
    line = _gate_error(spec, capsys)
    assert "column 'p_low'" in line and "'n/a' is not a number" in line, line


def test_an_unknown_true_class_is_named_with_its_request(
    tmp_path: Path, events: pa.Table, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = events.column("true_tier").to_pylist()
    labels[6000] = "urgent"  # a champion row in the shadow period
    spec = _workspace(tmp_path, _replaced(events, "true_tier", labels))
    line = _gate_error(spec, capsys)
    assert "the label 'urgent'" in line and "request t006000" in line, line
    assert "('low', 'medium', 'high')" in line


def test_column_names_with_spaces_and_quotes_work(
    tmp_path: Path, events: pa.Table, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = {"p_low": 'p "low"', "p_medium": "p med'ium", "p_high": "p high"}
    odd["channel"] = "sales channel"
    table = events.rename_columns([odd.get(c, c) for c in events.column_names])
    spec = (
        SPEC.replace(
            'low = "p_low", medium = "p_medium", high = "p_high"',
            """low = 'p "low"', medium = "p med'ium", high = "p high\"""",
        )
        .replace('"channel"', '"sales channel"')
        .replace("{ channel =", '{ "sales channel" =')
    )
    path = _workspace(tmp_path, table, spec)
    code = cli.main(["gate", "--spec", str(path), *VERSIONS])
    _, err = capsys.readouterr()
    assert code == 0, err  # the better-everywhere challenger passes
    out = tmp_path / "odd.xlsx"
    code = cli.main(["report", "slices", "--spec", str(path), "--xlsx", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    wb = openpyxl.load_workbook(out)
    slices = [r[0] for r in wb["Slices"].iter_rows(min_row=2, values_only=True)]
    assert slices == ["(all)", "branch", "web"]
    assert wb["Confusion matrix"]["B4"].value == "low"
    worst = [r[0] for r in wb["Worst slices"].iter_rows(values_only=True)]
    assert any(str(w).startswith("sales channel=") for w in worst), worst
