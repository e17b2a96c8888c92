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

from html import escape
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from watchkeeper.app.dialogs.decision import verified_refusal
from watchkeeper.app.dialogs.write import RecordingDialog, form, free_text
from watchkeeper.app.panels.governance_work import (
    REASON_LABELS,
    GovernanceTarget,
    RollbackOutcome,
    roll_back,
)
from watchkeeper.app.workers import TaskRunner

__all__ = ["RollbackDialog"]


class RollbackDialog(RecordingDialog):
    """Choose from/to versions and the reason; record, move the alias, record the result."""

    # recorded: the RollbackOutcome, whether the move succeeded or not

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
        self.offline = bool(getattr(target, "offline", False))
        ok_text = "Sign into the outbox" if self.offline else "Sign and roll back"
        super().__init__(runner, target, ok_text, parent)
        self.entry = entry
        self.identity = identity
        self.require_verified = require_verified
        self.outcome: RollbackOutcome | None = None
        self.setWindowTitle(f"Roll back {entry.name}")
        self.setMinimumWidth(560)

        versions = [v.version for v in entry.versions]
        self.heading = QLabel(
            f"<b>Roll back {escape(entry.name)}</b>: move its <tt>champion</tt> alias back to "
            f"another version. The decision is signed as <b>{escape(identity.name)}</b> "
            f"({'verified' if identity.verified else 'local, unverified'})."
        )
        if self.offline:
            self.heading.setText(
                f"<b>Roll back {escape(entry.name)}</b> — offline, on a frozen bundle: the "
                f"decision is signed as <b>{escape(identity.name)}</b> and added to the "
                "bundle's outbox. <b>The champion alias does not move now</b>: syncing the "
                "outbox records the decision in the shared database (not yet applied), and "
                "the alias moves when the rollback is applied against the live registry."
            )
        self.heading.setWordWrap(True)
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
        self.reason_edit = free_text("What happened and why rolling back is the remedy", 90)
        fields = form(
            ("From", self.from_combo),
            ("To", self.to_combo),
            ("Reason class", self.reason_combo),
            ("Incident", self.incident_edit),
            ("Reason", self.reason_edit),
        )

        self.rollback_button = self.ok_button
        self.lay_out(self.heading, self.banner, (fields, 1), self.busy)
        if self._blocked():
            self.banner.show_message(verified_refusal(entry.name, identity))
        if not self._can_move():
            self.banner.show_message(
                "No model registry is configured for this connection, so the alias cannot be "
                "moved. Choose a profile with a registry (File → Connect…)."
            )

    def ready(self) -> bool:
        return not self._blocked() and self._can_move()

    def _blocked(self) -> bool:
        return self.require_verified and not self.identity.verified

    def _can_move(self) -> bool:
        # Offline, the rollback is a decision in the outbox: no registry is needed.
        return bool(self.target.registry_uri or self.offline)

    def accept(self) -> None:
        """Record and apply the rollback in the TaskRunner."""
        if self.outcome is not None:  # already recorded: the button now says Close
            super().accept()
            return
        if self._blocked():
            self.banner.show_message(verified_refusal(self.entry.name, self.identity))
            return
        if self.writing or not self._can_move():
            return
        from_v, to_v = self.from_combo.currentData(), self.to_combo.currentData()
        if from_v == to_v:
            self.banner.show_message("Choose a different version to roll back to.")
            return
        busy_text = (
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

        self.start_write(
            work,
            label=f"Roll back {entry.name} to v{to_v}",
            busy_text=busy_text,
            on_result=self._on_result,
            on_error=self._on_error,
        )

    def _on_result(self, outcome: RollbackOutcome) -> None:
        self.outcome = outcome
        self.recorded.emit(outcome)
        if outcome.succeeded:
            super().accept()
            return
        # The decision and its failed application are on record: no second decision here.
        self.banner.show_message(
            "<b>The alias was not moved.</b> "
            f"{escape(outcome.error or '')}<br>Your decision is recorded, and so is this "
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
        self.banner.show_message(
            f"<b>The rollback did not complete.</b> {escape(message)} "
            "(Refresh shows what was recorded.)"
        )


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if str(version).isdigit() else (1 << 30, str(version))
