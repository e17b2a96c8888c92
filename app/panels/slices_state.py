"""Qt-free state of the Slices and Champion-vs-challenger views, and the slice builder.

Same pattern as :mod:`~watchkeeper.app.panels.state`: a panel writes here when the user acts
or a worker returns and redraws on the (batched) notification. The slice builder's draft is
plain data too: :meth:`SliceDraft.condition` turns what the user typed into a core
:class:`~watchkeeper.core.evaluation.predicates.Condition` (or says, in one sentence, why not),
and :meth:`SliceDraft.predicate` joins the draft's conditions with AND.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchkeeper.app.panels.state import TaskStatus

if TYPE_CHECKING:
    from watchkeeper.core.workbench.challenger import ChallengerView
    from watchkeeper.core.workbench.slices import ColumnInfo, SlicesView

__all__ = ["BUILDER_OPS", "ChallengerState", "SliceDraft", "SlicesState"]

#: The builder's operators: label shown → core condition op.
BUILDER_OPS = (("=", "eq"), ("in", "in"), ("range", "range"))


class SlicesState(TaskStatus):
    """The Slices view: which model/version, the user's slices, the metric the chart shows,
    the result, and the last export."""

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.version: str | None = None
        self.metric: str | None = None  # None: the result's primary metric
        self.custom: tuple[Any, ...] = ()  # SlicePredicate the user built
        self.draft: tuple[Any, ...] = ()  # Conditions not yet added as a slice
        self.result: SlicesView | None = None
        self.export_status = "idle"  # idle | running | done | failed
        self.export_message = ""

    @property
    def shown_metric(self) -> str | None:
        if self.metric is not None:
            return self.metric
        return self.result.metric if self.result is not None else None


class ChallengerState(TaskStatus):
    """The Champion-vs-challenger view: the pair compared and the result."""

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.champion: str | None = None
        self.challenger: str | None = None
        self.result: ChallengerView | None = None


class SliceDraft:
    """Turns builder input into core conditions and predicates (no Qt, no state)."""

    @staticmethod
    def condition(
        column: ColumnInfo | None, op: str, value: str = "", low: str = "", high: str = ""
    ) -> Any:
        """The condition typed in the builder; ValueError with a readable reason if invalid.

        ``op`` is ``eq`` (one value), ``in`` (values separated by commas) or ``range``
        (``low`` inclusive and/or ``high`` exclusive; either may be empty).
        """
        from watchkeeper.core.evaluation.predicates import Condition

        if column is None:
            raise ValueError("choose a column")
        if op == "eq":
            return Condition(column.name, "eq", column.parse(value))
        if op == "in":
            parts = [p for p in (s.strip() for s in value.split(",")) if p]
            if not parts:
                raise ValueError(f"give one or more values for {column.name}, comma-separated")
            return Condition(
                column.name, "in", tuple(dict.fromkeys(column.parse(p) for p in parts))
            )
        if op == "range":
            if column.kind != "numerical" and not column.integer:
                raise ValueError(f"{column.name} is not numeric: use = or in")
            lo = float(column.parse(low)) if low.strip() else None
            hi = float(column.parse(high)) if high.strip() else None
            if lo is None and hi is None:
                raise ValueError("a range needs a minimum, a maximum or both")
            if lo is not None and hi is not None and hi <= lo:
                raise ValueError("the maximum must be above the minimum (it is exclusive)")
            return Condition(column.name, "range", (lo, hi))
        raise ValueError(f"unknown operator {op!r}")

    @staticmethod
    def predicate(conditions: tuple[Any, ...], existing: tuple[str, ...] = ()) -> Any:
        """The slice of ``conditions`` joined with AND, named by its label."""
        from watchkeeper.core.evaluation.predicates import SlicePredicate

        if not conditions:
            raise ValueError("add at least one condition")
        columns = [c.column for c in conditions]
        if len(set(columns)) != len(columns):
            raise ValueError("one condition per column (a spec slice has one key per column)")
        predicate = SlicePredicate("", tuple(conditions))
        name = predicate.label
        if name in existing:
            raise ValueError(f"the slice {name} is already shown")
        return SlicePredicate(name, tuple(conditions))
