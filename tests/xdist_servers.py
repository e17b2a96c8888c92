"""Every test of the servers on one pytest-xdist worker: one PostgreSQL, one Spark and one MLflow
pool per run (the session fixtures start them on the worker that first asks).

xdist's own ``--dist loadgroup`` reads an ``xdist_group`` mark by rewriting ``item._nodeid``,
which pytest 9 no longer uses for ``item.nodeid``, so its groups never reach the scheduler.
Here each worker writes the node ids of the servers' tests it collected (``tests/conftest.py``
decides which they are) into a folder the controller gave it, and the controller's scheduler
sends those ids as one unit of work, every other test on its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

GROUP = "servers"


class ServersTogether:
    """The plugin: registered by ``tests/conftest.py`` when xdist runs the tests."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="wk-xdist-groups-"))

    def pytest_configure_node(self, node: Any) -> None:  # on the controller, per worker
        node.workerinput["wk_groups"] = str(self.folder)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "loadgroup":
            return None
        return _Scheduler(config, log, self.folder)

    def pytest_unconfigure(self) -> None:
        for f in self.folder.glob("*"):
            f.unlink()
        self.folder.rmdir()


def write_group(config: pytest.Config, nodeids: Iterable[str]) -> None:
    """On a worker: the servers' test ids it collected, for the controller's scheduler."""
    folder = getattr(config, "workerinput", {}).get("wk_groups")
    if folder is None:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "worker")
    part = Path(folder) / f"{worker}.part"
    part.write_text("\n".join(nodeids))
    part.rename(Path(folder) / f"{worker}.ids")  # whole, or not there


class _Scheduler(LoadScopeScheduling):
    def __init__(self, config: pytest.Config, log: Any, folder: Path) -> None:
        super().__init__(config, log)
        self.folder = folder
        self.members: set[str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self.members is None:  # every worker has collected before the first scheduling
            self.members = set()
            for f in self.folder.glob("*.ids"):
                self.members.update(f.read_text().splitlines())
        return GROUP if nodeid in self.members else nodeid
