"""Window responsiveness benchmarks (not a timed test). Prints figures measured in this run.

    .venv/bin/python benchmarks/ui.py                          # builds /tmp/wk-ui-demo100k once
    .venv/bin/python benchmarks/ui.py --workspace DIR          # reuse a 100,000-a-day demo
    .venv/bin/python benchmarks/ui.py --skip-startup --rounds 2

The demo workspace at 100,000 fraud events a day (~12 M rows; ``watchkeeper demo --no-gui
--events-per-day 100000``, 1.5-3 minutes and ~4 GB of memory to build) is built once into
``--workspace`` (default ``/tmp/wk-ui-demo100k``) and reused.

1. Time to first window: ``watchkeeper gui --workspace DIR`` launched as a whole process
   (``python -c`` calling the console script's ``main``, so Python's start-up and every import
   count), under Xvfb when it is installed (``--platform offscreen`` otherwise). The time
   from spawn to the main window's first paint (a paint-event hook installed before the
   command runs; both clocks are the system-wide ``CLOCK_MONOTONIC``), and to the portfolio
   being loaded (the first useful picture). Baseline, same run: a process that only creates a
   ``QApplication`` and paints an empty ``QMainWindow``. Goal: first window under 3 s.
2. The longest stall of the GUI thread, in process: a ``QTimer`` on the GUI thread ticks every
   ``--tick-ms`` (5) ms and records the largest gap between ticks while the window (a) sits
   idle — the baseline, measured in the same run — (b) opens on the workspace (portfolio,
   first drift and performance), and (c)-(e) runs the Drift, Performance and Slices
   analyses of fraud-detector v1 on their visible tab (cache cleared, so the work is redone),
   up to one second after the result is drawn. A watchdog thread samples every thread's stack
   (``faulthandler.dump_traceback``, never another thread's frame objects: CPython 3.11 can
   crash reading them) while a tick is more than 40 ms late; the report names the GUI
   thread's innermost frames of our code (and the busiest worker frame, for stalls caused by
   a worker holding the GIL). Goal: no stall over 100 ms.

``--wide`` runs part 2 on the wide demo instead (``watchkeeper demo --wide``: 500 features ×
365 days × 2,000 rows, built once into ``/tmp/wk-ui-wide``), selecting ``wide-model`` v1,
and also prints per scenario the time from the click to the first drawn answer and to the
full result, and the peak resident memory during it: the window's (``VmHWM`` after resetting
it through ``/proc/self/clear_refs``), the largest analysis process's, and the window's and
its analysis processes' together at one moment (both sampled every 50 ms, so a child that
retired during the scenario counts). Slices are left out unless asked for with ``--views``.

Besides Drift, Performance and Slices, ``--views`` measures Champion vs challenger (its tab;
a workspace without a challenger says so and skips it; the wide demo's v2 shadow-scores
120,000 of its requests), the health sweep
(every model judged anew, nothing known: the first light and all of them) and the Excel
export of the Slices view (from the export action to the file written). Every run ends with
one table per view: click to first answer (the first time the panel's state holds a result,
partial or whole), click to full result (its task done and its staged draws drawn), longest
GUI stall and peak RSS. ``tabs`` then shows each view that drew a result again after
another (the longest stall of a tab switch), and the Drift tab once after its result was
computed behind another tab. The click is the tab's: a view shown for the first time with a
selection waiting starts its analysis then; a view that shows a result it had is refreshed
(``--refresh-after-tab`` refreshes both, a user changing their mind mid-read).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import faulthandler
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DEFAULT_WORKSPACE = Path("/tmp/wk-ui-demo100k")
EVENTS_PER_DAY = 100_000
STARTUP_GOAL_S = 3.0
STALL_GOAL_MS = 100.0


# -- the workspace ------------------------------------------------------------------------


def ensure_demo(workspace: Path) -> None:
    """Build the demo at 100,000 events a day unless it is already there (and current)."""
    t = time.perf_counter()
    cmd = [
        str(Path(PY).with_name("watchkeeper")),
        "demo",
        "--no-gui",
        "--events-per-day",
        str(EVENTS_PER_DAY),
        "--workspace",
        str(workspace),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    print(f"workspace: {out.stdout.strip()} [{time.perf_counter() - t:.1f} s]")


# -- the display --------------------------------------------------------------------------


class Display:
    """Xvfb on a free display number for the run, or Qt's offscreen platform."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.env: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Display:
        if self.platform == "xvfb":
            for n in range(91, 140):
                if (
                    not Path(f"/tmp/.X11-unix/X{n}").exists()
                    and not Path(f"/tmp/.X{n}-lock").exists()
                ):
                    break
            self._proc = subprocess.Popen(
                ["Xvfb", f":{n}", "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while not Path(f"/tmp/.X11-unix/X{n}").exists():
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise SystemExit("Xvfb did not start")
                time.sleep(0.05)
            self.env = {"DISPLAY": f":{n}", "QT_QPA_PLATFORM": "xcb"}
        else:
            self.env = {"QT_QPA_PLATFORM": "offscreen"}
        os.environ.update(self.env)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


# -- part 1: time to first window ----------------------------------------------------------

# Runs in the child: hook the first paint of the main window, then run the real command.
_STARTUP_CHILD = r"""
import os, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
mode = sys.argv[1]
marks = {}
def mark(name):
    if name not in marks:
        marks[name] = time.monotonic()
        print(f"MARK {name} {marks[name]:.6f}", flush=True)
def done():
    QApplication.instance().closeAllWindows()
    QApplication.instance().quit()
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and isinstance(obj, QMainWindow):
            mark("painted")
            if mode == "baseline":
                QTimer.singleShot(0, done)
        return False
if mode == "baseline":
    app = QApplication(sys.argv[:1])
    f = FirstPaint(); app.installEventFilter(f)
    w = QMainWindow(); w.resize(1400, 900); w.show()
    mark("shown")
    app.exec()
    sys.exit(0)
_init = QApplication.__init__
def _patched_init(self, *a, **k):
    _init(self, *a, **k)
    self._wk_filter = FirstPaint(); self.installEventFilter(self._wk_filter)
    QTimer.singleShot(60_000, done)
QApplication.__init__ = _patched_init
import watchkeeper.app.main_window as mw
_show = mw.MainWindow.show
def _patched_show(self):
    mark("show-called")
    _show(self)
    p = self.portfolio
    def loaded(_changed):
        if p.state.portfolio is not None and "portfolio-loaded" not in marks:
            mark("portfolio-loaded")
            # the views' first analyses take minutes at this size: stop here
            QTimer.singleShot(0, done)
    p.state.subscribe(loaded)
mw.MainWindow.show = _patched_show
from watchkeeper.app.cli import main
sys.exit(main(["gui", "--workspace", sys.argv[2]]))
"""


def startup_round(mode: str, workspace: Path, home: Path) -> dict[str, float]:
    env = {**os.environ, "WATCHKEEPER_HOME": str(home), "XDG_CONFIG_HOME": str(home / "cfg")}
    t0 = time.monotonic()
    out = subprocess.run(
        [PY, "-c", _STARTUP_CHILD, mode, str(workspace)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    marks = {}
    for line in out.stdout.splitlines():
        if line.startswith("MARK "):
            _, name, at = line.split()
            marks[name] = float(at) - t0
    if "painted" not in marks:
        raise SystemExit(f"no first paint ({mode}): {out.stderr[-2000:]}")
    return marks


def measure_startup(workspace: Path, rounds: int) -> None:
    print("\n1. Time to first window (spawn → first paint of the main window)", flush=True)
    with tempfile.TemporaryDirectory(prefix="wk-ui-home-") as tmp:
        home = Path(tmp)
        startup_round("window", workspace, home)  # warm the file cache and settings
        base: list[float] = []
        rows: list[dict[str, float]] = []
        for _ in range(rounds):  # alternate, so a busy machine slows both alike
            base.append(startup_round("baseline", workspace, home)["painted"])
            rows.append(startup_round("window", workspace, home))
    painted = [r["painted"] for r in rows]
    loaded = [r.get("portfolio-loaded", float("nan")) for r in rows]
    print(f"   baseline (empty QMainWindow process): {_fmt_s(base)}")
    print(f"   watchkeeper gui, first paint:         {_fmt_s(painted)}")
    print(f"     … portfolio loaded (useful window): {_fmt_s(loaded)}")
    med = statistics.median(painted)
    print(
        f"   median first paint {med:.2f} s = {med / statistics.median(base):.1f}× the bare Qt "
        f"window; goal < {STARTUP_GOAL_S:.0f} s: {'met' if med < STARTUP_GOAL_S else 'NOT met'}"
    )


def _fmt_s(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s  (rounds: "
        + ", ".join(f"{v:.2f}" for v in values)
        + ")"
    )


# -- part 2: GUI-thread stalls, in process -------------------------------------------------


class StallMeter:
    """Largest gap between GUI-thread timer ticks, and where the GUI thread was meanwhile."""

    LATE_S = 0.040

    def __init__(self, tick_ms: int) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.tick_s = tick_ms / 1000
        self.gui_ident = threading.get_ident()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self._on_tick)
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.gaps: list[float] = []
        self.samples: list[tuple[float, str, str]] = []  # (time, gui frame, worker frame)
        self.stalls: list[tuple[float, float, float]] = []  # (gap, start, end)
        # (start, end, generation, on the GUI thread, the code whose allocation started it)
        self.collections: list[tuple[float, float, int, bool, str]] = []
        self._gc_start = 0.0
        self._gc_by = ""
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        # faulthandler writes every thread's stack from C, walking the interpreter's own
        # frames; reading other threads' frame objects (``sys._current_frames()`` and
        # ``f_back``) can crash CPython 3.11 (cpython#111363; sentry-python#2386 — the
        # same sampler pattern), which is what the window start-up segfaults seen in this
        # benchmark were.
        self._dump = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop())

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()
        self._watchdog.start()
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Python's cyclic garbage collector holds the GIL for a whole pass: time each."""
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
            caller = sys._getframe(0).f_back  # may be None at the top of a thread
            self._gc_by = _our_frames(caller, 2) if caller is not None else "?"
        elif now - self._gc_start > 0.010:
            on_gui = threading.get_ident() == self.gui_ident
            gen = info["generation"]
            self.collections.append((self._gc_start, now, gen, on_gui, self._gc_by))

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.max_gap = 0.0
        self.gaps = []
        self.samples = []
        self.stalls = []
        self.collections = []

    def _on_tick(self) -> None:
        now = time.perf_counter()
        gap = now - self.last
        self.last = now
        self.gaps.append(gap)
        self.max_gap = max(self.max_gap, gap)
        if gap > self.LATE_S:
            self.stalls.append((gap, now - gap, now))

    def _watch(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            time.sleep(0.005)
            now = time.perf_counter()
            # Late itself: another thread held the GIL meanwhile and has just let it go, so
            # its frame is (at most a few bytecodes past) the call that held it.
            held = now - before > self.LATE_S
            if held or now - self.last > self.LATE_S:
                stacks = _all_stacks(self._dump)
                gui = stacks.get(self.gui_ident, [])
                worker = ""
                for ident, stack in stacks.items():
                    if ident not in (self.gui_ident, threading.get_ident()):
                        f = _format_stack(stack, 2)
                        idle = f.split(" ← ")[0].endswith(("threading.py:327 wait", " wait"))
                        if idle:  # a thread waiting (the trimmer, a pool's caller) held nothing
                            continue
                        if "watchkeeper" in f or "core/" in f or "app/" in f:
                            worker = f
                            break
                self.samples.append((now, _format_stack(gui), worker))

    def stop(self) -> None:
        self._stop.set()
        self.timer.stop()
        self._watchdog.join(timeout=1.0)
        self._dump.close()

    def where(self, top: int = 4) -> list[str]:
        """The biggest stalls, each with the GUI thread's most sampled place during it."""
        lines = []
        for gap, start, end in sorted(self.stalls, reverse=True)[:top]:
            inside = [s for s in self.samples if start <= s[0] <= end + 0.02]
            gui = collections.Counter(s[1] for s in inside).most_common(1)
            workers = collections.Counter(s[2] for s in inside if s[2]).most_common(1)
            place = gui[0][0] if gui else "(no sample: the watchdog could not get the GIL)"
            line = f"{gap * 1000:6.0f} ms  GUI thread in {place}"
            if workers:
                line += f"\n{'':12}worker thread in {workers[0][0]}"
            gcs = [c for c in self.collections if c[1] >= start and c[0] <= end]
            if gcs:
                ms = sum(min(c[1], end) - max(c[0], start) for c in gcs) * 1000
                where = "GUI" if any(c[3] for c in gcs) else "a worker"
                gens = sorted({c[2] for c in gcs})
                line += (
                    f"\n{'':12}garbage collection (generation {gens}) on {where} thread: "
                    f"{ms:.0f} ms of it, started by an allocation in {gcs[0][4]}"
                )
            lines.append(line)
        return lines


def _drawing(panel: Any) -> bool:
    """Whether ``panel`` still has a result's plots to draw in later turns of the loop (the
    panels that stage their drawing say so by ``drawing()``)."""
    drawing = getattr(panel, "drawing", None)
    return bool(drawing()) if callable(drawing) else False


def _our_frame(frame: Any) -> str:
    while frame is not None:
        name = frame.f_code.co_filename
        if "watchkeeper" in name or str(ROOT) in name:
            return f"{_short(name)}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return ""


def _our_frames(frame: Any, depth: int = 3) -> str:
    """The innermost frame (any library) and our innermost ``depth`` frames under it (of the
    calling thread's own stack only: another thread's frames are read by :func:`_all_stacks`)."""
    stack = []
    while frame is not None:
        stack.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        frame = frame.f_back
    return _format_stack(stack, depth)


def _format_stack(stack: list[tuple[str, int, str]], depth: int = 3) -> str:
    """``stack`` innermost first, as ``file:line name ← our frames``."""
    if not stack:
        return "?"
    name, line, func = stack[0]
    inner = f"{_short(name)}:{line} {func}"
    ours = [
        f"{_short(name)}:{line} {func}"
        for name, line, func in stack
        if (str(ROOT) in name or "watchkeeper" in name) and "benchmarks" not in name
    ][:depth]
    return inner + (" ← " + " ← ".join(ours) if ours else "")


_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')


def _all_stacks(dump: Any) -> dict[int, list[tuple[str, int, str]]]:
    """Every thread's stack (innermost first) by thread id, as faulthandler prints them."""
    dump.seek(0)
    dump.truncate()
    faulthandler.dump_traceback(dump, all_threads=True)
    dump.flush()
    dump.seek(0)
    stacks: dict[int, list[tuple[str, int, str]]] = {}
    current: list[tuple[str, int, str]] | None = None
    for line in dump.read().splitlines():
        if m := _THREAD.match(line):
            current = stacks.setdefault(int(m.group(1), 16), [])
        elif current is not None and (m := _FRAME.match(line)):
            current.append((m.group(1), int(m.group(2)), m.group(3)))
    return stacks


def _short(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def measure_stalls(
    workspace: Path,
    rounds: int,
    tick_ms: int,
    idle_s: float,
    only: tuple[str, ...],
    verbose: bool = False,
    gc_freeze: bool = False,
    model: tuple[str, str] = ("fraud-detector", "1"),
    refresh_after_tab: bool = False,
) -> None:
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from watchkeeper.app.main_window import MainWindow

    print(
        f"\n2. Longest GUI-thread stall (timer every {tick_ms} ms; goal < {STALL_GOAL_MS:.0f} ms)"
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    meter = StallMeter(tick_ms)
    meter.start()

    def wait(condition: Any, timeout_s: float = 900) -> None:
        """Run the event loop (idle between events, as the app's own) until ``condition``."""
        deadline = time.monotonic() + timeout_s
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(20)

        def on_check() -> None:
            if condition():
                loop.quit()
            elif time.monotonic() > deadline:
                loop.exit(1)

        check.timeout.connect(on_check)
        check.start()
        code = 0 if condition() else loop.exec()
        check.stop()
        if code:
            raise SystemExit("timed out waiting for the window")

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        wait(lambda: time.monotonic() >= end)

    results: dict[str, list[tuple[float, list[str]]]] = collections.defaultdict(list)

    def record(name: str, since: float) -> None:
        results[name].append((meter.max_gap, meter.where()))
        took = time.perf_counter() - since
        print(
            f"   … {name}: max gap {meter.max_gap * 1000:.0f} ms ({took:.1f} s with the 1 s "
            f"settle; peak RSS {peak_rss_gib():.2f} GiB)",
            flush=True,
        )

    tmp = tempfile.mkdtemp(prefix="wk-ui-settings-")
    settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
    try:
        # (b) opening: building the window happens before the event loop runs (reported
        # apart: part 1 measures it), then the portfolio, drift and performance load.
        t = time.perf_counter()
        window = MainWindow(workspace, settings=settings, check_health=False, freeze_heap=True)
        window.show()
        built = time.perf_counter() - t
        if verbose:
            t_run = time.perf_counter()

            def log(*args: Any) -> None:
                print(f"     [{time.perf_counter() - t_run:7.1f} s] task", *args, flush=True)

            window.runner.task_started.connect(lambda k, label: log(k, "started:", label))
            window.runner.task_finished.connect(lambda k, outcome: log(k, outcome))
        meter.reset()
        wait(lambda: window.portfolio.state.portfolio is not None)
        wait(lambda: not window.runner.active())
        settle(1.0)
        record("open the window (portfolio, drift, performance)", t)
        print(f"   (MainWindow() + show(): {built * 1000:.0f} ms before the event loop ran)")
        # (c) the portfolio's selection: fraud-detector v1's drift and performance run
        # together on the visible Drift tab, as when a user clicks the model
        window.tabs.setCurrentWidget(window.drift)
        settle(0.3)
        meter.reset()
        t = time.perf_counter()
        reset_peak_rss()
        window.portfolio.select(*model)
        wait(lambda: not window.runner.active())
        print(f"   click to full result: {time.perf_counter() - t:.1f} s", flush=True)
        settle(1.0)
        record(f"select {model[0]} v{model[1]} (drift + performance)", t)

        scenarios = (
            (f"drift (Drift tab, {model[0]} v{model[1]})", window.drift, "drift"),
            ("performance (Performance tab)", window.performance, "performance"),
            ("slices (Slices tab)", window.slices, "slices"),
            ("champion vs challenger (its tab)", window.challenger, "challenger"),
        )
        answers: list[tuple[str, float, float, float, float, float]] = []  # …, rss, child rss
        first_at: dict[str, float] = {}

        def watch_first(panel: Any, key: str) -> None:
            """The first drawn answer: the first time the panel's state holds a (partial or
            whole) result after the click."""

            def on_change(changed: frozenset[str]) -> None:
                s = panel.state
                got = any(
                    getattr(s, f, None) is not None
                    for f in ("partial", "ranked", "result")
                    if f in changed
                )
                if got and key not in first_at:
                    first_at[key] = time.perf_counter()

            panel.state.subscribe(on_change)

        for _name, panel, key in scenarios:
            watch_first(panel, key)
        lights: list[float] = []  # when a health light changed
        window.portfolio.state.subscribe(
            lambda ch: lights.append(time.perf_counter()) if "health" in ch else None
        )
        if window.challenger.state.challenger is None and "challenger" in only:
            print("   champion vs challenger: this workspace has no challenger; not measured")
            only = tuple(v for v in only if v != "challenger")
        # With --gc-freeze, each round runs once more after gc.freeze(): the objects alive
        # then (modules, the window, cached results) leave the collector's full passes.
        passes = ("", " after gc.freeze()") if gc_freeze else ("",)
        for _ in range(rounds):
            meter.reset()
            t = time.perf_counter()
            settle(idle_s)
            record("idle window (baseline)", t)
            for suffix, (name, panel, key) in [(x, sc) for x in passes for sc in scenarios]:
                if key not in only:
                    continue
                if suffix and not gc.get_freeze_count():
                    gc.collect()
                    gc.freeze()
                name += suffix
                for k in [k for k in window.cache if k[0] == key]:
                    del window.cache[k]
                started: list[str] = []
                on_start = lambda k, _label, got=started: got.append(k)  # noqa: E731
                window.runner.task_started.connect(on_start)
                meter.reset()
                reset_peak_rss()
                first_at.pop(key, None)
                t = time.perf_counter()
                window.tabs.setCurrentWidget(panel)
                settle(0.3)
                window.runner.task_started.disconnect(on_start)
                # A tab shown for the first time with a selection waiting analyses it: that
                # click is the user's. Forcing a second run here cancelled the first, which
                # read on beside it in the other analysis process (the Slices view's
                # "together" of 2.2-2.4 GiB measured before was those two reads at once).
                # (--refresh-after-tab: Refresh anyway, as a user who changes their mind)
                if key not in started or refresh_after_tab:
                    meter.reset()
                    reset_peak_rss()
                    first_at.pop(key, None)
                    t = time.perf_counter()
                    panel.analyse(force=True)
                # the full result is on screen: the task is done and its staged draws ran
                wait(lambda k=key, p=panel: k not in window.runner.active() and not _drawing(p))
                full = time.perf_counter() - t
                first = first_at.get(key, float("nan")) - t
                print(f"   {name}: click to first answer {first:.1f} s, to full {full:.1f} s")
                settle(1.0)
                record(name, t)
                answers.append((name, first, full, meter.max_gap, *peaks()))
                if _sampler is not None:
                    print(f"   … {name}: together at its largest: {_sampler.parts()}")
            if "health" in only:
                # the sweep the window starts after the first views: every model judged anew
                meter.reset()
                reset_peak_rss()
                window.portfolio.state.set(health={})
                lights.clear()
                t = time.perf_counter()
                window.portfolio.check_health({})
                wait(lambda: "health" not in window.runner.active())
                full = time.perf_counter() - t
                first = (lights[0] - t) if lights else float("nan")
                n = len(window.portfolio.state.health)
                name = f"health sweep ({n} models, nothing known)"
                print(f"   {name}: first light {first:.1f} s, all lights {full:.1f} s")
                settle(1.0)
                record(name, t)
                answers.append((name, first, full, meter.max_gap, *peaks()))
                if _sampler is not None:
                    print(f"   … {name}: together at its largest: {_sampler.parts()}")
            if "export" in only and window.slices.state.result is not None:
                out = Path(tmp) / "slices.xlsx"
                window.tabs.setCurrentWidget(window.slices)
                settle(0.3)
                meter.reset()
                reset_peak_rss()
                t = time.perf_counter()
                window.slices.export(out)
                wait(lambda: window.slices.state.export_status in ("done", "failed"))
                full = time.perf_counter() - t
                name = f"Excel export ({window.slices.state.export_status})"
                print(f"   {name}: export action to file written {full:.1f} s")
                settle(1.0)
                record(name, t)
                answers.append((name, float("nan"), full, meter.max_gap, *peaks()))
            if "tabs" in only:
                # A view already drawn, shown again: the user going back to it. Its first
                # show after the result arrived behind another tab lays out every widget.
                drawn = [p for _n, p, k in scenarios if k in only and p.state.result is not None]
                for panel in drawn:
                    others = [p for p in drawn if p is not panel] or [window.overview]
                    window.tabs.setCurrentWidget(others[0])
                    settle(0.5)
                    meter.reset()
                    t = time.perf_counter()
                    window.tabs.setCurrentWidget(panel)
                    settle(0.5)
                    record(
                        f"show the {window.tabs.tabText(window.tabs.indexOf(panel))} tab again", t
                    )
                if window.drift in drawn and len(drawn) > 1:
                    # the Drift result computed while another view shows, then its tab: the
                    # first layout of the list, heat map and panes with that result
                    other = next(p for p in drawn if p is not window.drift)
                    window.tabs.setCurrentWidget(other)
                    settle(0.5)
                    window.drift.analyse(force=True)
                    wait(
                        lambda: "drift" not in window.runner.active() and not _drawing(window.drift)
                    )
                    settle(0.5)
                    meter.reset()
                    t = time.perf_counter()
                    window.tabs.setCurrentWidget(window.drift)
                    settle(0.5)
                    record("show the Drift tab, its result drawn behind another", t)
        window.close()
    finally:
        meter.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        QTimer.singleShot(0, app.quit)

    print(
        f"\n   {'view':48} {'first answer':>12} {'full result':>12} {'longest stall':>14}"
        f" {'peak RSS':>9} {'analysis process':>16} {'together':>9}"
    )
    for name, first, full, gap, rss, child, together in answers:
        print(
            f"   {name:48} {first:10.1f} s {full:10.1f} s {gap * 1000:11.0f} ms {rss:5.2f} GiB"
            f" {child:12.2f} GiB {together:5.2f} GiB"
        )
    base = statistics.median(g for g, _ in results["idle window (baseline)"])
    print(f"   {'scenario':48} {'max gap per round (ms)':>28}  worst  ×idle")
    for name, runs in results.items():
        gaps = [g * 1000 for g, _ in runs]
        worst = max(gaps)
        verdict = "" if worst < STALL_GOAL_MS else "  over goal"
        print(
            f"   {name:48} {', '.join(f'{g:.0f}' for g in gaps):>28}  {worst:5.0f}"
            f"  {worst / (base * 1000):5.1f}{verdict}"
        )
    print("\n   Where the largest stalls were (GUI thread's stack while the tick was late):")
    for name, runs in results.items():
        gap, where = max(runs, key=lambda r: r[0])
        if gap * 1000 < 40 or not where:
            continue
        print(f"   - {name}:")
        for line in where:
            print(f"       {line}")


def _children() -> list[str]:
    """The analysis processes' ids (``app/analysis_process.py``), if any started."""
    from watchkeeper.app.analysis_process import child_pids

    return [str(pid) for pid in child_pids()]


class _PeakSampler:
    """The analysis processes' peaks and the window's and theirs together, sampled.

    ``VmHWM`` is per process: a child that retired during a scenario (above
    ``RETIRE_RSS_BYTES`` after its task) takes its peak with it, and no single process's peak
    says what the window and its children held at the same moment. A thread reads every
    process's ``VmRSS`` (and each child's ``VmHWM``) every 50 ms.
    """

    INTERVAL_S = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child = 0.0
        self._together = 0.0
        self._parts: list[tuple[str, float]] = []
        threading.Thread(target=self._run, daemon=True, name="peak-sampler").start()

    def reset(self) -> None:
        with self._lock:
            self._child = 0.0
            self._together = 0.0

    def read(self) -> tuple[float, float]:
        self._sample()
        with self._lock:
            return self._child, self._together

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL_S)
            self._sample()

    def parts(self) -> str:
        """The window's and each child's share of the largest sum, as printed."""
        with self._lock:
            return ", ".join(f"{name} {gib:.2f}" for name, gib in self._parts) + " GiB"

    def _sample(self) -> None:
        parts = [("window", _status_gib("self", "VmRSS:"))]
        child = 0.0
        for pid in _children():
            parts.append((f"child {pid}", _status_gib(pid, "VmRSS:")))
            child = max(child, _status_gib(pid, "VmHWM:"))
        together = sum(gib for _, gib in parts)
        with self._lock:
            self._child = max(self._child, child)
            if together > self._together:
                self._together, self._parts = together, parts


_sampler: _PeakSampler | None = None


def reset_peak_rss() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS on writing 5 to clear_refs
    (the window's and its analysis processes')."""
    global _sampler
    for pid in ("self", *_children()):
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    if _sampler is None:
        _sampler = _PeakSampler()
    _sampler.reset()


def _status_gib(pid: str, field: str) -> float:
    """A ``/proc/PID/status`` field in GiB (0 for a process gone meanwhile)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 2**20
    return 0.0


def peak_rss_gib() -> float:
    """The window's own peak since the last reset."""
    return _status_gib("self", "VmHWM:")


def peaks() -> tuple[float, float, float]:
    """Since the last reset: the window's peak, the largest analysis process's (one that
    retired meanwhile included, as sampled) and the largest sum of the window's and its
    analysis processes' resident memory at one moment (sampled every 50 ms)."""
    child, together = (0.0, 0.0) if _sampler is None else _sampler.read()
    return peak_rss_gib(), child, together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, default=DEFAULT_WORKSPACE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tick-ms", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument(
        "--platform",
        choices=("xvfb", "offscreen"),
        default="xvfb" if shutil.which("Xvfb") else "offscreen",
    )
    parser.add_argument("--skip-build", action="store_true", help="trust --workspace as it is")
    parser.add_argument(
        "--stall-rounds", type=int, help="rounds of part 2 (default --rounds; minutes each)"
    )
    parser.add_argument("--verbose", action="store_true", help="log the window's tasks")
    parser.add_argument(
        "--refresh-after-tab",
        action="store_true",
        help="press Refresh 0.3 s after showing a view's tab even when the tab started its "
        "analysis (the replaced analysis finishes its read in the other analysis process)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="run the views again after gc.freeze() (a start-up remedy for collector pauses)",
    )
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument(
        "--wide", action="store_true", help="part 2 on the wide demo (500 features × 365 days)"
    )
    parser.add_argument("--skip-stalls", action="store_true")
    parser.add_argument(
        "--model",
        nargs=2,
        metavar=("NAME", "VERSION"),
        help="part 2 on this model of --workspace (default fraud-detector 1, or the wide one)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval(seconds) before the window opens (default: the app's own)",
    )
    parser.add_argument(
        "--views",
        nargs="+",
        choices=(
            "drift",
            "performance",
            "slices",
            "challenger",
            "health",
            "export",
            "tabs",
            "none",
        ),
        default=["drift", "performance", "slices", "challenger", "health", "export", "tabs"],
        help=(
            "the analyses to run while measuring stalls (export writes the Slices view's "
            "workbook: give slices with it; tabs shows each drawn view's tab again)"
        ),
    )
    args = parser.parse_args()
    args.views_given = "--views" in sys.argv
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: where is it?
    if args.wide and args.workspace == DEFAULT_WORKSPACE:
        args.workspace = Path("/tmp/wk-ui-wide")
    workspace = args.workspace.expanduser().resolve()
    if args.wide:
        from watchkeeper.core.demo.wide import ensure_wide_workspace

        t = time.perf_counter()
        ensure_wide_workspace(workspace)
        print(f"wide demo {workspace} ready in {time.perf_counter() - t:.0f} s", flush=True)
        args.skip_startup = True
        if "slices" in args.views and not args.views_given:
            args.views = [v for v in args.views if v != "slices"]
    elif not args.skip_build:
        ensure_demo(workspace)
    print(f"platform: {args.platform}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    with Display(args.platform) as display:
        # A terminated run stops its Xvfb too (an exception raised inside Qt's event loop
        # would be swallowed by the slot that happens to run, so exit at once).
        def on_term(*_: object) -> None:
            display.__exit__()
            os._exit(143)

        signal.signal(signal.SIGTERM, on_term)
        if not args.skip_startup:
            measure_startup(workspace, args.rounds)
        if not args.skip_stalls:
            # The window's own settings must not leak into the user's.
            home = Path(tempfile.mkdtemp(prefix="wk-ui-home-"))
            os.environ["WATCHKEEPER_HOME"] = str(home)
            try:
                measure_stalls(
                    workspace,
                    args.stall_rounds or args.rounds,
                    args.tick_ms,
                    args.idle_seconds,
                    tuple(args.views),
                    args.verbose,
                    args.gc_freeze,
                    tuple(args.model)
                    if args.model
                    else ("wide-model", "1")
                    if args.wide
                    else ("fraud-detector", "1"),
                    args.refresh_after_tab,
                )
            finally:
                shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
