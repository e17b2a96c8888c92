"""``watchkeeper demo``: build the demo workspace if needed, then open it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="build the bundled demo workspace (when missing or outdated) and open it",
        description="Build the demo workspace when it is missing or its recipe changed, "
        "then open the workbench on it.",
    )
    p.add_argument("--workspace", type=Path, metavar="DIR", help="where to build it")
    p.add_argument("--no-gui", action="store_true", help="only build the workspace")
    p.add_argument("--rebuild", action="store_true", help="build anew even if up to date")
    p.add_argument(
        "--events-per-day",
        type=int,
        default=None,
        metavar="N",
        help="fraud-detector events a day (1,000 to 100,000; default 20,000); "
        "with --wide, the wide model's (default 2,000)",
    )
    p.add_argument(
        "--wide",
        action="store_true",
        help="build the wide demo instead: one model, 500 features, a year of daily history, "
        "five features drifting from known days (no registry)",
    )
    p.add_argument("--screenshot", type=Path, metavar="PNG", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.no_gui:
        # Say so before spending a minute on the build.
        from watchkeeper.app.display import require_display

        require_display()
    from watchkeeper.core.demo import ensure_workspace
    from watchkeeper.core.demo.wide import WideParams, ensure_wide_workspace
    from watchkeeper.core.paths import default_demo_workspace

    default = default_demo_workspace()
    if args.wide:
        default = default.with_name(default.name + "-wide")
    root = (args.workspace or default).expanduser().resolve()
    interactive = sys.stderr.isatty()

    def progress(fraction: float, message: str) -> None:
        if interactive:
            print(f"\r{fraction:4.0%} {message:<60}", end="", file=sys.stderr, flush=True)

    if args.wide:
        params = WideParams(events_per_day=args.events_per_day or 2_000)
        ws = ensure_wide_workspace(root, params, rebuild=args.rebuild, progress=progress)
    else:
        ws = ensure_workspace(
            root,
            events_per_day=args.events_per_day or 20_000,
            rebuild=args.rebuild,
            progress=progress,
        )
    if interactive:
        print(file=sys.stderr)
    state = f"built in {ws.seconds:.1f} s" if ws.built else "up to date"
    print(f"demo workspace {ws.root} ({state})")
    if args.no_gui:
        return 0
    from watchkeeper.app.main import open_workbench

    return open_workbench(workspace=ws.root, screenshot=args.screenshot)
