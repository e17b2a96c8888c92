"""``watchkeeper [gui]``: open the workbench."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gui", help="open the workbench (the default command)")
    p.add_argument("--workspace", type=Path, metavar="DIR", help="a workspace folder to open")
    p.add_argument("--screenshot", type=Path, metavar="PNG", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.app.display import require_display

    require_display()
    from watchkeeper.app.main import open_workbench

    return open_workbench(workspace=args.workspace, screenshot=args.screenshot)
