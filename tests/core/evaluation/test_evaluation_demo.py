"""On the demo workspace: the planted concept change, the critical slice, the gate, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from watchkeeper.core.evaluation.data import open_spec_source, read_events
from watchkeeper.core.evaluation.gate import gate_from_spec
from watchkeeper.core.evaluation.predicates import predicates_from_spec
from watchkeeper.core.evaluation.slices import read_slice_sql
from watchkeeper.core.evaluation.worst_slices import find_worst_slices
from watchkeeper.core.evidence import canonical_json, digest
from watchkeeper.core.spec import load_spec

MODEL = "fraud-detector"
UTC = dt.UTC


def _day(d: int) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(days=d)


@pytest.fixture(scope="module")
def spec(fraud_spec_path: Path):
    return load_spec(fraud_spec_path)


@pytest.fixture(scope="module")
def periods(spec):
    features = list(spec.telemetry.columns.features)
    cols = ["score", "label", *features]
    with open_spec_source(spec) as src:
        read = lambda a, b: read_events(  # noqa: E731
            src, model=MODEL, versions=["1"], start=_day(a), end=_day(b), columns=cols
        )
        return features, read(0, 30), read(31, 80), read(80, 120)


def _worst(spec, features, current, baseline, pairs):
    return find_worst_slices(
        current,
        features,
        metric="precision",
        categorical=spec.telemetry.columns.categorical,
        baseline=baseline,
        threshold=spec.gate.threshold,
        min_support=300,
        pairs=pairs,
    )


def test_the_concept_change_on_web_is_the_worst_slice(spec, periods) -> None:
    features, reference, _, after = periods
    singles = _worst(spec, features, after, reference, pairs=False)
    top = singles.candidates[0]
    assert top.significant and top.predicate.label == "channel=web"
    assert top.delta < -0.1  # precision at 0.2 fell by more than ten points on web
    both = _worst(spec, features, after, reference, pairs=True)
    worst = both.candidates[0]
    assert worst.significant
    # parsimony: pairs inside channel=web add nothing beyond it, so the single slice leads
    assert worst.predicate.label == "channel=web" and worst.explained_by is None
    # the worst of single features and pairs lies inside the planted slice
    inside = worst.predicate.mask(after) & ~np.isnan(
        np.asarray(after.column("label").to_numpy(zero_copy_only=False), dtype=float)
    )
    channel = np.asarray(after.column("channel").to_numpy(zero_copy_only=False))
    assert (channel[inside] == "web").mean() >= 0.95, worst.predicate.label


def test_no_slice_is_flagged_before_the_change(spec, periods) -> None:
    features, reference, before, _ = periods
    singles = _worst(spec, features, before, reference, pairs=False)
    assert singles.tested > 30
    assert singles.significant == ()


def test_slices_are_selected_in_the_database(spec) -> None:
    pos = next(p for p in predicates_from_spec(spec) if p.name == "pos")
    with open_spec_source(spec) as src:
        pushed = read_slice_sql(
            src, pos, model=MODEL, versions=["2"], start=_day(90), end=_day(120)
        )
        table = read_events(
            src,
            model=MODEL,
            versions=["2"],
            start=_day(90),
            end=_day(120),
            columns=["score", "label", "channel"],
        )
    mask = pos.mask(table)
    expected_scores = np.asarray(table.column("score").to_numpy(zero_copy_only=False))[mask]
    assert pushed["score"].size == mask.sum() > 1000
    np.testing.assert_array_equal(np.sort(pushed["score"]), np.sort(expected_scores))
    assert (
        np.isnan(pushed["label"]).sum()
        == pc.sum(pc.is_null(table.column("label").filter(mask))).as_py()
    )


def test_gate_fails_on_the_critical_slice_and_passes_when_relaxed(spec) -> None:
    result = gate_from_spec(spec, champion="1", challenger="2", n_boot=100)
    assert not result.passed
    assert [c.id for c in result.failed] == ["critical_slice:channel=pos"]
    crit = result.criterion("critical_slice:channel=pos")
    assert crit.type == "critical_slice" and crit.target == "channel=pos"
    assert crit.value < -0.05 and crit.threshold == -0.01
    assert result.criterion("improvement:roc_auc").passed
    assert result.criterion("significance:roc_auc").value > 0
    assert result.window[0] >= _day(90)  # defaults to the shadow period
    relaxed = spec.gate.model_copy(update={"max_critical_slice_drop": 0.5})
    again = gate_from_spec(spec, champion="1", challenger="2", policy=relaxed, n_boot=100)
    assert again.passed and again.criterion("critical_slice:channel=pos").passed


def test_evidence_is_canonical_and_reproducible(spec) -> None:
    a = gate_from_spec(spec, champion="1", challenger="2", n_boot=50).to_evidence()
    b = gate_from_spec(spec, champion="1", challenger="2", n_boot=50).to_evidence()
    assert a.digest == b.digest == digest(json.loads(a.text))
    assert canonical_json(json.loads(a.text)) == a.text
    assert "NaN" not in a.text and "Infinity" not in a.text
    doc = json.loads(a.text)
    assert doc["kind"] == "watchkeeper-gate-evidence" and doc["passed"] is False
    assert {c["type"] for c in doc["criteria"]} == {
        "min_labeled",
        "improvement",
        "significance",
        "critical_slice",
    }
    assert doc["inputs"]["data"]["digest"].startswith("sha256:")


# -- the command ----------------------------------------------------------------------


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str):
    from watchkeeper.app import cli

    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_gate_command_exit_codes_and_json(
    fraud_spec_path: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    code, out, err = _cli(monkeypatch, capsys, "gate", "--spec", str(fraud_spec_path), "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert canonical_json(doc) == out.strip()
    assert "champion 1, challenger 2" in err and "critical_slice:channel=pos" in err
    text = fraud_spec_path.read_text()
    relaxed = tmp_path / "specs" / "relaxed.toml"
    relaxed.parent.mkdir()
    relaxed.write_text(
        re.sub(r"max_critical_slice_drop = .*", "max_critical_slice_drop = 0.5", text).replace(
            "duckdb:///../telemetry.duckdb",
            f"duckdb:///{fraud_spec_path.parent.parent}/telemetry.duckdb",
        )
    )
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "gate",
        "--spec",
        str(relaxed),
        "--champion",
        "1",
        "--challenger",
        "2",
    )
    assert code == 0, err
    assert "gate PASSED" in out and "from the command line" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "yesterday"], "not an ISO-8601"),
        (["--challenger", "9", "--champion", "1"], "no rows"),
        (["--champion", "1", "--challenger", "1"], "same version"),
    ],
)
def test_gate_command_bad_input_exits_2(
    fraud_spec_path: Path, monkeypatch, capsys, extra, message
) -> None:
    code, _out, err = _cli(monkeypatch, capsys, "gate", "--spec", str(fraud_spec_path), *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.count("\n") <= 2


def test_gate_command_missing_spec_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = _cli(monkeypatch, capsys, "gate", "--spec", str(tmp_path / "none.toml"))
    assert code == 2 and "no such spec file" in err
