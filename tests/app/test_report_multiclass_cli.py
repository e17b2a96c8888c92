"""``watchkeeper report slices`` on a multiclass model: the workbook has the slices on the
model's metric, its per-class metrics, the confusion matrix, and the challenger's gate.

The world is ``tests/multiclass_shadow.py`` (a challenger in shadow, better everywhere).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from multiclass_shadow import shadow_events, write_shadow_workspace
from sklearn import metrics as sk

from watchkeeper.app import cli

CLASSES = ["low", "medium", "high"]


def test_report_slices_writes_the_confusion_matrix_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_shadow_workspace(tmp_path / "ws")
    out = tmp_path / "triage.xlsx"
    code = cli.main(["report", "slices", "--spec", str(spec), "--xlsx", str(out)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "challenger 2" in err
    wb = openpyxl.load_workbook(out)
    assert {"Slices", "Worst slices", "Per class", "Confusion matrix", "Gate"} <= set(wb.sheetnames)
    # the report's window: the champion's last 30 days
    events = shadow_events().to_pandas()
    champion = events[events.model_version == "1"]
    end = champion.ts.max() + dt.timedelta(microseconds=1)
    window = champion[(champion.ts >= end - dt.timedelta(days=30)) & (champion.ts < end)]
    labeled = window[window.true_tier.notna()]
    counts = pd.crosstab(labeled.true_tier, labeled.predicted_tier).reindex(
        index=CLASSES, columns=CLASSES, fill_value=0
    )
    ws = wb["Confusion matrix"]
    cells = {
        (ws.cell(r, 1).value, ws.cell(4, c).value): ws.cell(r, c).value
        for r in range(5, 8)
        for c in range(2, 5)
    }
    for t in CLASSES:
        for p in CLASSES:
            assert cells[(t, p)] == counts.loc[t, p], (t, p)
    # the slices sheet: macro-F1 (the primary metric) per slice is scikit-learn's
    sheet = wb["Slices"]
    head = [c.value for c in sheet[1]]
    col = head.index("macro_f1")
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    branch = labeled[labeled.channel == "branch"]
    expected = sk.f1_score(branch.true_tier, branch.predicted_tier, average="macro")
    assert rows["branch"][col].value == pytest.approx(expected, abs=1e-12)
    assert rows["branch"][head.index("positives")].value is None  # no positive class
    overall = sk.f1_score(labeled.true_tier, labeled.predicted_tier, average="macro")
    assert rows["(all)"][col].value == pytest.approx(overall, abs=1e-12)
    # the worst slices were searched on macro-F1
    assert wb["Worst slices"].max_row > 2
    # per class: recall of "high" is scikit-learn's
    per_class = {r[0].value: r for r in wb["Per class"].iter_rows(min_row=1)}
    truth, said = labeled.true_tier, labeled.predicted_tier
    recall = sk.recall_score(truth, said, labels=["high"], average=None)[0]
    assert per_class["high"][4].value == pytest.approx(recall, abs=1e-12)
    assert wb["Gate"]["A1"].value == "Gate PASSED"
