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
    from watchkeeper.core.errors import WatchkeeperError

    if args.workspace is not None and not args.workspace.is_dir():
        # said before any window opens: an empty workbench would look like an empty workspace
        what = "is a file, not a folder" if args.workspace.exists() else "does not exist"
        raise WatchkeeperError(
            f"the workspace folder {args.workspace} {what}; give an existing workspace folder, "
            "or create one with `watchkeeper init` or `watchkeeper demo`"
        )
    require_display()
    from watchkeeper.app.main import open_workbench

    return open_workbench(workspace=args.workspace, screenshot=args.screenshot)
