"""The Governance view and its dialogs on a copy of the demo workspace, through the TaskRunner.

Every test writes to its own copy of ``governance.db`` and ``registry/mlflow.db`` (the
registry's artifacts are not copied: alias moves never touch them). Dialogs are driven by
setting their fields and calling ``accept()``; the write runs in the TaskRunner and the test
waits for its signal.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from workbench_results import fraud_entry

from watchkeeper.app.panels.governance import GovernancePanel, make_governance_panel
from watchkeeper.app.panels.governance_records import one_line
from watchkeeper.app.panels.governance_work import GovernanceTarget
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.governance.signing import Signer
from watchkeeper.core.governance.store import GovernanceStore
from watchkeeper.core.governance.verify import verify_audit
from watchkeeper.core.registry.client import MlflowRegistry
from watchkeeper.core.spec import parse_spec

MODEL = "fraud-detector"


def finished(key: str):
    return lambda k, outcome: k == key and outcome != "cancelled"


@pytest.fixture(scope="module")
def fraud(demo_workspace: Path) -> Any:
    return fraud_entry(demo_workspace)


@pytest.fixture
def target(demo_workspace: Path, tmp_path: Path) -> GovernanceTarget:
    """Writable copies of the demo's governance database and registry (no artifacts)."""
    shutil.copy2(demo_workspace / "governance.db", tmp_path / "governance.db")
    (tmp_path / "registry").mkdir()
    shutil.copy2(demo_workspace / "registry" / "mlflow.db", tmp_path / "registry" / "mlflow.db")
    return GovernanceTarget.from_workspace(tmp_path, signer=Signer.generate())


def open_panel(qtbot, target: GovernanceTarget, entry: Any, version: str = "2"):
    runner = TaskRunner()
    panel = make_governance_panel(runner, target=target)
    qtbot.addWidget(panel)
    panel.resize(1100, 800)
    panel.show()
    with qtbot.waitSignal(panel.view_loaded, timeout=20_000):
        panel.set_selection(entry, version)
    return runner, panel


def registry(target: GovernanceTarget) -> MlflowRegistry:
    return MlflowRegistry(target.registry_uri)


def wait_for_gate(qtbot, runner: TaskRunner, dialog: Any) -> None:
    if dialog.evidence is None:
        with qtbot.waitSignal(
            runner.task_finished, timeout=30_000, check_params_cb=finished("governance.gate")
        ):
            pass
    assert dialog.evidence is not None, dialog.banner.text()


def test_approve_writes_a_signed_approval_that_verify_accepts(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    runner, panel = open_panel(qtbot, target, fraud)
    assert isinstance(panel, GovernancePanel)
    identity = panel.identity_label.text()
    assert "Signed in as <b>" in identity and "unverified" in identity
    assert "champion v1 · challenger v2" in panel.heading.text()
    assert panel.records.decisions_model.rowCount() == 3
    before = panel.ledger.audit_model.rowCount()
    assert before == 15  # the demo's 3 specs imported, 12 records

    dialog = panel.open_decision("approve")
    assert panel.dialog is dialog and dialog.isVisible()
    wait_for_gate(qtbot, runner, dialog)
    table = dialog.criteria_table
    results = {table.item(r, 1).text(): table.item(r, 0).text() for r in range(table.rowCount())}
    assert results["critical_slice:channel=pos"] == "FAIL"
    assert results["improvement:roc_auc"] == "PASS"
    assert dialog.evidence.digest in dialog.digest.text()
    assert dialog.record_button.isEnabled()
    assert dialog.banner.level == "warning"  # the gate fails; approving overrides it
    dialog.comment.setPlainText("POS regression accepted for the pilot; see INC-1050.")
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=20_000),
        qtbot.waitSignal(dialog.recorded, timeout=10_000),
    ):
        dialog.accept()
    assert panel.dialog is None

    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        approval = store.approvals(MODEL)[-1]
    assert approval.decision == "approve" and approval.model_version == "2"
    assert approval.comment == "POS regression accepted for the pilot; see INC-1050."
    assert approval.evidence_digest == dialog.evidence.digest
    assert approval.evidence["criteria"][3]["passed"] is False
    assert approval.actor_verified is False
    assert verify_audit(target.database_url).ok
    assert panel.records.decisions_model.rowCount() == 4
    assert "Approved version 2" in panel.banner.text()

    with qtbot.waitSignal(panel.verified, timeout=10_000) as report:
        panel.verify()
    assert report.args[0].ok
    verify_text = panel.ledger.verify_label.text()
    # the approval and the approver's key registered on first use
    assert "OK" in verify_text and f"{before + 2} entries" in verify_text


def test_a_spec_requiring_a_verified_identity_refuses_a_local_one(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    text = fraud.spec_path.read_text().replace(
        "[governance]\n", "[governance]\nrequire_verified_identity = true\n"
    )
    spec = parse_spec(text, base_dir=fraud.spec_path.parent, origin="strict.toml")
    strict = dataclasses.replace(fraud, spec=spec)
    runner, panel = open_panel(qtbot, target, strict)
    assert "requires a verified identity" in panel.identity_label.text()

    dialog = panel.open_decision("approve")
    assert dialog.banner.isVisible() and dialog.banner.level == "error"
    message = dialog.banner.text()
    assert "requires a verified identity" in message
    assert "require_verified_identity = true" in message and "PostgreSQL" in message
    assert not dialog.record_button.isEnabled()
    dialog.comment.setPlainText("try anyway")
    dialog.accept()  # refused in place: nothing runs, the dialog stays open
    assert dialog.isVisible() and "governance.write" not in runner.active()
    assert "requires a verified identity" in dialog.banner.text()
    dialog.reject()  # closing cancels the gate still running
    assert "governance.gate" not in runner.active()

    rollback = panel.open_rollback()
    assert not rollback.rollback_button.isEnabled()
    assert "requires a verified identity" in rollback.banner.text()
    rollback.reject()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        assert len(store.approvals(MODEL)) == 2 and len(store.rollbacks(MODEL)) == 1


def test_rollback_records_the_decision_moves_the_alias_and_records_the_application(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    registry(target).set_alias(MODEL, "champion", "2")  # version 2 was promoted again
    _runner, panel = open_panel(qtbot, target, fraud)
    dialog = panel.open_rollback()
    assert dialog.from_combo.currentData() == "2" and dialog.to_combo.currentData() == "1"
    dialog.reason_combo.setCurrentIndex(dialog.reason_combo.findData("gradual_drift"))
    dialog.incident_edit.setText("INC-2001")
    dialog.reason_edit.setPlainText("amount drifted for three weeks; v2 degrades on it")
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=20_000),
        qtbot.waitSignal(dialog.recorded, timeout=10_000) as recorded,
    ):
        dialog.accept()
    outcome = recorded.args[0]
    assert outcome.succeeded and outcome.move.previous == "2" and outcome.move.version == "1"
    assert registry(target).alias_version(MODEL, "champion") == "1"
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        decision = store.rollbacks(MODEL)[-1]
        (application,) = store.rollback_applications(decision.id)
    assert (decision.from_version, decision.to_version) == ("2", "1")
    assert decision.reason_class == "gradual_drift" and decision.incident_ref == "INC-2001"
    assert application.result == "succeeded" and '"previous":"2"' in application.detail
    assert verify_audit(target.database_url).ok
    assert "champion v1" in panel.heading.text()
    assert "Rolled back" in panel.banner.text()


def test_a_concurrent_alias_move_is_reported_and_recorded_as_failed(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    registry(target).set_alias(MODEL, "champion", "2")
    _runner, panel = open_panel(qtbot, target, fraud)
    dialog = panel.open_rollback()
    dialog.reason_edit.setPlainText("latency spike")
    # Someone else moves the alias while the dialog is open.
    registry(target).set_alias(MODEL, "champion", "1")
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=20_000),
        qtbot.waitSignal(dialog.recorded, timeout=10_000) as recorded,
    ):
        dialog.accept()
    outcome = recorded.args[0]
    assert not outcome.succeeded and "someone else moved it" in outcome.error
    assert dialog.isVisible()  # the failure stays on screen
    assert "The alias was not moved" in dialog.banner.text()
    assert "points at version 1, not version 2" in dialog.banner.text()
    assert dialog.rollback_button.text() == "Close"
    assert panel.banner.level == "error" and "not moved" in panel.banner.text()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        decision = store.rollbacks(MODEL)[-1]
        (application,) = store.rollback_applications(decision.id)
    assert application.result == "failed" and "someone else moved it" in application.detail
    assert registry(target).alias_version(MODEL, "champion") == "1"
    dialog.accept()  # Close
    assert not dialog.isVisible()


def test_a_card_conflict_shows_both_versions_and_loses_nothing(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    _runner, panel = open_panel(qtbot, target, fraud)
    assert "revision 2" in panel.card_editor.status.text()
    panel.card_editor.edits["owner"].setText("mine: dana.okafor (fraud analytics, EU)")
    assert "unsaved edits" in panel.card_editor.status.text()
    # Someone else saves revision 3 from the same base meanwhile.
    with GovernanceStore.open(
        target.database_url, upgrade=False, actor="lee.chen", signer=Signer.generate()
    ) as other:
        theirs = dict(other.card(MODEL, "2").content)
        theirs["owner"] = "theirs: lee.chen (risk)"
        other.save_card(MODEL, "2", theirs, base_revision=2)

    with qtbot.waitSignal(panel.card_saved, timeout=10_000) as saved:
        panel.save_card()
    assert saved.args[0].conflict is not None
    assert panel.card_editor.conflict_box.isVisible()
    assert "revision 3" in panel.card_editor.conflict_label.text()
    mine = panel.card_editor.conflict_mine.toPlainText()
    assert "mine: dana.okafor (fraud analytics, EU)" in mine
    assert "theirs: lee.chen (risk)" in panel.card_editor.conflict_theirs.toPlainText()
    assert "lee.chen" in panel.card_editor.conflict_theirs_title.text()
    assert panel.card_editor.edits["owner"].text() == "mine: dana.okafor (fraud analytics, EU)"

    # Keep editing, then save over theirs knowingly.
    panel.card_editor.edits["owner"].setText("merged: dana.okafor with lee.chen (risk)")
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=20_000),
        qtbot.waitSignal(panel.card_saved, timeout=10_000) as saved,
    ):
        panel.save_card()
    assert saved.args[0].saved.revision == 4
    assert not panel.card_editor.conflict_box.isVisible()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        history = store.card_history(MODEL, "2")
    assert [c.revision for c in history] == [1, 2, 3, 4]
    assert history[2].content["owner"] == "theirs: lee.chen (risk)"
    assert history[3].content["owner"] == "merged: dana.okafor with lee.chen (risk)"
    assert panel.card_editor.history_list.count() == 4
    panel.card_editor.history_list.setCurrentRow(1)  # newest first: revision 3
    assert "theirs: lee.chen (risk)" in panel.card_editor.history_view.toPlainText()


def test_a_card_section_that_is_not_json_is_refused_in_place(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    runner, panel = open_panel(qtbot, target, fraud)
    panel.card_editor.edits["monitoring_thresholds"].setPlainText("{not json")
    panel.save_card()
    card_banner = panel.card_editor.banner
    assert card_banner.isVisible() and "must be JSON" in card_banner.text()
    assert "governance.card" not in runner.active()
    assert panel.card_editor.edits["monitoring_thresholds"].toPlainText() == "{not json"


def test_tampering_with_an_approval_makes_verify_name_the_broken_record(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    path = target.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (rid,) = conn.execute("SELECT id FROM approvals ORDER BY created_at LIMIT 1").fetchone()
        conn.execute("DROP TRIGGER watchkeeper_approvals_no_update")
        conn.execute("UPDATE approvals SET comment = 'looks fine' WHERE id = ?", (rid,))
    (seq,) = [e.seq for e in verify_audit(target.database_url).problems if e.record_id == rid][:1]
    _runner, panel = open_panel(qtbot, target, fraud)
    with qtbot.waitSignal(panel.verified, timeout=10_000) as report:
        panel.verify()
    assert not report.args[0].ok
    text = panel.ledger.verify_label.text()
    assert "BROKEN" in text and f"approvals record {rid}" in text
    assert f"audit entry #{seq}" in text and "was altered" in text
    selected = panel.ledger.audit_table.selectionModel().selectedRows()
    audit = panel.ledger.audit_model
    assert [audit.frame.iloc[audit.source_row(i.row())]["#"] for i in selected] == [seq]


HOSTILE = (
    'Robert\'); DROP TABLE approvals;-- "quoted" `tick` <b>not bold</b> &amp;\n'
    "\x01\x07\x1b[31mred\x1b[0m\ttab\x0bvt\x0cff \u202eevil\u202c e\u0301 😀\n"
)


def test_hostile_text_round_trips_verbatim(qtbot, target: GovernanceTarget, fraud: Any) -> None:
    comment = HOSTILE + "A" * 1_000_000 + "\nend"
    runner, panel = open_panel(qtbot, target, fraud)
    dialog = panel.open_decision("reject")
    wait_for_gate(qtbot, runner, dialog)
    dialog.comment.setPlainText(comment)
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=30_000),
        qtbot.waitSignal(dialog.recorded, timeout=20_000),
    ):
        dialog.accept()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        approval = store.approvals(MODEL)[-1]
    assert approval.decision == "reject" and approval.comment == comment
    # The table shows one line with the control characters made visible; the detail box
    # holds the text exactly.
    frame = panel.records.decisions_model.frame
    row = next(i for i in range(len(frame)) if frame.iloc[i]["decision"] == "reject")
    cell = frame.iloc[row]["note"]
    assert cell == one_line(comment) and "\n" not in cell and len(cell) <= 161
    decisions = panel.records.decisions_model
    view_row = next(r for r in range(len(frame)) if decisions.source_row(r) == row)
    panel.records.decisions_table.selectRow(view_row)
    detail = panel.records.decision_detail.toPlainText()
    assert detail.endswith("Comment:\n" + comment)
    # Hostile card text and note titles too.
    panel.card_editor.edits["limitations"].setPlainText(HOSTILE)
    with qtbot.waitSignal(panel.view_loaded, timeout=20_000):
        panel.save_card()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        assert store.card(MODEL, "2").content["limitations"] == HOSTILE
    assert panel.card_editor.edits["limitations"].toPlainText() == HOSTILE
    note = panel.open_note()
    note.title_edit.setText("INC-9 \"quotes\" 'and' <tags>")
    note.body_edit.setPlainText(HOSTILE)
    with (
        qtbot.waitSignal(panel.view_loaded, timeout=20_000),
        qtbot.waitSignal(note.recorded, timeout=10_000),
    ):
        note.accept()
    with GovernanceStore.open(target.database_url, upgrade=False) as store:
        stored = store.incident_notes(MODEL)[-1]
    assert stored.title == "INC-9 \"quotes\" 'and' <tags>" and stored.body == HOSTILE
    assert verify_audit(target.database_url).ok


def test_an_unreadable_database_is_a_banner_and_the_actions_wait(
    qtbot, fraud: Any, tmp_path: Path
) -> None:
    target = GovernanceTarget(database_url=f"sqlite:///{tmp_path / 'missing.db'}")
    runner = TaskRunner()
    panel = make_governance_panel(runner, target=target)
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(runner.task_finished, timeout=10_000) as done:
        panel.set_selection(fraud, "1")
    assert done.args == ["governance", "failed"]
    assert panel.banner.isVisible() and panel.banner.level == "error"
    assert "missing.db" in panel.banner.text() and "Refresh" in panel.banner.text()
    assert not panel.approve_button.isEnabled() and not panel.rollback_button.isEnabled()
    no_target = make_governance_panel(runner)
    qtbot.addWidget(no_target)
    assert "Not connected" in no_target.identity_label.text()


def test_card_texts_and_table_cells_without_qt() -> None:
    from watchkeeper.app.panels.governance_work import card_to_texts, texts_to_card
    from watchkeeper.core.errors import WatchkeeperError

    texts = card_to_texts({"owner": "dana", "monitoring_thresholds": {"psi": 0.2}})
    assert texts["owner"] == "dana" and texts["evaluation_slices"] == "[]"
    card = texts_to_card(texts)
    assert card["monitoring_thresholds"] == {"psi": 0.2} and card["limitations"] == ""
    with pytest.raises(WatchkeeperError, match="must be JSON"):
        texts_to_card({**texts, "evaluation_slices": "[1,"})
    assert one_line("a\r\nb\x1bc\td") == "a⏎⏎b·c d"
    assert one_line("x" * 500).endswith("…") and len(one_line("x" * 500)) == 161


def test_a_signing_key_in_a_plaintext_keyring_is_said_plainly(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        from_keyring = dataclasses.replace(target, signer=None)
        _runner, panel = open_panel(qtbot, from_keyring, fraud)
    finally:
        keyring.set_keyring(previous)
    assert "Signing key:" in panel.identity_label.text()
    assert "unencrypted" in panel.identity_label.text()


def test_an_interrupted_write_says_it_may_have_been_recorded(
    qtbot, target: GovernanceTarget, fraud: Any
) -> None:
    runner, panel = open_panel(qtbot, target, fraud)
    note = panel.open_note()
    note.title_edit.setText("INC-7: scores missing")
    note.accept()
    assert not note.add_button.isEnabled()
    runner.cancel("governance.write")  # e.g. Cancel in the status bar
    assert "may have been recorded" in note.banner.text()
    assert note.add_button.isEnabled() and note.isVisible()
    qtbot.waitUntil(lambda: not _writing_thread_busy(), timeout=5000)


def _writing_thread_busy() -> bool:
    from watchkeeper.app.workers import busy_workers

    return busy_workers() > 0
