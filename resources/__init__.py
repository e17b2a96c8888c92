"""Icons, style sheets and other files shipped inside the wheel."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """Absolute path of a shipped resource file, e.g. ``"watchkeeper.svg"``."""
    path = _HERE / name
    if not path.is_file():
        raise FileNotFoundError(f"no resource named {name!r} in {_HERE}")
    return path
