"""The errors Watchkeeper raises on purpose.

Every error a user can cause derives from :class:`WatchkeeperError`; the CLI prints its
message on one line and exits 2, the window shows it in a message box. The message says
what is wrong and where (file, column, row), never how Python noticed.
"""

from __future__ import annotations


class WatchkeeperError(Exception):
    """Bad input or an unreachable service, explained for the person who caused it."""

    exit_code = 2


class SpecError(WatchkeeperError):
    """A monitor spec that cannot be used: the message names the key and the value."""


class TelemetryError(WatchkeeperError):
    """Telemetry that cannot be read as the mapping says.

    ``source`` is the file or URL (never with a password), ``column`` and ``row`` say where,
    when they are known. ``row`` counts data rows from 1, as a spreadsheet would show them
    below the header.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        where = []
        if source:
            where.append(source)
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")
        self.reason = message


class NegativeFinding(WatchkeeperError):
    """Not an error of input: the answer is no (gate failed, chain broken). Exit code 1."""

    exit_code = 1
