"""The slice workbook takes the Champion vs challenger view's comparison when it rests on
the same pairs, policy and bootstrap, and computes its own otherwise: the same numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pytest
from workbench_results import fraud_entry

from watchkeeper.core.evaluation.gate import (
    KnownGate,
    comparison_key,
    gate_from_spec,
    pairs_fingerprint,
    read_shadow_pairs,
)
from watchkeeper.core.workbench.analyses import open_source_of
from watchkeeper.core.workbench.challenger import challenger_of, run_challenger
from watchkeeper.core.workbench.common import spec_of
from watchkeeper.core.workbench.slices import export_slice_report, run_slices


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> Any:
    return fraud_entry(demo_workspace)


@pytest.fixture(scope="module")
def compared(fraud: Any) -> Any:
    """The Champion vs challenger view's result (its gate over the shadow period)."""
    champion = fraud.champion
    return run_challenger(fraud, champion, challenger_of(fraud, champion), n_boot=100)


def _values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(path)
    sheets = {}
    for ws in book.worksheets:
        rows = [r for r in ws.iter_rows(values_only=True) if r and r[0] != "generated at"]
        sheets[ws.title] = rows
    return sheets


def test_the_fingerprint_is_every_value_not_the_layout() -> None:
    t = pa.table(
        {
            "request_id": ["a", "b", None, "d"],
            "label": pa.array([1, None, 0, 1], pa.int64()),
            "score_a": [0.1, 0.2, 0.3, float("nan")],
        }
    )
    base = pairs_fingerprint(t)
    # chunked or sliced differently: the same values, the same fingerprint
    assert pairs_fingerprint(pa.concat_tables([t.slice(0, 1), t.slice(1)])) == base
    assert pairs_fingerprint(pa.concat_tables([t, t]).slice(4)) == base
    # a value under a missing label does not count; the missing one does
    other = t.set_column(1, "label", pa.array([1, 0, 0, 1], pa.int64()))
    assert pairs_fingerprint(other) != base
    changed = t.set_column(2, "score_a", pa.array([0.1, 0.2, 0.3, 0.4]))
    assert pairs_fingerprint(changed) != base
    assert pairs_fingerprint(t.slice(0, 3)) != base


def test_a_known_gate_of_the_same_pairs_is_taken_with_the_same_numbers(
    fraud: Any, compared: Any
) -> None:
    spec = spec_of(fraud)
    known = compared.known_gate
    assert known is not None and known.key == compared.comparison_key
    with open_source_of(fraud) as src:
        fresh = gate_from_spec(
            spec,
            champion=compared.champion,
            challenger=compared.challenger,
            source=src,
            n_boot=100,
        )
        taken = gate_from_spec(
            spec,
            champion=compared.champion,
            challenger=compared.challenger,
            source=src,
            n_boot=100,
            known=known,
        )
        # another bootstrap: another key, computed anew
        other = gate_from_spec(
            spec,
            champion=compared.champion,
            challenger=compared.challenger,
            source=src,
            n_boot=50,
            known=known,
        )
    # taken: the known comparison's estimates themselves, not computed again
    for m, est in known.gate.comparison.differences.items():
        assert taken.comparison.differences[m] is est
    assert taken.to_evidence().digest == fresh.to_evidence().digest
    assert taken.document() == fresh.document()
    assert other.comparison.differences["pr_auc"] is not known.gate.comparison.differences["pr_auc"]
    assert other.inputs["bootstrap"]["replicates"] == 50


def test_another_window_or_policy_is_not_taken(fraud: Any, compared: Any) -> None:
    spec = spec_of(fraud)
    start, end = compared.gate.window
    with open_source_of(fraud) as src:
        pairs = read_shadow_pairs(
            spec, champion=compared.champion, challenger=compared.challenger, source=src
        )
        fewer = read_shadow_pairs(
            spec,
            champion=compared.champion,
            challenger=compared.challenger,
            source=src,
            start=start + dt.timedelta(days=3),
            end=end,
        )
    assert comparison_key(spec, pairs, n_boot=100) == compared.comparison_key
    assert comparison_key(spec, fewer, n_boot=100) != compared.comparison_key
    stricter = spec.gate.model_copy(update={"threshold": spec.gate.threshold / 2})
    assert comparison_key(spec, pairs, policy=stricter, n_boot=100) != compared.comparison_key
    # a first answer (primary metric only) is never taken as the complete one
    assert dataclasses.replace(compared, complete=False).known_gate is None
    assert isinstance(compared.known_gate, KnownGate)


def test_the_workbook_is_the_same_with_the_views_gate_or_its_own(
    fraud: Any, compared: Any, tmp_path: Path
) -> None:
    """The Slices view's export, given the Champion vs challenger view's gate, writes the
    workbook it writes computing everything itself (the generation time aside)."""
    full = run_challenger(fraud, fraud.champion, compared.challenger)  # the view's 500
    view = run_slices(fraud, fraud.champion)
    assert view.challenger == full.challenger
    own = export_slice_report(fraud, view, tmp_path / "own.xlsx")
    taken = export_slice_report(fraud, view, tmp_path / "taken.xlsx", known_gate=full.known_gate)
    a, b = _values(own), _values(taken)
    assert a == b
    # the comparison and the gate are in it (not a workbook without them)
    assert len(a["Champion-Challenger"]) > 10
    assert str(a["Gate"][0][0]).startswith("Gate ")
