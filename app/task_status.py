"""The status-bar entry that shows running work, its progress, and a Cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from watchkeeper.app.workers import TaskRunner


class TaskStatusWidget(QWidget):
    """Shows the newest running task of a :class:`TaskRunner`; hidden when idle."""

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._key: str | None = None
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setFlat(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        runner.task_started.connect(self._on_runner_started)
        runner.task_progressed.connect(self._on_runner_progressed)
        runner.task_finished.connect(self._on_runner_finished)
        self.setVisible(False)

    def _on_runner_started(self, key: str, label: str) -> None:
        self._key = key
        self.label.setText(label)
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.setVisible(True)

    def _on_runner_progressed(self, key: str, fraction: float, message: str) -> None:
        if key != self._key:
            return
        self.bar.setRange(0, 1000)
        self.bar.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        if message:
            self.label.setText(f"{self._runner.label(key)}: {message}")

    def _on_runner_finished(self, key: str, _outcome: str) -> None:
        remaining = self._runner.active()
        if remaining:
            self._on_runner_started(remaining[-1], self._runner.label(remaining[-1]))
        else:
            self._key = None
            self.setVisible(False)

    def _on_cancel_clicked(self) -> None:
        if self._key is not None:
            self._runner.cancel(self._key)
