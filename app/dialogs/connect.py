"""Sign in: choose a connection profile (or the workspace's own files), connect, see who you are.

A profile (:class:`~watchkeeper.core.registry.profiles.ProfileStore`) names a registry and
a shared governance database, never a secret. The dialog asks for what the profile needs —
the database password, the registry password or token — pre-filled from the OS keyring
when remembered there, and connects in the TaskRunner: the governance database says who you
are (a PostgreSQL role, verified by the server, or your OS login on SQLite, unverified).

Besides profiles, "A database URL…" takes a SQLAlchemy URL typed in (a colleague's SQLite
file, a PostgreSQL database with no profile yet) — what syncing a bundle's outbox needs.

Remembering a secret is offered, never done silently: when the only keyring available keeps
secrets in plain text (:func:`~watchkeeper.core.registry.profiles.keyring_status`), the
dialog says so, the box is unticked, and ticking it is the user's consent.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.panels.governance_work import GovernanceTarget
from watchkeeper.app.theme import mute, tone
from watchkeeper.app.workers import TaskRunner

__all__ = ["ConnectDialog", "connect_target"]

CONNECT_KEY = "connect"
#: The profile combo's entry for a database URL typed in the dialog.
URL_CHOICE = "url"


def _with_password(url: str, password: str) -> str:
    import sqlalchemy as sa

    from watchkeeper.core.governance.db import normalize_url

    url = normalize_url(url)
    if not password:
        return url
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


def _is_server(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql", "postgres:"))


def connect_target(
    target: GovernanceTarget,
    *,
    remember: dict[str, str] | None = None,
    profile: str | None = None,
    allow_plaintext: bool = False,
    progress: Any = None,
    cancelled: Any = None,
) -> tuple[GovernanceTarget, Any, str | None]:
    """Open the governance database to learn the identity; store secrets if asked.

    Returns ``(target, identity, note)``; ``note`` says what was (not) remembered. Runs on
    a worker thread (keyring access may block on a desktop prompt).
    """
    from watchkeeper.core.errors import WatchkeeperError

    store = target.open_store()
    try:
        identity = store.identity
    finally:
        store.close()
    note = None
    if remember and profile:
        from watchkeeper.core.registry.profiles import ProfileStore

        try:
            for kind, value in remember.items():
                ProfileStore().set_secret(profile, kind, value, allow_plaintext=allow_plaintext)
            note = "Remembered in the keyring."
        except WatchkeeperError as exc:
            note = f"Not remembered: {exc}"
    return target, identity, note


class ConnectDialog(QDialog):
    """Choose where decisions are recorded and sign in; ``target``/``identity`` on accept."""

    connected = Signal(object, object)  # GovernanceTarget, Identity

    def __init__(
        self,
        runner: TaskRunner,
        workspace: Path | None,
        *,
        profiles: Any = None,  # ProfileStore; default: the user's
        intro: str | None = None,
        signer: Any = None,  # Signer replacing the keyring's key (tests, demos)
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.registry.profiles import ProfileStore, keyring_status

        self.runner = runner
        self.workspace = workspace
        self.profiles = profiles if profiles is not None else ProfileStore()
        self.target: GovernanceTarget | None = None
        self.identity: Any = None
        self.signer = signer
        self.setWindowTitle("Connect and sign in")
        self.setMinimumWidth(620)

        self.intro = QLabel(
            intro
            or "Choose where decisions are recorded and sign in. A PostgreSQL database "
            "verifies who you are; the workspace's own SQLite file records your OS login, "
            "unverified."
        )
        self.intro.setWordWrap(True)
        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.profile_combo = QComboBox()
        if workspace is not None:
            self.profile_combo.addItem(f"Workspace defaults ({workspace.name})", None)
        try:
            listed = self.profiles.list()
        except WatchkeeperError as exc:
            listed = []
            self.banner.show_message(f"The connection profiles could not be read: {exc}")
        for p in listed:
            self.profile_combo.addItem(p.display_name, p)
        self.profile_combo.addItem("A database URL…", URL_CHOICE)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText(
            "sqlite:////path/to/governance.db or postgresql+psycopg://role@host/db"
        )
        self.url_edit.textChanged.connect(self._on_url_edited)
        self.where = QLabel()
        self.where.setWordWrap(True)
        mute(self.where)
        self.db_password = QLineEdit()
        self.db_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.db_password.setPlaceholderText("password of your PostgreSQL role")
        self.registry_secret = QLineEdit()
        self.registry_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("Remember in the OS keyring")
        self.keyring = keyring_status()
        self.keyring_label = QLabel()
        self.keyring_label.setWordWrap(True)
        if not self.keyring.usable:
            self.remember.setEnabled(False)
            self.keyring_label.setText(escape(self.keyring.message))
        elif self.keyring.plaintext:
            self.remember.setText("Remember in the plain-text keyring (not encrypted)")
            self.keyring_label.setText(
                f"<b>Warning:</b> {escape(self.keyring.message)}. Passwords are remembered "
                "there only if you tick the box."
            )
            self.keyring_label.setStyleSheet(f"color:{tone('warning')};")
        else:
            self.remember.setChecked(True)
            self.keyring_label.setText(escape(self.keyring.message))
        if not self.keyring_label.styleSheet():
            mute(self.keyring_label)
        self.connect_button = QPushButton("Connect")
        self.identity_label = QLabel("Not connected.")
        self.identity_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Profile", self.profile_combo)
        self.url_label = QLabel("Database URL")
        form.addRow(self.url_label, self.url_edit)
        form.addRow("", self.where)
        form.addRow("Database password", self.db_password)
        self.registry_secret_label = QLabel("Registry password")
        form.addRow(self.registry_secret_label, self.registry_secret)
        form.addRow("", self.remember)
        form.addRow("", self.keyring_label)
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addWidget(self.identity_label, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton(
            "Use this connection", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.use_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.banner)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.busy)
        layout.addWidget(self.buttons)

        self.profile_combo.currentIndexChanged.connect(self._on_profile_changed)
        self.connect_button.clicked.connect(self.connect_now)
        self._on_profile_changed()

    # -- choosing ------------------------------------------------------------------------

    def profile(self) -> Any:
        return self.profile_combo.currentData()

    def _on_profile_changed(self, *_args: Any) -> None:
        from watchkeeper.core.governance.db import masked

        self.target = self.identity = None
        self.use_button.setEnabled(False)
        self.identity_label.setText("Not connected.")
        self.banner.clear_message()
        p = self.profile()
        by_url = p == URL_CHOICE
        self.url_edit.setVisible(by_url)
        self.url_label.setVisible(by_url)
        if by_url:
            self.where.setText("A shared governance database by its SQLAlchemy URL.")
            self.db_password.setEnabled(_is_server(self.url_edit.text()))
            self.registry_secret.setEnabled(False)
            self.remember.setVisible(False)
            self.keyring_label.setVisible(False)
            self.adjustSize()
            return
        if p is None:
            ws = self.workspace
            self.where.setText(
                f"Governance: {escape(str(ws / 'governance.db'))}<br>"
                f"Registry: {escape(str(ws / 'registry' / 'mlflow.db'))}"
                if ws is not None
                else ""
            )
            self.db_password.setEnabled(False)
            self.registry_secret.setEnabled(False)
            self.remember.setVisible(False)
            self.keyring_label.setVisible(False)
            self.adjustSize()
            return
        db_text = masked(p.shared_db_url) if p.shared_db_url else "none (add one to the profile)"
        self.where.setText(
            f"Governance: {escape(db_text)}<br>Registry: {escape(p.registry_uri or 'none')} "
            f"({p.registry_auth})"
        )
        self.db_password.setEnabled(_is_server(p.shared_db_url))
        needs_secret = p.registry_auth != "none"
        self.registry_secret.setEnabled(needs_secret)
        self.registry_secret_label.setText(
            "Registry token" if p.registry_auth == "token" else "Registry password"
        )
        self.remember.setVisible(True)
        self.keyring_label.setVisible(True)
        for edit, kind in (
            (self.db_password, "database-password"),
            (self.registry_secret, self._registry_kind(p)),
        ):
            edit.clear()
            if edit.isEnabled() and kind:
                try:
                    stored = self.profiles.get_secret(p.name, kind)
                except Exception:  # a locked or broken keyring: the user types it
                    stored = None
                if stored:
                    edit.setText(stored)
                    edit.setToolTip("Remembered in the keyring")
        self.adjustSize()

    def _on_url_edited(self, text: str) -> None:
        self.target = self.identity = None
        self.use_button.setEnabled(False)
        self.identity_label.setText("Not connected.")
        self.db_password.setEnabled(_is_server(text))

    @staticmethod
    def _registry_kind(p: Any) -> str | None:
        return {"basic": "registry-password", "token": "registry-token"}.get(p.registry_auth)

    # -- connecting ----------------------------------------------------------------------

    def _target(self) -> GovernanceTarget | None:
        from watchkeeper.core.registry.credentials import Credentials

        p = self.profile()
        if p == URL_CHOICE:
            from watchkeeper.core.errors import WatchkeeperError
            from watchkeeper.core.governance.db import masked

            url = self.url_edit.text().strip()
            if not url:
                self.banner.show_message("Type the database's SQLAlchemy URL.")
                return None
            try:
                full = _with_password(url, self.db_password.text())
            except (WatchkeeperError, ValueError, Exception) as exc:  # sa.exc.ArgumentError
                self.banner.show_message(f"Not a database URL: {escape(str(exc))}")
                return None
            return GovernanceTarget(database_url=full, signer=self.signer, label=masked(full))
        if p is None:
            if self.workspace is None:
                self.banner.show_message("No workspace is open; choose a profile.")
                return None
            return GovernanceTarget.from_workspace(self.workspace, signer=self.signer)
        if not p.shared_db_url:
            self.banner.show_message(
                f"Profile {escape(p.display_name)} names no shared governance database; "
                "add <tt>shared_db_url</tt> to it (watchkeeper registry profile …)."
            )
            return None
        secret = self.registry_secret.text()
        credentials = None
        if p.registry_auth == "token":
            credentials = Credentials(username=p.registry_username, token=secret)
        elif p.registry_auth == "basic":
            credentials = Credentials(username=p.registry_username, password=secret)
        return GovernanceTarget(
            database_url=_with_password(p.shared_db_url, self.db_password.text()),
            registry_uri=p.registry_uri,
            registry_credentials=credentials,
            signer=self.signer,
            label=p.display_name,
        )

    def connect_now(self) -> None:
        """Connect in the TaskRunner; the identity shows when the database answers."""
        target = self._target()
        if target is None:
            return
        p = self.profile()
        remember: dict[str, str] = {}
        if p not in (None, URL_CHOICE) and self.remember.isVisible() and self.remember.isChecked():
            if self.db_password.isEnabled() and self.db_password.text():
                remember["database-password"] = self.db_password.text()
            kind = self._registry_kind(p)
            if kind and self.registry_secret.text():
                remember[kind] = self.registry_secret.text()
        plaintext_ok = self.keyring.plaintext and self.remember.isChecked()
        name = p.name if p is not None and p != URL_CHOICE else None
        self.banner.clear_message()
        self.connect_button.setEnabled(False)
        self.busy.start("Connecting…")

        def work(progress, cancelled):
            return connect_target(
                target, remember=remember, profile=name, allow_plaintext=plaintext_ok
            )

        self.runner.run(
            CONNECT_KEY,
            work,
            label="Connect to the governance database",
            on_result=self._on_connected,
            on_error=self._on_error,
        )

    def _on_connected(self, result: tuple[GovernanceTarget, Any, str | None]) -> None:
        target, identity, note = result
        self.busy.stop()
        self.connect_button.setEnabled(True)
        self.target, self.identity = target, identity
        if identity.verified:
            how = f"<span style='color:{tone('ok')}'>verified</span> (PostgreSQL role)"
        else:
            how = (
                f"<span style='color:{tone('warning')}'>local, unverified</span>"
                " (OS login on SQLite)"
            )
        self.identity_label.setText(f"Signed in as <b>{escape(identity.name)}</b> — {how}")
        if note:
            level = "info" if note.startswith("Remembered") else "warning"
            self.banner.show_message(escape(note), level)
        self.use_button.setEnabled(True)
        self.connected.emit(target, identity)

    def _on_error(self, message: str) -> None:
        self.busy.stop()
        self.connect_button.setEnabled(True)
        self.identity_label.setText("Not connected.")
        self.banner.show_message(
            f"<b>Could not connect.</b> {escape(message)}<br>Check the password and the "
            "profile's addresses, then Connect again."
        )

    def accept(self) -> None:
        if self.target is None:
            return
        super().accept()
