"""Champion vs challenger: a cancelled run gives up the read lock before its join, and the
ROC curves drawn on the gate's sort equal those of their own sort."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from watchkeeper.core.evaluation import data as data_module
from watchkeeper.core.evaluation import gate as gate_module
from watchkeeper.core.evaluation.metrics import Prepared
from watchkeeper.core.progress import Cancelled
from watchkeeper.core.workbench import challenger as challenger_module
from watchkeeper.core.workbench.challenger import roc_points, run_challenger
from watchkeeper.core.workbench.common import READ_LOCK
from watchkeeper.core.workbench.portfolio import load_portfolio


def _fraud(workspace: Path) -> Any:
    entry = load_portfolio(workspace).model("fraud-detector")
    assert entry is not None
    return entry


def test_a_run_cancelled_while_reading_releases_the_read_lock_before_its_join(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user cancels while the DuckDB read runs; another reader waiting for the lock gets
    it as soon as the read returns, and the cancelled run never joins what it read."""
    cancel = threading.Event()
    read_done = threading.Event()
    joins: list[str] = []
    real_read, real_join = data_module.read_events, gate_module.join_shadow

    def reading(*args: Any, **kwargs: Any) -> Any:
        cancel.set()  # cancelled while the real read runs
        table = real_read(*args, **kwargs)
        read_done.set()
        return table

    def joining(*args: Any, **kwargs: Any) -> Any:
        joins.append(threading.current_thread().name)
        return real_join(*args, **kwargs)

    monkeypatch.setattr(data_module, "read_events", reading)
    monkeypatch.setattr(gate_module, "join_shadow", joining)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_challenger(_fraud(demo_workspace), "1", "2", n_boot=20, cancelled=cancel.is_set)
        except BaseException as e:
            outcome.append(e)

    worker = threading.Thread(target=run, name="cancelled-run")
    worker.start()
    assert cancel.wait(30)
    assert read_done.wait(30)
    # the next reader: the lock is free once the read is over, not after a join
    t0 = time.perf_counter()
    assert READ_LOCK.acquire(timeout=5)
    waited = time.perf_counter() - t0
    READ_LOCK.release()
    worker.join(30)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert joins == []  # gave way before joining
    assert waited < 1.0, waited
    assert not READ_LOCK.locked()


def test_the_pairs_are_joined_without_the_read_lock(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[bool] = []
    real_join = gate_module.join_shadow

    def joining(*args: Any, **kwargs: Any) -> Any:
        held.append(READ_LOCK.locked())
        return real_join(*args, **kwargs)

    monkeypatch.setattr(gate_module, "join_shadow", joining)
    view = run_challenger(_fraud(demo_workspace), "1", "2", n_boot=20)
    assert held == [False]
    assert view.pairs > 0 and not READ_LOCK.locked()


def test_roc_points_on_a_given_sort_equal_those_of_its_own() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    y = (rng.random(n) < 0.2).astype(float)
    s = np.round(rng.random(n), 2)  # many ties: the stable order matters
    y[rng.choice(n, 300, replace=False)] = np.nan
    s[rng.choice(n, 50, replace=False)] = np.nan
    ok = ~np.isnan(y) & np.isfinite(s)
    order = Prepared(y[ok], s[ok]).order
    own = roc_points(y, s)
    given = roc_points(y, s, order=order)
    for mine, theirs in zip(own, given, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert own[0].size > 2


def test_the_views_curves_on_the_gates_sort_equal_those_of_their_own(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a first answer the curves take its comparison's sort; the numbers are those of
    the curves sorted on their own (no first answer), and the gate's sort is what they use."""
    entry = _fraud(demo_workspace)
    given: list[bool] = []
    real = challenger_module.roc_points

    def spying(*args: Any, order: np.ndarray | None = None, **kwargs: Any) -> Any:
        given.append(order is not None)
        return real(*args, order=order, **kwargs)

    monkeypatch.setattr(challenger_module, "roc_points", spying)
    partial: list[Any] = []
    shared = run_challenger(entry, "1", "2", n_boot=20, on_partial=partial.append)
    assert given == [True, True]
    given.clear()
    alone = run_challenger(entry, "1", "2", n_boot=20)
    assert given == [False, False]
    for got, want in (
        (shared.roc_champion, alone.roc_champion),
        (shared.roc_challenger, alone.roc_challenger),
        (partial[0].roc_champion, alone.roc_champion),
    ):
        for x, z in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, z)
    assert shared.comparison_key == alone.comparison_key


def test_a_labeled_pair_without_the_others_score_falls_back_to_its_own_sort() -> None:
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    a = np.array([0.9, 0.8, 0.8, 0.3, 0.5, 0.1])
    b = np.array([0.7, np.nan, 0.6, 0.2, 0.9, 0.4])
    scored = np.isfinite(a) & np.isfinite(b)
    prepared = (Prepared(y[scored], a[scored]), Prepared(y[scored], b[scored]))
    roc_a, roc_b = challenger_module._roc_pair(y, a, b, scored, prepared)
    for got, want in ((roc_a, roc_points(y, a)), (roc_b, roc_points(y, b))):
        for x, z in zip(got, want, strict=True):
            np.testing.assert_array_equal(x, z)


def test_the_gate_joins_and_decides_without_the_read_lock(
    demo_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_gate (the Governance view's approval, the multiclass Champion view) holds the read
    lock for its reads only: not for the join nor the bootstrap, and it lets it go after."""
    from watchkeeper.core.workbench.challenger import run_gate

    held: dict[str, list[bool]] = {"read": [], "join": [], "decide": []}
    real_read, real_join = data_module.read_events, gate_module.join_shadow
    real_decide = gate_module.gate_of_pairs

    def reading(*args: Any, **kwargs: Any) -> Any:
        held["read"].append(READ_LOCK.locked())
        return real_read(*args, **kwargs)

    def joining(*args: Any, **kwargs: Any) -> Any:
        held["join"].append(READ_LOCK.locked())
        return real_join(*args, **kwargs)

    def deciding(*args: Any, **kwargs: Any) -> Any:
        held["decide"].append(READ_LOCK.locked())
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(data_module, "read_events", reading)
    monkeypatch.setattr(gate_module, "join_shadow", joining)
    monkeypatch.setattr(gate_module, "gate_of_pairs", deciding)
    gate = run_gate(_fraud(demo_workspace), "1", "2", n_boot=20)
    assert held["read"] and all(held["read"])
    assert held["join"] == [False] and held["decide"] == [False]
    assert not READ_LOCK.locked()
    # the same decision as the gate read and decided in one call
    monkeypatch.undo()
    from watchkeeper.core.workbench.common import spec_of

    entry = _fraud(demo_workspace)
    whole = gate_module.gate_from_spec(spec_of(entry), champion="1", challenger="2", n_boot=20)
    assert gate.criteria == whole.criteria and gate.passed == whole.passed
    assert gate.inputs == whole.inputs
