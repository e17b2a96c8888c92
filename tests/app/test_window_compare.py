"""The Champion-vs-challenger view driven through the TaskRunner on the demo workspace: the
gate checklist with the planted failure, deltas, ROC overlay, density, disagreements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from workbench_results import fraud_entry

from watchkeeper.app.panels.compare import ChallengerPanel, make_challenger_panel
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.challenger import DISAGREEMENT_ROWS
from watchkeeper.core.workbench.portfolio import ModelEntry, load_portfolio


def done(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> ModelEntry:
    return fraud_entry(demo_workspace)


@pytest.fixture
def panel(qtbot, fraud: ModelEntry) -> ChallengerPanel:
    runner = TaskRunner()
    panel = ChallengerPanel(runner, {}, n_boot=100)
    qtbot.addWidget(panel)
    panel.resize(1400, 900)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("challenger")):
        panel.set_selection(fraud, "1")
        assert panel.state.status == "running" and panel.busy.isVisible()
    assert panel.state.status == "ready", panel.state.error
    # the plots are drawn in a turn of the event loop after the tables
    qtbot.waitUntil(lambda: not panel.drawing(), timeout=10_000)
    return panel


def test_the_gate_checklist_shows_the_planted_failure(panel: ChallengerPanel) -> None:
    gate = panel.state.result.gate
    model = panel.gate_model
    assert model.rowCount() == len(gate.criteria)
    assert model.outcome("critical_slice:channel=pos") == "FAIL"
    assert model.outcome("min_labeled:shadow") == "PASS"
    # every criterion as core judged it, coloured by its outcome
    for row in range(model.rowCount()):
        values = model.row_values(row)
        criterion = gate.criterion(f"{values['type']}:{values['target']}")
        assert values["result"] == ("PASS" if criterion.passed else "FAIL")
        brush = model.data(model.index(row, 0), Qt.ItemDataRole.BackgroundRole)
        assert (brush.color().red() > brush.color().green()) == (not criterion.passed)
    assert "Gate: FAIL" in panel.verdict.text() and "critical_slice:channel=pos" in (
        panel.verdict.text()
    )
    assert not panel.banner.isVisible()


def test_deltas_curves_scatter_and_disagreements(panel: ChallengerPanel) -> None:
    view = panel.state.result
    c = view.comparison
    deltas = panel.deltas_model.frame
    auc = deltas.set_index("metric").loc["roc_auc"]
    assert auc["difference"] == pytest.approx(c.differences["roc_auc"].value)
    assert auc["lower"] < auc["difference"] < auc["upper"]
    assert auc["challenger"] - auc["champion"] == pytest.approx(auc["difference"], abs=1e-9)
    for curve in (panel.roc.champion_curve, panel.roc.challenger_curve):
        x, y = curve.getData()
        assert (x[0], y[0]) == (0.0, 0.0) and (x[-1], y[-1]) == (1.0, 1.0)
        assert np.trapezoid(y, x) > 0.6
    assert "AUC" in panel.roc.legend.getLabel(panel.roc.challenger_curve).text
    # 30 days of shadow pairs: a density image, not tens of thousands of dots
    assert panel.scatter.mode == "density"
    assert panel.scatter.image_item.image.shape == view.density.shape == (100, 100)
    assert view.density.sum() == c.pairs
    # the disagreement table: only requests decided differently, largest difference first
    d = panel.disagree_model.frame
    assert 0 < len(d) <= DISAGREEMENT_ROWS and len(d) <= view.disagreeing
    t = c.threshold
    assert ((d["champion score"] >= t) != (d["challenger score"] >= t)).all()
    assert np.all(np.diff(d["difference"].abs().to_numpy()) <= 1e-12)
    assert f"{view.disagreeing:,}" in panel.disagree_title.text()
    assert "agree" in panel.summary.text()


def test_the_gate_is_drawn_before_the_other_metrics_intervals(qtbot, fraud: ModelEntry) -> None:
    runner = TaskRunner()
    panel = ChallengerPanel(runner, {}, n_boot=100)
    qtbot.addWidget(panel)
    panel.show()
    drawn = []  # (complete, verdict, deltas title, task still running) per drawn result
    panel.state.subscribe(
        lambda ch: (
            drawn.append(
                (
                    panel.state.result.complete,
                    panel.verdict.text(),
                    panel.deltas_title.text(),
                    "challenger" in runner.active(),
                )
            )
            if "result" in ch and panel.state.result is not None
            else None
        )
    )
    scatters = []  # the plots are drawn once: the complete view has the early one's data
    draw_scatter = panel.scatter.set_data
    panel.scatter.set_data = lambda *a, **k: (scatters.append(a), draw_scatter(*a, **k))
    with qtbot.waitSignal(runner.task_finished, timeout=30_000, check_params_cb=done("challenger")):
        panel.set_selection(fraud, "1")
    (early, verdict, title, running), (complete, final_verdict, final_title, _) = drawn
    assert running and not early and complete
    # (from the analysis process both answers arrive as copies: equal, not the same arrays)
    assert len(scatters) == 1
    assert "Gate: FAIL" in verdict and verdict == final_verdict
    assert "computing their intervals" in title and "computing" not in final_title
    assert panel.deltas_model.rowCount() == 4  # every metric, once complete


def test_a_model_without_challenger_says_what_to_do(qtbot, demo_workspace: Path) -> None:
    runner = TaskRunner()
    panel = make_challenger_panel(runner, {})
    qtbot.addWidget(panel)
    panel.show()
    churn = load_portfolio(demo_workspace).model("churn-model")
    panel.set_selection(churn, "3")
    assert runner.active() == []  # nothing to compute
    assert panel.state.challenger is None and panel.banner.isVisible()
    assert "no challenger" in panel.banner.text()
    assert panel.gate_model.rowCount() == 0 and panel.scatter.mode == "empty"
    # no empty checklist and plots of nothing (a diagonal, a legend of two curves) under it
    assert not panel.splitter.isVisible()
    fraud = load_portfolio(demo_workspace).model("fraud-detector")
    with qtbot.waitSignal(runner.task_finished, timeout=60_000, check_params_cb=done("challenger")):
        panel.set_selection(fraud, "1")
    qtbot.waitUntil(lambda: panel.state.result is not None, timeout=30_000)
    assert panel.splitter.isVisible() and not panel.banner.isVisible()
    panel.set_selection(churn, "3")
    assert not panel.splitter.isVisible()
    assert "Register a version" in panel.banner.text()  # its spec names a registry
    # without one, the roles come from the telemetry: the words say how a challenger comes
    import dataclasses

    model = churn.spec.model.model_copy(update={"registry_uri": None})
    local = dataclasses.replace(churn, spec=churn.spec.model_copy(update={"model": model}))
    panel.set_selection(None, None)
    panel.set_selection(local, "3")
    text = panel.banner.text()
    assert "without a registry" in text and "v3" in text and "registry_uri" in text, text


def test_an_exact_p_value_that_underflows_is_not_shown_as_zero() -> None:
    """McNemar's exact p on the wide demo's 4,663 against 9,504 discordant pairs is below the
    smallest double: scipy gives 0.0, which the summary line must not print as "p = 0"."""
    from scipy.stats import binomtest

    from watchkeeper.app.panels.compare import p_text

    p = binomtest(4_663, 4_663 + 9_504).pvalue
    assert p == 0.0
    assert p_text(p) == "p < 1e-300"
    assert p_text(binomtest(40, 100).pvalue) == "p = 0.0569"
