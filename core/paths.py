"""The one place that decides where Watchkeeper keeps files.

Data (the demo workspace, caches of registry state), configuration (connection profiles,
never secrets) and caches follow the platform's conventions through platformdirs, so
``XDG_DATA_HOME`` and friends are honoured on Linux. ``WATCHKEEPER_HOME`` moves all three
under one folder, which tests and portable installs use. Window layout lives in
``QSettings``; secrets only in the OS keyring.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "watchkeeper"


def _home_override() -> Path | None:
    home = os.environ.get("WATCHKEEPER_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """Folder for data the user would miss: the demo workspace, local registry caches."""
    home = _home_override()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Folder for connection profiles and other settings files (no secrets)."""
    home = _home_override()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Folder for what can be rebuilt: logs of internal errors, downloaded artefacts."""
    home = _home_override()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def default_demo_workspace() -> Path:
    """Where ``watchkeeper demo`` builds the demo workspace unless told otherwise."""
    return data_dir() / "demo"
