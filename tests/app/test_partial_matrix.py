"""Every view and every command on workspaces that each lack one optional part (issue 14).

The workspaces (``tests/partial_workspaces.py``) are a user's own credit-scoring table with a
hand-written spec: complete, then without registry, challenger, label arrival times,
labels, prediction column, ``[[slices]]``, governance database, and a regression model.
For each: the window's six views (offscreen) and the headless commands end in results or in
a plain reason — never an internal error. Built once per module; every case reads them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from partial_workspaces import MODEL, VARIANTS, build_workspaces
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from watchkeeper.app import cli

TABS = ("overview", "drift", "performance", "slices", "challenger", "governance")


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_workspaces(tmp_path_factory.mktemp("partial"))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "internal error" not in err, err
    assert "Traceback" not in out + err
    return code, out, err


# -- the commands ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_check_judges_every_workspace(
    variant: str, workspaces: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "check", "--workspace", str(workspaces[variant]))
    assert code in (0, 1), err
    assert "UNKNOWN" not in out and f"{MODEL} v1" in out, out
    if variant == "no-labels":
        assert "performance not judged" in out and "labels" in out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_drift_of_the_spec_works_everywhere(
    variant: str, workspaces: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = workspaces[variant] / "specs" / f"{MODEL}.toml"
    code, out, err = _cli(capsys, "drift", "--spec", str(spec))
    assert code == 0, err
    assert "income" in out and "drift" in out  # the planted shift is found


#: What ``gate`` says where it cannot compare: (exit code, words the reason must hold).
GATE_REFUSALS = {
    "no-challenger": (2, ("no challenger", "--challenger")),
    "no-labels": (2, ("no label column", "labels")),
    "regression": (2, ("regression", "binary")),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gate_compares_or_says_why_not(
    variant: str, workspaces: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = workspaces[variant] / "specs" / f"{MODEL}.toml"
    code, out, err = _cli(capsys, "gate", "--spec", str(spec))
    if variant in GATE_REFUSALS:
        expected, words = GATE_REFUSALS[variant]
        assert code == expected and all(w in err for w in words), err
        return
    assert code in (0, 1), err
    assert "champion 1, challenger 2" in err and "min_labeled:shadow" in out
    if variant == "no-registry":
        assert "from the telemetry's versions (1, 2; no registry)" in err


#: What ``report slices`` says where it cannot measure slices.
REPORT_REFUSALS = {
    "no-labels": ("no label column", "labels"),
    "regression": ("regression", "binary"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_report_slices_writes_or_says_why_not(
    variant: str,
    workspaces: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    import openpyxl

    spec = workspaces[variant] / "specs" / f"{MODEL}.toml"
    out_file = tmp_path / "slices.xlsx"
    code, _out, err = _cli(capsys, "report", "slices", "--spec", str(spec), "--xlsx", str(out_file))
    if variant in REPORT_REFUSALS:
        assert code == 2 and all(w in err for w in REPORT_REFUSALS[variant]), err
        assert not out_file.exists()
        return
    assert code == 0, err
    sheet = openpyxl.load_workbook(out_file)["Slices"]
    names = [r[0] for r in sheet.iter_rows(min_row=2, max_col=1, values_only=True)]
    if variant == "no-slices":
        assert names[0] == "(all)" and "No [[slices]]" in names[2]
    else:
        assert names[:3] == ["(all)", "business loans", "renters"]
    challenger = "none" if variant == "no-challenger" else "2"
    assert f"challenger {challenger}" in err


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_audit_verify_checks_the_database_or_says_how_to_make_one(
    variant: str, workspaces: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{workspaces[variant] / 'governance.db'}"
    code, out, err = _cli(capsys, "audit", "verify", "--db", db)
    if variant == "no-governance":
        assert code == 2 and "no governance database" in err and "db init" in err
    else:
        assert code == 0 and "holds" in out, err


# -- the window --------------------------------------------------------------------------


def _settle(qtbot, window, idle_s: float = 0.3, timeout_s: float = 60.0) -> None:
    """Until the window's workers have been idle for ``idle_s``."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < deadline:
        qtbot.wait(20)
        if window.runner.active():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= idle_s:
            return
    raise AssertionError(f"workers still busy: {window.runner.active()}")


def _visible_text(panel) -> str:
    return "\n".join(lab.text() for lab in panel.findChildren(QLabel) if lab.isVisible())


#: Per variant and view, words the view must show (its results, or the plain reason).
EXPECTED = {
    ("no-registry", "overview"): "versions from the telemetry",
    ("no-challenger", "challenger"): "no challenger",
    ("no-label-ts", "performance"): "known when the event happened",
    ("no-labels", "performance"): "no label column",
    ("no-slices", "slices"): "No [[slices]]",
    ("no-governance", "governance"): "db init",
    ("regression", "challenger"): "regression",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_view_shows_results_or_a_plain_reason(
    variant: str,
    workspaces: dict[str, Path],
    qtbot,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from watchkeeper.app.main_window import MainWindow

    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    window = MainWindow(workspaces[variant], settings=settings)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitUntil(lambda: window.portfolio.state.selected is not None, timeout=30_000)
    _settle(qtbot, window)
    assert window.portfolio.state.selected == (MODEL, "1")
    health = window.portfolio.state.health[MODEL]
    assert health.state in ("ok", "watch", "alert") and health.error is None, health.reasons
    shown = {}
    for index, name in enumerate(TABS):
        window.tabs.setCurrentIndex(index)
        _settle(qtbot, window)
        panel = window.tabs.widget(index)
        text = _visible_text(panel)
        shown[name] = text
        assert "internal error" not in text.lower(), (name, text)
        state = getattr(panel, "state", None)
        error = getattr(state, "error", None)
        assert "internal error" not in str(error or "").lower(), (name, error)
        if (variant, name) in EXPECTED:
            assert EXPECTED[(variant, name)] in text, (name, text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    # demo-only panes stay hidden, the workspace's models and their health are listed
    assert window.overview.events_box.isHidden()
    assert window.overview.models_table.rowCount() >= 1
    assert window.overview.alerts_table.item(0, 3).text() != "not judged yet"
    assert window.drift.state.status == "ready" and window.drift.state.result is not None
    at_event = (
        "labels known at event time" in window.performance.timeline.metric_plot.titleLabel.text
    )
    assert at_event == (variant == "no-label-ts")
    window.close()
