"""The workbench on an offline bundle: every view from the bundle alone, the banner, the
outbox written from the window, syncing it (twice), a damaged bundle, `watchkeeper open`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from watchkeeper.app.main_window import MainWindow
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.workbench.health import health_window

START, END = "2026-03-30", "2026-04-06"  # a week, every event: shadow pairs stay whole


pytestmark = pytest.mark.usefixtures("plaintext_keyring")


@pytest.fixture(scope="module")
def exported(demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of fraud-detector exported from a copy of the demo workspace, after which
    the copy's registry, governance database and telemetry are gone."""
    from watchkeeper.core.bundle.export import export_bundle

    root = tmp_path_factory.mktemp("window-bundle")
    ws = root / "ws"
    shutil.copytree(demo_workspace, ws)
    out = root / "fraud.wkbundle"
    export_bundle(
        ws / "specs" / "fraud-detector.toml",
        out,
        start=START,
        end=END,
        signer=Signer.from_seed("window bundle tests: exporter"),
        exporter="dana.exporter",
    )
    shutil.rmtree(ws)  # nothing left to reach: the bundle must stand alone
    return out


@pytest.fixture
def bundle(exported: Path, tmp_path: Path) -> Path:
    """This test's own copy of the bundle (tests append to its outbox)."""
    target = tmp_path / "incident.wkbundle"
    shutil.copyfile(exported, target)
    return target


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network and no database: any socket connection or SQL engine is refused and
    recorded (the views must not try)."""
    import sqlalchemy

    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[:2]))
        raise OSError("offline test: no connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(sqlalchemy, "create_engine", refuse)
    return attempts


def _open(qtbot: Any, window: MainWindow, path: Path) -> None:
    window.open_bundle(path)

    def shown() -> bool:
        p = window.portfolio.state.portfolio
        return p is not None and p.kind == "bundle" and p.workspace == path

    qtbot.waitUntil(shown, timeout=30_000)


def _rows(model: Any) -> list[dict[str, Any]]:
    frame = model.frame
    return [frame.iloc[model.source_row(r)].to_dict() for r in range(model.rowCount())]


def test_every_view_shows_the_bundle_offline(
    qtbot, bundle: Path, settings: QSettings, offline: list[str]
) -> None:
    window = MainWindow(None, settings=settings)
    qtbot.addWidget(window)
    window.show()
    _open(qtbot, window, bundle)
    # the banner and the title say what this is
    banner = window.bundle_banner.text()
    assert window.bundle_banner.isVisible()
    for words in ("Frozen bundle of fraud-detector", "dana.exporter", "offline", "outbox"):
        assert words in banner
    key_id = Signer.from_seed("window bundle tests: exporter").key_id
    assert key_id in banner
    assert "frozen bundle of fraud-detector" in window.windowTitle()
    assert "offline" in window.windowTitle()
    # the portfolio: versions and roles from the bundled registry snapshot
    entry = window.portfolio.state.portfolio.model("fraud-detector")
    assert [(v.version, v.role) for v in entry.versions] == [
        ("1", "champion"),
        ("2", "challenger"),
    ]
    # Overview
    assert window.models_table.rowCount() == 2
    parts = [window.events_table.item(r, 0).text() for r in range(window.events_table.rowCount())]
    assert {"telemetry", "registry snapshot", "governance records"} <= set(parts)
    # Drift and Performance run first, then the health sweep lights the model
    qtbot.waitUntil(lambda: window.drift.state.result is not None, timeout=60_000)
    qtbot.waitUntil(lambda: window.performance.state.result is not None, timeout=60_000)
    assert len(window.drift.state.result.windows) >= 7
    assert window.performance.state.result.realized.windows
    qtbot.waitUntil(lambda: "fraud-detector" in window.portfolio.state.health, timeout=60_000)
    qtbot.waitUntil(lambda: "health" not in window.runner.active(), timeout=60_000)
    # the sweep's performance is the view's to reuse; its drift (decisions only) is not
    weekly = health_window(entry.spec)
    assert ("performance", "fraud-detector", "1", weekly, "") in window.cache
    assert ("drift", "fraud-detector", "1", weekly) not in window.cache
    assert not any(getattr(r, "decisions_only", False) for r in window.cache.values())
    # Slices, Champion vs challenger and Governance run when shown
    window.tabs.setCurrentWidget(window.slices)
    qtbot.waitUntil(lambda: window.slices.state.result is not None, timeout=60_000)
    assert len(window.slices.state.result.slices.rows) >= 1
    window.tabs.setCurrentWidget(window.challenger)
    # its first answer (the verdict) comes before the intervals: wait for the whole result
    qtbot.waitUntil(lambda: window.challenger.state.status != "running", timeout=120_000)
    assert window.challenger.state.result.pairs > 1000
    assert window.challenger.gate_model.rowCount() >= 3
    window.tabs.setCurrentWidget(window.governance)
    qtbot.waitUntil(lambda: window.governance.state.view is not None, timeout=30_000)
    view = window.governance.state.view
    assert view.offline and view.approvals and view.champion == "1"
    assert window.governance.records.decisions_model.rowCount() >= 2
    assert window.governance.ledger.outbox_box.isVisible()
    assert not window.governance.ledger.audit_box.isVisible()
    assert "offline" in window.governance.identity_label.text()
    for panel in (window.drift, window.performance, window.slices, window.challenger):
        assert panel.state.status == "ready", panel.state.error
    assert offline == []


def test_decisions_from_the_window_land_in_the_bundle_outbox(
    qtbot, bundle: Path, settings: QSettings
) -> None:
    from watchkeeper.core.bundle.open import open_bundle
    from watchkeeper.core.evidence import digest

    window = MainWindow(None, settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.show()
    _open(qtbot, window, bundle)
    gov = window.governance
    window.tabs.setCurrentWidget(gov)
    qtbot.waitUntil(lambda: gov.state.view is not None, timeout=30_000)
    # an incident note
    dialog = gov.open_note()
    dialog.title_edit.setText("INC-7: merchant_category empty upstream")
    dialog.body_edit.setPlainText("seen offline in the bundle")
    with qtbot.waitSignal(dialog.recorded, timeout=30_000):
        dialog.accept()
    qtbot.waitUntil(lambda: len(gov.state.view.outbox) == 1, timeout=30_000)
    assert "outbox" in gov.banner.text()
    # a rollback: a decision in the outbox; the alias does not move
    dialog = gov.open_rollback()
    assert "does not move" in dialog.heading.text()
    assert dialog.rollback_button.isEnabled()
    dialog.reason_edit.setPlainText("back to v1 while we look")
    with qtbot.waitSignal(dialog.recorded, timeout=30_000) as blocker:
        dialog.accept()
    outcome = blocker.args[0]
    assert outcome.pending and outcome.move is None
    qtbot.waitUntil(lambda: len(gov.state.view.outbox) == 2, timeout=30_000)
    assert "has not moved" in gov.banner.text()
    # a model card draft
    gov.card_editor.edits["owner"].setText("fraud team (offline draft)")
    with qtbot.waitSignal(gov.card_saved, timeout=30_000):
        gov.save_card()
    qtbot.waitUntil(lambda: len(gov.state.view.outbox) == 3, timeout=30_000)
    # a rejection of the challenger, on the gate run over the bundled shadow pairs
    dialog = gov.open_decision("reject")
    qtbot.waitUntil(lambda: dialog.evidence is not None, timeout=120_000)
    assert dialog.criteria_table.rowCount() >= 3
    dialog.comment.setPlainText("fails on pos; decided offline")
    with qtbot.waitSignal(dialog.recorded, timeout=30_000) as blocker:
        dialog.accept()
    assert blocker.args[0].kind == "approval"
    qtbot.waitUntil(lambda: len(gov.state.view.outbox) == 4, timeout=30_000)
    assert "recorded when you sync" in gov.banner.text()
    rows = _rows(gov.ledger.outbox_model)
    assert {r["kind"] for r in rows} == {
        "incident note",
        "rollback decision",
        "card draft",
        "decision",
    }
    assert {r["status"] for r in rows} == {"pending"}
    # all four are in the file, signed, and the bundle still opens
    with open_bundle(bundle, extract=False) as b:
        kinds = sorted(e.kind for e in b.pending())
        assert kinds == ["approval", "incident_note", "model_card", "rollback"]
        approval = next(e for e in b.outbox if e.kind == "approval")
        assert approval.payload["decision"] == "reject"
        assert digest(approval.payload["evidence"]) == dialog.evidence.digest
        rollback = next(e for e in b.outbox if e.kind == "rollback")
        assert rollback.payload["from_version"] == "1" and rollback.payload["to_version"] == "2"
    assert window.evidence.bundle.registry is not None  # nothing else changed


def test_sync_from_the_window_twice(qtbot, bundle: Path, settings: QSettings, tmp_path: Path):  # type: ignore[no-untyped-def]
    from watchkeeper.app.dialogs.connect import URL_CHOICE
    from watchkeeper.core.bundle.outbox import add_decision, add_incident_note
    from watchkeeper.core.governance import GovernanceStore
    from watchkeeper.core.governance.identity import load_signer, os_login

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    GovernanceStore.open(url, create=True).close()  # a fresh, empty shared database
    me = load_signer(os_login())
    add_incident_note(bundle, title="from the train", starts_at="2026-04-01T06:00:00Z", signer=me)
    rollback = {"from_version": "1", "to_version": "2", "reason_class": "sudden_incident"}
    add_decision(bundle, "rollback", rollback, signer=me)
    # an entry someone else signed: only its author may sync it
    other = add_incident_note(
        bundle,
        title="not mine",
        starts_at="2026-04-02T00:00:00Z",
        signer=Signer.from_seed("window bundle tests: someone else"),
        author="someone.else",
    )
    window = MainWindow(None, settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.show()
    _open(qtbot, window, bundle)
    gov = window.governance
    window.tabs.setCurrentWidget(gov)
    qtbot.waitUntil(lambda: gov.state.view is not None, timeout=30_000)
    assert gov.ledger.sync_button.isEnabled() and window.sync_action.isEnabled()

    def sync_through_the_dialog() -> Any:
        window.last_sync = None
        dialog = window.sync_outbox()
        dialog.profile_combo.setCurrentIndex(dialog.profile_combo.findData(URL_CHOICE))
        dialog.url_edit.setText(url)
        with qtbot.waitSignal(dialog.connected, timeout=30_000):
            dialog.connect_now()
        dialog.accept()
        qtbot.waitUntil(lambda: window.last_sync is not None, timeout=30_000)
        return window.last_sync

    first = sync_through_the_dialog()
    assert len(first.synced) == 2 and not first.already_synced
    assert list(first.refused) == [other.id] and not first.conflicts
    qtbot.waitUntil(lambda: gov.state.view is not None and len(gov.state.view.pending) == 1)
    text = gov.banner.text()
    assert "2 entries recorded, 0 already there" in text and "1 refused" in text
    assert "only its author can sync" in text and gov.banner.level == "warning"
    statuses = sorted(r["status"] for r in _rows(gov.ledger.outbox_model))
    assert statuses == ["pending", "synced", "synced"]
    second = sync_through_the_dialog()
    assert not second.synced and len(second.already_synced) == 2
    assert list(second.refused) == [other.id]
    assert "0 entries recorded, 2 already there" in gov.banner.text()
    with GovernanceStore.open(url) as store:
        notes = store.incident_notes("fraud-detector")
        rollbacks = store.rollbacks("fraud-detector")
        applied = store.rollback_applications()
    assert [n.title for n in notes] == ["from the train"]
    # the offline rollback is a recorded decision, not applied: no alias moved
    assert [(r.from_version, r.to_version) for r in rollbacks] == [("1", "2")] and not applied


def test_a_damaged_bundle_is_explained_and_the_workspace_stays(
    qtbot, exported: Path, demo_workspace: Path, settings: QSettings, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.wkbundle"
    data = bytearray(exported.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the telemetry part
    damaged.write_bytes(bytes(data))
    window = MainWindow(demo_workspace, settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.portfolio.state.portfolio is not None, timeout=30_000)
    title = window.windowTitle()
    window.open_bundle(damaged)
    qtbot.waitUntil(lambda: window.message_banner.isVisible(), timeout=30_000)
    text = window.message_banner.text()
    assert "was not opened" in text and "damaged.wkbundle" in text
    assert "Nothing was changed" in text and "stays open" in text and "fresh copy" in text
    assert "Traceback" not in text
    # nothing lost: the workspace is still what the window shows, and the file is untouched
    assert window.windowTitle() == title and not window.bundle_banner.isVisible()
    assert window.evidence.kind == "workspace"
    assert len(window.portfolio.state.portfolio.models) >= 2
    assert damaged.read_bytes() == bytes(data)
    # and the window still works
    window.portfolio.select("fraud-detector", "2")
    qtbot.waitUntil(lambda: window.drift.state.version == "2", timeout=10_000)
    qtbot.waitUntil(lambda: window.drift.state.status == "ready", timeout=60_000)
    # a valid bundle afterwards opens, and the banner is cleared
    _open(qtbot, window, exported)
    assert window.evidence.kind == "bundle" and not window.message_banner.isVisible()


def test_file_open_bundle_asks_for_a_file(
    qtbot, bundle: Path, settings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = MainWindow(None, settings=settings, check_health=False)
    qtbot.addWidget(window)
    assert window.open_bundle_action.shortcut().toString() == "Ctrl+O"
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bundle), ""))
    )
    window.open_bundle_action.trigger()
    qtbot.waitUntil(lambda: window.portfolio.state.portfolio is not None, timeout=30_000)
    assert window.evidence.path == bundle


def _watchkeeper(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("watchkeeper")), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )


def test_open_command_opens_the_window_on_the_bundle(bundle: Path, tmp_path: Path) -> None:
    shot = tmp_path / "bundle.png"
    result = _watchkeeper("open", str(bundle), "--screenshot", str(shot), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frozen bundle as of" in result.stdout and f"screenshot {shot}" in result.stdout
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 500
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)
    }
    assert len(colours) > 20
    # a damaged bundle: one line, exit 2, no window, no traceback
    damaged = tmp_path / "damaged.wkbundle"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = _watchkeeper("open", str(damaged), "--screenshot", str(shot), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "damaged.wkbundle" in result.stderr


def test_a_damaged_outbox_is_said_and_the_evidence_still_shown(
    qtbot, bundle: Path, settings: QSettings, tmp_path: Path
) -> None:
    import zipfile

    from watchkeeper.core.bundle import format as fmt
    from watchkeeper.core.bundle.outbox import add_incident_note

    me = Signer.from_seed("window bundle tests: me")
    notes = [
        add_incident_note(bundle, title=f"note {i}", starts_at="2026-04-01", signer=me)
        for i in range(3)
    ]
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    del members[f"outbox/{notes[1].id}.json"]
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            fmt.write_member(zf, name, data)
    window = MainWindow(None, settings=settings, check_health=False)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    _open(qtbot, window, bundle)
    text = window.message_banner.text()
    assert "outbox of incident.wkbundle is damaged" in text and "removed" in text
    assert window.bundle_banner.isVisible()
    assert window.message_banner.level == "warning"
    window.grab().save(str(tmp_path / "damaged-outbox.png"))
