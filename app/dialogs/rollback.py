"""Roll back: record the decision, move ``champion`` through the guarded move, record the result.

The user chooses the versions (from: where ``champion`` is now; to: the version to go back
to), the reason class, the incident reference and a text. "Roll back" runs in the
TaskRunner: the signed decision first, then :func:`~watchkeeper.core.registry.aliases.
move_alias` (which refuses if someone else moved the alias since), then the signed
application record — succeeded, or failed with the registry's message. A failure stays in
the dialog: the decision and its failed application are on record, and the message says
what to check before deciding again.

On an offline bundle (``target.offline``) no alias can move: "Sign into the outbox" writes
the signed decision to the bundle's outbox; syncing records it in the shared database as
not yet applied (as ``core/bundle/sync.py`` does), and the alias moves when it is applied.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.dialogs.decision import INTERRUPTED_WRITE, WRITE_KEY, _escape, verified_refusal
from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.panels.governance_work import (
    REASON_LABELS,
    GovernanceTarget,
    RollbackOutcome,
    roll_back,
)
from watchkeeper.app.workers import TaskRunner
from watchkeeper.widgets.text_box import TextBox

__all__ = ["RollbackDialog"]


class RollbackDialog(QDialog):
    """Choose from/to versions and the reason; record, move the alias, record the result."""

    recorded = Signal(object)  # RollbackOutcome, whether the move succeeded or not

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget,
        entry: Any,
        *,
        champion: str | None,
        identity: Any,
        require_verified: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.target = target
        self.entry = entry
        self.identity = identity
        self.require_verified = require_verified
        self.outcome: RollbackOutcome | None = None
        self._writing = False
        self.setWindowTitle(f"Roll back {entry.name}")
        self.setMinimumWidth(560)

        versions = [v.version for v in entry.versions]
        self.heading = QLabel(
            f"<b>Roll back {_escape(entry.name)}</b>: move its <tt>champion</tt> alias back to "
            f"another version. The decision is signed as <b>{_escape(identity.name)}</b> "
            f"({'verified' if identity.verified else 'local, unverified'})."
        )
        self.offline = bool(getattr(target, "offline", False))
        if self.offline:
            self.heading.setText(
                f"<b>Roll back {_escape(entry.name)}</b> — offline, on a frozen bundle: the "
                f"decision is signed as <b>{_escape(identity.name)}</b> and added to the "
                "bundle's outbox. <b>The champion alias does not move now</b>: syncing the "
                "outbox records the decision in the shared database (not yet applied), and "
                "the alias moves when the rollback is applied against the live registry."
            )
        self.heading.setWordWrap(True)
        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.from_combo = QComboBox()
        self.to_combo = QComboBox()
        for v in versions:
            label = f"version {v}" + (" (champion now)" if v == champion else "")
            self.from_combo.addItem(label, v)
            self.to_combo.addItem(f"version {v}", v)
        if champion in versions:
            self.from_combo.setCurrentIndex(versions.index(champion))
            earlier = [v for v in versions if v != champion]
            if earlier:
                below = [v for v in earlier if _order(v) < _order(champion)]
                self.to_combo.setCurrentIndex(versions.index((below or earlier)[-1]))
        self.reason_combo = QComboBox()
        for value, label in REASON_LABELS.items():
            self.reason_combo.addItem(label, value)
        self.incident_edit = QLineEdit()
        self.incident_edit.setPlaceholderText("e.g. INC-1042 (optional)")
        self.reason_edit = TextBox()
        self.reason_edit.setPlaceholderText("What happened and why rolling back is the remedy")
        self.reason_edit.setMinimumHeight(90)
        form = QFormLayout()
        form.addRow("From", self.from_combo)
        form.addRow("To", self.to_combo)
        form.addRow("Reason class", self.reason_combo)
        form.addRow("Incident", self.incident_edit)
        form.addRow("Reason", self.reason_edit)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.rollback_button = self.buttons.addButton(
            "Sign into the outbox" if self.offline else "Sign and roll back",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.banner)
        layout.addLayout(form, 1)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)
        runner.task_finished.connect(self._on_runner_task_finished)
        if self._blocked():
            self.banner.show_message(verified_refusal(entry.name, identity))
            self.rollback_button.setEnabled(False)
        if not target.registry_uri and not self.offline:
            self.banner.show_message(
                "No model registry is configured for this connection, so the alias cannot be "
                "moved. Choose a profile with a registry (File → Connect…)."
            )
            self.rollback_button.setEnabled(False)

    def _blocked(self) -> bool:
        return self.require_verified and not self.identity.verified

    def accept(self) -> None:
        """Record and apply the rollback in the TaskRunner."""
        if self.outcome is not None:  # already recorded: the button now says Close
            super().accept()
            return
        if self._blocked():
            self.banner.show_message(verified_refusal(self.entry.name, self.identity))
            return
        if self._writing or not (self.target.registry_uri or self.offline):
            return
        from_v, to_v = self.from_combo.currentData(), self.to_combo.currentData()
        if from_v == to_v:
            self.banner.show_message("Choose a different version to roll back to.")
            return
        self._writing = True
        self.rollback_button.setEnabled(False)
        self.busy.start(
            f"Signing the rollback from version {from_v} to {to_v} into the outbox…"
            if self.offline
            else f"Recording and moving champion from version {from_v} to {to_v}…"
        )
        target, entry = self.target, self.entry
        values = {
            "from_version": from_v,
            "to_version": to_v,
            "reason_class": self.reason_combo.currentData(),
            "incident_ref": self.incident_edit.text(),
            "reason": self.reason_edit.toPlainText(),
        }

        def work(progress, cancelled):
            return roll_back(target, entry, **values)

        self.runner.run(
            WRITE_KEY,
            work,
            label=f"Roll back {entry.name} to v{to_v}",
            on_result=self._on_result,
            on_error=self._on_error,
        )

    def _on_result(self, outcome: RollbackOutcome) -> None:
        self._writing = False
        self.busy.stop()
        self.outcome = outcome
        self.recorded.emit(outcome)
        if outcome.succeeded:
            super().accept()
            return
        # The decision and its failed application are on record: no second decision here.
        self.banner.show_message(
            "<b>The alias was not moved.</b> "
            f"{_escape(outcome.error or '')}<br>Your decision is recorded, and so is this "
            "failed application. Check where <tt>champion</tt> points now (Refresh) before "
            "deciding again."
        )
        for w in (self.from_combo, self.to_combo, self.reason_combo, self.incident_edit):
            w.setEnabled(False)
        self.reason_edit.setReadOnly(True)
        self.rollback_button.setText("Close")
        self.rollback_button.setEnabled(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setVisible(False)

    def _on_error(self, message: str) -> None:
        self._writing = False
        self.busy.stop()
        self.banner.show_message(
            f"<b>The rollback did not complete.</b> {_escape(message)} "
            "(Refresh shows what was recorded.)"
        )
        self.rollback_button.setEnabled(True)

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        if key == WRITE_KEY and outcome == "cancelled" and self._writing:
            self._writing = False
            self.busy.stop()
            self.banner.show_message(INTERRUPTED_WRITE)
            self.rollback_button.setEnabled(True)


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if str(version).isdigit() else (1 << 30, str(version))
