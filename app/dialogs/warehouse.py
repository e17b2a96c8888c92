"""Connect to a Spark SQL warehouse (a Spark Thrift server or HiveServer2) and pick a table.

The fields are what a team's platform page lists: host, port, database, authentication
(PyHive's NONE, NOSASL, LDAP, KERBEROS), the user and, for LDAP, a password. Connect lists
the database's tables on the :class:`~watchkeeper.app.workers.TaskRunner` — the window
stays live while the server answers or the connect times out
(:data:`~watchkeeper.core.telemetry.warehouse.CONNECT_TIMEOUT_S`). Choosing a table gives
the telemetry ``source`` (``hive://user@host:port/db?auth=…#table``, never a password).

Saved as a connection profile, the address goes to ``profiles.json`` and the password to
the OS keyring only (asked, never silently; a plain-text keyring is named first), where the
reader finds it again when a spec names the same server, database and user.
"""

from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from watchkeeper.app.panels.common import BusyLine, MessageBanner
from watchkeeper.app.theme import mute, tone
from watchkeeper.app.workers import TaskRunner

__all__ = ["WarehouseDialog"]

LIST_KEY = "warehouse.tables"
NEW = "new"


class WarehouseDialog(QDialog):
    """Host, port, database and sign-in of a Spark/Hive server; its tables; one chosen.

    ``source`` holds the chosen table's telemetry source after Accept."""

    def __init__(
        self,
        runner: TaskRunner,
        *,
        profiles: Any = None,  # ProfileStore; default: the user's
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.registry.profiles import ProfileStore, keyring_status
        from watchkeeper.core.telemetry.warehouse import AUTH_MODES

        self.runner = runner
        self.profiles = profiles if profiles is not None else ProfileStore()
        self.source: str | None = None
        self._address: Any = None  # the WarehouseAddress whose tables are listed
        self.setWindowTitle("Connect to a Spark SQL warehouse")
        self.setMinimumWidth(620)

        intro = QLabel(
            "A Spark Thrift server or HiveServer2 (Databricks, EMR, Dataproc, your own). "
            "Only counts and bounded samples cross the wire; the events stay in the warehouse."
        )
        intro.setWordWrap(True)
        self.banner = MessageBanner()
        self.busy = BusyLine()
        self.profile_combo = QComboBox()
        self.profile_combo.addItem("New connection", NEW)
        try:
            listed = self.profiles.list()
        except WatchkeeperError as exc:
            listed = []
            self.banner.show_message(f"The connection profiles could not be read: {exc}")
        for p in listed:
            if (p.telemetry_source or "").startswith("hive://"):
                self.profile_combo.addItem(p.display_name, p)
        self.host = QLineEdit()
        self.host.setPlaceholderText("spark-thrift.example.internal")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(10000)
        self.database = QLineEdit("default")
        self.auth = QComboBox()
        for mode in AUTH_MODES:
            self.auth.addItem(mode)
        self.user = QLineEdit()
        self.user.setPlaceholderText("your login on the server (empty: this computer's)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("LDAP password")
        self.kerberos = QLineEdit()
        self.kerberos.setPlaceholderText("the server's Kerberos service name, often hive")
        self.profile_name = QLineEdit()
        self.profile_name.setPlaceholderText("a name to save this connection under (optional)")
        self.remember = QCheckBox("Remember the password in the OS keyring")
        self.keyring = keyring_status()
        self.keyring_label = QLabel(escape(self.keyring.message))
        self.keyring_label.setWordWrap(True)
        # a wrapped label is sized for a narrower width than it gets: keep the text under
        # the box it explains instead of centred in the spare height
        self.keyring_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        if not self.keyring.usable:
            self.remember.setEnabled(False)
        elif self.keyring.plaintext:
            self.remember.setText("Remember in the plain-text keyring (not encrypted)")
            self.keyring_label.setText(
                f"<b>Warning:</b> {escape(self.keyring.message)}. The password is remembered "
                "there only if you tick the box."
            )
            self.keyring_label.setStyleSheet(f"color:{tone('warning')};")
        else:
            self.remember.setChecked(True)
        if not self.keyring_label.styleSheet():
            mute(self.keyring_label)
        self.connect_button = QPushButton("Connect and list tables")
        self.status = QLabel("Not connected.")
        self.status.setWordWrap(True)
        self.tables = QListWidget()
        self.tables.setMinimumHeight(140)

        form = QFormLayout()
        form.addRow("Profile", self.profile_combo)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Database", self.database)
        form.addRow("Authentication", self.auth)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        form.addRow("Kerberos service", self.kerberos)
        form.addRow("Save as profile", self.profile_name)
        form.addRow("", self.remember)
        form.addRow("", self.keyring_label)
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addWidget(self.status, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton(
            "Use this table", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.use_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.banner)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.busy)
        layout.addWidget(QLabel("Tables"))
        layout.addWidget(self.tables, 1)
        layout.addWidget(self.buttons)

        self.profile_combo.currentIndexChanged.connect(self._on_profile_changed)
        self.auth.currentTextChanged.connect(self._on_auth_changed)
        for edit in (self.host, self.database, self.user, self.password, self.kerberos):
            edit.textEdited.connect(self._forget_tables)
        self.port.valueChanged.connect(self._forget_tables)
        self.connect_button.clicked.connect(self.connect_now)
        self.tables.currentItemChanged.connect(self._on_table_chosen)
        self._on_auth_changed(self.auth.currentText())

    # -- the form ------------------------------------------------------------------------

    def _on_auth_changed(self, mode: str) -> None:
        self.password.setEnabled(mode == "LDAP")
        self.kerberos.setEnabled(mode == "KERBEROS")
        self._forget_tables()

    def _on_profile_changed(self, *_args: Any) -> None:
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.telemetry.warehouse import WarehouseAddress

        p = self.profile_combo.currentData()
        self._forget_tables()
        if p == NEW or p is None:
            self.profile_name.clear()
            return
        try:
            a = WarehouseAddress.from_url(p.telemetry_source)
        except WatchkeeperError as exc:
            self.banner.show_message(escape(str(exc)))
            return
        self.host.setText(a.host)
        self.port.setValue(a.port)
        self.database.setText(a.database)
        self.auth.setCurrentText(a.auth)
        self.user.setText(a.username or "")
        self.kerberos.setText(a.kerberos_service_name or "")
        self.profile_name.setText(p.name)
        self.password.clear()
        if a.auth == "LDAP":
            try:
                stored = self.profiles.get_secret(p.name, "telemetry-password")
            except WatchkeeperError:  # a locked keyring: the user types it
                stored = None
            if stored:
                self.password.setText(stored)
                self.password.setToolTip("Remembered in the keyring")

    def _forget_tables(self, *_args: Any) -> None:
        self._address = None
        self.source = None
        self.tables.clear()
        self.use_button.setEnabled(False)
        self.status.setText("Not connected.")

    def address(self) -> Any:
        """The form as a WarehouseAddress (a TelemetryError says which field is wrong)."""
        from watchkeeper.core.telemetry.warehouse import WarehouseAddress

        auth = self.auth.currentText()
        return WarehouseAddress(
            host=self.host.text().strip(),
            port=self.port.value(),
            database=self.database.text().strip() or "default",
            auth=auth,
            username=self.user.text().strip() or None,
            kerberos_service_name=(self.kerberos.text().strip() or None)
            if auth == "KERBEROS"
            else None,
        )

    # -- connecting ----------------------------------------------------------------------

    def connect_now(self) -> None:
        """List the database's tables in the TaskRunner; the list fills when it answers."""
        import sqlalchemy as sa

        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.telemetry.warehouse import list_tables

        self._forget_tables()
        self.banner.clear_message()
        try:
            address = self.address()
        except WatchkeeperError as exc:
            self.banner.show_message(escape(str(exc)))
            return
        url = address.url()
        if address.auth == "LDAP":
            if not self.password.text():
                self.banner.show_message("LDAP needs the password of the user.")
                return
            url = (
                sa.make_url(url)
                .set(password=self.password.text())
                .render_as_string(hide_password=False)
            )
        self.connect_button.setEnabled(False)
        self.busy.start(f"Connecting to {address.host}:{address.port}…")
        self.status.setText("Connecting…")

        def work(progress: Any, cancelled: Any) -> tuple[Any, list[str]]:
            return address, list_tables(url)

        self.runner.run(
            LIST_KEY,
            work,
            label="Connect to the Spark SQL warehouse",
            on_result=self._on_listed,
            on_error=self._on_error,
        )

    def _on_listed(self, result: tuple[Any, list[str]]) -> None:
        address, names = result
        self.busy.stop()
        self.connect_button.setEnabled(True)
        self._address = address
        self.tables.clear()
        self.tables.addItems(names)
        where = f"{address.host}:{address.port}/{address.database}"
        if names:
            self.status.setText(
                f"<span style='color:{tone('ok')}'>Connected</span> to {escape(where)}: "
                f"{len(names)} table{'s' if len(names) != 1 else ''}. Choose one."
            )
        else:
            self.status.setText(f"Connected to {escape(where)}, but it holds no tables.")

    def _on_error(self, message: str) -> None:
        self.busy.stop()
        self.connect_button.setEnabled(True)
        self.status.setText("Not connected.")
        self.banner.show_message(
            f"<b>Could not connect.</b> {escape(message)}<br>Check the host, port, database "
            "and sign-in, then Connect again."
        )

    def _on_table_chosen(self, current: Any, _previous: Any = None) -> None:
        if current is None or self._address is None:
            self.source = None
            self.use_button.setEnabled(False)
            return
        self.source = self._address.source(current.text())
        self.use_button.setEnabled(True)

    def accept(self) -> None:
        """Keep the chosen source; save the profile (and the password, if asked) first."""
        from watchkeeper.core.errors import WatchkeeperError
        from watchkeeper.core.registry.profiles import Profile

        if self.source is None:
            return
        name = self.profile_name.text().strip()
        if name:
            secrets = {}
            if self.password.isEnabled() and self.password.text() and self.remember.isChecked():
                secrets["telemetry-password"] = self.password.text()
            try:
                existing = {p.name: p for p in self.profiles.list()}.get(name)
                base = existing if existing is not None else Profile(name)
                from dataclasses import replace

                self.profiles.save(
                    replace(base, telemetry_source=self.source),
                    secrets=secrets,
                    allow_plaintext=self.keyring.plaintext and self.remember.isChecked(),
                )
            except WatchkeeperError as exc:
                self.banner.show_message(f"The profile was not saved: {escape(str(exc))}")
                return
        super().accept()
