"""``watchkeeper open BUNDLE [--no-gui]``: validate an incident bundle and show what it holds.

Works with no network and no database. With ``--no-gui`` it prints the validated summary.
The window cannot show bundles yet (File > Open is a later step of issue 8): without
``--no-gui`` the bundle is still validated, then the command says so and exits 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from watchkeeper.core.errors import WatchkeeperError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "open",
        help="validate an offline incident bundle and open it",
        description="Validate an incident bundle (signature, every part's digest and size) "
        "with no network and no database, and show it.",
    )
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--no-gui", action="store_true", help="print the validated summary only")
    p.add_argument(
        "--trusted-key",
        action="append",
        metavar="KEY_ID",
        help="refuse the bundle unless its exporter signed with this key (repeatable)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from watchkeeper.core.bundle.open import open_bundle

    with open_bundle(args.bundle, extract=False, trusted_keys=args.trusted_key) as bundle:
        print(bundle.summary())
    if args.no_gui:
        return 0
    raise WatchkeeperError(
        "the workbench window cannot open bundles yet (File > Open of a bundle is a later "
        "step); the bundle is valid — use --no-gui to see its summary"
    )
