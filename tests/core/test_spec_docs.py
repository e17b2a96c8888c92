"""The spec reference page is the schema's, and an optional column is left out by omission."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchkeeper.core import spec_docs
from watchkeeper.core.spec import parse_spec

PAGE = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def test_the_committed_page_is_what_the_schema_generates() -> None:
    assert PAGE.read_text(encoding="utf-8") == spec_docs.spec_reference(), (
        "docs/spec-reference.md is stale: run "
        "`.venv/bin/python -m watchkeeper.core.spec_docs > docs/spec-reference.md`"
    )


def test_every_key_of_the_schema_is_on_the_page() -> None:
    page = spec_docs.spec_reference()
    for header, model, _ in spec_docs.SECTIONS:
        section = page.split(f"## `{header}`", 1)[1].split("\n## ", 1)[0]
        for name in model.model_fields:
            assert f"| `{name}` |" in section, (header, name)


def test_a_key_without_a_description_fails_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    described = dict(spec_docs.DESCRIPTIONS)
    del described["[drift].bins"]
    monkeypatch.setattr(spec_docs, "DESCRIPTIONS", described)
    with pytest.raises(KeyError, match=r"\[drift\].bins"):
        spec_docs.spec_reference()


def test_the_example_loads() -> None:
    spec = parse_spec(spec_docs.EXAMPLE)
    assert spec.telemetry.columns.label_ts is not None  # omitted: the default name, if present
    assert [s.name for s in spec.slices] == ["web", "young, high income"]


def _events(path: Path, *, with_label_column: bool) -> None:
    rng = np.random.default_rng(0)
    n = 4_000
    cols = {
        "id": [str(i) for i in range(n)],
        "when": pa.array(
            [dt.datetime(2026, 1, 1) + dt.timedelta(minutes=15 * i) for i in range(n)],
            pa.timestamp("us"),
        ),
        "v": ["1"] * n,
        "x": rng.normal(size=n),
    }
    if with_label_column:
        cols["label"] = ["not a label"] * n  # carries the role's name, is not the label
    pq.write_table(pa.table(cols), path)


SPEC = """
[model]
name = "m"
[telemetry]
source = "events.parquet"
[telemetry.columns]
request_id = "id"
ts = "when"
model_version = "v"
{extra}
features = ["x"]
[reference]
start = 2026-01-01
end = 2026-01-10
"""


@pytest.mark.parametrize(("with_label_column", "extra"), [(False, ""), (True, 'label = ""')])
def test_optional_roles_are_left_out_by_omitting_them(
    tmp_path: Path, with_label_column: bool, extra: str
) -> None:
    """No model, score, prediction, label or label_ts key: drift runs on what is there."""
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import ModelEntry

    _events(tmp_path / "events.parquet", with_label_column=with_label_column)
    spec = parse_spec(SPEC.format(extra=extra), base_dir=tmp_path)
    mapping = spec.telemetry.mapping()
    assert mapping.label is None if with_label_column else mapping.label == "label"
    entry = ModelEntry(name="m", task="binary", versions=(), spec=spec)
    result = run_drift(entry, "1", "7d")
    assert [f.name for f in result.features] == ["x"]
    assert sum(w.rows for w in result.windows) == 4_000
