"""What every workbench analysis shares besides progress and cancel: the read lock, the spec."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchkeeper.core.spec import MonitorSpec
    from watchkeeper.core.workbench.portfolio import ModelEntry

__all__ = ["READ_LOCK", "spec_of"]

#: Reading is serialised by one lock: the window's views start their analyses together when
#: the selection changes, and an embedded database (DuckDB, SQLite) is happier with one
#: reader at a time in a process; the reads are short next to the statistics.
READ_LOCK = threading.Lock()


def spec_of(entry: ModelEntry) -> MonitorSpec:
    """The entry's monitor spec, or a SpecError saying why it has none."""
    from watchkeeper.core.errors import SpecError

    if entry.spec is None:
        raise SpecError(f"{entry.name}: {entry.spec_error or 'no monitor spec'}")
    return entry.spec
