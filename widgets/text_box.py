"""A plain-text box that stays responsive with hostile text (a 1 MB line with no spaces).

Qt lays out a wrapped line by looking for word boundaries; a line of a million characters
without one takes minutes (measured: 140 s for 1 MB of one letter). When the text holds a
run of :data:`LONG_RUN` non-space characters, the box wraps anywhere instead (0.4 s); ordinary
prose keeps word wrapping. The text itself is never changed.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QPlainTextEdit, QWidget

__all__ = ["LONG_RUN", "TextBox"]

#: Non-space characters in a row from which a box stops looking for word boundaries.
LONG_RUN = 2000
_RUN = re.compile(rf"\S{{{LONG_RUN}}}")


class TextBox(QPlainTextEdit):
    """``QPlainTextEdit`` choosing its wrap mode from the text it is given."""

    def __init__(self, parent: QWidget | None = None, *, read_only: bool = False) -> None:
        super().__init__(parent)
        self.setReadOnly(read_only)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

    def _choose_wrap(self, text: str) -> None:
        anywhere = _RUN.search(text) is not None
        self.setWordWrapMode(
            QTextOption.WrapMode.WrapAnywhere if anywhere else QTextOption.WrapMode.WordWrap
        )

    def setPlainText(self, text: str) -> None:
        self._choose_wrap(text)
        super().setPlainText(text)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText() and _RUN.search(source.text()):
            self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        super().insertFromMimeData(source)
