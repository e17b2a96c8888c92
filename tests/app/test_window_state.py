"""The Qt-free panel states: one notification per change, however many fields."""

from __future__ import annotations

import pytest

from watchkeeper.app.panels.state import DriftState


def test_one_notification_per_change() -> None:
    state = DriftState()
    seen: list[frozenset[str]] = []
    state.subscribe(seen.append)
    state.set(model="m", version="1", cell=None)
    assert seen == [frozenset({"model", "version"})]  # cell was already None
    with state.batch():
        state.set(sort="name")
        state.set(kinds=frozenset({"numerical"}))
    assert seen[-1] == frozenset({"sort", "kinds"})
    state.set(sort="name")
    assert len(seen) == 2  # nothing changed, nothing said
    with pytest.raises(AttributeError):
        state.set(colour="red")
