"""``watchkeeper open BUNDLE [--no-gui]``: validate an incident bundle and show what it holds.

Works with no network and no database. The bundle is validated first (signature, every
part's digest and size; ``--trusted-key`` pins the exporter's key): a damaged or altered
file is refused in one line and exits 2, with no window. With ``--no-gui`` the command
prints the validated summary and exits 0. Otherwise it prints the summary and opens the
workbench on the bundle — offline, its banner saying whose frozen evidence it is, and the
decisions made there going to the bundle's outbox (with no display: one line, exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "open",
        help="validate an offline incident bundle and open it",
        description="Validate an incident bundle (signature, every part's digest and size) "
        "with no network and no database, and open the workbench on it.",
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--no-gui", action="store_true", help="print the validated summary only")
    p.add_argument(
        "--trusted-key",
        action="append",
        metavar="KEY_ID",
        help="refuse the bundle unless its exporter signed with this key (repeatable)",
    )
    p.add_argument("--screenshot", type=Path, metavar="PNG", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.bundle.open import open_bundle

    with open_bundle(args.bundle, extract=False, trusted_keys=args.trusted_key) as bundle:
        print(bundle.summary(), flush=True)
        problems = bundle.outbox_problems
    if problems and args.no_gui:
        from watchkeeper.core.errors import NegativeFinding

        raise NegativeFinding(f"{args.bundle}: the bundle's outbox is damaged: {problems[0]}")
    if args.no_gui:
        return 0
    from watchkeeper.app.display import require_display

    require_display()
    from watchkeeper.app.main import open_workbench

    return open_workbench(
        bundle=args.bundle.expanduser().resolve(),
        trusted_keys=args.trusted_key,
        screenshot=args.screenshot,
    )
