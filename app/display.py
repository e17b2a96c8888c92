"""Whether a window can be shown here, decided before Qt is imported (Qt aborts otherwise)."""

from __future__ import annotations

import os
import sys

from watchkeeper.core.errors import WatchkeeperError

_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb"}


def has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform:
        return True  # the user chose a platform plugin (offscreen in tests) on purpose
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def require_display() -> None:
    if not has_display():
        raise WatchkeeperError(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); "
            "use --no-gui, or set QT_QPA_PLATFORM=offscreen"
        )
