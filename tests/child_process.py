"""Running a measurement in a child process of its own (memory tests: a fresh peak RSS, an
address-space cap that cannot take the test runner down)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def json_child(*args: str, timeout: float = 300) -> dict[str, Any]:
    """``python *args`` in a child process, which must succeed; its last line of output, read
    as JSON (its error output's tail is the assertion's message when it fails)."""
    out = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_mb() -> float:
    """This process's peak resident memory in MB (``VmHWM``). Not ``ru_maxrss``: that
    survives exec, so a child spawned by a 1.4 GB pytest process would report the parent's
    peak as its own."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")
