"""Qt-free state objects: what each panel shows and what the user chose.

A panel never keeps its truth in widgets. It holds a state object, writes to it when the user
acts or a worker returns, and redraws when the state says something changed (glue's viewer
states, STYLE.md). Several fields set together (a new result *and* its status) are one
change: :meth:`Observable.set` and :meth:`Observable.batch` notify once, with the names of
every field that changed, so a view redraws once per user action, not once per field.

Nothing here imports Qt, so the states are tested (and could be driven) without a window.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchkeeper.core.drift.result import DriftResult
    from watchkeeper.core.workbench.analyses import PerformanceView
    from watchkeeper.core.workbench.health import ModelHealth
    from watchkeeper.core.workbench.portfolio import Portfolio

__all__ = [
    "DRIFT_ROW_KINDS",
    "DriftState",
    "Observable",
    "PerformanceState",
    "PortfolioState",
    "TaskStatus",
]

Callback = Callable[[frozenset[str]], None]
_PLAIN = (str, int, float, bool, tuple, frozenset, type(None))

#: Rows of the drift heat map a user can show or hide (the feature classes).
DRIFT_ROW_KINDS = ("numerical", "categorical", "prediction", "multivariate")


class Observable:
    """Fields with change notification; multi-field changes notify once."""

    def __init__(self) -> None:
        self._callbacks: list[Callback] = []
        self._pending: set[str] = set()
        self._depth = 0

    def subscribe(self, callback: Callback) -> None:
        """Call ``callback(changed_field_names)`` after every change."""
        self._callbacks.append(callback)

    def set(self, **changes: Any) -> None:
        """Set fields; one notification for all of them (none if nothing changed)."""
        with self.batch():
            for name, value in changes.items():
                if not hasattr(self, name) or name.startswith("_"):
                    raise AttributeError(f"{type(self).__name__} has no field {name!r}")
                old = getattr(self, name)
                # Results hold numpy arrays: compare plain values only, results by identity.
                same = old is value or (
                    isinstance(old, _PLAIN) and isinstance(value, _PLAIN) and old == value
                )
                if not same:
                    object.__setattr__(self, name, value)
                    self._pending.add(name)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group several :meth:`set` calls into one notification."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._pending:
                changed = frozenset(self._pending)
                self._pending.clear()
                for callback in list(self._callbacks):
                    callback(changed)


class TaskStatus(Observable):
    """The fields every analysed view shares: where its work is and what went wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.status = "idle"  # idle | running | ready | failed | cancelled
        self.error: str | None = None


class PortfolioState(TaskStatus):
    """The workspace's models and versions, the filter, the selection, each model's health.

    ``selected`` is ``(model, version)``; every view follows it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.portfolio: Portfolio | None = None
        self.filter_text = ""
        self.selected: tuple[str, str] | None = None
        self.health: dict[str, ModelHealth] = {}

    def set_health(self, model: str, summary: ModelHealth) -> None:
        """Record one model's health (a new dict, so the change is seen)."""
        self.set(health={**self.health, model: summary})


class DriftState(TaskStatus):
    """The drift view: which model/version/window, how rows are ordered and filtered,
    which cell is selected, and the result."""

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.version: str | None = None
        self.window: str | None = None  # None: the spec's [drift] window
        self.sort = "severity"  # severity | name | spec
        self.kinds: frozenset[str] = frozenset(DRIFT_ROW_KINDS)
        self.cell: tuple[str, int] | None = None  # (feature, window index)
        self.result: DriftResult | None = None


class PerformanceState(TaskStatus):
    """The performance view: model/version/window/metric and the result."""

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.version: str | None = None
        self.window: str | None = None
        self.metric: str | None = None  # None: the spec's gate primary metric
        self.result: PerformanceView | None = None
