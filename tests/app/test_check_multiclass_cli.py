"""``watchkeeper check`` on a multiclass model: its planted events are found.

The world is ``tests/multiclass_world.py`` (a class-prior shift from day 42, a concept change
in class ``medium`` from day 56); the spec is a user's own, over a Parquet file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from multiclass_world import CONCEPT_DAY, PRIOR_SHIFT_DAY, START, write_workspace

from watchkeeper.app import cli


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("multiclass-check"))


def _check(capsys: pytest.CaptureFixture[str], spec: Path, as_of: dt.datetime) -> tuple[int, dict]:
    code = cli.main(["check", "--spec", str(spec), "--as-of", as_of.isoformat(), "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)["models"][0]


def test_before_the_events_the_model_is_ok(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, model = _check(capsys, spec, START + dt.timedelta(days=PRIOR_SHIFT_DAY - 1))
    assert (code, model["verdict"]) == (0, "ok"), model["reasons"]


def test_the_prior_shift_is_prediction_drift_and_the_concept_change_an_alert(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, shifted = _check(capsys, spec, START + dt.timedelta(days=PRIOR_SHIFT_DAY + 10))
    named = " ".join(shifted["reasons"])
    assert shifted["verdict"] in ("watch", "alert") and "prediction" in named, named
    code, changed = _check(capsys, spec, START + dt.timedelta(days=CONCEPT_DAY + 14))
    named = " ".join(changed["reasons"])
    assert (code, changed["verdict"]) == (1, "alert"), named
    assert "macro_f1" in named and "realized" in named
