"""The Qt-free steps the New-monitor wizard drives: edits as overrides, the histogram over
time, a hand-picked reference, a renamed model, the drift preview."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.onboarding import (
    Overrides,
    edit_kind,
    edit_role,
    guess_columns,
    plan_monitor,
    preview_drift,
    preview_spec,
    read_sample,
    renamed,
    row_histogram,
    with_reference,
)
from watchkeeper.core.telemetry.contract import ColumnKind

UTC = dt.UTC


def _log(path: Path, n: int = 12_000, days: int = 40) -> str:
    rng = np.random.default_rng(3)
    secs = np.sort(rng.integers(0, days * 86400, n))
    income = rng.lognormal(10, 0.5, n) * np.where(secs > (days - 12) * 86400, 1.8, 1.0)
    score = 1 / (1 + np.exp(-(np.log(income) - 10) * 2))
    t = pa.table(
        {
            "When (UTC)": pa.array(
                [dt.datetime(2025, 6, 1) + dt.timedelta(seconds=int(s)) for s in secs],
                pa.timestamp("us"),
            ),
            "Income €": income,
            "Seg-ment": rng.choice(["a", "b", "c"], n),
            "n_items": rng.integers(0, 4, n),
            "latency_ms": rng.gamma(2, 10, n),
            "pScore": score,
            "Actual_Outcome": (rng.random(n) < score).astype(np.int64),
        }
    )
    pq.write_table(t, path)
    return str(path)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _log(tmp_path_factory.mktemp("edits") / "log.parquet")


def test_role_edits_become_overrides_and_stick(source: str) -> None:
    sample = read_sample(source)
    g = guess_columns(sample)
    by = {c.name: c for c in g.columns}
    assert by["latency_ms"].role == "extra" and by["Actual_Outcome"].role == "label"
    over = Overrides(origin="in the wizard")
    # an extra made a feature stays one (its name made it an extra)
    over = edit_role(over, g, "latency_ms", "feature")
    g2 = guess_columns(sample, over)
    assert "latency_ms" in [c.name for c in g2.features]
    # the label moved to "ignored": no label now, not guessed back
    over = edit_role(over, g2, "Actual_Outcome", "ignored")
    g3 = guess_columns(sample, over)
    assert g3.column_of("label") is None
    assert {c.name: c.role for c in g3.columns}["Actual_Outcome"] == "ignored"
    assert "in the wizard" in {c.name: c.reason for c in g3.columns}["Actual_Outcome"]
    # then given back: the column leaves the ignored list
    over = edit_role(over, g3, "Actual_Outcome", "label")
    assert "Actual_Outcome" not in over.ignore
    g4 = guess_columns(sample, over)
    assert g4.column_of("label") == "Actual_Outcome" and g4.task == "binary"
    # a feature made the version: a role the guesser had no column for
    over = edit_role(over, g4, "Seg-ment", "model_version")
    assert guess_columns(sample, over).column_of("model_version") == "Seg-ment"
    over = edit_role(over, g4, "Seg-ment", "feature")
    assert guess_columns(sample, over).column_of("model_version") is None
    over = edit_kind(over, "Income €", "categorical")
    g5 = guess_columns(sample, over)
    assert {c.name: c.kind for c in g5.features}["Income €"] == ColumnKind.CATEGORICAL
    with pytest.raises(WatchkeeperError, match="unknown role"):
        edit_role(over, g5, "n_items", "labl")


def test_histogram_reference_and_name(source: str) -> None:
    g = guess_columns(read_sample(source))
    plan = plan_monitor(source, g)
    p = plan.proposal
    h = row_histogram(p.extent)
    assert h.unit == "day" and len(h.counts) == 40 and h.counts.sum() == p.extent.rows
    assert len(h.edges) == len(h.counts) + 1
    assert h.edges[0] == dt.datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    picked = with_reference(
        plan,
        dt.datetime(2025, 6, 5, 7, tzinfo=UTC),  # rounds down to the 5th
        dt.datetime(2025, 6, 14, 16, tzinfo=UTC),  # rounds up to the 15th
    )
    q = picked.proposal
    assert (q.reference_start, q.reference_end) == (dt.date(2025, 6, 5), dt.date(2025, 6, 15))
    assert "by hand" in q.reference_reason
    spec = preview_spec(picked)
    assert spec.reference.start == dt.date(2025, 6, 5)
    # a period longer than the data is clipped to it
    wide = with_reference(
        plan, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert wide.proposal.reference_start == dt.date(2025, 6, 1)
    assert renamed(plan, " risk ").proposal.model == "risk"
    with pytest.raises(WatchkeeperError, match="needs a name"):
        renamed(plan, " ")
    result = preview_drift(picked)
    decisions = result.decisions()
    assert "drift" in decisions["Income €"][-2:]
    assert "drift" not in decisions["Seg-ment"]


def test_a_wide_list_is_wrapped_and_reads_back_the_same() -> None:
    """Hundreds of features stay editable: no line past the width, the same names back."""
    import tomllib

    from watchkeeper.core.onboarding.write import toml_list

    names = [f"feature_{i}" for i in range(300)] + ['odd "name"', "ünï"]
    text = f"features = {toml_list(names)}"
    assert max(len(line) for line in text.splitlines()) <= 96
    assert tomllib.loads(text)["features"] == names
    assert toml_list(["a", "b"]) == '["a", "b"]'  # short lists stay on one line
