"""The Governance view: decisions, rollbacks, the model card, incident notes and the audit log.

For the portfolio's selected model version it shows who you are signed in as (a verified
PostgreSQL role or a local, unverified OS login), the model's decisions, its incident
notes, the version's model card with its history, and the audit log. Approve / Reject,
Roll back and Add note open dialogs (``app/dialogs/``) that write through the TaskRunner;
the card is edited in place and saved with optimistic concurrency — on a conflict both
versions stay on screen and the editor keeps yours. Verify re-checks the whole audit chain
in the background and names the first broken record.

On an offline bundle (a :class:`~.governance_work.BundleTarget`) the records are the ones
frozen in the bundle, every write becomes a signed entry in the bundle's outbox, the
Outbox box lists those entries (pending or synced) in place of the audit log, and
“Sync outbox…” asks the window to push them to a shared database.

All reading and writing runs in :mod:`.governance_work` on the TaskRunner; this module only
draws the :class:`~.governance_work.GovernanceState` and turns clicks into requests. The
panel composes a :class:`~.records_box.RecordsBox` (decisions, notes), a
:class:`~.card_editor.CardEditorWidget` (whose draft is a Qt-free
:class:`~.card_draft.CardDraft`) and a :class:`~.records_box.LedgerBox` (audit log or
outbox); the texts they show are built in :mod:`.governance_records`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.card_editor import CardEditorWidget
from watchkeeper.app.panels.common import BusyLine, DeferredPanel, MessageBanner, PanelTask
from watchkeeper.app.panels.governance_records import is_outbox_entry, version_label
from watchkeeper.app.panels.governance_work import (
    CardSave,
    GovernanceState,
    GovernanceTarget,
    GovernanceView,
    load_governance,
    save_card,
    verify,
)
from watchkeeper.app.panels.records_box import LedgerBox, RecordsBox
from watchkeeper.app.theme import badge, tone
from watchkeeper.app.workers import TaskRunner

__all__ = ["GovernancePanel", "make_governance_panel"]

LOAD_KEY = "governance"
CARD_KEY = "governance.card"
VERIFY_KEY = "governance.verify"
_APPROVE_TIP = "Run the promotion gate and sign an approval of the challenger as champion"
_REJECT_TIP = "Run the promotion gate and sign a rejection of the challenger"


def make_governance_panel(
    runner: TaskRunner,
    workspace: Path | None = None,
    *,
    target: GovernanceTarget | None = None,
    parent: QWidget | None = None,
) -> GovernancePanel:
    """The Governance view over ``target``, else the workspace's own governance database."""
    if target is None and workspace is not None:
        target = GovernanceTarget.from_workspace(workspace)
    return GovernancePanel(runner, target, parent=parent)


class GovernancePanel(DeferredPanel):
    """Decisions, rollbacks, card, notes and audit log of the selected model version."""

    view_loaded = Signal(object)  # GovernanceView, after it is drawn
    sync_requested = Signal()  # the user asked to sync the bundle's outbox
    verified = Signal(object)  # AuditReport, after it is shown
    card_saved = Signal(object)  # CardSave (saved or conflict), after it is shown

    def __init__(
        self,
        runner: TaskRunner,
        target: GovernanceTarget | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.target = target
        self.state = GovernanceState()
        self._entry: Any = None
        self.dialog: QDialog | None = None  # the decision/rollback/note dialog that is open
        self.busy = BusyLine()
        self.banner = MessageBanner()
        self.records = RecordsBox()
        self.card_editor = CardEditorWidget()
        self.ledger = LedgerBox()
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_header())
        layout.addWidget(self.busy)
        layout.addWidget(self.banner)
        layout.addWidget(self._arrange(), 1)

        self.task = PanelTask(runner, LOAD_KEY, self.state, self.busy)
        self.state.subscribe(self._on_state_changed)
        runner.task_finished.connect(self._on_runner_task_finished)
        self.card_editor.save_requested.connect(self.save_card)
        self.ledger.verify_requested.connect(self.verify)
        self.ledger.sync_requested.connect(self.sync_requested)
        self._show_identity()
        self._update_actions()

    def _build_header(self) -> QVBoxLayout:
        """What is shown, who you are, and the actions that write."""
        self.heading = QLabel("<b>Governance</b>")
        self.heading.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.identity_label = QLabel()
        self.identity_label.setWordWrap(True)
        self.identity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.approve_button = QPushButton("&Approve challenger…")
        self.reject_button = QPushButton("Re&ject challenger…")
        self.rollback_button = QPushButton("Roll &back…")
        self.note_button = QPushButton("Add incident &note…")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the governance database and the registry again")
        self.approve_button.clicked.connect(lambda: self.open_decision("approve"))
        self.reject_button.clicked.connect(lambda: self.open_decision("reject"))
        self.rollback_button.clicked.connect(self.open_rollback)
        self.note_button.clicked.connect(self.open_note)
        self.refresh_button.clicked.connect(self.refresh)
        bar = QHBoxLayout()
        for b in (self.approve_button, self.reject_button, self.rollback_button, self.note_button):
            bar.addWidget(b)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        header = QVBoxLayout()
        header.addWidget(self.heading)
        header.addWidget(self.identity_label)
        header.addLayout(bar)
        return header

    def _arrange(self) -> QSplitter:
        """Records | card above the audit log; the splitters' names key their saved sizes."""
        self.upper = QSplitter(Qt.Orientation.Horizontal)
        self.upper.setObjectName("governance_upper_splitter")
        self.upper.addWidget(self.records)
        self.upper.addWidget(self.card_editor)
        self.upper.setStretchFactor(0, 3)
        self.upper.setStretchFactor(1, 2)
        self.upper.setSizes([640, 440])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("governance_splitter")
        self.splitter.addWidget(self.upper)
        self.splitter.addWidget(self.ledger)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([520, 260])
        return self.splitter

    # -- intent ------------------------------------------------------------------------

    def set_target(self, target: GovernanceTarget | None) -> None:
        """Write to another database/registry (after File → Connect…) and read it."""
        self.target = target
        self.state.set(view=None, report=None, verify_status="idle")
        self.refresh()

    def set_selection(self, entry: Any, version: str | None) -> None:
        """Follow the portfolio's selection."""
        self._entry = entry
        if entry is None or version is None:
            self.task.cancel()
            self.state.set(model=None, version=None, view=None, status="idle")
            return
        if (entry.name, str(version)) != (self.state.model, self.state.version):
            self.state.set(model=entry.name, version=str(version), view=None, notice=None)
        self.run_when_shown(self.refresh)

    def refresh(self) -> None:
        """Read the records and aliases again (in the TaskRunner)."""
        entry, version, target = self._entry, self.state.version, self.target
        if entry is None or version is None:
            return
        if target is None:
            self.state.set(
                status="failed",
                error="no governance database: connect to one (File → Connect…)",
            )
            return

        def work(progress, cancelled):
            return load_governance(target, entry, version, progress, cancelled)

        self.task.start(work, f"Governance of {entry.name} v{version}", self._on_view)

    def verify(self) -> None:
        """Check the audit chain and every signature (in the TaskRunner)."""
        target = self.target
        if target is None or getattr(target, "offline", False):
            return  # a bundle's signature and digests were checked when it was opened
        self.state.set(verify_status="running", report=None)

        def work(progress, cancelled):
            return verify(target, progress, cancelled)

        self.runner.run(
            VERIFY_KEY,
            work,
            label="Verify the audit log",
            on_result=lambda report: self.state.set(
                report=report, verify_status="ok" if report.ok else "broken"
            ),
            on_error=self._on_verify_error,
        )

    def save_card(self) -> None:
        """Save the editor's card as a new revision over the one it was edited from."""
        from watchkeeper.core.errors import WatchkeeperError

        editor, draft = self.card_editor, self.card_editor.draft
        if draft.key is None or self.target is None:
            return
        try:
            content = draft.content()
        except WatchkeeperError as exc:
            editor.banner.show_message(str(exc))
            return
        editor.banner.clear_message()
        model, version = draft.key
        target, base = self.target, draft.base
        editor.save_button.setEnabled(False)

        def work(progress, cancelled):
            return save_card(target, model, version, content, base)

        self.runner.run(
            CARD_KEY,
            work,
            label=f"Save the model card of {model} v{version}",
            on_result=self._on_card_saved,
            on_error=editor.show_error,
        )

    # -- dialogs -----------------------------------------------------------------------

    def open_decision(self, decision: str) -> QDialog | None:
        from watchkeeper.app.dialogs.decision import DecisionDialog

        view = self.state.view
        if view is None or self.target is None or not view.challenger or not view.champion:
            return None
        dialog = DecisionDialog(
            self.runner,
            self.target,
            self._entry,
            champion=view.champion,
            challenger=view.challenger,
            identity=view.identity,
            require_verified=view.require_verified and not view.offline,
            decision=decision,
            parent=self,
        )
        dialog.recorded.connect(self._on_approval_recorded)
        return self._show_dialog(dialog)

    def open_rollback(self) -> QDialog | None:
        from watchkeeper.app.dialogs.rollback import RollbackDialog

        view = self.state.view
        if view is None or self.target is None:
            return None
        dialog = RollbackDialog(
            self.runner,
            self.target,
            self._entry,
            champion=view.champion,
            identity=view.identity,
            require_verified=view.require_verified and not view.offline,
            parent=self,
        )
        dialog.recorded.connect(self._on_rollback_recorded)
        return self._show_dialog(dialog)

    def open_note(self) -> QDialog | None:
        from watchkeeper.app.dialogs.note import IncidentNoteDialog

        view = self.state.view
        if view is None or self.target is None:
            return None
        dialog = IncidentNoteDialog(self.runner, self.target, view.model, parent=self)
        dialog.recorded.connect(self._on_note_recorded)
        return self._show_dialog(dialog)

    def _show_dialog(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()  # window-modal, not a nested event loop
        return dialog

    def _on_note_recorded(self, note: Any) -> None:
        if is_outbox_entry(note):
            title = note.payload.get("title", "")
            self._after_write(
                "info",
                f"Incident note “{escape(title)}” signed and added to the bundle's outbox "
                f"(entry {note.id[:8]}); it reaches the shared database when you sync.",
            )
            return
        self._after_write("info", f"Incident note “{escape(note.title)}” added.")

    def _on_approval_recorded(self, approval: Any) -> None:
        if is_outbox_entry(approval):
            p = approval.payload
            verb = "Approval" if p.get("decision") == "approve" else "Rejection"
            self._after_write(
                "info",
                f"{verb} of version {p.get('model_version')} as {p.get('role')} signed as "
                f"{escape(approval.author)} and added to the bundle's outbox (entry "
                f"{approval.id[:8]}); it is recorded when you sync the outbox.",
            )
            return
        verb = "Approved" if approval.decision == "approve" else "Rejected"
        self._after_write(
            "info",
            f"{verb} version {approval.model_version} as {approval.role}; signed as "
            f"{escape(approval.actor)} (evidence {approval.evidence_digest[:19]}…).",
        )

    def _on_rollback_recorded(self, outcome: Any) -> None:
        r = outcome.rollback
        if outcome.pending:
            p = r.payload
            self._after_write(
                "warning",
                f"<b>Rollback decision from version {p.get('from_version')} to "
                f"{p.get('to_version')} added to the bundle's outbox</b> (entry {r.id[:8]}). "
                "The champion alias has not moved: a bundle is offline. Syncing the outbox "
                "records the decision in the shared database, not yet applied; the alias "
                "moves when the rollback is applied against the live registry.",
            )
            return
        if outcome.succeeded:
            self._after_write(
                "info",
                f"Rolled back: champion moved from version {r.from_version} to "
                f"{r.to_version}; decision and application recorded.",
            )
        else:
            self._after_write(
                "error",
                f"<b>Rollback decision recorded, but the alias was not moved.</b> "
                f"{escape(outcome.error or '')} The failed application is recorded too.",
            )

    def _after_write(self, level: str, text: str) -> None:
        self.state.set(notice=(level, text))
        self.refresh()

    # -- results -----------------------------------------------------------------------

    def _on_view(self, view: GovernanceView) -> None:
        self.state.set(view=view, status="ready", error=None)
        self.view_loaded.emit(view)

    def _on_verify_error(self, message: str) -> None:
        self.state.set(verify_status="failed", report=None)
        self.ledger.show_verify_error(message)

    def _on_card_saved(self, outcome: CardSave) -> None:
        self.card_editor.show_save(outcome)
        self.card_saved.emit(outcome)
        if outcome.conflict is None:
            self.refresh()

    def _on_state_changed(self, changed: frozenset[str]) -> None:
        s = self.state
        if changed & {"view", "model", "version", "status"}:
            self._show_heading()
            self._show_identity()
            self._update_actions()
        if "view" in changed:
            self._show_view(s.view)
        if changed & {"status", "error", "notice"}:
            if s.status == "failed":
                self.banner.show_message(
                    f"<b>The governance records could not be read.</b> {escape(s.error or '')}"
                    "<br>Check the connection (File → Connect…), then press Refresh."
                )
            elif s.notice is not None:
                self.banner.show_message(s.notice[1], s.notice[0])
            else:
                self.banner.clear_message()
        if changed & {"report", "verify_status"}:
            self._show_report()

    def _show_heading(self) -> None:
        s, v = self.state, self.state.view
        if s.model is None:
            self.heading.setText("<b>Governance</b> — select a model in the portfolio.")
            return
        text = f"<b>{escape(s.model)}</b> version {s.version}"
        if v is not None:
            text += (
                f" · champion {version_label(v.champion)}"
                f" · challenger {version_label(v.challenger)}"
                f" <span style='color:{tone('muted')}'>(aliases from the {v.aliases_from})</span>"
            )
        self.heading.setText(text)

    def _show_identity(self) -> None:
        v = self.state.view
        if self.target is None:
            self.identity_label.setText("Not connected to a governance database.")
            return
        if v is None:
            self.identity_label.setText(
                f"Governance database: {escape(self.target.label)} — reading…"
                if self.state.status == "running"
                else f"Governance database: {escape(self.target.label)}"
            )
            return
        ident = v.identity
        if v.offline:
            key = (
                f"<br><span style='color:{tone('warning')}'>"
                f"Signing key: {escape(v.key_warning)}</span>"
                if v.key_warning
                else ""
            )
            self.identity_label.setText(
                f"{badge('offline', 'info')} "
                f"Working on {escape(v.database)}. Notes, card drafts and decisions are signed "
                f"as <b>{escape(ident.name)}</b> with your key and wait in the outbox until "
                f"you sync them (“Sync outbox…”).{key}"
            )
            return
        if ident.verified:
            mark = badge("verified", "ok")
            how = "PostgreSQL role, verified by the server"
        else:
            mark = badge("local", "warning")
            how = "OS login, unverified — a SQLite database cannot prove who you are"
        need = (
            " · <b>this model's spec requires a verified identity</b>" if v.require_verified else ""
        )
        key = (
            f"<br><span style='color:{tone('warning')}'>Signing key: {escape(v.key_warning)}</span>"
            if v.key_warning
            else ""
        )
        self.identity_label.setText(
            f"{mark} Signed in as <b>{escape(ident.name)}</b> ({how}) · "
            f"<span style='color:{tone('muted')}'>{escape(v.database)}</span>{need}{key}"
        )

    def _update_actions(self) -> None:
        v = self.state.view
        ready = v is not None and self.target is not None
        has_spec = self._entry is not None and getattr(self._entry, "spec", None) is not None
        can_decide = ready and has_spec and bool(v.challenger) and bool(v.champion)
        for b, tip in (
            (self.approve_button, _APPROVE_TIP),
            (self.reject_button, _REJECT_TIP),
        ):
            b.setEnabled(can_decide)
            b.setToolTip(
                tip
                if can_decide
                else "Needs a champion and a challenger alias and a loaded monitor spec"
            )
        self.rollback_button.setEnabled(ready and len(getattr(self._entry, "versions", ())) > 1)
        self.note_button.setEnabled(ready)
        self.card_editor.save_button.setEnabled(ready)
        offline = bool(getattr(self.target, "offline", False))
        self.ledger.set_offline(offline, can_verify=self.target is not None)
        self.rollback_button.setToolTip(
            "Sign a rollback decision into the bundle's outbox (no alias moves offline)"
            if offline
            else "Sign a rollback decision and move the champion alias (guarded move)"
        )
        self.card_editor.set_offline(offline)

    def _show_view(self, view: GovernanceView | None) -> None:
        self.records.show_view(view)
        self.ledger.show_view(view)
        if view is not None:
            self.card_editor.show_view(view)

    def _show_report(self) -> None:
        s = self.state
        can_verify = self.target is not None and not getattr(self.target, "offline", False)
        self.ledger.show_report(s.verify_status, s.report, can_verify=can_verify)
        if s.verify_status != "running" and s.report is not None:
            self.verified.emit(s.report)

    # -- handlers ----------------------------------------------------------------------

    def _on_runner_task_finished(self, key: str, outcome: str) -> None:
        if key == VERIFY_KEY and outcome == "cancelled" and self.state.verify_status == "running":
            self.state.set(verify_status="idle")
        if key == CARD_KEY and outcome != "done":
            self.card_editor.save_button.setEnabled(self.state.view is not None)
