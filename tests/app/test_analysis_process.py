"""Analyses in a child process: results, progress, partial answers, cancelling, errors, a
child that dies or outgrows its memory budget — and the window's drift, equal to the same
analysis run in the window's own process."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from watchkeeper.app.analysis_process import (
    ChildDied,
    ChildPool,
    ChildWork,
    suits_child,
)
from watchkeeper.app.workers import TaskRunner
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.core.progress import Cancelled

# -- work run in the child (module level: the child imports it by name) ---------------------

_HELD: list[np.ndarray] = []


def steps(n: int, *, progress: Any, cancelled: Any, partial: Any = None) -> dict[str, Any]:
    for i in range(n):
        if cancelled():
            raise Cancelled()
        progress((i + 1) / n, f"step {i + 1}")
        if partial is not None and i == 0:
            partial({"first": np.arange(3.0)})
        time.sleep(0.06)  # over the child's progress interval: every step is sent
    return {"n": n, "pid": os.getpid(), "values": np.arange(n, dtype=float)}


def until_cancelled(*, progress: Any, cancelled: Any) -> str:
    progress(0.0, "waiting")
    deadline = time.monotonic() + 30
    while not cancelled():
        if time.monotonic() > deadline:
            return "never cancelled"
        time.sleep(0.01)
    raise Cancelled()


def fail_in_words(*, progress: Any, cancelled: Any) -> None:
    raise WatchkeeperError("m.toml: [telemetry] source names no table")


class _TwoArguments(Exception):
    def __init__(self, what: str, code: int) -> None:
        super().__init__(what)  # unpickling calls __init__(what) alone: it cannot travel
        self.code = code


def fail_oddly(*, progress: Any, cancelled: Any) -> None:
    raise _TwoArguments("odd", 2)


def unsendable(*, progress: Any, cancelled: Any) -> Any:
    return lambda: None  # a result that cannot be pickled


def hold(mb: int, *, progress: Any, cancelled: Any) -> int:
    _HELD.append(np.ones(mb << 17))  # kept: no trim can give it back
    return os.getpid()


def churn(*, progress: Any, cancelled: Any) -> int:
    """Frees ~1.2 GB of a worker thread's arena, small survivors between the blocks (as an
    analysis's thread pools do; test_memory.py)."""

    def allocate() -> None:
        big = np.ones(4_000_000)
        del big
        blocks = [np.ones(250_000) for _ in range(600)]
        _HELD.extend(b[:1].copy() for b in blocks[::50])

    worker = threading.Thread(target=allocate)
    worker.start()
    worker.join()
    return os.getpid()


def _resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def pool() -> Any:
    """One pool for the module's tests (a child's start-up imports take ~1.5 s)."""
    pool = ChildPool()
    yield pool
    pool.close()


def _run(pool: ChildPool, work: ChildWork, abort: threading.Event | None = None) -> Any:
    return pool.run(work, lambda f, m: None, abort or threading.Event())


def _gone(pid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# -- the pool --------------------------------------------------------------------------------


def test_result_progress_and_partial_answers_come_back_from_another_process(pool) -> None:
    reports: list[tuple[float, str]] = []
    partials: list[Any] = []
    seen_after: list[Any] = []
    work = ChildWork(steps, (4,), after=lambda v: seen_after.append(v))
    result = pool.run(work, lambda f, m: reports.append((f, m)), threading.Event(), partials.append)
    assert result["n"] == 4
    assert result["pid"] != os.getpid() and result["pid"] in pool.pids()
    np.testing.assert_array_equal(result["values"], np.arange(4.0))
    assert result["values"].flags.writeable  # arrays arrive in memory of their own
    assert reports == [(0.25, "step 1"), (0.5, "step 2"), (0.75, "step 3"), (1.0, "step 4")]
    assert len(partials) == 1
    np.testing.assert_array_equal(partials[0]["first"], np.arange(3.0))
    # ``after`` saw the partial answer and the result, in the parent
    assert [type(v) for v in seen_after] == [dict, dict] and seen_after[1] is result


def test_a_cancel_reaches_the_running_task_and_its_child_serves_the_next(pool) -> None:
    first = _run(pool, ChildWork(steps, (1,)))["pid"]
    abort = threading.Event()
    threading.Timer(0.5, abort.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        _run(pool, ChildWork(until_cancelled), abort)
    assert time.monotonic() - started < 5
    assert _run(pool, ChildWork(steps, (1,)))["pid"] == first


def test_errors_arrive_in_their_own_words(pool) -> None:
    with pytest.raises(WatchkeeperError, match=r"^m\.toml: \[telemetry\] source names no table$"):
        _run(pool, ChildWork(fail_in_words))
    with pytest.raises(RuntimeError, match=r"^_TwoArguments: odd$"):
        _run(pool, ChildWork(fail_oddly))
    with pytest.raises(RuntimeError, match=r"^the result could not be sent back: "):
        _run(pool, ChildWork(unsendable))
    assert _run(pool, ChildWork(steps, (1,)))["n"] == 1  # the child survived all three


def test_a_killed_child_fails_its_task_plainly_and_the_next_task_gets_a_new_one(pool) -> None:
    pool.prestart()
    (victim,) = pool.pids()
    outcome: list[BaseException] = []

    def waiting() -> None:
        try:
            _run(pool, ChildWork(until_cancelled))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=waiting)
    thread.start()
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    thread.join(20)
    assert len(outcome) == 1 and isinstance(outcome[0], ChildDied)
    assert "was killed unexpectedly (exit code -9)" in str(outcome[0])
    assert "Press Refresh" in str(outcome[0])
    assert _run(pool, ChildWork(steps, (1,)))["pid"] != victim


def test_a_child_over_its_memory_budget_is_replaced_after_its_task() -> None:
    pool = ChildPool(retire_bytes=300 << 20)
    try:
        big = _run(pool, ChildWork(hold, (400,)))
        assert big not in pool.pids()
        assert _gone(big)  # exited and reaped, not a zombie
        assert _run(pool, ChildWork(steps, (1,)))["pid"] != big
    finally:
        pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_an_idle_child_gives_back_what_its_task_freed() -> None:
    """Under its budget a child is kept, and the memory its task freed goes back to the
    system once the result is sent (without the trim ~1 GB of it stayed resident)."""
    pool = ChildPool(max_children=1, retire_bytes=8 << 30)  # no retiring, no trim for it
    try:
        pid = _run(pool, ChildWork(churn))
        deadline = time.monotonic() + 10
        while _resident_mb(pid) > 500 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _resident_mb(pid) < 500
        assert _run(pool, ChildWork(churn)) == pid  # the same child serves the next task
    finally:
        pool.close()


def test_closing_the_pool_stops_its_children() -> None:
    pool = ChildPool()
    pool.prestart()
    _run(pool, ChildWork(steps, (1,)))
    pids = pool.pids()
    assert pids
    pool.close()
    assert all(_gone(pid) for pid in pids)


# -- through the window's runner -------------------------------------------------------------


def test_child_work_reaches_the_gui_thread_like_thread_work(qtbot) -> None:
    runner = TaskRunner()
    events: list[tuple[str, Any, bool]] = []

    def on_gui(kind: str):
        def record(value: Any) -> None:
            on_gui = QThread.currentThread() is QApplication.instance().thread()
            events.append((kind, value, on_gui))

        return record

    with qtbot.waitSignal(runner.task_finished, timeout=60_000) as finished:
        runner.run(
            "child",
            ChildWork(steps, (3,)),
            label="Counting elsewhere",
            on_result=on_gui("result"),
            on_partial=on_gui("partial"),
        )
    assert finished.args == ["child", "done"]
    assert [(k, on) for k, _, on in events] == [("partial", True), ("result", True)]
    assert events[1][1]["n"] == 3 and events[1][1]["pid"] != os.getpid()


# -- the drift analysis ------------------------------------------------------------------------


def test_which_entries_run_in_a_child(demo_workspace: Path, monkeypatch) -> None:
    import dataclasses

    from watchkeeper.core.workbench.portfolio import load_portfolio

    entry = load_portfolio(demo_workspace).models[0]
    assert suits_child(entry)  # the demo's DuckDB file
    spec = entry.spec
    hive = spec.telemetry.model_copy(update={"source": "hive://localhost:10000/db#t"})
    on_spark = dataclasses.replace(
        entry, evidence=None, spec=spec.model_copy(update={"telemetry": hive})
    )
    assert suits_child(on_spark)  # Thrift's answers are decoded and measured in the child
    pg = spec.telemetry.model_copy(update={"source": "postgresql://u@localhost/db#t"})
    on_pg = dataclasses.replace(
        entry, evidence=None, spec=spec.model_copy(update={"telemetry": pg})
    )
    assert not suits_child(on_pg)  # not measured: stays on a thread
    assert not suits_child(dataclasses.replace(entry, spec=None))
    monkeypatch.setenv("WATCHKEEPER_CHILD", "0")
    assert not suits_child(entry)


def test_drift_in_a_child_equals_drift_in_this_process(demo_workspace: Path, pool) -> None:
    from watchkeeper.core.workbench.analyses import run_drift
    from watchkeeper.core.workbench.portfolio import load_portfolio

    entry = load_portfolio(demo_workspace).models[0]
    version = entry.champion
    here = run_drift(entry, version, "7d")
    there = _run(pool, ChildWork(run_drift, (entry, version, "7d")))
    assert [f.name for f in there.features] == [f.name for f in here.features]
    assert [w.start for w in there.windows] == [w.start for w in here.windows]
    for a, b in zip(there.features, here.features, strict=True):
        assert a.decisions() == b.decisions()
        np.testing.assert_array_equal(a.counts, b.counts)
        np.testing.assert_array_equal(a.windows.floats, b.windows.floats)
    assert there.multivariate == here.multivariate


def test_slices_in_a_child_equal_slices_here_and_its_events_serve_the_builder(
    demo_workspace: Path, pool
) -> None:
    """The Slices view comes back with the events it read (out of band, as Arrow buffers in
    memory the child did not lay out): the builder's count and a recomputed slice over them
    equal those of the view analysed in this process."""
    from watchkeeper.core.evaluation.predicates import Condition, SlicePredicate
    from watchkeeper.core.workbench.portfolio import load_portfolio
    from watchkeeper.core.workbench.slices import count_slice, recompute_slices, run_slices

    entry = next(m for m in load_portfolio(demo_workspace).models if m.name == "fraud-detector")
    version = entry.champion
    here = run_slices(entry, version)
    there = _run(pool, ChildWork(run_slices, (entry, version)))
    assert there.table.equals(here.table)
    pd.testing.assert_frame_equal(there.metrics_frame(), here.metrics_frame())
    pd.testing.assert_frame_equal(there.worst_frame(), here.worst_frame())
    assert there.notes == here.notes
    web = SlicePredicate("web", (Condition("channel", "eq", "web"),))
    assert count_slice(there, web) == count_slice(here, web)
    assert count_slice(there, web)[0] > 0
    pd.testing.assert_frame_equal(
        recompute_slices(there, (web,)).metrics_frame(),
        recompute_slices(here, (web,)).metrics_frame(),
    )


def test_the_health_sweep_in_a_child_equals_the_sweep_here(demo_workspace: Path, pool) -> None:
    """Each model's light arrives on its own (``on_model(name, judged)`` as one tuple), and
    the verdicts equal those of the same sweep run in this process."""
    from watchkeeper.core.workbench.health import run_health
    from watchkeeper.core.workbench.portfolio import load_portfolio

    portfolio = load_portfolio(demo_workspace)
    here = run_health(portfolio, {})
    lights: list[tuple[str, Any]] = []
    work = ChildWork(run_health, (portfolio, {}), partial_keyword="on_model")
    there = pool.run(work, lambda f, m: None, threading.Event(), lights.append)
    assert sorted(name for name, _ in lights) == sorted(here)
    assert {n: judged[0] for n, judged in lights} == {n: v[0] for n, v in here.items()}
    assert {n: v[0] for n, v in there.items()} == {n: v[0] for n, v in here.items()}


def test_cancel_in_the_window_stops_the_task_in_its_child(qtbot) -> None:
    """The Cancel of the status bar (``TaskRunner.cancel``) reaches the running task's
    ``cancelled()`` in the child, which is then free for the next task."""
    from watchkeeper.app.analysis_process import child_pool

    pool = child_pool()
    runner = TaskRunner()
    outcomes: list[str] = []
    runner.task_finished.connect(lambda key, outcome: outcomes.append(outcome))
    progressed = []
    runner.task_progressed.connect(lambda key, f, m: progressed.append(m))
    runner.run("wait", ChildWork(until_cancelled), label="Waiting", on_result=lambda v: None)
    qtbot.waitUntil(lambda: progressed == ["waiting"], timeout=60_000)
    with pool._lock:
        (working,) = [c.pid for c in pool._busy]
    runner.cancel("wait")
    assert outcomes == ["cancelled"]
    # the child stops at its next check (until_cancelled would wait 30 s) and is idle again
    qtbot.waitUntil(lambda: working in [c.pid for c in pool._idle], timeout=5_000)
    results = []
    with qtbot.waitSignal(runner.task_finished, timeout=30_000) as finished:
        runner.run("next", ChildWork(steps, (1,)), label="Next", on_result=results.append)
    assert finished.args == ["next", "done"]
    assert results[0]["pid"] == working
