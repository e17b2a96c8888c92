"""The drift engine's error: bad input to a drift analysis, explained (exit code 2)."""

from __future__ import annotations

from watchkeeper.core.errors import WatchkeeperError

__all__ = ["DriftError"]


class DriftError(WatchkeeperError):
    """A drift analysis that cannot run on this input; the message says what and where."""
