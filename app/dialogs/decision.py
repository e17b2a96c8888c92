"""Approve or reject the challenger: the gate's evidence, a comment, a signed record.

The dialog runs the spec's promotion gate in the TaskRunner as soon as it opens and shows
every criterion with PASS/FAIL and the evidence digest the record will carry. "Sign and
record" writes the approval (or rejection) in the TaskRunner; the dialog closes only when
the record is stored. A refusal — the spec requires a verified identity and this one is a
local OS login, or the database said no — stays in the dialog as a banner, with the comment
still there.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.dialogs.write import WRITE_KEY, RecordingDialog, free_text
from watchkeeper.app.panels.governance_work import GovernanceTarget, record_decision
from watchkeeper.app.theme import tone
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.workbench.challenger import run_gate

__all__ = ["DecisionDialog", "criteria_frame", "verified_refusal"]

GATE_KEY = "governance.gate"


def verified_refusal(model: str, identity: Any) -> str:
    """What a person reads when the spec wants a verified identity and theirs is local."""
    return (
        f"<b>Not recorded: {model} requires a verified identity.</b> Its monitor spec sets "
        "<tt>[governance] require_verified_identity = true</tt>, and this database knows you "
        f"only as <b>{escape(identity.name)}</b>, an OS login it cannot verify (SQLite). "
        "Connect to the team's PostgreSQL governance database (File → Connect…) and sign in "
        "with your own role, then decide again."
    )


def criteria_frame(gate: Any) -> pd.DataFrame:
    """One row per gate criterion: the outcome, what was measured, against what."""
    rows = []
    for c in gate.criteria:
        rows.append(
            {
                "result": "PASS" if c.passed else "FAIL",
                "criterion": c.id,
                "value": _number(c.value),
                "rule": f"{c.comparison} {_number(c.threshold)}",
            }
        )
    return pd.DataFrame(rows, columns=["result", "criterion", "value", "rule"])


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


class DecisionDialog(RecordingDialog):
    """Approve (or reject) ``challenger`` of ``entry`` as champion, on the gate's evidence."""

    # recorded: the Approval (or, on a bundle, its OutboxEntry), once stored

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget,
        entry: Any,
        *,
        champion: str,
        challenger: str,
        identity: Any,
        require_verified: bool,
        decision: str = "approve",
        parent: QWidget | None = None,
    ) -> None:
        noun = "approval" if decision == "approve" else "rejection"
        super().__init__(runner, target, f"Sign and record {noun}", parent)
        self.entry = entry
        self.champion = str(champion)
        self.challenger = str(challenger)
        self.identity = identity
        self.require_verified = require_verified
        self.decision = decision
        self.gate: Any = None
        self.evidence: Any = None
        verb = "Approve" if decision == "approve" else "Reject"
        self.setWindowTitle(f"{verb} {entry.name} version {challenger}")
        self.setMinimumWidth(640)

        self.heading = QLabel(
            f"<b>{verb} version {challenger}</b> of <b>{escape(entry.name)}</b> as champion "
            f"(the champion is version {champion})."
        )
        self.heading.setWordWrap(True)
        who = "verified PostgreSQL role" if identity.verified else "local OS login, unverified"
        self.signer_line = QLabel(f"You sign as <b>{escape(identity.name)}</b> ({who}).")

        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.criteria_table = QTableWidget(0, 4)
        self.criteria_table.setHorizontalHeaderLabels(["result", "criterion", "value", "rule"])
        self.criteria_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.criteria_table.verticalHeader().setVisible(False)
        self.criteria_table.verticalHeader().setDefaultSectionSize(24)
        self.criteria_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.criteria_table.horizontalHeader().setStretchLastSection(True)
        self.criteria_table.setMinimumHeight(150)
        self.digest = QLabel()
        self.digest.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.digest.setWordWrap(True)
        gate_box = QGroupBox("Gate evidence")
        gate_layout = QVBoxLayout(gate_box)
        gate_layout.addWidget(self.verdict)
        gate_layout.addWidget(self.criteria_table)
        gate_layout.addWidget(self.digest)

        self.comment = free_text(
            "Why you decide this way (stored verbatim in the signed record)", 80
        )
        comment_box = QGroupBox("Comment")
        QVBoxLayout(comment_box).addWidget(self.comment)

        self.record_button = self.ok_button
        self.lay_out(
            self.heading,
            self.signer_line,
            self.banner,
            self.busy,
            (gate_box, 1),
            comment_box,
        )
        runner.task_finished.connect(self._on_runner_task_finished)
        if self._blocked():
            self.banner.show_message(verified_refusal(entry.name, identity))
        self._start_gate()

    # -- the gate ----------------------------------------------------------------------

    def _start_gate(self) -> None:
        entry, champion, challenger = self.entry, self.champion, self.challenger
        self.verdict.setText("Running the promotion gate on the shadow period…")
        self.busy.start(f"Gate: version {challenger} against version {champion}")

        def work(progress, cancelled):
            return run_gate(entry, champion, challenger, progress, cancelled)

        self.runner.run(
            GATE_KEY,
            work,
            label=f"Gate of {entry.name} v{challenger}",
            on_result=self._on_gate_result,
            on_error=self._on_gate_error,
        )

    def _on_gate_result(self, gate: Any) -> None:
        self.gate = gate
        self.evidence = gate.to_evidence()
        self._show_criteria(gate)
        failed = [c.id for c in gate.failed]
        n = len(gate.criteria)
        if not failed:
            self.verdict.setText(
                f"<b style='color:{tone('ok')}'>The gate passes</b>: all {n} criteria."
            )
        else:
            self.verdict.setText(
                f"<b style='color:{tone('error')}'>The gate fails</b> "
                f"{len(failed)} of {n} criteria: "
                f"{escape(', '.join(failed))}."
            )
            if self.decision == "approve" and not self._blocked():
                self.banner.show_message(
                    "The gate fails. You may still approve: the record carries this evidence "
                    "and your comment, so say why you override it.",
                    "warning",
                )
        self.digest.setText(f"Evidence digest: <tt>{self.evidence.digest}</tt>")
        self.update_button()

    def _show_criteria(self, gate: Any) -> None:
        frame = criteria_frame(gate)
        table = self.criteria_table
        table.setRowCount(len(frame))
        for row, (criterion, values) in enumerate(
            zip(gate.criteria, frame.itertuples(), strict=True)
        ):
            for col, text in enumerate(values[1:]):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setForeground(QColor(tone("ok" if criterion.passed else "error")))
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                detail = ", ".join(f"{k}={v}" for k, v in criterion.detail.items())
                item.setToolTip(f"{criterion.id}: {detail}" if detail else criterion.id)
                table.setItem(row, col, item)
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)

    def _on_gate_error(self, message: str) -> None:
        self.verdict.setText("")
        self.banner.show_message(
            f"<b>The gate could not be run.</b> {escape(message)}<br>Nothing can be recorded "
            "without its evidence; check the spec's telemetry and the versions, then reopen."
        )

    # -- recording ---------------------------------------------------------------------

    def ready(self) -> bool:
        return self.evidence is not None and not self._blocked()

    def _blocked(self) -> bool:
        return self.require_verified and not self.identity.verified

    def accept(self) -> None:
        """Record the decision in the TaskRunner; the dialog closes once it is stored."""
        if self._blocked():
            self.banner.show_message(verified_refusal(self.entry.name, self.identity))
            return
        if self.evidence is None or self.writing:
            return
        target, entry, version = self.target, self.entry, self.challenger
        decision = self.decision
        evidence = dict(self.evidence.document)
        policy = dict(self.gate.policy)
        comment = self.comment.toPlainText()

        def work(progress, cancelled):
            return record_decision(
                target,
                entry,
                version,
                decision=decision,
                evidence=evidence,
                policy=policy,
                comment=comment,
            )

        self.start_write(
            work,
            label=f"Record the {decision} of {entry.name} v{version}",
            busy_text="Signing and recording…",
        )

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        if key == GATE_KEY and not set(self.runner.active()) & {GATE_KEY, WRITE_KEY}:
            self.busy.stop()

    def done(self, result: int) -> None:
        """Closing stops the gate; a write in flight finishes (it is one short transaction)."""
        self.runner.cancel(GATE_KEY)
        super().done(result)
